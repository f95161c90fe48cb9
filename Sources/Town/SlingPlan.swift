import Beads

/// What `gt sling` will do, computed from a snapshot of the ledger and the rig registry with no I/O: which rig,
/// which polecat (an idle one, the preferred one, or a new name), which epoch, which branch, and the polecat's
/// state to write. `TownWorkflow.sling` (the shell) carries it out: the claim write, the polecat's creation, the
/// worktree, the hook file and the session. `Sendable`: a plain value.
public struct SlingPlan: Sendable, Equatable {
    /// The polecat the work goes to.
    public enum Pick: Sendable, Equatable {
        /// An existing idle polecat (as the ledger had it).
        case existing(PolecatState)
        /// A new polecat of this name (none idle, the rig below its limit).
        case create(name: String)
    }

    public var bead: String
    public var rig: String
    public var runtime: String
    public var pick: Pick
    /// The claim's compare-and-swap: the epoch read, and the new one (read + 1, DESIGN §3).
    public var expectedEpoch: Int
    public var epoch: Int
    /// Who held the bead (with `force`), empty when nobody did.
    public var holder: String

    /// The rig a bead goes to (validating the bead first: it exists as work, is open, nobody holds it unless
    /// `force`): `requested`, else the rig whose prefix the bead's ID has.
    public static func target(
        bead: Bead, requested: String?, rigs: [String: RigConfig], force: Bool,
        infrastructure: Set<IssueType> = LedgerSettings().infrastructureTypes
    ) throws(TownError) -> RigConfig {
        if bead.status == .closed || bead.status == .tombstone { throw .beadClosed(bead.id) }
        if infrastructure.contains(bead.issueType) { throw .notWork(id: bead.id, type: bead.issueType.rawValue) }
        if !bead.assignee.isEmpty && !force {
            if bead.status == .hooked { throw .beadHooked(id: bead.id, holder: bead.assignee, epoch: bead.leaseEpoch) }
            throw .beadClaimed(id: bead.id, holder: bead.assignee, epoch: bead.leaseEpoch)
        }
        let rigName: String
        if let requested {
            rigName = requested
        } else if let owner = rigs.values.first(where: { bead.id.hasPrefix($0.beads.prefix + "-") }) {
            rigName = owner.name
        } else {
            throw .noRigForBead(id: bead.id, known: rigs.keys.sorted())
        }
        guard let rig = rigs[rigName] else { throw .noSuchRig(name: rigName, known: rigs.keys.sorted()) }
        return rig
    }

    /// The plan for `bead` on `rig`: `polecats` are every polecat of the rig the ledger has, `removed` the names
    /// of those removed (their agent bead closed: the name stays taken, no work goes to them), `limit` the rig's
    /// polecat limit. The preferred polecat when it is idle, else the first idle one, else a fresh name.
    public static func make(
        bead: Bead, rig: RigConfig, runtime: String, polecats: [PolecatState], removed: Set<String>,
        preferred: String?, limit: Int, namespace: String? = nil
    ) throws(TownError) -> SlingPlan {
        let prefix = namespace.map { "\($0)-" } ?? ""
        let active = polecats.filter { !removed.contains($0.name) && $0.name.hasPrefix(prefix) }
        let pick: Pick
        if let preferred, let mine = active.first(where: { $0.name == preferred && $0.isIdle }) {
            pick = .existing(mine)
        } else if let idle = active.first(where: \.isIdle) {
            pick = .existing(idle)
        } else {
            guard active.count < limit else { throw .rigFull(rig: rig.name, limit: limit) }
            pick = .create(name: TownWorkflow.freshName(taken: Set(polecats.map(\.name)), prefix: prefix))
        }
        return SlingPlan(
            bead: bead.id, rig: rig.name, runtime: runtime, pick: pick, expectedEpoch: bead.leaseEpoch,
            epoch: bead.leaseEpoch + 1, holder: bead.assignee)
    }

    /// The polecat's state once the work is hooked on it (from its idle state).
    public func working(_ idle: PolecatState) -> PolecatState {
        var polecat = idle
        polecat.state = "working"
        polecat.hookBead = bead
        polecat.hookEpoch = epoch
        polecat.sessionEpoch += 1
        polecat.runtime = runtime
        polecat.restarts = 0
        return polecat
    }

    /// The work branch of `polecat` on `node`: `polecat/<node>/<name>/<bead>/e<epoch>`.
    public func branch(node: String, polecat: String) -> String {
        Hook.branchName(node: node, polecat: polecat, bead: bead, epoch: epoch)
    }
}
