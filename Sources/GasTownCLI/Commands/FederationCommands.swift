import Foundation
import LedgerStore
import Node
import Town
import Transport
import Wire

/// `gt federation`: trust between organizations (docs/federation.md).
public struct FederationGroup: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "federation", abstract: "Trust other organizations: export and add trust bundles, set what they may read",
            subcommands: [
                FederationExportCommand.self, FederationAddCommand.self, FederationListCommand.self,
                FederationShowCommand.self, FederationRemoveCommand.self,
            ])
    }

    public init() {}
}

enum FederationCLI {
    static func directory(_ town: TownPaths) -> FederationDirectory {
        FederationDirectory(URL(fileURLWithPath: town.stateDirectory + "/federation"))
    }

    /// What `list` and `show` print per peer.
    struct PeerOutput: Encodable {
        var organization: String
        var caFingerprint: String
        var endpoints: [FederationEndpoint]
        var policy: FederationPolicy
        var addedAt: String
        var reputation: PeerReputation

        enum CodingKeys: String, CodingKey {
            case organization, endpoints, policy, reputation
            case caFingerprint = "ca_fingerprint"
            case addedAt = "added_at"
        }

        init(_ peer: PeerOrganization) {
            organization = peer.organization.rawValue
            caFingerprint = peer.caFingerprint
            endpoints = peer.endpoints
            policy = peer.policy
            addedAt = peer.addedAt
            reputation = peer.reputation
        }
    }

    static func describe(_ policy: FederationPolicy) -> String {
        let rigs = policy.read.rigs.isEmpty ? "nothing" : "rigs " + policy.read.rigs.joined(separator: ",")
        let types = policy.read.types.isEmpty ? "" : " (types " + policy.read.types.joined(separator: ",") + ")"
        return "may read \(rigs)\(types); may \(policy.delegate ? "" : "not ")delegate"
    }

    static func fail(_ error: TransportError) -> CLIError {
        if case .pki(let message) = error { return CLIError(message, hint: "nothing was changed", code: "federation") }
        return CLIError(error.description, hint: "nothing was changed", code: "federation")
    }
}

/// `gt federation export [-o FILE] [--endpoint HOST:PORT]…`.
public struct FederationExportCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "export", abstract: "Print (or write) this organization's trust bundle, signed by its CA",
            discussion: """
                The bundle holds the organization's name (town.json federation.organization, else the cluster's
                name), its CA certificate, and the endpoints of its federation listeners (--endpoint, else this
                node at town.json federation.listen), signed with the CA key: run it on the node holding ca.key.
                Hand the file to the other organization; they run `gt federation add FILE`.
                """,
            options: [
                .option("output", short: "o", value: "FILE", help: "write the bundle to FILE", default: "stdout"),
                .option(
                    "endpoint", value: "[NODE=]HOST:PORT", kind: .repeated,
                    help: "a federation endpoint (repeatable); NODE defaults to this node",
                    default: "this node at federation.listen"),
            ])
    }

    var output: String?
    var endpoints: [String]

    public init(parsed: ParsedValues) throws(UsageError) {
        output = parsed.string("output")
        endpoints = parsed.strings("endpoint")
    }

    struct Output: Encodable {
        var organization: String
        var caFingerprint: String
        var endpoints: [FederationEndpoint]
        var file: String?
        enum CodingKeys: String, CodingKey {
            case organization, endpoints, file
            case caFingerprint = "ca_fingerprint"
        }
    }

    public func run(_ context: CommandContext) async throws {
        let town = try NodeCLI.town(context)
        let file: TownFile
        do { file = try TownFile.load(town.townFile) } catch {
            throw CLIError(error.message, hint: "fix mayor/town.json", code: "config")
        }
        let pki = town.pki
        let given = endpoints
        let bundle: TrustBundle
        do {
            bundle = try await NodeBlocking.run { () throws(TransportError) -> TrustBundle in
                let authority = try pki.authority()
                let identity = try pki.loadIdentity()
                var list: [FederationEndpoint] = []
                for text in given {
                    if let equals = text.firstIndex(of: "=") {
                        list.append(
                            FederationEndpoint(
                                node: String(text[..<equals]), address: String(text[text.index(after: equals)...])))
                    } else {
                        list.append(FederationEndpoint(node: identity.name.rawValue, address: text))
                    }
                }
                if list.isEmpty, let listen = file.federation.listen {
                    list.append(FederationEndpoint(node: identity.name.rawValue, address: listen))
                }
                guard !list.isEmpty else {
                    throw .pki(
                        "no federation endpoint: set federation.listen in mayor/town.json (and restart the node), or pass --endpoint HOST:PORT"
                    )
                }
                let name = try FederationDirectory.organizationName(configured: file.federation.organization, pki: pki)
                return try TrustBundle.make(
                    organization: try OrganizationName(name), authority: authority, endpoints: list)
            }
        } catch {
            throw FederationCLI.fail(error)
        }
        let bytes = bundle.encoded()
        if let output {
            do {
                try AtomicFile.write(bytes, to: output)
            } catch {
                throw CLIError("cannot write \(output): \(error)", code: "io")
            }
        }
        let result = Output(
            organization: bundle.organization.rawValue,
            caFingerprint: (try? Certificate(pem: bundle.caPEM).fingerprint) ?? "", endpoints: bundle.endpoints,
            file: output)
        if output == nil && !context.jsonMode {
            context.console.out(String(decoding: bytes.dropLast(), as: UTF8.self))
            return
        }
        try context.report(result) {
            context.console.out("Wrote the trust bundle of \(result.organization) to \(output ?? "-")")
            context.console.out("  CA fingerprint: \(result.caFingerprint)")
            for endpoint in result.endpoints { context.console.out("  endpoint:       \(endpoint.node) \(endpoint.address)") }
        }
    }
}

/// `gt federation add <bundle> [--allow-read RIG,…] [--allow-types T,…] [--allow-delegate] [--policy FILE]`.
public struct FederationAddCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "add", abstract: "Trust another organization's bundle, with what it may do here",
            discussion: """
                Verifies the bundle (its CA signed it) and records the organization in
                <town>/.gt/federation/peers.json. With no policy the peer may read nothing and delegate nothing.
                --policy FILE is a JSON policy ({"read": {"rigs": [...], "types": [...]}, "delegate": false,
                "budgets": {...}}); --allow-read/--allow-types/--allow-delegate are added to it. A running node
                picks the change up within 2 s.
                """,
            options: [
                .option("allow-read", value: "RIG,…", kind: .commaList, help: "rigs the peer may read ('*': all)"),
                .option("allow-types", value: "TYPE,…", kind: .commaList, help: "bead types it may read", default: "all"),
                .flag("allow-delegate", help: "the peer may delegate work to us"),
                .option("policy", value: "FILE", help: "a JSON policy file"),
            ],
            arguments: [ArgumentSpec("bundle", help: "the trust bundle file (from `gt federation export`)")])
    }

    var bundle: String
    var allowRead: [String]
    var allowTypes: [String]
    var allowDelegate: Bool
    var policyFile: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        bundle = parsed.argument("bundle")
        allowRead = parsed.strings("allow-read").filter { !$0.isEmpty }
        allowTypes = parsed.strings("allow-types").filter { !$0.isEmpty }
        allowDelegate = parsed.flag("allow-delegate")
        policyFile = parsed.string("policy")
        for rig in allowRead where rig != "*" && !rig.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "/" }) {
            throw parsed.invalid("bad --allow-read rig '\(rig)'")
        }
    }

    public func run(_ context: CommandContext) async throws {
        let town = try NodeCLI.town(context)
        guard let bytes = FileManager.default.contents(atPath: bundle) else {
            throw CLIError("cannot read the bundle \(bundle)", hint: "nothing was changed", code: "not_found")
        }
        var policy = FederationPolicy.none
        if let policyFile {
            guard let data = FileManager.default.contents(atPath: policyFile) else {
                throw CLIError("cannot read the policy file \(policyFile)", hint: "nothing was changed", code: "not_found")
            }
            do { policy = try FederationPolicy.decode(Array(data)) } catch { throw FederationCLI.fail(error) }
        }
        for rig in allowRead where !policy.read.rigs.contains(rig) { policy.read.rigs.append(rig) }
        for type in allowTypes where !policy.read.types.contains(type) { policy.read.types.append(type) }
        if allowDelegate { policy.delegate = true }
        let directory = FederationCLI.directory(town)
        let pki = town.pki
        let chosen = policy
        let peer: PeerOrganization
        do {
            peer = try await NodeBlocking.run { () throws(TransportError) -> PeerOrganization in
                let own = (try? pki.trustedAuthorities()) ?? []
                return try directory.add(bundle: Array(bytes), policy: chosen, ownAuthorities: own)
            }
        } catch {
            throw FederationCLI.fail(error)
        }
        let output = FederationCLI.PeerOutput(peer)
        try context.report(output) {
            context.console.out("Added organization \(output.organization) (CA \(output.caFingerprint.prefix(16))…)")
            context.console.out("  policy: \(FederationCLI.describe(peer.policy))")
        }
    }
}

/// `gt federation list`.
public struct FederationListCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(name: "list", abstract: "List the organizations this town trusts")
    }

    public init(parsed: ParsedValues) throws(UsageError) {}

    public func run(_ context: CommandContext) async throws {
        let directory = FederationCLI.directory(try NodeCLI.town(context))
        let peers: [PeerOrganization]
        do {
            peers = try await NodeBlocking.run { () throws(TransportError) in try directory.peers() }
        } catch {
            throw FederationCLI.fail(error)
        }
        try context.report(peers.map(FederationCLI.PeerOutput.init)) {
            if peers.isEmpty { context.console.out("No peer organizations; add one with `gt federation add BUNDLE`") }
            for peer in peers {
                context.console.out(
                    "\(peer.organization)  CA \(peer.caFingerprint.prefix(16))…  \(peer.endpoints.count) endpoint(s)  "
                        + FederationCLI.describe(peer.policy))
            }
        }
    }
}

/// `gt federation show <org>`.
public struct FederationShowCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "show", abstract: "Show one peer organization: CA, endpoints, policy",
            arguments: [ArgumentSpec("org", help: "the organization's name")])
    }

    var org: String

    public init(parsed: ParsedValues) throws(UsageError) { org = parsed.argument("org") }

    public func run(_ context: CommandContext) async throws {
        let directory = FederationCLI.directory(try NodeCLI.town(context))
        let name = org
        let peer: PeerOrganization
        do {
            peer = try await NodeBlocking.run { () throws(TransportError) in try directory.peer(name) }
        } catch {
            throw CLIError(error.description, code: "not_found")
        }
        try context.report(FederationCLI.PeerOutput(peer)) {
            context.console.out("organization: \(peer.organization)")
            context.console.out("CA:           \(peer.caFingerprint)")
            for endpoint in peer.endpoints { context.console.out("endpoint:     \(endpoint.node) \(endpoint.address)") }
            context.console.out("policy:       \(FederationCLI.describe(peer.policy))")
            if let beads = peer.policy.budgets.concurrentBeads { context.console.out("budget:       \(beads) concurrent beads") }
            if let hours = peer.policy.budgets.agentHours { context.console.out("budget:       \(hours) agent-hours") }
            context.console.out("added:        \(peer.addedAt)")
            let counts = peer.reputation
            context.console.out(
                "reputation:   delegated \(counts.delegated), accepted \(counts.accepted), rejected \(counts.rejected), late \(counts.late)")
        }
    }
}

/// `gt federation remove <org>`.
public struct FederationRemoveCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "remove", abstract: "Stop trusting an organization (a running node drops its links within 2 s)",
            arguments: [ArgumentSpec("org", help: "the organization's name")])
    }

    var org: String

    public init(parsed: ParsedValues) throws(UsageError) { org = parsed.argument("org") }

    public func run(_ context: CommandContext) async throws {
        let directory = FederationCLI.directory(try NodeCLI.town(context))
        let name = org
        let peer: PeerOrganization
        do {
            peer = try await NodeBlocking.run { () throws(TransportError) in try directory.remove(name) }
        } catch {
            throw CLIError(error.description, hint: "nothing was changed", code: "not_found")
        }
        try context.report(FederationCLI.PeerOutput(peer)) {
            context.console.out("Removed organization \(peer.organization)")
        }
    }
}

/// `gt delegate <bead> --to <org> --gate '<command>' [--rig RIG] [--budget HOURS] [--deadline DURATION]`.
public struct GTDelegateCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "delegate", abstract: "Hand a bead to another organization, with the acceptance gate its work must pass",
            discussion: """
                Sends the bead (title, description, its hop:// address) to organization ORG over the federation
                link, through this town's running node. ORG's policy for us must allow delegation
                (gt federation add … --allow-delegate) and its budgets (concurrent_beads, agent_hours) must have
                room. ORG records a linked bead in its own ledger (label delegated-from:<us>, external_ref the
                hop:// address) and slings it on its own nodes. When its polecat is done, ORG pushes the branch
                delegated/ORG/<bead> to --return-to (default: the bead's rig's remote). This node then runs the
                gate in a sandbox (a fresh clone in a temporary directory, an environment of PATH, HOME and
                TMPDIR only) and, when it passes, files a merge request the rig's Refinery merges; when it fails,
                the bead comes back to us with the gate's output as a comment. Here the bead is held by
                federation/ORG until then; when the deadline passes first it is released back to us (open,
                unassigned). A refusal, an exhausted budget and an expiry are recorded on the bead (metadata
                "delegation"), and every outcome counts in `gt federation show ORG`.
                """,
            options: [
                .option("to", value: "ORG", help: "the organization to delegate to (one added with gt federation add)"),
                .option("gate", value: "COMMAND", help: "the acceptance gate command run on the returned branch"),
                .option("rig", value: "RIG", help: "the receiver's rig to land in", default: "the receiver's only rig"),
                .option("budget", value: "HOURS", help: "agent-hours the receiver may spend", default: "no limit"),
                .option("deadline", value: "DURATION", help: "how long the receiver has (90s, 30m, 2h, 7d)", default: "none"),
                .option(
                    "return-to", value: "URL", help: "the git remote the receiver pushes the finished branch to",
                    default: "the bead's rig's remote"),
            ],
            arguments: [ArgumentSpec("bead", help: "the local bead to delegate")])
    }

    var bead: String
    var to: String
    var gate: String
    var rig: String
    var budgetMilliHours: UInt32
    var deadlineSeconds: TimeInterval?
    var returnTo: String

    public init(parsed: ParsedValues) throws(UsageError) {
        bead = parsed.argument("bead")
        returnTo = parsed.string("return-to") ?? ""
        guard let to = parsed.string("to"), !to.isEmpty else { throw parsed.invalid("--to ORG is required") }
        guard let gate = parsed.string("gate"), !gate.allSatisfy(\.isWhitespace) else {
            throw parsed.invalid("--gate '<command>' is required: the acceptance gate the returned work must pass")
        }
        self.to = to
        self.gate = gate
        rig = parsed.string("rig") ?? ""
        if let text = parsed.string("budget") {
            guard let hours = Double(text), hours > 0, hours < 4_000_000 else {
                throw parsed.invalid("--budget '\(text)' is not a positive number of agent-hours")
            }
            budgetMilliHours = UInt32((hours * 1000).rounded(.up))
        } else {
            budgetMilliHours = 0
        }
        if let text = parsed.string("deadline") {
            guard let seconds = NodeCLI.duration(text) else {
                throw parsed.invalid("--deadline '\(text)' is not a duration like 90s, 30m, 2h or 7d")
            }
            deadlineSeconds = seconds
        }
    }

    struct Output: Encodable {
        var bead: String
        var to: String
        var state: String
        var remote: String?
        var reason: String?
        var deadline: String?
    }

    public func run(_ context: CommandContext) async throws {
        let town = try NodeCLI.town(context)
        let directory = FederationCLI.directory(town)
        let org = to
        do {
            _ = try await NodeBlocking.run { () throws(TransportError) in try directory.peer(org) }
        } catch {
            throw CLIError(
                error.description, hint: "get its trust bundle and run `gt federation add BUNDLE`; nothing was changed",
                code: "unknown_organization")
        }
        let deadline = deadlineSeconds.map { Date().addingTimeInterval($0) }
        let request = LocalDelegateRequest(
            organization: to, bead: bead, rig: rig, gate: gate, budgetMilliHours: budgetMilliHours,
            deadline: deadline.map { UInt64($0.timeIntervalSince1970.rounded(.up)) } ?? 0, returnTo: returnTo)
        let client: NodeClient
        do {
            client = try await NodeClient.connect(town)
        } catch {
            throw CLIError(
                "delegating goes through this town's node, and none is running (\(error))",
                hint: "start it with 'gt up' (in \(town.root))", code: "node_down")
        }
        defer { client.close() }
        let reply: FederatedDelegateReply
        do {
            let answer = try await client.requestRaw(.federationLocalDelegate, body: request.encoded(), timeout: 30)
            reply = try FederatedDelegateReply.decode(answer.body)
        } catch let error as TransportError {
            if case .remoteError(let reply) = error {
                throw CLIError(reply.message, hint: "nothing was delegated", code: reply.code == .unavailable ? "unavailable" : "delegation")
            }
            throw CLIError("the delegation failed: \(error)", code: "delegation")
        } catch let error as WireError {
            throw CLIError("the node's answer did not decode: \(error)", code: "delegation")
        }
        let state: String
        switch reply.outcome {
        case .accepted: state = "accepted"
        case .refused: state = "refused"
        case .budgetExhausted: state = "budget_exhausted"
        }
        let output = Output(
            bead: bead, to: to, state: state,
            remote: reply.outcome == .accepted ? "hop://\(to)/\(reply.rig)/\(reply.bead)" : nil,
            reason: reply.reason.isEmpty ? nil : reply.reason,
            deadline: deadline.map { ISO8601DateFormatter().string(from: $0) })
        guard reply.outcome == .accepted else {
            throw CLIError(
                "\(to) did not take \(bead): \(reply.reason)", hint: "recorded on \(bead) (delegation state \(state)); it stays ours",
                code: state)
        }
        try context.report(output) {
            context.console.out("Delegated \(bead) to \(to): accepted as \(output.remote ?? "")")
            context.console.out("  gate:     \(gate)")
            if let deadline = output.deadline { context.console.out("  deadline: \(deadline) (then released back here)") }
            if budgetMilliHours > 0 { context.console.out("  budget:   \(Double(budgetMilliHours) / 1000) agent-hours") }
        }
    }
}
