import Beads
import Foundation
import Sessions

/// What one recovery pass (node start, or a Witness patrol) found and did, per polecat.
/// `Sendable`: a plain value.
public struct RecoveryReport: Sendable, Codable, Equatable {
    /// Working polecats whose session was found running.
    public var found: [String] = []
    /// Working polecats whose session was started again (next session epoch).
    public var restarted: [String] = []
    /// Polecats whose unfinished `gt done` was completed.
    public var finishedDone: [String] = []
    /// Polecats given up on (session kept dying): claim released, failure counted, polecat idle.
    public var failed: [String] = []
    /// Polecats whose hook no longer matched the ledger's claim (set idle).
    public var stale: [String] = []
    public init() {}

    enum CodingKeys: String, CodingKey {
        case found, restarted, failed, stale
        case finishedDone = "finished_done"
    }
}

extension TownWorkflow {
    /// Whether any polecat worktree of the town holds a hook or an unfinished `gt done`: the Witness's cheap check
    /// (files only) before a full pass, so an idle town is patrolled without opening the ledger.
    public func hasHookedWork() throws(TownError) -> Bool {
        for rig in try rigConfigs().keys {
            let directory = layout.polecatsDirectory(rig)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                let worktree = directory + "/" + name
                if FileManager.default.fileExists(atPath: TownLayout.hookFile(worktree: worktree)) { return true }
                if let progress = try? TownJSON.read(DoneProgress.self, from: TownLayout.doneFile(worktree: worktree)),
                    !progress.isFinished
                {
                    return true
                }
            }
        }
        return false
    }

    /// Releases claims this node's polecats of `rig` hold on beads they are not hooked to (left by a crash between
    /// a claim of a bead outside the rig's scope and the polecat's own write): the bead is reopened.
    func releaseOrphanClaims(rig: RigConfig, ledger: TownLedger, report: inout RecoveryReport) async throws(TownError) {
        let hooked = Dictionary(
            polecats(rig: rig, in: ledger).filter { !$0.isIdle }.map { ($0.address, $0.hookBead) },
            uniquingKeysWith: { first, _ in first })
        let prefix = "\(rig.name)/polecats/"
        for scope in ledger.scopes {
            let orphans = ledger.beads(scope: scope) {
                $0.assignee.hasPrefix(prefix) && $0.claimNode == node && $0.status != .closed
                    && hooked[$0.assignee] != $0.id
            }
            for bead in orphans {
                let id = bead.id
                let holder = bead.assignee
                try await ledger.batch(routing: id) { _ throws(LedgerError) in
                    [.release(id: id, assignee: holder), .update(id: id, fields: [.status(.open)])]
                }
                report.stale.append(holder)
                events.record("stale-claim", ["agent": holder, "bead": id])
            }
        }
    }

    /// GUPP: every hooked polecat keeps working. For each working polecat: an unfinished `gt done` is finished; a
    /// running session is left alone; a dead one is started again from the hook (next session epoch), up to
    /// `maxSessionRestarts` times per assignment, after which the claim is released and a failure counted.
    /// Run at node start and by the Witness on every patrol. Touches only this town's sessions. With `restartDead`
    /// false (the node's patrols, where the health rules confirm a death and count crash loops before restarting),
    /// dead sessions are left to the caller.
    public func recover(restartDead: Bool = true) async throws(TownError) -> RecoveryReport {
        var report = RecoveryReport()
        let rigs = try rigConfigs()
        if rigs.isEmpty { return report }
        var pendingDone: [(String, String)] = []
        try await withLedger { ledger throws(TownError) in
            for rig in rigs.values.sorted(by: { $0.name < $1.name }) {
                try await releaseOrphanClaims(rig: rig, ledger: ledger, report: &report)
                for var polecat in polecats(rig: rig, in: ledger) where !polecat.isIdle {
                    let worktree = layout.polecatWorktree(rig.name, polecat.name)
                    let bead = ledger.bead(polecat.hookBead)
                    // Another node's polecat (the ledger is shared in a cluster): its own Witness looks after it.
                    if let bead, !bead.claimNode.isEmpty, bead.claimNode != node, bead.assignee == polecat.address {
                        continue
                    }
                    if let progress = try? TownJSON.read(
                        DoneProgress.self, from: TownLayout.doneFile(worktree: worktree)),
                        progress.bead == polecat.hookBead, progress.epoch == polecat.hookEpoch
                    {
                        if !progress.isFinished { pendingDone.append((polecat.address, worktree)) }
                        continue
                    }
                    guard let bead, bead.assignee == polecat.address, bead.leaseEpoch == polecat.hookEpoch,
                        var hook = try? Hook.read(worktree: worktree), hook.epoch == polecat.hookEpoch
                    else {
                        polecat.state = "idle"
                        polecat.hookBead = ""
                        try await save(polecat, prefix: rig.beads.prefix, ledger: ledger)
                        report.stale.append(polecat.address)
                        events.record("stale-hook", ["agent": polecat.address])
                        continue
                    }
                    let session = polecat.sessionName(townRoot: layout.root)
                    if (try? await sessions.isAlive(session)) ?? false {
                        report.found.append(polecat.address)
                        continue
                    }
                    if !restartDead { continue }
                    if polecat.restarts >= settings.maxSessionRestarts {
                        let address = polecat.address
                        try await ledger.write(routing: bead.id) { _, clock, actor in
                            LedgerOp(
                                actor: actor, stamp: clock.stamp, time: clock.time,
                                change: .release(id: bead.id, assignee: address))
                        }
                        try await ledger.update(bead.id, [.status(.open)])
                        polecat.state = "idle"
                        polecat.hookBead = ""
                        polecat.count(.failure, labels: bead.labels, runtime: polecat.runtime)
                        try await save(polecat, prefix: rig.beads.prefix, ledger: ledger, cv: true)
                        report.failed.append(polecat.address)
                        events.record("failed", ["agent": polecat.address, "bead": bead.id])
                        continue
                    }
                    polecat.sessionEpoch += 1
                    polecat.restarts += 1
                    try await save(polecat, prefix: rig.beads.prefix, ledger: ledger)
                    hook.sessionEpoch = polecat.sessionEpoch
                    try hook.write(worktree: worktree)
                    try await startSession(hook: hook, worktree: worktree)
                    report.restarted.append(polecat.address)
                    events.record(
                        "restart",
                        [
                            "agent": polecat.address, "bead": bead.id,
                            "session": polecat.sessionName(townRoot: layout.root).description,
                        ])
                }
            }
        }
        for (agent, worktree) in pendingDone {
            _ = try await done(from: worktree)
            report.finishedDone.append(agent)
        }
        return report
    }
}
