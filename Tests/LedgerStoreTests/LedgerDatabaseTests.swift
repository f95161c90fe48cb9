import Beads
import Foundation
import GasTownTestKit
import LedgerStore
import Testing

/// The town ledger store: scopes, routing, the HLC kept in the shell, reopen, snapshots, export, refusals, and
/// fuzzed records and snapshots.
@Suite struct LedgerDatabaseTests {
    /// Settings whose wall clock returns `millis` (shared, so a test can move it).
    final class FakeClock: @unchecked Sendable {
        private let lock = NSLock()
        private var millis: Int64
        init(_ millis: Int64) { self.millis = millis }
        func set(_ value: Int64) {
            lock.lock()
            millis = value
            lock.unlock()
        }
        var nanos: Int64 {
            lock.lock()
            defer { lock.unlock() }
            return millis * 1_000_000
        }
    }

    func settings(_ clock: FakeClock, snapshotEvery: Int = 10_000) -> LedgerDatabaseSettings {
        var s = LedgerDatabaseSettings()
        s.wallClockNanos = { clock.nanos }
        s.store.snapshotEveryRecords = snapshotEvery
        s.store.lockWaitTimeout = .seconds(1)
        return s
    }

    @discardableResult
    func create(_ db: LedgerDatabase, _ title: String, scope: String? = nil) throws -> Bead {
        let (_, bead) = try db.write(scope: scope, routing: nil) { (ledger, clock) throws(LedgerError) -> LedgerOp in
            try ledger.prepareCreate(NewBead(title: title), actor: "t", stamp: clock.stamp, time: clock.time)
        }
        return try #require(bead)
    }

    @Test func reopenKeepsScopesAndStampsOnlyGrow() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            let clock = FakeClock(1_000_000)
            let db = try LedgerDatabase.initialize(layout, prefix: "hq", settings: settings(clock))
            try db.addScope("gt")
            let town = try create(db, "town work")
            let rig = try create(db, "rig work", scope: "gt")
            #expect(town.id.hasPrefix("hq-") && rig.id.hasPrefix("gt-"))
            let replica = db.read { $0.replicaID }
            let before = db.read { $0.maxStamp }
            #expect(before.node == replica && before.wallMillis == 1_000_000)
            db.close()

            clock.set(500_000)  // the wall clock went back
            let again = try LedgerDatabase.open(layout, settings: settings(clock))
            defer { again.close() }
            #expect(again.defaultScope == "hq")
            #expect(again.read { $0.replicaID } == replica)
            #expect(again.read { $0.scopeNames } == ["gt", "hq"])
            #expect(again.read { $0.scope(forID: rig.id) } == "gt")
            #expect(again.read { $0.scopes["hq"]!.bead(town.id)?.title } == "town work")
            let (op, _) = try again.write(scope: nil, routing: rig.id) {
                (ledger, clock) throws(LedgerError) -> LedgerOp in
                LedgerOp(actor: "t", stamp: clock.stamp, time: clock.time, change: .close(id: rig.id, reason: "done"))
            }
            #expect(op.stamp > before, "a stamp after reopen is above every stamp stored")
            #expect(again.read { $0.scopes["gt"]!.bead(rig.id)?.status } == .closed)
            let routes = try String(contentsOfFile: layout.root + "/routes.jsonl", encoding: .utf8)
            #expect(routes == "{\"path\":\".\",\"prefix\":\"hq-\"}\n{\"path\":\".\",\"prefix\":\"gt-\"}\n")
        }
    }

    @Test func snapshotsRebuildTheSameState() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            let clock = FakeClock(2_000_000)
            let db = try LedgerDatabase.initialize(layout, prefix: "bd", settings: settings(clock, snapshotEvery: 4))
            var ids: [String] = []
            for i in 0..<11 { ids.append(try create(db, "bead \(i)").id) }
            _ = try db.write(scope: nil, routing: ids[3]) { (ledger, clock) throws(LedgerError) -> LedgerOp in
                ledger.prepareDependency(
                    id: ids[3], on: ids[2], type: .blocks, actor: "t", stamp: clock.stamp,
                    time: clock.time)
            }
            let state = db.read { $0 }
            db.close()
            let snapshots = try FileManager.default.contentsOfDirectory(atPath: layout.snapshotDirectory)
            #expect(snapshots.contains { $0.hasSuffix(".snap") })
            let reopened = try LedgerDatabase.open(layout, settings: settings(clock))
            defer { reopened.close() }
            let again = reopened.read { $0 }
            #expect(again.scopes == state.scopes)
            #expect(again.maxStamp == state.maxStamp && again.replicaID == state.replicaID)
            let decoded = try TownLedgerState(snapshot: state.snapshot())
            #expect(decoded.scopes == state.scopes && decoded.maxStamp == state.maxStamp)
        }
    }

    @Test func refusedWritesLeaveNoTrace() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            let db = try LedgerDatabase.initialize(layout, prefix: "bd", settings: settings(FakeClock(3_000_000)))
            defer { db.close() }
            let a = try create(db, "a")
            let records = db.statistics.records
            let export = db.read { $0.scopes["bd"]!.exportJSONL() }
            #expect(throws: LedgerDatabaseError.ledger(.titleEmpty)) { try create(db, "") }
            #expect(throws: LedgerDatabaseError.unknownScope("zz")) { try create(db, "x", scope: "zz") }
            #expect(throws: LedgerDatabaseError.unroutable(id: "qq-1")) {
                _ = try db.write(scope: nil, routing: "qq-1") { (_, clock) throws(LedgerError) -> LedgerOp in
                    LedgerOp(actor: "t", stamp: clock.stamp, time: clock.time, change: .reopen(id: "qq-1"))
                }
            }
            #expect(throws: LedgerDatabaseError.self) {
                _ = try db.write(scope: nil, routing: a.id) { (ledger, clock) throws(LedgerError) -> LedgerOp in
                    ledger.prepareDependency(
                        id: a.id, on: "bd-missing", type: .blocks, actor: "t",
                        stamp: clock.stamp, time: clock.time)
                }
            }
            #expect(db.statistics.records == records)
            #expect(db.read { $0.scopes["bd"]!.exportJSONL() } == export)
        }
    }

    @Test func batchesAreAllOrNothingAndReplay() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            let clock = FakeClock(5_000_000)
            let db = try LedgerDatabase.initialize(layout, prefix: "bd", settings: settings(clock))
            let a = try create(db, "a")
            let records = db.statistics.records
            #expect(throws: LedgerDatabaseError.ledger(.labelInvalid("x,y"))) {
                _ = try db.write(scope: nil, routing: a.id, actor: "t") { _ throws(LedgerError) in
                    [.update(id: a.id, fields: [.priority(0)]), .labels(id: a.id, add: ["x,y"], remove: [])]
                }
            }
            #expect(db.statistics.records == records)
            #expect(db.read { $0.scopes["bd"]!.bead(a.id)?.priority } == 2)
            let beads = try db.write(scope: nil, routing: a.id, actor: "t") { _ throws(LedgerError) in
                [.update(id: a.id, fields: [.priority(0)]), .labels(id: a.id, add: ["ok"], remove: [])]
            }
            #expect(beads.count == 2 && beads[1]?.labels == ["ok"] && beads[1]?.priority == 0)
            let stamps = db.read { $0.scopes["bd"]!.stamps[a.id]! }
            #expect(stamps.fields[.priority]! < stamps.labels["ok"]!.added!, "each change of a batch has its own stamp")
            let state = db.read { $0 }
            db.close()
            let reopened = try LedgerDatabase.open(layout, settings: settings(clock))
            defer { reopened.close() }
            #expect(reopened.read { $0.scopes } == state.scopes)
        }
    }

    @Test func initOpenAndExport() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            #expect(throws: LedgerDatabaseError.notInitialized(path: layout.root)) {
                try LedgerDatabase.open(layout)
            }
            #expect(!FileManager.default.fileExists(atPath: layout.root), "open does not create a store")
            #expect(throws: LedgerDatabaseError.invalidPrefix("9x")) {
                try LedgerDatabase.initialize(layout, prefix: "9x")
            }
            let db = try LedgerDatabase.initialize(layout, prefix: "bd", settings: settings(FakeClock(4_000_000)))
            try create(db, "exported")
            let paths = try db.exportScopes()
            #expect(paths == [layout.exportedJSONL(scope: "bd"), layout.exportDirectory + "/bd/stamps.jsonl"])
            let text = try String(contentsOfFile: paths[0], encoding: .utf8)
            #expect(text == db.read { $0.scopes["bd"]!.exportJSONL() })
            let stamps = try BeadStamps.decodeJSONL(try String(contentsOfFile: paths[1], encoding: .utf8))
            #expect(stamps.count == 1)
            db.close()
            #expect(throws: LedgerDatabaseError.alreadyInitialized(path: layout.root, prefix: "bd")) {
                try LedgerDatabase.initialize(layout, prefix: "bd")
            }
            let config = try String(contentsOfFile: layout.root + "/config.json", encoding: .utf8)
            #expect(config == "{\n  \"prefix\": \"bd\"\n}\n")
        }
    }

    /// Records and snapshots are outside bytes when read back: random and mutated ones must throw or apply,
    /// never crash, and a refused record leaves the state unchanged.
    @Test(arguments: [1, 2, 3] as [UInt64]) func fuzzedRecordsAndSnapshots(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        var state = TownLedgerState()
        try state.apply(record: TownLedgerState.replicaRecord("r1"))
        try state.apply(record: TownLedgerState.scopeRecord("bd"))
        var ledger = state.scopes["bd"]!
        let op = try ledger.prepareCreate(
            NewBead(title: "seed"), actor: "t", stamp: HLCStamp(wallMillis: 10, node: "r1"),
            time: Timestamp(unixMillis: 10))
        try ledger.apply(op)
        let valid = [TownLedgerState.opRecord(op, scope: "bd"), TownLedgerState.scopeRecord("gt")]
        try state.apply(record: valid[0])
        let snapshot = [UInt8](state.snapshot())
        for round in 0..<600 {
            var bytes: [UInt8]
            switch round % 3 {
            case 0: bytes = (0..<Int(rng.next() % 80)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case 1: bytes = [UInt8](valid[Int(rng.next() % 2)])
            default: bytes = snapshot
            }
            for _ in 0..<(1 + Int(rng.next() % 4)) where !bytes.isEmpty {
                let at = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 3 {
                case 0: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.remove(at: at)
                default: bytes.insert(Array("\"{}[],:0a".utf8).randomElement(using: &rng)!, at: at)
                }
            }
            var copy = state
            do { try copy.apply(record: Data(bytes)) } catch {
                #expect(copy.scopes == state.scopes && copy.maxStamp == state.maxStamp)
            }
            _ = try? TownLedgerState(snapshot: Data(bytes))
            _ = try? bytes.withUnsafeBytes { try TownLedgerState(readyView: $0) }
        }
    }

    @Test func benchmarkFunctionsRun() async throws {
        let creates = try LedgerBenchmarks.durableCreates(writers: 4, count: 40)
        #expect(creates.operations == 40)
        #expect(creates.fsyncs >= 1 && creates.fsyncs <= 40 + 2)
        let imported = try LedgerBenchmarks.import10k(count: 200)
        #expect(imported.operations == 200)
        try await withTemporaryDirectory { dir in
            try LedgerBenchmarks.prepareReadyStore(in: dir, count: 300)
            let db = try LedgerDatabase.open(StoreLayout(directory: dir))
            defer { db.close() }
            #expect(db.read { $0.scopes["bd"]!.count } == 300)
        }
    }
}
