import Foundation
import LedgerStore
import Transport

/// A rig's config, `<town>/<rig>/config.json`, in Gas Town's shape (`type` "rig", `version`, `name`, `git_url`,
/// `default_branch`, `created_at`, `beads.prefix`) plus `runtime`, the rig's default agent runtime.
/// `Sendable`: a plain value.
public struct RigConfig: Codable, Sendable, Equatable {
    /// The `beads` section.
    public struct Beads: Codable, Sendable, Equatable {
        public var prefix: String
    }

    public var type = "rig"
    public var version = 1
    public var name: String
    public var gitURL: String
    public var defaultBranch: String
    public var createdAt: String
    public var beads: Beads
    /// The runtime of this rig's polecats (`claude`, `exec:'…'`), if set.
    public var runtime: String?
    /// At most this many polecats in the rig (default: `TownSettings.maxPolecatsPerRig`).
    public var maxPolecats: Int?
    /// The merge queue's settings (gate command, batch size, …); nil: the defaults, no gate.
    public var mergeQueue: RigMergeQueueSettings?
    /// A shell command run in each new polecat worktree before its session starts (`gt rig set <rig> setup CMD`);
    /// nil: none. Its output goes to the worktree's `.gt/setup.log`.
    public var setup: String?

    enum CodingKeys: String, CodingKey {
        case type, version, name, beads, runtime, setup
        case maxPolecats = "max_polecats"
        case mergeQueue = "merge_queue"
        case gitURL = "git_url"
        case defaultBranch = "default_branch"
        case createdAt = "created_at"
    }

    /// A new rig's config.
    public init(
        name: String, gitURL: String, defaultBranch: String, createdAt: String, prefix: String, runtime: String?
    ) {
        self.name = name
        self.gitURL = gitURL
        self.defaultBranch = defaultBranch
        self.createdAt = createdAt
        self.beads = Beads(prefix: prefix)
        self.runtime = runtime
    }
}

/// The rig registry `mayor/rigs.json` (`{"version": 1, "rigs": {name: {git_url, added_at, beads: {repo, prefix}}}}`)
/// read and written as JSON objects, so keys other tools put there are kept.
/// `Sendable`: a plain value.
public struct RigRegistry: Sendable {
    /// The registry file.
    public let path: String

    public init(layout: TownLayout) { path = layout.rigsFile }

    /// Registered rigs: name → (git URL, prefix).
    public func rigs() throws(TownError) -> [String: (gitURL: String, prefix: String)] {
        let object = try load()
        var result: [String: (gitURL: String, prefix: String)] = [:]
        for (name, value) in (object["rigs"] as? [String: Any]) ?? [:] {
            let entry = value as? [String: Any] ?? [:]
            let beads = entry["beads"] as? [String: Any] ?? [:]
            result[name] = (entry["git_url"] as? String ?? "", beads["prefix"] as? String ?? name)
        }
        return result
    }

    /// Every registered rig's config (`<town>/<rig>/config.json`, or one made from the registry entry when the rig
    /// has none), by name.
    public func configs(layout: TownLayout) throws(TownError) -> [String: RigConfig] {
        var result: [String: RigConfig] = [:]
        for (name, entry) in try rigs() {
            if let config = try TownJSON.read(RigConfig.self, from: layout.rigConfig(name)) {
                result[name] = config
            } else {
                result[name] = RigConfig(
                    name: name, gitURL: entry.gitURL, defaultBranch: "main", createdAt: "", prefix: entry.prefix,
                    runtime: nil)
            }
        }
        return result
    }

    /// Adds (or with `remove`, drops) one rig, durably (atomic replace), under an exclusive lock on
    /// `mayor/.rigs.json.lock` so concurrent `gt rig add` never lose each other's rigs.
    public func update(name: String, entry: [String: Any]?) throws(TownError) {
        nonisolated(unsafe) let entry = entry
        var failure: TownError?
        do {
            try FileLock.withLock(lockPath) { () throws(TransportError) in
                do throws(TownError) {
                    var object = try load()
                    var rigs = (object["rigs"] as? [String: Any]) ?? [:]
                    rigs[name] = entry
                    object["rigs"] = rigs
                    if object["version"] == nil { object["version"] = 1 }
                    try TownJSON.writeObject(object, to: path)
                } catch {
                    failure = error
                }
            }
        } catch {
            throw .io("cannot lock \(lockPath): \(error)")
        }
        if let failure { throw failure }
    }

    /// The sidecar lock file of `update`.
    var lockPath: String {
        ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent(".rigs.json.lock")
    }

    func load() throws(TownError) -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .notATown("\(path) is missing")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .io("\(path) is not a JSON object; fix or restore it")
        }
        return object
    }
}

/// JSON file helpers for the town's config files. A caseless namespace.
public enum TownJSON {
    /// Writes a JSON object (sorted keys, two-space indent, trailing newline) atomically.
    public static func writeObject(_ object: [String: Any], to path: String) throws(TownError) {
        do {
            let data = try JSONSerialization.data(
                withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try AtomicFile.write(Array(data) + [0x0A], to: path, createDirectory: true)
        } catch {
            throw .io("cannot write \(path): \(error)")
        }
    }

    /// Writes an `Encodable` value (sorted keys, indented) atomically.
    public static func write(_ value: some Encodable, to path: String) throws(TownError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            try AtomicFile.write(Array(try encoder.encode(value)) + [0x0A], to: path, createDirectory: true)
        } catch {
            throw .io("cannot write \(path): \(error)")
        }
    }

    /// Reads a `Decodable` value; nil when the file is missing.
    public static func read<T: Decodable>(_ type: T.Type, from path: String) throws(TownError) -> T? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw .io("\(path) does not hold a valid \(T.self): \(error)")
        }
    }
}
