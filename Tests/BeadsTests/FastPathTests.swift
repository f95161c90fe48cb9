import GasTownTestKit
import Testing

@testable import Beads

/// The fast paths of the load path behave exactly as the straightforward code they replaced: the stamp parser, the
/// JSON string decoder, the bead reader's key lookup, and the copy-on-write bead box.
struct FastPathTests {
    /// The parser `HLCStamp(text:)` had before its byte-level fast path, kept here as the reference.
    static func referenceStamp(_ text: String) -> HLCStamp? {
        guard let at = text.firstIndex(of: "@"), let dot = text[..<at].firstIndex(of: "."),
            let wall = Int64(text[..<dot]), let counter = UInt32(text[text.index(after: dot)..<at])
        else { return nil }
        return HLCStamp(wallMillis: wall, counter: counter, node: String(text[text.index(after: at)...]))
    }

    @Test func stampParserAcceptsExactlyWhatTheReferenceAccepts() {
        let fixed = [
            "1735408516123.0@a1", "0.0@", "1.2@n@m", "-5.0@n", "+5.0@n", "-0.1@n", "5.-0@n", "5.+1@n",
            "9223372036854775807.4294967295@x", "9223372036854775808.0@x", "1.4294967296@x", "999999999999999999.0@x",
            "1000000000000000000.0@x", "12345678901234567890.0@x", ".0@x", "1.@x", "1.0x", "1@0.x", "", "@", ".@",
            "1.0@é", "١.0@x", "0001.0002@node",
        ]
        for text in fixed { #expect(HLCStamp(text: text) == Self.referenceStamp(text), "\(text)") }
        var rng = SeededRandom(seed: 7)
        let alphabet = Array("0123456789.@+-x9é".unicodeScalars)
        for _ in 0..<20_000 {
            var text = ""
            for _ in 0..<rng.int(0..<24) { text.unicodeScalars.append(alphabet[rng.int(0..<alphabet.count)]) }
            #expect(HLCStamp(text: text) == Self.referenceStamp(text), "\(text)")
        }
    }

    @Test func jsonStringsDecodeAsValidatingUTF8Does() throws {
        var rng = SeededRandom(seed: 11)
        for round in 0..<5_000 {
            // Random bytes without quote, backslash or control characters, some of them non-ASCII (valid or not).
            var body: [UInt8] = []
            for _ in 0..<rng.int(0..<40) {
                var byte = UInt8(rng.int(0x20..<0x100))
                if round % 2 == 0 && byte >= 0x80 { byte &= 0x7F }
                if byte == 0x22 || byte == 0x5C { byte = 0x41 }
                if byte < 0x20 { byte = 0x20 }
                body.append(byte)
            }
            let text = [0x22] + body + [0x22]
            let expected = String(validating: body, as: UTF8.self)
            do {
                let value = try JSONValue.parse(bytes: text)
                #expect(value == .string(expected ?? "<invalid>"), "\(body)")
            } catch {
                #expect(expected == nil, "\(body)")
                #expect(error.kind == .invalidUTF8)
            }
        }
        #expect(try JSONValue.parse(bytes: Array("\"caf\u{e9} \\u00e9\"".utf8)) == .string("café é"))
    }

    @Test func beadReaderFindsKeysInAnyOrderAndRefusesDuplicates() throws {
        let ledger = BeadsFixtures.ledger(count: 300, seed: 5)
        var rng = SeededRandom(seed: 3)
        for bead in ledger.sortedBeads {
            guard case .object(var members) = BeadCodec.encode(bead) else {
                Issue.record("a bead encodes as an object")
                return
            }
            members.shuffle(using: &rng)
            #expect(try BeadCodec.decode(.object(members)) == bead)
            let repeated = members[rng.int(0..<members.count)]
            members.insert(repeated, at: rng.int(0...members.count))
            #expect(throws: BeadDecodeError(field: repeated.key, message: "duplicate key")) {
                try BeadCodec.decode(.object(members))
            }
        }
        // Many unknown keys take the dictionary path; a duplicate among them is still found.
        var wide = [JSONMember("id", .string("bd-w")), JSONMember("title", .string("w"))]
        wide += [JSONMember("priority", .int(1))]
        wide += [JSONMember("created_at", .string("2025-01-01T00:00:00Z"))]
        wide += [JSONMember("updated_at", .string("2025-01-01T00:00:00Z"))]
        wide += (0..<40).map { JSONMember("x\($0)", .int($0)) }
        let decoded = try BeadCodec.decode(.object(wide))
        #expect(decoded.extra.count == 40 && decoded.priority == 1)
        #expect(throws: BeadDecodeError(field: "x7", message: "duplicate key")) {
            try BeadCodec.decode(.object(wide + [JSONMember("x7", .int(0))]))
        }
    }

    @Test func beadCopiesAreIndependentValues() {
        let time = Timestamp(unixMillis: 1_767_225_600_000)
        var original = Bead(id: "bd-a", title: "first", createdAt: time)
        original.labels = ["x"]
        var copy = original
        #expect(copy == original && copy.hashValue == original.hashValue)
        copy.title = "second"
        copy.labels.append("y")
        #expect(original.title == "first" && original.labels == ["x"])
        #expect(copy.title == "second" && copy.labels == ["x", "y"])
        #expect(copy != original)
        var rebuilt = Bead(id: "bd-a", title: "first", createdAt: time)
        rebuilt.labels = ["x"]
        #expect(rebuilt == original && rebuilt.hashValue == original.hashValue)
    }
}

/// Seeded SplitMix64 for these tests.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
    mutating func int(_ range: Range<Int>) -> Int { Int.random(in: range, using: &self) }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
}
