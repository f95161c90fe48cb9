import GasTownTestKit
import MergeQueue
import Testing

/// Conflicts, stale epochs, withdrawals, operator actions, and the target moving under the queue.
@Suite struct MergeQueueEventTests {
    @Test func aConflictAgainstTheTargetIsReturnedWithItsFiles() {
        var world = MergeQueueSimulator.World()
        world.arrivals = [
            MQ.request(0, at: 0, files: ["a.swift", "b.swift"]), MQ.request(1, at: 1, files: ["b.swift", "c.swift"]),
        ]
        var sim = MergeQueueSimulator(settings: MQ.settings(batch: 1, depth: 0), world: world)
        let finished = sim.run()
        #expect(finished)
        #expect(sim.merged == [MQ.name(0)])
        #expect(sim.ledger[MQ.name(1)] == .finished(.conflict(files: ["b.swift"])))
        #expect(sim.overlaps.isEmpty, "the overlap was reported, and cleared once both were decided")
        let reported = sim.log.map(\.directive).overlapReports
        #expect(
            reported.first == [.init(first: .request(MQ.name(0)), second: .request(MQ.name(1)), files: ["b.swift"])])
    }

    @Test func aConflictBehindUnlandedRequestsWaitsForThem() {
        // 1 conflicts with 0 in the same batch: decided once 0 lands.
        var world = MergeQueueSimulator.World()
        world.arrivals = [MQ.request(0, files: ["x"]), MQ.request(1, files: ["x"]), MQ.request(2, files: ["y"])]
        var sim = MergeQueueSimulator(settings: MQ.settings(), world: world)
        var finished = sim.run()
        #expect(finished)
        #expect(sim.merged == [MQ.name(0), MQ.name(2)])
        #expect(sim.ledger[MQ.name(1)] == .finished(.conflict(files: ["x"])))
        let conflictAt = sim.finishedAt[MQ.name(1)]!
        #expect(conflictAt >= sim.landedAt[MQ.name(0)]!, "not before what it conflicts with landed")

        // If 0 fails its gate, 1 did not really conflict with the target: it is tried again and lands.
        world.culprits = [MQ.name(0)]
        sim = MergeQueueSimulator(settings: MQ.settings(), world: world)
        finished = sim.run()
        #expect(finished)
        #expect(sim.ledger[MQ.name(0)] == .finished(.rework(output: "broken by \(MQ.name(0))")))
        #expect(sim.merged == [MQ.name(1), MQ.name(2)])
        #expect(sim.endViolations().isEmpty)
    }

    @Test func anUnreadableBranchIsRejectedAndTheRestGoOn() {
        var world = MergeQueueSimulator.World()
        world.arrivals = (0..<4).map { MQ.request($0) }
        world.unavailable = [MQ.name(1)]
        var sim = MergeQueueSimulator(settings: MQ.settings(), world: world)
        let finished = sim.run()
        #expect(finished)
        #expect(sim.ledger[MQ.name(1)] == .finished(.rejected(.unavailable("no branch \(MQ.name(1))"))))
        #expect(sim.merged == [MQ.name(0), MQ.name(2), MQ.name(3)] && sim.gateRuns == 1, "topped up, one gate")
    }

    @Test func aStaleEpochIsRefusedWithAReason() {
        var queue = MergeQueue.Queue(
            tip: "t", requests: [MQ.request(0, epoch: 1, beadEpoch: 2), MQ.request(1)], now: .zero)
        let directives = queue.start(now: .zero)
        let verdict = try! #require(directives.verdicts.first)
        #expect(verdict.request == MQ.name(0) && verdict.outcome == .rejected(.staleEpoch(filed: 1, current: 2)))
        #expect(MergeQueue.Rejection.staleEpoch(filed: 1, current: 2).description.contains("filed at epoch 1"))
        #expect(directives.rebases.map(\.ids) == [[MQ.name(1)]])

        // The bead's epoch moving while its request is gated: refused, the gate cancelled, the others re-gated.
        var world = MergeQueueSimulator.World()
        world.arrivals = (0..<3).map { MQ.request($0) }
        world.epochChanges = [(at: MQ.at(100), bead: MQ.bead(1), epoch: 2)]
        var sim = MergeQueueSimulator(settings: MQ.settings(), world: world)
        let finished = sim.run()
        #expect(finished)
        #expect(sim.ledger[MQ.name(1)] == .finished(.rejected(.staleEpoch(filed: 1, current: 2))))
        #expect(sim.merged == [MQ.name(0), MQ.name(2)] && sim.cancelledGates == 1 && sim.endViolations().isEmpty)
    }

    /// What is decided before `start` (a stale request at `init` or filed, events that step the queue such as the
    /// working branches the shell reports first) waits for `start`: no verdict is lost.
    @Test func eventsBeforeStartKeepTheirVerdictsForStart() {
        var queue = MergeQueue.Queue(
            tip: "t", requests: [MQ.request(0, epoch: 1, beadEpoch: 2), MQ.request(1)], now: .zero)
        let early = queue.onWorkingBranches(
            [MergeQueue.WorkingBranch(name: "polecat/n/x/bd-9/e1", files: ["a.swift"])], now: MQ.at(1))
        let filed = queue.onRequestAdded(MQ.request(2, epoch: 3, beadEpoch: 4), now: MQ.at(2))
        #expect(early.isEmpty && filed.isEmpty, "nothing is handed out before start")
        let directives = queue.start(now: MQ.at(3))
        #expect(
            directives.verdicts.map(\.request) == [MQ.name(0), MQ.name(2)]
                && directives.verdicts.allSatisfy {
                    if case .rejected(.staleEpoch) = $0.outcome { true } else { false }
                }, "\(directives)")
        #expect(directives.rebases.map(\.ids) == [[MQ.name(1)]])
    }

    @Test func anEpochMovingDuringAPushIsDecidedByThePush() {
        func pushing() -> (MergeQueue.Queue, MergeQueue.Push) {
            var queue = MergeQueue.Queue(
                settings: MQ.settings(depth: 0), tip: "t",
                requests: [MQ.request(0), MQ.request(1)], now: .zero)
            let rebase = queue.start(now: .zero).rebases[0]
            let gate = queue.onRebased(rebase.candidate, rebase.clean, now: .zero).gates[0]
            let push = queue.onGateResult(gate.id, .passed, now: .zero).pushes[0]
            return (queue, push)
        }
        // The landing was recorded and pushed before the takeover: it stands.
        var (queue, push) = pushing()
        #expect(queue.onBeadEpoch(MQ.bead(1), epoch: 2, now: .zero).verdicts.isEmpty, "held until the push ends")
        var after = queue.onPushResult(push.commit, .pushed, now: .zero)
        #expect(after.verdicts.map(\.request) == [MQ.name(0), MQ.name(1)] && after.verdicts.allSatisfy(\.isMerged))
        // Recording the landing was refused: the stale request leaves, the rest is gated again without it.
        (queue, push) = pushing()
        _ = queue.onBeadEpoch(MQ.bead(1), epoch: 2, now: .zero)
        after = queue.onPushResult(push.commit, .aborted, now: .zero)
        #expect(
            after.verdicts == [
                .init(request: MQ.name(1), bead: MQ.bead(1), outcome: .rejected(.staleEpoch(filed: 1, current: 2)))
            ])
        #expect(after.gates.map(\.requests) == [[MQ.name(0)]] && after.pushes.isEmpty)
        // A new head filed while the old one is being pushed waits for the push too.
        (queue, push) = pushing()
        var refiled = MQ.request(1)
        refiled.head = "h1-new"
        #expect(queue.onRequestAdded(refiled, now: .zero).isEmpty)
        after = queue.onPushResult(push.commit, .pushed, now: .zero)
        #expect(after.verdicts.count == 2 && after.verdicts.allSatisfy(\.isMerged) && after.rebases.isEmpty)
        #expect(queue.request(MQ.name(1))?.head == "h1", "the landed input stands")
    }

    @Test func withdrawnRejectedAndRetriedRequests() {
        var world = MergeQueueSimulator.World()
        world.arrivals = (0..<4).map { MQ.request($0) }
        world.removals = [(at: MQ.at(60), request: MQ.name(2))]
        var sim = MergeQueueSimulator(settings: MQ.settings(), world: world)
        let finished = sim.run()
        #expect(finished)
        #expect(sim.merged == [MQ.name(0), MQ.name(1), MQ.name(3)] && sim.endViolations().isEmpty)
        #expect(sim.queue.status(of: MQ.name(2)) == nil, "forgotten without a verdict")

        var queue = MergeQueue.Queue(settings: MQ.settings(batch: 1), tip: "t", requests: [MQ.request(0)], now: .zero)
        let rebase = queue.start(now: .zero).rebases[0]
        let rejected = queue.onRequestRejected(MQ.name(0), reason: "not wanted", now: .zero)
        #expect(rejected.verdicts.map(\.outcome) == [.rejected(.byOperator("not wanted"))])
        #expect(rejected.discarded == [rebase.candidate])
        #expect(queue.onRebased(rebase.candidate, rebase.clean, now: .zero).gates.isEmpty, "a late result is ignored")
        let retried = queue.onRequestRetried(MQ.name(0), head: "h0-fixed", now: MQ.at(1))
        #expect(retried.rebases.map { $0.requests.map(\.head) } == [["h0-fixed"]])
        #expect(queue.request(MQ.name(0))?.retries == 1)
        #expect(queue.onRequestRetried("mr-unknown", now: MQ.at(1)).isEmpty)
    }

    @Test func theTargetMovingRebuildsEverythingAndAPushRacingItIsRejected() {
        var world = MergeQueueSimulator.World()
        world.arrivals = (0..<8).map { MQ.request($0, files: ["f\($0)"]) }
        // One during the first gate (rebuilt at 300 s: rebased by 320 s, gated until 920 s), one between that
        // batch's landing record (920 s) and its compare-and-swap (925 s).
        world.externalPushes = [(at: MQ.at(300), files: ["other"]), (at: MQ.at(922), files: ["other2"])]
        var sim = MergeQueueSimulator(settings: MQ.settings(batch: 4, depth: 0), world: world)
        let finished = sim.run()
        #expect(finished)
        #expect(sim.endViolations().isEmpty, "\(sim.endViolations())")
        #expect(sim.merged.count == 8 && sim.content(of: sim.remote).filter { $0.hasPrefix("external-") }.count == 2)
        let rejectedPushes = sim.log.map(\.directive).pushes.count - Set(sim.landedAt.values).count
        #expect(rejectedPushes >= 1, "a push raced the external one and lost, then was rebuilt")
    }
}
