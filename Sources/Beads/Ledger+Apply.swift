extension Ledger {
    /// Applies `op`: validates everything first, then mutates beads, stamps, indexes and the blocked set.
    /// Throws and leaves the ledger unchanged when the op is invalid. Returns the bead as it is after the op
    /// (nil for imports).
    @discardableResult
    public mutating func apply(_ op: LedgerOp) throws(LedgerError) -> Bead? {
        switch op.change {
        case .create(let bead, let allowCycles):
            let normalized = try planCreate(bead, allowCycles: allowCycles, op: op)
            commitCreate(normalized, op: op)
            return normalized
        case .importBeads(let imported):
            try validateImport(imported)
            applyImport(imported, op: op)
            return nil
        default:
            let (old, new, s) = try planEdit(op)
            stamps[new.id] = s
            replace(old: old, with: new)
            return new
        }
    }

    /// Throws the error `apply(op)` would throw, without changing anything (and without copying the ledger).
    public func check(_ op: LedgerOp) throws(LedgerError) {
        switch op.change {
        case .create(let bead, let allowCycles): _ = try planCreate(bead, allowCycles: allowCycles, op: op)
        case .importBeads(let imported): try validateImport(imported)
        default: _ = try planEdit(op)
        }
    }

    /// The bead before and after an edit op, and its new stamps; nothing is changed.
    func planEdit(_ op: LedgerOp) throws(LedgerError) -> (Bead, Bead, BeadStamps) {
        guard let id = op.beadID else { throw .invalidOp("operation without a bead ID") }
        guard let old = beads[id] else { throw .beadNotFound(id) }
        guard old.status != .tombstone else { throw .beadDeleted(id) }
        var new = old
        var s = stamps[id] ?? BeadStamps(id: id, created: .zero)
        switch op.change {
        case .update(_, let fields):
            for f in fields { try validate(f) }
            for f in fields {
                apply(f, to: &new, time: op.time)
                s.fields[f.group] = op.stamp
            }
        case .labels(_, let add, let remove):
            for l in add + remove where !Ledger.isValidLabel(l) { throw .labelInvalid(l) }
            // A label both added and removed by one op ends up added.
            for l in remove where !add.contains(l) {
                new.labels.removeAll { $0 == l }
                s.labels[l, default: ElementStamps()].removed = op.stamp
            }
            for l in add {
                if !new.labels.contains(l) { new.labels.append(l) }
                s.labels[l, default: ElementStamps()].added = op.stamp
            }
        case .addDependency(_, var dep, let allowCycles):
            dep.issueID = id
            try validateNewDependency(dep, of: old, allowCycles: allowCycles, pending: [])
            new.dependencies.append(dep)
            s.dependencies[dep.key.text, default: ElementStamps()].added = op.stamp
        case .removeDependency(_, let key):
            guard let i = new.dependencies.firstIndex(where: { $0.key == key }) else {
                throw .dependencyNotFound(id: id, key: key.text)
            }
            new.dependencies.remove(at: i)
            s.dependencies[key.text, default: ElementStamps()].removed = op.stamp
        case .addComment(_, var comment):
            comment.issueID = id
            if !new.comments.contains(where: { $0.key == comment.key }) { new.comments.append(comment) }
            s.comments[comment.key, default: ElementStamps()].added = op.stamp
        case .close(_, let reason):
            new.status = .closed
            new.closedAt = op.time
            new.closeReason = reason
            s.fields[.status] = op.stamp
        case .reopen:
            new.status = .open
            new.closedAt = nil
            new.closeReason = ""
            s.fields[.status] = op.stamp
        case .delete(_, let reason):
            new.status = .tombstone
            new.closedAt = nil
            new.deletedAt = op.time
            new.deletedBy = op.actor
            new.deleteReason = reason
            new.originalType = old.issueType.rawValue
            s.fields[.status] = op.stamp
            s.deleted = op.stamp
        case .claim(_, let assignee, let node, let expectedEpoch):
            guard !assignee.isEmpty else { throw .invalidOp("a claim needs an assignee") }
            guard old.status != .closed else { throw .invalidOp("bead \(id) is closed: reopen it before claiming") }
            if let expectedEpoch, expectedEpoch != old.leaseEpoch {
                throw .staleEpoch(id: id, expected: expectedEpoch, current: old.leaseEpoch)
            }
            if !old.assignee.isEmpty && (old.assignee != assignee || (!old.claimNode.isEmpty && old.claimNode != node))
            {
                throw .alreadyClaimed(id: id, by: old.assignee, node: old.claimNode, epoch: old.leaseEpoch)
            }
            new.assignee = assignee
            new.claimNode = node
            new.leaseEpoch = old.leaseEpoch + 1
            s.fields[.claim] = op.stamp
            if old.status != .inProgress {
                new.status = .inProgress
                s.fields[.status] = op.stamp
            }
        case .release(_, let assignee):
            guard old.assignee == assignee else { throw .notClaimHolder(id: id, holder: old.assignee) }
            new.assignee = ""
            new.claimNode = ""
            s.fields[.claim] = op.stamp
        case .setMetadata(_, let key, let value):
            guard !key.isEmpty else { throw .metadataKeyEmpty }
            new.setMetadataValue(key, value)
            s.metadata[key] = op.stamp
        case .create, .importBeads: break
        }
        new.updatedAt = op.time
        return (old, new, s)
    }

    static func isValidLabel(_ label: String) -> Bool {
        !label.isEmpty && !label.contains(",") && !label.contains("\n") && label.trimmingSpaces == label
    }

    func validate(_ f: FieldUpdate) throws(LedgerError) {
        switch f {
        case .title(let t): try validateTitle(t)
        case .priority(let p): guard (0...4).contains(p) else { throw .priorityOutOfRange(p) }
        case .status(let s): if s == .tombstone { throw .invalidStatus("tombstone (use delete)") }
        case .estimatedMinutes(let m): if let m, m < 0 { throw .invalidOp("estimated minutes cannot be negative") }
        default: break
        }
    }

    func validateTitle(_ t: String) throws(LedgerError) {
        if t.trimmingSpaces.isEmpty { throw .titleEmpty }
        if t.count > settings.maxTitleLength { throw .titleTooLong(length: t.count, limit: settings.maxTitleLength) }
    }

    func apply(_ f: FieldUpdate, to b: inout Bead, time: Timestamp) {
        switch f {
        case .title(let v): b.title = v
        case .description(let v): b.description = v
        case .design(let v): b.design = v
        case .acceptanceCriteria(let v): b.acceptanceCriteria = v
        case .notes(let v): b.notes = v
        case .priority(let v): b.priority = v
        case .issueType(let v): b.issueType = v
        case .status(let v):
            b.status = v
            if v == .closed {
                if b.closedAt == nil { b.closedAt = time }
            } else {
                b.closedAt = nil
                b.closeReason = ""
            }
        case .assignee(let v): b.assignee = v
        case .estimatedMinutes(let v): b.estimatedMinutes = v
        case .externalRef(let v): b.externalRef = v
        case .owner(let v): b.owner = v
        case .deferUntil(let v): b.deferUntil = v
        case .dueAt(let v): b.dueAt = v
        case .pinned(let v): b.pinned = v
        case .ephemeral(let v): b.ephemeral = v
        }
    }

    /// Checks a dependency about to be added to `bead` (`pending` holds edges of the same op not yet stored).
    func validateNewDependency(
        _ dep: Dependency, of bead: Bead, allowCycles: Bool, pending: [Dependency]
    ) throws(LedgerError) {
        guard dep.dependsOnID != bead.id else { throw .selfDependency(bead.id) }
        // A `tracks` edge may name a bead of another scope (a convoy in `hq` tracking rig beads, as Gas Town's
        // convoys do): that scope checks it exists (`TownWorkflow.createConvoy`); it never blocks ready work.
        let otherScope = dep.type == .tracks && !dep.dependsOnID.hasPrefix(prefix + "-")
        // An `external:` target lives in another project or organization (beads' external dependencies); it is
        // checked where it lives, and blocks until it is recorded resolved (`ExternalDependency`).
        if ExternalDependency.isExternal(dep.dependsOnID) {
            guard ExternalDependency.hop(dep.dependsOnID) != nil || !dep.dependsOnID.hasPrefix("external:hop:") else {
                // `external:hop:…` that is not a valid `hop://org/rig/id` address.
                throw .dependencyTargetMissing(id: bead.id, target: dep.dependsOnID)
            }
        } else if beads[dep.dependsOnID] == nil && !otherScope {
            throw .dependencyTargetMissing(id: bead.id, target: dep.dependsOnID)
        }
        if (bead.dependencies + pending).contains(where: { $0.key == dep.key }) {
            throw .dependencyExists(id: bead.id, key: dep.key.text)
        }
        if !allowCycles && Ledger.cycleTypes.contains(dep.type),
            let path = pathAlongBlockingEdges(from: dep.dependsOnID, to: bead.id, extra: [bead.id: pending])
        {
            throw .cycle([bead.id] + path)
        }
    }

    /// Edge types whose cycles are refused on write and listed by `cycles()`.
    public static let cycleTypes: Set<DependencyType> = [.blocks, .conditionalBlocks, .waitsFor]

    /// A path from `start` to `goal` following cycle-type edges (depends-on direction), or nil.
    func pathAlongBlockingEdges(from start: String, to goal: String, extra: [String: [Dependency]]) -> [String]? {
        var parent: [String: String] = [start: start]
        var queue = [start]
        var head = 0
        while head < queue.count {
            let id = queue[head]
            head += 1
            if id == goal {
                var path = [id]
                var cur = id
                while cur != start, let p = parent[cur] {
                    path.append(p)
                    cur = p
                }
                return path.reversed()
            }
            let deps = (beads[id]?.dependencies ?? []) + (extra[id] ?? [])
            for d in deps where Ledger.cycleTypes.contains(d.type) && parent[d.dependsOnID] == nil {
                parent[d.dependsOnID] = id
                queue.append(d.dependsOnID)
            }
        }
        return nil
    }

    /// The new bead as it will be stored (normalized), after every check; nothing is changed.
    func planCreate(_ input: Bead, allowCycles: Bool, op: LedgerOp) throws(LedgerError) -> Bead {
        var bead = input
        guard !bead.id.isEmpty else { throw .invalidOp("a new bead needs an ID (use prepareCreate)") }
        guard beads[bead.id] == nil, aliases[bead.id] == nil else { throw .beadExists(bead.id) }
        try validateRecord(bead)
        guard bead.status != .tombstone else { throw .invalidStatus("tombstone (a new bead cannot be deleted)") }
        var seen: [Dependency] = []
        for var dep in bead.dependencies {
            dep.issueID = bead.id
            var empty = bead
            empty.dependencies = []
            try validateNewDependency(dep, of: empty, allowCycles: allowCycles, pending: seen)
            seen.append(dep)
        }
        bead.dependencies = seen
        bead.closedAt = bead.status == .closed ? (bead.closedAt ?? op.time) : nil
        if bead.status != .closed { bead.closeReason = "" }
        var uniqueLabels: [String] = []
        for l in bead.labels where !uniqueLabels.contains(l) { uniqueLabels.append(l) }
        bead.labels = uniqueLabels
        for i in bead.comments.indices { bead.comments[i].issueID = bead.id }
        return bead
    }

    mutating func commitCreate(_ bead: Bead, op: LedgerOp) {
        beads[bead.id] = bead
        stamps[bead.id] = BeadStamps(newBead: bead, stamp: op.stamp)
        index(bead)
        var seeds: Set<String> = [bead.id]
        seeds.formUnion(reverse[bead.id] ?? [])
        for d in bead.dependencies where d.type == .parentChild { seeds.formUnion(waiters[d.dependsOnID] ?? []) }
        refreshBlocked(seeds: seeds)
    }

    func validateImport(_ imported: [Bead]) throws(LedgerError) {
        var ids = Set<String>()
        for b in imported {
            guard !b.id.isEmpty else { throw .invalidOp("imported bead without an ID") }
            try validateRecord(b)
            guard ids.insert(b.id).inserted else { throw .beadExists(b.id) }
        }
    }

    /// The checks every bead record of this scope passes, whoever wrote it: a local create or import, and a bead
    /// taken in from a git remote by sync (which quarantines the ones that fail instead of merging them). A record
    /// is checked on its own: its ID (this scope's prefix, at most `settings.maxIDLength` characters, no spaces or
    /// control characters), title (not blank, at most `settings.maxTitleLength` characters), priority (0–4),
    /// labels, and its edges (none to itself, none without a target). Whether edge targets exist and edges make
    /// cycles depends on the rest of the ledger and is checked by the write that adds an edge, not here (a merged
    /// state may hold an edge to a bead pruned since).
    public func validateRecord(_ bead: Bead) throws(LedgerError) {
        try validateID(bead.id)
        try validateTitle(bead.title)
        guard (0...4).contains(bead.priority) else { throw .priorityOutOfRange(bead.priority) }
        for l in bead.labels where !Ledger.isValidLabel(l) { throw .labelInvalid(l) }
        for d in bead.dependencies {
            guard !d.dependsOnID.isEmpty else { throw .dependencyTargetMissing(id: bead.id, target: "\"\"") }
            guard d.dependsOnID != bead.id else { throw .selfDependency(bead.id) }
        }
    }

    /// A bead ID of this scope: `<prefix>-…`, at most `settings.maxIDLength` characters, made of characters that
    /// print as themselves (no spaces, control characters, quotes or slashes).
    public func validateID(_ id: String) throws(LedgerError) {
        guard id.hasPrefix(prefix + "-"), id.count > prefix.count + 1 else {
            throw .wrongPrefix(id: id, prefix: prefix)
        }
        guard id.count <= settings.maxIDLength else {
            throw .idInvalid(id: id, why: "it has \(id.count) characters, at most \(settings.maxIDLength) are allowed")
        }
        for scalar in id.unicodeScalars {
            let bad =
                scalar.properties.generalCategory == .control || scalar.properties.isWhitespace
                || scalar.properties.generalCategory == .format || "\"\\/`'".unicodeScalars.contains(scalar)
            if bad {
                throw .idInvalid(
                    id: id, why: "it holds U+\(String(scalar.value, radix: 16, uppercase: true)), which IDs cannot hold"
                )
            }
        }
    }

    mutating func applyImport(_ imported: [Bead], op: LedgerOp) {
        for b in imported {
            if let old = beads[b.id] {
                if old == b { continue }
                var s = stamps[b.id] ?? BeadStamps(id: b.id, created: op.stamp)
                s.stampDifferences(from: old, to: b, with: op.stamp)
                stamps[b.id] = s
            } else {
                stamps[b.id] = BeadStamps(newBead: b, stamp: op.stamp)
            }
            beads[b.id] = b
        }
        rebuildIndexes()
    }

    /// Stores `new` in place of `old` (same ID) and updates indexes and the blocked set as needed.
    mutating func replace(old: Bead, with new: Bead) {
        beads[new.id] = new
        let statusChanged = old.status != new.status
        let depsChanged = old.dependencies != new.dependencies
        guard statusChanged || depsChanged else { return }
        var seeds: Set<String> = [new.id]
        if depsChanged {
            for d in old.dependencies { indexEdge(from: old.id, d, insert: false) }
            for d in new.dependencies { indexEdge(from: new.id, d, insert: true) }
            for d in old.dependencies + new.dependencies where d.type == .parentChild {
                seeds.formUnion(waiters[d.dependsOnID] ?? [])
            }
        }
        if statusChanged {
            if new.status == .open { openIDs.insert(new.id) } else { openIDs.remove(new.id) }
            seeds.formUnion(seedsForStatusChange(of: old))
            seeds.formUnion(seedsForStatusChange(of: new))
        }
        refreshBlocked(seeds: seeds)
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
