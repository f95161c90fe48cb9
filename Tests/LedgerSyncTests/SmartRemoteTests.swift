import Beads
import Foundation
import GasTownTestKit
import Git
import LedgerStore
import Testing

/// The transports of the smart-remote tests: a real server on loopback, started and stopped by the test.
enum SmartTransport: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case gitDaemon = "git://"
    case ssh = "ssh://"

    var testDescription: String { rawValue }
}

/// One running smart server and a bare repository on it.
final class SmartRemote: Sendable {
    let url: String
    /// Replica settings for this transport: over ssh the host key is checked against the server's known_hosts file
    /// (`SSHServer.knownHostsPath`, see `sshHostKeyCheck`); credentials are the default, the ssh agent.
    let settings: SyncSettings
    /// The repository's path on disk (the server side), to inspect it without the network.
    let path: String
    private let daemon: GitDaemonServer?
    private let sshd: SSHServer?

    init(_ transport: SmartTransport) async throws {
        switch transport {
        case .gitDaemon:
            let server = try await GitDaemonServer.start()
            (daemon, sshd) = (server, nil)
            settings = TestReplica.fastSettings
            url = try await server.makeRepository("ledger")
            path = server.path(of: "ledger")
        case .ssh:
            let server = try await SSHServer.start()
            (daemon, sshd) = (nil, server)
            var settings = TestReplica.fastSettings
            settings.git.sshHostKeys = GitSSHHostKeySettings(knownHostsFiles: [server.knownHostsPath])
            self.settings = settings
            url = try await server.makeRepository("ledger")
            path = server.path(of: "ledger")
        }
    }

    func stop() async {
        await daemon?.stop()
        await sshd?.stop()
    }

    /// `issues.jsonl` of `ledger/t` as the server holds it.
    func issues() async throws -> String {
        let repo = try await GitRepository.open(at: path)
        return String(decoding: try await repo.readFile("issues.jsonl", at: "refs/heads/ledger/t") ?? Data(), as: UTF8.self)
    }
}

/// The core sync scenarios (replicate, concurrent compare-and-swap pushes, a claim race) against real smart
/// remotes on loopback: `git daemon --enable=receive-pack` and a private `sshd` with a key in an `ssh-agent`.
@Suite(.serialized) struct SmartRemoteTests {
    /// Two replicas exchange creates and edits both ways through the server; the server's file is the export.
    @Test(arguments: SmartTransport.allCases)
    func replicateThroughASmartRemote(transport: SmartTransport) async throws {
        let remote = try await SmartRemote(transport)
        let a = try TestReplica(name: "a", remote: remote.url, settings: remote.settings)
        let b = try TestReplica(name: "b", remote: remote.url, settings: remote.settings)
        defer { TestReplica.close(a, b) }
        let x = try await a.create("From A over \(transport.rawValue)")
        #expect(try await a.sync().commits == 1)
        let pulled = try await b.sync()
        #expect(pulled.scopes.first?.received == 1)
        #expect(b.ledger.bead(x)?.title == "From A over \(transport.rawValue)")
        _ = try await b.change(.update(id: x, fields: [.title("Edited by B")])).get()
        let y = try await b.create("From B")
        try await b.sync()
        try await a.sync()
        #expect(a.ledger.bead(x)?.title == "Edited by B")
        #expect(a.ledger.bead(y) != nil)
        #expect(a.exported.issues == b.exported.issues)
        #expect(try await remote.issues() == a.exported.issues)
        #expect(try await a.sync().commits == 0)
        await remote.stop()
    }

    /// 3 replicas × 20 creates (6 over ssh), each followed by a sync, all replicas at once: pushes race on the server's
    /// compare-and-swap and are rejected and retried; afterwards every replica and the server hold all of them.
    @Test(arguments: SmartTransport.allCases)
    func concurrentCreatesFromThreeReplicasLoseNothing(transport: SmartTransport) async throws {
        let remote = try await SmartRemote(transport)
        let replicas = try (0..<3).map { try TestReplica(name: "r\($0)", remote: remote.url, settings: remote.settings) }
        defer { for r in replicas { r.close() } }
        // Every ssh sync opens two ssh sessions (fetch, push), each a key exchange: fewer rounds keep it quick.
        let perReplica = transport == .ssh ? 6 : 20
        let created = try await withThrowingTaskGroup(of: [String].self) { group in
            for (i, replica) in replicas.enumerated() {
                group.addTask {
                    var ids: [String] = []
                    for n in 0..<perReplica {
                        ids.append(try await replica.create("r\(i) bead \(n)"))
                        try await replica.sync()
                    }
                    return ids
                }
            }
            return try await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(Set(created).count == replicas.count * perReplica)
        for r in replicas { try await r.sync() }
        let onServer = try await remote.issues()
        for r in replicas {
            let missing = created.filter { r.ledger.bead($0) == nil }
            #expect(missing.isEmpty, "\(r.name) lacks \(missing.count) of \(created.count) over \(transport.rawValue)")
            #expect(r.exported.issues == onServer, "\(r.name) differs from the server")
        }
        let lost = created.filter { !onServer.contains("\"id\":\"\($0)\"") && !onServer.contains("\"id\": \"\($0)\"") }
        #expect(lost.isEmpty, "lost on the server: \(lost)")
        await remote.stop()
    }

    /// Two replicas claim one bead at epoch 0 offline and sync at once: exactly one claim lands, the other replica
    /// is told it lost (to that assignee), and both end with the winner.
    @Test(arguments: SmartTransport.allCases)
    func claimRaceHasExactlyOneWinner(transport: SmartTransport) async throws {
        let remote = try await SmartRemote(transport)
        let a = try TestReplica(name: "a", remote: remote.url, settings: remote.settings)
        let b = try TestReplica(name: "b", remote: remote.url, settings: remote.settings)
        defer { TestReplica.close(a, b) }
        for round in 0..<(transport == .ssh ? 2 : 3) {
            let x = try await a.create("Contended \(round)")
            try await a.sync()
            try await b.sync()
            _ = try await a.change(.claim(id: x, assignee: "alice", node: a.replicaID, expectedEpoch: 0)).get()
            _ = try await b.change(.claim(id: x, assignee: "bob", node: b.replicaID, expectedEpoch: 0)).get()
            async let first = a.sync()
            async let second = b.sync()
            let (ra, rb) = try await (first, second)
            let (la, lb) = (try await a.sync(), try await b.sync())
            let winner = try #require(a.ledger.bead(x)?.assignee)
            #expect(["alice", "bob"].contains(winner))
            #expect(b.ledger.bead(x)?.assignee == winner && b.ledger.bead(x)?.leaseEpoch == 1)
            let lost = (ra.lostClaims + rb.lostClaims + la.lostClaims + lb.lostClaims).filter { $0.id == x }
            #expect(lost.count == 1, "round \(round): \(lost)")
            #expect(lost.first?.winnerAssignee == winner)
        }
        await remote.stop()
    }

    /// libgit2 1.5 (Debian 12) hands the ssh host key to the certificate callback with `valid` 0 always (it reads
    /// no known_hosts); ours checks it against the known_hosts files of `GitSettings.sshHostKeys`. A host listed
    /// with its key (plain, or hashed by `ssh-keygen -H`) syncs; an unknown host and a changed key are refused with
    /// what to do, and the local ledger is untouched; accept-new adds an unknown host's line once.
    @Test func sshHostKeyCheck() async throws {
        let server = try await SSHServer.start()
        let url = try await server.makeRepository("ledger")
        let files = try TempDir(prefix: "gt-knownhosts")
        func settings(_ file: String, acceptNew: Bool = false) -> SyncSettings {
            var settings = TestReplica.fastSettings
            settings.git.sshHostKeys = GitSSHHostKeySettings(knownHostsFiles: [file], acceptNew: acceptNew)
            return settings
        }
        func write(_ text: String, _ name: String) throws -> String {
            let path = files.join(name)
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            return path
        }
        func syncRefused(_ file: String, _ name: String) async throws -> String {
            let replica = try TestReplica(name: name, remote: url, settings: settings(file))
            defer { replica.close() }
            _ = try await replica.create("stays local")
            do {
                try await replica.sync()
                Issue.record("\(name): an ssh sync with a host key not in \(file) succeeded")
                return ""
            } catch {
                #expect("\(error)".contains("the local ledger is intact"), "\(error)")
                #expect(replica.ledger.beads.count == 1)
                return "\(error)"
            }
        }
        // Known, plain `[127.0.0.1]:port` entry (as ssh-keyscan writes it).
        let plain = try write(server.knownHostsLine + "\n", "plain")
        let a = try TestReplica(name: "a", remote: url, settings: settings(plain))
        defer { a.close() }
        let x = try await a.create("over a checked host key")
        #expect(try await a.sync().commits == 1)

        // Known through a hashed entry, hashed by OpenSSH itself.
        let hashed = try write(server.knownHostsLine + "\n", "hashed")
        try await SSHServer.sshKeygen(["-H", "-f", hashed])
        let hashedText = try String(contentsOfFile: hashed, encoding: .utf8)
        #expect(hashedText.hasPrefix("|1|") && !hashedText.contains("127.0.0.1"), "\(hashedText)")
        let b = try TestReplica(name: "b", remote: url, settings: settings(hashed))
        defer { b.close() }
        try await b.sync()
        #expect(b.ledger.bead(x) != nil)

        // Unknown host: refused, saying how to add it.
        let empty = try write("# nothing here\n", "empty")
        let unknown = try await syncRefused(empty, "c")
        #expect(unknown.contains("is not in \(empty)"), "\(unknown)")
        #expect(unknown.contains("ssh-keyscan -p \(server.port) -t ssh-ed25519 127.0.0.1 >> \(empty)"), "\(unknown)")

        // Changed key: another ed25519 key listed for the same [host]:port.
        try await SSHServer.sshKeygen(["-q", "-t", "ed25519", "-N", "", "-C", "other", "-f", files.join("other")])
        let otherKey = try String(contentsOfFile: files.join("other.pub"), encoding: .utf8)
            .split(separator: " ").prefix(2).joined(separator: " ")
        let changedFile = try write("[127.0.0.1]:\(server.port) \(otherKey)\n", "changed")
        let changed = try await syncRefused(changedFile, "d")
        #expect(changed.contains("has CHANGED") && changed.contains("\(changedFile) line 1"), "\(changed)")
        #expect(changed.contains("ssh-keygen -R '[127.0.0.1]:\(server.port)'"), "\(changed)")

        // A changed key is refused with accept-new on as well.
        let e = try TestReplica(name: "e", remote: url, settings: settings(changedFile, acceptNew: true))
        defer { e.close() }
        await #expect(throws: (any Error).self) { try await e.sync() }

        // Accept-new: an unknown host's line is appended once, then the host is known without it.
        let fresh = files.join("ssh/known_hosts")
        let f = try TestReplica(name: "f", remote: url, settings: settings(fresh, acceptNew: true))
        defer { f.close() }
        try await f.sync()
        let added = try String(contentsOfFile: fresh, encoding: .utf8)
        #expect(added == server.knownHostsLine + "\n", "\(added)")
        let g = try TestReplica(name: "g", remote: url, settings: settings(fresh))
        defer { g.close() }
        try await g.sync()
        #expect(g.ledger.bead(x) != nil)
        #expect(try String(contentsOfFile: fresh, encoding: .utf8) == added)
        await server.stop()
    }
}
