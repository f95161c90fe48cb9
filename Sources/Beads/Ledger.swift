/// Settings of a ledger, with documented defaults. `Sendable`: plain value.
public struct LedgerSettings: Sendable, Hashable {
    /// ID minting (beads' adaptive length defaults).
    public var ids = BeadIDSettings()
    /// Longest title, in characters. Default 500 (beads).
    public var maxTitleLength = 500
    /// Longest bead ID, in characters (prefix, hash and child suffixes). Default 128.
    public var maxIDLength = 128
    /// Types that are never ready work: Gas Town's infrastructure beads and beads' workflow types.
    /// Default: agent, role, rig, convoy, message, merge-request, gate, molecule.
    public var infrastructureTypes: Set<IssueType> = [
        .agent, .role, .rig, .convoy, .message, .mergeRequest, .gate, .molecule,
    ]
    /// `SortPolicy.hybrid`: beads created within this window before `now` sort by priority first.
    /// Default 48 h (beads).
    public var hybridRecentWindowMillis: Int64 = 48 * 3600 * 1000
    public init() {}
}

/// The in-memory state of one ledger scope (one ID prefix): beads, their merge stamps, aliases left by
/// re-IDs, and the indexes that keep the blocked set current after every mutation (so `ready` is a filter).
///
/// Mutations are `LedgerOp` values applied with `apply(_:)`: an op carries its actor, HLC stamp, wall time
/// and any minted ID, so replaying a WAL of ops is deterministic. A failed op throws a `LedgerError` and
/// leaves the ledger unchanged.
///
/// `Sendable`: a value type made of dictionaries of values; the owning actor mutates its own copy.
public struct Ledger: Sendable {
    /// The scope's ID prefix (`bd`, `hq`, `gt`, …).
    public let prefix: String
    public var settings: LedgerSettings
    /// Every bead, tombstones included, by ID.
    public internal(set) var beads: [String: Bead] = [:]
    /// Merge stamps by bead ID (one entry per bead).
    public internal(set) var stamps: [String: BeadStamps] = [:]
    /// Old ID → new ID, left by a merge that re-IDed a colliding bead (derived from `BeadStamps.aliases`,
    /// so it travels in `stamps.jsonl`).
    public internal(set) var aliases: [String: String] = [:]
    /// IDs of the beads currently blocked (any status), kept incrementally.
    public internal(set) var blockedIDs: Set<String> = []
    /// IDs of the beads with status open.
    var openIDs: Set<String> = []
    /// target → beads with any edge to it.
    var reverse: [String: Set<String>] = [:]
    /// parent → beads with a parent-child edge to it.
    var children: [String: Set<String>] = [:]
    /// spawner → beads with a waits-for edge gated on its children.
    var waiters: [String: Set<String>] = [:]

    /// An empty ledger for `prefix`.
    public init(prefix: String, settings: LedgerSettings = LedgerSettings()) {
        self.prefix = prefix
        self.settings = settings
    }

    /// A ledger holding `beads` (as loaded from a snapshot or a ledger commit) with their `stamps`; a bead
    /// without stamps gets `created: defaultStamp`. Throws on duplicate IDs.
    public init(
        prefix: String, beads: [Bead], stamps: [BeadStamps] = [], defaultStamp: HLCStamp = .zero,
        settings: LedgerSettings = LedgerSettings()
    ) throws(LedgerError) {
        self.init(prefix: prefix, settings: settings)
        self.beads.reserveCapacity(beads.count)
        self.stamps.reserveCapacity(beads.count)
        for bead in beads where self.beads.updateValue(bead, forKey: bead.id) != nil {
            throw .beadExists(bead.id)
        }
        for s in stamps where self.beads[s.id] != nil { self.stamps[s.id] = s }
        // Stamps are keyed by IDs of beads here, so equal counts mean every bead has its stamps.
        if self.stamps.count < self.beads.count {
            for id in self.beads.keys where self.stamps[id] == nil {
                self.stamps[id] = BeadStamps(id: id, created: defaultStamp)
            }
        }
        rebuildIndexes()
    }

    /// Number of beads, tombstones included.
    public var count: Int { beads.count }

    /// The bead with `id`, following aliases left by re-IDs.
    public func bead(_ id: String) -> Bead? {
        if let b = beads[id] { return b }
        if let target = aliases[id] { return beads[target] }
        return nil
    }

    /// Resolves an alias to the current ID (identity for live IDs).
    public func resolve(_ id: String) -> String { beads[id] != nil ? id : (aliases[id] ?? id) }

    /// The beads in export order (sorted by id as byte strings).
    public var sortedBeads: [Bead] {
        beads.values.sorted { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }
    }

    /// `issues.jsonl` of this scope in beads' export shape.
    public func exportJSONL() -> String { BeadCodec.encodeJSONL(beads.values) }

    /// `stamps.jsonl` of this scope.
    public func exportStampsJSONL() -> String { BeadStamps.encodeJSONL(stamps.values) }

    // MARK: Indexes and the blocked set

    /// Rebuilds every index and the blocked set from scratch.
    mutating func rebuildIndexes() {
        aliases = [:]
        for index in stamps.indices where !stamps.values[index].aliases.isEmpty {
            let id = stamps.keys[index]
            for old in stamps.values[index].aliases where aliases[old].map({ id < $0 }) ?? true { aliases[old] = id }
        }
        reverse = [:]
        children = [:]
        waiters = [:]
        openIDs = []
        openIDs.reserveCapacity(beads.count / 8)
        for bead in beads.values { index(bead) }
        // `refreshBlocked` over every bead, specialised: the region is the whole ledger, so no parent lies outside
        // it and the fixpoint starts from the directly blocked beads alone.
        blockedIDs = []
        var work: [String] = []
        for bead in beads.values where isDirectlyBlocked(bead) { work.append(bead.id) }
        while let id = work.popLast() {
            guard blockedIDs.insert(id).inserted else { continue }
            for kid in children[id] ?? [] where beads[kid] != nil && !blockedIDs.contains(kid) { work.append(kid) }
        }
    }

    mutating func index(_ bead: Bead) {
        if bead.status == .open { openIDs.insert(bead.id) }
        let dependencies = bead.dependencies
        for i in dependencies.indices { indexEdge(from: bead.id, dependencies[i], insert: true) }
    }

    mutating func unindex(_ bead: Bead) {
        openIDs.remove(bead.id)
        for d in bead.dependencies { indexEdge(from: bead.id, d, insert: false) }
    }

    mutating func indexEdge(from id: String, _ d: Dependency, insert: Bool) {
        func update(_ map: inout [String: Set<String>], _ key: String) {
            if insert {
                map[key, default: []].insert(id)
            } else if var set = map[key] {
                set.remove(id)
                map[key] = set.isEmpty ? nil : set
            }
        }
        update(&reverse, d.dependsOnID)
        if d.type == .parentChild { update(&children, d.dependsOnID) }
        if d.type == .waitsFor { update(&waiters, Ledger.waitsForGate(d).spawner) }
    }

    /// The spawner and gate of a waits-for edge: metadata `{"gate":"all-children"|"any-children",
    /// "spawner_id":…}`, defaulting to the edge's target and all-children (beads' rule).
    static func waitsForGate(_ d: Dependency) -> (spawner: String, anyChildren: Bool) {
        guard !d.metadata.isEmpty, d.metadata != "{}", let meta = try? JSONValue.parse(d.metadata) else {
            return (d.dependsOnID, false)
        }
        let spawner = meta["spawner_id"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? d.dependsOnID
        return (spawner, meta["gate"]?.stringValue == "any-children")
    }

    static func isDone(_ status: BeadStatus) -> Bool { status == .closed || status == .tombstone }

    /// The IDs of the beads `ready` and `blocked` can look at: every bead that is not closed or a tombstone, and,
    /// transitively, every bead one of those depends on (any edge type, so parents and blockers with their own
    /// blockers) and the children of the spawner of every waits-for edge among them. A ledger built from only these
    /// beads has the same open set, blocked set and descendants of open beads as this one (the store's snapshot
    /// writes them first, so `bd ready` decodes only them: docs/ledger-store.md).
    public func readyClosure() -> Set<String> {
        var closure = Set<String>()
        var work: [String] = []
        for bead in beads.values where !Ledger.isDone(bead.status) { work.append(bead.id) }
        while let id = work.popLast() {
            guard let bead = beads[id], closure.insert(id).inserted else { continue }
            for d in bead.dependencies {
                if beads[d.dependsOnID] != nil && !closure.contains(d.dependsOnID) { work.append(d.dependsOnID) }
                if d.type == .waitsFor {
                    for kid in children[Ledger.waitsForGate(d).spawner] ?? [] where !closure.contains(kid) {
                        work.append(kid)
                    }
                }
            }
        }
        return closure
    }

    /// The direct reasons `bead` is blocked: targets of blocks/conditional-blocks edges that are not closed,
    /// and spawners of waits-for edges whose gate is still shut. Parent-child blocking is not included.
    public func directBlockers(of bead: Bead) -> [String] {
        var out: [String] = []
        for d in bead.dependencies {
            switch d.type {
            case .blocks, .conditionalBlocks:
                if let target = beads[d.dependsOnID], !Ledger.isDone(target.status) { out.append(d.dependsOnID) }
                if ExternalDependency.isExternal(d.dependsOnID) && !ExternalDependency.isResolved(d) {
                    out.append(d.dependsOnID)
                }
            case .waitsFor:
                let gate = Ledger.waitsForGate(d)
                let kids = children[gate.spawner] ?? []
                let shut: Bool
                if gate.anyChildren {
                    shut = !kids.contains { beads[$0].map { Ledger.isDone($0.status) } ?? false }
                } else {
                    shut = kids.contains { beads[$0].map { !Ledger.isDone($0.status) } ?? false }
                }
                if shut { out.append(gate.spawner) }
            default: continue
            }
        }
        return out
    }

    /// Whether `directBlockers(of: bead)` is non-empty, without building the list.
    func isDirectlyBlocked(_ bead: Bead) -> Bool {
        for d in bead.dependencies {
            switch d.type {
            case .blocks, .conditionalBlocks:
                if let target = beads[d.dependsOnID], !Ledger.isDone(target.status) { return true }
                if ExternalDependency.isExternal(d.dependsOnID) && !ExternalDependency.isResolved(d) { return true }
            case .waitsFor:
                let gate = Ledger.waitsForGate(d)
                let kids = children[gate.spawner] ?? []
                if gate.anyChildren {
                    if !kids.contains(where: { beads[$0].map { Ledger.isDone($0.status) } ?? false }) { return true }
                } else {
                    if kids.contains(where: { beads[$0].map { !Ledger.isDone($0.status) } ?? false }) { return true }
                }
            default: continue
            }
        }
        return false
    }

    /// Recomputes the blocked state of `seeds` and everything below them along parent-child edges, as the least
    /// fixpoint of "blocked = directly blocked, or a parent is blocked" (so parent-child cycles do not keep
    /// a stale block alive).
    mutating func refreshBlocked(seeds: Set<String>) {
        var region = Set<String>()
        var stack = Array(seeds)
        while let id = stack.popLast() {
            guard region.insert(id).inserted else { continue }
            if let kids = children[id] { stack.append(contentsOf: kids) }
        }
        for id in region { blockedIDs.remove(id) }
        var work: [String] = []
        for id in region {
            guard let bead = beads[id] else { continue }
            if isDirectlyBlocked(bead)
                || bead.dependencies.contains(where: {
                    $0.type == .parentChild && !region.contains($0.dependsOnID) && blockedIDs.contains($0.dependsOnID)
                })
            {
                work.append(id)
            }
        }
        while let id = work.popLast() {
            guard beads[id] != nil, blockedIDs.insert(id).inserted else { continue }
            for kid in children[id] ?? [] where region.contains(kid) && !blockedIDs.contains(kid) { work.append(kid) }
        }
    }

    /// Seeds to refresh after the status (done or not) of `id` changed.
    func seedsForStatusChange(of bead: Bead) -> Set<String> {
        var seeds: Set<String> = [bead.id]
        seeds.formUnion(reverse[bead.id] ?? [])
        for d in bead.dependencies where d.type == .parentChild { seeds.formUnion(waiters[d.dependsOnID] ?? []) }
        return seeds
    }
}

extension Ledger: Equatable {
    /// Two ledgers are equal when they hold the same prefix, beads, stamps and aliases (indexes and the
    /// blocked set are derived from those).
    public static func == (a: Ledger, b: Ledger) -> Bool {
        a.prefix == b.prefix && a.beads == b.beads && a.stamps == b.stamps && a.aliases == b.aliases
            && a.blockedIDs == b.blockedIDs
    }
}
