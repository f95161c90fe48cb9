import GasTownTestKit
import Testing

@testable import Beads

@Suite struct MergeTests {
    /// A replica: a ledger, its own clock, and the log of ops it applied.
    struct Replica {
        var h: Harness
        var log: [LedgerOp] = []
        init(base: Harness, node: String, wallOffset: Int64) {
            h = base
            h.clock = HybridLogicalClock(node: node, last: base.clock.last)
            h.wall += wallOffset
            h.actor = node
        }
        mutating func randomOps(_ n: Int, rng: inout SplitMix64) {
            for step in 0..<n {
                let ids = h.ledger.beads.keys.sorted()
                let op = RandomOps.op(
                    rng: &rng, ledger: h.ledger, ids: ids, stamp: h.nextStamp(), time: h.time,
                    step: step)
                if (try? h.ledger.apply(op)) != nil { log.append(op) }
            }
        }
    }

    static func base(seed: UInt64) -> Harness {
        var h = Harness()
        var rng = SplitMix64(seed: seed)
        for step in 0..<60 {
            let ids = h.ledger.beads.keys.sorted()
            let op = RandomOps.op(rng: &rng, ledger: h.ledger, ids: ids, stamp: h.nextStamp(), time: h.time, step: step)
            _ = try? h.ledger.apply(op)
        }
        return h
    }

    static func replicas(seed: UInt64) -> [Replica] {
        let b = base(seed: seed)
        var rng = SplitMix64(seed: seed &* 31)
        var out: [Replica] = []
        for (i, node) in ["a", "b", "c"].enumerated() {
            var r = Replica(base: b, node: node, wallOffset: Int64(i * 7 + 1))
            r.randomOps(150, rng: &rng)
            out.append(r)
        }
        return out
    }

    func m(_ a: Ledger, _ b: Ledger) -> Ledger { a.merging(b, remoteWinsClaimTies: false).0 }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6])
    func symmetricMergeIsCommutativeAssociativeIdempotent(seed: UInt64) {
        let r = Self.replicas(seed: seed)
        let (a, b, c) = (r[0].h.ledger, r[1].h.ledger, r[2].h.ledger)
        #expect(m(a, b) == m(b, a))
        #expect(m(a, b).exportJSONL() == m(b, a).exportJSONL())
        #expect(m(m(a, b), c) == m(a, m(b, c)))
        #expect(m(a, a) == a)
        #expect(m(m(a, b), b) == m(a, b))
        let all = m(m(a, b), c)
        #expect(all.blockedIDs == Reference.blocked(Array(all.beads.values)))
    }

    @Test(arguments: [UInt64(11), 12, 13])
    func mergedValuesFollowTheLastWrite(seed: UInt64) {
        let r = Self.replicas(seed: seed)
        let merged = m(m(r[0].h.ledger, r[1].h.ledger), r[2].h.ledger)
        var lastTitle: [String: (HLCStamp, String)] = [:]
        var lastLabel: [String: (HLCStamp, Bool)] = [:]
        for op in r.flatMap(\.log) {
            switch op.change {
            case .update(let id, let fields):
                for case .title(let t) in fields where (lastTitle[id]?.0 ?? .zero) < op.stamp {
                    lastTitle[id] = (op.stamp, t)
                }
            case .labels(let id, let add, let remove):
                for l in remove where (lastLabel[id + "|" + l]?.0 ?? .zero) < op.stamp {
                    lastLabel[id + "|" + l] = (op.stamp, false)
                }
                for l in add where (lastLabel[id + "|" + l]?.0 ?? .zero) <= op.stamp {
                    lastLabel[id + "|" + l] = (op.stamp, true)
                }
            default: break
            }
        }
        #expect(!lastTitle.isEmpty && !lastLabel.isEmpty)
        for (id, (_, title)) in lastTitle { #expect(merged.beads[id]?.title == title, "title of \(id)") }
        for (key, (_, present)) in lastLabel {
            let parts = key.split(separator: "|").map(String.init)
            #expect(merged.beads[parts[0]]?.labels.contains(parts[1]) == present, "label \(key)")
        }
    }

    @Test func offlineDoubleClaimRemoteWinsAndLocalIsToldItLost() throws {
        var base = Harness()
        let id = try base.create("Work")
        var local = Replica(base: base, node: "n1", wallOffset: 0)
        var remote = Replica(base: base, node: "n2", wallOffset: 0)
        try remote.h.run(.claim(id: id, assignee: "bob", node: "n2", expectedEpoch: 0))
        try local.h.run(.claim(id: id, assignee: "alice", node: "n1", expectedEpoch: 0))  // later stamp
        var merged = local.h.ledger
        let report = merged.merge(remote.h.ledger)
        #expect(merged.beads[id]?.assignee == "bob" && merged.beads[id]?.leaseEpoch == 1)
        #expect(report.lostClaims.map(\.localAssignee) == ["alice"])
        // A higher epoch wins whatever the side.
        try local.h.run(.release(id: id, assignee: "alice"))
        try local.h.run(.claim(id: id, assignee: "carol", node: "n1", expectedEpoch: 1))
        var again = local.h.ledger
        let report2 = again.merge(remote.h.ledger)
        #expect(again.beads[id]?.assignee == "carol" && again.beads[id]?.leaseEpoch == 2)
        #expect(report2.lostClaims.isEmpty)
    }

    @Test func idCollisionReIDsOneAndRewritesItsEdges() throws {
        var one = Harness()
        var two = Harness()
        two.actor = "someone-else"
        var bead = Bead(id: "t-same", title: "First", createdAt: one.time)
        bead.createdBy = "me"
        try one.run(.create(bead, allowCycles: false))
        let dependent = try one.create("Depends", deps: [DependencyKey(dependsOnID: "t-same", type: .blocks)])
        bead.title = "Second"
        bead.createdBy = "someone-else"
        try two.run(.create(bead, allowCycles: false))
        var merged = one.ledger
        let report = merged.merge(two.ledger)
        #expect(report.reIDs.count == 1)
        let newID = try #require(report.reIDs.first?.new)
        #expect(merged.beads["t-same"]?.title == "Second")
        #expect(merged.beads[newID]?.title == "First")
        #expect(merged.aliases["t-same"] == newID)
        let reloaded = try Ledger(
            prefix: "t", beads: try BeadCodec.decodeJSONL(merged.exportJSONL()),
            stamps: try BeadStamps.decodeJSONL(merged.exportStampsJSONL()))
        #expect(reloaded == merged)
        #expect(reloaded.aliases["t-same"] == newID)
        #expect(merged.beads[dependent]?.dependencies.first?.dependsOnID == newID)
    }

    @Test func deleteWinsOverEarlierEditsAndLosesToLaterStatusWrites() throws {
        var base = Harness()
        let id = try base.create("X")
        var a = Replica(base: base, node: "a", wallOffset: 0)
        var b = Replica(base: base, node: "b", wallOffset: 0)
        try b.h.run(.update(id: id, fields: [.title("edited before delete")]))
        a.h.wall += 10_000
        try a.h.run(.delete(id: id, reason: "dup"))
        let merged = m(a.h.ledger, b.h.ledger)
        #expect(merged.beads[id]?.status == .tombstone)
        #expect(merged.beads[id]?.title == "edited before delete")
        b.h.wall += 60_000
        try b.h.run(.reopen(id: id))
        let later = m(a.h.ledger, b.h.ledger)
        #expect(later.beads[id]?.status == .open)
        #expect(later.beads[id]?.deletedAt == nil)
    }
}

@Suite struct PruneTests {
    @Test func pruneDropsOnlyTombstonesAndRemovalsOlderThanTheHorizon() throws {
        var h = Harness()
        let old = try h.create("Old")
        let keep = try h.create("Keep")
        try h.run(.labels(id: keep, add: ["x"], remove: []))
        try h.run(.labels(id: keep, add: [], remove: ["x"]))
        try h.run(.delete(id: old, reason: "gone"))
        let horizon = h.nextStamp()
        let recent = try h.create("Recent")
        try h.run(.delete(id: recent, reason: "gone"))
        let dropped = h.ledger.prune(before: horizon)
        #expect(dropped == [old])
        #expect(h.ledger.beads[recent] != nil && h.ledger.beads[keep] != nil)
        #expect(h.ledger.stamps[keep]?.labels["x"] == nil)
        #expect(h.ledger.newestStamp > horizon)
    }
}

@Suite struct SyncConvergenceTests {
    /// Replicas sync through one "remote" ledger the way git sync will (merge the remote into the local state
    /// with the remote winning claim ties, then publish the result): after quiet rounds all are identical.
    @Test(arguments: [UInt64(21), 22, 23])
    func replicasConvergeThroughARemote(seed: UInt64) {
        var replicas = MergeTests.replicas(seed: seed)
        var remote = replicas[0].h.ledger
        var rng = SplitMix64(seed: seed)
        for round in 0..<6 {
            for i in replicas.indices {
                if round < 4 { replicas[i].randomOps(20, rng: &rng) }
                var local = replicas[i].h.ledger
                local.merge(remote)
                remote = local
                replicas[i].h.ledger = local
            }
        }
        for r in replicas {
            #expect(r.h.ledger == remote)
            #expect(r.h.ledger.exportJSONL() == remote.exportJSONL())
            #expect(r.h.ledger.exportStampsJSONL() == remote.exportStampsJSONL())
        }
    }
}
