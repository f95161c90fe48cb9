import Beads
import Foundation
import LedgerStore

/// Claims through the ledger remote (DESIGN §3 "Claims and fencing"): with a remote configured, `bd update --claim`
/// and `bd ready --claim` sync first, write the claim group with the next lease epoch (a compare-and-swap on the
/// epoch just read, node = this store's replica), sync again, and report success only if the push landed and the
/// claim survived the merge. First to land wins; the loser is told and the command exits non-zero. Without a
/// remote a claim stays a compare-and-swap on the local store (`BDSupport.edit`).
///
/// A namespace; `Sendable` trivially.
enum BDClaimSync {
    /// Whether the store found for `context` has a ledger remote.
    static func remoteConfigured(_ context: CommandContext) -> Bool {
        guard let location = try? context.beadsStore() else { return false }
        return !SyncConfig.remotes(StoreLayout(beadsDirectory: location.path)).isEmpty
    }

    /// Claims `ids` for the actor through the remote; returns the claimed beads. Throws when the remote cannot be
    /// reached before the claim (nothing written), when the claim was written but not confirmed by a landed push
    /// (it stays recorded locally and goes out with the next sync), or when another claim landed first.
    /// With `force`, a claim someone else holds is taken over (`BDSupport.claimChanges`).
    static func claim(_ ids: [String], _ context: CommandContext, force: Bool = false) async throws -> [Bead] {
        let layout = StoreLayout(beadsDirectory: try context.beadsStore().path)
        let actor = await context.actor()
        let engine = await BDSyncSupport.engine(layout)
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
        _ ids: [String], actor: String, engine: LedgerSync, db: LedgerDatabase, force: Bool = false
    ) async throws -> [Bead] {
        do { _ = try await engine.sync(db) } catch {
            throw CLIError(
                "cannot claim \(ids.joined(separator: ", ")): \(error.description)", hint: "nothing was claimed",
                code: "sync_failed")
        }
        let replica = db.read { $0.replicaID }
        var epochs: [String: Int] = [:]
        for id in ids {
            let current = try db.read { state in try BDSupport.bead(id, in: state).bead }
            let expected = current.leaseEpoch
            let changes = BDSupport.claimChanges(
                current, actor: actor, node: replica, force: force, time: BDSupport.now())
            let written: Bead? = try await DedicatedThread.run { () throws(CLIError) -> Bead? in
                do throws(LedgerDatabaseError) {
                    return try db.write(scope: nil, routing: current.id, actor: actor) { _ in changes }
                        .compactMap { $0 }.last
                } catch {
                    if case .ledger(.alreadyClaimed(let id, let holder, _, let epoch)) = error {
                        // Someone's claim landed before ours was written (our sync just brought it in).
                        throw CLIError(
                            "claim of \(id) lost: already claimed by \(holder) at epoch \(epoch)",
                            hint: "take it over with 'bd update \(id) --claim --force'", code: "claim_lost")
                    }
                    throw BDSupport.cliError(error)
                }
            }
            epochs[current.id] = written?.leaseEpoch ?? expected + 1
        }
        do { _ = try await engine.sync(db) } catch {
            throw CLIError(
                "claim of \(ids.joined(separator: ", ")) not confirmed: \(error.description)",
                hint: "the claim is recorded locally and counts only once a later 'bd sync' lands it",
                code: "sync_failed")
        }
        var out: [Bead] = []
        var lost: [String] = []
        for (id, epoch) in epochs.sorted(by: { $0.key < $1.key }) {
            let bead = try db.read { state in try BDSupport.bead(id, in: state).bead }
            if bead.assignee == actor && bead.claimNode == replica && bead.leaseEpoch == epoch {
                out.append(bead)
            } else {
                lost.append("claim of \(id) lost: already claimed by \(bead.assignee) at epoch \(bead.leaseEpoch)")
            }
        }
        if !lost.isEmpty { throw CLIError(lost.joined(separator: "; "), code: "claim_lost") }
        return out
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
        let claimed: [Bead]
        if remote {
            claimed = try await BDClaimSync.claim([first.id], context)
        } else {
            claimed = try await BDSupport.edit([first.id], context: context) { bead, actor in
                [.claim(id: bead.id, assignee: actor, node: "", expectedEpoch: bead.leaseEpoch)]
            }
        }
        BDSupport.printEdited(claimed, verb: "Claimed", context) { ": \($0.title) (epoch \($0.leaseEpoch))" }
    }
}
