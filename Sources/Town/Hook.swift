import Foundation

/// The hook: what a polecat is working on, written to `<worktree>/.gt/hook.json` (git-ignored) when the bead is
/// slung, and mirrored by the claim in the ledger (assignee, node, lease epoch) and the agent bead's `hook_bead`.
/// A restarted node re-primes every polecat whose hook file and claim agree (GUPP).
/// `Sendable`: a plain value.
public struct Hook: Codable, Sendable, Equatable {
    public var town: String
    public var rig: String
    public var polecat: String
    /// The hooked bead.
    public var bead: String
    public var title: String
    /// The lease epoch of the claim this hook holds.
    public var epoch: Int
    /// The work branch, `polecat/<node>/<name>/<bead>/e<epoch>`.
    public var branch: String
    /// The commit the branch started at.
    public var base: String
    public var node: String
    public var runtime: String
    /// The current session's epoch (bumped at every session start for this polecat).
    public var sessionEpoch: Int
    public var slungAt: String

    enum CodingKeys: String, CodingKey {
        case town, rig, polecat, bead, title, epoch, branch, base, node, runtime
        case sessionEpoch = "session_epoch"
        case slungAt = "slung_at"
    }

    /// A hook; see the properties.
    public init(
        town: String, rig: String, polecat: String, bead: String, title: String, epoch: Int, branch: String,
        base: String, node: String, runtime: String, sessionEpoch: Int, slungAt: String
    ) {
        self.town = town
        self.rig = rig
        self.polecat = polecat
        self.bead = bead
        self.title = title
        self.epoch = epoch
        self.branch = branch
        self.base = base
        self.node = node
        self.runtime = runtime
        self.sessionEpoch = sessionEpoch
        self.slungAt = slungAt
    }

    /// The agent's address, `<rig>/polecats/<name>`.
    public var agent: String { "\(rig)/polecats/\(polecat)" }

    /// The work branch name for a claim (DESIGN §6): unique across nodes and leases.
    public static func branchName(node: String, polecat: String, bead: String, epoch: Int) -> String {
        "polecat/\(node)/\(polecat)/\(bead)/e\(epoch)"
    }

    /// Reads the hook of `worktree`; nil when there is none.
    public static func read(worktree: String) throws(TownError) -> Hook? {
        let path = TownLayout.hookFile(worktree: worktree)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try decode(data, path: path)
    }

    /// Decodes a hook file's bytes; `.badHookFile` naming `path` when they are not a hook.
    public static func decode(_ data: Data, path: String) throws(TownError) -> Hook {
        do { return try JSONDecoder().decode(Hook.self, from: data) } catch {
            throw .badHookFile(path: path, reason: "\(error)")
        }
    }

    /// Writes the hook into `worktree` atomically.
    public func write(worktree: String) throws(TownError) {
        try TownJSON.write(self, to: TownLayout.hookFile(worktree: worktree))
    }
}
