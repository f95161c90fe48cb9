extension MergeQueue {
    /// Every knob of the merge queue, with its default. One value per rig's Refinery.
    ///
    /// Sendable: plain value.
    public struct Settings: Hashable, Sendable {
        /// Most requests rebased and gated together as one batch. Default 4.
        public var batchSize: Int = 4
        /// Batches built (rebased) on top of the batch at the head of the train, before it lands: while batch k is
        /// gated, batch k+1 is rebased onto k's result, and gated too when a gate slot is free. A batch built on a
        /// base that fails is thrown away and its requests go back to the queue. Default 1.
        public var speculationDepth: Int = 1
        /// Gate runs at once. With 1, speculative batches are rebased ahead but gated one after another; with more,
        /// the speculative batch (or the next bisection step) is gated at the same time. Default 1.
        public var gateConcurrency: Int = 1
        /// How many times a failing input is run again before its request is sent back. A retry that passes marks
        /// the gate flaky and the request lands. Default 1.
        public var flakyRetries: Int = 1
        /// False when the rig has no gate command: requests land once rebased. Default true.
        public var gateConfigured: Bool = true
        /// How requests are ranked.
        public var ordering: Ordering = Ordering()

        /// Makes settings with the defaults.
        public init() {}

        /// The settings with each count raised to its minimum (batch size and gate concurrency 1, others 0).
        var normalized: Settings {
            var s = self
            s.batchSize = max(1, batchSize)
            s.speculationDepth = max(0, speculationDepth)
            s.gateConcurrency = max(1, gateConcurrency)
            s.flakyRetries = max(0, flakyRetries)
            return s
        }
    }

    /// The ranking of requests: Gas Town's merge-request score (steveyegge/gastown, internal/refinery/score.go,
    /// `ScoreMR`), with its default weights, plus a band within which fewer overlaps go first.
    ///
    /// ```
    /// score = priorityWeight × (4 − priority)                                  P0 +400 … P4 +0
    ///       + agePerHour × hours since filed                                   1 point an hour
    ///       + convoyAgePerHour × hours since its convoy was created            10 points an hour
    ///       − min(retryPenalty × retries, maxRetryPenalty)                     −50 a retry, at most −300
    /// band  = ⌊score / conflictBand⌋
    /// order: band (high first), then overlaps with other work (few first), then score (high first), then
    ///        filing time, then ID
    /// ```
    ///
    /// Age raises every request at the same rate, so a request is never passed by one filed more than
    /// ``passingBound`` after it: nothing starves. Sendable: plain value.
    public struct Ordering: Hashable, Sendable {
        /// Points per priority level. Default 100.
        public var priorityWeight: Double = 100
        /// Points per hour since the request was filed (the age boost). Default 1.
        public var agePerHour: Double = 1
        /// Points per hour since the bead's convoy was created. Default 10.
        public var convoyAgePerHour: Double = 10
        /// Points lost per retry. Default 50.
        public var retryPenalty: Double = 50
        /// Most points lost to retries. Default 300.
        public var maxRetryPenalty: Double = 300
        /// Width of the band of scores counted as equal for the overlap preference: within a band, the request
        /// that overlaps fewer others goes first. 0 turns the preference off. Default 100 (one priority level).
        public var conflictBand: Double = 100

        /// Makes the default ordering.
        public init() {}

        /// The score of `request` at `now` (higher goes first).
        public func score(_ request: Request, now: Instant) -> Double {
            let priority = (0...4).contains(request.priority) ? request.priority : 4
            var score = priorityWeight * Double(4 - priority)
            let age = (now - request.enqueuedAt).hours
            if age > 0 { score += agePerHour * age }
            if let convoy = request.convoyCreatedAt {
                let convoyAge = (now - convoy).hours
                if convoyAge > 0 { score += convoyAgePerHour * convoyAge }
            }
            score -= min(retryPenalty * Double(max(0, request.retries)), maxRetryPenalty)
            return score
        }

        /// The band of a score: requests in one band are equals for the overlap preference.
        public func band(_ score: Double) -> Double {
            conflictBand > 0 ? (score / conflictBand).rounded(.down) : 0
        }

        /// A request filed more than this after another, with no convoy and no blocks, never goes before it:
        /// `(4 × priorityWeight + maxRetryPenalty + conflictBand) / agePerHour` hours (800 h with the defaults);
        /// nil when age counts for nothing.
        public var passingBound: Duration? {
            guard agePerHour > 0 else { return nil }
            let hours = (4 * priorityWeight + maxRetryPenalty + max(0, conflictBand)) / agePerHour
            return .nanoseconds(Int64(hours * 3600 * 1e9))
        }
    }
}
