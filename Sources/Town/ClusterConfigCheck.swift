import Beads
import Foundation
import Sessions
import Transport
import Wire

/// One thing wrong with a cluster-config file: the field (`node.slots`, `placement.rules[0].require`, or `""` for
/// the whole file) and what is allowed there.
///
/// `Sendable`: a plain value.
public struct ClusterConfigProblem: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The dotted path of the field, `""` for the file as a whole.
    public var field: String
    /// What is wrong and what is allowed.
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}

/// What `ClusterConfigCheck.check` found in one file.
///
/// `Sendable`: a plain value.
public struct ClusterConfigReport: Sendable, Equatable, Codable {
    /// `town` (a `mayor/town.json` with its `node` section), `rig` (a rig's `config.json`) or `unknown`.
    public var kind: String
    /// The file as named to the check.
    public var path: String
    /// The file's `name`, when it has one.
    public var name: String?
    /// Every problem found, in the order of the file's keys; empty when the file is valid.
    public var problems: [ClusterConfigProblem]

    /// True when nothing is wrong.
    public var valid: Bool { problems.isEmpty }

    enum CodingKeys: String, CodingKey { case kind, path, name, problems, valid }

    public init(kind: String, path: String, name: String?, problems: [ClusterConfigProblem]) {
        self.kind = kind
        self.path = path
        self.name = name
        self.problems = problems
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        kind = try container.decode(String.self, forKey: .kind)
        path = try container.decode(String.self, forKey: .path)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        problems = try container.decode([ClusterConfigProblem].self, forKey: .problems)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        try container.encode(path, forKey: .path)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encode(problems, forKey: .problems)
        try container.encode(valid, forKey: .valid)
    }
}

/// The validator of the files in `cluster-config/` (`gt cluster-config check`, `gt up --config`): a town file
/// (`mayor/town.json` with `node`, `placement`, `refinery`, `convoy`, `federation` and `dashboard` sections) or
/// a rig's `config.json`.
/// Pure: bytes in, a report out; no I/O. It reports every problem it finds (not only the first), each naming the
/// field and what is allowed, and it agrees with the decoders the node uses (`TownFile`, `RigConfig`): a file
/// it passes, they accept.
public enum ClusterConfigCheck {
    /// The keys of a town file's top level that this project or Gas Town reads.
    static let townKeys: Set<String> = [
        "type", "version", "name", "owner", "public_name", "created_at", "node", "placement", "refinery", "convoy",
        "federation", "dashboard",
    ]
    static let nodeKeys: Set<String> = ["listen", "join", "name", "labels", "slots", "runtimes"]
    static let refineryKeys: Set<String> = ["lease_renew_seconds", "lease_grace_seconds", "poll_seconds"]
    static let convoyKeys: Set<String> = ["poll_seconds", "landing_grace_seconds"]
    static let federationKeys: Set<String> = ["listen", "organization", "poll_seconds"]
    static let dashboardKeys: Set<String> = ["listen", "enabled"]
    static let rigKeys: Set<String> = [
        "type", "version", "name", "git_url", "default_branch", "created_at", "beads", "runtime", "max_polecats",
        "merge_queue", "setup",
    ]
    static let mergeQueueKeys: Set<String> = [
        "gate", "gate_timeout", "batch_size", "speculation_depth", "gate_concurrency", "flaky_retries",
    ]

    /// Checks `data` read from `path`. `runtimes` are the runtime names a node may advertise (default: the
    /// built-in presets and `exec`).
    public static func check(
        _ data: Data, path: String, runtimes: Set<String> = Set(RuntimePreset.builtIns.keys).union(["exec"])
    ) -> ClusterConfigReport {
        guard let parsed = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            return ClusterConfigReport(
                kind: "unknown", path: path, name: nil,
                problems: [.init(field: "", message: "is not JSON: check for a missing comma, quote or brace")])
        }
        guard let object = parsed as? [String: Any] else {
            return ClusterConfigReport(
                kind: "unknown", path: path, name: nil,
                problems: [.init(field: "", message: "must be a JSON object ({…}), not \(typeName(parsed))")])
        }
        var walk = Walk()
        let type = object["type"] as? String
        switch type {
        case "town":
            checkTown(object, runtimes: runtimes, &walk)
            if walk.problems.isEmpty {
                do throws(TownFileError) { _ = try TownFile.decode(data, path: path) } catch {
                    walk.add("", error.message.replacingOccurrences(of: path + ": ", with: ""))
                }
            }
        case "rig":
            checkRig(object, runtimes: runtimes, &walk)
            if walk.problems.isEmpty {
                do { _ = try JSONDecoder().decode(RigConfig.self, from: data) } catch {
                    walk.add("", "is not a rig config the node reads: \(error)")
                }
            }
        default:
            walk.add(
                "type",
                object["type"] == nil
                    ? "is missing: use \"town\" (a mayor/town.json) or \"rig\" (a rig's config.json)"
                    : "must be \"town\" or \"rig\", got \(show(object["type"]!))")
        }
        let kind = type == "town" || type == "rig" ? type! : "unknown"
        return ClusterConfigReport(kind: kind, path: path, name: object["name"] as? String, problems: walk.problems)
    }

    /// Collects problems.
    struct Walk {
        var problems: [ClusterConfigProblem] = []
        mutating func add(_ field: String, _ message: String) {
            problems.append(ClusterConfigProblem(field: field, message: message))
        }
    }

    static func checkTown(_ object: [String: Any], runtimes: Set<String>, _ walk: inout Walk) {
        unknownKeys(object, allowed: townKeys, prefix: "", &walk)
        checkVersion(object, allowed: 1...2, &walk)
        if let name = object["name"] {
            if let text = name as? String {
                if (try? NodeName(text)) == nil {
                    walk.add(
                        "name",
                        "'\(text)' is not a valid node name: 1-63 of a-z, 0-9, '-' and '.', starting "
                            + "with a letter or digit (it names the node unless node.name does)")
                }
            } else {
                walk.add("name", "must be a string, got \(show(name))")
            }
        } else {
            walk.add("name", "is missing: the town's name, like \"alpha\"")
        }
        optionalString(object, "owner", "", &walk)
        optionalString(object, "public_name", "", &walk)
        checkCreatedAt(object, &walk)
        if let node = object["node"] {
            if let section = node as? [String: Any] {
                checkNode(section, runtimes: runtimes, &walk)
            } else {
                walk.add("node", "must be an object like {\"labels\": {…}, \"slots\": 4}, got \(show(node))")
            }
        }
        if let placement = object["placement"] { checkPlacement(placement, &walk) }
        for (name, keys) in [("refinery", refineryKeys), ("convoy", convoyKeys)] {
            guard let value = object[name] else { continue }
            guard let section = value as? [String: Any] else {
                walk.add(name, "must be an object of seconds, like {\"poll_seconds\": 5}, got \(show(value))")
                continue
            }
            unknownKeys(section, allowed: keys, prefix: name + ".", &walk)
            for key in section.keys.sorted() where keys.contains(key) {
                number(section[key]!, field: "\(name).\(key)", range: 0...31_536_000, whole: false, &walk)
            }
        }
        if let federation = object["federation"] {
            if let section = federation as? [String: Any] {
                unknownKeys(section, allowed: federationKeys, prefix: "federation.", &walk)
                if let listen = section["listen"] { address(listen, field: "federation.listen", &walk) }
                optionalString(section, "organization", "federation.", &walk)
                if let poll = section["poll_seconds"] {
                    number(poll, field: "federation.poll_seconds", range: 0...31_536_000, whole: false, &walk)
                }
            } else {
                walk.add(
                    "federation", "must be an object like {\"listen\": \"0.0.0.0:7947\"}, got \(show(federation))")
            }
        }
        if let dashboard = object["dashboard"] {
            if let section = dashboard as? [String: Any] {
                unknownKeys(section, allowed: dashboardKeys, prefix: "dashboard.", &walk)
                if let listen = section["listen"] { address(listen, field: "dashboard.listen", &walk) }
                if let enabled = section["enabled"], isNumber(enabled) || !(enabled is Bool) {
                    walk.add("dashboard.enabled", "must be true or false, got \(show(enabled))")
                }
            } else {
                walk.add(
                    "dashboard", "must be an object like {\"listen\": \"127.0.0.1:8420\"}, got \(show(dashboard))")
            }
        }
    }

    static func checkNode(_ node: [String: Any], runtimes: Set<String>, _ walk: inout Walk) {
        unknownKeys(node, allowed: nodeKeys, prefix: "node.", &walk)
        if let listen = node["listen"] { address(listen, field: "node.listen", &walk) }
        if let join = node["join"] {
            if let list = join as? [Any] {
                for (index, item) in list.enumerated() { address(item, field: "node.join[\(index)]", &walk) }
            } else {
                walk.add("node.join", "must be a list of HOST:PORT strings, got \(show(join))")
            }
        }
        if let name = node["name"] {
            if let text = name as? String {
                if (try? NodeName(text)) == nil {
                    walk.add("node.name", "'\(text)' is not a valid node name: 1-63 of a-z, 0-9, '-' and '.'")
                }
            } else {
                walk.add("node.name", "must be a string, got \(show(name))")
            }
        }
        if let labels = node["labels"] {
            if let map = labels as? [String: Any] {
                for key in map.keys.sorted() {
                    let field = "node.labels.\(key)"
                    guard let value = map[key] as? String else {
                        walk.add(field, "must be a string, got \(show(map[key]!)) (labels are strings)")
                        continue
                    }
                    if key.isEmpty || key.count > 63 || key.contains(where: { $0.isWhitespace || $0 == "=" }) {
                        walk.add(field, "is not a usable label key: 1-63 characters, no spaces or '='")
                    }
                    if value.count > 255 || value.contains(where: \.isNewline) {
                        walk.add(field, "must be one line of at most 255 characters")
                    }
                }
            } else {
                walk.add("node.labels", "must be an object of strings, like {\"region\": \"eu\"}, got \(show(labels))")
            }
        }
        if let slots = node["slots"] { number(slots, field: "node.slots", range: 0...100_000, whole: true, &walk) }
        if let list = node["runtimes"] {
            if let names = list as? [Any] {
                for (index, item) in names.enumerated() {
                    let field = "node.runtimes[\(index)]"
                    guard let name = item as? String else {
                        walk.add(field, "must be a runtime name (a string), got \(show(item))")
                        continue
                    }
                    if !runtimes.contains(name) {
                        walk.add(
                            field,
                            "'\(name)' is not a known runtime: one of \(runtimes.sorted().joined(separator: ", "))")
                    }
                }
            } else {
                walk.add(
                    "node.runtimes", "must be a list of runtime names, like [\"claude\", \"exec\"], got \(show(list))")
            }
        }
    }

    static func checkPlacement(_ value: Any, _ walk: inout Walk) {
        guard let placement = value as? [String: Any] else {
            walk.add("placement", "must be an object like {\"rules\": [...]}, got \(show(value))")
            return
        }
        unknownKeys(placement, allowed: ["rules", "failover_grace_seconds"], prefix: "placement.", &walk)
        if let rules = placement["rules"] {
            if let list = rules as? [Any] {
                for (index, item) in list.enumerated() { checkRule(item, field: "placement.rules[\(index)]", &walk) }
            } else {
                walk.add("placement.rules", "must be a list of {\"rig\": …, \"require\": {…}}, got \(show(rules))")
            }
        }
        if let grace = placement["failover_grace_seconds"] {
            number(grace, field: "placement.failover_grace_seconds", range: 0...86_400, whole: false, &walk)
        }
    }

    static func checkRule(_ item: Any, field: String, _ walk: inout Walk) {
        guard let rule = item as? [String: Any] else {
            walk.add(field, "must be {\"rig\": NAME or \"*\", \"require\": {LABEL: VALUE, …}}, got \(show(item))")
            return
        }
        unknownKeys(rule, allowed: ["rig", "require"], prefix: field + ".", &walk)
        if let rig = rule["rig"] as? String {
            if rig != "*" && !TownNames.isValid(rig) { walk.add(field + ".rig", "'\(rig)' is not a rig name or \"*\"") }
        } else {
            walk.add(field + ".rig", rule["rig"] == nil ? "is missing: a rig name or \"*\"" : "must be a string")
        }
        if let require = rule["require"] as? [String: Any] {
            if require.isEmpty {
                walk.add(field + ".require", "must name at least one label, like {\"org\": \"acme\"}")
            }
            for key in require.keys.sorted() where !(require[key] is String) {
                walk.add("\(field).require.\(key)", "must be a string, got \(show(require[key]!))")
            }
        } else {
            walk.add(
                field + ".require",
                rule["require"] == nil
                    ? "is missing: an object of labels, like {\"org\": \"acme\"}" : "must be an object")
        }
    }

    static func checkRig(_ object: [String: Any], runtimes: Set<String>, _ walk: inout Walk) {
        unknownKeys(object, allowed: rigKeys, prefix: "", &walk)
        checkVersion(object, allowed: 1...1, &walk)
        for key in ["name", "git_url", "default_branch"] {
            guard let value = object[key] else {
                walk.add(key, "is missing: a string")
                continue
            }
            guard let text = value as? String, !text.isEmpty else {
                walk.add(key, "must be a non-empty string, got \(show(value))")
                continue
            }
            if key == "name" && (!TownNames.isValid(text) || ["mayor", "deacon", "settings"].contains(text)) {
                walk.add(
                    "name",
                    "'\(text)' is not a usable rig name (letters, digits, '-', '_'; not mayor, deacon, settings)")
            }
        }
        checkCreatedAt(object, &walk)
        if let beads = object["beads"] as? [String: Any] {
            unknownKeys(beads, allowed: ["prefix", "repo"], prefix: "beads.", &walk)
            if let prefix = beads["prefix"] as? String {
                if !BeadID.isValidPrefix(prefix) || prefix == "hq" {
                    walk.add(
                        "beads.prefix", "'\(prefix)' is not a bead ID prefix: lowercase letters and digits, not hq")
                }
            } else {
                walk.add("beads.prefix", "is missing or not a string: the rig's bead ID prefix, like \"wa\"")
            }
        } else {
            walk.add("beads", object["beads"] == nil ? "is missing: {\"prefix\": \"…\"}" : "must be an object")
        }
        if let runtime = object["runtime"] {
            if let name = runtime as? String {
                let base = name.hasPrefix("exec:") ? "exec" : name
                if !runtimes.contains(base) {
                    walk.add(
                        "runtime",
                        "'\(name)' is not a known runtime: one of \(runtimes.sorted().joined(separator: ", "))")
                }
            } else {
                walk.add("runtime", "must be a runtime name (a string), got \(show(runtime))")
            }
        }
        if let max = object["max_polecats"] {
            number(max, field: "max_polecats", range: 1...10_000, whole: true, &walk)
        }
        optionalString(object, "setup", "", &walk)
        if let queue = object["merge_queue"] {
            guard let section = queue as? [String: Any] else {
                walk.add("merge_queue", "must be an object like {\"gate\": \"make test\"}, got \(show(queue))")
                return
            }
            unknownKeys(section, allowed: mergeQueueKeys, prefix: "merge_queue.", &walk)
            optionalString(section, "gate", "merge_queue.", &walk)
            for key in mergeQueueKeys.sorted() where key != "gate" {
                if let value = section[key] {
                    number(
                        value, field: "merge_queue.\(key)", range: key == "flaky_retries" ? 0...100 : 1...86_400,
                        whole: true, &walk)
                }
            }
        }
    }

    // MARK: - Field helpers

    static func unknownKeys(_ object: [String: Any], allowed: Set<String>, prefix: String, _ walk: inout Walk) {
        for key in object.keys.sorted() where !allowed.contains(key) {
            walk.add(prefix + key, "is not a known key; allowed here: \(allowed.sorted().joined(separator: ", "))")
        }
    }

    static func checkVersion(_ object: [String: Any], allowed: ClosedRange<Int>, _ walk: inout Walk) {
        guard let version = object["version"] else {
            walk.add("version", "is missing: the schema version, \(allowed.upperBound)")
            return
        }
        let text =
            allowed.lowerBound == allowed.upperBound
            ? "\(allowed.lowerBound)" : "\(allowed.lowerBound) to \(allowed.upperBound)"
        guard let number = wholeNumber(version), allowed.contains(number) else {
            walk.add("version", "must be \(text), got \(show(version))")
            return
        }
    }

    static func checkCreatedAt(_ object: [String: Any], _ walk: inout Walk) {
        guard let value = object["created_at"] else { return }
        guard let text = value as? String, Timestamp(text) != nil else {
            walk.add("created_at", "must be an RFC 3339 time like \"2026-12-01T09:00:00Z\", got \(show(value))")
            return
        }
    }

    static func optionalString(_ object: [String: Any], _ key: String, _ prefix: String, _ walk: inout Walk) {
        if let value = object[key], !(value is String) || isNumber(value) {
            walk.add(prefix + key, "must be a string, got \(show(value))")
        }
    }

    static func address(_ value: Any, field: String, _ walk: inout Walk) {
        guard let text = value as? String, !isNumber(value) else {
            walk.add(field, "must be a HOST:PORT string, got \(show(value))")
            return
        }
        if (try? PeerAddress(parsing: text)) == nil || text.hasPrefix("unix:") {
            walk.add(field, "'\(text)' is not HOST:PORT (like 0.0.0.0:7946 or [::1]:7946; port 0 to 65535)")
        }
    }

    static func number(_ value: Any, field: String, range: ClosedRange<Int>, whole: Bool, _ walk: inout Walk) {
        let what = whole ? "a whole number" : "a number"
        guard isNumber(value), let number = value as? NSNumber, number.doubleValue.isFinite,
            !whole || wholeNumber(value) != nil,
            Double(range.lowerBound) <= number.doubleValue, number.doubleValue <= Double(range.upperBound)
        else {
            walk.add(field, "must be \(what) from \(range.lowerBound) to \(range.upperBound), got \(show(value))")
            return
        }
    }

    static func isNumber(_ value: Any) -> Bool {
        guard let number = value as? NSNumber else { return false }
        // JSONSerialization gives true/false as NSNumber of type "c" (char); it never makes char numbers otherwise.
        return String(cString: number.objCType) != "c"
    }

    static func wholeNumber(_ value: Any) -> Int? {
        guard isNumber(value), let number = value as? NSNumber else { return nil }
        let double = number.doubleValue
        guard double.isFinite, double == double.rounded(), abs(double) < 1e15 else { return nil }
        return Int(double)
    }

    /// A short rendering of a JSON value for messages.
    static func show(_ value: Any) -> String {
        if value is NSNull { return "null" }
        if let number = value as? NSNumber {
            if !isNumber(value) { return number.boolValue ? "true" : "false" }
            return "\(number)"
        }
        if let text = value as? String { return "\"\(text.prefix(60))\"" }
        return typeName(value)
    }

    static func typeName(_ value: Any) -> String {
        switch value {
        case is [Any]: return "a list"
        case is [String: Any]: return "an object"
        case is String: return "a string"
        case is NSNull: return "null"
        default: return isNumber(value) ? "a number" : "a boolean"
        }
    }
}
