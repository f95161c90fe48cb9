import Foundation
import Scheduling
import Testing
import Town

@testable import Node

/// Capability routing's shell side: the Mayor sums the CVs of the polecats in the shared ledger per node (by the
/// `<node>-` prefix of their names) and runtime, for the bead's labels, and placement ranks on them.
@Suite struct MayorRoutingTests {
    typealias K = Placement.RecordKey
    typealias R = Placement.Record

    func polecat(_ name: String, _ outcomes: [(PolecatState.Outcome, [String], String)]) -> PolecatState {
        var state = PolecatState(rig: "demo", name: name)
        for (outcome, labels, runtime) in outcomes { state.count(outcome, labels: labels, runtime: runtime) }
        return state
    }

    @Test func recordsAreSummedPerNodeAndRuntimeForTheBeadsLabels() {
        let polecats = [
            polecat(
                "alpha-nux", [(.merge, ["skill:swift"], "claude"), (.merge, ["skill:swift", "skill:go"], "claude")]),
            polecat("alpha-max", [(.rework, ["skill:swift"], "claude"), (.merge, ["skill:swift"], "exec:'sh a.sh'")]),
            // alpha-b is a node of its own: its polecats are not alpha's.
            polecat("alpha-b-nux", [(.failure, ["skill:swift"], "claude")]),
            polecat("beta-nux", [(.merge, ["skill:go"], "claude")]),
            // No node prefixes it (slung without a cluster): counts for none.
            polecat("nux", [(.merge, ["skill:swift"], "claude")]),
        ]
        let records = Mayor.records(
            labels: ["skill:swift"], nodes: ["alpha", "alpha-b", "beta"], polecats: polecats)
        #expect(
            records["alpha"] == [
                K(label: "skill:swift", runtime: "claude"): R(merges: 2, rework: 1),
                K(label: "skill:swift", runtime: "exec"): R(merges: 1),
            ])
        #expect(records["alpha-b"] == [K(label: "skill:swift", runtime: "claude"): R(failures: 1)])
        #expect(records["beta"] == nil, "beta has no swift record")
        #expect(records.count == 2)
    }

    @Test func theNodeWithTheBetterRecordIsAskedFirst() {
        let polecats = [
            polecat("beta-nux", [(.merge, ["skill:swift"], "claude"), (.merge, ["skill:swift"], "claude")]),
            polecat("alpha-nux", [(.failure, ["skill:swift"], "claude")]),
        ]
        let nodes = ["alpha", "beta", "gamma"]
        let records = Mayor.records(labels: ["skill:swift"], nodes: nodes, polecats: polecats)
        let candidates = [
            Placement.Candidate(name: "alpha", slots: 6, rigs: ["demo"], records: records["alpha"] ?? [:]),
            Placement.Candidate(name: "beta", slots: 1, rigs: ["demo"], records: records["beta"] ?? [:]),
            Placement.Candidate(name: "gamma", slots: 3, rigs: ["demo"], records: records["gamma"] ?? [:]),
        ]
        let swift = Placement.Request(bead: "demo-1", rig: "demo", runtime: "claude", labels: ["skill:swift"])
        // beta ¾ first; alpha's one failure (⅓) is within 0.2 of gamma's none (½), so capacity puts alpha next.
        #expect(Placement.place(swift, candidates: candidates).ranked == ["beta", "alpha", "gamma"])
        // On codex nobody has a record: capacity decides.
        var codex = swift
        codex.runtime = "codex"
        #expect(Placement.place(codex, candidates: candidates).ranked == ["alpha", "gamma", "beta"])
        // A bead without labels: today's order.
        let plain = Placement.Request(bead: "demo-2", rig: "demo", runtime: "claude")
        #expect(Placement.place(plain, candidates: candidates).ranked == ["alpha", "gamma", "beta"])
    }
}
