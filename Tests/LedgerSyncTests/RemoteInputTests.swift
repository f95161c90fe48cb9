import Beads
import Foundation
import GasTownTestKit
import Git
import Testing

@testable import LedgerStore

/// What a sync takes in from a remote is checked as a local write is; what it cannot take in is quarantined with a
/// warning naming remote, commit and line, and never erased from the remote (issue 10, hole 4 and rough edges).
@Suite struct RemoteInputTests {
    static func line(id: String, title: String) -> String {
        BeadCodec.encodeLine(Bead(id: id, title: title, createdAt: Timestamp(unixNanos: 1_700_000_000_000_000_000)))
    }

    /// Pushes `extra` lines (after the current ones) to the remote's ledger/t, as another tool would.
    static func pushLines(_ remote: TestRemote, _ extra: [String], replacing: (String) -> String = { $0 }) async throws
    {
        let current = try await remote.file("issues.jsonl").split(separator: "\n").map { replacing(String($0)) }
        try await remote.commitFiles([
            "issues.jsonl": (current + extra).joined(separator: "\n") + "\n",
            "stamps.jsonl": try await remote.file("stamps.jsonl"),
            "replicas.jsonl": try await remote.file("replicas.jsonl"),
        ])
    }

    @Test func foreignAndOversizedBeadsAreQuarantinedAndKeptOnTheRemote() async throws {
        let (remote, a, b) = try await TestReplica.pair()
        defer { TestReplica.close(a, b) }
        let good = try await a.create("Good")
        try await a.sync()
        let longID = "t-" + String(repeating: "x", count: 5_000)
        let foreign = Self.line(id: "zz-foreign", title: "From another ledger")
        let longTitle = Self.line(id: "t-longtitle", title: String(repeating: "T", count: 5_000))
        let longIDLine = Self.line(id: longID, title: "Long ID")
        try await Self.pushLines(remote, [foreign, longTitle, longIDLine])
        let commit = try #require(try await remote.branch())
        _ = try await b.create("Local on b")
        let report = try await b.sync()
        let warnings = report.warnings
        for id in ["zz-foreign", "t-longtitle", "t-xxxxxxxx"] {
            #expect(
                warnings.contains {
                    $0.contains("remote origin") && $0.contains(String(commit.hex.prefix(12))) && $0.contains(id)
                        && $0.contains("issues.jsonl line ") && $0.contains("quarantine")
                }, "\(id): \(warnings)")
        }
        #expect(warnings.contains { $0.contains("zz-foreign") && $0.contains("does not belong") }, "\(warnings)")
        #expect(warnings.contains { $0.contains("t-longtitle") && $0.contains("at most 500") }, "\(warnings)")
        #expect(warnings.allSatisfy { $0.count < 1_000 }, "IDs are shortened in warnings")
        // Nothing refused reached the store; the good bead did.
        #expect(b.ledger.bead(good)?.title == "Good")
        #expect(b.db.read { state in state.scopes.values.allSatisfy { $0.bead("zz-foreign") == nil } })
        #expect(b.ledger.bead("t-longtitle") == nil && b.ledger.bead(longID) == nil)
        // The lines are kept for inspection, and the push did not erase them from the remote.
        let quarantine = b.layout.quarantineDirectory + "/t/origin-\(commit.hex.prefix(12))"
        let kept = try String(contentsOfFile: quarantine + ".jsonl", encoding: .utf8)
        #expect(kept.contains(foreign) && kept.contains(longTitle) && kept.contains(longIDLine))
        let why = try String(contentsOfFile: quarantine + ".why", encoding: .utf8)
        #expect(why.contains("zz-foreign") && why.contains("line "))
        var onRemote = try await remote.file("issues.jsonl")
        #expect(onRemote.contains(foreign) && onRemote.contains(longTitle) && onRemote.contains(longIDLine))
        // A replica that merged them before quietly keeps them too, and so does a new engine (a new `bd sync`).
        let again = try await b.sync()
        #expect(again.warnings.isEmpty, "\(again.warnings)")
        _ = try await b.create("After a restart")
        let fresh = LedgerSync(layout: b.layout, settings: TestReplica.fastSettings)
        _ = try await fresh.sync(b.db)
        try await a.sync()
        _ = try await a.create("On a")
        try await a.sync()
        onRemote = try await remote.file("issues.jsonl")
        #expect(onRemote.contains(foreign) && onRemote.contains(longTitle) && onRemote.contains(longIDLine))
        try await b.sync()
        #expect(a.exported.issues == b.exported.issues)
        #expect(a.ledger.count == 4)
    }

    /// A refused edit of a bead the store holds: quarantined, and this replica's valid version stays.
    @Test func refusedEditOfAHeldBeadKeepsTheValidVersion() async throws {
        let (remote, a, b) = try await TestReplica.pair()
        defer { TestReplica.close(a, b) }
        let x = try await a.create("Valid title")
        try await a.sync()
        try await b.sync()
        try await Self.pushLines(remote, []) { line in
            line.contains(x) ? line.replacingOccurrences(of: "Valid title", with: String(repeating: "L", count: 600)) : line
        }
        let report = try await b.sync()
        #expect(
            report.warnings.contains { $0.contains(x) && $0.contains("replaces it") && $0.contains("quarantine") },
            "\(report.warnings)")
        #expect(b.ledger.bead(x)?.title == "Valid title")
        #expect(try await remote.file("issues.jsonl").contains("\"Valid title\""))
    }

    /// A line in other JSON spacing is read (not "no bead id"), its edit is taken, and the next push keeps the bead.
    @Test func linesInOtherSpacingAreRead() async throws {
        let (remote, a, b) = try await TestReplica.pair()
        defer { TestReplica.close(a, b) }
        let x = try await a.create("Before")
        let y = try await a.create("Untouched")
        try await a.sync()
        try await b.sync()
        try await Self.pushLines(remote, []) { line in
            guard line.contains(x) else { return line }
            let value = try! JSONValue.parse(line.replacingOccurrences(of: "Before", with: "After"))
            // `"id": "x", "title": …`: a space after every colon and comma, as Python's json.dumps writes.
            guard case .object(let members) = value else { return line }
            return "{ " + members.map { JSONValue.string($0.key).compactText + ": " + $0.value.compactText }
                .joined(separator: ", ") + " }"
        }
        #expect(try await remote.file("issues.jsonl").contains("\"id\": \"\(x)\""))
        let report = try await b.sync()
        #expect(!report.warnings.contains { $0.contains("no bead id") }, "\(report.warnings)")
        #expect(b.ledger.bead(x)?.title == "After")
        #expect(b.ledger.bead(y)?.title == "Untouched")
        let onRemote = try await remote.file("issues.jsonl")
        #expect(onRemote.contains(x) && onRemote.contains("After"))
        try await a.sync()
        #expect(a.ledger.bead(x)?.title == "After")
    }

    /// Lines with no readable ID, or not UTF-8, are warned about once and carried byte for byte.
    @Test func unreadableLinesAreNeverOverwrittenAway() async throws {
        let (remote, a, b) = try await TestReplica.pair()
        defer { TestReplica.close(a, b) }
        _ = try await a.create("One")
        try await a.sync()
        let current = try await remote.file("issues.jsonl")
        var bytes = Array(current.utf8)
        bytes += Array("this is not json\n".utf8)
        bytes += Array("{\"id\":\"t-badutf\",\"title\":\"caf".utf8) + [0xC3, 0x28] + Array("\"}\n".utf8)
        let repo = try await GitRepository.open(at: remote.path)
        let parent = try await repo.referenceTarget("refs/heads/ledger/t")
        let tree = try await repo.writeTree(files: [
            "issues.jsonl": Data(bytes), "stamps.jsonl": Data(try await remote.file("stamps.jsonl").utf8),
        ])
        let sig = GitSignature(name: "someone", email: "s@example.com", time: Int64(Date().timeIntervalSince1970))
        let commit = try await repo.commit(tree: tree, parents: parent.map { [$0] } ?? [], message: "bad", author: sig)
        _ = try await repo.updateReference("refs/heads/ledger/t", to: commit, expecting: parent)
        _ = try await b.create("Forces a merge commit")
        let report = try await b.sync()
        #expect(report.warnings.contains { $0.contains("line 2") && $0.contains("no bead id") }, "\(report.warnings)")
        #expect(report.warnings.contains { $0.contains("line 3") && $0.contains("UTF-8") }, "\(report.warnings)")
        #expect(b.ledger.bead("t-badutf") == nil)
        let after = try #require(try await repo.readFile("issues.jsonl", at: "refs/heads/ledger/t"))
        #expect(after.range(of: Data("this is not json\n".utf8)) != nil)
        #expect(after.range(of: Data([0x63, 0x61, 0x66, 0xC3, 0x28])) != nil, "the invalid bytes are kept as they were")
        #expect(try await repo.referenceTarget("refs/heads/ledger/t") != commit)
        let again = try await b.sync()
        #expect(again.warnings.isEmpty, "warned once: \(again.warnings)")
        try await a.sync()
        _ = try await a.create("Another")
        let fresh = LedgerSync(layout: a.layout, settings: TestReplica.fastSettings)
        _ = try await fresh.sync(a.db)
        let last = try #require(try await repo.readFile("issues.jsonl", at: "refs/heads/ledger/t"))
        #expect(last.range(of: Data("this is not json\n".utf8)) != nil)
        #expect(a.ledger.count == 3)
    }

    /// A remote branch without issues.jsonl, or with it as a directory, is warned about.
    @Test func branchWithoutIssuesFileIsWarnedAbout() async throws {
        let (remote, a, b) = try await TestReplica.pair()
        defer { TestReplica.close(a, b) }
        _ = try await a.create("One")
        try await a.sync()
        try await remote.commitFiles(["stamps.jsonl": ""], scope: "nofile")
        let repo = try await GitRepository.open(at: remote.path)
        let tree = try await repo.writeTree(files: ["issues.jsonl/x": Data("{}".utf8)])
        let sig = GitSignature(name: "someone", email: "s@example.com", time: Int64(Date().timeIntervalSince1970))
        let commit = try await repo.commit(tree: tree, parents: [], message: "dir", author: sig)
        _ = try await repo.updateReference("refs/heads/ledger/dir", to: commit, expecting: nil)
        let report = try await b.sync()
        #expect(
            report.warnings.contains { $0.contains("ledger/nofile") && $0.contains("has no issues.jsonl") },
            "\(report.warnings)")
        #expect(
            report.warnings.contains { $0.contains("ledger/dir") && $0.contains("is a directory") },
            "\(report.warnings)")
        #expect(b.ledger.count == 1)
    }

    /// A bead held by a scope its ID does not route to (merged before this check existed, or imported) is reachable
    /// by ID: shown, updated and deleted.
    @Test func beadsAreRoutedByTheScopeHoldingThem() async throws {
        let dir = try TempDir(prefix: "gt-sync-route")
        let layout = StoreLayout(directory: dir.path)
        let db = try LedgerDatabase.initialize(layout, prefix: "hq")
        defer { db.close() }
        let bead = Bead(id: "zz-foreign", title: "Foreign", createdAt: Timestamp(unixNanos: 1))
        let stamps = BeadStamps(newBead: bead, stamp: HLCStamp(wallMillis: 1, counter: 0, node: "x"))
        let record = TownLedgerState.mergeRecord(
            scope: "hq", remote: "origin", commit: "c", beads: [bead], stamps: [stamps])
        _ = try await db.store.transact {
            (state: inout TownLedgerState) throws(LedgerDatabaseError) -> (record: Data, result: MergeReport) in
            (record, try state.mergeRemote(scope: "hq", beads: [bead], stamps: [stamps]))
        }
        #expect(db.read { $0.scope(forID: "zz-foreign") } == "hq")
        #expect(db.read { $0.scope(forID: "zz-other") } == nil)
        #expect(db.read { $0.scope(forID: "hq-abc") } == "hq")
        let updated = try await DedicatedThread.run { () throws(LedgerDatabaseError) -> Bead? in
            try db.write(scope: nil, routing: "zz-foreign") { _, clock in
                LedgerOp(
                    actor: "t", stamp: clock.stamp, time: clock.time,
                    change: .update(id: "zz-foreign", fields: [.title("Renamed")]))
            }.bead
        }
        #expect(updated?.title == "Renamed")
    }

    /// The ID scanner agrees with the JSON parser on seeded random lines in every spacing: the top-level string
    /// `id` or nothing (never a nested one).
    @Test(arguments: [UInt64(7), 8, 9])
    func idScannerAgreesWithTheParser(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let pieces = [
            "\"id\"", "\"x\"", ":", ",", " ", "\t", "{", "}", "[", "]", "\"t-1\"", "\"a\\\"b\"", "1", "true", "null",
            "\"comments\"", "\"\\u0041\"", "\"t-\\u00e9\"", "\"\"",
        ]
        var agreed = 0
        for round in 0..<3_000 {
            var text: String
            if round % 3 == 0 {
                // A real object with the id at a random place and nested ids, in random spacing.
                let sp = [" ", "", "\t", "  "]
                func s() -> String { sp[Int(rng.next() % UInt64(sp.count))] }
                var members = [
                    "\"title\"\(s()):\(s())\"x\"", "\"deps\"\(s()):\(s())[{\"id\":\"nested\"}]",
                    "\"meta\"\(s()):\(s()){\"id\"\(s()):\(s())\"inner\"}",
                ]
                members.insert("\"id\"\(s()):\(s())\"t-\(rng.next() % 1000)\"", at: Int(rng.next() % 4))
                text = "\(s()){\(s())" + members.joined(separator: "\(s()),\(s())") + "\(s())}\(s())"
            } else {
                text = (0..<(1 + Int(rng.next() % 12))).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }
                    .joined()
            }
            let bytes = Array(text.utf8)
            let scanned = ScopeLines.idOf(bytes[...])
            if let value = try? JSONValue.parse(bytes: bytes), case .object = value {
                let expected = value["id"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
                #expect(scanned == expected, "\(text)")
                agreed += 1
            }
        }
        #expect(agreed > 500)
    }
}
