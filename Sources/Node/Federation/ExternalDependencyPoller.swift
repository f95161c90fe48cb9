import Beads
import Foundation
import LedgerStore

/// Resolves `external:hop://<org>/<rig>/<bead-id>` dependencies (docs/federation.md): on every poll it finds the
/// unresolved cross-organization `blocks` edges of this town's non-closed beads, asks each remote bead's
/// organization for its status (once per address per poll, through the federation component's links), and
/// when a remote bead is closed records that on the edge (`ExternalDependency.metadata`), one remove-and-add of
/// the edge in one durable write, so the local bead becomes ready and every replica of the ledger agrees.
/// Until then the edge blocks: an unreachable organization, a refused read or a missing bead keep it blocked.
///
/// `Sendable`: an actor.
actor ExternalDependencyPoller {
    let ledger: NodeLedgerHandle
    let log: NodeLogger
    let fetch: @Sendable (HopAddress) async throws -> String?
    /// The last status seen per remote address (for logs and tests).
    private(set) var lastSeen: [String: String] = [:]

    init(ledger: NodeLedgerHandle, log: NodeLogger, fetch: @escaping @Sendable (HopAddress) async throws -> String?) {
        self.ledger = ledger
        self.log = log
        self.fetch = fetch
    }

    /// One pass over the ledger.
    func pollOnce() async {
        guard let database = ledger.database else { return }
        // (scope, bead id, edge) of every unresolved cross-organization blocking edge.
        let pending: [(String, String, Dependency)] = database.read { state in
            var out: [(String, String, Dependency)] = []
            for (scope, led) in state.scopes {
                for bead in led.list() where bead.status != .closed {
                    for edge in bead.dependencies
                    where (edge.type == .blocks || edge.type == .conditionalBlocks)
                        && ExternalDependency.hop(edge.dependsOnID) != nil && !ExternalDependency.isResolved(edge)
                    {
                        out.append((scope, bead.id, edge))
                    }
                }
            }
            return out
        }
        var statuses: [String: String] = [:]
        for target in Set(pending.map(\.2.dependsOnID)) {
            guard let address = ExternalDependency.hop(target) else { continue }
            do {
                if let status = try await fetch(address) { statuses[target] = status }
            } catch {
                log.debug("external dependency not resolved", ["address": "\(address)", "error": "\(error)"])
            }
        }
        for (target, status) in statuses { lastSeen[target] = status }
        let now = ISO8601DateFormatter().string(from: Date())
        for (scope, id, edge) in pending where statuses[edge.dependsOnID] == "closed" {
            var changed = edge
            changed.metadata = ExternalDependency.metadata(status: "closed", checkedAt: now)
            let resolved = changed
            do {
                _ = try await NodeBlocking.run { () throws(LedgerDatabaseError) -> [Bead?] in
                    try database.write(scope: scope, routing: id, actor: "federation/") { ledger in
                        guard let current = ledger.bead(id),
                            current.dependencies.contains(where: {
                                $0.key == edge.key && !ExternalDependency.isResolved($0)
                            })
                        else { return [] }
                        return [.removeDependency(id: id, edge.key), .addDependency(id: id, resolved, allowCycles: true)]
                    }
                }
                log.info("external dependency closed", ["bead": id, "remote": edge.dependsOnID])
            } catch {
                log.warning("cannot record a closed external dependency", ["bead": id, "error": "\(error)"])
            }
        }
    }
}
