import Beads
import Foundation

/// One agent session of the cluster as `gt agents` lists it. `Sendable`: a plain value.
public struct AgentView: Sendable, Codable, Equatable {
    /// The node it works on: the claim node of its hooked bead (empty when idle).
    public var node: String
    public var rig: String
    /// `polecat`.
    public var role: String
    public var name: String
    /// `<rig>/polecats/<name>`.
    public var address: String
    /// The hooked bead (empty when idle) and its lease epoch.
    public var hook: String
    public var epoch: Int
    /// `working` or `idle`; `stale` when the ledger's claim of the hooked bead is no longer this agent's.
    public var state: String
}

extension TownWorkflow {
    /// `gt agents`: every polecat of every rig of the shared ledger, with the node its hooked bead is claimed on,
    /// sorted by node, rig and name. The ledger is the cluster's (synced), so other nodes' agents are listed too.
    public func listAgents() async throws(TownError) -> [AgentView] {
        let configs = try rigConfigs().values.sorted { $0.name < $1.name }
        return try await withLedger(mode: .read) { ledger throws(TownError) in
            configs.flatMap { rig in
                polecats(rig: rig, in: ledger).map { polecat -> AgentView in
                    var node = ""
                    var state = polecat.state
                    if !polecat.isIdle {
                        let bead = ledger.bead(polecat.hookBead)
                        if let bead, bead.assignee == polecat.address, bead.leaseEpoch == polecat.hookEpoch {
                            node = bead.claimNode
                        } else {
                            state = "stale"
                            node = bead?.claimNode ?? ""
                        }
                    }
                    return AgentView(
                        node: node, rig: rig.name, role: "polecat", name: polecat.name, address: polecat.address,
                        hook: polecat.hookBead, epoch: polecat.isIdle ? 0 : polecat.hookEpoch, state: state)
                }
            }.sorted { ($0.node, $0.rig, $0.name) < ($1.node, $1.rig, $1.name) }
        }
    }
}
