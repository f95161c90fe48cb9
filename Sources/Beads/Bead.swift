/// The status of a bead. The beads v0.40.0 statuses plus Gas Town's `hooked`.
/// `Sendable`: a plain enum.
public enum BeadStatus: String, Sendable, Hashable, CaseIterable, Codable {
    case open
    case inProgress = "in_progress"
    case blocked
    case deferred
    case closed
    case pinned
    case hooked
    /// A soft-deleted bead (kept inline, as beads does).
    case tombstone

    /// Every status, comma-separated (for error messages).
    public static var allNames: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// The type of a bead: open-ended (custom strings allowed), with the known ones as constants.
/// `Sendable`: wraps a string.
public struct IssueType: RawRepresentable, Sendable, Hashable, Codable, ExpressibleByStringLiteral,
    CustomStringConvertible
{
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    public static let bug: IssueType = "bug"
    public static let feature: IssueType = "feature"
    public static let task: IssueType = "task"
    public static let epic: IssueType = "epic"
    public static let chore: IssueType = "chore"
    public static let message: IssueType = "message"
    public static let mergeRequest: IssueType = "merge-request"
    public static let molecule: IssueType = "molecule"
    public static let gate: IssueType = "gate"
    public static let agent: IssueType = "agent"
    public static let role: IssueType = "role"
    public static let rig: IssueType = "rig"
    public static let convoy: IssueType = "convoy"

    /// The types beads v0.40.0 knows (`IssueType.IsValid`) plus Gas Town's `rig` and `convoy`.
    public static let known: [IssueType] = [
        .bug, .feature, .task, .epic, .chore, .message, .mergeRequest, .molecule, .gate, .agent, .role, .rig, .convoy,
    ]
}

/// A dependency type. The 19 well-known types of beads (`types.WellKnownDependencyTypes`); any other string
/// is rejected with `BeadValidationError.unknownDependencyType`.
/// `Sendable`: a plain enum.
public enum DependencyType: String, Sendable, Hashable, CaseIterable, Codable {
    case blocks
    case parentChild = "parent-child"
    case conditionalBlocks = "conditional-blocks"
    case waitsFor = "waits-for"
    case related
    case discoveredFrom = "discovered-from"
    case repliesTo = "replies-to"
    case relatesTo = "relates-to"
    case duplicates
    case supersedes
    case authoredBy = "authored-by"
    case assignedTo = "assigned-to"
    case approvedBy = "approved-by"
    case attests
    case tracks
    case until
    case causedBy = "caused-by"
    case validates
    case delegatedFrom = "delegated-from"

    /// Every type, comma-separated (for error messages).
    public static var allNames: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// Types that make the dependent bead wait (`blocks`, `conditional-blocks`, `waits-for`, `parent-child`).
    public var affectsReadyWork: Bool {
        switch self {
        case .blocks, .conditionalBlocks, .waitsFor, .parentChild: return true
        default: return false
        }
    }
}

/// One dependency edge as exported: `issueID` depends on `dependsOnID`.
/// Key order when written: issue_id, depends_on_id, type, created_at, created_by, metadata, thread_id, extra.
/// `Sendable`: plain value.
public struct Dependency: Sendable, Hashable {
    public var issueID: String
    public var dependsOnID: String
    public var type: DependencyType
    public var createdAt: Timestamp
    /// Omitted when empty.
    public var createdBy: String
    /// A JSON-encoded string in beads (usually `"{}"`); omitted when empty.
    public var metadata: String
    /// Omitted when empty.
    public var threadID: String
    /// Keys we do not model, kept in order.
    public var extra: [JSONMember]

    public init(
        issueID: String, dependsOnID: String, type: DependencyType, createdAt: Timestamp, createdBy: String = "",
        metadata: String = "", threadID: String = "", extra: [JSONMember] = []
    ) {
        self.issueID = issueID
        self.dependsOnID = dependsOnID
        self.type = type
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.metadata = metadata
        self.threadID = threadID
        self.extra = extra
    }

    /// The identity of the edge inside its bead's dependency set: (target, type).
    public var key: DependencyKey { DependencyKey(dependsOnID: dependsOnID, type: type) }
}

/// Identity of a dependency within one bead: an edge to a target of a type. `Sendable`: plain value.
public struct DependencyKey: Sendable, Hashable, Comparable {
    public var dependsOnID: String
    public var type: DependencyType
    public init(dependsOnID: String, type: DependencyType) {
        self.dependsOnID = dependsOnID
        self.type = type
    }
    /// `type:id`, the form used in `stamps.jsonl` and by `bd --deps`.
    public var text: String { "\(type.rawValue):\(dependsOnID)" }
    public init?(text: String) {
        guard let colon = text.firstIndex(of: ":"), let t = DependencyType(rawValue: String(text[..<colon])) else {
            return nil
        }
        self.init(dependsOnID: String(text[text.index(after: colon)...]), type: t)
    }
    public static func < (a: DependencyKey, b: DependencyKey) -> Bool { a.text < b.text }
}

/// A comment. Key order when written: id, issue_id, author, text, created_at, extra.
/// `Sendable`: plain value.
public struct Comment: Sendable, Hashable {
    /// beads' integer id (kept as written; ids collide across replicas, so merges key comments by `key`).
    public var id: Int64
    public var issueID: String
    public var author: String
    public var text: String
    public var createdAt: Timestamp
    public var extra: [JSONMember]

    public init(
        id: Int64, issueID: String, author: String, text: String, createdAt: Timestamp, extra: [JSONMember] = []
    ) {
        self.id = id
        self.issueID = issueID
        self.author = author
        self.text = text
        self.createdAt = createdAt
        self.extra = extra
    }

    /// Stable identity across replicas: hex SHA-256 of author, created_at and text (NUL-separated), first 16
    /// characters.
    public var key: String { Comment.key(author: author, createdAt: createdAt.text, text: text) }

    public static func key(author: String, createdAt: String, text: String) -> String {
        var bytes = Array(author.utf8)
        bytes.append(0)
        bytes.append(contentsOf: createdAt.utf8)
        bytes.append(0)
        bytes.append(contentsOf: text.utf8)
        return String(SHA256.hexDigest(bytes).prefix(16))
    }
}
