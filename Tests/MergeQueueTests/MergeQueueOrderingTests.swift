import GasTownTestKit
import Membership
import MergeQueue
import Testing

/// Ranking: Gas Town's score, aging, blocks, and the overlap preference.
@Suite struct MergeQueueOrderingTests {
    @Test func scoreIsGasTownsFormula() {
        let ordering = MergeQueue.Ordering()
        let hour = 3600.0
        var request = MQ.request(1, priority: 1, at: 0)
        request.retries = 2
        request.convoyCreatedAt = MQ.at(-hour)
        // 100 × (4 − 1) + 1 × 2 h + 10 × 3 h − 50 × 2
        #expect(ordering.score(request, now: MQ.at(2 * hour)) == 300 + 2 + 30 - 100)
        request.retries = 9
        #expect(ordering.score(request, now: MQ.at(2 * hour)) == 300 + 2 + 30 - 300, "the retry penalty is capped")
        for priority in [-1, 5, 99] {
            #expect(ordering.score(MQ.request(1, priority: priority), now: .zero) == 0, "out of range counts as P4")
        }
        #expect(ordering.score(MQ.request(1, priority: 0, at: 100), now: MQ.at(0)) == 400, "no negative age")
        #expect(ordering.passingBound == .seconds(800 * 3600))
    }

    @Test func priorityFirstThenAgeAndAgeEventuallyWins() {
        let hour = 3600.0
        let requests = [
            MQ.request(1, priority: 2, at: 10), MQ.request(2, priority: 0, at: 20), MQ.request(3, priority: 2, at: 5),
            MQ.request(4, priority: 4, at: 0),
        ]
        let queue = MergeQueue.Queue(tip: "t", requests: requests, now: MQ.at(60))
        #expect(queue.order == [MQ.name(2), MQ.name(3), MQ.name(1), MQ.name(4)])
        // After 450 hours the P4 filed first has gained 450 points: more than the 400 between P4 and P0, plus the
        // 100-point band.
        let later = MergeQueue.Queue(
            tip: "t", requests: requests + [MQ.request(5, priority: 0, at: 450 * hour + 60)],
            now: MQ.at(450 * hour + 60))
        #expect(later.order.first == MQ.name(2))
        #expect(later.order.firstIndex(of: MQ.name(4))! < later.order.firstIndex(of: MQ.name(5))!)
    }

    @Test func fewerOverlapsGoFirstAmongEquals() {
        let requests = [
            MQ.request(1, at: 0, files: ["a.swift", "b.swift"]), MQ.request(2, at: 1, files: ["a.swift"]),
            MQ.request(3, at: 2, files: ["b.swift", "c.swift"]), MQ.request(4, at: 3, files: ["d.swift"]),
            MQ.request(5, priority: 1, at: 4, files: ["a.swift"]),
        ]
        var queue = MergeQueue.Queue(tip: "t", requests: requests, now: MQ.at(10))
        // Counts: 1 overlaps 2, 3, 5 (3); 2 overlaps 1, 5 (2); 3 overlaps 1 (1); 4 none; 5 is a priority above them.
        #expect(queue.order == [MQ.name(5), MQ.name(4), MQ.name(3), MQ.name(2), MQ.name(1)])
        var settings = MQ.settings()
        settings.ordering.conflictBand = 0
        let plain = MergeQueue.Queue(settings: settings, tip: "t", requests: requests, now: MQ.at(10))
        #expect(plain.order == [MQ.name(5), MQ.name(1), MQ.name(2), MQ.name(3), MQ.name(4)], "preference off: age")
        // Two working branches touch d.swift: 4 now overlaps two items, as 2 does (which is older).
        let branches = [
            MergeQueue.WorkingBranch(name: "polecat/x", files: ["d.swift"]),
            MergeQueue.WorkingBranch(name: "polecat/y", files: ["d.swift", "e.swift"]),
        ]
        #expect(queue.onWorkingBranches(branches, now: MQ.at(10)).overlapReports.isEmpty, "not started yet")
        #expect(queue.order == [MQ.name(5), MQ.name(3), MQ.name(2), MQ.name(4), MQ.name(1)])
        let d = ["d.swift"]
        #expect(
            queue.overlaps == [
                .init(first: .request(MQ.name(1)), second: .request(MQ.name(2)), files: ["a.swift"]),
                .init(first: .request(MQ.name(1)), second: .request(MQ.name(3)), files: ["b.swift"]),
                .init(first: .request(MQ.name(1)), second: .request(MQ.name(5)), files: ["a.swift"]),
                .init(first: .request(MQ.name(2)), second: .request(MQ.name(5)), files: ["a.swift"]),
                .init(first: .request(MQ.name(4)), second: .branch("polecat/x"), files: d),
                .init(first: .request(MQ.name(4)), second: .branch("polecat/y"), files: d),
                .init(first: .branch("polecat/x"), second: .branch("polecat/y"), files: d),
            ])
        let started = queue.start(now: MQ.at(10))
        #expect(started.overlapReports == [queue.overlaps], "reported once the queue runs")
        #expect(started.rebases.first?.ids == [MQ.name(5), MQ.name(3), MQ.name(2), MQ.name(4)])
        let later = queue.onWorkingBranches([], now: MQ.at(11)).overlapReports
        #expect(later.count == 1 && later[0].count == 4, "a change is reported with the whole new set")
    }

    @Test func blockedRequestWaitsForItsBlockerAndMayRideBehindIt() {
        // 2 is blocked by 1's bead; 3 by a bead with no request at all.
        let requests = [
            MQ.request(2, priority: 0, at: 0, blockedBy: [MQ.bead(1)]), MQ.request(1, priority: 3, at: 5),
            MQ.request(3, priority: 0, at: 0, blockedBy: ["bd-elsewhere"]),
        ]
        var queue = MergeQueue.Queue(settings: MQ.settings(batch: 4), tip: "t", requests: requests, now: MQ.at(10))
        #expect(queue.status(of: MQ.name(3)) == .blocked(by: ["bd-elsewhere"]))
        let first = queue.start(now: MQ.at(10)).rebases
        #expect(first.map(\.ids) == [[MQ.name(1), MQ.name(2)]], "2 rides behind its blocker; 3 waits")
        var sim = MergeQueueSimulator(
            settings: MQ.settings(batch: 1, depth: 0),
            world: {
                var world = MergeQueueSimulator.World()
                world.arrivals = requests
                world.culprits = [MQ.name(1)]
                return world
            }())
        sim.run(upTo: MQ.at(86_400))
        #expect(sim.finished { if case .rework = $0 { true } else { false } } == [MQ.name(1)])
        #expect(sim.merged.isEmpty, "2 never lands without its blocker, 3 never without bd-elsewhere")
        #expect(sim.queue.status(of: MQ.name(2)) == .blocked(by: [MQ.bead(1)]))
        #expect(sim.queue.isIdle)
    }

    @Test func blockerDroppedByTheShellLetsTheRequestGo() {
        var queue = MergeQueue.Queue(
            settings: MQ.settings(), tip: "t", requests: [MQ.request(1, blockedBy: ["bd-x"])], now: .zero)
        #expect(queue.start(now: .zero).rebases.isEmpty)
        let next = queue.onRequestAdded(MQ.request(1), now: MQ.at(1))
        #expect(next.rebases.map(\.ids) == [[MQ.name(1)]])
    }

    /// Nothing waits behind newer requests forever: at every batch decision, no request filed more than
    /// `Ordering.passingBound` after a waiting one is taken before it. Random priorities, an overloaded queue.
    @Test func agingKeepsEveryRequestWithinThePassingBound() {
        var ordering = MergeQueue.Ordering()
        ordering.agePerHour = 6000  // 100 points a minute: the bound is 8 minutes of filing time
        let bound = ordering.passingBound!
        var violations = 0
        for seed in UInt64(0)..<30 {
            let (sim, world) = Self.overloaded(seed: seed, ordering: ordering)
            #expect(sim.endViolations().isEmpty, "seed \(seed): \(sim.endViolations())")
            #expect(sim.merged.count == world.arrivals.count, "seed \(seed): everyone lands")
            violations += Self.passings(sim, world: world, beyond: bound)
        }
        #expect(violations == 0)
        // The same property fails without aging: P0s keep arriving ahead of older P4s.
        ordering.agePerHour = 0
        var without = 0
        for seed in UInt64(0)..<30 {
            let (sim, world) = Self.overloaded(seed: seed, ordering: ordering)
            without += Self.passings(sim, world: world, beyond: bound)
        }
        #expect(without > 0, "the property test could not tell aging from no aging")
    }

    /// Requests arriving every 20 s on average for an hour, a 5-minute gate: far more than the queue can take.
    static func overloaded(
        seed: UInt64, ordering: MergeQueue.Ordering
    )
        -> (MergeQueueSimulator, MergeQueueSimulator.World)
    {
        var rng = Membership.Random(seed: seed)
        var world = MergeQueueSimulator.World()
        world.gateDuration = .seconds(300)
        for n in 0..<180 {
            let priority = rng.unit() < 0.5 ? 0 : Int(rng.next() % 5)
            world.arrivals.append(MQ.request(n, priority: priority, at: (rng.unit() * 3600).rounded()))
        }
        var settings = MQ.settings(batch: 2, depth: 0)
        settings.ordering = ordering
        var sim = MergeQueueSimulator(settings: settings, world: world)
        sim.run()
        return (sim, world)
    }

    /// How many times a request was taken while one filed more than `bound` before it was left waiting.
    static func passings(
        _ sim: MergeQueueSimulator, world: MergeQueueSimulator.World, beyond bound: Duration
    )
        -> Int
    {
        let filed = Dictionary(uniqueKeysWithValues: world.arrivals.map { ($0.id, $0.enqueuedAt) })
        var count = 0
        for selection in sim.selections {
            for taken in selection.chosen {
                for waiting in selection.passedOver where filed[waiting]! + bound <= filed[taken]! { count += 1 }
            }
        }
        return count
    }
}
