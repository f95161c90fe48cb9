import Foundation
import Health
import Town

#if canImport(Glibc)
    import Glibc
#endif

/// The Witness's side of `gt estop` / `gt thaw` (docs/health.md): every patrol it reads the cluster's freeze record
/// from this node's ledger (which the ledger remote brings to every node, also to one that was down when it was
/// written), asks the `FreezeGate` core what to do, and pauses or resumes the sessions of this node's hooked
/// polecats: SIGSTOP of every process below the pane's own process (tmux would continue the pane process
/// itself), SIGCONT of all of them at the thaw. While frozen
/// the recovery pass and the health rules do not run (nothing is restarted, nudged or re-slung).
extension TownWitness {
    /// Applies the freeze at one patrol; returns whether the recovery pass and the health rules run.
    func freezePatrol() async -> Bool {
        guard let workflow else { return true }
        let record: FreezeRecord?
        do { record = try await workflow.freezeState() } catch {
            log?.warning("witness could not read the freeze record", ["error": error.description])
            return freeze == nil
        }
        let targets = (try? await workflow.healthTargets()) ?? []
        var bySession: [String: HealthTarget] = [:]
        for target in targets { bySession[target.session.description] = target }
        let (directives, rules) = freezeGate.onPatrol(
            frozen: record?.frozen ?? false, version: record?.version ?? 0, sessions: bySession.keys.sorted())
        let wasFrozen = freeze != nil
        freeze = record?.frozen == true ? record : nil
        if let record, record.frozen, !wasFrozen {
            log?.info("cluster frozen: sessions paused", ["by": record.by, "reason": record.reason])
        } else if wasFrozen, freeze == nil {
            log?.info("cluster thawed: sessions resumed", ["version": "\(record?.version ?? 0)"])
        }
        for directive in directives {
            switch directive {
            case .pause(let session), .resume(let session):
                guard let target = bySession[session] else { continue }
                let pause: Bool
                if case .pause = directive { pause = true } else { pause = false }
                var pids: [Int32] = []
                if let pid = try? await workflow.sessions.processID(of: target.session) {
                    // The pane's own process (the session's wrapper) is left running: tmux continues a pane
                    // process it sees stopped (and its whole process group); everything below it is stopped.
                    pids = ProcessTree.signal(pause ? SIGSTOP : SIGCONT, under: pid, includeRoot: !pause)
                }
                workflow.events.record(
                    pause ? "estop-pause" : "estop-resume",
                    [
                        "agent": target.polecat.address, "session": session, "bead": target.polecat.hookBead,
                        "processes": pids.map(String.init).joined(separator: ","),
                        "version": "\(record?.version ?? 0)",
                    ])
            case .forget(let session):
                if let target = bySession[session] { monitor.forget(target.polecat.address) }
            }
        }
        if !rules { writeReport(now: Date().timeIntervalSince1970, beads: [:], workflow: workflow) }
        return rules
    }
}
