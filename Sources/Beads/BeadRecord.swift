/// The stored fields of a `Bead`, kept in one heap box shared between copies (see `Bead`).
/// `Sendable`: plain value.
struct BeadFields: Sendable, Hashable {
    var id: String
    var title: String
    var description: String = ""
    var design: String = ""
    var acceptanceCriteria: String = ""
    var notes: String = ""
    var status: BeadStatus = .open
    var priority: Int = 2
    var issueType: IssueType = .task
    var assignee: String = ""
    var estimatedMinutes: Int?
    var createdAt: Timestamp
    var createdBy: String = ""
    var updatedAt: Timestamp
    var closedAt: Timestamp?
    var closeReason: String = ""
    var externalRef: String?
    var compactionLevel: Int = 0
    var compactedAt: Timestamp?
    var compactedAtCommit: String?
    var originalSize: Int = 0
    var labels: [String] = []
    var dependencies: [Dependency] = []
    var comments: [Comment] = []
    var deletedAt: Timestamp?
    var deletedBy: String = ""
    var deleteReason: String = ""
    var originalType: String = ""
    var sender: String = ""
    var ephemeral: Bool = false
    var pinned: Bool = false
    var isTemplate: Bool = false
    var bondedFrom: JSONValue?
    var creator: JSONValue?
    var validations: JSONValue?
    var awaitType: String = ""
    var awaitID: String = ""
    var timeout: Int64 = 0
    var waiters: [String] = []
    var sourceFormula: String = ""
    var sourceLocation: String = ""
    var hookBead: String = ""
    var roleBead: String = ""
    var agentState: String = ""
    var lastActivity: Timestamp?
    var roleType: String = ""
    var rig: String = ""
    var owner: String = ""
    var startedAt: Timestamp?
    var deferUntil: Timestamp?
    var dueAt: Timestamp?
    var metadata: [JSONMember] = []
    var claimNode: String = ""
    var leaseEpoch: Int = 0
    var extra: [JSONMember] = []

    init(id: String, title: String, createdAt: Timestamp, updatedAt: Timestamp) {
        self.id = id
        self.title = title
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// One bead: every field of beads v0.40.0's JSONL export (`types.Issue`), plus the fields Gas Town adds
/// (owner, started_at, defer_until, due_at, metadata, and the claim's node and lease epoch). Fields we do not
/// model stay in `extra`, in their original order, and are written back unchanged after the known ones.
///
/// Empty strings, zero numbers, false booleans and nil optionals are omitted on export (Go `omitempty`),
/// except `priority`, `created_at` and `updated_at`, which are always written.
/// A bead is a value with copy-on-write storage: its ~55 fields live in one heap box, so copying a bead (into and
/// out of the ledger's dictionaries, query results, ops) costs one reference count instead of one per field, and
/// a mutation copies the box only when it is shared.
///
/// `Sendable`: a value; the box is never mutated while shared (copy-on-write), so sharing it across threads is
/// safe (`BeadBox` is `@unchecked Sendable` for that reason).
public struct Bead: Sendable, Hashable {
    var box: BeadBox

    public var id: String {
        get { box.fields.id }
        _modify {
            makeUnique()
            yield &box.fields.id
        }
    }
    public var title: String {
        get { box.fields.title }
        _modify {
            makeUnique()
            yield &box.fields.title
        }
    }
    public var description: String {
        get { box.fields.description }
        _modify {
            makeUnique()
            yield &box.fields.description
        }
    }
    public var design: String {
        get { box.fields.design }
        _modify {
            makeUnique()
            yield &box.fields.design
        }
    }
    public var acceptanceCriteria: String {
        get { box.fields.acceptanceCriteria }
        _modify {
            makeUnique()
            yield &box.fields.acceptanceCriteria
        }
    }
    public var notes: String {
        get { box.fields.notes }
        _modify {
            makeUnique()
            yield &box.fields.notes
        }
    }
    public var status: BeadStatus {
        get { box.fields.status }
        _modify {
            makeUnique()
            yield &box.fields.status
        }
    }
    public var priority: Int {
        get { box.fields.priority }
        _modify {
            makeUnique()
            yield &box.fields.priority
        }
    }
    public var issueType: IssueType {
        get { box.fields.issueType }
        _modify {
            makeUnique()
            yield &box.fields.issueType
        }
    }
    public var assignee: String {
        get { box.fields.assignee }
        _modify {
            makeUnique()
            yield &box.fields.assignee
        }
    }
    public var estimatedMinutes: Int? {
        get { box.fields.estimatedMinutes }
        _modify {
            makeUnique()
            yield &box.fields.estimatedMinutes
        }
    }
    public var createdAt: Timestamp {
        get { box.fields.createdAt }
        _modify {
            makeUnique()
            yield &box.fields.createdAt
        }
    }
    public var createdBy: String {
        get { box.fields.createdBy }
        _modify {
            makeUnique()
            yield &box.fields.createdBy
        }
    }
    public var updatedAt: Timestamp {
        get { box.fields.updatedAt }
        _modify {
            makeUnique()
            yield &box.fields.updatedAt
        }
    }
    public var closedAt: Timestamp? {
        get { box.fields.closedAt }
        _modify {
            makeUnique()
            yield &box.fields.closedAt
        }
    }
    public var closeReason: String {
        get { box.fields.closeReason }
        _modify {
            makeUnique()
            yield &box.fields.closeReason
        }
    }
    public var externalRef: String? {
        get { box.fields.externalRef }
        _modify {
            makeUnique()
            yield &box.fields.externalRef
        }
    }
    public var compactionLevel: Int {
        get { box.fields.compactionLevel }
        _modify {
            makeUnique()
            yield &box.fields.compactionLevel
        }
    }
    public var compactedAt: Timestamp? {
        get { box.fields.compactedAt }
        _modify {
            makeUnique()
            yield &box.fields.compactedAt
        }
    }
    public var compactedAtCommit: String? {
        get { box.fields.compactedAtCommit }
        _modify {
            makeUnique()
            yield &box.fields.compactedAtCommit
        }
    }
    public var originalSize: Int {
        get { box.fields.originalSize }
        _modify {
            makeUnique()
            yield &box.fields.originalSize
        }
    }
    public var labels: [String] {
        get { box.fields.labels }
        _modify {
            makeUnique()
            yield &box.fields.labels
        }
    }
    public var dependencies: [Dependency] {
        get { box.fields.dependencies }
        _modify {
            makeUnique()
            yield &box.fields.dependencies
        }
    }
    public var comments: [Comment] {
        get { box.fields.comments }
        _modify {
            makeUnique()
            yield &box.fields.comments
        }
    }
    public var deletedAt: Timestamp? {
        get { box.fields.deletedAt }
        _modify {
            makeUnique()
            yield &box.fields.deletedAt
        }
    }
    public var deletedBy: String {
        get { box.fields.deletedBy }
        _modify {
            makeUnique()
            yield &box.fields.deletedBy
        }
    }
    public var deleteReason: String {
        get { box.fields.deleteReason }
        _modify {
            makeUnique()
            yield &box.fields.deleteReason
        }
    }
    public var originalType: String {
        get { box.fields.originalType }
        _modify {
            makeUnique()
            yield &box.fields.originalType
        }
    }
    public var sender: String {
        get { box.fields.sender }
        _modify {
            makeUnique()
            yield &box.fields.sender
        }
    }
    public var ephemeral: Bool {
        get { box.fields.ephemeral }
        _modify {
            makeUnique()
            yield &box.fields.ephemeral
        }
    }
    public var pinned: Bool {
        get { box.fields.pinned }
        _modify {
            makeUnique()
            yield &box.fields.pinned
        }
    }
    public var isTemplate: Bool {
        get { box.fields.isTemplate }
        _modify {
            makeUnique()
            yield &box.fields.isTemplate
        }
    }
    /// Molecule lineage, kept as JSON (not modelled).
    public var bondedFrom: JSONValue? {
        get { box.fields.bondedFrom }
        _modify {
            makeUnique()
            yield &box.fields.bondedFrom
        }
    }
    /// HOP entity reference, kept as JSON.
    public var creator: JSONValue? {
        get { box.fields.creator }
        _modify {
            makeUnique()
            yield &box.fields.creator
        }
    }
    /// HOP validations, kept as JSON.
    public var validations: JSONValue? {
        get { box.fields.validations }
        _modify {
            makeUnique()
            yield &box.fields.validations
        }
    }
    public var awaitType: String {
        get { box.fields.awaitType }
        _modify {
            makeUnique()
            yield &box.fields.awaitType
        }
    }
    public var awaitID: String {
        get { box.fields.awaitID }
        _modify {
            makeUnique()
            yield &box.fields.awaitID
        }
    }
    /// Go `time.Duration` in nanoseconds; omitted when 0.
    public var timeout: Int64 {
        get { box.fields.timeout }
        _modify {
            makeUnique()
            yield &box.fields.timeout
        }
    }
    public var waiters: [String] {
        get { box.fields.waiters }
        _modify {
            makeUnique()
            yield &box.fields.waiters
        }
    }
    public var sourceFormula: String {
        get { box.fields.sourceFormula }
        _modify {
            makeUnique()
            yield &box.fields.sourceFormula
        }
    }
    public var sourceLocation: String {
        get { box.fields.sourceLocation }
        _modify {
            makeUnique()
            yield &box.fields.sourceLocation
        }
    }
    public var hookBead: String {
        get { box.fields.hookBead }
        _modify {
            makeUnique()
            yield &box.fields.hookBead
        }
    }
    public var roleBead: String {
        get { box.fields.roleBead }
        _modify {
            makeUnique()
            yield &box.fields.roleBead
        }
    }
    public var agentState: String {
        get { box.fields.agentState }
        _modify {
            makeUnique()
            yield &box.fields.agentState
        }
    }
    public var lastActivity: Timestamp? {
        get { box.fields.lastActivity }
        _modify {
            makeUnique()
            yield &box.fields.lastActivity
        }
    }
    public var roleType: String {
        get { box.fields.roleType }
        _modify {
            makeUnique()
            yield &box.fields.roleType
        }
    }
    public var rig: String {
        get { box.fields.rig }
        _modify {
            makeUnique()
            yield &box.fields.rig
        }
    }
    // Gas Town fields (not in beads v0.40.0), written after beads' own fields.
    public var owner: String {
        get { box.fields.owner }
        _modify {
            makeUnique()
            yield &box.fields.owner
        }
    }
    public var startedAt: Timestamp? {
        get { box.fields.startedAt }
        _modify {
            makeUnique()
            yield &box.fields.startedAt
        }
    }
    /// Not ready before this instant.
    public var deferUntil: Timestamp? {
        get { box.fields.deferUntil }
        _modify {
            makeUnique()
            yield &box.fields.deferUntil
        }
    }
    public var dueAt: Timestamp? {
        get { box.fields.dueAt }
        _modify {
            makeUnique()
            yield &box.fields.dueAt
        }
    }
    /// Free-form key/value metadata (`bd update --set-metadata k=v`), as a JSON object.
    public var metadata: [JSONMember] {
        get { box.fields.metadata }
        _modify {
            makeUnique()
            yield &box.fields.metadata
        }
    }
    /// The node holding the claim (lease holder), with `assignee` and `leaseEpoch` the claim group.
    public var claimNode: String {
        get { box.fields.claimNode }
        _modify {
            makeUnique()
            yield &box.fields.claimNode
        }
    }
    /// The lease epoch of the current claim; 0 = never claimed.
    public var leaseEpoch: Int {
        get { box.fields.leaseEpoch }
        _modify {
            makeUnique()
            yield &box.fields.leaseEpoch
        }
    }
    /// Top-level keys we do not model, in original order.
    public var extra: [JSONMember] {
        get { box.fields.extra }
        _modify {
            makeUnique()
            yield &box.fields.extra
        }
    }

    public init(id: String, title: String, createdAt: Timestamp, updatedAt: Timestamp? = nil) {
        box = BeadBox(BeadFields(id: id, title: title, createdAt: createdAt, updatedAt: updatedAt ?? createdAt))
    }

    /// Gives this bead its own box before a mutation when the box is shared.
    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&box) { box = BeadBox(box.fields) }
    }

    public static func == (a: Bead, b: Bead) -> Bool { a.box === b.box || a.box.fields == b.box.fields }

    public func hash(into hasher: inout Hasher) { box.fields.hash(into: &hasher) }

    /// The parent's ID for hierarchical IDs (`bd-1dez.1` → `bd-1dez`), else nil.
    public var hierarchicalParentID: String? {
        guard let dot = id.lastIndex(of: "."), dot > id.startIndex else { return nil }
        return String(id[..<dot])
    }

    /// The ID of the bead this one is a `parent-child` child of (the first such edge), else nil.
    public var parentID: String? { dependencies.first { $0.type == .parentChild }?.dependsOnID }

    /// True for a tombstone.
    public var isDeleted: Bool { status == .tombstone }
}

/// The heap box of a bead's fields. `@unchecked Sendable`: mutated only through `Bead`'s accessors after
/// `isKnownUniquelyReferenced` (copy-on-write), so a box reachable from more than one bead is never written.
final class BeadBox: @unchecked Sendable {
    var fields: BeadFields
    init(_ fields: BeadFields) { self.fields = fields }
}
