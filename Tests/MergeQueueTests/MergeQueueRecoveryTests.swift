import GasTownTestKit
import MergeQueue
import Testing

/// A queue rebuilt from the ledger and the target tip after a crash, at any step, loses no request and lands none
/// twice: the persistent facts decide, and work in flight is done again.
@Suite struct MergeQueueRecoveryTests {
    static let variants: [MergeQueue.Settings] = [
        MQ.settings(batch: 4, depth: 0, concurrency: 1), MQ.settings(batch: 4, depth: 1, concurrency: 2),
        MQ.settings(batch: 3, depth: 2, concurrency: 3),
    ]

    @Test func crashAtEveryStepOfRandomRuns() {
        var runs = 0
        for seed in UInt64(0)..<10 {
            let world = MQ.world(count: 8, failRate: 0.25, seed: seed, spread: 900)
            let expected = Set(world.arrivals.map(\.id)).subtracting(world.culprits)
            for settings in Self.variants {
                var clean = MergeQueueSimulator(settings: settings, world: world)
                let finished = clean.run()
                #expect(finished)
                let steps = clean.steps
                var crashes: [Set<Int>] = (0..<steps).map { [$0] }
                crashes += stride(from: 0, to: steps, by: 3).map { [$0, $0 + 1, $0 + 4] }
                for crashAt in crashes {
                    var sim = MergeQueueSimulator(settings: settings, world: world)
                    let done = sim.run(crashAt: crashAt)
                    runs += 1
                    let label =
                        "seed \(seed) D\(settings.speculationDepth) c\(settings.gateConcurrency) crash \(crashAt.sorted())"
                    #expect(done, "\(label): not finished, ledger \(sim.ledger)")
                    #expect(sim.endViolations().isEmpty, "\(label): \(sim.endViolations())")
                    #expect(sim.merged == expected, "\(label)")
                }
            }
        }
        #expect(runs > 1_000)
    }

    /// The same with everything that can go wrong at once: conflicts, flakes, takeovers, withdrawals and someone
    /// else pushing. The merged set then depends on timing; what must hold is that nothing is lost or doubled.
    @Test func crashAtEveryStepOfRoughRuns() {
        for seed in UInt64(100)..<106 {
            var world = MQ.world(count: 9, failRate: 0.2, seed: seed, spread: 1200)
            for i in world.arrivals.indices where i % 3 == 0 { world.arrivals[i].files = ["shared.swift"] }
            world.flakyRuns = [2, 5, 9]
            world.epochChanges = [(at: MQ.at(700), bead: world.arrivals[4].bead, epoch: 2)]
            world.removals = [(at: MQ.at(1500), request: world.arrivals[7].id)]
            world.externalPushes = [(at: MQ.at(1000), files: ["elsewhere.swift"])]
            for settings in Self.variants {
                var clean = MergeQueueSimulator(settings: settings, world: world)
                let finished = clean.run()
                #expect(finished)
                for k in 0..<clean.steps {
                    var sim = MergeQueueSimulator(settings: settings, world: world)
                    let done = sim.run(crashAt: [k])
                    #expect(done && sim.endViolations().isEmpty, "seed \(seed) crash \(k): \(sim.endViolations())")
                }
            }
        }
    }

    @Test func landingRecordedButNotPushedIsDoneAgain() {
        var sim = Self.world()
        let commit = try! #require(sim.step { $0.landingRecorded })
        #expect(sim.landed.isEmpty, "crash before the compare-and-swap")
        sim.crash()
        let after = sim.log.count
        #expect(sim.log.map(\.directive).checks == [commit])
        let finished = sim.run()
        #expect(finished)
        #expect(sim.endViolations().isEmpty && sim.merged.count == 4 && sim.landed.count == 4)
        #expect(sim.log[after...].map(\.directive).rebases.count >= 1, "the batch was rebuilt")
    }

    @Test func pushedButNotReportedIsMergedWithoutRebasingAgain() {
        var sim = Self.world()
        let commit = try! #require(sim.step { !$0.landed.isEmpty ? $0.landingRecorded : nil })
        sim.crash()
        let after = sim.log.count
        #expect(sim.log.map(\.directive).checks == [commit])
        let finished = sim.run()
        #expect(finished)
        let later = sim.log[after...].map(\.directive)
        #expect(later.rebases.isEmpty && later.gates.isEmpty && later.verdicts.count == 4)
        #expect(later.verdicts.allSatisfy { $0.outcome == .merged(commit: commit, flaky: false) })
        #expect(sim.endViolations().isEmpty)
    }

    @Test func aRecordedLandingIsCheckedBeforeAnythingElseHappensToIt() {
        for landed in [true, false] {
            var request = MQ.request(0)
            request.landing = "c1"
            var queue = MergeQueue.Queue(tip: "c1", requests: [request, MQ.request(1)], now: .zero)
            #expect(queue.status(of: MQ.name(0)) == .checkingLanding("c1"))
            let start = queue.start(now: .zero)
            #expect(start.checks == ["c1"] && start.rebases.map(\.ids) == [[MQ.name(1)]])
            #expect(queue.onBeadEpoch(MQ.bead(0), epoch: 2, now: .zero).verdicts.isEmpty, "held until the check")
            #expect(queue.onRequestRejected(MQ.name(0), reason: "no", now: .zero).verdicts.isEmpty)
            let answer = queue.onLandedCheck("c1", landed: landed, now: .zero).verdicts
            let expected: MergeQueue.Verdict.Outcome =
                landed ? .merged(commit: "c1", flaky: false) : .rejected(.staleEpoch(filed: 1, current: 2))
            #expect(answer.map(\.outcome) == [expected], "landed \(landed)")
        }
    }

    static func world() -> MergeQueueSimulator {
        var world = MergeQueueSimulator.World()
        world.arrivals = (0..<4).map { MQ.request($0) }
        return MergeQueueSimulator(settings: MQ.settings(), world: world)
    }
}

extension MergeQueueSimulator {
    /// The commit some request is recorded as landing in, if any.
    var landingRecorded: MergeQueue.Commit? {
        ledger.values.compactMap { if case .landing(let commit) = $0 { commit } else { nil } }.first
    }

    /// Runs one event at a time until `found` returns a value.
    mutating func step<T>(until found: (MergeQueueSimulator) -> T?) -> T? {
        for _ in 0..<100_000 {
            if let value = found(self) { return value }
            if isDone { return nil }
            run(maxSteps: 1)
        }
        return nil
    }
}
