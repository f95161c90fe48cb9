import Beads
import Foundation

/// One merge request as the Refinery's queue shows it. `Sendable`: a plain value.
public struct MergeRequestView: Sendable, Codable, Equatable {
    public var id: String
    public var rig: String
    public var sourceBead: String
    public var branch: String
    public var commit: String
    public var leaseEpoch: Int
    public var worker: String
    public var target: String
    public var status: String
    public var priority: Int
    public var createdAt: String

    enum CodingKeys: String, CodingKey {
        case id, rig, branch, commit, worker, target, status, priority
        case sourceBead = "source_bead"
        case leaseEpoch = "lease_epoch"
        case createdAt = "created_at"
    }
}

extension TownWorkflow {
    /// The Refinery's side of the workflow so far: the merge requests `gt done` filed to a rig (all rigs when nil),
    /// open ones only unless `all`, in queue order (priority, then age). The merge logic itself comes with the
    /// MergeQueue core.
    public func mergeRequests(rig name: String?, all: Bool) async throws(TownError) -> [MergeRequestView] {
        let configs: [RigConfig]
        if let name {
            configs = [try rig(name)]
        } else {
            configs = try rigConfigs().values.sorted { $0.name < $1.name }
        }
        return try await withLedger { ledger throws(TownError) in
            configs.flatMap { rig in
                ledger.beads(scope: rig.beads.prefix) { $0.issueType == .mergeRequest && (all || $0.status != .closed) }
                    .sorted { ($0.priority, $0.createdAt, $0.id) < ($1.priority, $1.createdAt, $1.id) }
                    .map { bead in
                        MergeRequestView(
                            id: bead.id, rig: rig.name, sourceBead: bead.metadataString("source_bead") ?? "",
                            branch: bead.metadataString("branch") ?? "", commit: bead.metadataString("commit") ?? "",
                            leaseEpoch: bead.metadataInt("lease_epoch"), worker: bead.metadataString("worker") ?? "",
                            target: bead.metadataString("target") ?? rig.defaultBranch, status: bead.status.rawValue,
                            priority: bead.priority, createdAt: bead.createdAt.description)
                    }
            }
        }
    }
}
