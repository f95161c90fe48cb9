import Testing

@testable import Scheduling

/// Fallback runtimes per rig (docs/scheduling.md): the rig's runtimes tried in order. Pure and deterministic.
@Suite struct PlacementRuntimesTests {
    typealias C = Placement.Candidate
    typealias L = Placement.AccountLimit
    let request = Placement.Request(bead: "gt-1", rig: "demo", runtime: "claude")
    let until = 1_796_511_600.0  // 2026-12-05T23:00:00Z

    func node(_ name: String, runtimes: Set<String> = [], labels: [String: String] = [:], slots: Int = 4) -> C {
        C(name: name, alive: true, labels: labels, slots: slots, rigs: ["demo"], runtimes: runtimes)
    }

    @Test func thePrimaryWinsWhenPlaceableWithNoReason() {
        let choice = Placement.place(
            request, runtimes: ["claude", "codex"], candidates: [node("a"), node("b")], now: 100)
        #expect(choice.runtime == "claude")
        #expect(choice.reason == nil)
        #expect(choice.outcome.ranked == ["a", "b"])
        #expect(choice.retryAt == nil)
    }

    @Test func aLimitedPrimaryFallsBackToTheNextPlaceableRuntime() {
        let limits = ["claude": L(account: "claude", until: until, node: "a")]
        let choice = Placement.place(
            request, runtimes: ["claude", "codex", "exec:./agent.sh"], candidates: [node("a"), node("b")],
            limits: limits, now: 100)
        #expect(choice.runtime == "codex")
        #expect(choice.outcome.ranked == ["a", "b"])
        #expect(choice.reason == "claude's account is rate-limited until 2026-12-05T23:00:00Z; using fallback codex")
    }

    @Test func aCandidateWithoutTheRuntimeIsExcludedForIt() {
        let limits = ["claude": L(account: "claude", until: until, node: "a")]
        let choice = Placement.place(
            request, runtimes: ["claude", "codex", "exec:./agent.sh"],
            candidates: [node("a", runtimes: ["claude", "exec"]), node("b", runtimes: ["claude"])],
            limits: limits, now: 100)
        #expect(choice.runtime == "exec:./agent.sh")
        #expect(choice.outcome.ranked == ["a", "b"])
        #expect(
            choice.reason
                == "claude's account is rate-limited until 2026-12-05T23:00:00Z; codex: no node can take it: "
                + "a: no runtime codex; b: no runtime codex; using fallback exec:./agent.sh")
    }

    @Test func nonePlaceableGivesThePrimaryOutcomeAndTheEarliestReset() {
        let limits = [
            "claude": L(account: "claude", until: until, node: "a"),
            "codex": L(account: "codex", until: until - 600, node: "b"),
        ]
        let choice = Placement.place(
            request, runtimes: ["claude", "codex"], candidates: [node("a"), node("b")], limits: limits, now: 100)
        let primary = Placement.place(request, candidates: [node("a"), node("b")], limits: limits, now: 100)
        #expect(choice.runtime == "claude")
        #expect(choice.outcome == primary)
        #expect(choice.reason == nil)
        #expect(choice.outcome.rateLimitedUntil == until)
        #expect(choice.retryAt == until - 600)
    }

    @Test func aFallbackHeldUpByOtherThanALimitLeavesNoRetryTime() {
        let limits = ["claude": L(account: "claude", until: until, node: "a")]
        let choice = Placement.place(
            request, runtimes: ["claude", "codex"], candidates: [node("a", runtimes: ["claude"])], limits: limits,
            now: 100)
        #expect(choice.runtime == "claude")
        #expect(!choice.outcome.placeable)
        #expect(choice.retryAt == nil)
    }

    @Test func anOwnAccountLabelKeepsThePrimaryAndPastLimitsAreIgnored() {
        let limits = ["claude": L(account: "claude", until: until, node: "a")]
        let own = Placement.place(
            request, runtimes: ["claude", "codex"],
            candidates: [node("a"), node("b", labels: ["account.claude": "work-2"])], limits: limits, now: 100)
        #expect(own.runtime == "claude" && own.outcome.ranked == ["b"] && own.reason == nil)
        let past = Placement.place(
            request, runtimes: ["claude", "codex"], candidates: [node("a")], limits: limits, now: until + 1)
        #expect(past.runtime == "claude" && past.outcome.ranked == ["a"])
    }

    @Test func anEmptyListOrDuplicatesBehaveAsThePlainPlacement() {
        let limits = ["claude": L(account: "claude", until: until, node: "a")]
        let plain = Placement.place(request, candidates: [node("a")], limits: limits, now: 100)
        let empty = Placement.place(request, runtimes: [], candidates: [node("a")], limits: limits, now: 100)
        #expect(empty.outcome == plain && empty.runtime == "claude" && empty.retryAt == until)
        let dup = Placement.place(
            request, runtimes: ["claude", "claude"], candidates: [node("a")], limits: limits, now: 100)
        #expect(dup.outcome == plain && dup.runtime == "claude" && dup.retryAt == until)
    }

    @Test func anExecSpecCountsAsExecForAccounts() {
        let r = Placement.request(request, runtime: "exec:./agent.sh")
        #expect(r.runtime == nil && r.accountRuntime == "exec")
        let limits = ["exec": L(account: "exec", until: until, node: "a")]
        let choice = Placement.place(
            request, runtimes: ["exec:./agent.sh", "codex"], candidates: [node("a")], limits: limits, now: 100)
        #expect(choice.runtime == "codex")
        #expect(choice.reason == "exec:./agent.sh's account is rate-limited until 2026-12-05T23:00:00Z; using fallback codex")
    }
}
