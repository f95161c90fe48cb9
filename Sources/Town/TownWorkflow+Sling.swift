import Beads
import Foundation
import Git
import Sessions

/// What `gt sling` did. `Sendable`: a plain value.
public struct SlingResult: Sendable, Codable, Equatable {
    public var bead: String
    public var rig: String
    public var polecat: String
    public var epoch: Int
    public var branch: String
    public var worktree: String
    public var session: String
    public var runtime: String
    /// With `--force`: whose claim was taken over (nil otherwise).
    public var takenFrom: String?
    /// The node that runs the work when another node's Mayor placed it (nil: this node).
    public var node: String? = nil

    public init(
        bead: String, rig: String, polecat: String, epoch: Int, branch: String, worktree: String, session: String,
        runtime: String, takenFrom: String? = nil, node: String? = nil
    ) {
        self.bead = bead
        self.rig = rig
        self.polecat = polecat
        self.epoch = epoch
        self.branch = branch
        self.worktree = worktree
        self.session = session
        self.runtime = runtime
        self.takenFrom = takenFrom
        self.node = node
    }

    enum CodingKeys: String, CodingKey {
        case bead, rig, polecat, epoch, branch, worktree, session, runtime, node
        case takenFrom = "taken_from"
    }
}

extension TownWorkflow {
    /// `gt sling <bead> [rig]`: validates (the bead exists, is work, is not closed, nobody holds it, the rig
    /// exists, the runtime parses: nothing is changed when any fails), claims the bead (lease epoch + 1, DESIGN
    /// §3), picks an idle polecat of the rig (or creates one), creates its worktree on
    /// `polecat/<node>/<name>/<bead>/e<epoch>`, writes the hook, and starts the session. With `force`, a bead
    /// someone holds is taken over: the holder's claim is released in the same write as the new claim (the epoch
    /// still goes up by one, so the old holder's `gt done` is refused), a polecat of this town that held it is
    /// unhooked (session stopped, polecat idle), and a comment and a `sling-force` event record it. When a step
    /// after the claim fails, the claim is released and the polecat set idle again. `polecat` prefers that polecat
    /// when it is idle (the Refinery sends rework back to whoever made it); `base` starts the work branch at that
    /// commit instead of the default branch's tip when the rig's repository has it.
    public func sling(
        bead id: String, rig requestedRig: String?, runtime requestedRuntime: String?, force: Bool = false,
        polecat preferred: String? = nil, base requestedBase: String? = nil
    ) async throws(TownError) -> SlingResult {
        let rigs = try rigConfigs()
        return try await withLedger { ledger throws(TownError) in
            try refuseWhenFrozen(ledger)
            guard let bead = ledger.bead(id) else { throw .noSuchBead(id) }
            let rig = try SlingPlan.target(bead: bead, requested: requestedRig, rigs: rigs, force: force)
            try refuseOverBudget(bead, rig: rig.name, ledger: ledger)
            let runtimeText = requestedRuntime ?? rig.runtime ?? settings.defaultRuntime
            _ = try resolveRuntime(runtimeText, rig: rig.name)
            // A removed polecat (its agent bead closed) keeps its name taken but gets no work.
            let everyone = polecats(rig: rig, in: ledger)
            let removed = Set(
                everyone.filter {
                    ledger.bead(PolecatState.beadID(prefix: rig.beads.prefix, rig: rig.name, name: $0.name))?.status
                        == .closed
                }.map(\.name))
            let plan = try SlingPlan.make(
                bead: bead, rig: rig, runtime: runtimeText, polecats: everyone, removed: removed,
                preferred: preferred, limit: rig.maxPolecats ?? settings.maxPolecatsPerRig, namespace: polecatNamespace)
            let idleState: PolecatState
            switch plan.pick {
            case .existing(let state): idleState = state
            case .create(let name): idleState = try await createPolecat(rig: rig, name: name, ledger: ledger)
            }
            let holder = plan.holder
            let agent = idleState.address
            let node = self.node
            let expected = plan.expectedEpoch
            let epoch = plan.epoch
            let previousSession = idleState.sessionName(townRoot: layout.root)
            let polecat = plan.working(idleState)
            // The claim (a compare-and-swap on the epoch read), the hooked status and the polecat's new state go in
            // one all-or-nothing write when the bead lives in the rig's scope; a crash never leaves a claim
            // without a working polecat (for a bead of another scope, the Witness's pass releases such a claim).
            let polecatID = PolecatState.beadID(prefix: rig.beads.prefix, rig: rig.name, name: polecat.name)
            let working = polecat.json
            let sameScope = ledger.scope(of: bead.id) == rig.beads.prefix
            let takeover = takeoverChanges(bead, to: agent, by: actor)
            let claimed = try await ledger.batch(routing: bead.id) { _ throws(LedgerError) in
                takeover.release + [
                    .claim(id: bead.id, assignee: agent, node: node, expectedEpoch: expected),
                    .update(id: bead.id, fields: [.status(.hooked)]),
                ]
                    + (sameScope
                        ? [.setMetadata(id: polecatID, key: PolecatState.metadataKey, value: working)] : [])
                    + takeover.comment
            }
            guard claimed.compactMap({ $0 }).contains(where: { $0.assignee == agent && $0.leaseEpoch == epoch }) else {
                throw .ledger("the claim of \(bead.id) did not land at epoch \(epoch)")
            }
            if !holder.isEmpty {
                if holder != agent { try await unhook(holder, bead: bead.id, rigs: rigs, ledger: ledger) }
                events.record(
                    "sling-force", ["bead": bead.id, "from": holder, "to": agent, "by": actor, "epoch": String(epoch)])
            }
            do {
                if !sameScope { try await save(polecat, prefix: rig.beads.prefix, ledger: ledger) }
                if let afterClaim {
                    do { try await afterClaim(bead.id, epoch) } catch {
                        throw (error as? TownError) ?? .ledger("the claim of \(bead.id) at epoch \(epoch): \(error)")
                    }
                }
                _ = try? await sessions.kill(previousSession)
                let worktree = layout.polecatWorktree(rig.name, polecat.name)
                let (branch, base) = try await makeWorktree(
                    rig: rig, polecat: polecat.name, bead: bead.id, epoch: epoch, base: requestedBase)
                let hook = Hook(
                    town: layout.root, rig: rig.name, polecat: polecat.name, bead: bead.id, title: bead.title,
                    epoch: epoch, branch: branch, base: base, node: node, runtime: runtimeText,
                    sessionEpoch: polecat.sessionEpoch, slungAt: TownWorkflow.now())
                try hook.write(worktree: worktree)
                events.record(
                    "hook", ["agent": polecat.address, "bead": bead.id, "epoch": String(epoch), "worktree": worktree])
                if let setup = rig.setup { try await runSetup(setup, hook: hook, worktree: worktree) }
                try await startSession(hook: hook, worktree: worktree)
                let session = polecat.sessionName(townRoot: layout.root).description
                events.record(
                    "sling",
                    [
                        "bead": bead.id, "rig": rig.name, "polecat": polecat.name, "epoch": String(epoch),
                        "branch": branch, "session": session, "runtime": runtimeText,
                    ])
                return SlingResult(
                    bead: bead.id, rig: rig.name, polecat: polecat.name, epoch: epoch, branch: branch,
                    worktree: worktree, session: session, runtime: runtimeText,
                    takenFrom: holder.isEmpty ? nil : holder)
            } catch {
                let status = bead.status
                let idle = idleState.json
                _ = try? await ledger.batch(routing: bead.id) { _ throws(LedgerError) in
                    [.release(id: bead.id, assignee: agent), .update(id: bead.id, fields: [.status(status)])]
                        + (sameScope ? [.setMetadata(id: polecatID, key: PolecatState.metadataKey, value: idle)] : [])
                }
                if !sameScope { try? await save(idleState, prefix: rig.beads.prefix, ledger: ledger) }
                throw (error as? TownError) ?? .io("\(error)")
            }
        }
    }

    /// Creates the polecat's worktree for one assignment (removing the previous one) on a new work branch at the
    /// tip of the rig's default branch. Returns the branch and its base commit.
    func makeWorktree(
        rig: RigConfig, polecat: String, bead: String, epoch: Int, base requested: String? = nil
    )
        async throws(TownError) -> (branch: String, base: String)
    {
        let branch = Hook.branchName(node: node, polecat: polecat, bead: bead, epoch: epoch)
        try await removeWorktree(rig: rig, polecat: polecat)
        do {
            let bare = try await GitRepository.open(at: layout.bareRepository(rig.name))
            let tip = try await bare.resolve("refs/heads/\(rig.defaultBranch)")
            let head = try await bare.resolve("HEAD")
            var wanted: GitOID?
            if let requested, let id = GitOID(hex: requested), await bare.contains(id) { wanted = id }
            guard let base = wanted ?? tip ?? head else {
                throw TownError.git("the rig's repository has no commit on \(rig.defaultBranch) to start from")
            }
            if try await bare.resolve("refs/heads/\(branch)") != nil {
                try await bare.deleteReference("refs/heads/\(branch)")
            }
            try await bare.addWorktree(
                name: polecat, path: layout.polecatWorktree(rig.name, polecat), newBranch: branch, at: base)
            return (branch, base.hex)
        } catch let error as GitError {
            throw .git("cannot create the worktree of \(rig.name)/\(polecat): \(error.message)")
        } catch let error as TownError {
            throw error
        } catch {
            throw .git("\(error)")
        }
    }
}
