/// Why a ledger operation was refused. The ledger is unchanged after any of these.
/// `Sendable`: plain value.
public enum LedgerError: Error, Sendable, Equatable, CustomStringConvertible {
    case titleEmpty
    case titleTooLong(length: Int, limit: Int)
    case priorityOutOfRange(Int)
    case invalidStatus(String)
    case unknownDependencyType(String)
    case beadNotFound(String)
    case beadExists(String)
    case wrongPrefix(id: String, prefix: String)
    case dependencyTargetMissing(id: String, target: String)
    case selfDependency(String)
    case dependencyExists(id: String, key: String)
    case dependencyNotFound(id: String, key: String)
    case cycle([String])
    case beadDeleted(String)
    case alreadyClaimed(id: String, by: String, node: String, epoch: Int)
    case staleEpoch(id: String, expected: Int, current: Int)
    case notClaimHolder(id: String, holder: String)
    case labelInvalid(String)
    case metadataKeyEmpty
    case invalidOp(String)
    case decode(BeadDecodeError)
    case idMinting(BeadIDError)
    /// An ID that is too long or holds characters IDs cannot have (`Ledger.validateRecord`).
    case idInvalid(id: String, why: String)

    public var description: String {
        switch self {
        case .titleEmpty: return "title is required: pass a non-empty title"
        case .titleTooLong(let n, let limit): return "title is \(n) characters; shorten it to at most \(limit)"
        case .priorityOutOfRange(let p): return "priority \(p) is out of range: use 0 (critical) to 4 (backlog)"
        case .invalidStatus(let s):
            return "invalid status \"\(s)\": use one of \(BeadStatus.allNames)"
        case .unknownDependencyType(let t):
            return "unknown dependency type \"\(t)\": use one of \(DependencyType.allNames)"
        case .beadNotFound(let id): return "no bead \(id): check the ID with `bd list`"
        case .beadExists(let id): return "bead \(id) already exists: pick another ID"
        case .wrongPrefix(let id, let p): return "ID \(id) does not belong to this ledger (prefix \(p)-)"
        case .dependencyTargetMissing(let id, let t): return "\(id) cannot depend on \(t): no such bead"
        case .selfDependency(let id): return "\(id) cannot depend on itself"
        case .dependencyExists(let id, let k): return "\(id) already has dependency \(k)"
        case .dependencyNotFound(let id, let k): return "\(id) has no dependency \(k)"
        case .cycle(let path):
            return
                "dependency would create a cycle: \(path.joined(separator: " → ")) (use --no-cycle-check to allow it)"
        case .beadDeleted(let id): return "bead \(id) is deleted (tombstone): it cannot be changed"
        case .alreadyClaimed(let id, let by, let node, let epoch):
            return "bead \(id) is already claimed by \(by)\(node.isEmpty ? "" : " on \(node)") (epoch \(epoch))"
        case .staleEpoch(let id, let expected, let current):
            return "bead \(id) is at lease epoch \(current), not \(expected): re-read it and retry"
        case .notClaimHolder(let id, let holder): return "bead \(id) is held by \(holder), not by you"
        case .labelInvalid(let l): return "invalid label \"\(l)\": labels must be non-empty and have no commas"
        case .metadataKeyEmpty: return "metadata key is empty: use key=value"
        case .invalidOp(let why): return "invalid operation: \(why)"
        case .decode(let e): return e.description
        case .idMinting(let e): return e.description
        case .idInvalid(let id, let why):
            let shown = id.count > 60 ? String(id.prefix(60)) + "… (\(id.count) characters)" : id
            return "invalid bead ID \(shown): \(why)"
        }
    }
}

/// One field change of `LedgerChange.update`. `Sendable`: plain value.
public enum FieldUpdate: Sendable, Hashable {
    case title(String)
    case description(String)
    case design(String)
    case acceptanceCriteria(String)
    case notes(String)
    case priority(Int)
    case issueType(IssueType)
    /// A status other than closed/tombstone (use `close`, `delete`); leaving closed clears closed_at and
    /// close_reason.
    case status(BeadStatus)
    /// Plain assignment (`bd update -a`): writes the claim group with the epoch unchanged.
    case assignee(String)
    case estimatedMinutes(Int?)
    case externalRef(String?)
    case owner(String)
    case deferUntil(Timestamp?)
    case dueAt(Timestamp?)
    case pinned(Bool)
    case ephemeral(Bool)

    /// The stamp group this change writes.
    public var group: FieldGroup {
        switch self {
        case .title: return .title
        case .description: return .description
        case .design: return .design
        case .acceptanceCriteria: return .acceptanceCriteria
        case .notes: return .notes
        case .priority: return .priority
        case .issueType: return .issueType
        case .status: return .status
        case .assignee: return .claim
        case .estimatedMinutes: return .estimatedMinutes
        case .externalRef: return .externalRef
        case .owner: return .owner
        case .deferUntil: return .deferUntil
        case .dueAt: return .dueAt
        case .pinned: return .pinned
        case .ephemeral: return .ephemeral
        }
    }
}

/// What an operation does. Every payload is complete (IDs minted, timestamps chosen) so applying is
/// deterministic. `Sendable`: plain value.
public enum LedgerChange: Sendable, Hashable {
    /// Inserts a fully formed new bead (its ID already minted, e.g. with `Ledger.prepareCreate`).
    /// `allowCycles` skips the blocks-cycle check (`--no-cycle-check`).
    case create(Bead, allowCycles: Bool)
    case update(id: String, fields: [FieldUpdate])
    case labels(id: String, add: [String], remove: [String])
    case addDependency(id: String, Dependency, allowCycles: Bool)
    case removeDependency(id: String, DependencyKey)
    case addComment(id: String, Comment)
    case close(id: String, reason: String)
    case reopen(id: String)
    /// Keeps a tombstone (status tombstone, deleted_at/by, delete_reason, original_type).
    case delete(id: String, reason: String)
    /// Compare-and-swap claim: fails if held by another assignee, or if `expectedEpoch` is given and differs
    /// from the current epoch; writes the claim group with epoch + 1 and status in_progress.
    case claim(id: String, assignee: String, node: String, expectedEpoch: Int?)
    /// Releases a claim held by `assignee` (clears assignee and node; the epoch stays).
    case release(id: String, assignee: String)
    /// Sets (or with nil removes) one metadata key.
    case setMetadata(id: String, key: String, value: JSONValue?)
    /// Imports beads as they are (insert or replace by ID; all-or-nothing). Imported changes are stamped
    /// with the op's stamp.
    case importBeads([Bead])
}

/// A ledger mutation as written to the WAL and replayed: who, when (HLC stamp and wall time) and what.
/// `Sendable`: plain value.
public struct LedgerOp: Sendable, Hashable {
    /// The actor recorded in created_by, deleted_by, comment authors and dependency created_by.
    public var actor: String
    /// The HLC stamp of this write (all groups and elements it touches get this stamp).
    public var stamp: HLCStamp
    /// Wall time of the write: becomes updated_at, closed_at, deleted_at.
    public var time: Timestamp
    public var change: LedgerChange

    public init(actor: String, stamp: HLCStamp, time: Timestamp, change: LedgerChange) {
        self.actor = actor
        self.stamp = stamp
        self.time = time
        self.change = change
    }

    /// The ID of the bead the op targets (nil for imports).
    public var beadID: String? {
        switch change {
        case .create(let b, _): return b.id
        case .update(let id, _), .labels(let id, _, _), .addDependency(let id, _, _), .removeDependency(let id, _),
            .addComment(let id, _), .close(let id, _), .reopen(let id), .delete(let id, _),
            .claim(let id, _, _, _), .release(let id, _), .setMetadata(let id, _, _):
            return id
        case .importBeads: return nil
        }
    }
}
