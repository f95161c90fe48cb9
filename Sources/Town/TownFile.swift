import Foundation
import LedgerStore
import Scheduling
import Transport

/// A `mayor/town.json` that is missing or malformed: `message` names the file and the field.
///
/// `Sendable`: a plain value.
public struct TownFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Whether the file is missing (not a town), malformed (bad configuration) or could not be written.
    public enum Kind: Sendable, Equatable { case missing, malformed, io }
    public let kind: Kind
    /// What was wrong, naming the file and the key (`<path>: node.listen must be a string`).
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// The one reader and writer of `<town>/mayor/town.json` for every section the node and the workflow use; the
/// CLI's `TownConfig` is the identity view (`type`, `version`, `name`, `owner`, `created_at`) `gt install` writes.
///
/// ```json
/// {"name": "t",
///  "node": {"listen": "HOST:PORT", "join": ["HOST:PORT"], "name": "NODE", "labels": {"region": "eu"},
///           "slots": 4, "runtimes": ["claude"]},
///  "refinery": {"lease_renew_seconds": 20, "lease_grace_seconds": 90, "poll_seconds": 5},
///  "convoy": {"poll_seconds": 5, "landing_grace_seconds": 180},
///  "placement": {"rules": [{"rig": "secret", "require": {"org": "acme"}}], "failover_grace_seconds": 180},
///  "federation": {"listen": "HOST:PORT", "organization": "acme", "poll_seconds": 5},
///  "dashboard": {"listen": "127.0.0.1:8420", "enabled": true}}
/// ```
/// Every section and key is optional; a key of the wrong type is an error naming the file and the key. Keys it
/// does not know are kept by `update`.
///
/// `Sendable`: a plain value.
public struct TownFile: Sendable, Equatable {
    /// The `node` section: how this node serves and what it advertises to the cluster.
    public struct NodeSection: Sendable, Equatable {
        /// Where to listen (`gt node run --listen` wins).
        public var listen: String?
        /// Seeds to join.
        public var join: [String] = []
        /// `node.name`, preferred over the town name.
        public var name: String?
        /// Labels to publish (`org`, `region`, `os`, `gpu` and custom keys).
        public var labels: [String: String] = [:]
        /// Free agent slots to publish at start (0…100000).
        public var slots: Int?
        /// Runtimes to publish.
        public var runtimes: [String] = []

        public init() {}
    }

    /// The `refinery` section: the Refinery lease's timing (seconds, at least 0.05).
    public struct RefinerySection: Sendable, Equatable {
        public var leaseRenew: Duration?
        public var leaseGrace: Duration?
        public var poll: Duration?

        public init() {}
    }

    /// The `convoy` section: the convoy patrol's timing (seconds, at least 0.05).
    public struct ConvoySection: Sendable, Equatable {
        public var poll: Duration?
        public var landingGrace: Duration?

        public init() {}
    }

    /// The `placement` section: the cluster's placement policy and the Mayor's failover grace.
    public struct PlacementSection: Sendable, Equatable {
        public var rules: [Placement.Policy.Rule] = []
        /// How long a node must have been reported dead before its hooked beads are re-slung.
        public var failoverGrace: Duration?

        public init() {}
    }

    /// The `dashboard` section: where the node's web dashboard listens (`gt node run --dashboard` wins).
    public struct DashboardSection: Sendable, Equatable {
        /// `HOST:PORT`; beyond loopback the dashboard serves HTTPS with a login token (docs/dashboard.md).
        public var listen: String?
        /// `false` turns the dashboard off.
        public var enabled = true

        public init() {}
    }

    /// The `federation` section: where this node's federation listener serves peer organizations, and the
    /// organization name it exports (docs/federation.md).
    public struct FederationSection: Sendable, Equatable {
        /// `federation.listen`: `HOST:PORT` of the federation listener (absent: no listener, outbound only).
        public var listen: String?
        /// `federation.organization`: the name in `gt federation export` (default: the cluster's name).
        public var organization: String?
        /// `federation.poll_seconds`: how often `external:` dependencies on remote beads are checked. Default 5.
        public var poll: Duration?

        public init() {}
    }

    /// The file these values came from.
    public var path: String
    /// The town's `name`.
    public var name: String?
    public var node = NodeSection()
    public var refinery = RefinerySection()
    public var convoy = ConvoySection()
    public var placement = PlacementSection()
    public var federation = FederationSection()
    public var dashboard = DashboardSection()

    /// No settings (every default), as if read from `path` holding `{}`.
    public init(path: String) { self.path = path }

    /// Reads and decodes the file at `path`; a missing file is a `.missing` error. Blocking (a small file).
    public static func load(_ path: String) throws(TownFileError) -> TownFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TownFileError(.missing, "\(path) is missing")
        }
        return try decode(data, path: path)
    }

    /// Reads `layout`'s `mayor/town.json`.
    public static func load(_ layout: TownLayout) throws(TownFileError) -> TownFile { try load(layout.townFile) }

    /// Decodes the file's bytes.
    public static func decode(_ data: Data, path: String) throws(TownFileError) -> TownFile {
        func bad(_ message: String) -> TownFileError { TownFileError(.malformed, "\(path)\(message)") }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw bad(" is not a JSON object")
        }
        var file = TownFile(path: path)
        file.name = object["name"] as? String
        if let node = object["node"] {
            guard let section = node as? [String: Any] else { throw bad(": \"node\" must be an object") }
            try decodeNode(section, into: &file.node, bad)
        }
        if let refinery = object["refinery"] {
            guard let section = refinery as? [String: Any] else { throw bad(": refinery must be an object") }
            file.refinery.leaseRenew = try seconds(section, "refinery", "lease_renew_seconds", bad)
            file.refinery.leaseGrace = try seconds(section, "refinery", "lease_grace_seconds", bad)
            file.refinery.poll = try seconds(section, "refinery", "poll_seconds", bad)
        }
        if let convoy = object["convoy"] {
            guard let section = convoy as? [String: Any] else { throw bad(": convoy must be an object") }
            file.convoy.poll = try seconds(section, "convoy", "poll_seconds", bad)
            file.convoy.landingGrace = try seconds(section, "convoy", "landing_grace_seconds", bad)
        }
        if let placement = object["placement"] {
            try decodePlacement(placement, into: &file.placement, bad)
        }
        if let federation = object["federation"] {
            guard let section = federation as? [String: Any] else { throw bad(": federation must be an object") }
            for key in ["listen", "organization"] {
                if let value = section[key], !(value is String) { throw bad(": federation.\(key) must be a string") }
            }
            file.federation.listen = section["listen"] as? String
            file.federation.organization = section["organization"] as? String
            file.federation.poll = try seconds(section, "federation", "poll_seconds", bad)
        }
        if let dashboard = object["dashboard"] {
            guard let section = dashboard as? [String: Any] else { throw bad(": dashboard must be an object") }
            if let listen = section["listen"] {
                guard let text = listen as? String else {
                    throw bad(": dashboard.listen must be a string like \"127.0.0.1:8420\"")
                }
                file.dashboard.listen = text
            }
            if let enabled = section["enabled"] {
                guard let flag = enabled as? Bool else { throw bad(": dashboard.enabled must be true or false") }
                file.dashboard.enabled = flag
            }
        }
        return file
    }

    static func decodeNode(
        _ section: [String: Any], into node: inout NodeSection, _ bad: (String) -> TownFileError
    ) throws(TownFileError) {
        if let listen = section["listen"] {
            guard let text = listen as? String else { throw bad(": node.listen must be a string") }
            node.listen = text
        }
        if let join = section["join"] {
            guard let list = join as? [String] else { throw bad(": node.join must be a list of strings") }
            node.join = list
        }
        if let name = section["name"] {
            guard let text = name as? String else { throw bad(": node.name must be a string") }
            node.name = text
        }
        if let labels = section["labels"] {
            guard let map = labels as? [String: String] else {
                throw bad(": node.labels must be an object of strings, like {\"region\": \"eu\"}")
            }
            node.labels = map
        }
        if let slots = section["slots"] {
            guard let number = slots as? Int, (0...100_000).contains(number) else {
                throw bad(": node.slots must be a whole number from 0 to 100000")
            }
            node.slots = number
        }
        if let runtimes = section["runtimes"] {
            guard let list = runtimes as? [String] else { throw bad(": node.runtimes must be a list of strings") }
            node.runtimes = list
        }
    }

    static func decodePlacement(
        _ value: Any, into config: inout PlacementSection, _ bad: (String) -> TownFileError
    ) throws(TownFileError) {
        guard let placement = value as? [String: Any] else {
            throw bad(": placement must be an object, like {\"rules\": [...]}")
        }
        for key in placement.keys where !["rules", "failover_grace_seconds"].contains(key) {
            throw bad(": placement.\(key) is not a known key (rules, failover_grace_seconds)")
        }
        if let rules = placement["rules"] {
            guard let list = rules as? [Any] else { throw bad(": placement.rules must be a list") }
            for (index, item) in list.enumerated() {
                guard let rule = item as? [String: Any], let rig = rule["rig"] as? String, !rig.isEmpty,
                    let require = rule["require"] as? [String: String], !require.isEmpty,
                    rule.keys.allSatisfy({ ["rig", "require"].contains($0) })
                else {
                    throw bad(
                        ": placement.rules[\(index)] must be {\"rig\": NAME or \"*\", \"require\": {LABEL: VALUE, …}}")
                }
                config.rules.append(Placement.Policy.Rule(rig: rig, require: require))
            }
        }
        if let grace = placement["failover_grace_seconds"] {
            guard let seconds = grace as? Double, seconds >= 0, seconds <= 86_400 else {
                throw bad(": placement.failover_grace_seconds must be a number from 0 to 86400")
            }
            config.failoverGrace = .milliseconds(Int64(seconds * 1000))
        }
    }

    /// `section[key]` as a duration of at least 0.05 s, nil when absent.
    static func seconds(
        _ section: [String: Any], _ name: String, _ key: String, _ bad: (String) -> TownFileError
    ) throws(TownFileError) -> Duration? {
        guard let value = section[key] else { return nil }
        guard let number = value as? NSNumber, number.doubleValue.isFinite, number.doubleValue <= 31_536_000 else {
            throw bad(": \(name).\(key) must be a number of seconds (like 5 or 0.5)")
        }
        return .milliseconds(Int64(max(0.05, number.doubleValue) * 1000))
    }

    /// Changes `path`'s JSON object under an exclusive lock on its sidecar `.town.json.lock` and replaces the file
    /// atomically (fsynced, sorted keys, two-space indent, trailing newline), keeping every key `change` leaves
    /// alone: concurrent updates are never lost. The file is decoded before the change, so a malformed file is
    /// refused, not overwritten. Blocking: call off the cooperative pool.
    public static func update(
        _ path: String, _ change: (TownFile, inout [String: Any]) -> Void
    ) throws(TownFileError) {
        let lock = ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent(
            ".town.json.lock")
        var failure: TownFileError?
        do {
            try FileLock.withLock(lock) { () throws(TransportError) in
                do throws(TownFileError) {
                    guard let data = FileManager.default.contents(atPath: path) else {
                        throw TownFileError(.missing, "\(path) is missing")
                    }
                    guard var object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                        throw TownFileError(.malformed, "\(path) is not a JSON object; fix or restore it")
                    }
                    let file = try decode(data, path: path)
                    change(file, &object)
                    do {
                        let bytes = try JSONSerialization.data(
                            withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
                        try AtomicFile.write(Array(bytes) + [0x0A], to: path)
                    } catch {
                        throw TownFileError(.io, "cannot write \(path): \(error)")
                    }
                } catch {
                    failure = error
                }
            }
        } catch {
            throw TownFileError(.io, error.description)
        }
        if let failure { throw failure }
    }
}
