import Foundation
import Testing

@testable import Wire

@Suite struct EnvelopeTests {
    let alice = try! NodeName("alice")
    let bob = try! NodeName("bob")

    @Test func envelopeRoundTrip() throws {
        for version in ProtocolVersion.supported {
            for kind in [MessageKind.request, .response, .oneWay, .error] {
                for epoch in [0, 42, UInt64.max] {
                    let envelope = Envelope(
                        version: version, kind: kind, type: MessageType(rawValue: 300),
                        requestID: kind == .oneWay ? 0 : 0xDEAD_BEEF_0102, sender: alice, epoch: epoch,
                        body: [1, 2, 3])
                    #expect(try Envelope.decode(envelope.encoded(), peer: alice) == envelope)
                }
            }
        }
        let first = Envelope(version: 1, kind: .request, type: .ping, requestID: 3, sender: alice, epoch: 4)
        #expect(try Envelope.decode(first.encoded()) == first)
        #expect(first.encoded().count == Envelope.minimumLength + 4)
    }

    @Test func compactEnvelopeLeavesOutWhatTheConnectionKnows() throws {
        // A one-way message: version, flags, type; the sender is the connection's authenticated peer.
        let note = Envelope(version: 2, kind: .oneWay, type: MessageType(rawValue: 200), sender: alice, body: [7])
        #expect(note.encoded() == [2, 2, 0, 200, 7])
        #expect(try Envelope.decode(note.encoded(), peer: alice) == note)
        #expect(try Envelope.decode(note.encoded(), peer: bob).sender == bob)
        let unknownPeer = WireError.invalidValue(
            field: "sender", reason: "left out, and the connection's peer is not known")
        #expect(throws: unknownPeer) {
            try Envelope.decode(note.encoded())
        }
        // A request carries its id (varint) and epoch only when set.
        let request = Envelope(version: 2, kind: .request, type: .ping, requestID: 300, sender: alice, epoch: 1)
        #expect(request.encoded() == [2, 0x04, 0, 3, 0xAC, 0x02, 1])
        // A hello names its sender (the peer is not known yet).
        let hello = Envelope(version: 2, kind: .oneWay, type: .hello, sender: alice, body: [])
        #expect(try Envelope.decode(hello.encoded()) == hello)
        // Unknown flag bits and bad varints are refused.
        #expect(throws: WireError.self) { try Envelope.decode([2, 0x12, 0, 1], peer: alice) }
        #expect(throws: WireError.self) {
            try Envelope.decode([2, 0, 0, 1] + Array(repeating: 0xFF, count: 11), peer: alice)
        }
        #expect(throws: WireError.self) { try Envelope.decode([2, 0], peer: alice) }
    }

    @Test func nodeNameRules() {
        #expect(throws: WireError.self) { try NodeName("") }
        #expect(throws: WireError.self) { try NodeName("Alice") }
        #expect(throws: WireError.self) { try NodeName("-a") }
        #expect(throws: WireError.self) { try NodeName("a b") }
        #expect(throws: WireError.self) { try NodeName(String(repeating: "a", count: 64)) }
        #expect((try? NodeName("node-1.example")) != nil)
    }

    @Test func nodeNameCodableValidates() throws {
        struct Box: Codable, Equatable { var node: NodeName }
        let encoded = try JSONEncoder().encode(Box(node: alice))
        #expect(String(decoding: encoded, as: UTF8.self) == #"{"node":"alice"}"#)
        #expect(try JSONDecoder().decode(Box.self, from: encoded) == Box(node: alice))
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Box.self, from: Data(#"{"node":"Bad Name"}"#.utf8))
        }
    }

    @Test func unknownTypeIsAnsweredWithAnError() throws {
        let current = ProtocolVersion.current
        let registry = MessageRegistry.core
        let request = Envelope(kind: .request, type: MessageType(rawValue: 999), requestID: 5, sender: alice)
        guard case .reply(let reply) = registry.check(request, negotiatedVersion: current, local: bob) else {
            Issue.record("expected an error reply")
            return
        }
        #expect(reply.kind == .error)
        #expect(reply.requestID == 5)
        #expect(try ErrorReply.decode(reply.body).code == .unknownMessageType)
        // An error reply answers our own request: delivered whatever its type (paired by request id)…
        var errorEnvelope = request
        errorEnvelope.kind = .error
        #expect(registry.check(errorEnvelope, negotiatedVersion: current, local: bob) == .deliver)
        // …but at a wrong version it is dropped, never answered (no ping-pong of errors).
        errorEnvelope.version = 7
        #expect(registry.check(errorEnvelope, negotiatedVersion: current, local: bob) == .drop(.unsupportedVersion(7)))
        // A known type at the wrong version is refused too.
        let ping = Envelope(version: 9, kind: .request, type: .ping, requestID: 1, sender: alice)
        guard case .reply = registry.check(ping, negotiatedVersion: current, local: bob) else {
            Issue.record("expected an error reply for a wrong version")
            return
        }
        #expect(
            registry.check(Envelope(kind: .request, type: .ping, sender: alice), negotiatedVersion: current, local: bob)
                == .deliver)
    }

    @Test func registryIsVersioned() {
        var registry = MessageRegistry.core
        registry.register(MessageDescriptor(type: MessageType(rawValue: 200), name: "new-thing", versions: 2...3))
        #expect(registry.descriptor(for: MessageType(rawValue: 200), version: 1) == nil)
        #expect(registry.descriptor(for: MessageType(rawValue: 200), version: 2)?.name == "new-thing")
    }

    @Test func helloRoundTripAndNegotiation() throws {
        let hello = Hello(sender: alice, expectedPeer: bob, versions: 1...4, purpose: .membership)
        #expect(try Hello.decode(Envelope.decode(hello.envelope().encoded())) == hello)
        let anonymous = Hello(sender: alice, expectedPeer: nil, purpose: .general)
        #expect(try Hello.decode(anonymous.envelope()) == anonymous)
        #expect(try Hello.negotiate(local: 1...3, remote: 2...5) == 3)
        #expect(try Hello.negotiate(local: 2...5, remote: 1...3) == 3)
        #expect(throws: WireError.noCommonVersion(local: 1...1, remote: 2...3)) {
            try Hello.negotiate(local: 1...1, remote: 2...3)
        }
        let notHello = Envelope(kind: .oneWay, type: .ping, sender: alice)
        #expect(throws: WireError.self) { try Hello.decode(notHello) }
    }

    @Test func tieBreakKeepsSmallerDialer() {
        #expect(TieBreak.keeps(connectionDialedBy: alice, local: alice, remote: bob))
        #expect(TieBreak.keeps(connectionDialedBy: alice, local: bob, remote: alice))
        #expect(!TieBreak.keeps(connectionDialedBy: bob, local: alice, remote: bob))
    }
}
