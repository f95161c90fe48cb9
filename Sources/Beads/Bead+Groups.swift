extension Bead {
    /// True when `self` and `other` hold the same values in every field of `group`.
    public func sameValues(in group: FieldGroup, as other: Bead) -> Bool {
        var copy = other
        copy.copyValues(of: group, from: self)
        return copy == other
    }

    /// Copies the fields of `group` from `source` into `self`.
    public mutating func copyValues(of group: FieldGroup, from s: Bead) {
        switch group {
        case .status:
            status = s.status
            closedAt = s.closedAt
            closeReason = s.closeReason
            deletedAt = s.deletedAt
            deletedBy = s.deletedBy
            deleteReason = s.deleteReason
            originalType = s.originalType
        case .claim:
            assignee = s.assignee
            claimNode = s.claimNode
            leaseEpoch = s.leaseEpoch
        case .deferUntil: deferUntil = s.deferUntil
        case .title: title = s.title
        case .description: description = s.description
        case .design: design = s.design
        case .acceptanceCriteria: acceptanceCriteria = s.acceptanceCriteria
        case .notes: notes = s.notes
        case .priority: priority = s.priority
        case .issueType: issueType = s.issueType
        case .estimatedMinutes: estimatedMinutes = s.estimatedMinutes
        case .externalRef: externalRef = s.externalRef
        case .owner: owner = s.owner
        case .dueAt: dueAt = s.dueAt
        case .pinned: pinned = s.pinned
        case .ephemeral: ephemeral = s.ephemeral
        case .sender: sender = s.sender
        case .agentState: agentState = s.agentState
        case .hookBead: hookBead = s.hookBead
        case .roleBead: roleBead = s.roleBead
        case .other:
            createdAt = s.createdAt
            createdBy = s.createdBy
            compactionLevel = s.compactionLevel
            compactedAt = s.compactedAt
            compactedAtCommit = s.compactedAtCommit
            originalSize = s.originalSize
            isTemplate = s.isTemplate
            bondedFrom = s.bondedFrom
            creator = s.creator
            validations = s.validations
            awaitType = s.awaitType
            awaitID = s.awaitID
            timeout = s.timeout
            waiters = s.waiters
            sourceFormula = s.sourceFormula
            sourceLocation = s.sourceLocation
            lastActivity = s.lastActivity
            roleType = s.roleType
            rig = s.rig
            startedAt = s.startedAt
            extra = s.extra
        }
    }

    /// The value of metadata `key`, if set.
    public func metadataValue(_ key: String) -> JSONValue? { metadata.first { $0.key == key }?.value }

    /// Sets (nil removes) metadata `key`, keeping the order of existing keys.
    public mutating func setMetadataValue(_ key: String, _ value: JSONValue?) {
        if let i = metadata.firstIndex(where: { $0.key == key }) {
            if let value { metadata[i].value = value } else { metadata.remove(at: i) }
        } else if let value {
            metadata.append(JSONMember(key, value))
        }
    }
}

extension BeadStamps {
    /// Stamps with `stamp` every group, element and metadata key whose value differs between `old` and
    /// `new` (used when a change arrives without stamps: an import, or a JSONL edited by another tool).
    public mutating func stampDifferences(from old: Bead, to new: Bead, with stamp: HLCStamp) {
        for group in FieldGroup.allCases where !old.sameValues(in: group, as: new) { fields[group] = stamp }
        let oldLabels = Set(old.labels)
        let newLabels = Set(new.labels)
        for l in newLabels.subtracting(oldLabels) { labels[l, default: ElementStamps()].added = stamp }
        for l in oldLabels.subtracting(newLabels) { labels[l, default: ElementStamps()].removed = stamp }
        let oldDeps = Set(old.dependencies.map(\.key.text))
        let newDeps = Set(new.dependencies.map(\.key.text))
        for d in newDeps.subtracting(oldDeps) { dependencies[d, default: ElementStamps()].added = stamp }
        for d in oldDeps.subtracting(newDeps) { dependencies[d, default: ElementStamps()].removed = stamp }
        let oldComments = Set(old.comments.map(\.key))
        let newComments = Set(new.comments.map(\.key))
        for c in newComments.subtracting(oldComments) { comments[c, default: ElementStamps()].added = stamp }
        for c in oldComments.subtracting(newComments) { comments[c, default: ElementStamps()].removed = stamp }
        let keys = Set(old.metadata.map(\.key)).union(new.metadata.map(\.key))
        for k in keys where old.metadataValue(k) != new.metadataValue(k) { metadata[k] = stamp }
        if new.status == .tombstone && old.status != .tombstone { deleted = stamp }
    }

    /// Fresh stamps for a bead first seen with `stamp`: everything it holds is added at `stamp`.
    public init(newBead bead: Bead, stamp: HLCStamp) {
        self.init(id: bead.id, created: stamp)
        for l in bead.labels { labels[l] = ElementStamps(added: stamp) }
        for d in bead.dependencies { dependencies[d.key.text] = ElementStamps(added: stamp) }
        for c in bead.comments { comments[c.key] = ElementStamps(added: stamp) }
        for m in bead.metadata { metadata[m.key] = stamp }
        if bead.status == .tombstone { deleted = stamp }
    }
}

extension BeadStatus {
    /// Parses a status as typed by a user (`bd update -s`), with a clear error otherwise.
    public static func parse(_ text: String) throws(LedgerError) -> BeadStatus {
        guard let s = BeadStatus(rawValue: text.trimmingSpaces.lowercased()) else { throw .invalidStatus(text) }
        return s
    }
}

extension DependencyType {
    /// Parses a dependency type as typed by a user, with a clear error otherwise.
    public static func parse(_ text: String) throws(LedgerError) -> DependencyType {
        guard let t = DependencyType(rawValue: text.trimmingSpaces.lowercased()) else {
            throw .unknownDependencyType(text)
        }
        return t
    }
}

extension DependencyKey {
    /// Parses beads' `--deps` syntax: `type:id`, or a bare `id` meaning `blocks:id`.
    public static func parse(_ text: String) throws(LedgerError) -> DependencyKey {
        let trimmed = text.trimmingSpaces
        guard let colon = trimmed.firstIndex(of: ":") else {
            guard !trimmed.isEmpty else { throw .invalidOp("empty dependency: use type:id or id") }
            return DependencyKey(dependsOnID: trimmed, type: .blocks)
        }
        let id = String(trimmed[trimmed.index(after: colon)...])
        guard !id.isEmpty else { throw .invalidOp("dependency \"\(text)\" has no ID: use type:id") }
        return DependencyKey(dependsOnID: id, type: try DependencyType.parse(String(trimmed[..<colon])))
    }
}
