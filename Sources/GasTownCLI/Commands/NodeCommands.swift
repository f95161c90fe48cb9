import Dashboard
import Foundation
import Membership
import Node
import Transport
import Wire

/// `gt node`: the node daemon and its identity.
public struct NodeGroup: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "node", abstract: "Run this town's node, join a cluster, ping peers, manage certificates",
            subcommands: [
                NodeRunCommand.self, NodeJoinCommand.self, NodePingCommand.self, NodeCertGroup.self,
                NodeListCommand.self, NodeInfoCommand.self, NodeLeaveCommand.self, NodeDrainCommand.self,
                NodeUndrainCommand.self, NodeRemoveCommand.self, NodeRenameCommand.self, NodeFloodCommand.self,
            ])
    }

    public init() {}
}

/// `gt node run [--listen HOST:PORT] [--join HOST:PORT ...]`: the daemon, in the foreground.
public struct NodeRunCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "run", abstract: "Run the node daemon in the foreground (until SIGTERM or SIGINT)",
            discussion: """
                Loads <town>/.gt/pki/{ca.crt,node.crt,node.key}, listens for peers over mutual TLS, serves
                <town>/.gt/node.sock for the local CLI, dials the seeds, and supervises the node's components.
                The bound address is written to <town>/.gt/node.json; logs go to <town>/.gt/logs/node.log.
                --config FILE is checked and applied first, as with 'gt up --config' (the container entrypoint,
                docker/entrypoint.sh, starts its node this way).
                """,
            options: [
                .option(
                    "listen", value: "HOST:PORT", help: "where to listen (port 0: any free port)",
                    default: "town.json node.listen, else 127.0.0.1:7420"),
                NodeCLI.joinOption,
                NodeCLI.dashboardOption,
                .option("config", value: "FILE", help: "a cluster config (town.json): checked, then applied"),
            ])
    }

    var listen: String?
    var seeds: [String]
    var dashboard: String?
    var config: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        config = parsed.string("config")
        listen = parsed.string("listen")
        seeds = parsed.strings("join")
        dashboard = parsed.string("dashboard")
        try NodeCLI.checkAddresses([listen, dashboard].compactMap { $0 } + seeds, parsed)
    }

    public func run(_ context: CommandContext) async throws {
        let town = try NodeCLI.town(context)
        if let config {
            if let client = await NodeCLI.client(town) {
                client.close()
                throw CLIError(
                    "a node already runs for this town; --config \(config) was not applied",
                    hint: "stop it with 'gt down', then run again", code: "running")
            }
            let name = try await ClusterConfigCLI.apply(config, to: town, context: context)
            context.console.progress("applied \(config) to \(town.townFile) (node \(name))")
        }
        let membership = MembershipComponent(
            seeds: seeds, metadata: Membership.Metadata(softwareVersion: GasTownVersion.current))
        let options = NodeOptions(
            listen: listen, seeds: seeds, echoLog: isatty(2) != 0,
            components: DashboardComponent.adding(
                to: NodeComponents.standard(executor: CLICommandExecutor(), membership: membership),
                settings: DashboardSettings(listen: dashboard)))
        let runtime: NodeRuntimeInfo
        do {
            runtime = try await Node.runForeground(town: town.root, options: options)
        } catch {
            throw NodeCLI.fail(error)
        }
        try context.report(runtime) {
            context.console.out("node \(runtime.name) stopped")
        }
    }
}

/// `gt node join <address> <token> [--node-name NAME] [--replace] [--listen HOST:PORT]`: gets this town's node
/// certificate from a cluster and records the seed and a stable listen address in town.json.
public struct NodeJoinCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "join", abstract: "Join a cluster: get a node certificate signed over the wire",
            discussion: """
                Connects to a node holding the cluster CA, checks that it presents the CA the token pins, sends
                a certificate request with the one-time token, and installs the signed certificate, the CA and
                the revocations under <town>/.gt/pki/. The name must be free (hold no unrevoked certificate) and
                match the token's --name if it was issued with one; --replace takes a name that is in use,
                revoking the old holder's certificates first. The address is recorded as a seed (node.join in
                mayor/town.json) with a stable listen address (node.listen), so a plain 'gt up' rejoins.
                """,
            options: [
                .option("node-name", value: "NAME", help: "this node's name", default: "the town's name"),
                .flag("replace", help: "take a name in use: revoke its current certificates first"),
                .option(
                    "listen", value: "HOST:PORT", help: "where this node will listen (recorded as node.listen)",
                    default: "node.listen, else port 7420 (or a free one) on loopback or all interfaces"),
            ],
            arguments: [
                ArgumentSpec("address", help: "HOST:PORT of a running node that holds the CA"),
                ArgumentSpec("token", help: "the token printed by 'gt cluster token'"),
            ])
    }

    var address: String
    var token: String
    var nodeName: String?
    var replace: Bool
    var listen: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        address = parsed.argument("address")
        token = parsed.argument("token")
        nodeName = parsed.string("node-name")
        replace = parsed.flag("replace")
        listen = parsed.string("listen")
        if let nodeName, (try? NodeName(nodeName)) == nil {
            throw parsed.invalid("bad --node-name '\(nodeName)': use 1-63 of a-z, 0-9, '-' and '.'")
        }
        try NodeCLI.checkAddresses([address] + [listen].compactMap { $0 }, parsed)
    }

    /// What `--json` prints.
    struct Output: Encodable {
        var node: String
        var address: String
        var caFingerprint: String
        var certificate: CertificateInfo
        var listen: String
        var seeds: [String]

        enum CodingKeys: String, CodingKey {
            case node, address, certificate, listen, seeds
            case caFingerprint = "ca_fingerprint"
        }
    }

    /// The listen address to record: `--listen`, else town.json's, else port 7420 (or a free port) on loopback
    /// when the seed is on loopback, on all interfaces otherwise.
    static func stableListen(flag: String?, config: TownNodeConfig?, seed: PeerAddress) -> String {
        if let flag { return flag }
        if let listen = config?.listen { return listen }
        var host = "0.0.0.0"
        if case .tcp(let seedHost, _) = seed, seedHost == "localhost" || seedHost.hasPrefix("127.") || seedHost == "::1"
        {
            host = "127.0.0.1"
        }
        let port = PortProbe.available(host: host, preferred: 7420) ?? 7420
        return "\(host):\(port)"
    }

    public func run(_ context: CommandContext) async throws {
        let town = try NodeCLI.town(context)
        let name = try NodeCLI.nodeName(flag: nodeName, town: town)
        let parsedToken: JoinToken
        let peer: PeerAddress
        do {
            parsedToken = try JoinToken(parsing: token)
            peer = try PeerAddress(parsing: address)
        } catch {
            throw CLIError(error.description, code: "bad_token")
        }
        let identity: NodeIdentity
        do {
            identity = try await JoinClient.join(
                address: peer, token: parsedToken, nodeName: name, directory: town.pki, replace: replace)
        } catch {
            throw CLIError(error.description, hint: nil, code: "join_refused")
        }
        let listenAddress = Self.stableListen(flag: listen, config: try? TownNodeConfig.load(town), seed: peer)
        let seed = peer.description
        let recorded: TownNodeConfig
        do {
            recorded = try await NodeBlocking.run { () throws(NodeError) -> TownNodeConfig in
                try TownNodeConfig.update(town) { config in
                    if !config.join.contains(seed) { config.join.append(seed) }
                    config.listen = listenAddress
                }
                return try TownNodeConfig.load(town)
            }
        } catch {
            throw CLIError(
                "joined as \(identity.name), but could not record the seed in \(town.townFile): \(error)",
                hint: "start the node with 'gt up --join \(seed)'", code: "io")
        }
        let output = Output(
            node: identity.name.rawValue, address: peer.description, caFingerprint: parsedToken.caFingerprint,
            certificate: PKI.info(identity.certificate, revocations: identity.revocations),
            listen: recorded.listen ?? listenAddress, seeds: recorded.join)
        try context.report(output) {
            context.console.out("Joined the cluster as node \(output.node)")
            let fingerprint = output.certificate.fingerprint.prefix(16)
            context.console.out("  certificate: \(fingerprint)…, valid until \(output.certificate.notAfter)")
            context.console.out("  cluster CA:  \(output.caFingerprint)")
            context.console.out(
                "  recorded:    node.join \(output.seeds.joined(separator: ",")), node.listen \(output.listen) "
                    + "(\(town.townFile))")
            context.console.out("  next:        gt up")
        }
    }
}

/// `gt node ping <address> [--count N]`: the peer's verified identity and round-trip time.
public struct NodePingCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "ping", abstract: "Ping a node over mutual TLS: its verified identity and round-trip time",
            discussion: """
                Asks the running node to ping (over its link to that peer when it has one); when this town's
                node is not running, connects directly with the town's identity. A member's name (as in
                'gt node list') is looked up by the running node, which checks the answer carries that name.
                """,
            options: [
                .option("count", short: "c", value: "N", type: .integer(1...100), help: "pings to send", default: "3")
            ],
            arguments: [ArgumentSpec("address", help: "HOST:PORT of the node, or a member's name")])
    }

    var address: String
    var count: Int

    /// What to check when a ping fails.
    static let hint =
        "check the address, that both nodes belong to the same cluster, and that neither certificate is revoked "
        + "('gt node cert show')"

    public init(parsed: ParsedValues) throws(UsageError) {
        address = parsed.argument("address")
        count = try parsed.int("count") ?? 3
        if (try? PeerAddress(parsing: address)) == nil && (try? NodeName(address)) == nil {
            throw parsed.invalid("bad address '\(address)': expected HOST:PORT or a member's name")
        }
    }

    public func run(_ context: CommandContext) async throws {
        let town = try NodeCLI.town(context)
        let report: PingReport
        if let client = await NodeCLI.client(town) {
            defer { client.close() }
            do {
                report = try await client.request(
                    NodeMessageType.ping, PingRequest(address: address, count: count), as: PingReport.self, timeout: 60)
            } catch {
                throw CLIError(error.description, hint: Self.hint, code: "refused")
            }
        } else {
            guard (try? PeerAddress(parsing: address)) != nil else {
                throw CLIError(
                    "'\(address)' is a member's name, and only the running node knows where members are",
                    hint: "start it with 'gt up', or give the member's HOST:PORT", code: "not_running")
            }
            let pki = town.pki
            let identity: NodeIdentity
            do {
                identity = try await NodeBlocking.run { () throws(TransportError) in try pki.loadIdentity() }
            } catch {
                throw NodeCLI.fail(NodeError.noIdentity(error.description))
            }
            do {
                report = try await NodePing.ping(
                    address: try PeerAddress(parsing: address), identity: identity, count: count)
            } catch {
                throw CLIError("ping \(address) failed: \(error)", hint: Self.hint, code: "refused")
            }
        }
        try context.report(report) {
            for line in NodePing.describe(report) { context.console.out(line) }
        }
    }
}

/// `gt node cert`: show and revoke node certificates.
public struct NodeCertGroup: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "cert", abstract: "Show or revoke node certificates",
            subcommands: [NodeCertShowCommand.self, NodeCertRevokeCommand.self, NodeCertRenewCommand.self])
    }

    public init() {}
}

/// `gt node cert show [<node>]`.
public struct NodeCertShowCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "show", abstract: "Show a node certificate: subject, issuer, validity, fingerprint, renew-at",
            discussion:
                "Without <node>, this node's certificate; with it, the latest certificate of that peer seen here.",
            arguments: [ArgumentSpec("node", help: "a peer's name", arity: .optional)])
    }

    var node: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        node = parsed.optionalArgument("node")
    }

    /// What `--json` prints (the fields of `CertificateInfo`, in snake case).
    struct Output: Encodable {
        var node: String
        var subject: String
        var issuer: String
        var serial: String
        var fingerprint: String
        var notBefore: Date
        var notAfter: Date
        var renewAt: Date
        var revoked: Bool
        var caFingerprint: String?
        var holdsCA: Bool?

        enum CodingKeys: String, CodingKey {
            case node, subject, issuer, serial, fingerprint, revoked
            case notBefore = "not_before"
            case notAfter = "not_after"
            case renewAt = "renew_at"
            case caFingerprint = "ca_fingerprint"
            case holdsCA = "holds_ca"
        }
    }

    public func run(_ context: CommandContext) async throws {
        let town = try NodeCLI.town(context)
        let pki = town.pki
        let identity: NodeIdentity
        do {
            identity = try await NodeBlocking.run { () throws(TransportError) in try pki.loadIdentity() }
        } catch {
            throw NodeCLI.fail(NodeError.noIdentity(error.description))
        }
        let output: Output
        if node == nil || node == identity.name.rawValue {
            let authority = identity.trustedAuthorities.first { identity.certificate.isSigned(by: $0) }
            let info = PKI.info(identity.certificate, revocations: identity.revocations)
            output = Output(
                node: identity.name.rawValue, subject: info.subject, issuer: info.issuer, serial: info.serial,
                fingerprint: info.fingerprint, notBefore: info.notBefore, notAfter: info.notAfter,
                renewAt: info.renewAt,
                revoked: info.revoked, caFingerprint: authority?.fingerprint, holdsCA: pki.holdsCA)
        } else {
            // The file is appended in the order certificates are seen: the last record is the newest.
            guard let record = KnownPeerRecord.load(town).last(where: { $0.node == node }) else {
                throw CLIError(
                    "no certificate of \(node!) has been seen by this node",
                    hint: "it must have connected to this node once",
                    code: "not_found")
            }
            let life = record.notAfter.timeIntervalSince(record.notBefore)
            output = Output(
                node: record.node, subject: record.node, issuer: record.issuer, serial: record.serial,
                fingerprint: record.fingerprint, notBefore: record.notBefore, notAfter: record.notAfter,
                renewAt: record.notBefore.addingTimeInterval(life * PKISettings().renewalFraction),
                revoked: identity.revocations.isRevoked(serial: record.serial), caFingerprint: nil, holdsCA: nil)
        }
        try context.report(output) {
            context.console.out("node:        \(output.node)")
            context.console.out("subject:     CN=\(output.subject)")
            context.console.out("issuer:      CN=\(output.issuer)")
            context.console.out("serial:      \(output.serial)")
            context.console.out("fingerprint: \(output.fingerprint)")
            context.console.out("valid:       \(output.notBefore) to \(output.notAfter)")
            context.console.out("renewal:     \(NodeCLI.renewal(output.renewAt))")
            context.console.out("revoked:     \(output.revoked ? "yes" : "no")")
            if let fingerprint = output.caFingerprint { context.console.out("cluster CA:  \(fingerprint)") }
            if let holds = output.holdsCA { context.console.out("holds CA:    \(holds ? "yes" : "no")") }
        }
    }
}

/// `gt node cert revoke <node> [--serial HEX]`.
public struct NodeCertRevokeCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "revoke", abstract: "Revoke a node's certificates (CA node only); its live connections are dropped",
            discussion: """
                Signs a revocation with the cluster CA and appends it to <town>/.gt/pki/revocations.jsonl. A running
                node applies it at once (dropping the peer's connections) and spreads it to its peers; nodes also
                re-read the file every few seconds.
                """,
            options: [
                .option(
                    "serial", value: "HEX", help: "revoke this serial (default: every certificate of <node> seen here)")
            ],
            arguments: [ArgumentSpec("node", help: "the node to revoke")])
    }

    var node: String
    var serial: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        node = parsed.argument("node")
        serial = parsed.string("serial")
        if let serial, serial.isEmpty || !serial.allSatisfy(\.isHexDigit) {
            throw parsed.invalid("bad --serial '\(serial)': expected hex digits")
        }
    }

    public func run(_ context: CommandContext) async throws {
        let town = try NodeCLI.town(context)
        let report: RevokeReport
        if let client = await NodeCLI.client(town) {
            defer { client.close() }
            do {
                report = try await client.request(
                    NodeMessageType.revoke, RevokeRequest(node: node, serial: serial), as: RevokeReport.self)
            } catch {
                throw NodeCLI.fail(error)
            }
        } else {
            report = try await revokeOffline(town)
        }
        try context.report(report) {
            let serials = report.serials.joined(separator: ", ")
            context.console.out("Revoked \(report.serials.count) certificate(s) of \(report.node): \(serials)")
            if !report.applied {
                context.console.out("  the node is not running: it applies the revocation when it starts")
            }
        }
    }

    private func revokeOffline(_ town: TownPaths) async throws -> RevokeReport {
        let pki = town.pki
        guard pki.holdsCA else {
            throw CLIError("this town does not hold the CA key", hint: "revoke on the CA node", code: "refused")
        }
        let node = self.node
        let serials =
            serial.map { [$0.uppercased()] }
            ?? Array(Set(KnownPeerRecord.load(town).filter { $0.node == node }.map(\.serial))).sorted()
        guard !serials.isEmpty else {
            throw CLIError(
                "no certificate of \(node) has been seen by this node", hint: "pass --serial", code: "not_found")
        }
        let done = try await NodeBlocking.run { () throws(TransportError) -> [String] in
            let known = try pki.revocations(trusting: pki.trustedAuthorities())
            var revoked: [String] = []
            for serial in serials where !known.isRevoked(serial: serial) {
                try PKI.revoke(at: pki, serial: serial, node: node)
                revoked.append(serial)
            }
            return revoked
        }
        return RevokeReport(node: node, serials: done, applied: false)
    }
}

/// `gt node cert renew`: renews this node's certificate now (the node also does it at 2/3 of its life).
public struct NodeCertRenewCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "renew", abstract: "Renew this node's certificate now",
            discussion: """
                The running node renews with its own CA key, or over the wire from a connected node holding the
                CA, and presents the new certificate at once. Without a running node, only a town holding the CA
                key can renew (offline).
                """)
    }

    public init(parsed: ParsedValues) throws(UsageError) {}

    public func run(_ context: CommandContext) async throws {
        let town = try NodeCLI.town(context)
        let info = try await NodeCLI.renewCertificate(town)
        try context.report(info) {
            context.console.out(
                "Renewed: serial \(info.serial), valid until \(info.notAfter), \(NodeCLI.renewal(info.renewAt))")
        }
    }
}
