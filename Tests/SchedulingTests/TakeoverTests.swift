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
}
