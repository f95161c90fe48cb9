import Beads
import Foundation
import Scheduling

/// The shell of the claim protocol (DESIGN §3 "Claims and fencing"): runs one `Scheduling.ClaimAttempt` per bead
/// against an open store and, when the store has a ledger remote, the sync engine: it carries out the core's
/// directives (sync, write the claim group as a compare-and-swap on the epoch read, sync again, report) and feeds
/// each result back. The one place claims are carried out for local writers: `bd update --claim`, `bd ready
/// --claim`, run in the node (the `LedgerActor`'s command executor, with the node sync loop's engine, so a claim
/// waits its turn behind the loop's sync) or by embedded `bd` when no node runs. The sync merge applies the same
/// rule to what arrives (`Ledger.merge`: higher epoch wins, at equal epochs the side already on the remote), and
/// `Ledger.apply` checks `expectedEpoch` for every claim write, so the two agree.
///
/// A namespace of async functions; `Sendable` trivially.
public enum ClaimRunner {
    /// One claim's request: which bead, for whom, and how.
    public struct Request: Sendable {
        public var id: String
        public var claimant: Claimant
        /// Take over a claim someone else holds (`--force`): released and re-claimed in one write, recorded in a
        /// comment at `time`; the epoch still goes up by one.
        public var takeOver: Bool
        public var time: Timestamp
        public var syncAttempts: Int

        public init(id: String, claimant: Claimant, takeOver: Bool = false, time: Timestamp, syncAttempts: Int = 3) {
            self.id = id
            self.claimant = claimant
            self.takeOver = takeOver
            self.time = time
            self.syncAttempts = syncAttempts
        }
    }

    /// How one claim ended, with the bead as the store holds it afterwards (nil when there is none).
    public struct Result: Sendable {
        public var id: String
        public var outcome: ClaimOutcome
        public var bead: Bead?
    }

    /// Claims `request.id`: through `engine` (a sync before and after the write) when one is given, else as a
    /// compare-and-swap on the local store. Never throws: every way it ends is a `ClaimOutcome`.
    public static func claim(_ request: Request, database: LedgerDatabase, engine: LedgerSync?) async -> Result {
        var id = database.read { state in Self.resolve(request.id, in: state) }
        var attempt = ClaimAttempt(
            bead: id, claimant: request.claimant, mode: engine == nil ? .local : .remote, takeOver: request.takeOver,
            syncAttempts: request.syncAttempts)
        var pending = attempt.start(current: lease(id, database))
        while !pending.isEmpty {
            let directive = pending.removeFirst()
            switch directive {
            case .sync:
                let result: ClaimAttempt.SyncResult
                do throws(SyncError) {
                    _ = try await engine?.sync(database)
                    result = .landed
                } catch {
                    result = .failed(error.description)
                }
                // A re-ID by the merge moves the bead: follow it.
                id = database.read { state in Self.resolve(id, in: state) }
                pending += attempt.onSynced(result, current: lease(id, database))
            case .write(_, let claimant, let expected, let takeOver):
                let written = await write(
                    id, claimant: claimant, expectedEpoch: expected, takeOver: takeOver, time: request.time,
                    database: database)
                pending += attempt.onWritten(written)
            case .report(let outcome):
                return Result(id: id, outcome: outcome, bead: bead(id, database))
            }
        }
        return Result(id: id, outcome: .refused("internal: the claim ended without an outcome"), bead: nil)
    }

    /// The bead's current ID (following a re-ID alias when the ID itself is no live bead).
    static func resolve(_ id: String, in state: TownLedgerState) -> String {
        guard let scope = state.scope(forID: id), let ledger = state.scopes[scope] else { return id }
        return ledger.resolve(id)
    }

    static func bead(_ id: String, _ database: LedgerDatabase) -> Bead? {
        database.read { state in
            guard let scope = state.scope(forID: id) else { return nil }
            return state.scopes[scope]?.bead(id)
        }
    }

    static func lease(_ id: String, _ database: LedgerDatabase) -> Lease? {
        guard let b = bead(id, database), b.status != .tombstone else { return nil }
        return Lease(b)
    }

    /// The claim write: the claim group for `claimant` with `expectedEpoch` (with `takeOver` and another holder:
    /// release, claim and a comment saying who forced it over whom, in one write). On the WAL thread.
    static func write(
        _ id: String, claimant: Claimant, expectedEpoch: Int, takeOver: Bool, time: Timestamp,
        database: LedgerDatabase
    ) async -> ClaimAttempt.WriteResult {
        await DedicatedThread.run { () -> ClaimAttempt.WriteResult in
            do throws(LedgerDatabaseError) {
                let beads = try database.write(scope: nil, routing: id, actor: claimant.assignee) {
                    (ledger) throws(LedgerError) -> [LedgerChange] in
                    guard let current = ledger.bead(id) else { throw .beadNotFound(id) }
                    return claimChanges(
                        current, claimant: claimant, expectedEpoch: expectedEpoch, force: takeOver,
                        time: time)
                }
                guard let bead = beads.compactMap({ $0 }).last else { return .refused("nothing was written") }
                return .written(Lease(bead))
            } catch {
                switch error {
                case .ledger(.alreadyClaimed(_, let holder, let node, let epoch)):
                    return .held(Lease(holder: holder, node: node, epoch: epoch))
                case .ledger(.staleEpoch):
                    return .moved(current: lease(id, database) ?? Lease(holder: "", node: "", epoch: expectedEpoch))
                default:
                    return .refused(error.description)
                }
            }
        }
    }

    /// The changes of a claim of `bead` by `claimant`: a compare-and-swap on `expectedEpoch`. With `force` and
    /// another holder, the holder's claim is released and the new claim taken in the same write (the lease epoch
    /// still goes up by exactly one, so the old holder's `gt done` is refused by epoch), and a comment at `time`
    /// records who forced it over whom.
    public static func claimChanges(
        _ bead: Bead, claimant: Claimant, expectedEpoch: Int, force: Bool, time: Timestamp
    ) -> [LedgerChange] {
        let (actor, node) = (claimant.assignee, claimant.node)
        let heldByOther = !bead.assignee.isEmpty && (bead.assignee != actor || bead.claimNode != node)
        guard force, heldByOther else {
            return [.claim(id: bead.id, assignee: actor, node: node, expectedEpoch: expectedEpoch)]
        }
        let text =
            "Claim forced by \(actor) over \(bead.assignee)\(bead.claimNode.isEmpty ? "" : " on \(bead.claimNode)") "
            + "(lease epoch \(bead.leaseEpoch) → \(bead.leaseEpoch + 1))"
        let comment = Comment(
            id: (bead.comments.map(\.id).max() ?? 0) + 1, issueID: bead.id, author: actor, text: text, createdAt: time)
        return [
            .release(id: bead.id, assignee: bead.assignee),
            .claim(id: bead.id, assignee: actor, node: node, expectedEpoch: expectedEpoch),
            .addComment(id: bead.id, comment),
        ]
    }
}

extension Lease {
    /// The lease a bead carries (its claim group).
    public init(_ bead: Bead) {
        self.init(holder: bead.assignee, node: bead.claimNode, epoch: bead.leaseEpoch)
    }
}
