import GasTownTestKit
import Testing

@testable import Wire

@Suite struct FrameTests {
    @Test func roundTripAcrossArbitraryChunks() throws {
        var rng = SplitMix64(seed: 7)
        let payloads: [[UInt8]] = (0..<200).map { i in
            (0..<(i * 37 % 3000)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        }
        var stream: [UInt8] = []
        for payload in payloads { try FrameCodec.append(payload: payload, to: &stream) }
        var decoder = FrameDecoder()
        var received: [[UInt8]] = []
        var index = 0
        while index < stream.count {
            let chunk = Int.random(in: 1...700, using: &rng)
            let end = min(stream.count, index + chunk)
            decoder.feed(stream[index..<end])
            index = end
            while let frame = try decoder.next() { received.append(frame) }
        }
        #expect(received == payloads)
        #expect(!decoder.hasPartialFrame)
    }

    @Test func fourGiBPrefixIsRefusedBeforeAllocation() {
        var decoder = FrameDecoder()
        decoder.feed([0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: WireError.frameTooLarge(length: 0xFFFF_FFFF, limit: 16 * 1024 * 1024)) { try decoder.next() }
        // The decoder stays failed: the stream position is lost.
        decoder.feed([0, 0, 0, 0])
        #expect(throws: WireError.self) { try decoder.next() }
    }

    @Test func membershipLimitIs64KiB() throws {
        var decoder = FrameDecoder(limits: .membership)
        decoder.feed(try FrameCodec.encode(payload: [UInt8](repeating: 1, count: 65536), limits: .membership))
        #expect(try decoder.next()?.count == 65536)
        decoder.feed([0, 1, 0, 1])
        #expect(throws: WireError.frameTooLarge(length: 65537, limit: 65536)) { try decoder.next() }
        #expect(throws: WireError.self) {
            try FrameCodec.encode(payload: [UInt8](repeating: 0, count: 65537), limits: .membership)
        }
    }

    @Test func partialFrameWaitsForMoreBytes() throws {
        var decoder = FrameDecoder()
        decoder.feed([0, 0, 0, 5, 1, 2])
        #expect(try decoder.next() == nil)
        #expect(decoder.hasPartialFrame)
        decoder.feed([3, 4, 5])
        #expect(try decoder.next() == [1, 2, 3, 4, 5])
    }
}
