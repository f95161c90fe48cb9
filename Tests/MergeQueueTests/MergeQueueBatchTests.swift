import GasTownTestKit
import Membership
import MergeQueue
import Testing

/// Batches, bisection, flaky retries and speculation.
@Suite struct MergeQueueBatchTests {
    @Test func cleanRequestsLandInBatchesOfNWithOneCompareAndSwapEach() {
        let requests = (0..<10).map { MQ.request($0, at: 0) }
        var queue = MergeQueue.Queue(
            settings: MQ.settings(batch: 4, depth: 0), tip: "t0", requests: requests, now: .zero)
        var directives = queue.start(now: .zero)
        var tip: MergeQueue.Commit = "t0"
        var batches: [[String]] = []
        var merged: [String] = []
        while let rebase = directives.rebases.first {
            batches.append(rebase.ids)
            #expect(rebase.onto == tip, "each batch is rebased on the tip the last one made")
            directives = queue.onRebased(rebase.candidate, rebase.clean, now: .zero)
            let gate = try! #require(directives.gates.first)
            #expect(gate.requests == rebase.ids && gate.commit == rebase.clean.commits.last && !gate.isRetry)
            directives = queue.onGateResult(gate.id, .passed, now: .zero)
            let push = try! #require(directives.pushes.first)
            #expect(push.expectedTip == tip && push.commit == gate.commit && push.requests == rebase.ids)
            directives = queue.onPushResult(push.commit, .pushed, now: .zero)
            #expect(directives.verdicts.allSatisfy { $0.outcome == .merged(commit: push.commit, flaky: false) })
            merged += directives.verdicts.map(\.request)
            #expect(directives.discarded == [rebase.candidate], "a landed candidate's scratch is released")
            tip = push.commit
        }
        #expect(batches.map(\.count) == [4, 4, 2])
        #expect(merged == requests.map(\.id), "in rank order")
        #expect(queue.isIdle && queue.tip == tip)
    }

    /// Random culprit sets in one batch: bisection finds exactly them, lands the rest, and stays within
    /// 1 + d(⌈log₂ n⌉ + r + 1) gate runs (one run of each batch that forms, ⌈log₂ n⌉ halvings and r retries per
    /// culprit, and at most d + 1 batches).
    @Test func bisectionFindsExactlyTheCulpritsWithinTheBound() {
        var worst = 0.0
        for seed in UInt64(0)..<400 {
            var rng = Membership.Random(seed: seed)
            let n = 1 + Int(seed % 8)
            var world = MergeQueueSimulator.World()
            world.arrivals = (0..<n).map { MQ.request($0, at: 0) }
            let rate = [0.1, 0.3, 0.6, 1.0][Int(seed / 8 % 4)]
            for request in world.arrivals where rng.unit() < rate { world.culprits.insert(request.id) }
            for retries in [1, 2] {
                var sim = MergeQueueSimulator(settings: MQ.settings(batch: 8, depth: 0, retries: retries), world: world)
                let finished = sim.run()
                #expect(finished, "seed \(seed)")
                let reworked = sim.finished { if case .rework = $0 { true } else { false } }
                #expect(reworked == world.culprits, "seed \(seed) n \(n)")
                #expect(sim.merged == Set(world.arrivals.map(\.id)).subtracting(world.culprits), "seed \(seed)")
                #expect(sim.endViolations().isEmpty, "seed \(seed): \(sim.endViolations())")
                let d = world.culprits.count
                let log2n = n <= 1 ? 0 : Int.bitWidth - (n - 1).leadingZeroBitCount  // ⌈log₂ n⌉
                let bound = 1 + d * (log2n + retries + 1)
                #expect(sim.gateRuns <= bound, "seed \(seed): n \(n), d \(d), \(sim.gateRuns) runs > bound \(bound)")
                worst = max(worst, Double(sim.gateRuns) / Double(bound))
            }
        }
        #expect(worst > 0.8, "the bound is close to tight somewhere (worst ratio \(worst))")
    }

    @Test func culpritsAreExactWithSpeculationAndParallelGatesToo() {
        for seed in UInt64(0)..<120 {
            let world = MQ.world(count: 6 + Int(seed % 10), failRate: 0.3, seed: seed, spread: 900)
            for (depth, concurrency) in [(1, 1), (1, 2), (2, 3), (0, 2)] {
                let settings = MQ.settings(batch: 4, depth: depth, concurrency: concurrency)
                var sim = MergeQueueSimulator(settings: settings, world: world)
                let finished = sim.run()
                #expect(finished, "seed \(seed)")
                let reworked = sim.finished { if case .rework = $0 { true } else { false } }
                #expect(reworked == world.culprits, "seed \(seed) D\(depth) c\(concurrency)")
                #expect(sim.endViolations().isEmpty, "seed \(seed) D\(depth) c\(concurrency): \(sim.endViolations())")
            }
        }
    }

    @Test func aFlakeIsRetriedOnTheSameInputAndRecorded() {
        var world = MergeQueueSimulator.World()
        world.arrivals = [MQ.request(0)]
        world.flakyRuns = [1]
        var sim = MergeQueueSimulator(settings: MQ.settings(), world: world)
        var finished = sim.run()
        #expect(finished)
        #expect(sim.ledger[MQ.name(0)] == .finished(.merged(commit: sim.remote, flaky: true)))
        let gates = sim.log.compactMap { if case .gate(let g) = $0.directive { g } else { nil } }
        #expect(gates.count == 2 && gates[0].commit == gates[1].commit && !gates[0].isRetry && gates[1].isRetry)
        #expect(sim.flakes.map(\.requests) == [[MQ.name(0)]] && sim.flakes[0].output == "flake in run 1")

        // A batch whose first run flakes: bisected, and the last piece's retry (the whole batch again) passes.
        world.arrivals = (0..<4).map { MQ.request($0) }
        sim = MergeQueueSimulator(settings: MQ.settings(depth: 0), world: world)
        finished = sim.run()
        #expect(finished)
        #expect(sim.merged.count == 4 && sim.gateRuns == 4 && sim.flakes.count == 1)
        let first = try! #require(sim.log.map(\.directive).gates.first)
        #expect(first.requests == world.arrivals.map(\.id))
        #expect(sim.flakes[0].commit == first.commit, "the retry ran the failed input: all four")
        #expect(sim.flakes[0].requests == [MQ.name(3)], "the three before it had landed meanwhile")

        // A flake in the middle of a bisection does not blame an innocent.
        world.culprits = [MQ.name(2)]
        world.flakyRuns = [2]
        sim = MergeQueueSimulator(settings: MQ.settings(depth: 0), world: world)
        finished = sim.run()
        #expect(finished)
        #expect(sim.finished { if case .rework = $0 { true } else { false } } == [MQ.name(2)])
        #expect(sim.merged == [MQ.name(0), MQ.name(1), MQ.name(3)] && sim.flakes.count == 1)

        // With no retries a flake sends the request back.
        world.arrivals = [MQ.request(0)]
        world.culprits = []
        world.flakyRuns = [1]
        sim = MergeQueueSimulator(settings: MQ.settings(retries: 0), world: world)
        finished = sim.run()
        #expect(finished)
        #expect(sim.ledger[MQ.name(0)] == .finished(.rework(output: "flake in run 1")))
    }

    /// While batch k's gate runs, k+1 is rebased on k and gated in the second slot; k fails, so k+1's gate is
    /// cancelled, its candidate discarded, and its requests rebuilt on a base without the culprit.
    @Test func speculativeBatchIsThrownAwayAndRebuiltWhenItsBaseFails() {
        var world = MergeQueueSimulator.World()
        world.arrivals = (0..<8).map { MQ.request($0, at: 0) }
        world.culprits = [MQ.name(1)]
        var sim = MergeQueueSimulator(settings: MQ.settings(batch: 4, depth: 1, concurrency: 2), world: world)
        let finished = sim.run()
        #expect(finished)
        let log = sim.log.map(\.directive)
        let head = try! #require(log.gates.first)
        #expect(head.requests == (0..<4).map(MQ.name))
        let speculative = try! #require(log.rebases.first { $0.ids.contains(MQ.name(4)) })
        #expect(speculative.ids == (4..<8).map(MQ.name) && speculative.onto == head.commit, "k+1 is built on k")
        let specGate = try! #require(log.gates.first { $0.requests.count == 8 })
        #expect(log.cancelled.contains(specGate.id), "its gate is cancelled when k fails")
        #expect(log.discarded.contains(speculative.candidate))
        let rebuilt = try! #require(
            log.rebases.first { $0.candidate > speculative.candidate && $0.ids.contains(MQ.name(4)) })
        #expect(!sim.content(of: rebuilt.onto).contains(MQ.name(1)), "rebuilt without the culprit")
        #expect(sim.merged == Set(world.arrivals.map(\.id)).subtracting([MQ.name(1)]))
        #expect(sim.cancelledGates >= 1 && sim.endViolations().isEmpty)
    }

    @Test func withoutAGateRequestsLandOnceRebased() {
        var settings = MQ.settings(batch: 3)
        settings.gateConfigured = false
        var world = MergeQueueSimulator.World()
        world.arrivals = (0..<7).map { MQ.request($0, at: Double($0)) }
        world.culprits = [MQ.name(3)]  // no gate, so nothing finds out
        var sim = MergeQueueSimulator(settings: settings, world: world)
        let finished = sim.run()
        #expect(finished)
        #expect(sim.gateRuns == 0 && sim.merged.count == 7 && sim.endViolations().isEmpty)
        #expect(sim.landed == (0..<7).map(MQ.name))
    }
}

extension MergeQueueSimulator {
    /// The commit a rebase made for its last request (its candidate's tip).
    func queueCommit(after rebase: MergeQueue.Rebase) -> MergeQueue.Commit? {
        log.compactMap { entry -> MergeQueue.Commit? in
            if case .gate(let gate) = entry.directive, gate.requests == rebase.ids { gate.commit } else { nil }
        }.first
    }
}
