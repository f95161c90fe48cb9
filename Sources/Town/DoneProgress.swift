import Beads

/// The pure core of `gt done`: a small state machine over the steps that finish a polecat's assignment. The
/// shell (`TownWorkflow.done`) persists it to `<worktree>/.gt/done.json` after every step, so a crash at any
/// point resumes at the first step not recorded; every step is itself idempotent (a push of the same commit, a
/// merge request whose ID is derived from bead, epoch and commit, a release and an idle that check first), so
/// redoing the step that was running when the crash hit is harmless. No I/O, no clock.
/// `Sendable`: a plain value.
public struct DoneProgress: Codable, Sendable, Equatable {
    /// The steps, in order.
    public enum Step: String, Codable, Sendable, CaseIterable {
        /// Push the work branch to the rig's remote.
        case push
        /// File the merge-request bead.
        case fileMergeRequest = "file-merge-request"
        /// Release the claim and remove the hook file.
        case releaseHook = "release-hook"
        /// Mark the polecat idle and count the bead in its CV.
        case idlePolecat = "idle-polecat"
    }

    public var bead: String
    public var epoch: Int
    public var branch: String
    public var commit: String
    public var rig: String
    public var polecat: String
    /// The merge-request bead's ID (derived, see `mergeRequestID`).
    public var mergeRequest: String
    /// Steps done so far, in order.
    public var completed: [Step]

    enum CodingKeys: String, CodingKey {
        case bead, epoch, branch, commit, rig, polecat, completed
        case mergeRequest = "merge_request"
    }

    /// A fresh run for `hook` at `commit` (the worktree's HEAD once checked clean).
    public init(hook: Hook, commit: String, prefix: String) {
        bead = hook.bead
        epoch = hook.epoch
        branch = hook.branch
        self.commit = commit
        rig = hook.rig
        polecat = hook.polecat
        mergeRequest = DoneProgress.mergeRequestID(prefix: prefix, bead: hook.bead, epoch: hook.epoch, commit: commit)
        completed = []
    }

    /// The next step to run, or nil when finished.
    public var next: Step? { Step.allCases.first { !completed.contains($0) } }

    /// Whether every step is done.
    public var isFinished: Bool { next == nil }

    /// Records `step` as done. Steps are taken in order; recording one out of order (or twice) changes nothing.
    public mutating func complete(_ step: Step) {
        guard step == next else { return }
        completed.append(step)
    }

    /// The merge request's ID: `<prefix>-mr-<10 base36 digits of SHA-256(bead, epoch, commit)>`, so a retried
    /// `gt done` finds the one it filed instead of filing a second.
    public static func mergeRequestID(prefix: String, bead: String, epoch: Int, commit: String) -> String {
        let digest = TownHash.sha256("\(bead)\u{0}\(epoch)\u{0}\(commit)")
        var value: UInt64 = 0
        for byte in digest.prefix(8) { value = value << 8 | UInt64(byte) }
        let digits = String(value, radix: 36)
        return "\(prefix)-mr-" + String(String(repeating: "0", count: max(0, 10 - digits.count)) + digits).prefix(10)
    }
}

/// Hashing used for derived IDs. A caseless namespace.
public enum TownHash {
    /// SHA-256 of the UTF-8 bytes of `text`.
    public static func sha256(_ text: String) -> [UInt8] { SHA256.hash(Array(text.utf8)) }
}
