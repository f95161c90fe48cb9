import Foundation
import Node
import Transport
import Wire

/// How long the CLI gives a node to answer before it says so (`gt status`), with documented defaults.
/// `Sendable`: a plain value.
struct NodeCLISettings: Sendable {
    /// Connecting to `node.sock` (a stopped node's socket still accepts into its backlog). Default 2 s.
    var connectTimeout: TimeInterval = 2
    /// The node's hello on that socket. Default 2 s.
    var handshakeTimeout: TimeInterval = 2
    /// The answer to a status request. Default 3 s.
    var statusTimeout: TimeInterval = 3
}

/// Helpers shared by the node, daemon and cluster commands: finding the town, naming the node, durations,
/// processes, and turning node errors into CLI errors.
enum NodeCLI {
    /// `--join HOST:PORT` (repeatable): the seeds of `gt up` and `gt node run`.
    static let joinOption = OptionSpec.option(
        "join", value: "HOST:PORT", kind: .repeated, help: "a node of the cluster to join")

    static let dashboardOption = OptionSpec.option(
        "dashboard", value: "HOST:PORT",
        help: "where the web dashboard listens (beyond loopback: HTTPS with a login token; see 'gt dashboard')",
        default: "town.json dashboard.listen, else 127.0.0.1 at the node's port + 1000")

    /// Checks that every one of `addresses` is `HOST:PORT`; a usage error naming the first that is not.
    static func checkAddresses(_ addresses: [String], _ parsed: ParsedValues) throws(UsageError) {
        for address in addresses where (try? PeerAddress(parsing: address)) == nil {
            throw parsed.invalid("bad address '\(address)': expected HOST:PORT")
        }
    }

    /// The town's paths by DESIGN §10's rule.
    static func town(_ context: CommandContext) throws(CLIError) -> TownPaths {
        TownPaths(root: try context.townRoot().path)
    }

    /// `--node-name`, else town.json's `node.name`, else the town's name, else the host name, made a valid
    /// node name (lowercase; other characters become '-').
    static func nodeName(flag: String?, town: TownPaths) throws(CLIError) -> NodeName {
        if let flag {
            do { return try NodeName(flag) } catch {
                throw CLIError(
                    "bad --node-name: \(error)", hint: "use 1-63 of a-z, 0-9, '-' and '.'", code: "bad_value")
            }
        }
        let config = try? TownNodeConfig.load(town)
        for candidate in [config?.nodeName, config?.townName, ProcessInfo.processInfo.hostName].compactMap({ $0 }) {
            if let name = sanitize(candidate) { return name }
        }
        throw CLIError("cannot derive a node name", hint: "pass --node-name NAME", code: "bad_value")
    }

    /// `candidate` turned into a node name, or nil.
    static func sanitize(_ candidate: String) -> NodeName? {
        var text = String(
            candidate.lowercased().map { ch -> Character in
                (ch >= "a" && ch <= "z") || (ch >= "0" && ch <= "9") || ch == "-" || ch == "." ? ch : "-"
            })
        while let first = text.first, first == "-" || first == "." { text.removeFirst() }
        return try? NodeName(String(text.prefix(63)))
    }

    /// When a certificate renews, in the right tense: "renews at <date>" ahead of it, "due for renewal since
    /// <date>" once it has passed (the node renews it at its next check).
    static func renewal(_ date: Date, now: Date = Date()) -> String {
        date > now ? "renews at \(date)" : "due for renewal since \(date)"
    }

    /// Parses `90`, `90s`, `15m`, `2h`, `7d` into seconds.
    static func duration(_ text: String) -> TimeInterval? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        var number = text
        var unit = 1.0
        if let last = text.last, let scale = units[last] {
            number = String(text.dropLast())
            unit = scale
        }
        guard let value = Double(number), value > 0, value.isFinite else { return nil }
        return value * unit
    }

    static func fail(_ error: NodeError) -> CLIError {
        let code: String
        switch error {
        case .notATown: code = "no_town"
        case .noIdentity: code = "no_identity"
        case .badConfig: code = "bad_config"
        case .alreadyRunning: code = "already_running"
        case .notRunning: code = "not_running"
        case .transport: code = "transport"
        case .refused: code = "refused"
        case .io: code = "io"
        }
        return CLIError(error.description, code: code)
    }

    static func fail(_ error: TransportError) -> CLIError {
        CLIError(error.description, code: "transport")
    }

    /// True when `pid` exists and is not a zombie.
    static func isAlive(_ pid: Int32) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return true }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state != "Z" && state != "X"
    }

    /// True when `pid` runs `gt node run` (so a recycled pid is never signalled).
    static func isNodeProcess(_ pid: Int32) -> Bool {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        let words = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard let index = words.firstIndex(of: "node") else { return false }
        return words.count > index + 1 && words[index + 1] == "run"
    }

    /// The pid recorded by `gt up`, else the one in node.json.
    static func recordedPid(_ town: TownPaths) -> Int32? {
        if let text = try? String(contentsOfFile: town.pidFile, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            return pid
        }
        return NodeRuntimeInfo.load(town)?.pid
    }

    /// The running node's client, or nil when none answers.
    static func client(_ town: TownPaths) async -> NodeClient? {
        try? await NodeClient.connect(town)
    }

    /// Renews this node's certificate now: through the running node (its CA key, or a connected CA holder), else
    /// offline with this town's CA key (`gt node cert renew`, `gt doctor --fix`).
    static func renewCertificate(_ town: TownPaths) async throws -> CertificateInfo {
        let info: CertificateInfo
        if let client = await client(town) {
            defer { client.close() }
            do {
                info = try await client.request(
                    NodeMessageType.renew, EmptyBody(), as: CertificateInfo.self, timeout: 60)
            } catch {
                throw fail(error)
            }
        } else {
            let pki = town.pki
            guard pki.holdsCA else {
                throw CLIError(
                    "the node is not running and this town does not hold the CA key",
                    hint: "start it with 'gt up': it renews over the wire", code: "not_running")
            }
            do {
                info = try await NodeBlocking.run { () throws(TransportError) -> CertificateInfo in
                    var now = PKISettings()
                    now.renewalFraction = 0
                    guard let certificate = try PKI.renewIfDue(at: pki, now: Date(), settings: now) else {
                        throw .pki("the certificate was not renewed")
                    }
                    return PKI.info(certificate)
                }
            } catch {
                throw fail(error)
            }
        }
        return info
    }

    /// The pid of the live process that holds `town`'s node lock and that node.pid or node.json names, or nil.
    /// Read from `/proc/locks` (the flock on node.lock's inode), so nothing is locked or signalled to find out.
    static func lockHolder(_ town: TownPaths) -> Int32? {
        var info = stat()
        guard stat(town.lockFile, &info) == 0,
            let locks = try? String(contentsOfFile: "/proc/locks", encoding: .utf8)
        else { return nil }
        let named = Set([recordedPid(town), NodeRuntimeInfo.load(town)?.pid].compactMap { $0 })
        for line in locks.split(separator: "\n") {
            // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF": kind, mode, pid, device:inode.
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1] == "FLOCK", let pid = Int32(fields[4]), named.contains(pid),
                let inode = fields[5].split(separator: ":").last.flatMap({ UInt64($0) }), inode == UInt64(info.st_ino),
                isAlive(pid)
            else { continue }
            return pid
        }
        return nil
    }

    /// The last `count` lines of `path`.
    static func tail(_ path: String, lines count: Int = 20) -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return Array(text.split(separator: "\n", omittingEmptySubsequences: false).suffix(count).map(String.init))
    }
}
