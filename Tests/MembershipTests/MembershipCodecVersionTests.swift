import Testing

@testable import Membership

/// Codec versions between adjacent releases (docs/membership.md "Codec versions"): what this build writes the
/// previous release reads (versions 1–3), and what a newer release may add (version 4's extension entries, new
/// gossip kinds, trailing fields) is skipped here, not fatal.
@Suite struct MembershipCodecVersionTests {
    /// Random extension entries a newer release might write (tags and bytes this build does not know).
    static func extensions(_ gen: inout MessageGenerator) -> [(tag: UInt64, bytes: [UInt8])] {
        (0..<gen.int(4)).map { _ in
            (tag: gen.rng.next() >> UInt64(gen.int(64)), bytes: (0..<gen.int(40)).map { _ in UInt8(gen.int(256)) })
        }
    }

    @Test func whatThisBuildWritesThePreviousReleaseReads() {
        // The previous release (0.1.0) reads codec versions 1 to 3: this build never writes a later one.
        var gen = MessageGenerator(rng: Membership.Random(seed: 180))
        for _ in 0..<2000 {
            let message = gen.message()
            #expect(message.encode()[0] <= Membership.Message.reservationCodecVersion)
            #expect(message.encode(for: "receiver")[0] <= Membership.Message.reservationCodecVersion)
        }
    }

    @Test func aNewerReleasesExtensionEntriesAreSkipped() throws {
        var gen = MessageGenerator(rng: Membership.Random(seed: 181))
        for round in 0..<2000 {
            let message = gen.message()
            let ext = Self.extensions(&gen)
            // Version 4, and later versions that follow its rule, decode to what this build knows of the message.
            let version = UInt8(4 + round % 3)
            var bytes = message.encode(for: nil, codec: 4, metadataExtensions: ext)
            bytes[0] = version
            #expect(try Membership.Message.decode(bytes) == message)
            // With fields of the newer release after the message, too.
            bytes += (0..<1 + gen.int(16)).map { _ in UInt8(gen.int(256)) }
            #expect(try Membership.Message.decode(bytes) == message)
        }
    }

    @Test func trailingBytesAreStillRefusedAtTheVersionsThatDefineNone() {
        let ping = Membership.Message.ping(
            seq: 1, from: Membership.Node(name: "a", address: "h:1"), target: "b", gossip: [])
        for version: UInt8 in [2, 3] {
            var bytes = ping.encode(for: nil, codec: version)
            bytes += [9, 9]
            #expect(throws: Membership.DecodeError.trailingBytes(count: 2)) { try Membership.Message.decode(bytes) }
        }
    }

    @Test func aNewerReleasesGossipKindIsSkipped() throws {
        let alive = Membership.Gossip.alive(Membership.Node(name: "c", address: "h:3"), incarnation: 4)
        let from = Membership.Node(name: "a", address: "h:1")
        // Version 4 gossip: [unknown kind 9 with 3 bytes, alive c, unknown kind 200 with 0 bytes].
        var w = ByteWriter()
        w.codec = 4
        w.byte(4)
        w.byte(5)
        w.node(from)
        w.varint(3)
        w.byte(9)
        w.varint(3)
        w.bytes += [1, 2, 3]
        w.gossip(alive)
        w.byte(200)
        w.varint(0)
        #expect(try Membership.Message.decode(w.bytes) == .gossip(from: from, gossip: [alive]))
        // At version 3 an unknown kind is still an error (no length follows it there).
        var old = w.bytes
        old[0] = 3
        #expect(throws: Membership.DecodeError.unknownGossipKind(9)) { try Membership.Message.decode(old) }
    }

    @Test func fuzzedExtensionsNeverCrashAndAreBounded() {
        var gen = MessageGenerator(rng: Membership.Random(seed: 182))
        var accepted = 0
        var rejected = 0
        for round in 0..<4000 {
            var bytes = gen.message().encode(for: nil, codec: 4, metadataExtensions: Self.extensions(&gen))
            switch round % 4 {
            case 0: bytes[gen.int(bytes.count)] ^= UInt8(1 + gen.int(255))
            case 1: bytes.removeLast(1 + gen.int(bytes.count - 1))
            case 2:
                // A huge extension length or count: refused before anything is allocated or skipped past the end.
                bytes.insert(contentsOf: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F], at: 1 + gen.int(bytes.count - 1))
            default:
                for _ in 0..<1 + gen.int(6) { bytes[gen.int(bytes.count)] = UInt8(gen.int(256)) }
            }
            do {
                let decoded = try Membership.Message.decode(bytes)
                #expect(try Membership.Message.decode(decoded.encode()) == decoded)
                accepted += 1
            } catch {
                #expect(!error.description.isEmpty)
                rejected += 1
            }
        }
        #expect(rejected > 1000, "\(accepted) accepted")
        // Too many extension entries are refused by the list limit.
        var limits = Membership.CodecLimits()
        limits.maxListEntries = 2
        let md = Membership.Metadata(softwareVersion: "9.0.0")
        let gossip = Membership.Message.gossip(
            from: Membership.Node(name: "a", address: "h"), gossip: [.metadata(name: "a", md)])
        let many = gossip.encode(for: nil, codec: 4, metadataExtensions: [(1, []), (2, []), (3, [])])
        #expect(throws: Membership.DecodeError.tooLarge(field: "metadata extension count", value: 3, limit: 2)) {
            try Membership.Message.decode(many, limits: limits)
        }
    }
}
