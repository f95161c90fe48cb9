import GasTownTestKit
import Testing

@testable import Scheduling

@Suite struct PlacementTests {
    typealias C = Placement.Candidate

    func node(
        _ name: String, slots: Int = 4, running: Int = 0, reserved: Int = 0, labels: [String: String] = [:],
        rigs: Set<String> = ["demo"], runtimes: Set<String> = [], alive: Bool = true, draining: Bool = false,
        load: Int = 0, memory: UInt64 = 0
    ) -> C {
        C(
            name: name, alive: alive, labels: labels, slots: slots, running: running, reserved: reserved, rigs: rigs,
            runtimes: runtimes, draining: draining, loadMilli: load, freeMemory: memory)
    }

    let demo = Placement.Request(bead: "demo-1", rig: "demo")

    @Test func rankedByFreeCapacityThenLoadThenMemoryThenName() {
        let nodes = [
            node("a", slots: 4, running: 2),  // free 2
            node("b", slots: 4, running: 1, reserved: 1, load: 100),  // free 2, loaded
            node("c", slots: 6, running: 1),  // free 5
            node("d", slots: 2, running: 0, load: 100, memory: 10),  // free 2, loaded, more memory than b
            node("e", slots: 2),  // free 2, like a but later name
        ]
        let outcome = Placement.place(demo, candidates: nodes)
        #expect(outcome.ranked == ["c", "a", "e", "d", "b"])
        #expect(outcome.excluded.isEmpty)
        #expect(outcome.placeable)
    }

    @Test func freeCapacityCountsRunningAndReserved() {
        #expect(node("a", slots: 4, running: 3, reserved: 1).free == 0)
        #expect(node("a", slots: 4, running: 5).free == 0)
        #expect(node("a", slots: 4, running: 1, reserved: 1).free == 2)
        let outcome = Placement.place(demo, candidates: [node("a", slots: 2, running: 1, reserved: 1)])
        #expect(outcome.ranked.isEmpty)
        #expect(outcome.excluded["a"] == [.full(slots: 2, running: 1, reserved: 1)])
        #expect(outcome.refusal == "every node is full")
        #expect(!outcome.policyExcludesAll)
    }

    @Test func everyReasonOfExclusionIsKept() {
        var request = demo
        request.runtime = "claude"
        request.require = ["gpu": "true", "region": "eu"]
        let policy = Placement.Policy(rules: [.init(rig: "demo", require: ["org": "a"])])
        let bad = node(
            "x", slots: 1, running: 1, labels: ["gpu": "none", "org": "b"], rigs: ["other"], runtimes: ["codex"],
            alive: false, draining: true)
        let outcome = Placement.place(request, policy: policy, candidates: [bad])
        #expect(
            outcome.excluded["x"] == [
                .notAlive, .draining, .policy(rule: "rig demo", key: "org", value: "a"), .noRig("demo"),
                .noRuntime("claude"), .missingLabel(key: "gpu", value: "true", has: "none"),
                .missingLabel(key: "region", value: "eu", has: nil), .full(slots: 1, running: 1, reserved: 0),
            ])
        #expect(outcome.policyExcludesAll)
        #expect(outcome.refusal == "the placement policy excludes every node: rig demo (org=a)")
    }

    @Test func aRuntimeNobodyListsIsAcceptedByNodesThatListNone() {
        var request = demo
        request.runtime = "claude"
        let outcome = Placement.place(
            request, candidates: [node("a", runtimes: []), node("b", runtimes: ["claude"]), node("c", runtimes: ["x"])])
        #expect(outcome.ranked == ["a", "b"])
        #expect(outcome.excluded == ["c": [.noRuntime("claude")]])
    }

    @Test func policyRulesApplyToTheirRigOrToEveryRig() {
        let policy = Placement.Policy(rules: [
            .init(rig: "secret", require: ["org": "a"]), .init(rig: "*", require: ["os": "linux"]),
        ])
        let nodes = [
            node("a", labels: ["org": "a", "os": "linux"], rigs: ["demo", "secret"]),
            node("b", labels: ["org": "b", "os": "linux"], rigs: ["demo", "secret"]),
            node("c", labels: ["org": "a", "os": "mac"], rigs: ["demo", "secret"]),
        ]
        let secret = Placement.place(.init(bead: "s-1", rig: "secret"), policy: policy, candidates: nodes)
        #expect(secret.ranked == ["a"])
        #expect(secret.excluded["b"] == [.policy(rule: "rig secret", key: "org", value: "a")])
        #expect(secret.excluded["c"] == [.policy(rule: "rig *", key: "os", value: "linux")])
        #expect(!secret.policyExcludesAll)
        let open = Placement.place(demo, policy: policy, candidates: nodes)
        #expect(open.ranked == ["a", "b"])
        // A policy that keeps the rig off every node is refused, not queued.
        let none = Placement.Policy(rules: [.init(rig: "demo", require: ["org": "z"])])
        let refused = Placement.place(demo, policy: none, candidates: nodes)
        #expect(refused.policyExcludesAll && !refused.placeable)
        #expect(refused.refusal.contains("policy excludes every node"))
        // A node the policy allows but that is full: not "policy excludes every node".
        let full = Placement.place(
            demo, policy: none, candidates: [node("a", slots: 0, labels: ["org": "z"]), node("b", labels: ["org": "y"])])
        #expect(!full.policyExcludesAll)
        // No candidates at all: nothing to place on, and the policy did not exclude anything.
        let empty = Placement.place(demo, policy: none, candidates: [])
        #expect(!empty.policyExcludesAll && empty.refusal == "no node is in the cluster")
    }

    @Test func refusalsNameWhatIsMissing() {
        var gpu = demo
        gpu.require = ["gpu": "true"]
        #expect(
            Placement.place(gpu, candidates: [node("a", labels: ["gpu": "none"]), node("b")]).refusal
                == "no node has label gpu=true")
        var two = demo
        two.require = ["gpu": "true", "region": "eu"]
        #expect(
            Placement.place(two, candidates: [node("a"), node("b")]).refusal == "no node has labels gpu=true, region=eu")
        // Each label exists somewhere, but no node has both.
        #expect(
            Placement.place(two, candidates: [node("a", labels: ["gpu": "true"]), node("b", labels: ["region": "eu"])])
                .refusal == "no node has every label of gpu=true,region=eu")
        #expect(Placement.place(demo, candidates: [node("a", rigs: [])]).refusal == "no node has rig demo")
        #expect(Placement.place(demo, candidates: [node("a", alive: false)]).refusal == "no node is alive")
        #expect(
            Placement.place(demo, candidates: [node("a", draining: true), node("b", alive: false)]).refusal
                == "every node is draining")
        #expect(
            Placement.place(demo, candidates: [node("a", slots: 0), node("b", draining: true)]).refusal
                == "every node is full")
        let mixed = Placement.place(demo, candidates: [node("a", slots: 0), node("b", rigs: [])]).refusal
        #expect(mixed == "no node can take it: a: full (0 slots, 0 running, 0 reserved); b: no rig demo")
    }

    @Test func thePickIsAmongTheBestThreeAndTheRestKeepTheirOrder() {
        let nodes = (0..<6).map { node("n\($0)", slots: 10 - $0) }
        let outcome = Placement.place(demo, candidates: nodes)
        #expect(outcome.ranked == ["n0", "n1", "n2", "n3", "n4", "n5"])
        var firsts: [String: Int] = [:]
        var random = SplitMix64(seed: 42)
        for _ in 0..<300 {
            let order = outcome.order(using: &random)
            #expect(Set(order) == Set(outcome.ranked) && order.count == 6)
            let first = order[0]
            firsts[first, default: 0] += 1
            #expect(order.dropFirst() == ArraySlice(outcome.ranked.filter { $0 != first }))
        }
        #expect(Set(firsts.keys) == ["n0", "n1", "n2"], "\(firsts)")
        // Deterministic for a seed.
        var r1 = SplitMix64(seed: 7)
        var r2 = SplitMix64(seed: 7)
        #expect((0..<20).map { _ in outcome.order(using: &r1) } == (0..<20).map { _ in outcome.order(using: &r2) })
        // One or no candidate: nothing to draw.
        var r = SplitMix64(seed: 1)
        #expect(Placement.place(demo, candidates: [node("a")]).order(using: &r) == ["a"])
        #expect(Placement.place(demo, candidates: []).order(using: &r) == [])
        #expect(outcome.order(among: 1, using: &r) == outcome.ranked)
    }

    /// Every combination of the exclusion inputs on one node: excluded exactly when some input says so, and the
    /// reasons are exactly the inputs that say so.
    @Test func exhaustiveExclusionsOfOneNode() {
        let policy = Placement.Policy(rules: [.init(rig: "demo", require: ["org": "a"])])
        var request = demo
        request.runtime = "exec"
        request.require = ["gpu": "true"]
        for mask in 0..<(1 << 7) {
            let bit = { (i: Int) in mask & (1 << i) != 0 }
            let candidate = node(
                "n", slots: bit(0) ? 0 : 2, labels: (bit(1) ? [:] : ["org": "a"]).merging(bit(2) ? [:] : ["gpu": "true"]) {
                    a, _ in a
                }, rigs: bit(3) ? [] : ["demo"], runtimes: bit(4) ? ["claude"] : ["exec"], alive: !bit(5),
                draining: bit(6))
            let outcome = Placement.place(request, policy: policy, candidates: [candidate])
            var want: [Placement.Exclusion] = []
            if bit(5) { want.append(.notAlive) }
            if bit(6) { want.append(.draining) }
            if bit(1) { want.append(.policy(rule: "rig demo", key: "org", value: "a")) }
            if bit(3) { want.append(.noRig("demo")) }
            if bit(4) { want.append(.noRuntime("exec")) }
            if bit(2) { want.append(.missingLabel(key: "gpu", value: "true", has: nil)) }
            if bit(0) { want.append(.full(slots: 0, running: 0, reserved: 0)) }
            #expect((outcome.excluded["n"] ?? []) == want, "mask \(mask)")
            #expect(outcome.placeable == want.isEmpty, "mask \(mask)")
            #expect(outcome.policyExcludesAll == bit(1), "mask \(mask)")
        }
    }

    @Test func requirementsParse() throws {
        #expect(try Placement.parseRequirements("gpu=true") == ["gpu": "true"])
        #expect(try Placement.parseRequirements("gpu=true,region=eu") == ["gpu": "true", "region": "eu"])
        for bad in ["", "gpu", "=x", "x=", "a=1,", ",a=1", "a=1,a=2", "a b=1", "a=1 2", "a=\u{7F}", "k=a=b"] {
            #expect(throws: Placement.SyntaxError.self, "\(bad)") { try Placement.parseRequirements(bad) }
        }
    }

    /// Random bytes as `--require` text never crash the parser, and what it accepts prints back to itself.
    @Test func requirementsParserFuzz() throws {
        var random = SplitMix64(seed: 13)
        let alphabet = Array("ab=,= \u{7F}\u{0}é1")
        for _ in 0..<3000 {
            let n = Int(random.next() % 12)
            let text = String((0..<n).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
            if let parsed = try? Placement.parseRequirements(text) {
                let printed = parsed.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                #expect(try Placement.parseRequirements(printed) == parsed, "\(text)")
            }
        }
    }

    /// One placer per orphaned bead: every node computes the same owner from the same live list, whatever its
    /// order, and removing a node moves only the beads that node owned.
    @Test func oneRendezvousPlacerPerOrphanedBead() {
        let live = ["alpha", "beta", "gamma", "delta"]
        var owned: [String: String] = [:]
        for i in 0..<200 {
            let bead = "demo-\(i)"
            let owner = Placer.owner(of: bead, slungBy: nil, live: live)!
            #expect(Placer.owner(of: bead, slungBy: nil, live: live.reversed()) == owner)
            #expect(Placer.owner(of: bead, slungBy: "omega", live: live) == owner, "a dead slinger is skipped")
            #expect(Placer.owner(of: bead, slungBy: "beta", live: live) == "beta")
            owned[bead] = owner
        }
        #expect(Set(owned.values) == Set(live), "every node places some")
        let without = live.filter { $0 != "gamma" }
        for (bead, owner) in owned {
            let now = Placer.owner(of: bead, slungBy: nil, live: without)!
            if owner != "gamma" { #expect(now == owner, "\(bead) moved though its owner stayed") }
        }
        #expect(Placer.owner(of: "x", slungBy: nil, live: []) == nil)
    }
}
