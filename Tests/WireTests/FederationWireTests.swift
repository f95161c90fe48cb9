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

    /// Delegation bodies (401 request and reply, 404 verdict): round trips, refusals of bad fields, and seeded
    /// mutations that never trap and re-encode to themselves when accepted.
    @Test func delegationBodiesRoundTripRefuseBadFieldsAndSurviveFuzzing() throws {
        let request = FederatedDelegateRequest(
            origin: "hop://alpha/app/al-1", rig: "api", title: "Document the v2 client", description: "in full",
            gate: "make test", budgetMilliHours: 1500, deadline: 1_800_000_000, returnTo: "/srv/git/app.git")
        #expect(try FederatedDelegateRequest.decode(request.encoded()) == request)
        let replies = [
            FederatedDelegateReply(outcome: .accepted, bead: "ap-9", rig: "api"),
            FederatedDelegateReply(outcome: .refused, reason: "the policy does not let alpha delegate"),
            FederatedDelegateReply(outcome: .budgetExhausted, reason: "budget exhausted"),
        ]
        for reply in replies { #expect(try FederatedDelegateReply.decode(reply.encoded()) == reply) }
        let verdict = FederatedDelegationVerdict(origin: "hop://alpha/app/al-1", verdict: 1, output: "FAIL")
        #expect(try FederatedDelegationVerdict.decode(verdict.encoded()) == verdict)
        // Bad fields: no gate, not a hop:// origin, an accepted reply naming no bead, a verdict out of range.
        var noGate = request
        noGate.gate = ""
        #expect(throws: WireError.self) { _ = try FederatedDelegateRequest.decode(noGate.encoded()) }
        var badOrigin = request
        badOrigin.origin = "alpha/app/al-1"
        #expect(throws: WireError.self) { _ = try FederatedDelegateRequest.decode(badOrigin.encoded()) }
        var badRig = request
        badRig.rig = "a/b"
        #expect(throws: WireError.self) { _ = try FederatedDelegateRequest.decode(badRig.encoded()) }
        var twoLines = request
        twoLines.returnTo = "a\nb"
        #expect(throws: WireError.self) { _ = try FederatedDelegateRequest.decode(twoLines.encoded()) }
        #expect(throws: WireError.self) {
            _ = try FederatedDelegateReply.decode(FederatedDelegateReply(outcome: .accepted).encoded())
        }
        #expect(throws: WireError.self) {
            _ = try FederatedDelegationVerdict.decode(FederatedDelegationVerdict(origin: "hop://a/b/c", verdict: 9).encoded())
        }
        #expect(throws: WireError.self) { _ = try FederatedDelegateRequest.decode(request.encoded() + [0]) }
        var rng = SplitMix64(seed: 401)
        let seeds = [request.encoded(), replies[0].encoded(), replies[1].encoded(), verdict.encoded()]
        for round in 0..<30_000 {
            var bytes = seeds[round % seeds.count]
            for _ in 0..<(1 + Int(rng.next() % 3)) where !bytes.isEmpty {
                let position = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 3 {
                case 0: bytes[position] = UInt8(truncatingIfNeeded: rng.next())
                case 1: bytes.remove(at: position)
                default: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: position)
                }
            }
            if let decoded = try? FederatedDelegateRequest.decode(bytes) {
                #expect(try FederatedDelegateRequest.decode(decoded.encoded()) == decoded)
            }
            if let decoded = try? FederatedDelegateReply.decode(bytes) { #expect(decoded.encoded() == bytes) }
            if let decoded = try? FederatedDelegationVerdict.decode(bytes) { #expect(decoded.encoded() == bytes) }
        }
    }
}
