import Beads
import Foundation
import GasTownTestKit
import LedgerStore
import Testing

/// Damage at the end of the write-ahead log of a real 30-create ledger store (truncated to half, last third zeroed,
/// one byte of the last record flipped): exact counts in the report, cut bytes kept aside byte for byte, readers
/// that change no file, writers that refuse to cut acknowledged records unless repairing, and the watermark that
/// tells the two apart.
@Suite struct WALDamageTests {
    /// The three damages of the review, applied to the bytes of a segment.
    enum Damage: String, CaseIterable, CustomStringConvertible {
        case truncateHalf, zeroLastThird, flipLastRecord

        var description: String { rawValue }

        func apply(_ bytes: [UInt8]) -> [UInt8] {
            switch self {
            case .truncateHalf: return Array(bytes.prefix(bytes.count / 2))
            case .zeroLastThird:
                let third = bytes.count / 3
                return Array(bytes.prefix(bytes.count - third)) + [UInt8](repeating: 0, count: third)
            case .flipLastRecord:
                var flipped = bytes
                flipped[bytes.count - 5] ^= 0x01
                return flipped
            }
        }

        /// Where the bytes stop being intact.
        func damageStart(_ bytes: [UInt8]) -> Int {
            switch self {
            case .truncateHalf: return bytes.count / 2
            case .zeroLastThird: return bytes.count - bytes.count / 3
            case .flipLastRecord: return bytes.count - 5
            }
        }
    }

    /// A store made as `bd init` + 30 `bd create`s make it (32 records: replica, scope, 30 creates), closed cleanly.
    struct ThirtyCreates {
        let layout: StoreLayout
        let ids: [String]
        let segment: String
        let pristine: [UInt8]
        /// The byte offset where each record ends, in order (record n ends at `ends[n - 1]`).
        let ends: [Int]

        init(_ dir: String) throws {
            layout = StoreLayout(directory: dir)
            let db = try LedgerDatabase.initialize(layout, prefix: "tt")
            var ids: [String] = []
            for index in 0..<30 {
                let (_, bead) = try db.write(scope: nil, routing: nil) { (ledger, clock) throws(LedgerError) in
                    try ledger.prepareCreate(
                        NewBead(title: "bead \(index)"), actor: "t", stamp: clock.stamp, time: clock.time)
                }
                ids.append(try #require(bead).id)
            }
            db.close()
            self.ids = ids
            segment = try #require(try segmentFiles(layout).first)
            pristine = [UInt8](try Data(contentsOf: URL(fileURLWithPath: segment)))
            let scan = try WALFormat.scan(pristine, isLast: true, maxRecordBytes: 1 << 20)
            var end = WALFormat.headerSize
            ends = scan.records.map { record in
                end += WALFormat.frameSize + WALFormat.payloadPrefix + record.body.count
                return end
            }
        }

        /// Records intact before `start` (those ending at or before it).
        func intactRecords(before start: Int) -> Int { ends.filter { $0 <= start }.count }
    }

    func beadIDs(_ db: LedgerDatabase) -> Set<String> {
        db.read { state in Set(state.scopeNames.flatMap { state.scopes[$0]!.beads.keys }) }
    }

    @Test(arguments: Damage.allCases)
    func damagedTailIsReportedExactlyReadWithoutChangeAndCutOnlyByARepair(damage: Damage) async throws {
        try await withTemporaryDirectory { dir in
            let store = try ThirtyCreates(dir)
            #expect(store.ends.count == 32 && store.ends.last == store.pristine.count)
            let damaged = damage.apply(store.pristine)
            try Data(damaged).write(to: URL(fileURLWithPath: store.segment))
            let intact = store.intactRecords(before: damage.damageStart(store.pristine))
            let validBytes = intact == 0 ? WALFormat.headerSize : store.ends[intact - 1]
            let keptCreates = intact - 2
            #expect(keptCreates > 0 && keptCreates < 30)

            // A reader: the valid prefix, the exact report, and not one file changed.
            let before = FileTreeDigest(store.layout.root)
            let reader = try LedgerDatabase.open(store.layout, mode: .read)
            #expect(beadIDs(reader) == Set(store.ids.prefix(keptCreates)))
            let seen = try #require(reader.recovery.tail)
            #expect(seen.records == 32 - intact && seen.acknowledgedRecords == 32 - intact)
            #expect(seen.firstMissing == UInt64(intact + 1))
            #expect(seen.validBytes == validBytes && seen.damagedBytes == damaged.count - validBytes)
            #expect(seen.isSuspicious && !seen.isCut && seen.keptAt == nil)
            #expect(reader.recovery.warnings.count == 1 && reader.recovery.warnings[0].hasPrefix("DATA LOSS"))
            #expect(reader.recovery.warnings[0].contains("\(32 - intact) acknowledged record(s)"))
            #expect(throws: LedgerDatabaseError.self) {
                _ = try reader.write(scope: nil, routing: nil) { (ledger, clock) throws(LedgerError) in
                    try ledger.prepareCreate(NewBead(title: "no"), actor: "t", stamp: clock.stamp, time: clock.time)
                }
            }
            reader.close()
            #expect(FileTreeDigest(store.layout.root).differences(from: before) == [])

            // A plain writer refuses: these records were acknowledged (the watermark of the clean close says so).
            do throws(LedgerDatabaseError) {
                _ = try LedgerDatabase.open(store.layout)
                Issue.record("a writer opened a log that lost acknowledged records")
            } catch {
                guard case .store(.damagedTail(let refused)) = error else {
                    Issue.record("expected .damagedTail, got \(error)")
                    return
                }
                #expect(refused == seen)
                #expect(error.description.contains("bd doctor --repair"))
            }
            // (A writer takes the lock, writing its name into LOCK, before it reads anything; it cleared it again.)
            #expect(
                FileTreeDigest(store.layout.root, excluding: ["LOCK"])
                    .differences(from: FileTreeDigest(before: before, excluding: ["LOCK"])) == [])

            // A repair cuts, keeps the cut bytes byte for byte, and lowers the watermark.
            let repair = try LedgerDatabase.open(store.layout, mode: .repair)
            let cut = try #require(repair.recovery.tail)
            #expect(cut.isCut && cut.isAccepted && cut.records == 32 - intact && cut.damagedBytes == seen.damagedBytes)
            let kept = try #require(cut.keptAt)
            #expect(kept.hasPrefix(store.segment + ".cut-"))
            #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: kept))) == Array(damaged[validBytes...]))
            #expect(beadIDs(repair) == Set(store.ids.prefix(keptCreates)))
            repair.close()
            #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: store.segment))) == Array(damaged[..<validBytes]))

            // The store is whole again: a writer opens without a word and takes writes.
            let writer = try LedgerDatabase.open(store.layout)
            #expect(writer.recovery.tail == nil && writer.recovery.warnings.isEmpty)
            _ = try writer.write(scope: nil, routing: nil) { (ledger, clock) throws(LedgerError) in
                try ledger.prepareCreate(NewBead(title: "after"), actor: "t", stamp: clock.stamp, time: clock.time)
            }
            writer.close()
            let after = try LedgerDatabase.open(store.layout, mode: .read)
            #expect(beadIDs(after).count == keptCreates + 1 && after.recovery.warnings.isEmpty)
            after.close()
            #expect(FileManager.default.fileExists(atPath: kept))
        }
    }

    /// A record cut off by a crash mid-write (after the last clean close) is a torn write: a writer cuts it on its
    /// own, says so, and keeps the bytes; a reader before it leaves the file as it is.
    @Test func tornWriteAfterTheWatermarkIsCutByAWriterAlone() async throws {
        try await withTemporaryDirectory { dir in
            let store = try ThirtyCreates(dir)
            let torn = [UInt8](repeating: 0x5A, count: 40)
            var withTorn = store.pristine
            // A frame announcing 300 bytes, cut short after 40: the write of record #33, never acknowledged.
            withTorn += [0x2C, 0x01, 0, 0] + torn
            try Data(withTorn).write(to: URL(fileURLWithPath: store.segment))

            let before = FileTreeDigest(store.layout.root)
            let reader = try LedgerDatabase.open(store.layout, mode: .read)
            let seen = try #require(reader.recovery.tail)
            #expect(!seen.isSuspicious && seen.records == 1 && seen.acknowledgedRecords == 0)
            #expect(seen.damagedBytes == 44 && seen.firstMissing == 33 && !seen.isCut)
            #expect(beadIDs(reader) == Set(store.ids))
            reader.close()
            #expect(FileTreeDigest(store.layout.root).differences(from: before) == [])

            let writer = try LedgerDatabase.open(store.layout)
            let cut = try #require(writer.recovery.tail)
            #expect(cut.isCut && !cut.isAccepted && cut.damagedBytes == 44)
            #expect(writer.recovery.warnings.count == 1 && writer.recovery.warnings[0].contains("torn write"))
            let kept = try #require(cut.keptAt)
            #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: kept))) == [0x2C, 0x01, 0, 0] + torn)
            #expect(beadIDs(writer) == Set(store.ids))
            writer.close()
            #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: store.segment))) == store.pristine)
        }
    }

    /// Without a watermark (a store whose writers never closed cleanly), more damaged bytes than one write can span
    /// are still refused: a torn write is at most one batch.
    @Test func damageLargerThanOneWriteIsRefusedWithoutAWatermark() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            var small = settings()
            small.maxRecordBytes = 64
            small.maxBatchBytes = 64
            let store = try await DurableStore<OpaqueRecordLog>.open(layout, settings: small)
            for index in 0..<20 { _ = try await store.append(Data("record-\(index)".utf8)) }
            await store.closeAsync()
            try FileManager.default.removeItem(atPath: layout.watermarkFile)
            let segment = try segmentFiles(layout)[0]
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: segment)))
            for index in (bytes.count - 200)..<bytes.count { bytes[index] = 0 }
            try Data(bytes).write(to: URL(fileURLWithPath: segment))
            do throws(StoreError) {
                _ = try await DurableStore<OpaqueRecordLog>.open(layout, settings: small)
                Issue.record("a writer cut more than one write can span")
            } catch {
                guard case .damagedTail(let damage) = error else {
                    Issue.record("expected .damagedTail, got \(error)")
                    return
                }
                #expect(damage.acknowledgedRecords == 0 && damage.damagedBytes > damage.tornWriteLimit)
                #expect(damage.tornWriteLimit == 72)
            }
            let repaired = try await DurableStore<OpaqueRecordLog>.open(layout, settings: small, mode: .repair)
            #expect(repaired.recovery.tail?.isCut == true)
            await repaired.closeAsync()
        }
    }

    /// The log ends on a record boundary, but the watermark says it held more: records were lost without a torn
    /// byte (a truncation at a record boundary, or the last segment deleted). Also damage, also refused.
    @Test func missingRecordsWithoutDamagedBytesAreDamageToo() async throws {
        try await withTemporaryDirectory { dir in
            let store = try ThirtyCreates(dir)
            try Data(store.pristine.prefix(store.ends[19])).write(to: URL(fileURLWithPath: store.segment))
            #expect(throws: LedgerDatabaseError.self) { _ = try LedgerDatabase.open(store.layout) }
            let reader = try LedgerDatabase.open(store.layout, mode: .read)
            let tail = try #require(reader.recovery.tail)
            #expect(tail.damagedBytes == 0 && tail.records == 12 && tail.acknowledgedRecords == 12)
            #expect(tail.validBytes == store.ends[19] && tail.firstMissing == 21)
            reader.close()
            let repair = try LedgerDatabase.open(store.layout, mode: .repair)
            #expect(repair.recovery.tail?.isAccepted == true && repair.recovery.tail?.keptAt == nil)
            repair.close()
            let writer = try LedgerDatabase.open(store.layout)
            #expect(writer.recovery.tail == nil)
            writer.close()
        }
    }

    /// Cut files are evidence: compaction (snapshots dropping segments) never removes them.
    @Test func cutBytesSurviveCompaction() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            let store = try await DurableStore<OpaqueRecordLog>.open(
                layout, settings: settings(segmentBytes: 200, snapshotEvery: 10))
            for index in 0..<5 { _ = try await store.append(Data("record-\(index)".utf8)) }
            await store.closeAsync()
            let segment = try segmentFiles(layout).last!
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: segment))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data([0x30, 0, 0, 0, 1, 2, 3]))
            try handle.close()
            let writer = try await DurableStore<OpaqueRecordLog>.open(
                layout, settings: settings(segmentBytes: 200, snapshotEvery: 10))
            let kept = try #require(writer.recovery.tail?.keptAt)
            for index in 0..<60 { _ = try await writer.append(Data("more-\(index)".utf8)) }
            await writer.closeAsync()
            #expect(writer.statistics.segmentsCompacted > 0)
            #expect(try Data(contentsOf: URL(fileURLWithPath: kept)) == Data([0x30, 0, 0, 0, 1, 2, 3]))
        }
    }

    /// The watermark decoder takes only one well-formed line; anything else (cut short, garbled) is ignored.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func fuzzWatermarkDecoder(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        for _ in 0..<2_000 {
            let mark = WALWatermark(
                nextSequence: UInt64.random(in: 0...UInt64.max / 2, using: &random),
                segment: UInt64.random(in: 0...UInt64.max / 2, using: &random),
                length: Int.random(in: 0...Int.max, using: &random))
            let bytes = mark.encoded()
            #expect(WALWatermark.decode(bytes) == mark)
            #expect(WALWatermark.decode(Array(bytes.dropLast(Int.random(in: 1..<bytes.count, using: &random)))) == nil)
            var mutated = bytes
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                mutated[Int.random(in: 0..<mutated.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
            // Whatever decodes is a watermark that survives its own round trip.
            if let decoded = WALWatermark.decode(mutated) { #expect(WALWatermark.decode(decoded.encoded()) == decoded) }
            let noise = (0..<Int.random(in: 0...80, using: &random)).map { _ in
                UInt8.random(in: 0...255, using: &random)
            }
            #expect(WALWatermark.decode(noise) == nil)
        }
    }
}
