/// The Dogs' limits (docs/health.md), with documented defaults. `Sendable`: plain values.
public struct DogSettings: Sendable, Equatable, Codable {
    /// Disk the polecat worktrees of one node may use (bytes) before the `cleanup` Dog removes finished ones
    /// (bead closed and merged, nothing uncommitted, no live session), oldest first. 0 removes every finished
    /// worktree at each run. Default 10 GiB.
    public var cleanupDiskBudget: Int64 = 10 << 30
    /// The reference a polecat's checkpoints go to is this prefix followed by the polecat's name. Default
    /// `refs/gt/checkpoints/`.
    public var checkpointReferencePrefix = "refs/gt/checkpoints/"
    /// The `doctor` Dog fails when the town's file system has less free space than this (bytes). Default 1 GiB.
    public var doctorMinimumFreeBytes: Int64 = 1 << 30
    /// The `repack` Dog packs a repository once it has at least this many loose objects. Default 256.
    public var repackMinimumLooseObjects = 256

    public init() {}
}

/// One polecat worktree as the `cleanup` Dog found it. `Sendable`: plain values.
public struct WorktreeFacts: Sendable, Equatable {
    public var rig: String
    public var polecat: String
    public var path: String
    /// The branch checked out (nil: detached or unreadable).
    public var branch: String?
    /// Bytes its files use.
    public var bytes: Int64
    /// The newest modification time of its files (seconds since 1970): older finished worktrees go first.
    public var lastChange: Double
    /// The bead its branch is for is closed and merged (`merge_commit` recorded by the Refinery).
    public var finished: Bool
    /// It has uncommitted or untracked files.
    public var dirty: Bool
    /// A session of this polecat is alive.
    public var sessionLive: Bool
    /// Its hook names a bead that is not finished (a new assignment is being set up or worked on).
    public var hookedElsewhere: Bool

    public init(
        rig: String, polecat: String, path: String, branch: String?, bytes: Int64, lastChange: Double,
        finished: Bool, dirty: Bool, sessionLive: Bool, hookedElsewhere: Bool = false
    ) {
        self.rig = rig
        self.polecat = polecat
        self.path = path
        self.branch = branch
        self.bytes = bytes
        self.lastChange = lastChange
        self.finished = finished
        self.dirty = dirty
        self.sessionLive = sessionLive
        self.hookedElsewhere = hookedElsewhere
    }

    /// Why it must stay whatever the budget, or nil when it may be removed.
    public var keepReason: String? {
        if dirty { return "uncommitted work" }
        if sessionLive { return "live session" }
        if hookedElsewhere { return "hooked to unfinished work" }
        if !finished { return "its bead is not closed and merged" }
        return nil
    }
}

/// One polecat work branch (`polecat/<node>/<polecat>/<bead>/e<epoch>`) of a rig's repository. `Sendable`.
public struct BranchFacts: Sendable, Equatable {
    public var rig: String
    public var name: String
    /// Its bead is closed and merged.
    public var finished: Bool
    /// The path of the worktree that has it checked out, if any.
    public var checkedOutAt: String?

    public init(rig: String, name: String, finished: Bool, checkedOutAt: String?) {
        self.rig = rig
        self.name = name
        self.finished = finished
        self.checkedOutAt = checkedOutAt
    }

    /// The bead a work branch name is for, or nil when it is not one (`polecat/<node>/<polecat>/<bead>/e<n>`).
    public static func bead(ofBranch name: String) -> String? {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "polecat", parts[4].hasPrefix("e"), !parts[3].isEmpty else { return nil }
        return String(parts[3])
    }
}

/// What the `cleanup` Dog does in one run. `Sendable`: plain values.
public struct CleanupPlan: Sendable, Equatable {
    /// Worktrees to remove (oldest finished first).
    public var removeWorktrees: [WorktreeFacts] = []
    /// Branches to delete: finished and checked out by no worktree that stays.
    public var deleteBranches: [BranchFacts] = []
    /// Bytes of polecat worktrees before and after the plan.
    public var bytesBefore: Int64 = 0
    public var bytesAfter: Int64 = 0
    /// Over budget even after every removable worktree went (the rest must stay).
    public var stillOverBudget: Bool { bytesAfter > budget }
    public var budget: Int64 = 0

    /// The plan for `worktrees` and `branches` within `budget` bytes (pure: the `cleanup` Dog's decisions).
    /// A worktree goes only when `keepReason` is nil and the total is over budget; branches go when finished
    /// and not checked out by a worktree that stays (a branch costs little: it is not counted in the budget).
    public init(worktrees: [WorktreeFacts], branches: [BranchFacts], budget: Int64) {
        self.budget = max(0, budget)
        bytesBefore = worktrees.reduce(0) { $0 + $1.bytes }
        var total = bytesBefore
        let removable = worktrees.filter { $0.keepReason == nil }.sorted {
            ($0.lastChange, $0.path) < ($1.lastChange, $1.path)
        }
        for worktree in removable where total > self.budget || self.budget == 0 {
            removeWorktrees.append(worktree)
            total -= worktree.bytes
        }
        bytesAfter = total
        let removed = Set(removeWorktrees.map(\.path))
        deleteBranches = branches.filter { branch in
            guard branch.finished else { return false }
            guard let path = branch.checkedOutAt else { return true }
            return removed.contains(path)
        }.sorted { ($0.rig, $0.name) < ($1.rig, $1.name) }
    }
}
