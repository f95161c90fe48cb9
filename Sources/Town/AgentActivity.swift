import Foundation

/// What an agent last did through `gt`, kept in its worktree (`<worktree>/.gt/activity.json`, git-ignored with
/// the rest of `.gt/`): the time of its last `gt` command (any agent-facing one) and of its last `gt heartbeat`.
/// The Witness reads it as evidence of life: a polecat in a long silent test run that calls `gt heartbeat` is never
/// taken for hung. Times are Unix seconds. `Sendable`: a plain value.
public struct AgentActivity: Codable, Sendable, Equatable {
    /// When the agent last ran a `gt` command from the worktree, and which.
    public var lastCall: Double?
    public var lastCommand: String?
    /// When it last ran `gt heartbeat`, its note, and how many it has sent.
    public var lastHeartbeat: Double?
    public var note: String?
    public var heartbeats: Int

    enum CodingKeys: String, CodingKey {
        case note, heartbeats
        case lastCall = "last_call"
        case lastCommand = "last_command"
        case lastHeartbeat = "last_heartbeat"
    }

    public init() { heartbeats = 0 }

    /// The file in `worktree`.
    public static func path(worktree: String) -> String { worktree + "/.gt/activity.json" }

    /// The activity of `worktree` (empty when none was recorded or the file is unreadable).
    public static func read(worktree: String) -> AgentActivity {
        (try? TownJSON.read(AgentActivity.self, from: path(worktree: worktree))) ?? AgentActivity()
    }

    /// Records a `gt` command run from inside `directory`'s worktree (nothing outside a polecat worktree).
    /// Best effort: a failure to write is ignored (it is evidence, not state).
    public static func recordCall(from directory: String, command: String, at time: Double = Date().timeIntervalSince1970) {
        guard let worktree = TownLayout.enclosingWorktree(of: directory) else { return }
        var activity = read(worktree: worktree)
        activity.lastCall = time
        activity.lastCommand = command
        try? TownJSON.write(activity, to: path(worktree: worktree))
    }

    /// `gt heartbeat`: records that the agent in `directory`'s worktree is alive. Throws `.notInWorktree` outside one.
    @discardableResult
    public static func heartbeat(from directory: String, note: String?, at time: Double = Date().timeIntervalSince1970)
        throws(TownError) -> AgentActivity
    {
        guard let worktree = TownLayout.enclosingWorktree(of: directory) else { throw .notInWorktree(directory) }
        var activity = read(worktree: worktree)
        activity.lastCall = time
        activity.lastCommand = "heartbeat"
        activity.lastHeartbeat = time
        activity.note = note
        activity.heartbeats += 1
        try TownJSON.write(activity, to: path(worktree: worktree))
        return activity
    }
}
