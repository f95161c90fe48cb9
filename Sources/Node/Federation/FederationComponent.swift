import Beads
import Foundation
import LedgerStore
import Town
import Transport
import Wire

/// Message types the local CLI sends the node's federation component (402–409).
extension MessageType {
    /// `bd show hop://…`, `bd list --org`: local request; body = organization short string + a
    /// `FederatedReadRequest`; answer = the peer's `FederatedReadReply`.
    public static let federationLocalRead = MessageType(rawValue: 402)
}

/// Federation with other organizations (DESIGN §9, docs/federation.md): the node's own trust domains.
///
/// * **Inbound.** When town.json has `federation.listen`, a federation listener serves there with this node's
///   certificate, trusting only the CAs of the peer organizations in `<town>/.gt/federation/peers.json` (never
///   our own CA, and our cluster listener never trusts theirs). Each request's sender is identified as
///   (trust anchor fingerprint, name): the peer CA that verified its certificate names its organization, whose
///   policy decides what it may read.
/// * **Outbound.** One connection manager per peer organization, with a TLS context trusting only that
///   organization's CA, dialing the endpoints of its bundle. The same frames, hello and links as the cluster.
/// * `peers.json` is re-read every `reloadInterval` (2 s): an added peer is trusted and dialed, a removed one's
///   links are closed.
///
/// `Sendable`: an actor.
public actor FederationComponent: NodeComponent {
    public nonisolated let name = "federation"
    public nonisolated var messageTypes: [MessageDescriptor] {
        [
            MessageDescriptor(type: .federationLocalRead, name: "federation-local-read"),
            MessageDescriptor(type: .federationLocalDelegate, name: "federation-local-delegate"),
        ]
    }
    let ledger: NodeLedgerHandle?
    /// How often `peers.json` is re-read. Default 2 s.
    let reloadInterval: Duration
    var context: NodeContext?
    var directory: FederationDirectory?
    var organization = ""
    var identity: NodeIdentity?
    var inbound: ConnectionManager?
    var outbound: [OrganizationName: (peer: PeerOrganization, manager: ConnectionManager)] = [:]
    var peers: [PeerOrganization] = []
    var externals: ExternalDependencyPoller?
    /// How a delegated bead is scheduled on our nodes (default: `Mayor.convoySlinger`, the normal sling path).
    let slinger: ConvoySlinger?
    /// Delegated beads whose returned branch is being gated now.
    var gating: Set<String> = []

    public init(ledger: NodeLedgerHandle?, reloadInterval: Duration = .seconds(2), slinger: ConvoySlinger? = nil) {
        self.ledger = ledger
        self.reloadInterval = reloadInterval
        self.slinger = slinger
    }

    /// The federation listener's address, once it listens.
    public private(set) var listenAddress: PeerAddress?

    public func start(in context: NodeContext) async throws {
        self.context = context
        let directory = FederationDirectory(URL(fileURLWithPath: context.town.stateDirectory + "/federation"))
        self.directory = directory
        let configured = context.townFile.federation.organization
        let named = await NodeBlocking.run { () -> Result<String, TransportError> in
            do throws(TransportError) {
                return .success(try FederationDirectory.organizationName(configured: configured, pki: context.town.pki))
            } catch {
                return .failure(error)
            }
        }
        switch named {
        case .success(let text): organization = text
        case .failure(let error):
            if configured != nil { throw error }  // a bad configured name is an error to fix
            organization = context.name.rawValue
        }
        identity = await context.manager.identity
        try await reload(force: true)
        if let listen = context.townFile.federation.listen, let identity {
            let address = try PeerAddress(parsing: listen)
            guard case .tcp(let host, let port) = address else {
                throw TransportError.badAddress("federation.listen must be HOST:PORT, not \(listen)")
            }
            let manager = try ConnectionManager(
                identity: identity.federated(trusting: try peers.map { try $0.authority() }),
                settings: context.settings.connections, registry: Self.inboundRegistry,
                handler: { [weak self] message in
                    guard let self else { throw ErrorReply(code: .unavailable, message: "federation stopped") }
                    return try await self.serve(message)
                })
            listenAddress = try await manager.listen(host: host, port: port)
            inbound = manager
            context.log.info(
                "federation listening", ["address": "\(listenAddress!)", "organization": organization])
        }
        if let ledger {
            externals = ExternalDependencyPoller(
                ledger: ledger, log: context.log,
                fetch: { [weak self] address in try await self?.fetchRemote(address) })
        }
    }

    public func run() async throws {
        var sinceExternals = Duration.zero
        let poll = context?.townFile.federation.poll ?? .seconds(5)
        while !Task.isCancelled {
            try await Task.sleep(for: reloadInterval)
            do { try await reload(force: false) } catch {
                context?.log.warning("federation peers not reloaded", ["error": "\(error)"])
            }
            sinceExternals += reloadInterval
            if sinceExternals >= poll {
                sinceExternals = .zero
                await externals?.pollOnce()
                await expireDelegations(now: Self.unixNow())
                await returnFinishedWork(now: Self.unixNow())
                await collectReturnedWork(now: Self.unixNow())
            }
        }
        throw CancellationError()
    }

    public func stop() async {
        await inbound?.shutdown()
        inbound = nil
        listenAddress = nil
        for (_, entry) in outbound { await entry.manager.shutdown() }
        outbound = [:]
    }

    static var inboundRegistry: MessageRegistry {
        var registry = MessageRegistry.core
        registry.register(MessageDescriptor(type: .federatedRead, name: "federated-read"))
        registry.register(MessageDescriptor(type: .federatedDelegate, name: "federated-delegate"))
        registry.register(MessageDescriptor(type: .federatedDelegationVerdict, name: "federated-delegation-verdict"))
        return registry
    }

    // MARK: Peers

    /// Re-reads `peers.json`; applies what changed (trust set of the listener, outbound managers).
    func reload(force: Bool) async throws {
        guard let directory, let context, let identity else { return }
        let fresh = try await NodeBlocking.run { () throws(TransportError) -> [PeerOrganization] in
            try directory.peers()
        }
        guard force || fresh != peers else { return }
        peers = fresh
        let authorities = try fresh.map { try $0.authority() }
        try await inbound?.updateIdentity(identity.federated(trusting: authorities))
        for (org, entry) in outbound where !fresh.contains(where: { $0.sameTrust(as: entry.peer) }) {
            await entry.manager.shutdown()
            outbound[org] = nil
        }
        for peer in fresh where outbound[peer.organization] == nil {
            let manager = try ConnectionManager(
                identity: identity.federated(trusting: [try peer.authority()]), settings: context.settings.connections,
                registry: .core, handler: { _ in throw ErrorReply(code: .refused, message: "nothing is served here") })
            outbound[peer.organization] = (peer, manager)
        }
        context.log.info("federation peers", ["organizations": fresh.map(\.organization.rawValue).joined(separator: ",")])
    }

    // MARK: Outbound reads

    public func handle(_ message: InboundMessage) async throws -> [UInt8] {
        guard message.peer.purpose == .local else {
            throw ErrorReply(code: .refused, message: "federation requests are asked through the local socket")
        }
        if message.envelope.type == .federationLocalDelegate {
            let local: LocalDelegateRequest
            do { local = try LocalDelegateRequest.decode(message.envelope.body) } catch {
                throw ErrorReply(code: .badRequest, message: "bad delegation request: \(error)")
            }
            return try await delegate(local).encoded()
        }
        guard message.envelope.type == .federationLocalRead else {
            throw ErrorReply(code: .unknownMessageType, message: "not a federation request")
        }
        var reader = BinaryReader(message.envelope.body)
        let org: String
        let request: FederatedReadRequest
        do {
            org = try reader.readShortString("organization")
            request = try FederatedReadRequest.decode(reader.readRemaining())
        } catch {
            throw ErrorReply(code: .badRequest, message: "bad federated read: \(error)")
        }
        return try await read(org: org, request).encoded()
    }

    /// Asks organization `org` (one of its bundle's endpoints, in order) for `request`.
    public func read(org: String, _ request: FederatedReadRequest) async throws -> FederatedReadReply {
        try await reload(force: false)
        guard let name = try? OrganizationName(org), let entry = outbound[name] else {
            let known = peers.isEmpty ? "none added yet" : peers.map(\.organization.rawValue).joined(separator: ", ")
            throw ErrorReply(
                code: .badRequest,
                message: "unknown organization '\(org.prefix(63))' (known: \(known)); add its bundle with `gt federation add`")
        }
        var failures: [String] = []
        for endpoint in entry.peer.endpoints {
            guard let node = try? NodeName(endpoint.node), let address = try? PeerAddress(parsing: endpoint.address)
            else { continue }
            await entry.manager.addPeer(node, at: address)
            do {
                let reply = try await entry.manager.request(
                    .federatedRead, body: request.encoded(), to: node, timeout: 5)
                do {
                    return try FederatedReadReply.decode(reply.body)
                } catch {
                    throw ErrorReply(code: .internalError, message: "organization \(org) answered garbage: \(error)")
                }
            } catch let error as TransportError {
                if case .remoteError(let reply) = error { throw reply }
                failures.append("\(node) at \(address): \(error)")
            }
        }
        throw ErrorReply(
            code: .unavailable,
            message: "organization \(org) is unreachable: \(failures.isEmpty ? "its bundle lists no endpoint" : failures.joined(separator: "; "))")
    }

    /// The status of the remote bead `address` (for `external:` dependencies), or nil when it does not exist.
    func fetchRemote(_ address: HopAddress) async throws -> String? {
        let reply = try await read(org: address.organization, FederatedReadRequest(rig: address.rig, query: .show(id: address.beadID)))
        guard let line = reply.beads.first, let value = try? JSONValue.parse(line) else { return nil }
        return value["status"]?.stringValue
    }

    // MARK: Inbound reads

    /// Answers a peer organization's request, after identifying it by the CA that verified its certificate.
    func serve(_ message: InboundMessage) async throws -> [UInt8] {
        guard [.federatedRead, .federatedDelegate, .federatedDelegationVerdict].contains(message.envelope.type),
            message.envelope.kind == .request
        else {
            throw ErrorReply(
                code: .unknownMessageType, message: "only federated reads and delegations are served to other organizations")
        }
        guard let certificate = message.peer.certificate,
            let peer = peers.first(where: { (try? certificate.isSigned(by: $0.authority())) == true })
        else {
            throw ErrorReply(code: .refused, message: "your organization is not a federation peer of \(organization)")
        }
        if message.envelope.type == .federatedDelegate { return try await serveDelegation(message, from: peer) }
        if message.envelope.type == .federatedDelegationVerdict { return try await serveVerdict(message, from: peer) }
        let identity = FederatedIdentity(anchorFingerprint: peer.caFingerprint, name: message.peer.name)
        let request: FederatedReadRequest
        do {
            request = try FederatedReadRequest.decode(message.envelope.body)
        } catch {
            throw ErrorReply(code: .badRequest, message: "bad federated read: \(error)")
        }
        guard peer.policy.mayRead(rig: request.rig) else {
            context?.events.record(
                "federation_read_refused",
                ["organization": peer.organization.rawValue, "identity": "\(identity)", "rig": request.rig])
            throw ErrorReply(
                code: .refused,
                message: "organization \(organization) does not let \(peer.organization) read rig '\(request.rig)'")
        }
        guard let town = context?.town, let ledger,
            let database = await ledger.waitForDatabase(timeout: 5)
        else { throw ErrorReply(code: .unavailable, message: "the ledger of \(organization) is not open; retry") }
        let prefix = try await NodeBlocking.run { () throws(TownError) -> String? in
            try RigRegistry(layout: TownLayout(root: town.root)).rigs()[request.rig]?.prefix
        }
        guard let prefix else {
            throw ErrorReply(code: .badRequest, message: "organization \(organization) has no rig '\(request.rig)'")
        }
        let policy = peer.policy
        let beads: [Bead] = database.read { state in
            guard let scope = state.scopes[prefix] else { return [] }
            switch request.query {
            case .show(let id):
                return scope.bead(scope.resolve(id)).map { [$0] } ?? []
            case .list(let status, let type, let limit):
                var filter = BeadFilter()
                if let status, let value = BeadStatus(rawValue: status) { filter.statuses = [value] }
                if let type { filter.types = [IssueType(rawValue: type)] }
                var found = scope.list(filter).filter { policy.mayRead(type: $0.issueType.rawValue) }
                if status != nil && filter.statuses.isEmpty { found = [] }
                return Array(found.prefix(Int(limit)))
            }
        }
        if case .show(let id) = request.query {
            guard let bead = beads.first else {
                throw ErrorReply(code: .badRequest, message: "no bead \(id) in rig '\(request.rig)' of \(organization)")
            }
            guard policy.mayRead(type: bead.issueType.rawValue) else {
                throw ErrorReply(
                    code: .refused,
                    message: "organization \(organization) does not let \(peer.organization) read beads of type '\(bead.issueType.rawValue)'")
            }
        }
        return FederatedReadReply(organization: organization, beads: beads.map { BeadCodec.encodeLine($0) }).encoded()
    }
}
