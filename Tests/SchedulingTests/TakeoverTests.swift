import Testing

@testable import Scheduling

@Suite struct TakeoverTests {
    let held = Lease(holder: "r/polecats/a", node: "n1", epoch: 3)
    let second: Int64 = 1_000_000_000

    @Test func freeBeadsAndLiveHoldersAreDecidedAtOnce() {
        #expect(Takeover.decide(lease: Lease(holder: "", node: "", epoch: 3), liveness: .alive, now: 0) == .free)
        #expect(Takeover.decide(lease: held, liveness: .alive, now: 10_000 * second) == .holderAlive)
    }

    @Test func aDeadHolderIsTakenOverOnlyAfterTheGracePeriodOnTheTakersClock() {
        var settings = Takeover.Settings()
        settings.grace = .seconds(180)
        let diedAt = 50 * second
        #expect(
            Takeover.decide(lease: held, liveness: .dead(since: diedAt), now: diedAt + 179 * second, settings: settings)
                == .waitUntil(at: diedAt + 180 * second))
        #expect(
            Takeover.decide(lease: held, liveness: .dead(since: diedAt), now: diedAt + 180 * second, settings: settings)
                == .takeOver)
        #expect(
            Takeover.decide(lease: held, liveness: .left(since: diedAt), now: diedAt + 181 * second, settings: settings)
                == .takeOver)
    }

    @Test func anUnknownHolderIsWaitedForFromWhenItWasFirstFoundUnknown() {
        let found = 7 * second
        #expect(
            Takeover.decide(lease: held, liveness: .unknown, firstSeenUnknown: found, now: found + second)
                == .waitUntil(at: found + 180 * second))
        #expect(Takeover.decide(lease: held, liveness: .unknown, now: 5 * second) == .waitUntil(at: 185 * second))
    }

    @Test func fencingRefusesOlderAndFutureEpochs() {
        #expect(Fence.check(action: 3, current: 3) == nil)
        #expect(Fence.check(action: 2, current: 3) == .stale(action: 2, current: 3))
        #expect(Fence.check(action: 4, current: 3) == .fromTheFuture(action: 4, current: 3))
    }

    @Test func theSlingerPlacesItsBeadsWhileAlive() {
        #expect(Placer.owner(of: "gt-1", slungBy: "b", live: ["a", "b", "c"]) == "b")
        #expect(Placer.owner(of: "gt-1", slungBy: "z", live: []) == nil)
    }

    /// Rendezvous: every node computes the same placer; removing a node moves only the beads it placed; the
    /// placers spread over the nodes.
    @Test func rendezvousIsStableAndMovesOnlyTheRemovedNodesBeads() {
        let nodes = ["alpha", "beta", "gamma", "delta"]
        let beads = (0..<2_000).map { "gt-\($0)" }
        var counts: [String: Int] = [:]
        for bead in beads {
            let owner = Placer.owner(of: bead, slungBy: "dead", live: nodes)!
            #expect(owner == Placer.owner(of: bead, slungBy: nil, live: nodes.reversed()))
            counts[owner, default: 0] += 1
            let without = Placer.owner(of: bead, slungBy: nil, live: nodes.filter { $0 != "gamma" })!
            if owner != "gamma" { #expect(without == owner) }
        }
        for node in nodes { #expect((350...650).contains(counts[node] ?? 0), "\(counts)") }
        // The weight is a fixed function (placement must agree across processes and versions).
        #expect(Placer.weight("gt-1", "alpha") == Placer.weight("gt-1", "alpha"))
        #expect(Placer.weight("gt-1", "alpha") != Placer.weight("gt-1", "alphb"))
    }

    @Test func theMajorityRuleCountsEveryoneButLeftMembers() {
        #expect(DeathWatch.isMajority(live: 2, counted: 3))
        #expect(!DeathWatch.isMajority(live: 1, counted: 3))
        #expect(!DeathWatch.isMajority(live: 2, counted: 4), "half is not a majority")
        #expect(DeathWatch.isMajority(live: 3, counted: 5))
        #expect(DeathWatch.isMajority(live: 1, counted: 2), "two nodes: the ledger remote decides")
        #expect(DeathWatch.isMajority(live: 1, counted: 1))
        var watch = DeathWatch()
        #expect(watch.observe(["a": .alive, "b": .left, "c": .left, "d": .dead], now: 0) == nil, "a and d are counted")
        #expect(watch.deadSince == ["b": 0, "c": 0, "d": 0])
    }

    @Test func aCutOffNodesDeathClocksStandStillUntilAMajorityIsBack() {
        var watch = DeathWatch()
        let cut: [String: DeathWatch.Status] = ["n0": .dead, "n1": .dead, "n2": .alive]
        #expect(watch.observe(["n0": .alive, "n1": .alive, "n2": .alive], now: 0) == nil)
        #expect(watch.observe(cut, now: 1 * second) == .majorityLost(live: 1, counted: 3))
        #expect(!watch.seesMajority)
        for t in 2...600 { #expect(watch.observe(cut, now: Int64(t) * second) == nil) }
        #expect(watch.deadSince == ["n0": 600 * second, "n1": 600 * second], "held at the present")
        // The heal shows n0 alive first: n1's grace starts now, not from the cut ten minutes ago.
        #expect(
            watch.observe(["n0": .alive, "n1": .dead, "n2": .alive], now: 601 * second)
                == .majorityRegained(live: 2, counted: 3))
        #expect(watch.deadSince == ["n1": 601 * second])
        let settings = Takeover.Settings()
        #expect(
            Takeover.decide(lease: held, liveness: .dead(since: watch.deadSince["n1"]!), now: 602 * second, settings: settings)
                == .waitUntil(at: 781 * second))
        #expect(watch.observe(["n0": .alive, "n1": .alive, "n2": .alive], now: 603 * second) == nil)
        #expect(watch.deadSince.isEmpty)
    }

    @Test func theMajoritySideKeepsItsClockFromTheFirstReport() {
        var watch = DeathWatch()
        let view: [String: DeathWatch.Status] = ["n0": .alive, "n1": .alive, "n2": .dead]
        #expect(watch.observe(view, now: 5 * second) == nil)
        #expect(watch.observe(view, now: 100 * second) == nil)
        #expect(watch.deadSince == ["n2": 5 * second])
        #expect(watch.seesMajority)
    }
}
