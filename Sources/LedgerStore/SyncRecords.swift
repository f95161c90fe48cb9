import Beads
import Foundation

/// The WAL records git sync writes into the town ledger store (DESIGN §3: a merged remote state is durable and
/// replayable like any other write):
///
/// - `{"t":"merge","scope":P,"remote":NAME,"commit":OID,"beads":[…],"stamps":[…]}`: merge the given remote beads
///   (beads' export shape) and their `stamps.jsonl` objects into scope `P` with the Beads state merge, the remote
///   side winning claim ties. Only the beads whose lines changed in the remote commit are carried; merging a
///   subset is the same as merging the whole remote state, since beads absent from it are left as they are.
/// - `{"t":"prune","scope":P,"before":STAMP}`: drop tombstones and removal stamps older than the horizon.
///
/// Applying is deterministic (it reads only the record and the state), so replaying the WAL rebuilds the merged
/// state exactly, including writes acknowledged while the sync's git work was in flight (they precede or follow
/// the merge record in the log, as they did in memory).
extension TownLedgerState {
    /// The record merging `beads`/`stamps` (a remote commit's changed beads) into `scope`.
    public static func mergeRecord(
        scope: String, remote: String, commit: String, beads: [Bead], stamps: [BeadStamps]
    ) -> Data {
        record([
            JSONMember("t", .string("merge")), JSONMember("scope", .string(scope)),
            JSONMember("remote", .string(remote)), JSONMember("commit", .string(commit)),
            JSONMember("beads", .array(beads.map(BeadCodec.encode))),
            JSONMember("stamps", .array(stamps.map(\.json))),
        ])
    }

    /// The record pruning `scope` before `horizon`.
    public static func pruneRecord(scope: String, before horizon: HLCStamp) -> Data {
        record([
            JSONMember("t", .string("prune")), JSONMember("scope", .string(scope)),
            JSONMember("before", .string(horizon.description)),
        ])
    }

    /// Merges a remote scope state into `scope` (remote wins claim ties) and advances `maxStamp`. Unchanged when
    /// it throws.
    @discardableResult
    public mutating func mergeRemote(
        scope: String, beads: [Bead], stamps: [BeadStamps]
    ) throws(LedgerDatabaseError) -> MergeReport {
        guard var ledger = scopes[scope] else { throw .unknownScope(scope) }
        let remote: Ledger
        do { remote = try Ledger(prefix: scope, beads: beads, stamps: stamps) } catch { throw .ledger(error) }
        let report = ledger.merge(remote, remoteWinsClaimTies: true)
        scopes[scope] = ledger
        let newest = remote.newestStamp
        if newest > maxStamp { maxStamp = newest }
        return report
    }

    /// Prunes `scope` before `horizon`; returns the IDs dropped.
    @discardableResult
    public mutating func prune(scope: String, before horizon: HLCStamp) throws(LedgerDatabaseError) -> [String] {
        guard scopes[scope] != nil else { throw .unknownScope(scope) }
        return scopes[scope]!.prune(before: horizon)
    }

    /// Applies a `merge` or `prune` record (see the type's extension comment).
    mutating func applySyncRecord(_ value: JSONValue) throws {
        guard let scope = value["scope"]?.stringValue else {
            throw LedgerDatabaseError.badRecord("sync record without a scope")
        }
        switch value["t"]?.stringValue {
        case "merge":
            guard case .array(let beadValues)? = value["beads"], case .array(let stampValues)? = value["stamps"] else {
                throw LedgerDatabaseError.badRecord("merge record without beads or stamps")
            }
            let beads: [Bead]
            let stamps: [BeadStamps]
            do {
                beads = try beadValues.map { v throws(BeadDecodeError) in try BeadCodec.decode(v) }
                stamps = try stampValues.map { v throws(BeadDecodeError) in try BeadStamps(json: v) }
            } catch {
                throw LedgerDatabaseError.badRecord("merge record: \(error)")
            }
            try mergeRemote(scope: scope, beads: beads, stamps: stamps)
        default:
            guard let horizon = value["before"]?.stringValue.flatMap(HLCStamp.init(text:)) else {
                throw LedgerDatabaseError.badRecord("prune record without a horizon")
            }
            try prune(scope: scope, before: horizon)
        }
    }
}
