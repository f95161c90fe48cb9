/// Fallback runtimes per rig (docs/scheduling.md, issue 14): the pure part of how a sling whose runtime's account
/// is rate-limited everywhere moves to the next runtime the rig allows.
///
/// The rig's runtimes are tried in order (its own runtime first, then `fallback_runtimes`); the first for which
/// some candidate is placeable wins. When none is, the outcome is the primary's (its queue message stays as
/// before), with `rateLimitedUntil` the earliest reset among every runtime's outcome when each of them is held up
/// by rate limits. Pure: no clock (time comes in `now`), no I/O.
extension Placement {
    /// The runtime chosen for a bead and why. `Sendable`: a plain value.
    public struct RuntimeChoice: Sendable, Hashable {
        /// The outcome for the chosen runtime (the primary's when none is placeable).
        public var outcome: Outcome
        /// The chosen runtime spec (`claude`, `exec:./agent.sh`); the primary's when none is placeable.
        public var runtime: String
        /// Why it was chosen, one sentence; nil when the primary was placeable (nothing to explain).
        public var reason: String?
        /// When every runtime is held up by rate limits: the earliest reset among them (Unix seconds); nil
        /// otherwise (some runtime is placeable, or something other than a limit is in the way).
        public var retryAt: Double?
    }

    /// The request's `runtime`/`accountRuntime` for a runtime spec: an `exec:` command line is startable by any
    /// node (`runtime` nil) and counts as `exec` for accounts.
    public static func request(_ request: Request, runtime spec: String) -> Request {
        var out = request
        if spec.hasPrefix("exec:") || spec == "exec" {
            out.runtime = nil
            out.accountRuntime = "exec"
        } else {
            out.runtime = spec
            out.accountRuntime = nil
        }
        return out
    }

    /// Places `request` trying `runtimes` in order (primary first, duplicates ignored); see the extension's
    /// comment. An empty list places `request` as it is, under its own runtime.
    public static func place(
        _ request: Request, runtimes: [String], policy: Policy = Policy(), candidates: [Candidate],
        limits: [String: AccountLimit] = [:], now: Double = 0
    ) -> RuntimeChoice {
        var specs: [String] = []
        for spec in runtimes where !specs.contains(spec) { specs.append(spec) }
        guard let primary = specs.first else {
            let outcome = place(request, policy: policy, candidates: candidates, limits: limits, now: now)
            return RuntimeChoice(
                outcome: outcome, runtime: request.runtime ?? request.accountRuntime ?? "", reason: nil,
                retryAt: outcome.rateLimitedUntil)
        }
        var outcomes: [Outcome] = []
        for spec in specs {
            let outcome = place(
                Placement.request(request, runtime: spec), policy: policy, candidates: candidates, limits: limits,
                now: now)
            if outcome.placeable {
                guard spec != primary else { return RuntimeChoice(outcome: outcome, runtime: spec, reason: nil) }
                let why = outcomes.enumerated().map { i, o in blocked(specs[i], o) }.joined(separator: "; ")
                return RuntimeChoice(outcome: outcome, runtime: spec, reason: "\(why); using fallback \(spec)")
            }
            outcomes.append(outcome)
        }
        let resets = outcomes.map(\.rateLimitedUntil)
        let retryAt = resets.contains(nil) ? nil : resets.compactMap { $0 }.min()
        return RuntimeChoice(outcome: outcomes[0], runtime: primary, reason: nil, retryAt: retryAt)
    }

    /// Why an unplaceable outcome is so, short: the earliest rate-limit reset when limits are in the way, else
    /// the refusal sentence.
    static func blocked(_ spec: String, _ outcome: Outcome) -> String {
        if let until = outcome.rateLimitedUntil, outcome.refusal.hasPrefix("runtime ") {
            return "\(spec)'s account is rate-limited until \(RateLimits.utc(until))"
        }
        return "\(spec): \(outcome.refusal)"
    }
}
