import Foundation
import GasTownTestKit
import Node
import Testing
import Transport
import Wire

/// Issue 10 with the built `gt`: join tokens issued by concurrent processes are all kept, a token binds a name,
/// `gt node join` records its seed so a plain `gt up` rejoins, a joined town without seeds refuses to start
/// alone, ping by member name, `gt node leave` leaves no pid file, and two live holders of one identity are
/// noticed. Every node process is killed by pid in a defer.
@Suite(.serialized)
struct IdentityEndToEndTests {
    /// A port free now on 127.0.0.1 (for a `node.listen` that must stay the same across restarts).
    func freePort() throws -> UInt16 { try #require(PortProbe.available(host: "127.0.0.1", preferred: 0)) }

    @Test func tenConcurrentTokenCommandsWhileTheNodeIsDownAreAllKept() async throws {
        let directory = try TempDir(prefix: "gt-tokens")
        let a = try await TestTown(in: directory, name: "alpha")
        defer { a.stopEverything() }
        try await a.ok(["cluster", "init", "--name", "acme"])
        // Ten real `gt` processes at once, no node running: each reads, changes and rewrites tokens.jsonl.
        let outputs = try await withThrowingTaskGroup(of: BuiltBinaries.Output.self) { group in
            for _ in 0..<10 { group.addTask { try await a.gt(["cluster", "token"]) } }
            var all: [BuiltBinaries.Output] = []
            for try await output in group { all.append(output) }
            return all
        }
        #expect(outputs.allSatisfy { $0.status == 0 }, "\(outputs)")
        let tokens = try outputs.map { try JoinToken(parsing: $0.stdout) }
        let records = try PKI.joinTokens(at: a.paths.pki)
        #expect(records.count == 10)
        #expect(Set(records.map(\.secretSHA256)) == Set(tokens.map(\.secretHash)))
        // And each one is good for a join (used marks are written under the same lock).
        for (index, token) in tokens.enumerated() {
            try PKI.consumeJoinToken(at: a.paths.pki, secret: token.secret, by: try NodeName("n\(index)"))
        }
        #expect(try PKI.joinTokens(at: a.paths.pki).allSatisfy { $0.usedAt != nil })
    }

    @Test func boundTokenRecordedSeedPingByNameLeaveAndDuplicateIdentity() async throws {
        let directory = try TempDir(prefix: "gt-identity")
        let a = try await TestTown(in: directory, name: "alpha")
        let b = try await TestTown(in: directory, name: "beta")
        let c = try await TestTown(in: directory, name: "gamma")
        defer {
            a.stopEverything()
            b.stopEverything()
            c.stopEverything()
        }
        try await a.ok(["cluster", "init", "--name", "acme"])
        let upA = try await a.json(["up", "--listen", "127.0.0.1:0"])
        let addressA = try #require(upA["listen"] as? String)

        // A token for beta admits only beta; the refusal leaves the token usable.
        let issued = try await a.json(["cluster", "token", "--name", "beta"])
        let token = try #require(issued["token"] as? String)
        #expect(issued["name"] as? String == "beta")
        let wrong = try await b.gt(["node", "join", addressA, token, "--node-name", "gamma"])
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("issued for node beta, not gamma"), "\(wrong)")
        let listenB = "127.0.0.1:\(try freePort())"
        let joined = try await b.json(["node", "join", addressA, token, "--listen", listenB])
        #expect(joined["node"] as? String == "beta")
        #expect(joined["seeds"] as? [String] == [addressA])
        // The seed and listen address are in town.json: a plain `gt up` rejoins the cluster.
        let config = try TownNodeConfig.load(b.paths)
        #expect(config.join == [addressA] && config.listen == listenB)
        let upB = try await b.json(["up"])
        #expect(upB["listen"] as? String == listenB)
        #expect(try await eventually { connectedPeers(try await a.json(["status"])).contains("beta") })

        // A name in use is refused (with a fresh token), and the refusal names the way past it.
        let second = try await a.ok(["cluster", "token"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let taken = try await c.gt(["node", "join", addressA, second, "--node-name", "beta"])
        #expect(taken.status == 1)
        #expect(taken.stderr.contains("node beta already holds a certificate") && taken.stderr.contains("--replace"))
        #expect(!FileManager.default.fileExists(atPath: c.paths.pki.nodeCertificate.path))
        // The CA node logged both refusals with their reasons and the join in between.
        let caEvents = (try? String(contentsOfFile: a.paths.eventsFile, encoding: .utf8)) ?? ""
        #expect(caEvents.contains("\"join_refused\"") && caEvents.contains("issued for node beta"), "\(caEvents)")
        #expect(caEvents.contains("already holds a certificate") && caEvents.contains("\"node_joined\""))
        let caLog = (try? String(contentsOfFile: a.paths.logFile, encoding: .utf8)) ?? ""
        #expect(caLog.contains("join refused"), "\(caLog)")

        // Ping a member by its name.
        #expect(
            try await eventually {
                (try? await a.json(["node", "ping", "beta"]))?["peer"] as? String == "beta"
            })
        let unknown = try await a.gt(["node", "ping", "nobody"])
        #expect(unknown.status == 1 && unknown.stderr.contains("no member named nobody"), "\(unknown)")

        // A copy of beta's .gt/pki in another town: a joined town with no seed refuses to start alone…
        let pki = c.paths.pki.url.path
        try? FileManager.default.removeItem(atPath: pki)
        try FileManager.default.copyItem(atPath: b.paths.pki.url.path, toPath: pki)
        let alone = try await c.gt(["up", "--listen", "127.0.0.1:0"])
        #expect(alone.status == 1)
        #expect(alone.stderr.contains("--join HOST:PORT") && alone.stderr.contains("--alone"), "\(alone)")
        #expect(c.runtime == nil)
        // …and started with a seed, the impostor is noticed as a duplicate identity.
        try await c.ok(["up", "--listen", "127.0.0.1:0", "--join", addressA])
        func warned(_ town: TestTown) async throws -> Bool {
            let status = try await town.json(["status"])
            return (status["warnings"] as? [String] ?? []).contains { $0.contains("duplicate identity") }
        }
        // Noticed by the CA node (beta's address flips back and forth) or by a holder itself (its refutation
        // is answered from another address): a push-pull round or two (30 s each) at most.
        var holder: TestTown?
        _ = try await eventually(100) {
            for town in [a, b, c] where try await warned(town) {
                holder = town
                return true
            }
            return false
        }
        let noticed = try #require(holder, "no node noticed the duplicate identity")
        let events = (try? String(contentsOfFile: noticed.paths.eventsFile, encoding: .utf8)) ?? ""
        #expect(events.contains("\"duplicate_identity\"") && events.contains("\"member\":\"beta\""), "\(events)")
        let list = try await noticed.gt(["node", "list"])
        #expect(list.status == 0 && list.stderr.contains("warning: duplicate identity"), "\(list)")
        #expect(try await noticed.ok(["status"]).contains("WARNING:     duplicate identity"))
        try await c.ok(["down"])

        // `gt node leave` stops the node and leaves no node.pid behind.
        #expect(FileManager.default.fileExists(atPath: b.paths.pidFile))
        try await b.ok(["node", "leave"])
        #expect(!FileManager.default.fileExists(atPath: b.paths.pidFile))
        #expect(b.runtime == nil)
    }
}
