import Beads
import Foundation
import Transport

/// What `gt costs` reads: every usage entry of the ledger and the convoys. `Sendable`: plain values.
public struct CostsSnapshot: Sendable, Equatable {
    public var entries: [UsageEntry]
    public var convoys: [ConvoyTracking]
}

extension TownWorkflow {
    /// This town's organization name (town.json `federation.organization`, else the cluster's name), or `local`
    /// when it has neither (no cluster).
    public func organization() -> String {
        let configured = (try? TownFile.load(layout))?.federation.organization
        let pki = PKIDirectory(URL(fileURLWithPath: layout.stateDirectory + "/pki"))
        return (try? FederationDirectory.organizationName(configured: configured, pki: pki)) ?? "local"
    }

    /// The organization `bead`'s work is for: the requesting organization of a bead another one delegated to us
    /// (its `delegation` record, role receiver), else `own`.
    public static func organization(of bead: Bead?, own: String) -> String {
        guard let record = bead?.metadataValue("delegation"), record["role"]?.stringValue == "receiver",
            let peer = record["peer"]?.stringValue, !peer.isEmpty
        else { return own }
        return peer
    }

    /// Every usage entry in the ledger (each bead's `usage` metadata) and every convoy with the beads it tracks.
    public func costsSnapshot() async throws(TownError) -> CostsSnapshot {
        try await withLedger(mode: .read) { ledger throws(TownError) in
            Self.costsSnapshot(ledger, convoys: convoyBeads(ledger))
        }
    }

    static func costsSnapshot(_ ledger: TownLedger, convoys: [Bead]) -> CostsSnapshot {
        var entries: [UsageEntry] = []
        for scope in ledger.scopes {
            for bead in ledger.beads(scope: scope, where: { $0.metadataValue(UsageEntry.metadataKey) != nil }) {
                entries += UsageEntry.read(bead)
            }
        }
        return CostsSnapshot(
            entries: entries,
            convoys: convoys.map { ConvoyTracking(id: $0.id, name: $0.title, tracked: ConvoyCore.trackedIDs($0)) })
    }

    /// Refuses (`.overBudget`) to sling `bead` to `rig` when a budget of settings/costs.json it falls under (the rig,
    /// a convoy tracking it, its organization) is spent. An unusable costs.json refuses too (budgets are a limit:
    /// they fail closed), naming the file.
    func refuseOverBudget(_ bead: Bead, rig: String, ledger: TownLedger) throws(TownError) {
        let settings = try CostSettingsFile.load(layout)
        guard !settings.budgets.isEmpty else { return }
        let snapshot = Self.costsSnapshot(ledger, convoys: convoyBeads(ledger))
        let org = Self.organization(of: bead, own: organization())
        if let why = Costs.refusal(
            bead: bead.id, rig: rig, org: org, entries: snapshot.entries, convoys: snapshot.convoys,
            budgets: settings.budgets, settingsFile: CostSettingsFile.path(layout))
        {
            events.record("sling_over_budget", ["bead": bead.id, "rig": rig, "reason": why])
            throw .overBudget(why)
        }
    }

    /// Adds `samples` (read from `agent`'s usage log while it was hooked to `beadID`) to the bead's `usage` metadata,
    /// priced with `prices`. One ledger write; nothing when there are no samples.
    public func recordUsage(
        _ samples: [UsageSample], bead beadID: String, agent: String, rig: String, prices: PriceTable, own org: String
    ) async throws(TownError) {
        guard !samples.isEmpty else { return }
        try await withLedger { ledger throws(TownError) in
            guard let bead = ledger.bead(beadID) else { throw .noSuchBead(beadID) }
            let updated = UsageEntry.adding(
                samples, to: UsageEntry.read(bead), bead: beadID, agent: agent, rig: rig,
                org: Self.organization(of: bead, own: org), prices: prices)
            try await ledger.setMetadata(beadID, [(UsageEntry.metadataKey, UsageEntry.metadata(updated))])
        }
    }
}
