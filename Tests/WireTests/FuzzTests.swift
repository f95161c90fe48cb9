import GasTownTestKit
import Testing

@testable import Wire

/// Seeded random and mutated inputs into every decoder of outside bytes: nothing may trap.
@Suite struct FuzzTests {
    static let sender = try! NodeName("fuzzer")

    static func validFrames() throws -> [[UInt8]] {
        let hello = Hello(sender: sender, expectedPeer: try NodeName("target"), purpose: .general).envelope()
        let request = Envelope(kind: .request, type: .ping, requestID: 77, sender: sender, epoch: 3, body: [9, 9])
        let error = request.errorReply(ErrorReply(code: .refused, message: "no"), from: sender)
        return try [hello, request, error].map { try FrameCodec.encode(payload: $0.encoded()) }
    }

    /// Decodes one payload with every decoder; returns how many decoded cleanly.
    static func exercise(_ payload: [UInt8]) -> Int {
        var ok = 0
        if let envelope = try? Envelope.decode(payload, peer: sender) {
            ok += 1
            if (try? Hello.decode(envelope)) != nil { ok += 1 }
            if (try? ErrorReply.decode(envelope.body)) != nil { ok += 1 }
            _ = MessageRegistry.core.check(envelope, negotiatedVersion: 1, local: sender)
        }
        return ok
    }

    @Test func hundredThousandRandomAndMutatedFrames() throws {
        var rng = SplitMix64(seed: 0x5EED)
        let seeds = try Self.validFrames()
        var decodedEnvelopes = 0
        var frameErrors = 0
        for round in 0..<100_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                let count = Int.random(in: 0...64, using: &rng)
                bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if round % 4 == 0 && bytes.count >= 4 {  // plausible small length prefix
                    bytes[0] = 0
                    bytes[1] = 0
                }
            } else {
                bytes = seeds[round % seeds.count]
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0 where !bytes.isEmpty:
                        bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                    case 1 where !bytes.isEmpty:
                        bytes.removeSubrange(Int.random(in: 0..<bytes.count, using: &rng)...)
                    case 2:
                        bytes.insert(
                            UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 0...bytes.count, using: &rng))
                    default:
                        bytes.append(contentsOf: (0..<8).map { _ in UInt8.random(in: 0...255, using: &rng) })
                    }
                }
            }
            var decoder = FrameDecoder(limits: round % 3 == 0 ? .membership : .general)
            decoder.feed(bytes)
            do {
                while let payload = try decoder.next() { decodedEnvelopes += Self.exercise(payload) > 0 ? 1 : 0 }
            } catch {
                frameErrors += 1
            }
            _ = Self.exercise(bytes)  // the raw bytes as a payload too
        }
        // Both paths were exercised: some mutants still decode, many are refused.
        #expect(decodedEnvelopes > 1000)
        #expect(frameErrors > 1000)
    }
}
