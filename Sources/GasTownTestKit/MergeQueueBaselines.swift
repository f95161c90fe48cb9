import MergeQueue

/// The merge queues ours is measured against, simulated over the same ``MergeQueueSimulator/World`` (arrivals,
/// culprits, flaky runs, durations): a serial queue, and Gas Town's Refinery batch algorithm. Both run one thing at
/// a time, as their code does. They model no rebase conflicts (the benchmark's requests touch disjoint files).
///
/// Sendable: a namespace.
public enum MergeQueueBaselines {
    /// What a run of a queue came to. Sendable: plain value.
    public struct Outcome: Sendable {
        /// Gate runs started (for ours, cancelled speculative runs included).
        public var gateRuns: Int
        /// Simulated time from zero to the last verdict.
        public var wall: Duration
        /// When each landed request landed.
        public var landedAt: [MergeQueue.RequestID: MergeQueue.Instant]
        /// Requests landed, and requests sent back for rework.
        public var merged: Set<MergeQueue.RequestID>
        public var reworked: Set<MergeQueue.RequestID>
    }

    /// A serial queue: one request at a time in rank order, rebased, gated once, pushed if it passes.
    public static func serial(_ world: MergeQueueSimulator.World) -> Outcome {
        var run = Sequential(world: world)
        while let next = run.waitForWork(minimum: 1, fillWait: .zero) {
            let request = next[0]
            run.clock = run.clock + world.rebasePerRequest
            if run.gate([request]) { run.land([request]) } else { run.rework([request]) }
        }
        return run.outcome
    }

    /// Gas Town's Refinery as its code does it: steveyegge/gastown `internal/refinery/batch.go` (commit a8bd79bf8),
    /// `DefaultBatchConfig` (batches of up to 5 after a 30 s fill wait, one retry of the whole batch) and
    /// `ProcessBatch`: build the squash stack, gate it; on failure rebuild and retry once (a pass is a flake); then
    /// `bisectBatch`/`bisectRight` (each probe rebuilds its stack from the target and runs the gate), and a
    /// re-check of the good subset before pushing it. A batch of one goes through `processSingleMR` (one gate run,
    /// `RetryFlakyTests` = 1 attempt). The fill wait is applied as `BatchWaitTime`'s comment describes ("how long to
    /// wait for the batch to fill before processing"); Gas Town's engineer does not call `ProcessBatch` from its
    /// patrol yet, so this is the algorithm as written, not as deployed.
    public static func gasTown(
        _ world: MergeQueueSimulator.World, maxBatch: Int = 5, fillWait: Duration = .seconds(30)
    ) -> Outcome {
        var run = Sequential(world: world)
        while let batch = run.waitForWork(minimum: maxBatch, fillWait: fillWait).map({ Array($0.prefix(maxBatch)) }) {
            if batch.count == 1 {
                run.clock = run.clock + world.rebasePerRequest
                if run.gate(batch) { run.land(batch) } else { run.rework(batch) }
                continue
            }
            run.rebuild(batch)
            if run.gate(batch) {
                run.land(batch)
                continue
            }
            run.rebuild(batch)
            if run.gate(batch) {
                run.land(batch)
                continue
            }
            let (good, culprits) = run.bisectBatch(batch)
            run.rework(culprits)
            if !good.isEmpty {
                run.rebuild(good)
                if run.gate(good) { run.land(good) }  // else Gas Town aborts the batch: the good ones stay queued
            }
        }
        return run.outcome
    }

    /// One refinery doing one thing at a time, on a simulated clock.
    struct Sequential {
        let world: MergeQueueSimulator.World
        var clock: MergeQueue.Instant = .zero
        var arrivals: [MergeQueue.Request]
        var done: Set<MergeQueue.RequestID> = []
        var gateRuns = 0
        var landedAt: [MergeQueue.RequestID: MergeQueue.Instant] = [:]
        var merged: Set<MergeQueue.RequestID> = []
        var reworked: Set<MergeQueue.RequestID> = []
        var last: MergeQueue.Instant = .zero

        init(world: MergeQueueSimulator.World) {
            self.world = world
            arrivals = world.arrivals.sorted { ($0.enqueuedAt, $0.id) < ($1.enqueuedAt, $1.id) }
        }

        var outcome: Outcome {
            Outcome(
                gateRuns: gateRuns, wall: last - .zero, landedAt: landedAt, merged: merged, reworked: reworked)
        }

        /// The requests ready now, best first, once at least `minimum` are ready or `fillWait` has passed since
        /// the refinery found work; nil when every request is done.
        mutating func waitForWork(minimum: Int, fillWait: Duration) -> [MergeQueue.Request]? {
            let pending = arrivals.filter { !done.contains($0.id) }
            guard let first = pending.first else { return nil }
            if first.enqueuedAt > clock { clock = first.enqueuedAt }
            let start = clock
            let readyNow = pending.filter { $0.enqueuedAt <= start }.count
            if readyNow < minimum {
                let deadline = start + fillWait
                let later = pending.filter { $0.enqueuedAt > start && $0.enqueuedAt <= deadline }
                let needed = minimum - readyNow
                clock = later.count >= needed ? later[needed - 1].enqueuedAt : deadline
            }
            let ordering = MergeQueue.Ordering()
            let now = clock
            return pending.filter { $0.enqueuedAt <= now }.sorted {
                let (a, b) = (ordering.score($0, now: now), ordering.score($1, now: now))
                return a != b ? a > b : ($0.enqueuedAt, $0.id) < ($1.enqueuedAt, $1.id)
            }
        }

        /// Resets to the target and squash-merges each request again (`resetAndRebuildStack`).
        mutating func rebuild(_ requests: [MergeQueue.Request]) {
            clock = clock + world.rebasePerRequest * requests.count
        }

        /// Runs the gate once on the target plus `requests`.
        mutating func gate(_ requests: [MergeQueue.Request]) -> Bool {
            gateRuns += 1
            clock = clock + world.gateDuration
            if world.flakyRuns.contains(gateRuns) { return false }
            return !requests.contains { world.culprits.contains($0.id) }
        }

        mutating func land(_ requests: [MergeQueue.Request]) {
            clock = clock + world.pushDuration
            for request in requests {
                landedAt[request.id] = clock
                merged.insert(request.id)
                done.insert(request.id)
            }
            last = clock
        }

        mutating func rework(_ requests: [MergeQueue.Request]) {
            for request in requests {
                reworked.insert(request.id)
                done.insert(request.id)
            }
            last = clock
        }

        mutating func probe(_ requests: [MergeQueue.Request]) -> Bool {
            rebuild(requests)
            return gate(requests)
        }

        /// `bisectBatch` from batch.go, line by line.
        mutating func bisectBatch(
            _ batch: [MergeQueue.Request]
        ) -> (good: [MergeQueue.Request], culprits: [MergeQueue.Request]) {
            if batch.count <= 1 { return ([], batch) }
            let mid = batch.count / 2
            let left = Array(batch[..<mid])
            let right = Array(batch[mid...])
            if probe(left) {
                let (rightGood, rightCulprits) = bisectRight(left, right)
                return (left + rightGood, rightCulprits)
            }
            let (leftGood, leftCulprits) = bisectBatch(left)
            if !leftGood.isEmpty {
                if probe(leftGood + right) { return (leftGood + right, leftCulprits) }
                let (rightGood, rightCulprits) = bisectRight(leftGood, right)
                return (leftGood + rightGood, leftCulprits + rightCulprits)
            }
            if probe(right) { return (right, leftCulprits) }
            let (rightGood, rightCulprits) = bisectBatch(right)
            return (rightGood, leftCulprits + rightCulprits)
        }

        /// `bisectRight` from batch.go, line by line.
        mutating func bisectRight(
            _ knownGood: [MergeQueue.Request], _ right: [MergeQueue.Request]
        )
            -> (good: [MergeQueue.Request], culprits: [MergeQueue.Request])
        {
            if right.count <= 1 { return ([], right) }
            let mid = right.count / 2
            let rLeft = Array(right[..<mid])
            let rRight = Array(right[mid...])
            if probe(knownGood + rLeft) {
                let (good, culprits) = bisectRight(knownGood + rLeft, rRight)
                return (rLeft + good, culprits)
            }
            let (rLeftGood, rLeftCulprits) = bisectRight(knownGood, rLeft)
            if probe(knownGood + rLeftGood + rRight) { return (rLeftGood + rRight, rLeftCulprits) }
            let (rRightGood, rRightCulprits) = bisectRight(knownGood + rLeftGood, rRight)
            return (rLeftGood + rRightGood, rLeftCulprits + rRightCulprits)
        }
    }
}
