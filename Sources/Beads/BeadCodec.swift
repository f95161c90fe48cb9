/// Why a bead (or a JSONL file of beads) could not be decoded: the line (1-based; 0 when not from a file),
/// the field, and what was expected. Example: `line 12: field priority: expected integer 0-4, got "high"`.
/// `Sendable`: plain value.
public struct BeadDecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    /// The JSON key at fault (`dependencies[2].type` for nested ones), or nil for a whole-line problem.
    public var field: String?
    public var message: String

    public init(line: Int = 0, field: String?, message: String) {
        self.line = line
        self.field = field
        self.message = message
    }

    public var description: String {
        var parts: [String] = []
        if line > 0 { parts.append("line \(line)") }
        if let field { parts.append("field \(field)") }
        parts.append(message)
        return parts.joined(separator: ": ")
    }
}

/// Converts beads between `Bead`, `JSONValue` and JSONL text in beads' export shape (Go struct order,
/// omitempty, compact Go encoding, lines sorted by id). Decoding a file is all-or-nothing.
/// `Sendable`: stateless namespace.
public enum BeadCodec {
    // MARK: Decoding

    /// Decodes a whole JSONL file. Blank lines are skipped. The first bad line aborts with its line number;
    /// duplicate IDs are an error too.
    public static func decodeJSONL(_ text: String) throws(BeadDecodeError) -> [Bead] {
        var beads: [Bead] = []
        var seen: [String: Int] = [:]
        var lineNumber = 0
        for line in text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            let value: JSONValue
            do {
                value = try JSONValue.parse(bytes: line)
            } catch {
                throw BeadDecodeError(line: lineNumber, field: nil, message: "invalid JSON: \(error)")
            }
            do throws(BeadDecodeError) {
                let bead = try decode(value)
                if let first = seen[bead.id] {
                    throw BeadDecodeError(
                        field: "id", message: "duplicate id \(quote(bead.id)) (first on line \(first))")
                }
                seen[bead.id] = lineNumber
                beads.append(bead)
            } catch var error {
                error.line = lineNumber
                throw error
            }
        }
        return beads
    }

    /// Decodes one bead object. Required: id, title, created_at, updated_at; status defaults to open and
    /// issue_type to task (as beads' `SetDefaults`).
    public static func decode(_ value: JSONValue) throws(BeadDecodeError) -> Bead {
        guard case .object(let members) = value else {
            throw BeadDecodeError(field: nil, message: "expected a JSON object, got \(show(value))")
        }
        var r = Reader(members: members)
        try r.checkDuplicates()
        guard let id = try r.string("id"), !id.isEmpty else { throw missing("id") }
        guard let title = try r.string("title") else { throw missing("title") }
        guard let createdAt = try r.timestamp("created_at") else { throw missing("created_at") }
        guard let updatedAt = try r.timestamp("updated_at") else { throw missing("updated_at") }
        var b = Bead(id: id, title: title, createdAt: createdAt, updatedAt: updatedAt)
        b.description = try r.string("description") ?? ""
        b.design = try r.string("design") ?? ""
        b.acceptanceCriteria = try r.string("acceptance_criteria") ?? ""
        b.notes = try r.string("notes") ?? ""
        if let s = try r.string("status"), !s.isEmpty {
            guard let status = BeadStatus(rawValue: s) else {
                throw BeadDecodeError(
                    field: "status",
                    message: "unknown status \(quote(s)) (expected one of \(BeadStatus.allNames))"
                )
            }
            b.status = status
        }
        guard let pv = r.take("priority") else { throw missing("priority") }
        guard let p = pv.intValue, (0...4).contains(p) else {
            throw BeadDecodeError(field: "priority", message: "expected integer 0-4, got \(show(pv))")
        }
        b.priority = p
        if let t = try r.string("issue_type"), !t.isEmpty { b.issueType = IssueType(t) }
        b.assignee = try r.string("assignee") ?? ""
        b.estimatedMinutes = try r.int("estimated_minutes")
        b.createdBy = try r.string("created_by") ?? ""
        b.closedAt = try r.timestamp("closed_at")
        b.closeReason = try r.string("close_reason") ?? ""
        b.externalRef = try r.string("external_ref")
        b.compactionLevel = try r.int("compaction_level") ?? 0
        b.compactedAt = try r.timestamp("compacted_at")
        b.compactedAtCommit = try r.string("compacted_at_commit")
        b.originalSize = try r.int("original_size") ?? 0
        b.labels = try r.stringArray("labels")
        if let deps = r.take("dependencies") {
            guard case .array(let items) = deps else { throw wrongType("dependencies", "an array", deps) }
            for (i, item) in items.enumerated() { b.dependencies.append(try decodeDependency(item, index: i)) }
        }
        if let comments = r.take("comments") {
            guard case .array(let items) = comments else { throw wrongType("comments", "an array", comments) }
            for (i, item) in items.enumerated() { b.comments.append(try decodeComment(item, index: i)) }
        }
        b.deletedAt = try r.timestamp("deleted_at")
        b.deletedBy = try r.string("deleted_by") ?? ""
        b.deleteReason = try r.string("delete_reason") ?? ""
        b.originalType = try r.string("original_type") ?? ""
        b.sender = try r.string("sender") ?? ""
        b.ephemeral = try r.bool("ephemeral")
        b.pinned = try r.bool("pinned")
        b.isTemplate = try r.bool("is_template")
        b.bondedFrom = r.take("bonded_from")
        b.creator = r.take("creator")
        b.validations = r.take("validations")
        b.awaitType = try r.string("await_type") ?? ""
        b.awaitID = try r.string("await_id") ?? ""
        if let t = r.take("timeout") {
            guard case .number(let text) = t, let n = Int64(text) else { throw wrongType("timeout", "an integer", t) }
            b.timeout = n
        }
        b.waiters = try r.stringArray("waiters")
        b.sourceFormula = try r.string("source_formula") ?? ""
        b.sourceLocation = try r.string("source_location") ?? ""
        b.hookBead = try r.string("hook_bead") ?? ""
        b.roleBead = try r.string("role_bead") ?? ""
        b.agentState = try r.string("agent_state") ?? ""
        b.lastActivity = try r.timestamp("last_activity")
        b.roleType = try r.string("role_type") ?? ""
        b.rig = try r.string("rig") ?? ""
        b.owner = try r.string("owner") ?? ""
        b.startedAt = try r.timestamp("started_at")
        b.deferUntil = try r.timestamp("defer_until")
        b.dueAt = try r.timestamp("due_at")
        if let m = r.take("metadata") {
            guard case .object(let members) = m else { throw wrongType("metadata", "an object", m) }
            b.metadata = members
        }
        b.claimNode = try r.string("claim_node") ?? ""
        b.leaseEpoch = try r.int("lease_epoch") ?? 0
        b.extra = r.rest()
        return b
    }

    /// A reader over element `index` of the list `field` (its errors name `field[index].key`); an error unless the
    /// element is an object without repeated keys.
    static func elementReader(_ value: JSONValue, _ field: String, index: Int) throws(BeadDecodeError) -> Reader {
        guard case .object(let members) = value else {
            throw BeadDecodeError(field: "\(field)[\(index)]", message: "expected an object, got \(show(value))")
        }
        var r = Reader(members: members, prefix: "\(field)[\(index)].")
        try r.checkDuplicates()
        return r
    }

    static func decodeDependency(_ value: JSONValue, index: Int) throws(BeadDecodeError) -> Dependency {
        var r = try elementReader(value, "dependencies", index: index)
        let prefix = r.prefix
        guard let issueID = try r.string("issue_id") else { throw missing(prefix + "issue_id") }
        guard let dependsOn = try r.string("depends_on_id"), !dependsOn.isEmpty else {
            throw missing(prefix + "depends_on_id")
        }
        guard let typeText = try r.string("type") else { throw missing(prefix + "type") }
        guard let type = DependencyType(rawValue: typeText) else {
            throw BeadDecodeError(field: prefix + "type", message: "unknown dependency type \(quote(typeText))")
        }
        guard let createdAt = try r.timestamp("created_at") else { throw missing(prefix + "created_at") }
        var d = Dependency(issueID: issueID, dependsOnID: dependsOn, type: type, createdAt: createdAt)
        d.createdBy = try r.string("created_by") ?? ""
        d.metadata = try r.string("metadata") ?? ""
        d.threadID = try r.string("thread_id") ?? ""
        d.extra = r.rest()
        return d
    }

    static func decodeComment(_ value: JSONValue, index: Int) throws(BeadDecodeError) -> Comment {
        var r = try elementReader(value, "comments", index: index)
        let prefix = r.prefix
        let idValue = r.take("id") ?? .number("0")
        guard case .number(let idText) = idValue, let id = Int64(idText) else {
            throw wrongType(prefix + "id", "an integer", idValue)
        }
        let issueID = try r.string("issue_id") ?? ""
        let author = try r.string("author") ?? ""
        let text = try r.string("text") ?? ""
        guard let createdAt = try r.timestamp("created_at") else { throw missing(prefix + "created_at") }
        return Comment(id: id, issueID: issueID, author: author, text: text, createdAt: createdAt, extra: r.rest())
    }

    /// Reads typed members out of an object, remembering which keys were consumed.
    ///
    /// Lookups scan the members (objects hold a dozen or so keys) starting at a cursor that follows the order in
    /// which keys are asked for, which is the order beads writes them: a present key is found at the cursor, an
    /// absent one costs one pass of short string compares; no hashing. Objects with many keys use a dictionary.
    struct Reader {
        var members: [JSONMember]
        var prefix = ""
        var used: [Bool]
        var cursor = 0
        /// Key → index, built only for objects with more than `Reader.scanLimit` members.
        var position: [String: Int]?
        /// A 128-bit filter of the members' key fingerprints: most keys asked for are absent, and a clear bit says
        /// so without comparing any string.
        var present: (UInt64, UInt64) = (0, 0)

        /// Up to this many members are searched by scanning.
        static let scanLimit = 24

        init(members: [JSONMember], prefix: String = "") {
            self.members = members
            self.prefix = prefix
            self.used = Array(repeating: false, count: members.count)
            for m in members {
                let bit = Reader.fingerprint(m.key)
                if bit < 64 { present.0 |= 1 << bit } else { present.1 |= 1 << (bit - 64) }
            }
        }

        /// A bit number 0..<128 from the key's UTF-8 length, first and last byte.
        static func fingerprint(_ key: String) -> UInt64 {
            let utf8 = key.utf8
            let first = UInt64(utf8.first ?? 0)
            let last = UInt64(utf8.last ?? 0)
            return (UInt64(utf8.count) &* 31 &+ first &* 7 &+ last) & 127
        }

        func mayContain(_ key: String) -> Bool {
            let bit = Reader.fingerprint(key)
            return bit < 64 ? present.0 & (1 << bit) != 0 : present.1 & (1 << (bit - 64)) != 0
        }

        /// Throws on the first member whose key repeats an earlier one.
        mutating func checkDuplicates() throws(BeadDecodeError) {
            if members.count > Reader.scanLimit {
                var map: [String: Int] = [:]
                map.reserveCapacity(members.count)
                for (i, m) in members.enumerated() where map.updateValue(i, forKey: m.key) != nil {
                    throw BeadDecodeError(field: prefix + m.key, message: "duplicate key")
                }
                position = map
                return
            }
            for i in members.indices {
                for j in 0..<i where members[j].key == members[i].key {
                    throw BeadDecodeError(field: prefix + members[i].key, message: "duplicate key")
                }
            }
        }

        mutating func take(_ key: String) -> JSONValue? {
            guard let i = find(key) else { return nil }
            used[i] = true
            return members[i].value
        }

        private mutating func find(_ key: String) -> Int? {
            if let position { return position[key] }
            guard mayContain(key) else { return nil }
            if cursor < members.count && members[cursor].key == key {
                cursor += 1
                return cursor - 1
            }
            guard let i = members.firstIndex(where: { $0.key == key }) else { return nil }
            cursor = i + 1
            return i
        }

        mutating func string(_ key: String) throws(BeadDecodeError) -> String? {
            guard let v = take(key) else { return nil }
            guard case .string(let s) = v else { throw wrongType(prefix + key, "a string", v) }
            return s
        }

        mutating func int(_ key: String) throws(BeadDecodeError) -> Int? {
            guard let v = take(key) else { return nil }
            guard let n = v.intValue else { throw wrongType(prefix + key, "an integer", v) }
            return n
        }

        mutating func bool(_ key: String) throws(BeadDecodeError) -> Bool {
            guard let v = take(key) else { return false }
            guard case .bool(let b) = v else { throw wrongType(prefix + key, "true or false", v) }
            return b
        }

        mutating func timestamp(_ key: String) throws(BeadDecodeError) -> Timestamp? {
            guard let v = take(key) else { return nil }
            guard case .string(let s) = v, let t = Timestamp(s) else {
                throw wrongType(prefix + key, "an RFC 3339 timestamp", v)
            }
            return t
        }

        mutating func stringArray(_ key: String) throws(BeadDecodeError) -> [String] {
            guard let v = take(key) else { return [] }
            guard case .array(let items) = v else { throw wrongType(prefix + key, "an array of strings", v) }
            var out: [String] = []
            for item in items {
                guard case .string(let s) = item else { throw wrongType(prefix + key, "an array of strings", v) }
                out.append(s)
            }
            return out
        }

        func rest() -> [JSONMember] { members.indices.filter { !used[$0] }.map { members[$0] } }
    }

    static func missing(_ field: String) -> BeadDecodeError {
        BeadDecodeError(field: field, message: "required field is missing")
    }

    static func wrongType(_ field: String, _ expected: String, _ got: JSONValue) -> BeadDecodeError {
        BeadDecodeError(field: field, message: "expected \(expected), got \(show(got))")
    }

    static func show(_ v: JSONValue) -> String {
        let text = v.compactText
        return text.count > 60 ? String(text.prefix(57)) + "..." : text
    }

    static func quote(_ s: String) -> String { JSONValue.string(s).compactText }

    // MARK: Encoding

    /// The bead as a JSON object in beads' export key order (see `Bead`).
    public static func encode(_ b: Bead) -> JSONValue {
        var m: [JSONMember] = []
        m.reserveCapacity(16 + b.extra.count)
        func str(_ k: String, _ v: String) { if !v.isEmpty { m.append(JSONMember(k, .string(v))) } }
        func opt(_ k: String, _ v: String?) { if let v { m.append(JSONMember(k, .string(v))) } }
        func ts(_ k: String, _ v: Timestamp?) { if let v { m.append(JSONMember(k, .string(v.text))) } }
        func int(_ k: String, _ v: Int) { if v != 0 { m.append(JSONMember(k, .int(v))) } }
        func flag(_ k: String, _ v: Bool) { if v { m.append(JSONMember(k, .bool(true))) } }
        func raw(_ k: String, _ v: JSONValue?) { if let v { m.append(JSONMember(k, v)) } }
        func strings(_ k: String, _ v: [String]) {
            if !v.isEmpty { m.append(JSONMember(k, .array(v.map { .string($0) }))) }
        }
        m.append(JSONMember("id", .string(b.id)))
        m.append(JSONMember("title", .string(b.title)))
        str("description", b.description)
        str("design", b.design)
        str("acceptance_criteria", b.acceptanceCriteria)
        str("notes", b.notes)
        m.append(JSONMember("status", .string(b.status.rawValue)))
        m.append(JSONMember("priority", .int(b.priority)))
        str("issue_type", b.issueType.rawValue)
        str("assignee", b.assignee)
        if let e = b.estimatedMinutes { m.append(JSONMember("estimated_minutes", .int(e))) }
        ts("created_at", b.createdAt)
        str("created_by", b.createdBy)
        ts("updated_at", b.updatedAt)
        ts("closed_at", b.closedAt)
        str("close_reason", b.closeReason)
        opt("external_ref", b.externalRef)
        int("compaction_level", b.compactionLevel)
        ts("compacted_at", b.compactedAt)
        opt("compacted_at_commit", b.compactedAtCommit)
        int("original_size", b.originalSize)
        strings("labels", b.labels)
        if !b.dependencies.isEmpty { m.append(JSONMember("dependencies", .array(b.dependencies.map(encode)))) }
        if !b.comments.isEmpty { m.append(JSONMember("comments", .array(b.comments.map(encode)))) }
        ts("deleted_at", b.deletedAt)
        str("deleted_by", b.deletedBy)
        str("delete_reason", b.deleteReason)
        str("original_type", b.originalType)
        str("sender", b.sender)
        flag("ephemeral", b.ephemeral)
        flag("pinned", b.pinned)
        flag("is_template", b.isTemplate)
        raw("bonded_from", b.bondedFrom)
        raw("creator", b.creator)
        raw("validations", b.validations)
        str("await_type", b.awaitType)
        str("await_id", b.awaitID)
        if b.timeout != 0 { m.append(JSONMember("timeout", .number(String(b.timeout)))) }
        strings("waiters", b.waiters)
        str("source_formula", b.sourceFormula)
        str("source_location", b.sourceLocation)
        str("hook_bead", b.hookBead)
        str("role_bead", b.roleBead)
        str("agent_state", b.agentState)
        ts("last_activity", b.lastActivity)
        str("role_type", b.roleType)
        str("rig", b.rig)
        str("owner", b.owner)
        ts("started_at", b.startedAt)
        ts("defer_until", b.deferUntil)
        ts("due_at", b.dueAt)
        if !b.metadata.isEmpty { m.append(JSONMember("metadata", .object(b.metadata))) }
        str("claim_node", b.claimNode)
        int("lease_epoch", b.leaseEpoch)
        m.append(contentsOf: b.extra)
        return .object(m)
    }

    public static func encode(_ d: Dependency) -> JSONValue {
        var m: [JSONMember] = [
            JSONMember("issue_id", .string(d.issueID)), JSONMember("depends_on_id", .string(d.dependsOnID)),
            JSONMember("type", .string(d.type.rawValue)), JSONMember("created_at", .string(d.createdAt.text)),
        ]
        if !d.createdBy.isEmpty { m.append(JSONMember("created_by", .string(d.createdBy))) }
        if !d.metadata.isEmpty { m.append(JSONMember("metadata", .string(d.metadata))) }
        if !d.threadID.isEmpty { m.append(JSONMember("thread_id", .string(d.threadID))) }
        m.append(contentsOf: d.extra)
        return .object(m)
    }

    public static func encode(_ c: Comment) -> JSONValue {
        .object(
            [
                JSONMember("id", .number(String(c.id))), JSONMember("issue_id", .string(c.issueID)),
                JSONMember("author", .string(c.author)), JSONMember("text", .string(c.text)),
                JSONMember("created_at", .string(c.createdAt.text)),
            ] + c.extra)
    }

    /// One JSONL line (without the newline).
    public static func encodeLine(_ bead: Bead) -> String { encode(bead).compactText }

    /// The whole file: one line per bead, sorted by id as plain byte strings, each ending in "\n".
    public static func encodeJSONL<S: Sequence>(_ beads: S) -> String where S.Element == Bead {
        let sorted = beads.sorted { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }
        var out: [UInt8] = []
        out.reserveCapacity(sorted.count * 1024)
        for bead in sorted {
            encode(bead).write(to: &out)
            out.append(0x0A)
        }
        return String(decoding: out, as: UTF8.self)
    }
}
