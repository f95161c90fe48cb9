import Foundation
import Membership
import Town
import Transport
import Wire

/// The membership shell as a component of the node daemon: it starts a ``MembershipShell`` on the node's
/// transport, advertises town.json's `node.labels`, `node.slots` and `node.runtimes`
/// (``MembershipTownConfig``; without `node.slots`, what the town's rigs allow: the sum of their `max_polecats`,
/// each defaulting to `TownSettings.maxPolecatsPerRig`), joins through the seeds (`--join` and town.json's `node.join`), answers the local control
/// requests (`gt node list|info|leave|drain`), records membership changes in the node's events file, and
/// leaves gracefully when the node stops.
///
/// Other components reach the shell through ``shell`` (its ``MembershipShell/events()`` stream feeds the
/// Mayor and the scheduler). `@unchecked Sendable`: immutable configuration plus the current shell, which
/// is guarded by `lock`.
public final class MembershipComponent: NodeComponent, @unchecked Sendable {
    public let name = "membership"
    public var messageTypes: [MessageDescriptor] { MembershipControl.descriptors }

    /// The shell's settings.
    public let settings: MembershipShellSettings
    let seeds: [String]
    let baseMetadata: Membership.Metadata
    private let lock = NSLock()
    private var current: (shell: MembershipShell, context: NodeContext)?
    /// The refused-dial observer registered at start, dropped at stop.
    private var refusalObserver: PeerRefusals.Token?

    /// - Parameters:
    ///   - seeds: addresses to join through, besides town.json's `node.join`.
    ///   - metadata: the node's initial metadata (slots, labels, runtimes, version); the shell adds load,
    ///     memory, `os` and the town's rigs.
    public init(
        seeds: [String] = [], metadata: Membership.Metadata = Membership.Metadata(),
        settings: MembershipShellSettings = MembershipShellSettings()
    ) {
        self.seeds = seeds
        baseMetadata = metadata
        self.settings = settings
    }

    /// The running shell (nil while the component is stopped).
    public var shell: MembershipShell? { lock.withLock { current?.shell } }

    public func start(in context: NodeContext) async throws {
        let town = context.town
        let (identity, rigs) = try await NodeBlocking.run { () throws -> (NodeIdentity, [String: RigConfig]) in
            (try town.pki.loadIdentity(), Self.rigs(town))
        }
        let config = TownNodeConfig(context.townFile)
        let advertised = MembershipTownConfig(context.townFile.node)
        let links = try MembershipLinks(
            identity: identity, settings: settings, connectionSettings: context.settings.connections.connection,
            manager: { context.manager },
            addPeer: { peer, address in await context.addPeer(peer, at: address, purposes: [.membership]) })
        var metadata = advertised.applied(to: baseMetadata)
        if metadata.labels.os == nil { metadata.labels.os = "linux" }
        if metadata.rigs.isEmpty { metadata.rigs = rigs.keys.sorted() }
        if advertised.slots == nil && metadata.freeSlots == 0 { metadata.freeSlots = Self.slots(rigs) }
        let drainingFile = context.town.drainingFile
        if await NodeBlocking.run({ FileManager.default.fileExists(atPath: drainingFile) }) {
            metadata.draining = true
            context.log.info("draining (as before the restart; gt node undrain takes work again)")
        }
        let me = Membership.Node(name: context.name.rawValue, address: context.listenAddress.description)
        let shell = MembershipShell(myself: me, metadata: metadata, links: links, settings: settings)
        lock.withLock { current = (shell, context) }
        let token = context.manager.refusals.observe { [weak shell] peer in
            guard let shell else { return }
            Task { await shell.connectionRefused(peer) }
        }
        lock.withLock { refusalObserver = token }
        var all: [String] = []
        for seed in seeds + config.join where !all.contains(seed) { all.append(seed) }
        await shell.start(seeds: all)
        context.log.info("membership started", ["address": me.address, "seeds": all.joined(separator: ",")])
    }

    /// Records every membership change in the node's events file and log until cancelled.
    public func run() async throws {
        guard let (shell, context) = lock.withLock({ current }) else { return }
        for await event in await shell.events() {
            switch event {
            case .changed(let member, let previous):
                guard previous != nil, previous != member.status, member.name != shell.myself.name else { continue }
                let fields = [
                    "member": member.name, "status": member.status.description,
                    "previous": previous?.description ?? "", "incarnation": "\(member.incarnation)",
                ]
                context.events.record("member_\(member.status.description)", fields)
                context.log.info("member \(member.status)", fields)
            case .removed(let name):
                context.events.record("member_removed", ["member": name])
            case .duplicateIdentity(let name, let addresses, let incarnation):
                let own = name == shell.myself.name
                let places = addresses.sorted().joined(separator: " and ")
                let text =
                    (own
                        ? "duplicate identity: another live node also holds this node's certificate (\(name)), seen at "
                        : "duplicate identity: two live nodes hold the certificate of \(name), seen at ")
                    + "\(places) (a copied .gt/pki?); stop one, then 'gt node cert revoke \(name)' on the CA node "
                    + "and rejoin the other with 'gt node join … --replace'"
                // Recorded once per name until it has stopped recurring for the warning's retention.
                if context.warnings.set("duplicate-identity \(name)", text) {
                    let fields = [
                        "member": name, "addresses": addresses.joined(separator: ","), "own": "\(own)",
                        "incarnation": "\(incarnation)",
                    ]
                    context.events.record("duplicate_identity", fields)
                    context.log.error("duplicate identity: two live processes hold one node name", fields)
                }
            }
        }
        try Task.checkCancellation()
    }

    /// Leaves gracefully (bounded by `leaveFlushTimeout`).
    public func stop() async {
        guard let (shell, context) = lock.withLock({ current }) else { return }
        let token = lock.withLock { () -> PeerRefusals.Token? in
            current = nil
            defer { refusalObserver = nil }
            return refusalObserver
        }
        if let token { context.manager.refusals.stopObserving(token) }
        await shell.leave()
        await shell.stop()
    }

    public func handle(_ message: InboundMessage) async throws -> [UInt8] {
        guard let shell else { throw ErrorReply(code: .unavailable, message: "membership is not running") }
        if message.envelope.type == .membership {
            // Membership messages come from peers over TLS; the local socket has no verified name.
            if message.peer.purpose != .local { _ = await shell.handle(message) }
            return []
        }
        if message.envelope.type == MembershipControl.flood, message.peer.purpose == .local,
            let context = lock.withLock({ current?.context })
        {
            let request = try MembershipControl.decode(FloodRequest.self, from: message.envelope.body)
            return MembershipControl.encode(try await Self.flood(request, context: context))
        }
        if message.envelope.type == MembershipControl.drain, message.peer.purpose == .local {
            let request = try MembershipControl.decode(DrainRequest.self, from: message.envelope.body)
            do { try await setDraining(request.draining) } catch {
                throw ErrorReply(code: .refused, message: error.description)
            }
            return MembershipControl.encode(MemberReport(await shell.ownMember))
        }
        return try await MembershipControl.answer(message, with: shell)
    }

    /// Sets (or clears) the draining flag in this node's membership metadata and records it in the town's
    /// `.gt/draining`, so a restarted node comes back draining (until `gt node undrain`). The file is written
    /// first: a node that stops halfway comes back draining, the safe side.
    public func setDraining(_ draining: Bool) async throws(Membership.Instance.MetadataTooLarge) {
        guard let (shell, context) = lock.withLock({ current }) else { return }
        let path = context.town.drainingFile
        let recorded = await NodeBlocking.run { () -> Bool in
            if draining { return FileManager.default.createFile(atPath: path, contents: Data("draining\n".utf8)) }
            return unlink(path) == 0 || errno == ENOENT
        }
        if !recorded {
            context.log.warning("could not record the draining flag", ["path": path, "draining": "\(draining)"])
        }
        try await shell.setDraining(draining)
    }

    /// Sends pings with `frameBytes` bodies to the peer on the general link, `concurrency` at a time, for
    /// `seconds`; the peer's transport echoes each one.
    static func flood(_ request: FloodRequest, context: NodeContext) async throws(ErrorReply) -> FloodReport {
        guard let peer = try? NodeName(request.peer) else {
            throw ErrorReply(code: .badRequest, message: "'\(request.peer)' is not a node name")
        }
        guard (1...(15 << 20)).contains(request.frameBytes), (1...64).contains(request.concurrency),
            request.seconds > 0, request.seconds <= 3600
        else {
            throw ErrorReply(
                code: .badRequest, message: "frame_bytes must be 1 to 15 MiB, concurrency 1 to 64, seconds up to 3600")
        }
        let body = [UInt8](repeating: 0x5A, count: request.frameBytes)
        let start = DispatchTime.now().uptimeNanoseconds
        let end = start + UInt64(request.seconds * 1e9)
        let results = await withTaskGroup(of: (Int, Int, String?).self) { group in
            for _ in 0..<request.concurrency {
                group.addTask {
                    var frames = 0
                    var failures = 0
                    var firstError: String?
                    while DispatchTime.now().uptimeNanoseconds < end {
                        do {
                            _ = try await context.request(.ping, body: body, to: peer, timeout: 30)
                            frames += 1
                        } catch {
                            failures += 1
                            if firstError == nil { firstError = "\(error)" }
                            try? await Task.sleep(nanoseconds: 100_000_000)
                        }
                    }
                    return (frames, failures, firstError)
                }
            }
            var total = (0, 0, String?.none)
            for await (frames, failures, error) in group {
                total.0 += frames
                total.1 += failures
                if total.2 == nil { total.2 = error }
            }
            return total
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return FloodReport(
            peer: request.peer, frames: results.0, bytes: results.0 * request.frameBytes, seconds: seconds,
            failures: results.1, firstError: results.2)
    }

    /// The town's rigs by name, read through the town's one reader of `mayor/rigs.json` (empty when unreadable).
    static func rigs(_ town: TownPaths) -> [String: RigConfig] {
        let layout = TownLayout(root: town.root)
        return (try? RigRegistry(layout: layout).configs(layout: layout)) ?? [:]
    }

    /// The agent slots the rigs allow: the sum of their `max_polecats` (each defaulting to
    /// `TownSettings.maxPolecatsPerRig`), capped at `UInt32.max`.
    static func slots(_ rigs: [String: RigConfig]) -> UInt32 {
        let total = rigs.values.reduce(0) { $0 + max(0, $1.maxPolecats ?? TownSettings().maxPolecatsPerRig) }
        return UInt32(clamping: total)
    }
}
