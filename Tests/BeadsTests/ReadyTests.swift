import GasTownTestKit
import Testing

@testable import Beads

@Suite struct ReadyBlockedTests {
    static let now = Timestamp("2026-01-01T00:00:00Z")!

    @Test func sampleReadyAndBlockedMatchIndependentComputation() throws {
        let beads = try BeadCodec.decodeJSONL(try Samples.beadsJSONL())
        let ledger = try Ledger(prefix: "bd", beads: beads)
        let expectedBlocked = Reference.blocked(beads)
        #expect(ledger.blockedIDs == expectedBlocked)
        let ready = Set(ledger.ready(now: Self.now).map(\.id))
        #expect(ready == Reference.ready(beads, now: Self.now))
        #expect(!ready.isEmpty)
        // Every open bead is either ready, blocked, pinned, ephemeral, deferred or infrastructure.
        let open = beads.filter { $0.status == .open }
        #expect(open.count == 37)
        let blockedOpen = ledger.blocked().filter { $0.bead.status == .open }
        #expect(Set(blockedOpen.map(\.bead.id)) == expectedBlocked.filter { id in open.contains { $0.id == id } })
        for b in ledger.blocked() { #expect(!b.blockedBy.isEmpty, "\(b.bead.id) has no blocker listed") }
    }

    @Test func incrementalBlockedSetEqualsRecomputationUnderRandomMutations() throws {
        for seed in 1...4 as ClosedRange<UInt64> {
            var rng = SplitMix64(seed: seed)
            var ledger = Ledger(prefix: "t")
            var clock = HybridLogicalClock(node: "n1")
            var wall: Int64 = 1_767_225_600_000
            var applied = 0
            var maxBlocked = 0
            for step in 0..<750 {
                wall += 1_000
                let time = Timestamp(unixMillis: wall)
                let stamp = try clock.tick(wallMillis: wall)
                let ids = ledger.beads.keys.sorted()
                let op = RandomOps.op(rng: &rng, ledger: ledger, ids: ids, stamp: stamp, time: time, step: step)
                do {
                    try ledger.apply(op)
                    applied += 1
                } catch {
                    // Refused ops must leave the ledger as it was; checked in LedgerValidationTests.
                }
                maxBlocked = max(maxBlocked, ledger.blockedIDs.count)
                if step % 5 == 0 || step > 700 {
                    #expect(
                        ledger.blockedIDs == Reference.blocked(Array(ledger.beads.values)), "seed \(seed) step \(step)")
                }
            }
            #expect(applied > 400)
            #expect(maxBlocked > 10, "the random ops must produce blocked beads for the comparison to mean much")
            var rebuilt = ledger
            rebuilt.rebuildIndexes()
            #expect(rebuilt.blockedIDs == ledger.blockedIDs)
            #expect(
                Set(ledger.ready(now: Timestamp(unixMillis: wall)).map(\.id))
                    == Reference.ready(Array(ledger.beads.values), now: Timestamp(unixMillis: wall)))
        }
    }

    @Test func readyRules() throws {
        var h = Harness()
        let a = try h.create("A")
        let b = try h.create("B", deps: [DependencyKey(dependsOnID: a, type: .blocks)])
        #expect(h.readyIDs == [a])
        try h.run(.close(id: a, reason: "done"))
        #expect(h.readyIDs == [b])
        try h.run(.reopen(id: a))
        #expect(Set(h.readyIDs) == [a])
        // Parent-child: children of a blocked parent are blocked, transitively.
        let epic = try h.create("Epic", deps: [DependencyKey(dependsOnID: a, type: .blocks)])
        let kid = try h.create("Kid", parent: epic)
        let grandkid = try h.create("Grandkid", parent: kid)
        #expect(h.ledger.blockedIDs.isSuperset(of: [epic, kid, grandkid]))
        try h.run(.close(id: a, reason: "done"))
        #expect(h.ledger.blockedIDs.isDisjoint(with: [epic, kid, grandkid]))
        // waits-for: blocked while the spawner has an open child.
        let spawner = try h.create("Spawner")
        let child = try h.create("Spawned", parent: spawner)
        let waiter = try h.create("Waiter", deps: [DependencyKey(dependsOnID: spawner, type: .waitsFor)])
        #expect(h.ledger.blockedIDs.contains(waiter))
        try h.run(.close(id: child, reason: "done"))
        #expect(!h.ledger.blockedIDs.contains(waiter))
        // pinned, ephemeral, infrastructure, deferred are never ready.
        let pinned = try h.create("Pinned")
        try h.run(.update(id: pinned, fields: [.pinned(true)]))
        let agent = try h.create("Agent", type: .agent)
        let later = try h.create("Later")
        try h.run(.update(id: later, fields: [.deferUntil(Timestamp(unixMillis: h.wall + 3_600_000))]))
        let ready = Set(h.readyIDs)
        #expect(!ready.contains(pinned) && !ready.contains(agent) && !ready.contains(later))
        var agents = BeadFilter()
        agents.types = [.agent]
        #expect(h.ledger.ready(now: h.time, filter: agents).map(\.id) == [agent])
        #expect(Set(h.ledger.ready(now: Timestamp(unixMillis: h.wall + 7_200_000)).map(\.id)).contains(later))
    }

    @Test func sortPolicies() throws {
        var h = Harness()
        let old = try h.create("Old P3", priority: 3)
        h.wall += 72 * 3_600_000
        let recentLow = try h.create("Recent P2", priority: 2)
        let recentHigh = try h.create("Recent P0", priority: 0)
        let now = Timestamp(unixMillis: h.wall)
        #expect(h.ledger.ready(now: now, sort: .hybrid).map(\.id) == [recentHigh, recentLow, old])
        #expect(h.ledger.ready(now: now, sort: .priority).map(\.id) == [recentHigh, recentLow, old])
        #expect(h.ledger.ready(now: now, sort: .oldest).map(\.id) == [old, recentLow, recentHigh])
        let older = try h.create("x", priority: 4)
        _ = older
    }

    @Test func cyclesAreRefusedUnlessAllowedAndListed() throws {
        var h = Harness()
        let a = try h.create("A")
        let b = try h.create("B", deps: [DependencyKey(dependsOnID: a, type: .blocks)])
        let c = try h.create("C", deps: [DependencyKey(dependsOnID: b, type: .blocks)])
        let before = h.ledger
        #expect(throws: LedgerError.cycle([a, c, b, a])) {
            try h.run(
                h.ledger.prepareDependency(id: a, on: c, type: .blocks, actor: "t", stamp: h.nextStamp(), time: h.time))
        }
        #expect(h.ledger == before)
        #expect(h.ledger.cycles().isEmpty)
        try h.run(
            h.ledger.prepareDependency(
                id: a, on: c, type: .blocks, actor: "t", stamp: h.nextStamp(), time: h.time,
                allowCycles: true))
        #expect(h.ledger.cycles() == [[a, c, b]])
        let tree = h.ledger.dependencyTree(of: c)
        #expect(tree.map(\.id) == [c, b, a, c])
        #expect(tree.last?.truncated == true)
    }

    @Test func fixtureIsShapedLikeBeads() {
        let ledger = BeadsFixtures.ledger(count: 2_000, seed: 7)
        let open = ledger.beads.values.filter { $0.status == .open }.count
        #expect(open > 10 && open < 80)
        #expect(ledger.blockedIDs == Reference.blocked(Array(ledger.beads.values)))
        #expect(ledger.beads.values.contains { $0.dependencies.contains { $0.type == .parentChild } })
        let again = BeadsFixtures.ledger(count: 2_000, seed: 7)
        #expect(again == ledger)
    }

    @Test func benchmarksRun() {
        #expect(BeadsBenchmarks.ready10k(iterations: 1).medianMillis >= 0)
        #expect(BeadsBenchmarks.createInCore(iterations: 3).iterations == 3)
    }
}

@Suite struct LongChainTests {
    /// A 20,000-bead blocks chain closed into a loop: cycle listing and blocked updates must not recurse.
    @Test func longChainsNeedNoDeepRecursion() throws {
        var beads: [Bead] = []
        let t = Timestamp(unixMillis: 1)
        for i in 0..<20_000 {
            var b = Bead(id: "t-\(i)", title: "chain \(i)", createdAt: t)
            if i > 0 {
                b.dependencies = [Dependency(issueID: b.id, dependsOnID: "t-\(i - 1)", type: .blocks, createdAt: t)]
            }
            if i > 0 && i % 2 == 0 {
                b.dependencies.append(
                    Dependency(issueID: b.id, dependsOnID: "t-\(i - 1)", type: .parentChild, createdAt: t))
            }
            beads.append(b)
        }
        beads[0].dependencies = [Dependency(issueID: "t-0", dependsOnID: "t-19999", type: .blocks, createdAt: t)]
        let ledger = try Ledger(prefix: "t", beads: beads)
        let cycles = ledger.cycles()
        #expect(cycles.count == 1 && cycles[0].count == 20_000)
        #expect(ledger.blockedIDs.count == 20_000)
    }
}
