import Foundation
import Town
import Transport
import Wire

/// How to run a node: overrides of the town's configuration, settings, and the components to supervise.
///
/// `Sendable`: plain values and `Sendable` components.
public struct NodeOptions: Sendable {
    /// `--listen HOST:PORT` (port 0: any free port); else town.json's `node.listen`, else 127.0.0.1:7420.
    public var listen: String?
    /// `--join HOST:PORT` seeds, added to town.json's `node.join`.
    public var seeds: [String]
    public var settings: NodeSettings
    /// Also write log lines to stderr (a foreground `gt node run`).
    public var echoLog: Bool
    /// The components the node supervises (see `NodeComponents.standard`).
    public var components: [any NodeComponent]

    public init(
        listen: String? = nil, seeds: [String] = [], settings: NodeSettings = NodeSettings(), echoLog: Bool = false,
        components: [any NodeComponent] = NodeComponents.standard()
    ) {
        self.listen = listen
        self.seeds = seeds
        self.settings = settings
        self.echoLog = echoLog
        self.components = components
    }
}

/// The components every node runs. Other modules' actors (membership shell, Mayor, Deacon, LedgerActor,
/// Witness, Refinery) are added here.
///
/// A caseless namespace; nothing to share.
public enum NodeComponents {
    /// The standard set, in start order: the `LedgerActor` (holding the town's store, running the CLI's
    /// commands with `executor`), the `TownWitness`, the `TownRefineries` (each rig's Refinery, held as a
    /// lease) and `TownConvoys` (lands complete convoys, slings launched ones' waves), which use the store the
    /// ledger actor holds, and, when
    /// `membership` is given, the membership shell and the ledger sync loop (`LedgerSyncComponent`), which syncs
    /// the held store with the town's remotes and tells the members membership sees alive after each push, and the
    /// `Mayor` (placement, admission, failover: docs/scheduling.md).
    public static func standard(
        executor: (any NodeCommandExecutor)? = nil, membership: MembershipComponent? = nil
    ) -> [any NodeComponent] {
        let ledger = LedgerActor(executor: executor)
        var components: [any NodeComponent] = [
            ledger, TownWitness(ledger: ledger.ledger), TownRefineries(ledger: ledger.ledger),
            TownConvoys(ledger: ledger.ledger), FederationComponent(ledger: ledger.ledger),
            TownNotifier(ledger: ledger.ledger), TownCostsCollector(ledger: ledger.ledger),
        ]
        if let membership {
            components.append(membership)
            components.append(LedgerSyncComponent(database: ledger.ledger, membership: membership))
            components.append(Mayor(membership: membership, ledger: ledger.ledger))
        }
        return components
    }
}

/// The node daemon's root actor (`gt node run`): it owns the node's identity, its TLS listener and
/// connection manager (serving join requests when it holds the CA key), the local Unix socket for the CLI,
/// the supervisor of its components, and the PKI timers (revocation watch, certificate renewal).
///
/// Life: `start()` returns once the node serves (socket bound, `node.json` written); `waitUntilStopped()`
/// returns after `shutdown()` (a signal, `gt down`, or a local shutdown request) has finished. An actor:
/// its state is isolated; blocking file work runs on dedicated threads.
public actor Node {
    public nonisolated let town: TownPaths
    public nonisolated let options: NodeOptions
    var settings: NodeSettings { options.settings }

    var context: NodeContext?
    var identity: NodeIdentity?
    var supervisor: Supervisor
    let routes: RouteTable
    var localListener: Listener?
    var localLinks: [ObjectIdentifier: PeerLink] = [:]
    var lockFD: Int32 = -1
    var tasks: [Task<Void, Never>] = []
    var startedAt = Date()
    var info: NodeRuntimeInfo?
    var phase = Phase.idle
    var stopWaiters: [CheckedContinuation<Void, Never>] = []
    var seenSerials: Set<String> = []
    var pkiStamp = PKIStamp()
    /// When each seed address was last asked for the trust state over a join connection (`catchUpThroughJoin`).
    var lastJoinCatchUp: [String: Date] = [:]
    /// Set once `gt node rename` installed a certificate under a new name: the running node keeps its old identity
    /// until it restarts (a running node's name never changes), so the PKI watch leaves the new files alone.
    var renamedTo: NodeName?
    var stopRequested = false
    /// The Deacon (the supervisor's policy, running the Dogs) and what outlives its restarts.
    var deacon: NodeDeacon?
    var deaconServices: DeaconServices?
    /// A renewal by the `cert-renewal` Dog is under way (a second run waits for the next interval).
    var renewalInFlight = false

    enum Phase { case idle, starting, serving, stopping, stopped }

    public init(town: String, options: NodeOptions = NodeOptions()) {
        self.town = TownPaths(root: town)
        self.options = options
        routes = RouteTable()
        supervisor = Supervisor(settings: options.settings.supervisor)
    }

    /// The context components receive (nil before `start`).
    public var componentContext: NodeContext? { context }

    /// Starts the node; returns what it wrote to `node.json`. On failure everything taken is released.
    @discardableResult
    public func start() async throws(NodeError) -> NodeRuntimeInfo {
        guard phase == .idle else { throw .alreadyRunning("start() was already called") }
        phase = .starting
        do {
            let result = try await startServing()
            phase = .serving
            if stopRequested { await shutdown(reason: "asked to stop while starting") }
            return result
        } catch {
            await release()
            phase = .stopped
            resumeStopWaiters()
            throw error
        }
    }

    private func startServing() async throws(NodeError) -> NodeRuntimeInfo {
        let town = self.town
        guard FileManager.default.fileExists(atPath: town.townFile) else {
            throw .notATown("\(town.townFile) is missing")
        }
        try await NodeBlocking.run { () throws(NodeError) in
            for directory in [town.stateDirectory, town.logsDirectory] {
                do {
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                } catch {
                    throw .io("cannot create \(directory): \(error.localizedDescription)")
                }
            }
        }
        lockFD = open(town.lockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else { throw .io("cannot open \(town.lockFile): \(String(cString: strerror(errno)))") }
        // CLI processes test the lock with a brief shared flock (`NodeForwarding.nodeHoldsLock`): retry a moment
        // before deciding another node holds it.
        var locked = flock(lockFD, LOCK_EX | LOCK_NB) == 0
        var busy = !locked && errno == EWOULDBLOCK
        var tries = 0
        while busy && tries < 50 {
            tries += 1
            try? await Task.sleep(nanoseconds: 20_000_000)
            locked = flock(lockFD, LOCK_EX | LOCK_NB) == 0
            busy = !locked && errno == EWOULDBLOCK
        }
        guard locked else {
            let pid = NodeRuntimeInfo.load(town).map { "pid \($0.pid)" } ?? "lock \(town.lockFile) is held"
            throw .alreadyRunning(pid)
        }
        // town.json is read once, here (`TownFile`, its one reader); every component takes the decoded value.
        let townFile = try await NodeBlocking.run { () throws(NodeError) -> TownFile in
            do throws(TownFileError) { return try TownFile.load(town.townFile) } catch { throw NodeError(error) }
        }
        let config = TownNodeConfig(townFile)
        let loaded = try await loadIdentity()
        identity = loaded
        let log = NodeLogger(label: "node \(loaded.name)", path: town.logFile, echo: options.echoLog)
        let events = EventLog(path: town.eventsFile, node: loaded.name.rawValue)
        let listenText = options.listen ?? config.listen ?? TownNodeConfig.defaultListen
        let listenAddress: PeerAddress
        do { listenAddress = try PeerAddress(parsing: listenText) } catch {
            throw .badConfig("listen address: \(error)")
        }
        guard case .tcp(let host, let port) = listenAddress else {
            throw .badConfig("the node listens on TCP (HOST:PORT), not \(listenText)")
        }

        try routes.install(options.components)
        let manager = try makeManager(loaded, log: log, events: events)
        let bound: PeerAddress
        do { bound = try await manager.listen(host: host, port: port) } catch { throw .transport(error) }
        let box = TransportBox(manager: manager, address: bound)
        let context = NodeContext(
            name: loaded.name, town: town, townFile: townFile, settings: settings, log: log, events: events, box: box)
        self.context = context
        seenSerials = Set(await NodeBlocking.run { KnownPeerRecord.load(town) }.map { "\($0.node)/\($0.serial)" })
        pkiStamp = PKIStamp.read(town)

        let local: Listener
        do {
            local = try Listener(unixPath: town.socket, local: loaded.name) { [weak self] connection, peer in
                guard let self else {
                    connection.close()
                    return
                }
                Task { await self.serveLocal(connection, peer) }
            }
        } catch {
            throw .transport(error)
        }
        localListener = local
        startedAt = Date()
        let runtime = NodeRuntimeInfo(
            pid: getpid(), name: loaded.name.rawValue, listen: bound.description, socket: town.socket,
            startedAt: startedAt)
        try await NodeBlocking.run { () throws(NodeError) in try Self.writeRuntime(runtime, town: town) }
        info = runtime
        log.info("serving", ["listen": bound.description, "socket": town.socket, "holds_ca": "\(town.pki.holdsCA)"])
        events.record("node_started", ["listen": bound.description, "pid": "\(getpid())"])

        supervisor = Supervisor(settings: settings.supervisor) { event in Self.report(event, log: log, events: events) }
        await startDeacon(context, generation: 1)
        startComponents(context)
        for seed in options.seeds + config.join {
            tasks.append(Task { [weak self] in await self?.joinSeed(seed) })
        }
        tasks.append(Task { [weak self] in await self?.watchPKI() })
        tasks.append(Task { [weak self] in await self?.watchDeacon() })
        tasks.append(Task { [weak self] in await self?.renewalLoop() })
        return runtime
    }

    /// The connection manager for `identity`, with the node's registry and message routing.
    func makeManager(_ identity: NodeIdentity, log: NodeLogger, events: EventLog) throws(NodeError) -> ConnectionManager
    {
        var registry = MessageRegistry.core
        for descriptor in NodeMessageType.descriptors + routes.descriptors { registry.register(descriptor) }
        let joinService =
            town.pki.holdsCA
            ? JoinService(directory: town.pki, settings: settings.pki) { event in
                Self.report(event, log: log, events: events)
            } : nil
        do {
            return try ConnectionManager(
                identity: identity, settings: settings.connections, registry: registry, joinService: joinService
            ) { [weak self] message in
                guard let self else { throw ErrorReply(code: .unavailable, message: "the node is stopping") }
                return try await self.handlePeerMessage(message)
            }
        } catch {
            throw .transport(error)
        }
    }

    func loadIdentity() async throws(NodeError) -> NodeIdentity {
        let pki = town.pki
        return try await NodeBlocking.run { () throws(NodeError) -> NodeIdentity in
            guard FileManager.default.fileExists(atPath: pki.nodeCertificate.path),
                FileManager.default.fileExists(atPath: pki.nodeKey.path),
                FileManager.default.fileExists(atPath: pki.caCertificate.path)
            else { throw .noIdentity("no ca.crt, node.crt and node.key in \(pki.url.path)") }
            do throws(TransportError) { return try pki.loadIdentity() } catch { throw .transport(error) }
        }
    }

    static func writeRuntime(_ runtime: NodeRuntimeInfo, town: TownPaths) throws(NodeError) {
        let temporary = town.runtimeFile + ".\(getpid()).tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(NodeJSON.encode(runtime) + [0x0A])),
            Glibc.rename(temporary, town.runtimeFile) == 0
        else { throw .io("cannot write \(town.runtimeFile)") }
    }

    private func startComponents(_ context: NodeContext) {
        let routes = self.routes
        for component in options.components {
            let name = component.name
            Task {
                await supervisor.supervise(
                    name,
                    body: {
                        try await component.start(in: context)
                        routes.setReady(name, true)
                        try await component.run()
                    },
                    cleanup: {
                        routes.setReady(name, false)
                        let finished = await Self.bounded(seconds: context.settings.componentStopTimeout) {
                            await component.stop()
                        }
                        if !finished {
                            context.log.error("component did not stop in time", ["component": name])
                        }
                    })
            }
        }
    }

    /// Writes a supervisor event to the log and the events file.
    static func report(_ event: SupervisorEvent, log: NodeLogger, events: EventLog) {
        switch event {
        case .starting(let name, let attempt, _):
            log.info("component starting", ["component": name, "attempt": "\(attempt)"])
        case .failed(let name, let error, _, let restartIn):
            log.error("component failed", ["component": name, "error": error, "restart_in": "\(restartIn)"])
            events.record("component_failed", ["component": name, "error": error, "restart_in": "\(restartIn)"])
        case .finished(let name, _):
            log.info("component finished", ["component": name])
        case .stopped(let name, _):
            log.info("component stopped", ["component": name])
        case .gaveUp(let name, let error, _):
            log.error("component given up: not restarted", ["component": name, "error": error])
            events.record("component_gave_up", ["component": name, "error": error])
        }
    }

    /// Writes what the join service saw to the log and the events file: every join, every refusal with its
    /// reason and source (rate-limited by the service), and the certificates a `--replace` join revoked.
    static func report(_ event: JoinEvent, log: NodeLogger, events: EventLog) {
        switch event {
        case .joined(let node, let source, let serial, let replaced):
            let fields = [
                "node": node, "source": source, "serial": serial,
                "replaced": replaced.map(\.serial).joined(separator: ","),
            ]
            log.info(replaced.isEmpty ? "node joined" : "node joined, replacing its old certificate", fields)
            events.record("node_joined", fields)
            for entry in replaced {
                events.record("peer_revoked", ["peer": entry.node, "serial": entry.serial, "source": "join --replace"])
            }
        case .refused(let node, let source, let reason, let limited, let suppressed):
            var fields = ["node": node, "source": source, "reason": reason]
            if suppressed > 0 { fields["suppressed"] = "\(suppressed)" }
            if limited { fields["limited"] = "true" }
            log.warning(limited ? "join refused (rate-limited)" : "join refused", fields)
            events.record("join_refused", fields)
        }
    }

    /// Runs `work` in its own task and returns whether it finished within `seconds` (it keeps running in
    /// the background otherwise).
    static func bounded(seconds: TimeInterval, _ work: @escaping @Sendable () async -> Void) async -> Bool {
        let once = OnceFlag()
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            Task {
                await work()
                if once.claim() { continuation.resume(returning: true) }
            }
            Task {
                try? await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1e9))
                if once.claim() { continuation.resume(returning: false) }
            }
        }
    }

    /// Waits until the node has stopped.
    public func waitUntilStopped() async {
        guard phase != .stopped && phase != .idle else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            stopWaiters.append(continuation)
        }
    }

    /// Stops gracefully: components, then the connection manager (goodbye and close_notify on every link),
    /// then the local socket (removed) and `node.json`. Safe to call more than once.
    public func shutdown(reason: String = "requested") async {
        if phase == .starting {
            stopRequested = true
            await waitUntilStopped()
            return
        }
        guard phase == .serving else {
            if phase == .stopping { await waitUntilStopped() }
            return
        }
        phase = .stopping
        context?.log.info("shutting down", ["reason": reason])
        context?.events.record("node_stopping", ["reason": reason])
        for task in tasks { task.cancel() }
        tasks = []
        deacon?.cancel()
        await supervisor.stopAll()
        await release()
        context?.log.info("stopped")
        context?.log.flush()
        context?.events.flush()
        phase = .stopped
        resumeStopWaiters()
    }

    private func resumeStopWaiters() {
        let waiters = stopWaiters
        stopWaiters = []
        for waiter in waiters { waiter.resume() }
    }

    /// Releases the listener, socket, links, runtime file and lock.
    private func release() async {
        if let manager = context?.box.manager { await manager.shutdown() }
        localListener?.close()
        localListener = nil
        for link in localLinks.values { link.connection.close(reason: "node stopping") }
        localLinks = [:]
        if let info, info.pid == getpid() { unlink(town.runtimeFile) }
        if lockFD >= 0 {
            close(lockFD)
            lockFD = -1
        }
    }

    /// Runs a node in the foreground until SIGTERM or SIGINT (or a local shutdown request); the signal
    /// sources are DispatchSources, so nothing blocks.
    public static func runForeground(town: String, options: NodeOptions) async throws(NodeError) -> NodeRuntimeInfo {
        let node = Node(town: town, options: options)
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        // Started in the background (`gt up`, stdin not a terminal): a hang-up of the starting terminal is not
        // a reason to stop.
        if isatty(0) == 0 { signal(SIGHUP, SIG_IGN) }
        var sources: [DispatchSourceSignal] = []
        for number in [SIGTERM, SIGINT] {
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                Task { await node.shutdown(reason: number == SIGTERM ? "SIGTERM" : "SIGINT") }
            }
            source.activate()
            sources.append(source)
        }
        defer { for source in sources { source.cancel() } }
        let runtime = try await node.start()
        await node.waitUntilStopped()
        return runtime
    }
}

/// Which component handles which message type, and whether it is started.
///
/// `@unchecked Sendable`: both tables are guarded by `lock`.
final class RouteTable: @unchecked Sendable {
    private let lock = NSLock()
    private var handlers: [MessageType: any NodeComponent] = [:]
    private var ready: Set<String> = []
    private(set) var descriptors: [MessageDescriptor] = []

    /// Routes each component's message types to it. Two components claiming one type is a programming error that
    /// would silently misroute messages, so it refuses to start the node instead.
    func install(_ components: [any NodeComponent]) throws(NodeError) {
        lock.lock()
        defer { lock.unlock() }
        for component in components {
            for descriptor in component.messageTypes {
                if let other = handlers[descriptor.type] {
                    throw .badConfig(
                        "message type \(descriptor.type.rawValue) is claimed by both the \(other.name) and the "
                            + "\(component.name) components; give one of them another number (see docs/node.md)")
                }
                handlers[descriptor.type] = component
                descriptors.append(descriptor)
            }
        }
    }

    func setReady(_ name: String, _ isReady: Bool) {
        _ = lock.withLock { isReady ? ready.insert(name).inserted : ready.remove(name) != nil }
    }

    /// The component for `type` when it is started; throws `unavailable` while it is (re)starting.
    func component(for type: MessageType) throws(ErrorReply) -> (any NodeComponent)? {
        lock.lock()
        defer { lock.unlock() }
        guard let component = handlers[type] else { return nil }
        guard ready.contains(component.name) else {
            throw ErrorReply(code: .unavailable, message: "\(component.name) is starting or restarting; retry")
        }
        return component
    }
}

/// A flag that can be claimed once, from any thread.
///
/// `@unchecked Sendable`: guarded by `lock`.
final class OnceFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var claimed = false

    /// True for the first caller only.
    func claim() -> Bool {
        lock.withLock {
            defer { claimed = true }
            return !claimed
        }
    }
}
