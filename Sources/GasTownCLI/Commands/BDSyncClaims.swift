import Beads
import Foundation
import LedgerStore
import Scheduling

/// Claims for `bd update --claim` and `bd ready --claim` (DESIGN §3 "Claims and fencing"): a thin client of
/// `LedgerStore.ClaimRunner`, which runs the `Scheduling.ClaimAttempt` core. With a remote configured the runner
/// syncs first, writes the claim group with the next lease epoch (a compare-and-swap on the epoch just read, node =
/// this store's replica), syncs again, and reports success only if the push landed and the claim survived the merge.
/// First to land wins; the loser is told and the command exits non-zero. Inside the node the store is the one the
/// node holds and the engine the sync loop's (`BDSyncSupport.engine`); embedded `bd` opens both itself.
///
/// A namespace; `Sendable` trivially.
enum BDClaimSync {
    /// Whether the store found for `context` has a ledger remote.
    static func remoteConfigured(_ context: CommandContext) -> Bool {
        guard let location = try? context.beadsStore() else { return false }
        return !SyncConfig.remotes(StoreLayout(beadsDirectory: location.path)).isEmpty
    }

    /// Claims `ids` for the actor (through the remote when one is configured); returns the claimed beads. Throws
    /// when the remote cannot be reached before the claim (nothing written), when the claim was written but not
    /// confirmed by a landed push (it stays recorded locally and goes out with the next sync), or when another
    /// claim holds the bead or landed first. With `force`, a claim someone else holds is taken over.
    static func claim(_ ids: [String], _ context: CommandContext, force: Bool = false) async throws -> [Bead] {
        let layout = StoreLayout(beadsDirectory: try context.beadsStore().path)
        let actor = await context.actor()
        let remote = !SyncConfig.remotes(layout).isEmpty
        let engine = remote ? await BDSyncSupport.engine(layout) : nil
        let held = try await BDSupport.heldDatabase(for: layout.root)
        let db: LedgerDatabase
        if let held { db = held } else { db = try await BDSyncSupport.open(layout) }
        do {
            let beads = try await claim(ids, actor: actor, engine: engine, db: db, force: force)
            if held == nil { await DedicatedThread.run { db.close() } }
            return beads
        } catch {
            if held == nil { await DedicatedThread.run { db.close() } }
            throw error
        }
    }

    static func claim(
        _ ids: [String], actor: String, engine: LedgerSync?, db: LedgerDatabase, force: Bool = false
    ) async throws -> [Bead] {
        let node = engine == nil ? "" : db.read { $0.replicaID }
        var out: [Bead] = []
        var failures: [(String, ClaimOutcome)] = []
        for id in ids {
            let request = ClaimRunner.Request(
                id: id, claimant: Claimant(assignee: actor, node: node), takeOver: force, time: BDSupport.now())
            let result = await ClaimRunner.claim(request, database: db, engine: engine)
            if result.outcome.isWon, let bead = result.bead {
                out.append(bead)
            } else {
                failures.append((result.id, result.outcome))
            }
        }
        guard let (firstID, first) = failures.first else { return out }
        let message = failures.map { id, outcome in
            if case .lost(let lease) = outcome, !lease.isFree, engine == nil {
                // Local: the compare-and-swap refused it, said as the ledger says it.
                return LedgerError.alreadyClaimed(id: id, by: lease.holder, node: lease.node, epoch: lease.epoch)
                    .description
            }
            if case .lost(let lease) = outcome, !lease.isFree {
                return "claim of \(id) lost: already claimed by \(lease.holder) at epoch \(lease.epoch)"
                    + (lease.node.isEmpty ? "" : " (on \(lease.node))")
            }
            return "\(id): \(outcome)"
        }.joined(separator: "; ")
        switch first {
        case .lost(let lease) where !lease.isFree:
            throw CLIError(
                message,
                hint: "take it over with 'bd update \(firstID) --claim --force' (recorded in a comment; the lease "
                    + "epoch goes up, so \(lease.holder)'s 'gt done' is refused), or ask \(lease.holder) to release it",
                code: engine == nil ? "claimed" : "claim_lost")
        case .lost: throw CLIError(message, code: "claim_lost")
        case .unconfirmed:
            throw CLIError(
                message, hint: "the claim is recorded locally and counts only once a later 'bd sync' lands it",
                code: "sync_failed")
        case .refused(let why):
            if why.hasPrefix("no bead") { throw CLIError(message, code: "not_found") }
            throw CLIError(message, code: why.contains("cannot reach") ? "sync_failed" : "invalid")
        case .won: return out
        }
    }
}

/// `bd ready --claim`: claims the first ready issue (hybrid order and the filters of `bd ready`) for the actor:
/// through the remote when one is configured, else as a compare-and-swap on the local store.
enum BDReadyClaim {
    static func run(filter: BeadFilter, sort: SortPolicy, _ context: CommandContext) async throws {
        let now = BDSupport.now()
        let remote = BDClaimSync.remoteConfigured(context)
        if remote {
            // Pick from the freshest ready list: what others claimed meanwhile is not offered.
            let layout = StoreLayout(beadsDirectory: try context.beadsStore().path)
            let engine = await BDSyncSupport.engine(layout)
            _ = try await BDSyncSupport.withDatabase(layout) { db async throws(SyncError) in try await engine.sync(db) }
        }
        let first: Bead? = try await BDSupport.withLedger(context, mode: .read) { db in
            db.read { state in
                var unlimited = filter
                unlimited.limit = 0
                return state.scopeNames.flatMap { state.scopes[$0]!.ready(now: now, filter: unlimited, sort: sort) }
                    .first { $0.assignee.isEmpty }
            }
        }
        guard let first else {
            throw CLIError(
                "no ready work to claim", hint: "bd ready lists it; bd blocked shows what waits", code: "none")
        }
        let claimed = try await BDClaimSync.claim([first.id], context)
        BDSupport.printEdited(claimed, verb: "Claimed", context) { ": \($0.title) (epoch \($0.leaseEpoch))" }
    }
}
