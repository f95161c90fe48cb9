/// One polecat as the Witness saw it at one instant: everything the health rules read, gathered by the shell
/// (tmux `capture-pane`, the process table, the worktree's files, the ledger). Times are seconds on one clock
/// the shell chooses (the node uses the Unix time). `Sendable`: plain values.
public struct HealthObservation: Sendable, Equatable, Codable {
    /// The polecat's address (`<rig>/polecats/<name>`).
    public var polecat: String
    /// The session epoch observed (the session's name carries it).
    public var sessionEpoch: Int
    /// The runtime preset's name (`claude`, `codex`, `exec`, …): picks the prompt patterns.
    public var runtime: String
    /// When the observation was made.
    public var at: Double
    /// Whether the polecat holds a hook (assigned work).
    public var hooked: Bool
    /// The hooked bead and its lease epoch (empty, 0 when not hooked).
    public var bead: String
    public var leaseEpoch: Int
    /// Whether the session (tmux session or process) exists.
    public var sessionAlive: Bool
    /// Whether a process named by the preset's `processNames` runs in the session; nil when the preset names none
    /// (then liveness is the session's alone).
    public var processAlive: Bool?
    /// The exit status the session's command recorded, if it ended on its own.
    public var exitStatus: Int32?
    /// The captured pane (visible part plus some history), trailing blank lines removed.
    public var paneText: String
    /// When the agent last ran a `gt` command from its worktree (any command), if ever.
    public var lastGTCall: Double?
    /// When the agent last ran `gt heartbeat`, if ever.
    public var lastHeartbeat: Double?
    /// When the work was hooked (the hook's `slung_at`), if known.
    public var hookedAt: Double?
    /// An unfinished `gt done`: how many of its steps are done, and when its progress file last changed.
    public var doneStepsCompleted: Int?
    public var doneChangedAt: Double?
    /// The step the polecat is on, for crash-loop counting: the done step when a `gt done` runs, else "work".
    public var step: String { doneStepsCompleted.map { "done-\($0)" } ?? "work" }

    /// An observation; see the properties.
    public init(
        polecat: String, sessionEpoch: Int, runtime: String, at: Double, hooked: Bool = true, bead: String = "",
        leaseEpoch: Int = 0, sessionAlive: Bool, processAlive: Bool? = nil, exitStatus: Int32? = nil,
        paneText: String = "", lastGTCall: Double? = nil, lastHeartbeat: Double? = nil, hookedAt: Double? = nil,
        doneStepsCompleted: Int? = nil, doneChangedAt: Double? = nil
    ) {
        self.polecat = polecat
        self.sessionEpoch = sessionEpoch
        self.runtime = runtime
        self.at = at
        self.hooked = hooked
        self.bead = bead
        self.leaseEpoch = leaseEpoch
        self.sessionAlive = sessionAlive
        self.processAlive = processAlive
        self.exitStatus = exitStatus
        self.paneText = paneText
        self.lastGTCall = lastGTCall
        self.lastHeartbeat = lastHeartbeat
        self.hookedAt = hookedAt
        self.doneStepsCompleted = doneStepsCompleted
        self.doneChangedAt = doneChangedAt
    }

    /// 64-bit FNV-1a of the pane text, as 16 hex digits (the same hash the session drivers report).
    public var paneHash: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in paneText.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        let text = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}
