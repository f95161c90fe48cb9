import GasTownTestKit
import Testing

@testable import Beads

@Suite struct JSONValueTests {
    @Test func writerMatchesGoEncoding() throws {
        let v = JSONValue.object([
            JSONMember("a", .string("<x> & \"y\"\n\t\r\u{08}\u{0C}\u{01}\u{7F} é 🚀 \u{2028}\u{2029}")),
            JSONMember("n", .number("1.50")), JSONMember("l", .array([.bool(true), .null])),
        ])
        #expect(
            v.compactText
                == #"{"a":"\u003cx\u003e \u0026 \"y\"\n\t\r\b\f\u0001"# + "\u{7F} é 🚀 "
                + #"\u2028\u2029","n":1.50,"l":[true,null]}"#)
        #expect(try JSONValue.parse(v.compactText) == v)
    }

    /// The indented form is Go's `json.Encoder` with `SetIndent("", "  ")`, as beads prints `--json`: the bytes of a
    /// document Go printed, and every generated document reads back as itself.
    @Test func indentedWriterMatchesGoEncoderAndRoundTrips() throws {
        let v = JSONValue.object([
            JSONMember("id", .string("t-1")), JSONMember("title", .string("a<b & \"c\"")),
            JSONMember("labels", .array([])), JSONMember("metadata", .object([])),
            JSONMember("deps", .array([.object([JSONMember("n", .number("2"))]), .null])),
        ])
        #expect(
            v.indentedText
                == """
                {
                  "id": "t-1",
                  "title": "a\\u003cb \\u0026 \\"c\\"",
                  "labels": [],
                  "metadata": {},
                  "deps": [
                    {
                      "n": 2
                    },
                    null
                  ]
                }

                """)
        var random = SplitMix64(seed: 42)
        func generate(_ depth: Int) -> JSONValue {
            switch depth > 3 ? Int(random.next() % 4) : Int(random.next() % 6) {
            case 0: return .null
            case 1: return .bool(random.next() % 2 == 0)
            case 2: return .number(String(Int64(bitPattern: random.next()) >> 20))
            case 3:
                let scalars = (0..<Int(random.next() % 8)).compactMap { _ in
                    Unicode.Scalar(UInt32([0x01, 0x08, 0x0C, 0x22, 0x26, 0x3C, 0x5C, 0xE9, 0x2028, 0x1F680][
                        Int(random.next() % 10)]))
                }
                return .string(String(String.UnicodeScalarView(scalars)))
            case 4: return .array((0..<Int(random.next() % 4)).map { _ in generate(depth + 1) })
            default:
                return .object((0..<Int(random.next() % 4)).map { i in JSONMember("k\(i)", generate(depth + 1)) })
            }
        }
        for _ in 0..<500 {
            let doc = generate(0)
            #expect(try JSONValue.parse(doc.indentedText) == doc, "\(doc.indentedText)")
        }
    }

    @Test func parserKeepsOrderNumbersAndDecodesEscapes() throws {
        let v = try JSONValue.parse(#" { "z" : 1e-7 , "a" : [ -0.0 , "\u00e9\ud83d\ude80\/" ] } "#)
        #expect(
            v
                == .object([
                    JSONMember("z", .number("1e-7")),
                    JSONMember("a", .array([.number("-0.0"), .string("é🚀/")])),
                ]))
        #expect(try JSONValue.parse(#""\ud800x""#) == .string("\u{FFFD}x"))
    }

    @Test(arguments: [
        ("", JSONParseError.Kind.unexpectedEnd), ("01", .invalidNumber), ("[1,]", .unexpectedCharacter(93)),
        ("{\"a\" 1}", .unexpectedCharacter(49)), ("\"a\u{01}\"", .controlCharacterInString(1)), ("1 2", .trailingData),
        ("\"\\x\"", .invalidEscape), ("\"\\u12G4\"", .invalidUnicodeEscape), ("tru", .unexpectedEnd),
        ("-", .invalidNumber),
        ("1.", .invalidNumber), ("nul", .unexpectedEnd),
    ])
    func parserRejectsWithTypedErrors(input: String, kind: JSONParseError.Kind) {
        #expect { try JSONValue.parse(input) } throws: { ($0 as? JSONParseError)?.kind == kind }
    }

    @Test func parserRejectsDeepNestingAndBadUTF8() {
        let deep = String(repeating: "[", count: 10_000)
        #expect { try JSONValue.parse(deep) } throws: {
            ($0 as? JSONParseError)?.kind == .tooDeep(limit: JSONValue.maxParseDepth)
        }
        #expect { try JSONValue.parse(bytes: [0x22, 0xFF, 0x22]) } throws: {
            ($0 as? JSONParseError)?.kind == .invalidUTF8
        }
    }
}

@Suite struct SHA256Tests {
    @Test func knownVectors() {
        #expect(SHA256.hexDigest([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            SHA256.hexDigest(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hexDigest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(
            SHA256.hexDigest([UInt8](repeating: 0x61, count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        var h = SHA256()
        for chunk in stride(from: 0, to: 200, by: 7) { h.update(Array(repeating: UInt8(chunk % 256), count: 7)) }
        var whole: [UInt8] = []
        for chunk in stride(from: 0, to: 200, by: 7) { whole += Array(repeating: UInt8(chunk % 256), count: 7) }
        #expect(h.finalize() == SHA256.hash(whole))
    }
}

@Suite struct TimestampTests {
    @Test func parsesGoRFC3339() throws {
        let t = try #require(Timestamp("2025-12-28T10:05:16.123456789-08:00"))
        #expect(t.unixNanos == 1_766_945_116_123_456_789)
        #expect(Timestamp("2025-12-28T18:05:16.123456789Z")?.unixNanos == t.unixNanos)
        #expect(Timestamp(unixNanos: t.unixNanos).text == "2025-12-28T18:05:16.123456789Z")
        #expect(Timestamp(unixMillis: 1_735_689_600_000).text == "2025-01-01T00:00:00Z")
        let zero = try #require(Timestamp("0001-01-01T00:00:00Z"))
        let far = try #require(Timestamp("9999-12-31T23:59:59.999999999+14:00"))
        #expect(zero < t && t < far)
        #expect(far.unixNanos == .max && zero.unixNanos == .min)
        for bad in [
            "", "2025-13-01T00:00:00Z", "2025-02-30T00:00:00Z", "2025-01-01 00:00:00Z", "2025-01-01T00:00:00",
            "2025-01-01T00:00:00.Z", "2025-01-01T00:00:00.1234567890Z", "2025-01-01T24:00:00Z",
        ] {
            #expect(Timestamp(bad) == nil, "\(bad)")
        }
    }
}

@Suite struct HLCTests {
    @Test func stampsAreStrictlyIncreasingAndRefuseFarFuture() throws {
        var c = HybridLogicalClock(node: "a")
        var rng = SplitMix64(seed: 9)
        var wall: Int64 = 1_000_000
        var last = HLCStamp.zero
        for _ in 0..<10_000 {
            // The wall clock jitters, sometimes going backwards.
            wall += Int64(rng.next() % 5) - 2
            let s: HLCStamp
            if rng.next() % 4 == 0 {
                let remote = HLCStamp(
                    wallMillis: wall + Int64(rng.next() % 2_000), counter: UInt32(rng.next() % 5), node: "b")
                s = try c.receive(remote, wallMillis: wall)
                #expect(s > remote)
            } else {
                s = try c.tick(wallMillis: wall)
            }
            #expect(s > last)
            #expect(s.wallMillis >= wall)
            last = s
        }
        let before = c
        let future = HLCStamp(wallMillis: wall + 60_001, node: "b")
        #expect(throws: HLCError.tooFarAhead(stamp: future, localWallMillis: wall, maxDriftMillis: 60_000)) {
            try c.observe(future, wallMillis: wall)
        }
        #expect(c == before)
        try c.observe(HLCStamp(wallMillis: wall + 60_000, node: "b"), wallMillis: wall)
        #expect(HLCStamp(text: last.description) == last)
        #expect(HLCStamp(text: "12.x@n") == nil)
    }
}

@Suite struct BeadIDTests {
    @Test func matchesBeadsHashIDVector() throws {
        // beads internal/idgen/hash_test.go (TestGenerateHashIDMatchesJiraVector)
        let t = try #require(Timestamp("2024-01-02T03:04:05.006Z"))
        let expected = [3: "bd-vju", 4: "bd-8d8e", 5: "bd-bi3tk", 6: "bd-8bi3tk", 7: "bd-r5sr6bm", 8: "bd-8r5sr6bm"]
        for (length, id) in expected {
            #expect(
                BeadID.hashID(
                    prefix: "bd", title: "Fix login", description: "Details", creator: "jira-import",
                    createdAtUnixNanos: t.unixNanos, length: length, nonce: 0) == id)
        }
    }

    @Test func adaptiveLengthFollowsBirthdayBound() {
        #expect(BeadID.adaptiveLength(existing: 0) == 3)
        #expect(BeadID.adaptiveLength(existing: 160) == 3)
        #expect(BeadID.adaptiveLength(existing: 500) == 4)
        #expect(BeadID.adaptiveLength(existing: 5_000) == 5)
        #expect(BeadID.adaptiveLength(existing: 30_000) == 6)
        #expect(BeadID.adaptiveLength(existing: 10_000_000) == 8)
    }

    @Test func mintingRetriesOnCollisionAndStaysUnique() throws {
        var taken = Set<String>()
        let t = Timestamp(unixMillis: 1)
        for i in 0..<3_000 {
            // Only 420 distinct inputs for 3,000 IDs: collisions must be resolved by nonce and length retries.
            let id = try BeadID.mint(
                prefix: "bd", title: "t\(i % 7)", description: "", creator: "x",
                createdAt: Timestamp(unixMillis: t.unixMillis + Int64(i % 60)),
                existingCount: taken.count, isTaken: { taken.contains($0) })
            #expect(taken.insert(id).inserted)
            #expect(id.hasPrefix("bd-"))
        }
        #expect(throws: BeadIDError.exhausted(prefix: "bd")) {
            try BeadID.mint(
                prefix: "bd", title: "t", description: "", creator: "x", createdAt: t, existingCount: 0,
                isTaken: { _ in true })
        }
        #expect(throws: BeadIDError.invalidPrefix("9x")) {
            try BeadID.mint(
                prefix: "9x", title: "t", description: "", creator: "x", createdAt: t, existingCount: 0,
                isTaken: { _ in false })
        }
        #expect(BeadID.prefix(of: "bd-1dez.1") == "bd")
        #expect(BeadID.prefix(of: "bd-mol-abc") == "bd-mol")
    }
}
