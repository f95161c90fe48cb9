import Beads
import Foundation
import GasTownTestKit
import LedgerStore
import Testing

/// The ready view of a snapshot (version 2): only each scope's ready closure is decoded, and `ready` and `blocked`
/// give what they give on the whole ledger; version 1 snapshots still load (in full); damaged counts are refused;
/// a store with records after its snapshot is loaded in full.
@Suite struct ReadyViewTests {
    static let now = BeadsFixtures.now

    /// The fixture ledger plus hand-made cases whose answer depends on closed beads: a closed parent blocked by an
    /// open bead (its open child is blocked), an any-children waits-for gate opened by a closed child, an open bead
    /// whose only blocker is closed (ready).
    static func state() throws -> TownLedgerState {
        var beads = BeadsFixtures.ledger(count: 2_000, seed: 5).sortedBeads
        let t = Timestamp(unixMillis: now.unixMillis - 3_600_000)
        func bead(_ id: String, _ status: BeadStatus, _ deps: [(String, DependencyType, String)] = []) -> Bead {
            var b = Bead(id: id, title: id, createdAt: t, updatedAt: t)
            b.status = status
            if status == .closed { b.closedAt = t }
            b.dependencies = deps.map {
                Dependency(issueID: id, dependsOnID: $0.0, type: $0.1, createdAt: t, metadata: $0.2)
            }
            return b
        }
        beads += [
            bead("bd-zblocker", .open),
            bead("bd-zparent", .closed, [("bd-zblocker", .blocks, "{}")]),
            bead("bd-zchild", .open, [("bd-zparent", .parentChild, "{}")]),
            bead("bd-zspawner", .closed),
            bead("bd-zkid1", .closed, [("bd-zspawner", .parentChild, "{}")]),
            bead("bd-zkid2", .open, [("bd-zspawner", .parentChild, "{}")]),
            bead("bd-zwaiter", .open, [("bd-zspawner", .waitsFor, "{\"gate\":\"any-children\"}")]),
            bead("bd-zdone", .closed),
            bead("bd-zfree", .open, [("bd-zdone", .blocks, "{}")]),
        ]
        var state = TownLedgerState()
        try state.apply(record: TownLedgerState.replicaRecord("r1"))
        try state.apply(record: TownLedgerState.scopeRecord("bd"))
        try state.apply(record: TownLedgerState.scopeRecord("gt"))
        let op = LedgerOp(
            actor: "t", stamp: HLCStamp(wallMillis: now.unixMillis, node: "r1"), time: now,
            change: .importBeads(beads))
        try state.apply(record: TownLedgerState.opRecord(op, scope: "bd"))
        return state
    }

    func readyIDs(_ state: TownLedgerState) -> [String] {
        state.scopeNames.flatMap { state.scopes[$0]!.ready(now: Self.now).map(\.id) }
    }

    func blockedIDs(_ state: TownLedgerState) -> [String] {
        state.scopeNames.flatMap { state.scopes[$0]!.blocked().map { "\($0.bead.id)<\($0.blockedBy.sorted())" } }
    }

    @Test func readyViewDecodesOnlyTheClosureAndAnswersAsTheWholeLedger() throws {
        let state = try Self.state()
        let view = try #require(try state.snapshot().withUnsafeBytes { try TownLedgerState(readyView: $0) })
        let full = try #require(state.scopes["bd"])
        let partial = try #require(view.scopes["bd"])
        #expect(partial.count < full.count / 2, "the view holds \(partial.count) of \(full.count) beads")
        #expect(partial.count == full.readyClosure().count)
        #expect(view.scopeNames == ["bd", "gt"] && view.replicaID == "r1" && view.maxStamp == state.maxStamp)
        var unlimited = BeadFilter()
        unlimited.limit = 0
        #expect(readyIDs(view) == readyIDs(state))
        #expect(!readyIDs(state).isEmpty)
        #expect(blockedIDs(view) == blockedIDs(state))
        let ready = Set(readyIDs(state))
        #expect(ready.contains("bd-zwaiter") && ready.contains("bd-zfree") && !ready.contains("bd-zchild"))
        #expect(full.blockedIDs.contains("bd-zchild") && partial.blockedIDs.contains("bd-zchild"))
        // The full decode of the same snapshot is the whole state.
        #expect(try TownLedgerState(snapshot: state.snapshot()).scopes == state.scopes)
    }

    /// A version 1 snapshot (no ready counts, beads in ID order) has no view: nil, and it decodes in full.
    @Test func versionOneSnapshotHasNoViewAndLoadsInFull() throws {
        let state = try Self.state()
        var lines = state.snapshot().split(separator: 0x0A, omittingEmptySubsequences: false).map { [UInt8]($0) }
        for (i, line) in lines.enumerated() where !line.isEmpty {
            var value = try JSONValue.parse(bytes: line)
            guard case .object(var members) = value else { continue }
            if value["v"] != nil {
                members = members.map { $0.key == "v" ? JSONMember("v", .int(1)) : $0 }
            } else if value["scope"] != nil && value["beads"] != nil {
                members.removeAll { $0.key == "ready" || $0.key == "ready_stamps" }
            } else {
                continue
            }
            value = .object(members)
            var out: [UInt8] = []
            value.write(to: &out)
            lines[i] = out
        }
        let v1 = Data(lines.joined(separator: [0x0A]))
        #expect(String(decoding: v1.prefix(7), as: UTF8.self) == "{\"v\":1,")
        #expect(try v1.withUnsafeBytes { try TownLedgerState(readyView: $0) } == nil)
        #expect(try TownLedgerState(snapshot: v1).scopes == state.scopes)
    }

    /// Counts that do not fit the lines are refused by both decoders, with the header named.
    @Test func readyCountsBeyondTheScopeAreRefused() throws {
        let state = try Self.state()
        let count = state.scopes["bd"]!.count
        let text = String(decoding: state.snapshot(), as: UTF8.self)
        let closure = state.scopes["bd"]!.readyClosure().count
        let damaged = Data(text.replacingOccurrences(of: "\"ready\":\(closure),", with: "\"ready\":\(count + 1),").utf8)
        #expect(damaged != state.snapshot())
        #expect(throws: LedgerDatabaseError.self) { try damaged.withUnsafeBytes { try TownLedgerState(readyView: $0) } }
        #expect(throws: LedgerDatabaseError.self) { try TownLedgerState(snapshot: damaged) }
        let negative = Data(text.replacingOccurrences(of: "\"ready\":\(closure),", with: "\"ready\":-1,").utf8)
        #expect(throws: LedgerDatabaseError.self) { try negative.withUnsafeBytes { try TownLedgerState(readyView: $0) } }
    }

    /// The view decoder is a decoder of outside bytes: mutated snapshots throw or decode, never crash.
    @Test(arguments: [1, 2] as [UInt64]) func fuzzedSnapshotsInTheReadyView(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        var small = TownLedgerState()
        try small.apply(record: TownLedgerState.replicaRecord("r1"))
        try small.apply(record: TownLedgerState.scopeRecord("bd"))
        let beads = BeadsFixtures.ledger(count: 40, seed: seed).sortedBeads
        let op = LedgerOp(
            actor: "t", stamp: HLCStamp(wallMillis: 10, node: "r1"), time: Self.now, change: .importBeads(beads))
        try small.apply(record: TownLedgerState.opRecord(op, scope: "bd"))
        let snapshot = [UInt8](small.snapshot())
        var views = 0
        for _ in 0..<400 {
            var bytes = snapshot
            for _ in 0..<(1 + Int(rng.next() % 4)) where !bytes.isEmpty {
                let at = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 3 {
                case 0: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.remove(at: at)
                default: bytes.insert(Array("\"{}[],:0a\n".utf8).randomElement(using: &rng)!, at: at)
                }
            }
            if (try? bytes.withUnsafeBytes { try TownLedgerState(readyView: $0) }) != nil { views += 1 }
        }
        // Most single-byte changes land in text fields and still decode; the test exercises both outcomes.
        #expect(views > 0)
        #expect(try snapshot.withUnsafeBytes { try TownLedgerState(readyView: $0) } != nil)
    }

    /// Through the store: a snapshot with nothing after it opens as a view; one more record and the read loads in
    /// full (a view cannot replay records), with the same answer.
    @Test func storeOpensAViewOnlyWhenNoRecordFollowsTheSnapshot() async throws {
        try await withTemporaryDirectory { dir in
            try LedgerBenchmarks.prepareReadyStore(in: dir, count: 1_500)
            let layout = StoreLayout(directory: dir)
            // A writer opened with a 1-byte snapshot trigger snapshots the replayed import at open.
            var eager = LedgerDatabaseSettings()
            eager.store.snapshotEveryBytes = 1
            try LedgerDatabase.open(layout, settings: eager).close()
            let (viewReady, wasView) = try {
                let db = try LedgerDatabase.open(layout, mode: .read, readyView: true)
                defer { db.close() }
                return (db.read { readyIDs($0) }, db.isReadyView)
            }()
            let fullReady: [String] = try {
                let db = try LedgerDatabase.open(layout, mode: .read)
                defer { db.close() }
                #expect(!db.isReadyView)
                return db.read { readyIDs($0) }
            }()
            #expect(wasView, "the prepared store's import is covered by a snapshot")
            #expect(viewReady == fullReady && !fullReady.isEmpty)
            let writer = try LedgerDatabase.open(layout)
            _ = try writer.write(scope: "bd", routing: nil) { (ledger, clock) throws(LedgerError) -> LedgerOp in
                try ledger.prepareCreate(
                    NewBead(title: "after the snapshot"), actor: "t", stamp: clock.stamp, time: clock.time)
            }
            writer.close()
            let db = try LedgerDatabase.open(layout, mode: .read, readyView: true)
            defer { db.close() }
            #expect(!db.isReadyView)
            #expect(db.read { $0.scopes["bd"]!.count } == 1_501)
        }
    }
}
