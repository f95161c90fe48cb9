import Beads
import Foundation
import LedgerStore
import Sessions

/// A hooked polecat of this node as the Witness observes it. `Sendable`: plain values.
public struct HealthTarget: Sendable, Equatable {
    public var polecat: PolecatState
    public var worktree: String
    public var session: SessionName
    /// The hook file's contents, if readable.
    public var hook: Hook?
    /// The runtime's liveness process names (empty: the session alone says whether it lives).
    public var processNames: [String]
    /// The runtime's name (`claude`, `exec`).
    public var runtimeName: String
    /// The agent bead's ID (where Witness actions are commented).
    public var agentBead: String
}

extension TownWorkflow {
    /// The hooked polecats of every rig whose hook names this node: what the Witness patrols.
    public func healthTargets() async throws(TownError) -> [HealthTarget] {
        let rigs = try rigConfigs()
        if rigs.isEmpty { return [] }
        return try await withLedger(mode: .read) { ledger throws(TownError) in
            var targets: [HealthTarget] = []
            for rig in rigs.values.sorted(by: { $0.name < $1.name }) {
                for polecat in polecats(rig: rig, in: ledger) where !polecat.isIdle {
                    let worktree = layout.polecatWorktree(rig.name, polecat.name)
                    let hook = try? Hook.read(worktree: worktree)
                    if let hook, hook.node != node { continue }
                    // Another node's polecat (no hook here, its bead claimed there): its own Witness watches it.
                    if hook == nil, let bead = ledger.bead(polecat.hookBead), !bead.claimNode.isEmpty,
                        bead.claimNode != node, bead.assignee == polecat.address
                    {
                        continue
                    }
                    let runtime = try? resolveRuntime(hook?.runtime ?? polecat.runtime, rig: rig.name)
                    var names: [String] = []
                    if case .preset(let preset) = runtime { names = preset.processNames }
                    targets.append(
                        HealthTarget(
                            polecat: polecat, worktree: worktree, session: polecat.sessionName(townRoot: layout.root),
                            hook: hook, processNames: names, runtimeName: runtime?.name ?? polecat.runtime,
                            agentBead: PolecatState.beadID(prefix: rig.beads.prefix, rig: rig.name, name: polecat.name)))
                }
            }
            return targets
        }
    }

    /// The polecat at `address` as the ledger has it now; `.noSuchPolecat` when there is none.
    func currentPolecat(_ address: String, ledger: TownLedger) throws(TownError) -> (PolecatState, RigConfig) {
        guard let (rigName, name) = AgentAddress.polecat(address) else { throw .noSuchAgent(address) }
        let rig = try rig(rigName)
        guard let polecat = polecats(rig: rig, in: ledger).first(where: { $0.name == name }) else {
            throw .noSuchPolecat(rig: rigName, name: name)
        }
        return (polecat, rig)
    }

    /// Checks that the polecat at `address` still runs session epoch `epoch` on `bead`; `.fenced` saying what
    /// changed otherwise (a late action finds no target).
    func fence(_ polecat: PolecatState, epoch: Int, bead: String) throws(TownError) {
        guard !polecat.isIdle, polecat.sessionEpoch == epoch, polecat.hookBead == bead else {
            throw .fenced(
                "action for \(polecat.address) session epoch \(epoch) on \(bead) refused: it is now "
                    + (polecat.isIdle
                        ? "idle" : "on session epoch \(polecat.sessionEpoch) holding \(polecat.hookBead)"))
        }
    }

    /// The Witness's restart: fenced by session epoch `epoch` and `bead`, kills that session (if it still runs),
    /// then starts the next session epoch from the hook. Returns the new session's name.
    public func restartSession(_ address: String, epoch: Int, bead: String) async throws(TownError) -> SessionName {
        try await withLedger { ledger throws(TownError) in
            var (polecat, rig) = try currentPolecat(address, ledger: ledger)
            try fence(polecat, epoch: epoch, bead: bead)
            let worktree = layout.polecatWorktree(rig.name, polecat.name)
            guard var hook = try Hook.read(worktree: worktree) else {
                throw .fenced("\(address) has no hook file in \(worktree); nothing to restart")
            }
            _ = try? await sessions.kill(polecat.sessionName(townRoot: layout.root))
            polecat.sessionEpoch += 1
            polecat.restarts += 1
            try await save(polecat, prefix: rig.beads.prefix, ledger: ledger)
            hook.sessionEpoch = polecat.sessionEpoch
            try hook.write(worktree: worktree)
            try await startSession(hook: hook, worktree: worktree)
            return polecat.sessionName(townRoot: layout.root)
        }
    }

    /// The Witness's give-up: fenced like `restartSession`, releases the bead (`gt release`: the claim goes, the
    /// lease epoch goes up, the bead is open for a sling elsewhere), counts a failure in the polecat's CV.
    public func giveUp(_ address: String, epoch: Int, bead: String, reason: String) async throws(TownError)
        -> ReleaseResult
    {
        try await withLedger { ledger throws(TownError) in
            let (polecat, _) = try currentPolecat(address, ledger: ledger)
            try fence(polecat, epoch: epoch, bead: bead)
        }
        let result = try await release(bead: bead, reason: reason)
        try await withLedger { ledger throws(TownError) in
            var (polecat, rig) = try currentPolecat(address, ledger: ledger)
            polecat.count(.failure, labels: ledger.bead(bead)?.labels ?? [], runtime: polecat.runtime)
            try await save(polecat, prefix: rig.beads.prefix, ledger: ledger, cv: true)
        }
        return result
    }

    /// Types `text` into session epoch `epoch` of `address`, fenced by the ledger's current epoch and bead.
    public func fencedNudge(_ address: String, epoch: Int, bead: String, text: String) async throws(TownError) {
        let session = try await withLedger(mode: .read) { ledger throws(TownError) in
            let (polecat, _) = try currentPolecat(address, ledger: ledger)
            try fence(polecat, epoch: epoch, bead: bead)
            return polecat.sessionName(townRoot: layout.root)
        }
        do { try await sessions.sendText(text, to: session) } catch { throw .session(error.description) }
    }

    /// Sends tmux `keys` to session epoch `epoch` of `address` (a dialog's answer), fenced like `fencedNudge`.
    public func fencedKeys(_ address: String, epoch: Int, bead: String, keys: [String]) async throws(TownError) {
        let session = try await withLedger(mode: .read) { ledger throws(TownError) in
            let (polecat, _) = try currentPolecat(address, ledger: ledger)
            try fence(polecat, epoch: epoch, bead: bead)
            return polecat.sessionName(townRoot: layout.root)
        }
        guard let tmux = sessions as? TmuxDriver else {
            throw .session("answering a dialog needs tmux sessions (this town runs plain processes)")
        }
        do { try await tmux.sendKeys(keys, to: session) } catch { throw .session(error.description) }
    }

    /// Adds `text` as a comment on bead `id` (the Witness's record of an action on the polecat's agent bead).
    public func comment(on id: String, text: String) async throws(TownError) {
        try await withLedger { ledger throws(TownError) in
            guard let bead = ledger.bead(id) else { throw .noSuchBead(id) }
            let comment = TownWorkflow.comment(on: bead, by: actor, text)
            try await ledger.write(routing: id) { _, clock, actor in
                LedgerOp(actor: actor, stamp: clock.stamp, time: clock.time, change: .addComment(id: id, comment))
            }
        }
    }
}
