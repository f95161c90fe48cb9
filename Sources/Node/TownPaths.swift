import Foundation
import LedgerStore
import Transport
import Town

/// The files of a town that the node daemon and the node commands use (DESIGN §10).
///
/// `Sendable` because it is a plain value.
public struct TownPaths: Sendable, Equatable {
    /// The town root (holds `mayor/town.json`).
    public let root: String

    public init(root: String) { self.root = root }

    public var townFile: String { root + "/mayor/town.json" }
    /// `<town>/.gt`: node state.
    public var stateDirectory: String { root + "/.gt" }
    /// `<town>/.gt/pki`.
    public var pki: PKIDirectory { PKIDirectory(URL(fileURLWithPath: stateDirectory + "/pki")) }
    /// The local CLI's Unix socket (mode 0600), present while the node serves.
    public var socket: String { stateDirectory + "/node.sock" }
    /// Written by the running node: pid, name, listen address (`NodeRuntimeInfo`).
    public var runtimeFile: String { stateDirectory + "/node.json" }
    /// Written by `gt up`: the background node's pid.
    public var pidFile: String { stateDirectory + "/node.pid" }
    /// Held (flock) by the running node so a town never has two.
    public var lockFile: String { stateDirectory + "/node.lock" }
    public var logsDirectory: String { stateDirectory + "/logs" }
    /// The node's log.
    public var logFile: String { logsDirectory + "/node.log" }
    /// stdout and stderr of a node started by `gt up`.
    public var consoleFile: String { logsDirectory + "/node.out" }
    /// One JSON object per event.
    public var eventsFile: String { stateDirectory + "/events.jsonl" }
    /// Present while the node is draining (`gt node drain`), so a restarted node keeps draining until
    /// `gt node undrain`.
    public var drainingFile: String { stateDirectory + "/draining" }
    /// Certificates of peers this node has seen (`gt node cert show|revoke <node>` read it).
    public var knownPeersFile: String { stateDirectory + "/pki/known-peers.jsonl" }
}

/// The `node` section of `mayor/town.json` (all optional): `{"node": {"listen": "HOST:PORT", "join":
/// ["HOST:PORT"], "name": "NODE"}}`. Other sections of the file are not touched.
///
/// `Sendable` because it is a plain value.
public struct TownNodeConfig: Sendable, Equatable {
    /// Where to listen (overridden by `gt node run --listen`). Default `127.0.0.1:7420`.
    public var listen: String?
    /// Seeds to join (added to `--join`).
    public var join: [String]
    /// The town's name (`name` of town.json), used to name the node when nothing else does.
    public var townName: String?
    /// `node.name`, preferred over the town name.
    public var nodeName: String?

    /// The default listen address.
    public static let defaultListen = "127.0.0.1:7420"

    public init(listen: String? = nil, join: [String] = [], townName: String? = nil, nodeName: String? = nil) {
        self.listen = listen
        self.join = join
        self.townName = townName
        self.nodeName = nodeName
    }

    /// The `node` section of a decoded `town.json` (and the town's name).
    public init(_ file: TownFile) {
        self.init(listen: file.node.listen, join: file.node.join, townName: file.name, nodeName: file.node.name)
    }

    /// Reads `town.json` (through `TownFile`, its one reader); a missing section gives the defaults, a missing
    /// file `.notATown`, malformed JSON `.badConfig`.
    public static func load(_ town: TownPaths) throws(NodeError) -> TownNodeConfig {
        do throws(TownFileError) { return TownNodeConfig(try TownFile.load(town.townFile)) } catch {
            throw NodeError(error)
        }
    }

    /// Changes the `node` section of `town.json` (seeds, listen address, name), keeping every other key, through
    /// `TownFile.update` (an exclusive lock on `mayor/.town.json.lock`, an atomic, fsynced replace): concurrent
    /// updates are never lost. Blocking: call off the cooperative pool.
    public static func update(_ town: TownPaths, _ change: (inout TownNodeConfig) -> Void) throws(NodeError) {
        do throws(TownFileError) {
            try TownFile.update(town.townFile) { file, object in
                var config = TownNodeConfig(file)
                change(&config)
                var section = (object["node"] as? [String: Any]) ?? [:]
                section["listen"] = config.listen
                section["join"] = config.join.isEmpty ? nil : config.join
                section["name"] = config.nodeName
                object["node"] = section.isEmpty ? nil : section
            }
        } catch {
            throw .io(error.message)
        }
    }

    /// Decodes the file's bytes.
    public static func decode(_ data: Data, path: String) throws(NodeError) -> TownNodeConfig {
        do throws(TownFileError) { return TownNodeConfig(try TownFile.decode(data, path: path)) } catch {
            throw NodeError(error)
        }
    }
}

extension NodeError {
    /// A `town.json` that could not be read: missing is `.notATown`, malformed `.badConfig`, else `.io`.
    public init(_ error: TownFileError) {
        switch error.kind {
        case .missing: self = .notATown(error.message)
        case .malformed: self = .badConfig(error.message)
        case .io: self = .io(error.message)
        }
    }
}

extension String {
    /// This path with its last component replaced by `name`.
    func replacingLastPathComponent(with name: String) -> String {
        ((self as NSString).deletingLastPathComponent as NSString).appendingPathComponent(name)
    }
}

/// What the running node writes to `<town>/.gt/node.json` so the CLI and tests find it.
///
/// `Sendable` because it is a plain value.
public struct NodeRuntimeInfo: Codable, Sendable, Equatable {
    public var pid: Int32
    public var name: String
    /// The bound TLS address (`HOST:PORT`, with the real port when 0 was asked for).
    public var listen: String
    public var socket: String
    public var startedAt: Date

    enum CodingKeys: String, CodingKey {
        case pid, name, listen, socket
        case startedAt = "started_at"
    }

    public init(pid: Int32, name: String, listen: String, socket: String, startedAt: Date) {
        self.pid = pid
        self.name = name
        self.listen = listen
        self.socket = socket
        self.startedAt = startedAt
    }

    /// Reads `node.json`, or nil when absent or unreadable.
    public static func load(_ town: TownPaths) -> NodeRuntimeInfo? {
        guard let data = FileManager.default.contents(atPath: town.runtimeFile) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(NodeRuntimeInfo.self, from: data)
    }
}

/// Every failure of the node daemon and its admin operations, saying what to do.
///
/// `Sendable` because it is a plain value.
public enum NodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The directory is not a town.
    case notATown(String)
    /// The node has no identity yet.
    case noIdentity(String)
    /// A config file is malformed.
    case badConfig(String)
    /// Another node already serves this town.
    case alreadyRunning(String)
    /// No node serves this town.
    case notRunning(String)
    /// A transport or PKI failure.
    case transport(TransportError)
    /// A request to the node was refused or failed.
    case refused(String)
    /// A file could not be read or written.
    case io(String)

    public var description: String {
        switch self {
        case .notATown(let why): return "not a town: \(why); run 'gt install <dir>' first or pass --town"
        case .noIdentity(let why):
            return "this town has no node identity (\(why)); run 'gt cluster init' to start a cluster, or "
                + "'gt node join <address> <token>' to join one"
        case .badConfig(let why): return "bad configuration: \(why)"
        case .alreadyRunning(let why): return "a node already runs for this town (\(why)); stop it with 'gt down'"
        case .notRunning(let why): return "the node is not running (\(why)); start it with 'gt up'"
        case .transport(let error): return error.description
        case .refused(let why): return why
        case .io(let why): return why
        }
    }
}
