/// How ready work is ordered (beads' `SortPolicy`). `Sendable`: plain enum.
public enum SortPolicy: String, Sendable, Hashable, CaseIterable {
    /// Beads created within the recent window (48 h) first, by priority then age; older ones after, oldest
    /// first. beads' default.
    case hybrid
    /// Priority, then oldest first.
    case priority
    /// Oldest first.
    case oldest
}

/// Filters shared by `ready`, `list`, `search` and `count` (beads' `IssueFilter`/`WorkFilter`).
/// Empty/nil fields do not filter. `Sendable`: plain value.
public struct BeadFilter: Sendable, Hashable {
    public var statuses: Set<BeadStatus> = []
    public var priorities: Set<Int> = []
    public var types: Set<IssueType> = []
    public var assignee: String?
    /// Only beads with no assignee.
    public var unassigned = false
    /// AND: the bead has every one of these labels.
    public var labels: [String] = []
    /// OR: the bead has at least one of these labels.
    public var labelsAny: [String] = []
    /// Descendants (through parent-child, transitively) of this bead.
    public var parent: String?
    /// Include tombstones (excluded by default, as beads does).
    public var includeTombstones = false
    /// At most this many results (0 = no limit).
    public var limit = 0
    public init() {}
}

/// A blocked bead and what blocks it. `Sendable`: plain value.
public struct BlockedBead: Sendable, Hashable {
    public var bead: Bead
    /// Direct blockers (targets of blocks edges, waits-for spawners) and blocked parents.
    public var blockedBy: [String]
}

/// One line of a dependency tree. `Sendable`: plain value.
public struct TreeNode: Sendable, Hashable {
    public var id: String
    public var depth: Int
    /// The node above this one in the tree ("" for the root).
    public var parentID: String
    /// The edge type from the node above.
    public var type: DependencyType?
    /// Cut at the depth limit, or already shown higher up (a diamond or a cycle).
    public var truncated: Bool
}

/// Aggregate counts (beads' `Statistics`). `Sendable`: plain value.
public struct LedgerStats: Sendable, Hashable {
    public var total = 0
    public var open = 0
    public var inProgress = 0
    public var closed = 0
    public var blocked = 0
    public var deferred = 0
    public var ready = 0
    public var tombstones = 0
    public var pinned = 0
    public var hooked = 0
    public var epicsEligibleForClosure = 0
    /// Mean hours from created_at to closed_at over closed beads (0 when none).
    public var averageLeadTimeHours = 0.0
}

extension Ledger {
    /// True when `bead` is ready at `now` (DESIGN §3): open, not pinned, not ephemeral, not of an
    /// infrastructure type (unless `allowInfrastructure`), defer_until passed, and not blocked.
    public func isReady(_ bead: Bead, now: Timestamp, allowInfrastructure: Bool = false) -> Bool {
        bead.status == .open && !bead.pinned && !bead.ephemeral
            && (allowInfrastructure || !settings.infrastructureTypes.contains(bead.issueType))
            && (bead.deferUntil.map { ($0.unixSeconds, $0.nanosecond) <= (now.unixSeconds, now.nanosecond) } ?? true)
            && !blockedIDs.contains(bead.id)
    }

    /// Ready work, filtered and sorted. A filter over the open beads (the blocked set is kept current).
    /// As in beads, naming types in `filter.types` lifts the infrastructure-type exclusion (so
    /// `bd ready --type merge-request` lists ready merge requests).
    public func ready(now: Timestamp, filter: BeadFilter = BeadFilter(), sort: SortPolicy = .hybrid) -> [Bead] {
        var out: [Bead] = []
        let descendants = filter.parent.map { self.descendants(of: resolve($0)) }
        let allowInfrastructure = !filter.types.isEmpty
        for id in openIDs {
            guard let b = beads[id], isReady(b, now: now, allowInfrastructure: allowInfrastructure),
                matches(b, filter, descendants: descendants)
            else {
                continue
            }
            out.append(b)
        }
        return limited(sorted(out, by: sort, now: now), filter.limit)
    }

    /// Blocked beads that are not closed or deleted, with their blockers, sorted by priority then age.
    public func blocked(filter: BeadFilter = BeadFilter()) -> [BlockedBead] {
        let descendants = filter.parent.map { self.descendants(of: resolve($0)) }
        var out: [BlockedBead] = []
        for id in blockedIDs {
            guard let b = beads[id], !Ledger.isDone(b.status), matches(b, filter, descendants: descendants) else {
                continue
            }
            var by = directBlockers(of: b)
            for d in b.dependencies where d.type == .parentChild && blockedIDs.contains(d.dependsOnID) {
                by.append(d.dependsOnID)
            }
            out.append(BlockedBead(bead: b, blockedBy: by))
        }
        out.sort { Ledger.priorityOrder($0.bead, $1.bead) }
        return filter.limit > 0 ? Array(out.prefix(filter.limit)) : out
    }

    /// Beads matching `filter`, sorted by priority, then newest first (beads' `list` order), then id.
    public func list(_ filter: BeadFilter = BeadFilter()) -> [Bead] {
        let descendants = filter.parent.map { self.descendants(of: resolve($0)) }
        let out = beads.values.filter { matches($0, filter, descendants: descendants) }.sorted {
            if $0.priority != $1.priority { return $0.priority < $1.priority }
            if $0.createdAt != $1.createdAt { return $0.createdAt > $1.createdAt }
            return $0.id < $1.id
        }
        return limited(out, filter.limit)
    }

    /// Beads matching `filter` whose id, title, description or notes contain `text` (case-insensitive).
    public func search(_ text: String, filter: BeadFilter = BeadFilter()) -> [Bead] {
        let needle = text.lowercased()
        var unlimited = filter
        unlimited.limit = 0
        let found = list(unlimited).filter {
            needle.isEmpty || $0.id.lowercased().contains(needle) || $0.title.lowercased().contains(needle)
                || $0.description.lowercased().contains(needle) || $0.notes.lowercased().contains(needle)
        }
        return limited(found, filter.limit)
    }

    /// The number of beads matching `filter` (its limit ignored).
    public func count(_ filter: BeadFilter = BeadFilter()) -> Int {
        let descendants = filter.parent.map { self.descendants(of: resolve($0)) }
        return beads.values.reduce(0) { $0 + (matches($1, filter, descendants: descendants) ? 1 : 0) }
    }

    /// Aggregate statistics at `now`.
    public func stats(now: Timestamp) -> LedgerStats {
        var s = LedgerStats()
        var leadHours = 0.0
        for b in beads.values {
            switch b.status {
            case .open: s.open += 1
            case .inProgress: s.inProgress += 1
            case .closed:
                s.closed += 1
                if let c = b.closedAt { leadHours += Double(c.unixSeconds - b.createdAt.unixSeconds) / 3600 }
            case .deferred: s.deferred += 1
            case .tombstone: s.tombstones += 1
            case .pinned: s.pinned += 1
            case .hooked: s.hooked += 1
            case .blocked: break
            }
            if b.status != .tombstone { s.total += 1 }
            if blockedIDs.contains(b.id) && !Ledger.isDone(b.status) || b.status == .blocked { s.blocked += 1 }
            if isReady(b, now: now) { s.ready += 1 }
            if b.issueType == .epic && !Ledger.isDone(b.status), let kids = children[b.id], !kids.isEmpty,
                kids.allSatisfy({ beads[$0].map { Ledger.isDone($0.status) } ?? true })
            {
                s.epicsEligibleForClosure += 1
            }
        }
        s.averageLeadTimeHours = s.closed > 0 ? leadHours / Double(s.closed) : 0
        return s
    }

    /// The dependency tree of `id`: what it depends on (or, with `reverse`, what depends on it), depth-first
    /// in id order, cut at `maxDepth`; a bead already shown is listed again as truncated.
    public func dependencyTree(of id: String, maxDepth: Int = 50, reverse: Bool = false) -> [TreeNode] {
        let root = resolve(id)
        guard beads[root] != nil else { return [] }
        var out: [TreeNode] = [TreeNode(id: root, depth: 0, parentID: "", type: nil, truncated: false)]
        var shown: Set<String> = [root]
        func walk(_ node: String, _ depth: Int) {
            let edges: [(String, DependencyType)]
            if reverse {
                edges = (self.reverse[node] ?? []).sorted().flatMap { src in
                    (beads[src]?.dependencies ?? []).filter { $0.dependsOnID == node }.map { (src, $0.type) }
                }
            } else {
                edges = (beads[node]?.dependencies ?? []).sorted { $0.dependsOnID < $1.dependsOnID }
                    .map { ($0.dependsOnID, $0.type) }
            }
            for (next, type) in edges {
                let seen = shown.contains(next)
                let cut = seen || depth + 1 > maxDepth
                out.append(TreeNode(id: next, depth: depth + 1, parentID: node, type: type, truncated: cut))
                if cut { continue }
                shown.insert(next)
                walk(next, depth + 1)
            }
        }
        walk(root, 0)
        return out
    }

    /// Cycles along blocks, conditional-blocks and waits-for edges (`bd dep cycles`): one per back edge of a
    /// depth-first search in ID order, each rotated to start at its smallest ID. Empty iff the graph of those
    /// edges is acyclic.
    public func cycles() -> [[String]] {
        var state: [String: Int] = [:]  // 1 = on the path, 2 = done
        var path: [String] = []
        var found = Set<[String]>()
        func edges(_ id: String) -> [String] {
            (beads[id]?.dependencies ?? []).filter {
                Ledger.cycleTypes.contains($0.type) && beads[$0.dependsOnID] != nil
            }
            .map(\.dependsOnID)
        }
        // Iterative depth-first search (no recursion: chains can be thousands of beads long).
        for root in beads.keys.sorted() where state[root] == nil {
            var frames: [(id: String, next: [String], index: Int)] = [(root, edges(root), 0)]
            state[root] = 1
            path.append(root)
            while !frames.isEmpty {
                let top = frames.count - 1
                guard frames[top].index < frames[top].next.count else {
                    state[frames[top].id] = 2
                    path.removeLast()
                    frames.removeLast()
                    continue
                }
                let target = frames[top].next[frames[top].index]
                frames[top].index += 1
                switch state[target] {
                case 1:
                    if let start = path.lastIndex(of: target) {
                        let cycle = Array(path[start...])
                        let m = cycle.indices.min { cycle[$0] < cycle[$1] }!
                        found.insert(Array(cycle[m...] + cycle[..<m]))
                    }
                case nil:
                    state[target] = 1
                    path.append(target)
                    frames.append((target, edges(target), 0))
                default: break
                }
            }
        }
        return found.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// All beads below `id` through parent-child edges, transitively.
    public func descendants(of id: String) -> Set<String> {
        var out = Set<String>()
        var stack = [id]
        while let cur = stack.popLast() {
            for kid in children[cur] ?? [] where out.insert(kid).inserted { stack.append(kid) }
        }
        return out
    }

    /// The direct parent-child children of `id`.
    public func childIDs(of id: String) -> Set<String> { children[resolve(id)] ?? [] }

    /// Beads with any dependency edge to `id`.
    public func dependentIDs(of id: String) -> Set<String> { reverse[resolve(id)] ?? [] }

    func matches(_ b: Bead, _ f: BeadFilter, descendants: Set<String>?) -> Bool {
        if !f.includeTombstones && b.status == .tombstone && !f.statuses.contains(.tombstone) { return false }
        if !f.statuses.isEmpty && !f.statuses.contains(b.status) { return false }
        if !f.priorities.isEmpty && !f.priorities.contains(b.priority) { return false }
        if !f.types.isEmpty && !f.types.contains(b.issueType) { return false }
        if let a = f.assignee, b.assignee != a { return false }
        if f.unassigned && !b.assignee.isEmpty { return false }
        if !f.labels.allSatisfy(b.labels.contains) { return false }
        if !f.labelsAny.isEmpty && !f.labelsAny.contains(where: b.labels.contains) { return false }
        if let d = descendants, !d.contains(b.id) { return false }
        return true
    }

    func sorted(_ beads: [Bead], by policy: SortPolicy, now: Timestamp) -> [Bead] {
        switch policy {
        case .priority: return beads.sorted(by: Ledger.priorityOrder)
        case .oldest:
            return beads.sorted { $0.createdAt != $1.createdAt ? $0.createdAt < $1.createdAt : $0.id < $1.id }
        case .hybrid:
            let cutoff = now.unixNanos &- settings.hybridRecentWindowMillis &* 1_000_000
            return beads.sorted { a, b in
                let ra = a.createdAt.unixNanos >= cutoff
                let rb = b.createdAt.unixNanos >= cutoff
                if ra != rb { return ra }
                if ra && a.priority != b.priority { return a.priority < b.priority }
                if a.createdAt != b.createdAt { return a.createdAt < b.createdAt }
                return a.id < b.id
            }
        }
    }

    static func priorityOrder(_ a: Bead, _ b: Bead) -> Bool {
        if a.priority != b.priority { return a.priority < b.priority }
        if a.createdAt != b.createdAt { return a.createdAt < b.createdAt }
        return a.id < b.id
    }

    func limited(_ beads: [Bead], _ limit: Int) -> [Bead] { limit > 0 ? Array(beads.prefix(limit)) : beads }
}
