extension Membership {
    /// A small, fast, seedable pseudo-random generator (xoshiro256**, seeded through SplitMix64).
    ///
    /// The instance owns one, so a run is reproducible from its seed. Not for cryptography.
    /// Sendable: plain value.
    public struct Random: RandomNumberGenerator, Sendable, Hashable {
        private var s0: UInt64
        private var s1: UInt64
        private var s2: UInt64
        private var s3: UInt64

        /// Seeds the generator; equal seeds give equal sequences.
        public init(seed: UInt64) {
            var x = seed
            func splitMix() -> UInt64 {
                x &+= 0x9E37_79B9_7F4A_7C15
                var z = x
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                return z ^ (z >> 31)
            }
            s0 = splitMix()
            s1 = splitMix()
            s2 = splitMix()
            s3 = splitMix()
        }

        /// The next 64 random bits.
        public mutating func next() -> UInt64 {
            let result = rotl(s1 &* 5, 7) &* 9
            let t = s1 << 17
            s2 ^= s0
            s3 ^= s1
            s1 ^= s2
            s0 ^= s3
            s2 ^= t
            s3 = rotl(s3, 45)
            return result
        }

        private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

        /// A uniform double in [0, 1).
        public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
    }
}
