/// The Witness's side of the cluster's emergency stop (`gt estop` / `gt thaw`, docs/health.md), as a pure core:
/// given the freeze record's state and the sessions of this node's hooked polecats at each patrol, it says which
/// sessions to pause (SIGSTOP of the session's process tree), which to resume (SIGCONT), and whether the health
/// rules run. `Sendable`: plain values.
///
/// - While frozen, every session not yet paused is paused (a node restarted during a freeze pauses all of them
///   again; stopping a stopped process is harmless), and the health rules do not run: a paused pane does not
///   change, and must not be taken for hung.
/// - At a thaw (a version not applied yet), every session paused is resumed and so is every session the node has
///   now (a node that was down during the freeze and its thaw may hold sessions stopped before it went down), and
///   each resumed polecat's health track is forgotten, so the freeze's silence does not count towards `hung`.
/// - The shell MUST carry out `.pause` and `.resume` before running the health rules, and MUST NOT restart or
///   nudge any session while `healthRules` is false.
public struct FreezeGate: Sendable, Equatable {
    /// What the shell does.
    public enum Directive: Sendable, Equatable {
        /// Stop every process of the session (its name).
        case pause(String)
        /// Continue every process of the session.
        case resume(String)
        /// Forget the health track of the polecat holding this session (its observations span the freeze).
        case forget(String)
    }

    /// Sessions paused by this gate.
    public private(set) var paused: Set<String> = []
    /// The freeze version last applied (0: none).
    public private(set) var appliedVersion: Int = 0

    public init() {}

    /// One patrol: the record's state (`frozen`, `version`; version 0 when there is no record) and the sessions of
    /// this node's hooked polecats now. Returns the directives (pauses and resumes sorted by session) and whether
    /// the health rules run this patrol.
    public mutating func onPatrol(frozen: Bool, version: Int, sessions: [String]) -> (
        directives: [Directive], healthRules: Bool
    ) {
        let current = Set(sessions)
        if frozen {
            paused.formIntersection(current)
            let fresh = current.subtracting(paused).sorted()
            paused.formUnion(fresh)
            appliedVersion = version
            return (fresh.map(Directive.pause), false)
        }
        guard version != appliedVersion || !paused.isEmpty else { return ([], true) }
        // A thaw not applied yet: everything paused, and every session there is now, continues.
        let resumed = version != appliedVersion ? paused.union(current) : paused
        paused = []
        appliedVersion = version
        let names = resumed.sorted()
        return (names.map(Directive.resume) + names.filter(current.contains).map(Directive.forget), true)
    }
}
