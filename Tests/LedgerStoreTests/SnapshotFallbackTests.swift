import Beads
import Foundation
import GasTownTestKit
import LedgerStore
import Testing

/// One damaged newest snapshot always falls back to the snapshot before it (or, while there is only one, to the
/// log from its start), with every acknowledged record there: compaction drops segments only behind the older of
/// two snapshots, and a writer sets a damaged snapshot aside so it never counts as one of the two.
@Suite struct SnapshotFallbackTests {
    static func flipByte(in path: String, at fraction: Double = 0.5) throws {
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[Int(Double(bytes.count) * fraction)] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: path))
    }

    func snapshotFiles(_ layout: StoreLayout) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: layout.snapshotDirectory).sorted()
    }

    /// The review's case: a big write is snapshotted at once and its segment closed; with that single snapshot
    /// damaged, the store used to be "cannot be rebuilt" because compaction had already dropped the segment.
    @Test func damagedOnlySnapshotFallsBackToTheWholeLog() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            var settings = settings()
            settings.snapshotEveryBytes = 4_096
            let store = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings)
            _ = try await store.append(Data("first".utf8))
            _ = try await store.append(Data(repeating: 0x61, count: 10_000))
            _ = try await store.append(Data("after".utf8))
            await store.closeAsync()
            #expect(store.statistics.snapshots == 1)
            let only = try #require(try snapshotFiles(layout).first)
            try Self.flipByte(in: layout.snapshotDirectory + "/" + only)

            let reader = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings, mode: .read)
            #expect(reader.read { $0.records.map(\.count) } == [5, 10_000, 5])
            #expect(reader.recovery.snapshotSequence == nil && reader.recovery.skippedSnapshots.count == 1)
            #expect(reader.recovery.warnings.first?.contains("skipped 1 damaged snapshot") == true)
            await reader.closeAsync()
            #expect(try snapshotFiles(layout) == [only])

            let writer = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings)
            #expect(writer.read { $0.records.map(\.count) } == [5, 10_000, 5])
            #expect(writer.recovery.setAsideSnapshots == [layout.snapshotDirectory + "/" + only + ".damaged"])
            await writer.closeAsync()
        }
    }

    /// 30 creates in a real ledger store, snapshotted twice: the newest snapshot damaged falls back to the older one
    /// plus replay; a writer then sets it aside, so after its own next snapshots a second damage of the newest still
    /// falls back, every acknowledged bead there each time.
    @Test func damagedNewestSnapshotFallsBackToThePreviousOneEveryTime() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            var settings = LedgerDatabaseSettings()
            settings.store.snapshotEveryRecords = 10
            settings.store.segmentBytes = 2_048
            let db = try LedgerDatabase.initialize(layout, prefix: "tt", settings: settings)
            var ids: [String] = []
            func create(_ db: LedgerDatabase, _ title: String) throws {
                let (_, bead) = try db.write(scope: nil, routing: nil) { (ledger, clock) throws(LedgerError) in
                    try ledger.prepareCreate(NewBead(title: title), actor: "t", stamp: clock.stamp, time: clock.time)
                }
                ids.append(try #require(bead).id)
            }
            for index in 0..<30 { try create(db, "bead \(index)") }
            db.close()
            #expect(db.statistics.segmentsCompacted > 0)
            func beads(_ db: LedgerDatabase) -> Set<String> {
                db.read { state in Set(state.scopes["tt"]!.beads.keys) }
            }

            for round in 0..<3 {
                let snapshots = try snapshotFiles(layout).filter { $0.hasSuffix(".snap") }
                #expect(snapshots.count == 2, "round \(round)")
                let newest = try #require(snapshots.last)
                try Self.flipByte(in: layout.snapshotDirectory + "/" + newest, at: 0.3)
                let reopened = try LedgerDatabase.open(layout, settings: settings)
                #expect(beads(reopened) == Set(ids), "round \(round)")
                #expect(reopened.recovery.skippedSnapshots.count == 1, "round \(round)")
                #expect(reopened.recovery.snapshotSequence.map { "snapshot-" + pad($0) + ".snap" } == snapshots.first)
                // One snapshot only: the damaged one would then be the other of the two newest, were it not set aside.
                for index in 0..<5 { try create(reopened, "round \(round) bead \(index)") }
                reopened.close()
                #expect(reopened.statistics.snapshots == 1, "round \(round)")
            }
            let last = try LedgerDatabase.open(layout, settings: settings, mode: .read)
            #expect(beads(last) == Set(ids) && ids.count == 45)
            last.close()
        }
    }

    func pad(_ value: UInt64) -> String {
        let digits = String(value)
        return String(repeating: "0", count: 20 - digits.count) + digits
    }
}
