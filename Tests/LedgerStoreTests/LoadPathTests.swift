import Beads
import Foundation
import GasTownTestKit
import LedgerStore
import Testing

/// The fast load path: byte-triggered snapshots that close the segment they cover, a snapshot written at open after
/// an expensive replay, the parallel snapshot decoder, the slicing-by-8 CRC, and the group-commit window.
@Suite struct LoadPathTests {
    /// Bit-at-a-time CRC-32C, the definition the table-driven code must match.
    static func referenceCRC(_ bytes: [UInt8], seed: UInt32 = 0) -> UInt32 {
        var crc = ~seed
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }

    @Test func crcMatchesTheBitwiseDefinitionAtEveryLengthAndSeed() {
        var rng = SeededGenerator(seed: 99)
        for length in Array(0..<70) + [255, 256, 1_000, 4_099] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let seed = length % 3 == 0 ? 0 : UInt32.random(in: 0...UInt32.max, using: &rng)
            #expect(CRC32C.checksum(bytes, seed: seed) == Self.referenceCRC(bytes, seed: seed), "length \(length)")
            let split = length / 3
            let chained = CRC32C.checksum(Array(bytes[split...]), seed: CRC32C.checksum(Array(bytes[..<split])))
            #expect(chained == CRC32C.checksum(bytes))
        }
    }

    func byteSettings(_ bytes: Int) -> StoreSettings {
        var s = settings()
        s.snapshotEveryBytes = bytes
        return s
    }

    /// A big record is snapshotted at once and its segment closed, so the next open neither reads nor replays it.
    /// The segment is kept while that snapshot is the only one (it is the fallback should the snapshot be damaged)
    /// and dropped once a second snapshot covers it.
    @Test func bigRecordIsSnapshottedAndItsSegmentDroppedBehindASecondSnapshot() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            let store = try await DurableStore<OpaqueRecordLog>.open(layout, settings: byteSettings(4_096))
            _ = try await store.append(Data("small".utf8))
            _ = try await store.append(Data(repeating: 0x61, count: 10_000))
            _ = try await store.append(Data("after".utf8))
            await store.closeAsync()
            #expect(store.statistics.snapshots == 1)
            #expect(store.statistics.segmentsCompacted == 0)
            #expect(
                try segmentFiles(layout).map { ($0 as NSString).lastPathComponent }
                    == ["00000000000000000001.wal", "00000000000000000003.wal"])

            let reopened = try await DurableStore<OpaqueRecordLog>.open(layout, settings: byteSettings(4_096))
            #expect(reopened.recovery.snapshotSequence == 2)
            #expect(reopened.recovery.replayedRecords == 1)
            #expect(reopened.recovery.segmentsScanned == 1)
            #expect(reopened.read { $0.records.map(\.count) } == [5, 10_000, 5])
            _ = try await reopened.snapshot()
            await reopened.closeAsync()
            #expect(reopened.statistics.segmentsCompacted == 1)
            #expect(try segmentFiles(layout).map { ($0 as NSString).lastPathComponent } == ["00000000000000000003.wal"])
        }
    }

    @Test func byteTriggerWaitsForAsMuchLogAsTheLastSnapshotHolds() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            let store = try await DurableStore<OpaqueRecordLog>.open(layout, settings: byteSettings(4_096))
            _ = try await store.append(Data(repeating: 0x63, count: 20_000))
            // 10 × 1,000 bytes: past snapshotEveryBytes, but less log than the 20 KB snapshot holds.
            for _ in 0..<10 { _ = try await store.append(Data(repeating: 0x64, count: 1_000)) }
            _ = try await store.snapshot()
            #expect(store.statistics.snapshots == 2)
            for _ in 0..<15 { _ = try await store.append(Data(repeating: 0x65, count: 1_000)) }
            #expect(store.statistics.snapshots == 2)
            for _ in 0..<20 { _ = try await store.append(Data(repeating: 0x66, count: 1_000)) }
            await store.closeAsync()
            #expect(store.statistics.snapshots == 3)
        }
    }

    @Test func openAfterAnExpensiveReplayWritesASnapshot() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            let store = try await DurableStore<OpaqueRecordLog>.open(layout, settings: byteSettings(0))
            _ = try await store.append(Data(repeating: 0x62, count: 20_000))
            _ = try await store.append(Data("tail".utf8))
            await store.closeAsync()
            #expect(store.statistics.snapshots == 0)

            let first = try await DurableStore<OpaqueRecordLog>.open(layout, settings: byteSettings(8_192))
            #expect(first.recovery.replayedRecords == 2)
            await first.closeAsync()
            #expect(first.statistics.snapshots == 1)

            let second = try await DurableStore<OpaqueRecordLog>.open(layout, settings: byteSettings(8_192))
            #expect(second.recovery.snapshotSequence == 2)
            #expect(second.recovery.replayedRecords == 0)
            #expect(second.read { $0.records.map(\.count) } == [20_000, 4])
            await second.closeAsync()
            #expect(second.statistics.snapshots == 0)
        }
    }

    @Test func largeLedgerSnapshotDecodesInParallelToTheSameState() throws {
        var state = TownLedgerState()
        try state.apply(record: TownLedgerState.replicaRecord("r1"))
        try state.apply(record: TownLedgerState.scopeRecord("bd"))
        let beads = BeadsFixtures.ledger(count: 3_000, seed: 9).sortedBeads
        let op = LedgerOp(
            actor: "t", stamp: HLCStamp(wallMillis: 1_767_225_600_000, node: "r1"),
            time: Timestamp(unixMillis: 1_767_225_600_000), change: .importBeads(beads))
        try state.apply(record: TownLedgerState.opRecord(op, scope: "bd"))
        let snapshot = state.snapshot()
        // The parallel encoder writes exactly the lines of the export files after the two header lines (the ready
        // closure's first: ReadyViewTests).
        let ledger = try #require(state.scopes["bd"])
        let body = snapshot.split(separator: 0x0A, maxSplits: 2, omittingEmptySubsequences: false)[2]
        let export = Data((ledger.exportJSONL() + ledger.exportStampsJSONL()).utf8)
        #expect(body.split(separator: 0x0A).map { Data($0) }.sorted { $0.lexicographicallyPrecedes($1) }
            == export.split(separator: 0x0A).map { Data($0) }.sorted { $0.lexicographicallyPrecedes($1) })
        #expect(body.count == export.count)
        let decoded = try TownLedgerState(snapshot: snapshot)
        #expect(decoded.scopes == state.scopes)
        #expect(decoded.maxStamp == state.maxStamp && decoded.replicaID == "r1")
        #expect(decoded.scopes["bd"]?.count == 3_000)

        // A bad bead line deep inside the parallel chunks is reported by its line number.
        var lines = snapshot.split(separator: 0x0A, omittingEmptySubsequences: false).map { Data($0) }
        lines[2_500] = Data("{\"id\":".utf8)
        let damaged = Data(lines.joined(separator: Data([0x0A])))
        #expect(throws: LedgerDatabaseError.self) { try TownLedgerState(snapshot: damaged) }
        do {
            _ = try TownLedgerState(snapshot: damaged)
        } catch {
            #expect("\(error)".contains("snapshot line 2501"), "\(error)")
        }
    }

    @Test func loneWriterIsNeverHeldBackAndConcurrentBlockingWritersShareFsyncs() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            let store = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
            try await DedicatedThread.run { () throws in
                for i in 0..<20 { _ = try store.appendSync(Data("lone-\(i)".utf8)) }
            }
            #expect(store.statistics.fsyncs == 20)

            let writers = 8
            let each = 40
            let group = DispatchGroup()
            let failures = ErrorList()
            for writer in 0..<writers {
                group.enter()
                Thread {
                    defer { group.leave() }
                    do {
                        for i in 0..<each { _ = try store.appendSync(Data("w\(writer)-\(i)".utf8)) }
                    } catch {
                        failures.add(error)
                    }
                }.start()
            }
            await DedicatedThread.run { group.wait() }
            #expect(failures.isEmpty)
            let stats = store.statistics
            #expect(stats.records == 20 + writers * each)
            #expect(stats.fsyncs - 20 < writers * each)
            await store.closeAsync()
            let reopened = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
            #expect(reopened.read { $0.records.count } == 20 + writers * each)
            await reopened.closeAsync()
        }
    }
}

/// Errors collected from several threads. `@unchecked Sendable`: guarded by `lock`.
final class ErrorList: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [any Error] = []
    func add(_ error: any Error) {
        lock.lock()
        errors.append(error)
        lock.unlock()
    }
    var isEmpty: Bool {
        lock.lock()
        defer { lock.unlock() }
        return errors.isEmpty
    }
}
