import Foundation
import Node
import Transport
import Wire

/// `gt cluster`: the cluster's certificate authority.
public struct ClusterGroup: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "cluster", abstract: "Create the cluster CA, issue join tokens, rotate the CA",
            subcommands: [ClusterInitCommand.self, ClusterTokenCommand.self, ClusterRotateCommand.self])
    }

    public init() {}
}

/// `gt cluster init [--name CLUSTER] [--node-name NAME]`.
public struct ClusterInitCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "init", abstract: "Create a cluster: its CA and this node's identity under <town>/.gt/pki/",
            discussion: """
                Makes an ECDSA P-256 CA (ca.crt, ca.key) and this node's key and certificate (node.crt,
                node.key; CN and SAN = the node name, 90 days, renewed by the node at two thirds of its life).
                Refuses a town that already has a CA or a node identity.
                """,
            options: [
                .option("name", value: "CLUSTER", help: "the cluster's name", default: "the town's name"),
                .option("node-name", value: "NAME", help: "this node's name", default: "the town's name"),
            ])
    }

    var name: String?
    var nodeName: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        name = parsed.string("name")
        nodeName = parsed.string("node-name")
        if let nodeName, (try? NodeName(nodeName)) == nil {
            throw parsed.invalid("bad --node-name '\(nodeName)': use 1-63 of a-z, 0-9, '-' and '.'")
        }
        if let name, name.isEmpty || name.count > 64 || name.contains(where: { $0.isNewline }) {
            throw parsed.invalid("bad --name: 1 to 64 characters on one line")
        }
    }

    /// What `--json` prints.
    struct Output: Encodable {
        var cluster: String
        var node: String
        var caFingerprint: String
        var certificate: CertificateInfo
        var pki: String

        enum CodingKeys: String, CodingKey {
            case cluster, node, certificate, pki
            case caFingerprint = "ca_fingerprint"
        }
    }

    public func run(_ context: CommandContext) async throws {
        let town = try NodeCLI.town(context)
        let pki = town.pki
        for file in [pki.caCertificate, pki.nodeCertificate] where FileManager.default.fileExists(atPath: file.path) {
            throw CLIError(
                "this town is already part of a cluster (\(file.path) exists)",
                hint: "nothing was changed; 'gt node cert show' shows its identity", code: "exists")
        }
        let node = try NodeCLI.nodeName(flag: nodeName, town: town)
        let cluster = name ?? (try? TownNodeConfig.load(town))?.townName ?? node.rawValue
        let identity: NodeIdentity
        do {
            identity = try await NodeBlocking.run { () throws(TransportError) -> NodeIdentity in
                try PKI.initCluster(at: pki, clusterName: cluster, nodeName: node)
            }
        } catch {
            throw NodeCLI.fail(error)
        }
        let output = Output(
            cluster: cluster, node: node.rawValue, caFingerprint: identity.trustedAuthorities[0].fingerprint,
            certificate: PKI.info(identity.certificate), pki: pki.url.path)
        try context.report(output) {
            context.console.out("Created cluster '\(cluster)' with node \(node)")
            context.console.out("  CA fingerprint: \(output.caFingerprint)")
            context.console.out(
                "  certificate:    valid until \(output.certificate.notAfter), \(NodeCLI.renewal(output.certificate.renewAt))"
            )
            context.console.out("  files:          \(output.pki)")
            context.console.out("  next:           gt up; then 'gt cluster token' for each node that joins")
        }
    }
}

/// `gt cluster token [--ttl DURATION] [--name NODE]`: a one-time join token.
public struct ClusterTokenCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "token", abstract: "Print a one-time join token (on the node holding the CA)",
            discussion: """
                The token is a one-time secret plus the CA certificate's fingerprint, so the joining node pins
                the CA. Only the secret's SHA-256 is stored (<town>/.gt/pki/tokens.jsonl); it is accepted once.
                With --name, the token admits only a node of that name; without it, any name that holds no
                unrevoked certificate. The running node issues it when it runs; otherwise the file is updated
                under a lock (<town>/.gt/pki/.lock), so concurrent commands never lose a token.
                """,
            options: [
                .option("ttl", value: "DURATION", help: "lifetime: 90s, 15m, 2h, 7d", default: "24h"),
                .option("name", value: "NODE", help: "the only node name the token admits", default: "any free name"),
            ])
    }

    var ttl: TimeInterval?
    var name: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        name = parsed.string("name")
        if let name, (try? NodeName(name)) == nil {
            throw parsed.invalid("bad --name '\(name)': use 1-63 of a-z, 0-9, '-' and '.'")
        }
        if let text = parsed.string("ttl") {
            guard let seconds = NodeCLI.duration(text), seconds <= 366 * 86_400 else {
                throw parsed.invalid("bad --ttl '\(text)': expected a duration like 90s, 15m, 2h or 7d (at most 366d)")
            }
            ttl = seconds
        }
    }

    public func run(_ context: CommandContext) async throws {
        let town = try NodeCLI.town(context)
        let report: TokenReport
        if let client = await NodeCLI.client(town) {
            defer { client.close() }
            do {
                report = try await client.request(
                    NodeMessageType.joinToken, TokenRequest(ttl: ttl, name: name), as: TokenReport.self)
            } catch {
                throw NodeCLI.fail(error)
            }
        } else {
            var settings = PKISettings()
            if let ttl { settings.joinTokenLifetime = ttl }
            let pki = town.pki
            let now = Date()
            let chosen = settings
            let bound = name.flatMap { try? NodeName($0) }
            do {
                let token = try await NodeBlocking.run { () throws(TransportError) -> JoinToken in
                    try PKI.makeJoinToken(at: pki, name: bound, now: now, settings: chosen)
                }
                report = TokenReport(
                    token: token.description, caFingerprint: token.caFingerprint,
                    expiresAt: now.addingTimeInterval(chosen.joinTokenLifetime), name: bound?.rawValue)
            } catch {
                throw NodeCLI.fail(error)
            }
        }
        try context.report(report) {
            context.console.out(report.token)
            if let bound = report.name {
                context.console.progress(
                    "one-time join token for node \(bound), expires \(report.expiresAt); use: "
                        + "gt node join <address> <token> --node-name \(bound)")
            } else {
                context.console.progress(
                    "one-time join token, expires \(report.expiresAt); use: gt node join <address> <token>")
            }
        }
    }
}

/// `gt cluster rotate-ca [--complete]`.
public struct ClusterRotateCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "rotate-ca", abstract: "Rotate the cluster CA (old and new trusted until --complete)",
            discussion: """
                On the CA node: makes a new CA, keeps the old one trusted (ca-previous.crt), and re-issues this
                node's certificate from the new CA; the running node rebuilds its transport. Every other node
                then needs a certificate from the new CA (see docs/pki.md). When all have one, run
                'gt cluster rotate-ca --complete' on each node to stop trusting the old CA.
                """,
            options: [.flag("complete", help: "finish a rotation: stop trusting the previous CA")])
    }

    var complete: Bool

    public init(parsed: ParsedValues) throws(UsageError) {
        complete = parsed.flag("complete")
    }

    public func run(_ context: CommandContext) async throws {
        let town = try NodeCLI.town(context)
        let report: RotateReport
        if let client = await NodeCLI.client(town) {
            defer { client.close() }
            do {
                report = try await client.request(
                    NodeMessageType.rotateCA, RotateRequest(complete: complete), as: RotateReport.self, timeout: 60)
            } catch {
                throw NodeCLI.fail(error)
            }
        } else {
            report = try await rotateOffline(town)
        }
        if context.jsonMode {
            try context.console.json(report)
        } else if complete {
            context.console.out("CA rotation completed: only CA \(report.caFingerprint) is trusted")
            if !report.notified.isEmpty { context.console.out("  told: \(report.notified.joined(separator: ", "))") }
        } else {
            context.console.out("CA rotation started: new CA \(report.caFingerprint)")
            context.console.out("  still trusted until --complete: \(report.previousCAFingerprint ?? "-")")
            if report.notified.isEmpty {
                context.console.out("  no peer was told (node not running or no peer connected); see docs/pki.md")
            } else {
                context.console.out("  told: \(report.notified.joined(separator: ", ")) (they renew from the new CA)")
            }
            context.console.out("  next: once every node shows the new CA in 'gt node cert show', run")
            context.console.out("        'gt cluster rotate-ca --complete'")
        }
    }

    private func rotateOffline(_ town: TownPaths) async throws -> RotateReport {
        let pki = town.pki
        let complete = self.complete
        let clusterName = Node.clusterName(town)
        do {
            return try await NodeBlocking.run { () throws(TransportError) -> RotateReport in
                let before = try pki.trustedAuthorities()
                if complete {
                    guard before.count > 1 else { throw .pki("no CA rotation is under way") }
                    // The CA town signs and records the `completed` notice, so nodes that catch up later learn it.
                    if pki.holdsCA { _ = try PKI.finishRotation(at: pki) } else { try PKI.completeRotation(at: pki) }
                    return RotateReport(
                        phase: "completed", caFingerprint: before[0].fingerprint, previousCAFingerprint: nil,
                        notified: [], nodeReloaded: false)
                }
                let (fresh, _) = try PKI.startRotation(at: pki, clusterName: clusterName)
                return RotateReport(
                    phase: "started", caFingerprint: fresh.certificate.fingerprint,
                    previousCAFingerprint: before[0].fingerprint, notified: [], nodeReloaded: false)
            }
        } catch {
            throw NodeCLI.fail(error)
        }
    }
}
