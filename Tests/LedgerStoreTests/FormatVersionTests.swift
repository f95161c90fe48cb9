import Beads
import Foundation
import GasTownTestKit
import Testing

@testable import LedgerStore

/// Ledger store formats between releases (docs/ledger-store.md "Format versions"): a file in a format newer than
/// this build reads (WAL segment, WAL record kind, snapshot file, ledger snapshot) is refused at open with an error
/// naming the file and both versions, by readers and writers alike, and not one file of the store changes (it is
/// not damage: nothing is cut, set aside or cleaned). The older formats are read (ReadyViewTests: a version 1
/// ledger snapshot; Tests/cluster/upgrade.sh: a town written by the previous release, opened by this one).
@Suite struct FormatVersionTests {
    /// A real ledger store of 25 creates with snapshots every 10 records, closed cleanly.
    static func makeStore(_ dir: String) throws -> StoreLayout {
        let layout = StoreLayout(directory: dir)
        var settings = LedgerDatabaseSettings()
        settings.store.snapshotEveryRecords = 10
        let db = try LedgerDatabase.initialize(layout, prefix: "fv", settings: settings)
        for index in 0..<25 {
            _ = try db.write(scope: nil, routing: nil) { (ledger, clock) throws(LedgerError) in
                try ledger.prepareCreate(
                    NewBead(title: "bead \(index)"), actor: "t", stamp: clock.stamp, time: clock.time)
            }
        }
        db.close()
        return layout
    }

    static func newest(_ directory: String, suffix: String) throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(suffix) }
        return directory + "/" + (try #require(names.sorted().last))
    }

    static func bytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }
    static func write(_ bytes: [UInt8], _ path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

    /// Opens the store as a reader, then as a writer: both must refuse with a newer-format error naming `path` and
    /// `detail`, and the store's files must be exactly as they were (but LOCK: a writer takes the lock, writing its
    /// name into it, before it reads anything, and clears it again).
    static func expectRefusedUnchanged(_ layout: StoreLayout, path: String, detail: String) {
        let before = FileTreeDigest(layout.root, excluding: ["LOCK"])
        for mode in [StoreOpenMode.read, .write, .repair] {
            do {
                let db = try LedgerDatabase.open(layout, mode: mode)
                db.close()
                Issue.record("\(mode) opened a store holding a newer format (\(detail))")
            } catch {
                guard case .store(.newerFormat(let refused, let text)) = error else {
                    Issue.record("\(mode): not a newer-format refusal: \(error)")
                    continue
                }
                #expect(refused == path)
                #expect(text.contains(detail), "\(text)")
                #expect(error.description.contains("newer release of gt"), "\(error)")
                #expect(error.description.contains("changed nothing"), "\(error)")
            }
            let after = FileTreeDigest(layout.root, excluding: ["LOCK"])
            #expect(after.differences(from: before) == [], "\(mode) changed the store")
        }
    }

    /// Sets a little-endian u16 at `offset` and recomputes the CRC-32C over `bytes[0..<crcEnd]` stored at `crcEnd`.
    static func setVersion(_ version: UInt16, in bytes: inout [UInt8], offset: Int, crcEnd: Int) {
        bytes[offset] = UInt8(version & 0xFF)
        bytes[offset + 1] = UInt8(version >> 8)
        let crc = CRC32C.checksum(Array(bytes[0..<crcEnd]))
        for index in 0..<4 { bytes[crcEnd + index] = UInt8((crc >> (8 * UInt32(index))) & 0xFF) }
    }

    @Test func aNewerWALSegmentIsRefusedAndNothingChanges() async throws {
        var rng = SplitMix64(seed: 0x18)
        try await withTemporaryDirectory { dir in
            let layout = try Self.makeStore(dir)
            let segment = try Self.newest(layout.walDirectory, suffix: ".wal")
            let pristine = try Self.bytes(segment)
            for version in [2, 3] + (0..<6).map({ _ in UInt16.random(in: 4...UInt16.max, using: &rng) }) {
                var bytes = pristine
                Self.setVersion(UInt16(version), in: &bytes, offset: 4, crcEnd: 20)
                try Self.write(bytes, segment)
                Self.expectRefusedUnchanged(
                    layout, path: segment, detail: "WAL format version \(version); this build reads 1")
            }
            try Self.write(pristine, segment)
            let db = try LedgerDatabase.open(layout)
            #expect(db.read { $0.scopes["fv"]?.beads.count } == 25)
            db.close()
        }
    }

    @Test func aNewerRecordKindAtTheEndOfTheLogIsNotCutAsATornWrite() async throws {
        try await withTemporaryDirectory { dir in
            let layout = try Self.makeStore(dir)
            let segment = try Self.newest(layout.walDirectory, suffix: ".wal")
            var bytes = try Self.bytes(segment)
            let last = try WALFormat.scan(bytes, isLast: true, maxRecordBytes: 1 << 20).records.last
            // A whole record (valid checksum) of kind 7, which only a newer release writes, after the last one.
            var payload: [UInt8] = [7]
            WALFormat.append(try #require(last).sequence + 1, to: &payload)
            payload += Array("{\"t\":\"future\"}".utf8)
            WALFormat.append(UInt32(payload.count), to: &bytes)
            WALFormat.append(CRC32C.checksum(payload), to: &bytes)
            bytes += payload
            try Self.write(bytes, segment)
            Self.expectRefusedUnchanged(
                layout, path: segment, detail: "WAL record kind 7; this build reads kinds 1 and 2")
        }
    }

    @Test func aNewerSnapshotIsRefusedNotSetAsideAsDamaged() async throws {
        var rng = SplitMix64(seed: 0x19)
        try await withTemporaryDirectory { dir in
            let layout = try Self.makeStore(dir)
            let snapshot = try Self.newest(layout.snapshotDirectory, suffix: ".snap")
            let pristine = try Self.bytes(snapshot)
            for version in [2] + (0..<4).map({ _ in UInt16.random(in: 3...UInt16.max, using: &rng) }) {
                var bytes = pristine
                Self.setVersion(UInt16(version), in: &bytes, offset: 4, crcEnd: bytes.count - 4)
                try Self.write(bytes, snapshot)
                Self.expectRefusedUnchanged(
                    layout, path: snapshot, detail: "snapshot format version \(version); this build reads 1")
            }
            // A damaged snapshot (checksum fails) is still damage: skipped, the older one and the log take its place.
            var damaged = pristine
            damaged[40] ^= 0x01
            try Self.write(damaged, snapshot)
            let reader = try LedgerDatabase.open(layout, mode: .read)
            #expect(reader.read { $0.scopes["fv"]?.beads.count } == 25)
            #expect(reader.recovery.skippedSnapshots.count == 1)
            reader.close()
        }
    }

    @Test func aNewerLedgerSnapshotInsideAWholeSnapshotFileIsRefused() async throws {
        try await withTemporaryDirectory { dir in
            let layout = try Self.makeStore(dir)
            let path = try Self.newest(layout.snapshotDirectory, suffix: ".snap")
            var snapshot = try StoreSnapshot.decode(try Self.bytes(path))
            var text = String(decoding: snapshot.state, as: UTF8.self)
            let header = "\"v\":\(TownLedgerState.snapshotVersion)"
            let range = try #require(text.range(of: header), "\(text.prefix(200))")
            #expect(text.distance(from: text.startIndex, to: range.lowerBound) < 10, "the header's version comes first")
            text.replaceSubrange(range, with: "\"v\":\(TownLedgerState.snapshotVersion + 1)")
            snapshot.state = Array(text.utf8)
            try Self.write(snapshot.encoded(), path)
            Self.expectRefusedUnchanged(
                layout, path: path,
                detail: "ledger snapshot format version \(TownLedgerState.snapshotVersion + 1); this build reads 1 "
                    + "and 2")
        }
    }
}
