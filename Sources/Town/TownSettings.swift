import Foundation
import Sessions

/// Every interval and limit of the town workflow (sling, done, Witness), with documented defaults.
/// `Sendable`: plain values.
public struct TownSettings: Sendable, Equatable {
    /// How many polecats a rig may have before `gt sling` refuses to create another. Default 30.
    public var maxPolecatsPerRig = 30
    /// The runtime used when neither the sling nor the rig names one. Default `claude`.
    public var defaultRuntime = "claude"
    /// The Witness's patrol interval inside the node. Default 2 s.
    public var witnessInterval: Duration = .seconds(2)
    /// How often the Witness restarts a dead session of one hooked polecat before it stops trying and counts a
    /// failure in the polecat's CV. Default 3.
    public var maxSessionRestarts = 3
    /// How long agent-facing commands wait for the store's lock (held by another writer) before failing with a
    /// message naming the holder. Default 30 s.
    public var ledgerWait: Duration = .seconds(30)

    /// How long a runtime that takes its first prompt by typing (codex) may take to show its ready prompt.
    /// Default 60 s.
    public var readyTimeout: Duration = .seconds(60)
    /// The session drivers' settings (tmux command timeout, pane size, kill grace; see docs/sessions.md).
    public var sessions = SessionSettings()

    /// The defaults.
    public init() {}
}
