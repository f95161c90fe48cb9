import GasTownTestKit
import Testing

@testable import Wire

@Suite struct FederationWireTests {
    @Test func requestsAndRepliesRoundTrip() throws {
        for request in [
            FederatedReadRequest(rig: "api", query: .show(id: "ap-7")),
            FederatedReadRequest(rig: "api", query: .list(status: "open", type: nil, limit: 50)),
            FederatedReadRequest(rig: "api", query: .list(status: nil, type: "bug", limit: 1_000)),
        ] {
            #expect(try FederatedReadRequest.decode(request.encoded()) == request)
        }
        let reply = FederatedReadReply(organization: "beta", beads: [#"{"id":"ap-7"}"#, "{}"])
        #expect(try FederatedReadReply.decode(reply.encoded()) == reply)
    }

    @Test func limitsAreEnforcedBeforeAllocation() {
        // A count of 1,000 beads with no bytes behind it fails at once.
        var writer = BinaryWriter()
        writer.write(UInt8(1))
        writer.writeShort("beta")
        writer.write(UInt32(1_000))
        #expect(throws: WireError.self) { _ = try FederatedReadReply.decode(writer.bytes) }
        var huge = BinaryWriter()
        huge.write(UInt8(1))
        huge.writeShort("beta")
        huge.write(UInt32.max)
        #expect(throws: WireError.self) { _ = try FederatedReadReply.decode(huge.bytes) }
        #expect(throws: WireError.self) {
            _ = try FederatedReadRequest.decode(
                FederatedReadRequest(rig: "api", query: .list(status: nil, type: nil, limit: 5_000)).encoded())
        }
        #expect(throws: WireError.self) { _ = try FederatedReadRequest.decode([2, 0]) }
    }

    /// Seeded random and mutated bodies: the decoders never trap, and what they accept re-encodes to itself.
    @Test func fuzzedBodiesNeverTrap() throws {
        var rng = SplitMix64(seed: 400)
        let seeds = [
            FederatedReadRequest(rig: "api", query: .show(id: "ap-7")).encoded(),
            FederatedReadRequest(rig: "api", query: .list(status: "open", type: "bug", limit: 9)).encoded(),
            FederatedReadReply(organization: "beta", beads: ["{}", "x"]).encoded(),
        ]
        for round in 0..<50_000 {
            var bytes = seeds[round % seeds.count]
            if round % 7 == 0 {
                bytes = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                for _ in 0..<(1 + Int(rng.next() % 3)) where !bytes.isEmpty {
                    let position = Int(rng.next() % UInt64(bytes.count))
                    switch rng.next() % 3 {
                    case 0: bytes[position] = UInt8(truncatingIfNeeded: rng.next())
                    case 1: bytes.remove(at: position)
                    default: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: position)
                    }
                }
            }
            if let request = try? FederatedReadRequest.decode(bytes) {
                #expect(try FederatedReadRequest.decode(request.encoded()) == request)
            }
            if let reply = try? FederatedReadReply.decode(bytes) { #expect(reply.encoded() == bytes) }
        }
    }
}
