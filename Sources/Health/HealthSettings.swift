/// Every threshold and limit of the Witness's health rules, in one value, with documented defaults (docs/health.md).
/// Times are seconds (`Double`), the unit observations carry. `Sendable`: plain values.
public struct HealthSettings: Sendable, Equatable, Codable {
    /// How many consecutive observations must agree on a bad state before any action is taken (a mechanical rule
    /// never acts on one observation). Default 2.
    public var confirmations = 2
    /// A pane unchanged this long, with no `gt` call and no heartbeat in that time, is hung. Default 900 s (15 min).
    public var hungAfter: Double = 900
    /// A heartbeat (`gt heartbeat`) younger than this keeps a silent polecat "working" (a long silent gate run is
    /// never hung while it beats). Default 600 s.
    public var heartbeatValidity: Double = 600
    /// A hooked polecat sitting at its runtime's ready prompt, pane unchanged this long, is idle. Default 300 s.
    public var idleAfter: Double = 300
    /// An unfinished `gt done` whose progress file has not advanced for this long is stuck. Default 300 s.
    public var doneStuckAfter: Double = 300
    /// How many copies of the same block of lines at the bottom of the pane count as a loop. Default 4.
    public var loopRepeats = 4
    /// The longest block (in lines) the loop detector looks for. Default 8.
    public var loopMaxPeriod = 8
    /// How many lines at the bottom of the pane a dialog must lie within to count as showing now. Default 14.
    public var dialogTailLines = 14
    /// Nudges sent for one episode (hung, idle, looping) before the session is restarted. Default 2.
    public var nudgeLimit = 2
    /// Least time between two nudges, or two dialog answers, to one session. Default 60 s.
    public var actionInterval: Double = 60
    /// Restarts for a hung or looping polecat on one assignment before it is re-slung elsewhere. Default 2.
    public var restartLimit = 2
    /// Crashes (dead session, zombie) on one step of one assignment before respawning stops and one escalation
    /// is raised. Default 3.
    public var crashLoopLimit = 3
    /// How long one cause stays deduplicated after its escalation was sent. Default 3600 s.
    public var escalationDedupWindow: Double = 3600
    /// At most this many escalations are sent per `escalationRateWindow` (the rest are counted, not sent).
    /// Default 10.
    public var escalationRateLimit = 10
    /// See `escalationRateLimit`. Default 600 s.
    public var escalationRateWindow: Double = 600
    /// Where each category of escalation goes (a mail address).
    public var routes: [EscalationCategory: String] = [
        .failed: "mayor/", .blocked: "mayor/", .decision: "overseer", .lifecycle: "mayor/",
    ]
    /// A rate-limit message whose reset time cannot be read marks the account limited this long. Default 3600 s.
    public var rateLimitDefault: Double = 3600
    /// The time zone offset (seconds east of UTC) in which a rate-limit message's wall-clock reset ("resets 3pm")
    /// is read when it names no zone the core knows. Default 0 (UTC).
    public var rateLimitUTCOffset: Double = 0

    /// The defaults.
    public init() {}
}
