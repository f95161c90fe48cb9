/// A group of fields stamped as one unit (DESIGN §3 "Merge"). Each group is a last-writer-wins register,
/// except `claim`, which merges by lease epoch first.
/// `Sendable`: plain enum.
public enum FieldGroup: String, Sendable, Hashable, CaseIterable, Comparable {
    /// status, closed_at, close_reason (and the tombstone fields deleted_at, deleted_by, delete_reason,
    /// original_type, which only a delete writes, together with status).
    case status
    /// assignee, claim_node, lease_epoch.
    case claim
    case deferUntil = "defer_until"
    case title
    case description
    case design
    case acceptanceCriteria = "acceptance_criteria"
    case notes
    case priority
    case issueType = "issue_type"
    case estimatedMinutes = "estimated_minutes"
    case externalRef = "external_ref"
    case owner
    case dueAt = "due_at"
    case pinned
    case ephemeral
    case sender
    case agentState = "agent_state"
    case hookBead = "hook_bead"
    case roleBead = "role_bead"
    /// Every other field (created_by, compaction, gate, formula and agent fields, extra keys, …), which only
    /// creates and imports write.
    case other

    public static func < (a: FieldGroup, b: FieldGroup) -> Bool { a.rawValue < b.rawValue }
}

/// The add and remove stamps of one element of a last-writer-wins element set. The element is present iff
/// it has an add stamp newer than its remove stamp. `Sendable`: plain value.
public struct ElementStamps: Sendable, Hashable {
    public var added: HLCStamp?
    public var removed: HLCStamp?
    public init(added: HLCStamp? = nil, removed: HLCStamp? = nil) {
        self.added = added
        self.removed = removed
    }
    public var isPresent: Bool {
        guard let added else { return false }
        guard let removed else { return true }
        return added > removed
    }
    /// Element-wise maximum (the merge of two replicas' stamps for one element).
    public func merged(with other: ElementStamps) -> ElementStamps {
        ElementStamps(added: Self.max(added, other.added), removed: Self.max(removed, other.removed))
    }
    static func max(_ a: HLCStamp?, _ b: HLCStamp?) -> HLCStamp? {
        guard let a else { return b }
        guard let b else { return a }
        return Swift.max(a, b)
    }
}

/// Every stamp of one bead: when it was created, when each field group was last written (a group never
/// written since the create carries the create stamp), the element stamps of its labels, dependencies
/// (keyed `type:target`), comments (keyed by `Comment.key`) and metadata keys, and its delete stamp.
///
/// Serialized as one line of `stamps.jsonl` (see docs/beads.md), sorted by id like `issues.jsonl`.
/// `Sendable`: plain value.
public struct BeadStamps: Sendable, Hashable {
    public var id: String
    public var created: HLCStamp
    public var fields: [FieldGroup: HLCStamp] = [:]
    public var labels: [String: ElementStamps] = [:]
    public var dependencies: [String: ElementStamps] = [:]
    public var comments: [String: ElementStamps] = [:]
    /// Per metadata key: last write (set or unset) of that key.
    public var metadata: [String: HLCStamp] = [:]
    public var deleted: HLCStamp?
    /// Former IDs of this bead (it was re-IDed by a merge after an ID collision), sorted.
    public var aliases: [String] = []

    public init(id: String, created: HLCStamp) {
        self.id = id
        self.created = created
    }

    /// The stamp of the last write to `group` (the create stamp when never written since).
    public func stamp(of group: FieldGroup) -> HLCStamp { fields[group] ?? created }

    /// The newest stamp anywhere in this bead.
    public var newest: HLCStamp {
        var m = created
        for s in fields.values { m = max(m, s) }
        for s in metadata.values { m = max(m, s) }
        for set in [labels, dependencies, comments] {
            for e in set.values { m = max(m, ElementStamps.max(e.added, e.removed) ?? m) }
        }
        if let d = deleted { m = max(m, d) }
        return m
    }

    // MARK: stamps.jsonl

    /// The `stamps.jsonl` line object: `{"id":…,"created":…,"fields":{…},"labels":{…},"deps":{…},
    /// "comments":{…},"metadata":{…},"deleted":…,"aliases":[…]}` with empty parts left out.
    public var json: JSONValue {
        var m: [JSONMember] = [JSONMember("id", .string(id)), JSONMember("created", .string(created.description))]
        if !fields.isEmpty {
            m.append(
                JSONMember(
                    "fields",
                    .object(
                        fields.sorted { $0.key < $1.key }.map {
                            JSONMember($0.key.rawValue, .string($0.value.description))
                        })))
        }
        func elements(_ name: String, _ set: [String: ElementStamps]) {
            guard !set.isEmpty else { return }
            let members = set.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }.map { entry in
                var e: [JSONMember] = []
                if let a = entry.value.added { e.append(JSONMember("add", .string(a.description))) }
                if let r = entry.value.removed { e.append(JSONMember("rm", .string(r.description))) }
                return JSONMember(entry.key, .object(e))
            }
            m.append(JSONMember(name, .object(members)))
        }
        elements("labels", labels)
        elements("deps", dependencies)
        elements("comments", comments)
        if !metadata.isEmpty {
            m.append(
                JSONMember(
                    "metadata",
                    .object(
                        metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }.map {
                            JSONMember($0.key, .string($0.value.description))
                        })))
        }
        if let d = deleted { m.append(JSONMember("deleted", .string(d.description))) }
        if !aliases.isEmpty { m.append(JSONMember("aliases", .array(aliases.map { .string($0) }))) }
        return .object(m)
    }

    /// Decodes one `stamps.jsonl` object.
    public init(json: JSONValue) throws(BeadDecodeError) {
        func stamp(_ v: JSONValue?, _ field: String) throws(BeadDecodeError) -> HLCStamp {
            guard let text = v?.stringValue, let s = HLCStamp(text: text) else {
                throw BeadDecodeError(
                    field: field,
                    message: "expected a stamp like \"1735408516123.0@node\", got \(v.map(BeadCodec.show) ?? "nothing")"
                )
            }
            return s
        }
        guard case .object = json, let id = json["id"]?.stringValue else {
            throw BeadDecodeError(field: "id", message: "expected an object with a string id")
        }
        self.init(id: id, created: try stamp(json["created"], "created"))
        if let f = json["fields"] {
            guard let members = f.objectMembers else {
                throw BeadDecodeError(field: "fields", message: "expected an object")
            }
            for member in members {
                guard let g = FieldGroup(rawValue: member.key) else {
                    throw BeadDecodeError(field: "fields.\(member.key)", message: "unknown field group")
                }
                fields[g] = try stamp(member.value, "fields.\(member.key)")
            }
        }
        func elements(_ name: String) throws(BeadDecodeError) -> [String: ElementStamps] {
            guard let v = json[name] else { return [:] }
            guard let members = v.objectMembers else {
                throw BeadDecodeError(field: name, message: "expected an object")
            }
            var out: [String: ElementStamps] = [:]
            for member in members {
                var e = ElementStamps()
                if let a = member.value["add"] { e.added = try stamp(a, "\(name).\(member.key).add") }
                if let r = member.value["rm"] { e.removed = try stamp(r, "\(name).\(member.key).rm") }
                out[member.key] = e
            }
            return out
        }
        labels = try elements("labels")
        dependencies = try elements("deps")
        comments = try elements("comments")
        if let md = json["metadata"] {
            guard let members = md.objectMembers else {
                throw BeadDecodeError(field: "metadata", message: "expected an object")
            }
            for member in members { metadata[member.key] = try stamp(member.value, "metadata.\(member.key)") }
        }
        if let d = json["deleted"] { deleted = try stamp(d, "deleted") }
        if let a = json["aliases"] {
            guard let items = a.arrayValue else {
                throw BeadDecodeError(field: "aliases", message: "expected an array")
            }
            for item in items {
                guard let alias = item.stringValue else {
                    throw BeadDecodeError(field: "aliases", message: "expected an array of strings")
                }
                aliases.append(alias)
            }
        }
    }

    /// Encodes all stamps as a `stamps.jsonl` file (sorted by id, one line each).
    public static func encodeJSONL<S: Sequence>(_ stamps: S) -> String where S.Element == BeadStamps {
        var out: [UInt8] = []
        for s in stamps.sorted(by: { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }) {
            s.json.write(to: &out)
            out.append(0x0A)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes a `stamps.jsonl` file, all-or-nothing, errors naming the line.
    public static func decodeJSONL(_ text: String) throws(BeadDecodeError) -> [BeadStamps] {
        var out: [BeadStamps] = []
        var lineNumber = 0
        for line in text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.isEmpty { continue }
            do throws(BeadDecodeError) {
                let value: JSONValue
                do { value = try JSONValue.parse(bytes: line) } catch {
                    throw BeadDecodeError(field: nil, message: "invalid JSON: \(error)")
                }
                out.append(try BeadStamps(json: value))
            } catch {
                var e = error
                e.line = lineNumber
                throw e
            }
        }
        return out
    }
}
