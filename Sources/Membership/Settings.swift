extension Membership {
    /// Every interval and limit of the membership protocol, with HashiCorp memberlist's LAN defaults
    /// (the values serf uses), which DESIGN §5 adopts.
    ///
    /// Sendable: plain value.
    public struct Settings: Hashable, Sendable {
        /// Time between two probes of this node (before the local health multiplier). Default 1 s.
        public var probeInterval: Duration = .seconds(1)
        /// How long to wait for a direct ack before asking others to probe indirectly (before the local
        /// health multiplier). Default 500 ms.
        public var probeTimeout: Duration = .milliseconds(500)
        /// Members asked to probe a target indirectly (ping-req) after a missed direct ack. Default 3.
        public var indirectChecks: Int = 3
        /// An intermediary sends a nack when the target has not acked within this fraction of the probe
        /// timeout (Lifeguard). Default 0.8.
        public var nackTimeoutRatio: Double = 0.8
        /// Suspicion multiplier: the minimum suspicion timeout is
        /// `suspicionMultiplier × max(1, log10(n)) × probeInterval`. Default 4.
        public var suspicionMultiplier: Int = 4
        /// The maximum suspicion timeout is this times the minimum (Lifeguard's dogpile start). Default 6.
        public var suspicionMaxTimeoutMultiplier: Int = 6
        /// Local health multiplier cap: probe interval and timeout are scaled by at most this. Default 8.
        public var awarenessMax: Int = 8
        /// Each gossip item is sent `retransmitMultiplier × ceil(log10(n + 1))` times. Default 4.
        public var retransmitMultiplier: Int = 4
        /// Time between gossip rounds (sent only while there is something to gossip). Default 200 ms.
        public var gossipInterval: Duration = .milliseconds(200)
        /// Members gossiped to per round. Default 3.
        public var gossipFanout: Int = 3
        /// Time between full state exchanges with one random member. Default 30 s.
        public var pushPullInterval: Duration = .seconds(30)
        /// Above this many members the push-pull interval grows with log2(n / threshold). Default 32.
        public var pushPullScaleThreshold: Int = 32
        /// Time between attempts to reach one random failed member (or the seeds, when alone), which is
        /// how views merge after a partition heals. Default 30 s (serf's reconnect interval).
        public var reconnectInterval: Duration = .seconds(30)
        /// Failed members are forgotten (and no longer reconnected to) after this long. Default 24 h.
        public var reconnectTimeout: Duration = .seconds(24 * 3600)
        /// Members that left are forgotten after this long. Default 24 h.
        public var leftRetention: Duration = .seconds(24 * 3600)
        /// A node gossips its own metadata at most once per this interval. Default 2 s.
        public var metadataMinInterval: Duration = .seconds(2)
        /// Largest encoded metadata a node may publish (a push-pull carries every member's). Default 4 KiB.
        public var maxMetadataBytes: Int = 4096
        /// How often failed and left members past their retention are forgotten. Default 60 s.
        public var reapInterval: Duration = .seconds(60)
        /// Largest encoded membership message (the membership frame is at most 64 KiB; this leaves room
        /// for the wire envelope). Push-pull state is truncated to fit. Default 63 KiB.
        public var maxMessageBytes: Int = 63 * 1024
        /// Budget of piggybacked gossip bytes per ping, ack or gossip message. Default 1400 (memberlist's
        /// UDP packet size, to keep traffic comparable).
        public var maxPiggybackBytes: Int = 1400
        /// Limits enforced while decoding messages.
        public var codecLimits: CodecLimits = CodecLimits()

        /// The defaults above.
        public init() {}

        /// Minimum suspicion timeout for a cluster of `n` members (memberlist's `suspicionTimeout`).
        public func minSuspicionTimeout(members n: Int) -> Duration {
            let scale = max(1.0, PureMath.log10(Double(max(1, n))))
            let ms =
                Double(suspicionMultiplier) * (scale * 1000).rounded(.down) * Double(probeInterval.nanoseconds)
                / 1e9
            return .milliseconds(Int64(ms.rounded(.down)))
        }

        /// Maximum suspicion timeout for a cluster of `n` members.
        public func maxSuspicionTimeout(members n: Int) -> Duration {
            minSuspicionTimeout(members: n) * suspicionMaxTimeoutMultiplier
        }

        /// How long a suspicion backed by a refused connection may last at most
        /// (`Instance.onConnectionRefused`): half the minimum suspicion timeout, but never less than two
        /// probe intervals, which leaves a live member whose listener merely restarted a probe round to
        /// hear of the suspicion and refute it. 2 s in clusters of up to 10 members, at the defaults.
        public func refusedSuspicionTimeout(members n: Int) -> Duration {
            let half = minSuspicionTimeout(members: n) / 2
            let floor = probeInterval * 2
            return half < floor ? floor : half
        }

        /// Independent confirmations that shrink a suspicion timeout to its minimum (`mult - 2`, or 0 in
        /// clusters too small to provide them).
        public func suspicionConfirmations(members n: Int) -> Int {
            let k = suspicionMultiplier - 2
            return n - 2 < k ? 0 : max(0, k)
        }

        /// Lifeguard's suspicion timeout after `confirmations` of `expected` independent confirmations:
        /// `max - (max - min) × log(c + 1) / log(k + 1)`, floored to ms, never below `min`.
        public func suspicionTimeout(confirmations c: Int, expected k: Int, min: Duration, max: Duration) -> Duration {
            if k < 1 { return min }
            // Rounded to 12 places: the ratio of two logs is exact in rational cases (log 3 / log 9 = 0.5) only up
            // to an ulp, and the floor to milliseconds below must not turn 17.5 s into 17.499 s.
            let frac = (PureMath.log(Double(c) + 1) / PureMath.log(Double(k) + 1) * 1e12).rounded() / 1e12
            let maxS = Double(max.nanoseconds) / 1e9
            let minS = Double(min.nanoseconds) / 1e9
            let raw = maxS - frac * (maxS - minS)
            let timeout = Duration.milliseconds(Int64((raw * 1000).rounded(.down)))
            return timeout < min ? min : timeout
        }

        /// How many times each gossip item is sent in a cluster of `n` members.
        public func retransmitLimit(members n: Int) -> Int {
            retransmitMultiplier * PureMath.ceilLog10(n + 1)
        }

        /// The push-pull interval for a cluster of `n` members (memberlist's `pushPullScale`).
        public func scaledPushPullInterval(members n: Int) -> Duration {
            if n <= pushPullScaleThreshold { return pushPullInterval }
            let mult = (PureMath.log2(Double(n)) - PureMath.log2(Double(pushPullScaleThreshold))).rounded(.up) + 1
            return pushPullInterval * Int(mult)
        }
    }

    /// Limits the decoder enforces before allocating, so hostile bytes cannot make it allocate much.
    ///
    /// Sendable: plain value.
    public struct CodecLimits: Hashable, Sendable {
        /// Longest string (name, address, label, rig...), bytes. Default 1024.
        public var maxStringBytes: Int = 1024
        /// Most gossip items in one message. Default 4096.
        public var maxGossipItems: Int = 4096
        /// Most members in one push-pull message. Default 4096.
        public var maxMembers: Int = 4096
        /// Most entries in one metadata list or label map. Default 256.
        public var maxListEntries: Int = 256
        /// Largest message accepted at all, bytes. Default 64 KiB (the membership frame limit).
        public var maxMessageBytes: Int = 64 * 1024

        /// The defaults above.
        public init() {}
    }
}
