/// What `bd create` asks for; `Ledger.prepareCreate` turns it into a `LedgerOp` with a minted ID.
/// `Sendable`: plain value.
public struct NewBead: Sendable, Hashable {
    public var title: String
    public var description = ""
    public var design = ""
    public var acceptanceCriteria = ""
    public var notes = ""
    public var issueType: IssueType = .task
    public var priority = 2
    public var status: BeadStatus = .open
    public var assignee = ""
    public var labels: [String] = []
    /// Dependencies of the new bead: (type, target ID), as `bd create --deps type:id`.
    public var dependencies: [DependencyKey] = []
    /// Makes the new bead a child: its ID becomes `<parent>.<hash>` and it gets a parent-child edge.
    public var parent: String?
    /// Use this ID instead of minting one (`bd create --id`).
    public var explicitID: String?
    public var estimatedMinutes: Int?
    public var externalRef: String?
    public var deferUntil: Timestamp?
    public var dueAt: Timestamp?
    public var ephemeral = false
    public var pinned = false
    public var metadata: [JSONMember] = []
    /// A proto's template bead (`bd cook --persist`).
    public var isTemplate = false
    /// A gate bead's wait: `await_type` (gh:run, timer, human…), `await_id`, and `timeout` in nanoseconds.
    public var awaitType = ""
    public var awaitID = ""
    public var timeout: Int64 = 0
    /// Where a cooked bead came from: the formula and the field (`steps[2]`).
    public var sourceFormula = ""
    public var sourceLocation = ""

    public init(title: String) { self.title = title }
}

extension Ledger {
    /// Builds the create op for `spec`: validates it, mints the ID (beads' hash ID, or a child ID under
    /// `spec.parent`), and fills created/updated times and created_by from `time` and `actor`. Apply the
    /// returned op with `apply(_:)` (after writing it to the WAL). Nothing is changed here.
    public func prepareCreate(
        _ spec: NewBead, actor: String, stamp: HLCStamp, time: Timestamp, allowCycles: Bool = false
    ) throws(LedgerError) -> LedgerOp {
        try validateTitle(spec.title)
        guard (0...4).contains(spec.priority) else { throw .priorityOutOfRange(spec.priority) }
        guard spec.status != .tombstone else { throw .invalidStatus("tombstone (a new bead cannot be deleted)") }
        let id: String
        if let explicit = spec.explicitID {
            id = explicit
        } else if let parentInput = spec.parent {
            let parent = resolve(parentInput)
            guard beads[parent] != nil else { throw .dependencyTargetMissing(id: "new child", target: parentInput) }
            do {
                id = try BeadID.mintChild(
                    parent: parent, title: spec.title, creator: actor, createdAt: time, settings: settings.ids,
                    isTaken: { beads[$0] != nil || aliases[$0] != nil })
            } catch { throw .idMinting(error) }
        } else {
            do {
                id = try BeadID.mint(
                    prefix: prefix, title: spec.title, description: spec.description, creator: actor, createdAt: time,
                    existingCount: beads.count, settings: settings.ids,
                    isTaken: { beads[$0] != nil || aliases[$0] != nil })
            } catch { throw .idMinting(error) }
        }
        var bead = Bead(id: id, title: spec.title, createdAt: time, updatedAt: time)
        bead.description = spec.description
        bead.design = spec.design
        bead.acceptanceCriteria = spec.acceptanceCriteria
        bead.notes = spec.notes
        bead.issueType = spec.issueType
        bead.priority = spec.priority
        bead.status = spec.status
        bead.assignee = spec.assignee
        bead.createdBy = actor
        bead.labels = spec.labels
        bead.estimatedMinutes = spec.estimatedMinutes
        bead.externalRef = spec.externalRef
        bead.deferUntil = spec.deferUntil
        bead.dueAt = spec.dueAt
        bead.ephemeral = spec.ephemeral
        bead.pinned = spec.pinned
        bead.metadata = spec.metadata
        bead.isTemplate = spec.isTemplate
        bead.awaitType = spec.awaitType
        bead.awaitID = spec.awaitID
        bead.timeout = spec.timeout
        bead.sourceFormula = spec.sourceFormula
        bead.sourceLocation = spec.sourceLocation
        if bead.status == .closed { bead.closedAt = time }
        var keys = spec.dependencies.map { DependencyKey(dependsOnID: resolve($0.dependsOnID), type: $0.type) }
        if let parent = spec.parent {
            keys.insert(DependencyKey(dependsOnID: resolve(parent), type: .parentChild), at: 0)
        }
        bead.dependencies = keys.map {
            Dependency(issueID: id, dependsOnID: $0.dependsOnID, type: $0.type, createdAt: time, createdBy: actor)
        }
        let op = LedgerOp(actor: actor, stamp: stamp, time: time, change: .create(bead, allowCycles: allowCycles))
        try check(op)
        return op
    }

    /// The next comment id for `bead` (beads numbers comments; ours are unique per bead only).
    public func nextCommentID(for id: String) -> Int64 {
        (beads[id]?.comments.map(\.id).max() ?? 0) + 1
    }

    /// A comment op for `text` by `actor` on `id`.
    public func prepareComment(id: String, text: String, actor: String, stamp: HLCStamp, time: Timestamp) -> LedgerOp {
        let comment = Comment(id: nextCommentID(for: id), issueID: id, author: actor, text: text, createdAt: time)
        return LedgerOp(actor: actor, stamp: stamp, time: time, change: .addComment(id: id, comment))
    }

    /// A dependency op: `id` depends on `target` with `type`.
    public func prepareDependency(
        id: String, on target: String, type: DependencyType, actor: String, stamp: HLCStamp, time: Timestamp,
        allowCycles: Bool = false
    ) -> LedgerOp {
        let dep = Dependency(issueID: id, dependsOnID: resolve(target), type: type, createdAt: time, createdBy: actor)
        return LedgerOp(
            actor: actor, stamp: stamp, time: time,
            change: .addDependency(id: resolve(id), dep, allowCycles: allowCycles))
    }
}
