extension LedgerOp {
    /// Format version written in every serialized op (`"v":1`).
    public static let formatVersion = 1

    /// The op as one JSON object, for the WAL: `{"v":1,"op":"<kind>","actor":…,"stamp":…,"time":…,…}`.
    /// Beads inside ops are in beads' export shape (`BeadCodec.encode`).
    public var json: JSONValue {
        var m: [JSONMember] = [
            JSONMember("v", .int(LedgerOp.formatVersion)), JSONMember("op", .string(kind)),
            JSONMember("actor", .string(actor)), JSONMember("stamp", .string(stamp.description)),
            JSONMember("time", .string(time.text)),
        ]
        func add(_ k: String, _ v: JSONValue) { m.append(JSONMember(k, v)) }
        switch change {
        case .create(let bead, let allowCycles):
            add("bead", BeadCodec.encode(bead))
            add("allow_cycles", .bool(allowCycles))
        case .update(let id, let fields):
            add("id", .string(id))
            add("fields", .array(fields.map(LedgerOp.encode)))
        case .labels(let id, let a, let r):
            add("id", .string(id))
            add("add", .array(a.map { .string($0) }))
            add("remove", .array(r.map { .string($0) }))
        case .addDependency(let id, let d, let allowCycles):
            add("id", .string(id))
            add("dependency", BeadCodec.encode(d))
            add("allow_cycles", .bool(allowCycles))
        case .removeDependency(let id, let key):
            add("id", .string(id))
            add("key", .string(key.text))
        case .addComment(let id, let c):
            add("id", .string(id))
            add("comment", BeadCodec.encode(c))
        case .close(let id, let reason):
            add("id", .string(id))
            add("reason", .string(reason))
        case .reopen(let id): add("id", .string(id))
        case .delete(let id, let reason):
            add("id", .string(id))
            add("reason", .string(reason))
        case .claim(let id, let assignee, let node, let expected):
            add("id", .string(id))
            add("assignee", .string(assignee))
            add("node", .string(node))
            if let expected { add("expected_epoch", .int(expected)) }
        case .release(let id, let assignee):
            add("id", .string(id))
            add("assignee", .string(assignee))
        case .setMetadata(let id, let key, let value):
            add("id", .string(id))
            add("key", .string(key))
            if let value { add("value", value) }
        case .importBeads(let beads): add("beads", .array(beads.map(BeadCodec.encode)))
        }
        return .object(m)
    }

    /// The op kind written as `"op"`.
    public var kind: String {
        switch change {
        case .create: return "create"
        case .update: return "update"
        case .labels: return "labels"
        case .addDependency: return "dep_add"
        case .removeDependency: return "dep_remove"
        case .addComment: return "comment"
        case .close: return "close"
        case .reopen: return "reopen"
        case .delete: return "delete"
        case .claim: return "claim"
        case .release: return "release"
        case .setMetadata: return "metadata"
        case .importBeads: return "import"
        }
    }

    /// The op as one compact JSON line (no newline).
    public var jsonLine: String { json.compactText }

    static func encode(_ f: FieldUpdate) -> JSONValue {
        func pair(_ k: String, _ v: JSONValue) -> JSONValue {
            .object([JSONMember("field", .string(k)), JSONMember("value", v)])
        }
        func optString(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        func optTime(_ t: Timestamp?) -> JSONValue { t.map { .string($0.text) } ?? .null }
        switch f {
        case .title(let v): return pair("title", .string(v))
        case .description(let v): return pair("description", .string(v))
        case .design(let v): return pair("design", .string(v))
        case .acceptanceCriteria(let v): return pair("acceptance_criteria", .string(v))
        case .notes(let v): return pair("notes", .string(v))
        case .priority(let v): return pair("priority", .int(v))
        case .issueType(let v): return pair("issue_type", .string(v.rawValue))
        case .status(let v): return pair("status", .string(v.rawValue))
        case .assignee(let v): return pair("assignee", .string(v))
        case .estimatedMinutes(let v): return pair("estimated_minutes", v.map { .int($0) } ?? .null)
        case .externalRef(let v): return pair("external_ref", optString(v))
        case .owner(let v): return pair("owner", .string(v))
        case .deferUntil(let v): return pair("defer_until", optTime(v))
        case .dueAt(let v): return pair("due_at", optTime(v))
        case .pinned(let v): return pair("pinned", .bool(v))
        case .ephemeral(let v): return pair("ephemeral", .bool(v))
        }
    }

    /// Decodes an op written by `json`. Errors name the field.
    public init(json: JSONValue) throws(BeadDecodeError) {
        func fail(_ field: String, _ message: String) -> BeadDecodeError {
            BeadDecodeError(field: field, message: message)
        }
        func str(_ k: String) throws(BeadDecodeError) -> String {
            guard let s = json[k]?.stringValue else { throw fail(k, "expected a string") }
            return s
        }
        func strings(_ k: String) throws(BeadDecodeError) -> [String] {
            guard let items = json[k]?.arrayValue else { throw fail(k, "expected an array of strings") }
            var out: [String] = []
            for i in items {
                guard let s = i.stringValue else { throw fail(k, "expected an array of strings") }
                out.append(s)
            }
            return out
        }
        guard case .object = json else { throw fail("op", "expected a JSON object") }
        guard json["v"]?.intValue == LedgerOp.formatVersion else {
            throw fail("v", "unsupported op format version (this build reads version \(LedgerOp.formatVersion))")
        }
        let kind = try str("op")
        let actor = try str("actor")
        guard let stamp = HLCStamp(text: try str("stamp")) else { throw fail("stamp", "expected an HLC stamp") }
        guard let time = Timestamp(try str("time")) else { throw fail("time", "expected an RFC 3339 timestamp") }
        let change: LedgerChange
        switch kind {
        case "create":
            guard let b = json["bead"] else { throw fail("bead", "required field is missing") }
            change = .create(try BeadCodec.decode(b), allowCycles: json["allow_cycles"] == .bool(true))
        case "update":
            guard let items = json["fields"]?.arrayValue else { throw fail("fields", "expected an array") }
            var fields: [FieldUpdate] = []
            for item in items { fields.append(try LedgerOp.decodeField(item)) }
            change = .update(id: try str("id"), fields: fields)
        case "labels": change = .labels(id: try str("id"), add: try strings("add"), remove: try strings("remove"))
        case "dep_add":
            guard let d = json["dependency"] else { throw fail("dependency", "required field is missing") }
            change = .addDependency(
                id: try str("id"), try BeadCodec.decodeDependency(d, index: 0),
                allowCycles: json["allow_cycles"] == .bool(true))
        case "dep_remove":
            guard let key = DependencyKey(text: try str("key")) else { throw fail("key", "expected type:id") }
            change = .removeDependency(id: try str("id"), key)
        case "comment":
            guard let c = json["comment"] else { throw fail("comment", "required field is missing") }
            change = .addComment(id: try str("id"), try BeadCodec.decodeComment(c, index: 0))
        case "close": change = .close(id: try str("id"), reason: try str("reason"))
        case "reopen": change = .reopen(id: try str("id"))
        case "delete": change = .delete(id: try str("id"), reason: try str("reason"))
        case "claim":
            change = .claim(
                id: try str("id"), assignee: try str("assignee"), node: try str("node"),
                expectedEpoch: json["expected_epoch"]?.intValue)
        case "release": change = .release(id: try str("id"), assignee: try str("assignee"))
        case "metadata": change = .setMetadata(id: try str("id"), key: try str("key"), value: json["value"])
        case "import":
            guard let items = json["beads"]?.arrayValue else { throw fail("beads", "expected an array") }
            var beads: [Bead] = []
            for item in items { beads.append(try BeadCodec.decode(item)) }
            change = .importBeads(beads)
        default: throw fail("op", "unknown op kind \"\(kind)\"")
        }
        self.init(actor: actor, stamp: stamp, time: time, change: change)
    }

    /// Decodes one op line.
    public init(jsonLine: String) throws(BeadDecodeError) {
        let value: JSONValue
        do { value = try JSONValue.parse(jsonLine) } catch {
            throw BeadDecodeError(field: nil, message: "invalid JSON: \(error)")
        }
        try self.init(json: value)
    }

    static func decodeField(_ item: JSONValue) throws(BeadDecodeError) -> FieldUpdate {
        guard let name = item["field"]?.stringValue, let v = item["value"] else {
            throw BeadDecodeError(field: "fields", message: "expected {\"field\":…,\"value\":…}")
        }
        func bad() -> BeadDecodeError {
            BeadDecodeError(field: "fields.\(name)", message: "bad value \(BeadCodec.show(v))")
        }
        func s() throws(BeadDecodeError) -> String {
            guard let x = v.stringValue else { throw bad() }
            return x
        }
        func t() throws(BeadDecodeError) -> Timestamp? {
            if v == .null { return nil }
            guard let x = v.stringValue.flatMap(Timestamp.init) else { throw bad() }
            return x
        }
        func b() throws(BeadDecodeError) -> Bool {
            guard case .bool(let x) = v else { throw bad() }
            return x
        }
        switch name {
        case "title": return .title(try s())
        case "description": return .description(try s())
        case "design": return .design(try s())
        case "acceptance_criteria": return .acceptanceCriteria(try s())
        case "notes": return .notes(try s())
        case "priority":
            guard let p = v.intValue else { throw bad() }
            return .priority(p)
        case "issue_type": return .issueType(IssueType(try s()))
        case "status":
            guard let st = BeadStatus(rawValue: try s()) else { throw bad() }
            return .status(st)
        case "assignee": return .assignee(try s())
        case "estimated_minutes":
            if v == .null { return .estimatedMinutes(nil) }
            guard let m = v.intValue else { throw bad() }
            return .estimatedMinutes(m)
        case "external_ref": return .externalRef(v == .null ? nil : try s())
        case "owner": return .owner(try s())
        case "defer_until": return .deferUntil(try t())
        case "due_at": return .dueAt(try t())
        case "pinned": return .pinned(try b())
        case "ephemeral": return .ephemeral(try b())
        default: throw BeadDecodeError(field: "fields", message: "unknown field \"\(name)\"")
        }
    }
}
