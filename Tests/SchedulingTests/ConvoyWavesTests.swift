import Scheduling
import Testing

/// The launch's wave planner as values: waves follow blockers, capacity per rig and in all, priorities, set-aside
/// after three failures (and what waits on a set-aside bead), finished and stuck.
struct ConvoyWavesTests {
    typealias Item = ConvoyWaves.Item

    @Test func aChainIsSlungOneWaveAtATime() {
        var items = [
            Item(id: "a", rig: "r", phase: .pending), Item(id: "b", rig: "r", phase: .pending, openBlockers: ["a"]),
            Item(id: "c", rig: "r", phase: .pending, openBlockers: ["b"]),
        ]
        var waves: [[String]] = []
        for _ in 0..<4 {
            let plan = ConvoyWaves.plan(items, capacity: ["r": 5])
            if plan.finished { break }
            waves.append(plan.sling)
            // The wave is worked and merged; its dependents' blockers close.
            for id in plan.sling {
                items = items.map { item in
                    var item = item
                    if item.id == id { item.phase = .done }
                    item.openBlockers.removeAll { $0 == id }
                    return item
                }
            }
        }
        #expect(waves == [["a"], ["b"], ["c"]])
        #expect(ConvoyWaves.plan(items, capacity: ["r": 5]).finished)
    }

    @Test func capacityPerRigAndInAllAndPriorityOrder() {
        let items = [
            Item(id: "x1", rig: "x", phase: .pending, priority: 3),
            Item(id: "x2", rig: "x", phase: .pending, priority: 0),
            Item(id: "x3", rig: "x", phase: .pending, priority: 2), Item(id: "y1", rig: "y", phase: .pending),
            Item(id: "z1", rig: "z", phase: .pending),
        ]
        let plan = ConvoyWaves.plan(items, capacity: ["x": 2, "y": 1])
        #expect(plan.sling == ["x2", "x3", "y1"])
        #expect(plan.waiting.map(\.id) == ["z1", "x1"])
        #expect(plan.waiting.allSatisfy { $0.blockers.isEmpty && $0.reason.contains("no free polecat slot") })
        let capped = ConvoyWaves.plan(items, capacity: ["x": 2, "y": 1, "z": 1], total: 2)
        #expect(capped.sling == ["x2", "x3"])
        #expect(capped.waiting.contains { $0.id == "y1" && $0.reason == "the cluster has no free slot" })
        #expect(!capped.finished && !capped.stuck)
        #expect(ConvoyWaves.plan(items, capacity: [:]).sling.isEmpty)
        let noRig = ConvoyWaves.plan([Item(id: "hq-1", rig: "", phase: .pending)], capacity: ["": 3])
        #expect(noRig.sling.isEmpty && noRig.waiting.first?.reason.contains("gt sling hq-1 <rig>") == true)
    }

    @Test func aBeadThatFailedThreeTimesIsSetAsideAndTheRestGoOn() {
        let items = [
            Item(id: "bad", rig: "r", phase: .pending, failures: 3), Item(id: "ok", rig: "r", phase: .pending),
            Item(id: "after", rig: "r", phase: .pending, openBlockers: ["bad"]),
            Item(id: "twice", rig: "r", phase: .pending, failures: 2),
        ]
        let plan = ConvoyWaves.plan(items, capacity: ["r": 10])
        #expect(plan.sling == ["ok", "twice"])
        #expect(plan.setAside.map(\.id) == ["bad"])
        #expect(
            plan.setAside[0].message.contains("failed 3 times") && plan.setAside[0].message.contains("gt sling bad"))
        #expect(plan.waiting == [.init(id: "after", blockers: ["bad"], reason: "waits for bad, which was set aside")])
        // Once set aside, it is not reported again, and nothing else can move: stuck.
        let later = [
            Item(id: "bad", rig: "r", phase: .setAside, failures: 3), Item(id: "ok", rig: "r", phase: .done),
            Item(id: "after", rig: "r", phase: .pending, openBlockers: ["bad"]),
            Item(id: "twice", rig: "r", phase: .done),
        ]
        let stuck = ConvoyWaves.plan(later, capacity: ["r": 10])
        #expect(stuck.setAside.isEmpty && stuck.sling.isEmpty && stuck.stuck && !stuck.finished)
        // A done bead is never set aside, whatever it failed on the way; in-flight ones count toward not stuck.
        let done = ConvoyWaves.plan([Item(id: "d", rig: "r", phase: .done, failures: 9)], capacity: [:])
        #expect(done.setAside.isEmpty && done.finished)
        let flying = ConvoyWaves.plan(
            [Item(id: "f", rig: "r", phase: .inFlight), Item(id: "w", rig: "r", phase: .pending, openBlockers: ["f"])],
            capacity: ["r": 1])
        #expect(flying.sling.isEmpty && !flying.stuck && !flying.finished)
        #expect(flying.waiting.first?.reason == "waits for f to close")
    }

    @Test func finishedWhenEverythingIsDoneOrSetAside() {
        #expect(ConvoyWaves.plan([], capacity: [:]).finished)
        let plan = ConvoyWaves.plan(
            [Item(id: "a", rig: "r", phase: .done), Item(id: "b", rig: "r", phase: .pending, failures: 5)],
            capacity: ["r": 1], maxFailures: 5)
        #expect(plan.finished && plan.setAside.map(\.id) == ["b"] && plan.sling.isEmpty)
    }

    /// Every plan over random item sets keeps the rules: no bead slung twice, never a blocked, done, in-flight or
    /// set-aside bead, never more per rig than its capacity, and every pending bead accounted for once.
    @Test func randomPlansKeepTheRules() {
        var seed: UInt64 = 0x5EED
        func next(_ n: Int) -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((seed >> 33) % UInt64(n))
        }
        let phases: [ConvoyWaves.Phase] = [.pending, .pending, .inFlight, .done, .setAside]
        for _ in 0..<500 {
            let count = next(12)
            let items = (0..<count).map { index in
                Item(
                    id: "b\(index)", rig: ["r", "s"][next(2)], phase: phases[next(phases.count)],
                    openBlockers: next(3) == 0 ? ["b\(next(max(1, count)))"] : [], failures: next(5),
                    priority: next(5))
            }
            let capacity = ["r": next(4), "s": next(4)]
            let plan = ConvoyWaves.plan(items, capacity: capacity)
            let byID = Dictionary(items.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            #expect(Set(plan.sling).count == plan.sling.count)
            for id in plan.sling {
                let item = byID[id]!
                #expect(item.phase == .pending && item.openBlockers.isEmpty && item.failures < 3)
            }
            for rig in ["r", "s"] {
                #expect(plan.sling.filter { byID[$0]!.rig == rig }.count <= capacity[rig]!)
            }
            let pending = items.filter { $0.phase == .pending && $0.failures < 3 }.map(\.id)
            #expect((plan.sling + plan.waiting.map(\.id)).sorted() == pending.sorted())
            #expect(
                plan.setAside.map(\.id).sorted()
                    == items.filter { ($0.phase == .pending || $0.phase == .inFlight) && $0.failures >= 3 }.map(\.id)
                    .sorted())
        }
    }
}
