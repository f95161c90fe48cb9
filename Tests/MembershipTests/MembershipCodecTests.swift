import Membership
import Testing

/// Random messages for codec round trips and fuzzing.
struct MessageGenerator {
    var rng: Membership.Random

    mutating func int(_ n: Int) -> Int { Int(rng.next() % UInt64(max(1, n))) }

    mutating func string() -> String {
        let alphabet = Array("abcxyz-_.:0129éß中🙂")
        return String((0..<int(12)).map { _ in alphabet[int(alphabet.count)] })
    }

    mutating func node() -> Membership.Node { Membership.Node(name: string(), address: string()) }

    mutating func metadata() -> Membership.Metadata {
        var md = Membership.Metadata(
            version: rng.next() >> int(64), freeSlots: UInt32(int(100)), runningAgents: UInt32(int(100)),
            loadAverageMilli: UInt32(truncatingIfNeeded: rng.next()), freeMemoryBytes: rng.next(),
            rigs: (0..<int(4)).map { _ in string() }, runtimes: (0..<int(4)).map { _ in string() },
            softwareVersion: string(), draining: int(2) == 1)
        md.labels = Membership.Labels(
            org: int(2) == 1 ? string() : nil, region: int(2) == 1 ? string() : nil,
            os: int(2) == 1 ? "linux" : nil, gpu: int(2) == 1 ? string() : nil)
        for _ in 0..<int(3) { md.labels.custom[string()] = string() }
        // A quarter carry reservations (codec version 3).
        if int(4) == 0 { md.reservedSlots = UInt32(1 + int(5)) }
        return md
    }

    mutating func gossip() -> Membership.Gossip {
        switch int(5) {
        case 0: .alive(node(), incarnation: rng.next() >> int(64))
        case 1: .suspect(name: string(), incarnation: rng.next(), from: string())
        case 2: .dead(name: string(), incarnation: UInt64(int(9)), from: string())
        case 3: .left(name: string(), incarnation: rng.next())
        default: .metadata(name: string(), metadata())
        }
    }

    mutating func gossipList() -> [Membership.Gossip] { (0..<int(6)).map { _ in gossip() } }

    mutating func message() -> Membership.Message {
        let seq = UInt32(truncatingIfNeeded: rng.next())
        switch int(6) {
        case 0: return .ping(seq: seq, from: node(), target: string(), gossip: gossipList())
        case 1:
            return .pingRequest(seq: seq, from: node(), target: node(), wantsNack: int(2) == 1, gossip: gossipList())
        case 2: return .ack(seq: seq, from: node(), gossip: gossipList())
        case 3: return .nack(seq: seq, from: node())
        case 4: return .gossip(from: node(), gossip: gossipList())
        default:
            let members = (0..<int(5)).map { _ in
                Membership.Member(
                    node: node(), incarnation: rng.next() >> 3,
                    status: Membership.Status(rawValue: UInt8(int(4)))!, metadata: metadata())
            }
            return .pushPull(from: node(), isResponse: int(2) == 1, isJoin: int(2) == 1, members: members)
        }
    }
}

@Suite struct MembershipCodecTests {
    @Test func randomMessagesRoundTrip() throws {
        var gen = MessageGenerator(rng: Membership.Random(seed: 42))
        for _ in 0..<2000 {
            let message = gen.message()
            let bytes = message.encode()
            #expect(try Membership.Message.decode(bytes) == message)
        }
    }

    @Test func fuzzedBytesNeverCrashTheDecoder() {
        var gen = MessageGenerator(rng: Membership.Random(seed: 7))
        var rejected = 0
        var accepted = 0
        for round in 0..<5000 {
            var bytes = gen.message().encode()
            switch round % 5 {
            case 0: bytes[gen.int(bytes.count)] ^= UInt8(1 + gen.int(255))
            case 1: bytes.removeLast(1 + gen.int(bytes.count - 1))
            case 2: bytes.insert(UInt8(gen.int(256)), at: gen.int(bytes.count))
            case 3:
                for _ in 0..<1 + gen.int(8) { bytes[gen.int(bytes.count)] = UInt8(gen.int(256)) }
            default: bytes = (0..<gen.int(64)).map { _ in UInt8(gen.int(256)) }
            }
            do {
                let decoded = try Membership.Message.decode(bytes)
                // Whatever decodes must encode and decode to the same message.
                #expect(try Membership.Message.decode(decoded.encode()) == decoded)
                accepted += 1
            } catch {
                #expect(!error.description.isEmpty)
                rejected += 1
            }
        }
        #expect(rejected > 2500, "mutations were not caught: \(accepted) accepted")
    }

    @Test func decoderSaysWhatWasWrong() {
        let ping = Membership.Message.ping(
            seq: 1, from: Membership.Node(name: "a", address: "h:1"), target: "b", gossip: []
        ).encode()
        #expect(throws: Membership.DecodeError.unsupportedVersion(0)) {
            try Membership.Message.decode([0] + ping.dropFirst())
        }
        #expect(throws: Membership.DecodeError.unknownMessageType(77)) { try Membership.Message.decode([1, 77]) }
        #expect(throws: Membership.DecodeError.truncated(field: "codec version", offset: 0)) {
            try Membership.Message.decode([])
        }
        #expect(throws: Membership.DecodeError.trailingBytes(count: 1)) { try Membership.Message.decode(ping + [0]) }
        // A string length far beyond the limit is refused before anything is allocated.
        var w: [UInt8] = [1, 5, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]
        w += [0]
        #expect(
            throws: Membership.DecodeError.tooLarge(field: "gossip sender name length", value: 0xFFFF_FFFF, limit: 1024)
        ) {
            try Membership.Message.decode(w)
        }
        var limits = Membership.CodecLimits()
        limits.maxMessageBytes = 4
        #expect(throws: Membership.DecodeError.tooLarge(field: "message size", value: UInt64(ping.count), limit: 4)) {
            try Membership.Message.decode(ping, limits: limits)
        }
        #expect(throws: Membership.DecodeError.malformedVarint(field: "ping seq", offset: 2)) {
            try Membership.Message.decode([1, 1] + Array(repeating: 0xFF, count: 11))
        }
    }

    @Test func largestPushPullStaysInsideTheMembershipFrame() {
        var gen = MessageGenerator(rng: Membership.Random(seed: 3))
        var instance = Membership.Instance(
            myself: Membership.Node(name: "me", address: "me:1"), metadata: gen.metadata(), seed: 1)
        _ = instance.join(seeds: [], now: .zero)
        // Learn 2000 members with big metadata: far more than fits in 64 KiB.
        for i in 0..<2000 {
            var md = gen.metadata()
            md.version = 1
            md.rigs = (0..<8).map { "rig-\($0)-with-a-long-name-\(i)" }
            let m = Membership.Member(
                node: Membership.Node(name: "n\(i)", address: "10.0.\(i / 256).\(i % 256):7946"), incarnation: 0,
                status: .alive, metadata: md)
            _ = instance.onMessage(
                .pushPull(from: m.node, isResponse: true, isJoin: false, members: [m]), now: .zero)
        }
        let directives = instance.onMessage(
            .pushPull(from: Membership.Node(name: "n1", address: "x"), isResponse: false, isJoin: false, members: []),
            now: .zero)
        let replies = directives.compactMap { d -> [UInt8]? in
            if case .send(let m, _, _) = d, case .pushPull = m { return m.encode() }
            return nil
        }
        #expect(replies.count == 1)
        #expect(replies.allSatisfy { $0.count <= instance.settings.maxMessageBytes && $0.count > 32 * 1024 })
    }
}
