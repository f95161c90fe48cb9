import Testing

@testable import Scheduling

/// Rate limits in placement (docs/health.md "Rate limits, cluster-wide"): the metadata labels, the account rule,
/// the cluster's view, and the exclusion. Pure and deterministic.
@Suite struct PlacementRateLimitTests {
    typealias R = Placement.RateLimits
    typealias C = Placement.Candidate

    func node(_ name: String, labels: [String: String] = [:], slots: Int = 4, alive: Bool = true) -> C {
        C(name: name, alive: alive, labels: labels, slots: slots, rigs: ["demo"])
    }

    @Test func labelsRoundTripAndKeepReservedKeysOutOfPlacementLabels() {
        let published = R.labels(["claude": 1_767_225_600.2, "exec": 1_767_229_200, "": 5, "bad key": 7, "x": .nan])
        #expect(published == ["gt.rate-limit.claude": "1767225601", "gt.rate-limit.exec": "1767229200"])
        var custom = published
        custom["zone"] = "eu"
        custom["account.claude"] = "work-2"
        custom["gt.rate-limit.broken"] = "soon"
        custom["gt.rate-limit."] = "100"
        let (labels, limits) = R.split(custom)
        #expect(labels == ["zone": "eu", "account.claude": "work-2"])
        #expect(limits == ["claude": 1_767_225_601, "exec": 1_767_229_200])
        #expect(R.split([:]).labels.isEmpty && R.split([:]).limits.isEmpty)
    }

    @Test func aNodesAccountIsItsLabelElseTheSharedRuntimeName() {
        #expect(R.account(runtime: "claude", labels: [:]) == "claude")
        #expect(R.account(runtime: "claude", labels: ["account.claude": "work-2"]) == "work-2")
        #expect(R.account(runtime: "codex", labels: ["account.claude": "work-2"]) == "codex")
        #expect(R.account(runtime: "claude", labels: ["account.claude": ""]) == "claude")
    }

    @Test func theClusterViewTakesTheLatestResetAndDropsPastOnes() {
        let view = R.cluster(
            ["b": ["claude": 200, "codex": 90], "a": ["claude": 200, "gemini": 150], "c": ["claude": 180]], now: 100)
        #expect(
            view == [
                "claude": .init(account: "claude", until: 200, node: "a"),
                "gemini": .init(account: "gemini", until: 150, node: "a"),
            ])
        #expect(R.cluster(["a": ["claude": 100]], now: 100).isEmpty, "a limit ends at its reset")
        #expect(R.cluster([:], now: 0).isEmpty)
    }

    @Test func utcFormatsUnixSeconds() {
        #expect(R.utc(0) == "1970-01-01T00:00:00Z")
        #expect(R.utc(1_767_225_600) == "2026-01-01T00:00:00Z")
        #expect(R.utc(951_827_696.5) == "2000-02-29T12:34:57Z")
        #expect(R.utc(-1) == "1969-12-31T23:59:59Z")
    }

    @Test func aLimitedSharedAccountExcludesEveryNodeUntilItsReset() {
        let request = Placement.Request(bead: "demo-1", rig: "demo", runtime: "claude")
        let limits = ["claude": Placement.AccountLimit(account: "claude", until: 1_767_225_600, node: "a")]
        let nodes = [node("a"), node("b")]
        let before = Placement.place(request, candidates: nodes, limits: limits, now: 1_767_225_599)
        #expect(before.ranked.isEmpty)
        let reason = Placement.Exclusion.rateLimited(
            account: "claude", runtime: "claude", until: 1_767_225_600, seenOn: "a")
        #expect(before.excluded == ["a": [reason], "b": [reason]])
        #expect(!before.policyExcludesAll, "queued, not refused")
        #expect(before.rateLimitedUntil == 1_767_225_600)
        #expect(
            before.refusal
                == "runtime claude is rate-limited on every node that could take it: account claude until "
                + "2026-01-01T00:00:00Z (seen on a); it waits until the limit resets")
        #expect(reason.description == "claude account claude rate-limited until 2026-01-01T00:00:00Z (seen on a)")
        let after = Placement.place(request, candidates: nodes, limits: limits, now: 1_767_225_600)
        #expect(after.ranked == ["a", "b"] && after.excluded.isEmpty && after.rateLimitedUntil == nil)
    }

    @Test func aNodeWithItsOwnAccountStillTakesTheRuntime() {
        let request = Placement.Request(bead: "demo-1", rig: "demo", runtime: "claude")
        let limits = ["claude": Placement.AccountLimit(account: "claude", until: 500, node: "a")]
        let outcome = Placement.place(
            request, candidates: [node("a", slots: 8), node("b", labels: ["account.claude": "b-login"])],
            limits: limits, now: 100)
        #expect(outcome.ranked == ["b"])
        #expect(outcome.excluded["a"] == [.rateLimited(account: "claude", runtime: "claude", until: 500, seenOn: "a")])
        #expect(outcome.rateLimitedUntil == nil, "placeable")
        // b's own account limited too: nothing left.
        var both = limits
        both["b-login"] = .init(account: "b-login", until: 400, node: "b")
        let none = Placement.place(
            request, candidates: [node("a"), node("b", labels: ["account.claude": "b-login"])], limits: both, now: 100)
        #expect(none.ranked.isEmpty && none.rateLimitedUntil == 400)
        #expect(
            none.refusal
                == "runtime claude is rate-limited on every node that could take it: account b-login until "
                + "1970-01-01T00:06:40Z (seen on b); account claude until 1970-01-01T00:08:20Z (seen on a); "
                + "it waits until the limit resets")
    }

    @Test func otherRuntimesAndExecBeadsAreJudgedByTheirOwnAccount() {
        let limits = ["claude": Placement.AccountLimit(account: "claude", until: 500, node: "a")]
        let codex = Placement.Request(bead: "demo-1", rig: "demo", runtime: "codex")
        #expect(Placement.place(codex, candidates: [node("a")], limits: limits, now: 100).ranked == ["a"])
        let anyRuntime = Placement.Request(bead: "demo-1", rig: "demo")
        #expect(Placement.place(anyRuntime, candidates: [node("a")], limits: limits, now: 100).ranked == ["a"])
        var exec = Placement.Request(bead: "demo-1", rig: "demo", accountRuntime: "exec")
        let execLimits = ["exec": Placement.AccountLimit(account: "exec", until: 500, node: "b")]
        #expect(Placement.place(exec, candidates: [node("a")], limits: execLimits, now: 100).ranked.isEmpty)
        exec.accountRuntime = "claude"
        #expect(Placement.place(exec, candidates: [node("a")], limits: execLimits, now: 100).ranked == ["a"])
    }

    @Test func otherReasonsKeepTheirRefusalAndTheLimitIsListed() {
        let request = Placement.Request(bead: "demo-1", rig: "demo", runtime: "claude")
        let limits = ["claude": Placement.AccountLimit(account: "claude", until: 500, node: "a")]
        // One node limited, the other full: neither message alone is true, so both are named.
        let outcome = Placement.place(
            request, candidates: [node("a"), node("b", labels: ["account.claude": "own"], slots: 0)], limits: limits,
            now: 100)
        #expect(outcome.rateLimitedUntil == 500)
        #expect(
            outcome.refusal
                == "no node can take it: a: claude account claude rate-limited until 1970-01-01T00:08:20Z (seen on a); "
                + "b: full (0 slots, 0 running, 0 reserved)")
        // A dead node with the limit does not hide the limit of the live one.
        let dead = Placement.place(request, candidates: [node("a", alive: false), node("b")], limits: limits, now: 100)
        #expect(dead.refusal.hasPrefix("runtime claude is rate-limited on every node that could take it"))
    }
}
