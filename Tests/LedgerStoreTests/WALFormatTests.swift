import Foundation
import Testing

@testable import LedgerStore

@Suite struct WALFormatTests {
    func segment(_ bodies: [String], first: UInt64 = 1) -> [UInt8] {
        var bytes = WALFormat.header(firstSequence: first)
        for (index, body) in bodies.enumerated() {
            WALFormat.encode(
                WALRecord(kind: .payload, sequence: first + UInt64(index), body: Array(body.utf8)), into: &bytes)
        }
        return bytes
    }

    @Test func crc32cMatchesKnownVector() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
    }

    @Test func roundTrip() throws {
        let bytes = segment(["alpha", "", "gamma"], first: 7)
        let scan = try WALFormat.scan(bytes, isLast: false, maxRecordBytes: 1 << 20)
        #expect(scan.firstSequence == 7)
        #expect(scan.records.map(\.sequence) == [7, 8, 9])
        #expect(scan.records.map { String(decoding: $0.body, as: UTF8.self) } == ["alpha", "", "gamma"])
        #expect(scan.validLength == bytes.count)
        #expect(scan.tornTail == nil)
    }

    @Test func everyCutOfTheLastRecordIsATornTailOnlyInTheLastSegment() throws {
        let full = segment(["one", "two", "three"])
        let lastStart = segment(["one", "two"]).count
        for cut in lastStart..<full.count {
            let bytes = Array(full[0..<cut])
            let scan = try WALFormat.scan(bytes, isLast: true, maxRecordBytes: 1 << 20)
            #expect(scan.records.count == 2)
            #expect(scan.validLength == lastStart)
            #expect((scan.tornTail != nil) == (cut != lastStart))
            if cut != lastStart {
                #expect(throws: WALDecodeError.self) {
                    try WALFormat.scan(bytes, isLast: false, maxRecordBytes: 1 << 20)
                }
            }
        }
    }

    @Test func checksumFailureBeforeOtherRecordsIsCorruption() throws {
        var bytes = segment(["one", "two", "three"])
        let secondStart = segment(["one"]).count
        bytes[secondStart + WALFormat.frameSize + WALFormat.payloadPrefix] ^= 0xFF
        #expect(
            throws: WALDecodeError.corruptRecord(
                offset: secondStart,
                reason: "checksum mismatch with \(bytes.count - segment(["one", "two"]).count) "
                    + "bytes of records after it")
        ) {
            try WALFormat.scan(bytes, isLast: true, maxRecordBytes: 1 << 20)
        }
    }

    /// A middle record whose length field is damaged looks "cut short", but valid records follow it, so it is
    /// reported as damage rather than dropped with everything after it.
    @Test func damagedLengthInTheMiddleIsNotMistakenForATornTail() throws {
        var bytes = segment(["one", "two", "three", "four"])
        let secondStart = segment(["one"]).count
        bytes[secondStart + 3] = 0x00
        bytes[secondStart + 2] = 0x10  // length now 1 MiB: past the end of the file
        do {
            _ = try WALFormat.scan(bytes, isLast: true, maxRecordBytes: 16 << 20)
            Issue.record("damage in the middle was taken for a torn tail")
        } catch {
            guard case .corruptRecord(let offset, let reason) = error else {
                Issue.record("expected corruptRecord, got \(error)")
                return
            }
            #expect(offset == secondStart)
            #expect(reason.contains("yet a valid record (#3) follows"))
        }
    }

    @Test func zeroFilledTailIsTorn() throws {
        let bytes = segment(["one"]) + [UInt8](repeating: 0, count: 100)
        let scan = try WALFormat.scan(bytes, isLast: true, maxRecordBytes: 1 << 20)
        #expect(scan.records.count == 1)
        #expect(scan.tornTail != nil)
    }

    @Test func headerDamageIsReported() {
        var bytes = segment(["one"])
        bytes[0] = UInt8(ascii: "X")
        #expect(throws: WALDecodeError.badHeader(reason: "not a GasTown WAL segment (magic)")) {
            try WALFormat.scan(bytes, isLast: true, maxRecordBytes: 1 << 20)
        }
    }

    /// Fuzz: random bytes and mutations of a valid segment never crash the decoder; it returns records that
    /// re-encode to exactly the bytes it accepted, or throws its typed error.
    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func fuzzDecoder(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        let valid = segment((0..<12).map { "record \($0) " + String(repeating: "x", count: $0 * 7) })
        for round in 0..<600 {
            var bytes: [UInt8]
            switch round % 4 {
            case 0:
                bytes = (0..<Int.random(in: 0...200, using: &random)).map { _ in
                    UInt8.random(in: 0...255, using: &random)
                }
                if Bool.random(using: &random) { bytes = WALFormat.header(firstSequence: 1) + bytes }
            case 1:
                bytes = valid
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            case 2:
                bytes = Array(valid[0..<Int.random(in: 0...valid.count, using: &random)])
            default:
                bytes = valid
                let at = Int.random(in: WALFormat.headerSize..<bytes.count, using: &random)
                bytes.insert(contentsOf: [0xFF, 0xFF, 0xFF, 0x7F], at: at)
            }
            let isLast = Bool.random(using: &random)
            do {
                let scan = try WALFormat.scan(bytes, isLast: isLast, maxRecordBytes: 1 << 16)
                #expect(scan.validLength <= bytes.count)
                if let first = scan.firstSequence {
                    var reencoded = WALFormat.header(firstSequence: first)
                    for record in scan.records { WALFormat.encode(record, into: &reencoded) }
                    #expect(reencoded == Array(bytes[0..<scan.validLength]))
                } else {
                    #expect(scan.records.isEmpty && isLast)
                }
            } catch {
                #expect(!error.description.isEmpty)
            }
        }
    }

    /// Fuzz: snapshot decoding of random and mutated bytes never crashes.
    @Test(arguments: [11, 12, 13] as [UInt64])
    func fuzzSnapshotDecoder(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        let snapshot = StoreSnapshot(coveredSequence: 42, absorbedCommit: "abc123", state: Array("state".utf8))
        let valid = snapshot.encoded()
        #expect(try StoreSnapshot.decode(valid) == snapshot)
        var rejected = 0
        for _ in 0..<500 {
            var bytes = valid
            if Bool.random(using: &random) {
                bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= UInt8.random(in: 1...255, using: &random)
            } else {
                bytes = Array(bytes[0..<Int.random(in: 0..<bytes.count, using: &random)])
            }
            do {
                _ = try StoreSnapshot.decode(bytes)
            } catch {
                rejected += 1
            }
        }
        #expect(rejected == 500)
    }
}
