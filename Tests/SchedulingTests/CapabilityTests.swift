import GasTownTestKit
import Testing

@testable import Scheduling

@Suite struct CapabilityTests {
    typealias R = Placement.Record
    typealias K = Placement.RecordKey

    func node(_ name: String, free: Int, load: Int = 0, records: [K: R] = [:]) -> Placement.Candidate {
        Placement.Candidate(name: name, slots: free, rigs: ["demo"], loadMilli: load, records: records)
    }

    func swift(_ runtime: String = "claude", merges: Int = 0, failures: Int = 0, rework: Int = 0) -> [K: R] {
        [K(label: "skill:swift", runtime: runtime): R(merges: merges, failures: failures, rework: rework)]
    }

    func request(_ labels: [String], runtime: String? = "claude") -> Placement.Request {
        Placement.Request(bead: "demo-1", rig: "demo", runtime: runtime, labels: labels)
    }

    @Test func theScoreIsASmoothedSuccessRate() {
        #expect(R().score == 0.5)
        #expect(R(merges: 1).score == 2.0 / 3.0)
        #expect(R(failures: 1).score == 1.0 / 3.0)
        #expect(R(rework: 1).score == 1.0 / 3.0)
        #expect(R(merges: 2).score == 0.75)
        #expect(R(merges: 3, failures: 1, rework: 2).score == 4.0 / 8.0)
        #expect(R(merges: 1, failures: 2) + R(rework: 3) == R(merges: 1, failures: 2, rework: 3))
    }

    @Test func withoutLabelsCapacityAloneOrders() {
        let nodes = [node("a", free: 1, records: swift(merges: 9)), node("b", free: 3), node("c", free: 2)]
        for labels in [[], ["gt:agent"]] {
            let outcome = Placement.place(request(labels), candidates: nodes)
            #expect(outcome.ranked == ["b", "c", "a"])
            #expect(outcome.leaders == nil)
        }
    }

    @Test func aMeaningfullyBetterRecordGoesAheadOfMoreFreeSlots() {
        let nodes = [node("roomy", free: 4), node("skilled", free: 1, records: swift(merges: 2))]
        let outcome = Placement.place(request(["skill:swift"]), candidates: nodes)
        #expect(outcome.ranked == ["skilled", "roomy"])
        #expect(outcome.leaders == 1)
        // A bad record goes behind a node with none, even one with fewer slots.
        let bad = [node("roomy", free: 4, records: swift(failures: 1, rework: 1)), node("fresh", free: 1)]
        #expect(Placement.place(request(["skill:swift"]), candidates: bad).ranked == ["fresh", "roomy"])
    }

    @Test func aSmallDifferenceLeavesCapacityToDecide() {
        // One merge: ⅔ against the prior's ½, less than the meaningful difference.
        let nodes = [node("roomy", free: 4), node("skilled", free: 1, records: swift(merges: 1))]
        let outcome = Placement.place(request(["skill:swift"]), candidates: nodes)
        #expect(outcome.ranked == ["roomy", "skilled"])
        #expect(outcome.leaders == 2)
    }

    @Test func equalRecordsGoToCapacityThenLoad() {
        let nodes = [
            node("a", free: 1, records: swift(merges: 3)), node("b", free: 3, records: swift(merges: 3)),
            node("c", free: 3, load: 500, records: swift(merges: 3)),
        ]
        #expect(Placement.place(request(["skill:swift"]), candidates: nodes).ranked == ["b", "c", "a"])
    }

    @Test func onlyTheBeadsLabelsAndRuntimeCount() {
        let records: [K: R] = [
            K(label: "skill:swift", runtime: "codex"): R(merges: 5),
            K(label: "skill:go", runtime: "claude"): R(merges: 5),
        ]
        let nodes = [node("roomy", free: 4), node("other", free: 1, records: records)]
        // Claude on swift: the node's record is for codex, or for go: none counts.
        #expect(Placement.place(request(["skill:swift"]), candidates: nodes).ranked == ["roomy", "other"])
        // Codex on swift counts.
        #expect(
            Placement.place(request(["skill:swift"], runtime: "codex"), candidates: nodes).ranked == ["other", "roomy"])
        // No runtime named (an exec command line): every runtime counts.
        #expect(
            Placement.place(request(["skill:swift"], runtime: nil), candidates: nodes).ranked == ["other", "roomy"])
        // Labels sum: swift and go on claude together.
        #expect(
            Placement.record(of: nodes[1], labels: ["skill:go", "skill:swift"], runtime: "claude") == R(merges: 5))
        #expect(
            Placement.record(of: nodes[1], labels: ["skill:go", "skill:swift"], runtime: nil) == R(merges: 10))
    }

    @Test func groupsAreCutFromTheBestScoreDown() {
        // Scores ¾ (x), ⅗ (y: 2 merges, 1 rework), ½ (z), ⅓ (w: one failure): x and y are within 0.2 of ¾, so
        // capacity orders them; z and w start the next group (z is 0.25 below x) and w is within 0.2 of z.
        let nodes = [
            node("x", free: 1, records: swift(merges: 2)),
            node("y", free: 2, records: swift(merges: 2, rework: 1)),
            node("z", free: 3),
            node("w", free: 4, records: swift(failures: 1)),
        ]
        let outcome = Placement.place(request(["skill:swift"]), candidates: nodes)
        #expect(outcome.ranked == ["y", "x", "w", "z"])
        #expect(outcome.leaders == 2)
        // The placer's pick stays among the leaders, whatever it draws.
        var random = SplitMix64(seed: 7)
        for _ in 0..<200 {
            let order = outcome.order(using: &random)
            #expect(Set(order.prefix(2)) == ["x", "y"])
            #expect(Array(order.suffix(2)) == ["w", "z"])
        }
    }

    @Test func deterministicWhateverTheInputOrder() {
        let nodes = [
            node("a", free: 2, records: swift(merges: 4, failures: 1)),
            node("b", free: 2, records: swift(merges: 1)),
            node("c", free: 5),
            node("d", free: 1, records: swift(rework: 2)),
            node("e", free: 3, records: swift(merges: 4, failures: 1)),
        ]
        let expected = Placement.place(request(["skill:swift"]), candidates: nodes)
        var random = SplitMix64(seed: 11)
        for _ in 0..<50 {
            var shuffled = nodes
            shuffled.shuffle(using: &random)
            #expect(Placement.place(request(["skill:swift"]), candidates: shuffled) == expected)
        }
    }

    /// Two nodes, every record of up to two of each outcome on each: the one with more free slots goes first
    /// unless the other's score is at least the meaningful difference higher.
    @Test func exhaustiveTwoNodes() {
        var records: [R] = []
        for m in 0...2 { for f in 0...2 { for r in 0...2 { records.append(R(merges: m, failures: f, rework: r)) } } }
        var checked = 0
        for a in records {
            for b in records {
                let nodes = [
                    node("roomy", free: 3, records: [K(label: "skill:swift", runtime: "claude"): a]),
                    node("small", free: 1, records: [K(label: "skill:swift", runtime: "claude"): b]),
                ]
                let outcome = Placement.place(request(["skill:swift"]), candidates: nodes)
                let smallFirst = b.score - a.score >= Placement.meaningfulDifference - 1e-9
                #expect(outcome.ranked == (smallFirst ? ["small", "roomy"] : ["roomy", "small"]), "\(a) \(b)")
                let apart = abs(b.score - a.score) >= Placement.meaningfulDifference - 1e-9
                #expect(outcome.leaders == (apart ? 1 : 2))
                // Without labels, capacity alone.
                #expect(Placement.place(request([]), candidates: nodes).ranked == ["roomy", "small"])
                checked += 1
            }
        }
        #expect(checked == 27 * 27)
    }

    @Test func excludedNodesStayExcludedWhateverTheirRecord() {
        let full = Placement.Candidate(
            name: "full", slots: 1, running: 1, rigs: ["demo"], records: swift(merges: 50))
        let outcome = Placement.place(request(["skill:swift"]), candidates: [full, node("b", free: 1)])
        #expect(outcome.ranked == ["b"])
        #expect(outcome.excluded["full"] == [.full(slots: 1, running: 1, reserved: 0)])
    }

    @Test func skillLabelsLeaveOutGasTownsOwn() {
        #expect(
            Placement.skillLabels(["skill:swift", "gt:agent", "", "area:ui", "skill:swift"]) == [
                "area:ui", "skill:swift",
            ])
    }
}
