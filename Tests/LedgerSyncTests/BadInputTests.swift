import Beads
import Foundation
import GasTownTestKit
import Git
import LedgerStore
import Testing

@Suite struct SyncBadInputTests {
    /// The local ledger after a failed sync: same export as before, and a write still works.
    static func expectIntactAndUsable(_ r: TestReplica, before: (issues: String, stamps: String)) async throws {
        #expect(r.exported.issues == before.issues)
        #expect(r.exported.stamps == before.stamps)
        let id = try await r.create("still usable")
        #expect(r.ledger.bead(id) != nil)
    }

    func failure(_ r: TestReplica) async -> SyncError? {
        do {
            _ = try await r.sync()
            return nil
        } catch let error as SyncError {
            return error
        } catch {
            return nil
        }
    }

    @Test func unreachableRemote() async throws {
        let r = try TestReplica(name: "u", remote: "/nonexistent/gt-sync-remote.git")
        defer { r.close() }
        _ = try await r.create("local")
        let before = r.exported
        let error = try #require(await failure(r))
        #expect(error.description.contains("cannot reach remote origin"), "\(error)")
        #expect(error.description.contains("intact"))
        try await Self.expectIntactAndUsable(r, before: before)
        let network = try TestReplica(name: "n", remote: "https://127.0.0.1:1/ledger.git")
        defer { network.close() }
        let netError = try #require(await failure(network))
        #expect(netError.description.contains("remote origin"), "\(netError)")
    }

    @Test func notARepository() async throws {
        let dir = try TempDir(prefix: "gt-sync-notrepo")
        try dir.write("README", "not a repository")
        let r = try TestReplica(name: "nr", remote: dir.path)
        defer { r.close() }
        _ = try await r.create("local")
        let before = r.exported
        let error = try #require(await failure(r))
        #expect(
            error.description.contains("is not a git repository") || error.description.contains("remote origin"),
            "\(error)")
        try await Self.expectIntactAndUsable(r, before: before)
    }

    @Test func pushRefused() async throws {
        let dir = try TempDir(prefix: "gt-sync-refuse")
        // A non-bare remote with ledger/t checked out refuses pushes to it (as git's receive.denyCurrentBranch).
        _ = try await GitRepository.create(at: dir.path + "/work", bare: false, initialHead: "ledger/t")
        let r = try TestReplica(name: "pr", remote: dir.path + "/work")
        defer { r.close() }
        _ = try await r.create("local")
        let before = r.exported
        let error = try #require(await failure(r))
        #expect(error.description.contains("refused the push"), "\(error)")
        try await Self.expectIntactAndUsable(r, before: before)
    }

    /// A remote issues.jsonl edited by hand: an invalid line is skipped with a warning naming the remote (the
    /// merge of everything else proceeds, and the next push heals the file); a valid edit without stamps is
    /// taken, stamped at import.
    @Test func remoteJSONLEditedByHand() async throws {
        let (remote, a, b) = try await TestReplica.pair()
        defer { TestReplica.close(a, b) }
        let x = try await a.create("Good")
        let y = try await a.create("Will be broken")
        let z = try await a.create("Will be retitled")
        try await a.sync()
        var lines = try await remote.file("issues.jsonl").split(separator: "\n").map(String.init)
        for i in lines.indices {
            if lines[i].contains("\"\(y)\"") { lines[i] = "{\"id\":\"\(y)\",\"title\": oops not json" }
            if lines[i].contains("\"\(z)\"") {
                lines[i] = lines[i].replacingOccurrences(of: "Will be retitled", with: "Retitled by hand")
            }
        }
        try await remote.commitFiles([
            "issues.jsonl": lines.joined(separator: "\n") + "\n", "stamps.jsonl": try await remote.file("stamps.jsonl"),
            "replicas.jsonl": try await remote.file("replicas.jsonl"),
        ])
        let report = try await b.sync()
        #expect(report.warnings.contains { $0.contains("remote origin") && $0.contains(y) }, "\(report.warnings)")
        #expect(b.ledger.bead(x)?.title == "Good")
        #expect(b.ledger.bead(z)?.title == "Retitled by hand")
        try await a.sync()
        #expect(a.ledger.bead(y)?.title == "Will be broken")
        #expect(a.ledger.bead(z)?.title == "Retitled by hand")
        // The push after the merge rewrote the file: every line parses again.
        let healed = try await remote.file("issues.jsonl")
        #expect((try? BeadCodec.decodeJSONL(healed))?.count == 3)
        _ = try await b.sync()
        #expect(a.exported.issues == b.exported.issues)
    }

    /// A remote stamp far ahead of the local clock is refused with a warning naming the remote; the rest merges.
    @Test func stampsFromTheFutureAreRefused() async throws {
        let (remote, a, b) = try await TestReplica.pair()
        defer { TestReplica.close(a, b) }
        let x = try await a.create("Normal")
        let y = try await a.create("From the future")
        try await a.sync()
        try await b.sync()
        _ = try await a.change(.update(id: y, fields: [.title("Far ahead")])).get()
        _ = try await a.change(.update(id: x, fields: [.title("Normal edit")])).get()
        let future = HLCStamp(wallMillis: 4_102_444_800_000, counter: 0, node: "skewed")
        let stamps = a.exported.stamps.split(separator: "\n").map { line -> String in
            guard line.contains("\"\(y)\"") else { return String(line) }
            var s = try! BeadStamps(json: try! JSONValue.parse(String(line)))
            s.fields[.title] = future
            return s.json.compactText
        }
        try await remote.commitFiles([
            "issues.jsonl": a.exported.issues, "stamps.jsonl": stamps.joined(separator: "\n") + "\n",
        ])
        let report = try await b.sync()
        #expect(report.warnings.contains { $0.contains("remote origin") && $0.contains(y) && $0.contains("ahead") })
        #expect(b.ledger.bead(x)?.title == "Normal edit")
        #expect(b.ledger.bead(y)?.title == "From the future")
        #expect(b.db.read { $0.maxStamp } < future)
    }

    /// History rewritten by force-push: a warning names the remote, the state merge keeps everything, and the next
    /// push carries the union.
    @Test func historyRewrittenByForcePush() async throws {
        let remote = try await TestRemote()
        let a = try TestReplica(name: "a", remote: remote.path)
        defer { a.close() }
        let x = try await a.create("Before the rewrite")
        try await a.sync()
        // Someone force-pushes an unrelated history holding one other bead.
        let other = try TestReplica(name: "o", remote: nil)
        defer { other.close() }
        let y = try await other.create("From the rewritten history")
        try await remote.commitFiles(
            ["issues.jsonl": other.exported.issues, "stamps.jsonl": other.exported.stamps], rewrite: true)
        // A new engine (as a new `bd sync` process) notices it too, from the remote-tracking ref it left.
        let fresh = LedgerSync(layout: a.layout, settings: TestReplica.fastSettings)
        let report = try await fresh.sync(a.db)
        #expect(
            report.warnings.contains { $0.contains("remote origin") && $0.contains("rewritten") }, "\(report.warnings)")
        #expect(a.ledger.bead(x) != nil && a.ledger.bead(y) != nil)
        let onRemote = try await remote.file("issues.jsonl")
        #expect(onRemote.contains(x) && onRemote.contains(y))
        #expect(onRemote == a.exported.issues)
    }
}
