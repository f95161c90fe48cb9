import Beads
import Foundation

/// What `gt sling <bead> --compare a,b` did: one run per runtime, the first on the bead itself, each other on a
/// twin bead (`compare_of` the bead). `Sendable`: a plain value.
public struct CompareResult: Sendable, Codable, Equatable {
    public var bead: String
    public var runs: [SlingResult]
}

/// The metadata of a compared bead's runs (docs/scheduling.md, "Comparing runtimes"). A caseless namespace.
public enum CompareKey {
    /// On a twin: the bead it runs alongside (the group's root).
    public static let of = "compare_of"
    /// On the root: the runtimes compared, in order (the first runs on the root itself).
    public static let runtimes = "compare_runtimes"
    /// On each run's bead: its runtime.
    public static let runtime = "compare_runtime"
    /// The label a twin carries.
    public static let label = "gt:compare"
}

extension TownWorkflow {
    /// `gt sling <bead> [rig] --compare a,b[,…]`: runs the bead on each runtime in its own polecat. The bead itself
    /// is slung on the first; for each other runtime a twin bead (`<prefix>-cmp-<10 hex>`, the bead's title,
    /// type, priority, description and labels, label `gt:compare`, metadata `compare_of` and `compare_runtime`) is
    /// filed and slung on it. The Refinery merges the first of their merge requests that passes and closes the
    /// others as superseded. Validated first (two or more different runtimes the rig knows, the bead slingable,
    /// the rig with room for every run): nothing is changed when any fails.
    public func slingCompare(
        bead id: String, rig requestedRig: String?, runtimes: [String]
    ) async throws(TownError)
        -> CompareResult
    {
        guard runtimes.count >= 2, Set(runtimes).count == runtimes.count else {
            throw .badRuntime("--compare needs two or more different runtimes (as in --compare claude,codex)")
        }
        let rigs = try rigConfigs()
        let twins = try await withLedger { ledger throws(TownError) -> [(bead: String, runtime: String)] in
            try refuseWhenFrozen(ledger)
            guard let bead = ledger.bead(id) else { throw .noSuchBead(id) }
            let rig = try SlingPlan.target(bead: bead, requested: requestedRig, rigs: rigs, force: false)
            for runtime in runtimes { _ = try resolveRuntime(runtime, rig: rig.name) }
            let prefix = polecatNamespace.map { "\($0)-" } ?? ""
            let active = polecats(rig: rig, in: ledger).filter {
                $0.name.hasPrefix(prefix)
                    && ledger.bead(PolecatState.beadID(prefix: rig.beads.prefix, rig: rig.name, name: $0.name))?.status
                        != .closed
            }
            let limit = rig.maxPolecats ?? settings.maxPolecatsPerRig
            let room = active.filter(\.isIdle).count + max(0, limit - active.count)
            guard room >= runtimes.count else { throw .rigFull(rig: rig.name, limit: limit) }
            var twins: [(bead: String, runtime: String)] = []
            for runtime in runtimes.dropFirst() {
                let twin =
                    "\(rig.beads.prefix)-cmp-"
                    + String(SHA256.hexDigest(Array("\(id)|\(runtime)|\(bead.leaseEpoch)".utf8)).prefix(10))
                if ledger.bead(twin) == nil {
                    try await ledger.write(scope: rig.beads.prefix) { ledger, clock, actor throws(LedgerError) in
                        var spec = NewBead(title: bead.title)
                        spec.explicitID = twin
                        spec.issueType = bead.issueType
                        spec.priority = bead.priority
                        spec.description = bead.description
                        spec.labels = Array(Set(bead.labels + [CompareKey.label])).sorted()
                        spec.metadata = [
                            JSONMember(CompareKey.of, .string(id)), JSONMember(CompareKey.runtime, .string(runtime)),
                        ]
                        return try ledger.prepareCreate(spec, actor: actor, stamp: clock.stamp, time: clock.time)
                    }
                }
                twins.append((twin, runtime))
            }
            try await ledger.setMetadata(
                id,
                [
                    (CompareKey.runtimes, .array(runtimes.map { .string($0) })),
                    (CompareKey.runtime, .string(runtimes[0])),
                ])
            return twins
        }
        var runs = [try await sling(bead: id, rig: requestedRig, runtime: runtimes[0])]
        for twin in twins {
            do {
                runs.append(try await sling(bead: twin.bead, rig: runs[0].rig, runtime: twin.runtime))
            } catch {
                throw .ledger(
                    "\(id) runs on \(runtimes[0]) (\(runs.map(\.bead).joined(separator: ", ")) slung), but the run on "
                        + "\(twin.runtime) could not be slung: \(error.description); sling \(twin.bead) by hand")
            }
        }
        events.record(
            "sling-compare",
            ["bead": id, "runtimes": runtimes.joined(separator: ","), "runs": runs.map(\.bead).joined(separator: ",")])
        return CompareResult(bead: id, runs: runs)
    }

    /// The bead a compared run belongs to (its group's root): a twin's `compare_of`; a rework's, through the bead it
    /// was for (`rework_of`); nil when the bead is not part of a comparison.
    public static func compareRoot(of work: Bead, in ledger: TownLedger) -> String? {
        let base = work.metadataString("rework_of").flatMap { ledger.bead($0) } ?? work
        if let root = base.metadataString(CompareKey.of) { return root }
        return base.metadata.contains { $0.key == CompareKey.runtimes } ? base.id : nil
    }
}
