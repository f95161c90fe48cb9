import Beads
import Foundation

/// The cluster's emergency stop (`gt estop` / `gt thaw`, docs/health.md): a record in the town ledger, so it
/// reaches every node through the ledger remote, including a node that was down when it was written (it learns it
/// at its first sync). The record is the metadata key `estop` of the pinned bead `hq-estop`; every node creates
/// that bead the same way (same ID, creator and creation time), so two nodes that create it before a sync make one
/// bead. Each change raises `version` by one over the version read; in a merge the later write wins (the
/// ledger's last-writer-wins register), so an estop and a thaw racing each other end as whichever was written
/// last, on every node alike. `Sendable`: plain values.
public struct FreezeRecord: Sendable, Codable, Equatable {
    /// Whether the cluster is frozen now.
    public var frozen: Bool
    /// Raised by one on every estop or thaw.
    public var version: Int
    /// Why (the `--reason` of `gt estop`; empty on a thaw).
    public var reason: String
    /// Who ran the command, and on which node.
    public var by: String
    public var node: String
    /// When (RFC 3339).
    public var at: String

    public init(frozen: Bool, version: Int, reason: String, by: String, node: String, at: String) {
        self.frozen = frozen
        self.version = version
        self.reason = reason
        self.by = by
        self.node = node
        self.at = at
    }

    /// The bead holding the record, and its metadata key.
    public static let beadID = "hq-estop"
    public static let metadataKey = "estop"
    static let creator = "estop"

    /// The record on `bead`, nil when it has none.
    public static func read(_ bead: Bead?) -> FreezeRecord? {
        guard let value = bead?.metadata.first(where: { $0.key == metadataKey })?.value,
            let version = value["version"]?.intValue
        else { return nil }
        return FreezeRecord(
            frozen: value["frozen"] == .bool(true), version: version, reason: value["reason"]?.stringValue ?? "",
            by: value["by"]?.stringValue ?? "", node: value["node"]?.stringValue ?? "",
            at: value["at"]?.stringValue ?? "")
    }

    var json: JSONValue {
        .object([
            JSONMember("frozen", .bool(frozen)), JSONMember("version", .int(version)),
            JSONMember("reason", .string(reason)), JSONMember("by", .string(by)), JSONMember("node", .string(node)),
            JSONMember("at", .string(at)),
        ])
    }

    /// What a refused sling (or any work held by the freeze) tells the user.
    public var refusal: String {
        "the cluster is frozen (gt estop by \(by) on \(node) at \(at)"
            + (reason.isEmpty ? "" : ": \(reason)") + "); no work is slung until 'gt thaw' (nothing was changed)"
    }
}

extension TownWorkflow {
    /// The cluster's freeze record as this node's ledger holds it (nil: never frozen).
    public func freezeState() async throws(TownError) -> FreezeRecord? {
        try await withLedger(mode: .read) { ledger throws(TownError) in
            FreezeRecord.read(ledger.bead(FreezeRecord.beadID))
        }
    }

    /// Throws `.frozen` when the cluster is frozen (a sling, a placement, a merge pass are held).
    func refuseWhenFrozen(_ ledger: TownLedger) throws(TownError) {
        if let record = FreezeRecord.read(ledger.bead(FreezeRecord.beadID)), record.frozen {
            throw .frozen(record.refusal)
        }
    }

    /// `gt estop` (`frozen` true) or `gt thaw` (false): writes the freeze record at the next version. Returns the
    /// record and whether it changed anything (an estop of a frozen cluster, or a thaw of one that is not frozen,
    /// changes nothing and returns the current record).
    public func setFreeze(frozen: Bool, reason: String) async throws(TownError) -> (FreezeRecord, changed: Bool) {
        let actor = self.actor
        let node = self.node
        return try await withLedger { ledger throws(TownError) in
            let current = FreezeRecord.read(ledger.bead(FreezeRecord.beadID))
            if let current, current.frozen == frozen { return (current, false) }
            if current == nil && !frozen {
                return (FreezeRecord(frozen: false, version: 0, reason: "", by: "", node: "", at: ""), false)
            }
            if ledger.bead(FreezeRecord.beadID) == nil {
                try await ledger.write(scope: "hq") { ledger, clock, _ throws(LedgerError) in
                    var spec = NewBead(title: "Emergency stop of the cluster (gt estop / gt thaw)")
                    spec.explicitID = FreezeRecord.beadID
                    spec.issueType = .role
                    spec.labels = ["gt:estop"]
                    spec.pinned = true
                    spec.description = "role_type: estop"
                    // The same creation on every node: two creations before a sync merge into one bead.
                    return try ledger.prepareCreate(
                        spec, actor: FreezeRecord.creator, stamp: clock.stamp,
                        time: Timestamp(unixNanos: 1_767_225_600_000_000_000))
                }
            }
            let record = FreezeRecord(
                frozen: frozen, version: (current?.version ?? 0) + 1, reason: frozen ? reason : "", by: actor,
                node: node, at: TownWorkflow.now())
            try await ledger.setMetadata(FreezeRecord.beadID, [(FreezeRecord.metadataKey, record.json)])
            events.record(
                frozen ? "estop" : "thaw", ["version": String(record.version), "reason": reason, "by": actor])
            return (record, true)
        }
    }
}
