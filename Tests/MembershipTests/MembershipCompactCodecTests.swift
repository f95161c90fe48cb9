import Membership
import Testing

/// The compact form of messages between named members (`encode(for:)`): the sender and a ping's target
/// are left out, the link names them.
@Suite struct MembershipCompactCodecTests {
    /// `message` as the receiver decodes it: an elided sender has the link's name and no address.
    func expected(_ message: Membership.Message) -> Membership.Message {
        let from = Membership.Node(name: message.from.name, address: "")
        switch message {
        case .ping(let seq, _, let target, let gossip):
            return .ping(seq: seq, from: from, target: target, gossip: gossip)
        case .pingRequest(let seq, _, let target, let wantsNack, let gossip):
            return .pingRequest(seq: seq, from: from, target: target, wantsNack: wantsNack, gossip: gossip)
        case .ack(let seq, _, let gossip): return .ack(seq: seq, from: from, gossip: gossip)
        case .nack(let seq, _): return .nack(seq: seq, from: from)
        case .gossip(_, let gossip): return .gossip(from: from, gossip: gossip)
        case .pushPull: return message
        }
    }

    @Test func compactMessagesRoundTripWithTheLinksNames() throws {
        var gen = MessageGenerator(rng: Membership.Random(seed: 11))
        for round in 0..<2000 {
            var message = gen.message()
            let receiver = "r\(round % 7)"
            // Half the pings are meant for the receiver, so their target is left out.
            if case .ping(let seq, let from, _, let gossip) = message, round % 2 == 0 {
                message = .ping(seq: seq, from: from, target: receiver, gossip: gossip)
            }
            let bytes = message.encode(for: receiver)
            #expect(bytes.count <= message.encode().count)
            let decoded = try Membership.Message.decode(bytes, sender: message.from.name, receiver: receiver)
            #expect(decoded == expected(message))
        }
    }

    @Test func aPingAndItsAckShrinkToAFewBytes() throws {
        let me = Membership.Node(name: "node-eu-west-1", address: "10.1.2.3:7500")
        let ping = Membership.Message.ping(seq: 300, from: me, target: "node-eu-west-2", gossip: [])
        let ack = Membership.Message.ack(seq: 300, from: me, gossip: [])
        // version, type and flags, seq (2 bytes), gossip count.
        #expect(ping.encode(for: "node-eu-west-2").count == 5)
        #expect(ack.encode(for: "node-eu-west-2").count == 5)
        #expect(ping.encode().count == 49)
        // A ping relayed to someone else than the receiver keeps its target.
        let other = try Membership.Message.decode(ping.encode(for: "node-x"), sender: me.name, receiver: "node-x")
        let anonymous = Membership.Node(name: me.name, address: "")
        #expect(other == .ping(seq: 300, from: anonymous, target: "node-eu-west-2", gossip: []))
    }

    @Test func elidedFieldsNeedTheLinksNames() {
        let ping = Membership.Message.ping(
            seq: 1, from: Membership.Node(name: "a", address: "h:1"), target: "b", gossip: [])
        #expect(throws: Membership.DecodeError.elided(field: "sender")) {
            try Membership.Message.decode(ping.encode(for: "b"))
        }
        #expect(throws: Membership.DecodeError.elided(field: "ping target")) {
            try Membership.Message.decode(ping.encode(for: "b"), sender: "a")
        }
        // Flags that make no sense for the message type are refused.
        #expect(throws: Membership.DecodeError.invalidValue(field: "sender flag", value: 0x16)) {
            try Membership.Message.decode([2, 0x16], sender: "a", receiver: "b")
        }
        #expect(throws: Membership.DecodeError.invalidValue(field: "target flag", value: 0x23)) {
            try Membership.Message.decode([2, 0x23], sender: "a", receiver: "b")
        }
        #expect(throws: Membership.DecodeError.unknownMessageType(0x41)) {
            try Membership.Message.decode([2, 0x41], sender: "a", receiver: "b")
        }
    }

    @Test func codecVersionOneIsStillRead() throws {
        // A version-1 ping from an older build: seq 5, sender "a" at "h:1", target "b", no gossip.
        let v1: [UInt8] = [1, 1, 5, 1, 0x61, 3, 0x68, 0x3A, 0x31, 1, 0x62, 0]
        #expect(
            try Membership.Message.decode(v1, sender: "a", receiver: "b")
                == .ping(seq: 5, from: Membership.Node(name: "a", address: "h:1"), target: "b", gossip: []))
        // In version 1 the high bits of the type byte are no flags.
        #expect(throws: Membership.DecodeError.unknownMessageType(0x11)) {
            try Membership.Message.decode([1, 0x11, 5], sender: "a", receiver: "b")
        }
    }

    @Test func fuzzedCompactBytesNeverCrashTheDecoder() {
        var gen = MessageGenerator(rng: Membership.Random(seed: 23))
        var rejected = 0
        for round in 0..<5000 {
            let message = gen.message()
            var bytes = message.encode(for: "rx")
            switch round % 4 {
            case 0: bytes[gen.int(bytes.count)] ^= UInt8(1 + gen.int(255))
            case 1: bytes.removeLast(1 + gen.int(bytes.count - 1))
            case 2: bytes.insert(UInt8(gen.int(256)), at: gen.int(bytes.count))
            default: bytes = [2] + (0..<gen.int(32)).map { _ in UInt8(gen.int(256)) }
            }
            do {
                let decoded = try Membership.Message.decode(bytes, sender: "tx", receiver: "rx")
                let again = try Membership.Message.decode(decoded.encode(), sender: "tx", receiver: "rx")
                #expect(again == decoded)
            } catch {
                #expect(!error.description.isEmpty)
                rejected += 1
            }
        }
        #expect(rejected > 2000)
    }

    @Test func anElidedSenderIsAnsweredAtTheAddressOfTheMemberList() {
        var i = Membership.Instance(myself: Membership.Node(name: "me", address: "me:1"), seed: 5)
        _ = i.join(seeds: [], now: .zero)
        let a = Membership.Member(
            node: Membership.Node(name: "a", address: "a:7946"), incarnation: 0, status: .alive,
            metadata: .init(version: 1))
        _ = i.onMessage(.pushPull(from: a.node, isResponse: true, isJoin: false, members: [a]), now: .zero)
        let anonymous = Membership.Node(name: "a", address: "")
        let replies = i.onMessage(
            .ping(seq: 9, from: anonymous, target: "me", gossip: []), authenticatedPeer: "a", now: .zero)
        let acks = replies.compactMap { d -> String? in
            if case .send(.ack(9, _, _), let to, "a") = d { return to }
            return nil
        }
        #expect(acks == ["a:7946"])
        // A member we do not know yet is asked for its state over the link it came on (no address).
        let unknown = i.onMessage(
            .ping(seq: 10, from: Membership.Node(name: "b", address: ""), target: "me", gossip: []),
            authenticatedPeer: "b", now: .zero)
        let pushPulls = unknown.compactMap { d -> String? in
            if case .send(.pushPull, let to, "b") = d { return to }
            return nil
        }
        #expect(pushPulls == [""])
    }
}

/// Reserved slots (the Mayor's admissions) travel in codec version 3, written only when some metadata carries
/// them: a message without reservations is the version-2 bytes older nodes read.
@Suite struct MembershipReservedSlotsCodecTests {
    let me = Membership.Node(name: "a", address: "h:1")

    @Test func reservationsNeedVersionThreeAndRoundTrip() throws {
        var md = Membership.Metadata(version: 4, freeSlots: 3, runningAgents: 1, rigs: ["demo"])
        let plain = Membership.Message.gossip(from: me, gossip: [.metadata(name: "a", md)])
        #expect(plain.encode().first == 2)
        md.reservedSlots = 2
        let reserved = Membership.Message.gossip(from: me, gossip: [.metadata(name: "a", md)])
        let bytes = reserved.encode()
        #expect(bytes.first == 3)
        #expect(bytes.count == plain.encode().count + 1)
        #expect(try Membership.Message.decode(bytes) == reserved)
        let member = Membership.Member(node: me, incarnation: 1, status: .alive, metadata: md)
        let push = Membership.Message.pushPull(from: me, isResponse: false, isJoin: true, members: [member])
        #expect(push.encode().first == 3)
        #expect(try Membership.Message.decode(push.encode()) == push)
        // A version-2 message never carries reservations, and version 4 adds an extension list to every metadata
        // (MembershipCodecVersionTests), which these bytes lack.
        var v2 = bytes
        v2[0] = 2
        #expect(throws: Membership.DecodeError.self) { try Membership.Message.decode(v2) }
        var v4 = bytes
        v4[0] = 4
        #expect(throws: Membership.DecodeError.truncated(field: "metadata extension count", offset: bytes.count)) {
            try Membership.Message.decode(v4)
        }
        #expect(try Membership.Message.decode(v4 + [0]) == reserved)
    }
}
