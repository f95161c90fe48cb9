/// What the health rules say a polecat is doing. `Sendable`: a plain enum.
public enum HealthState: String, Sendable, Equatable, Codable, CaseIterable {
    /// Making progress (pane changing, `gt` calls, heartbeats), or too early to tell.
    case working
    /// At its runtime's ready prompt with work on its hook, doing nothing; or not hooked at all.
    case idle
    /// Waiting at a known dialog (permission, trust, bypass warning).
    case stalledAtPrompt = "stalled-at-prompt"
    /// Printing the same block of output over and over.
    case looping
    /// Alive but silent: pane unchanged, no `gt` call, no heartbeat, past the threshold.
    case hung
    /// The session exists but the runtime's process in it is gone.
    case zombie
    /// A `gt done` started and stopped advancing.
    case doneStuck = "done-stuck"
    /// The session is gone while work is hooked.
    case dead
    /// The runtime's account hit a rate limit or quota (the pane says so).
    case rateLimited = "rate-limited"
}

/// What the Witness should do about it. Every action is aimed at one polecat *and* one session epoch (see
/// `HealthVerdict`); the shell refuses an action whose epoch is no longer current. `Sendable`: plain values.
public enum HealthAction: Sendable, Equatable, Codable {
    /// Nothing now (healthy, or waiting for confirmation, a cooldown, or a rate-limit reset).
    case wait
    /// Type this text into the session.
    case nudge(text: String)
    /// Answer a dialog by sending these tmux keys (`Enter`, `Down`, `2`, …) in order.
    case dismissDialog(keys: [String])
    /// Kill the session (if any) and start the next session epoch from the hook.
    case restartSession
    /// Run the interrupted `gt done` again (each step is idempotent).
    case finishDone
    /// Give the work up on this polecat: release the claim so it is placed elsewhere.
    case resling
    /// Stop acting; tell a person or the Mayor (one escalation per cause).
    case escalate(EscalationCategory)

    /// A short name for logs and JSON (`wait`, `nudge`, `dismiss-dialog`, …).
    public var name: String {
        switch self {
        case .wait: "wait"
        case .nudge: "nudge"
        case .dismissDialog: "dismiss-dialog"
        case .restartSession: "restart-session"
        case .finishDone: "finish-done"
        case .resling: "resling"
        case .escalate: "escalate"
        }
    }

    /// Whether the shell has anything to carry out.
    public var acts: Bool { self != .wait }
}

/// One fact the rules used, as `name: value` (for the event log and the bead comment). `Sendable`: plain values.
public struct HealthEvidence: Sendable, Equatable, Codable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// The rules' answer for one observation: the state, the action (aimed at `polecat` and `sessionEpoch`), why,
/// and whether the state is confirmed (seen in `HealthSettings.confirmations` consecutive observations).
/// `Sendable`: plain values.
public struct HealthVerdict: Sendable, Equatable, Codable {
    public var polecat: String
    public var sessionEpoch: Int
    public var state: HealthState
    public var action: HealthAction
    /// One line a person reads (`gt health`).
    public var reason: String
    public var evidence: [HealthEvidence]
    /// How many consecutive observations have shown `state`.
    public var seen: Int
    /// When it was decided.
    public var at: Double
    /// An escalation to raise with the action (the shell passes it to `EscalationBook`), if any.
    public var escalation: Escalation?

    public init(
        polecat: String, sessionEpoch: Int, state: HealthState, action: HealthAction, reason: String,
        evidence: [HealthEvidence], seen: Int, at: Double, escalation: Escalation? = nil
    ) {
        self.polecat = polecat
        self.sessionEpoch = sessionEpoch
        self.state = state
        self.action = action
        self.reason = reason
        self.evidence = evidence
        self.seen = seen
        self.at = at
        self.escalation = escalation
    }
}

/// The fence every action passes before the shell carries it out: the polecat must still be the one the action
/// named, on the same session epoch, holding the same bead. A late action (its session replaced) finds no
/// target. A caseless namespace.
public enum HealthFence {
    /// Why `verdict`'s action may not run against the polecat as it is now, or nil when it may.
    public static func refusal(
        _ verdict: HealthVerdict, currentPolecat: String, currentEpoch: Int, currentBead: String, expectedBead: String
    ) -> String? {
        if verdict.polecat != currentPolecat {
            return "action for \(verdict.polecat) does not name \(currentPolecat)"
        }
        if verdict.sessionEpoch != currentEpoch {
            return "action for session epoch \(verdict.sessionEpoch) refused: the current session epoch is \(currentEpoch)"
        }
        if expectedBead != currentBead {
            return "action for bead '\(expectedBead)' refused: the polecat now holds '\(currentBead)'"
        }
        return nil
    }
}
