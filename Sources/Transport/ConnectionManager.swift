import Foundation
import Wire

/// Intervals and limits of a node's connection manager, with their defaults.
///
/// `Sendable` because it is a plain value.
public struct ConnectionManagerSettings: Sendable {
    /// Per-connection limits and timeouts.
    public var connection = ConnectionSettings()
    /// Default time a request waits for its response. Default 10 s.
    public var requestTimeout: TimeInterval = 10
    /// A link with no received frame for this long is pinged. Default 15 s.
    public var keepAliveInterval: TimeInterval = 15
    /// First reconnect delay. Default 100 ms.
    public var reconnectBaseDelay: TimeInterval = 0.1
    /// Reconnect delays double up to this cap. Default 10 s.
    public var reconnectMaxDelay: TimeInterval = 10
    /// Fraction of each delay that is random (0: none, 1: full jitter). Default 0.5.
    public var reconnectJitter: Double = 0.5
    /// A link that lived shorter than this counts as a failed attempt for backoff. Default 1 s.
    public var minimumHealthyLinkLife: TimeInterval = 1

    public init() {}
}

/// Reconnect backoff: capped exponential with jitter. Pure; the random fraction is passed in.
///
/// A caseless namespace; nothing to share.
public enum Backoff {
    /// Delay before attempt `attempt` (1 = first retry): `min(cap, base × 2^(attempt-1))`, of which the
    /// fraction `jitter` is scaled by `random` (in 0..<1).
    public static func delay(
        attempt: Int, base: TimeInterval, cap: TimeInterval, jitter: Double, random: Double
    ) -> TimeInterval {
        guard attempt > 0 else { return 0 }
        let raw = min(cap, base * pow(2, Double(min(attempt - 1, 30))))
        return raw * (1 - jitter) + raw * jitter * random
    }
}

/// Who wants to hear that a dial to a peer was refused (ECONNREFUSED: nothing listens at its address, so
/// its process died on a host that is up), such as the membership shell, for which that is evidence of a
/// crash a probe timeout is not. Observers are called on the dialing task; they must not block.
///
/// `@unchecked Sendable`: the observer list is guarded by `lock`.
public final class PeerRefusals: @unchecked Sendable {
    private let lock = NSLock()
    private var observers: [Int: @Sendable (NodeName) -> Void] = [:]
    private var nextToken = 0

    /// Names one observer so it can be dropped (`stopObserving`). `Sendable`: a plain value.
    public struct Token: Hashable, Sendable {
        let value: Int
    }

    init() {}

    /// Calls `observer` with the peer's name for every refused dial from now on, until `stopObserving(token)`.
    @discardableResult
    public func observe(_ observer: @escaping @Sendable (NodeName) -> Void) -> Token {
        lock.withLock {
            nextToken += 1
            observers[nextToken] = observer
            return Token(value: nextToken)
        }
    }

    /// Drops the observer `token` names (a component that stops drops its observer, so restarts do not pile up).
    public func stopObserving(_ token: Token) {
        _ = lock.withLock { observers.removeValue(forKey: token.value) }
    }

    /// How many observers are registered (for tests).
    public var observerCount: Int { lock.withLock { observers.count } }

    func report(_ peer: NodeName) {
        for observer in lock.withLock({ Array(observers.values) }) { observer(peer) }
    }
}

/// A connection slot: one per peer and purpose.
struct LinkKey: Hashable, Sendable {
    var peer: NodeName
    var purpose: ConnectionPurpose
}

/// A node's connections to its peers: one long-lived link per peer and purpose (general, plus a dedicated
/// membership link with 64 KiB frames), redialed with capped exponential backoff and jitter, kept alive
/// with pings, with request/response (timeouts, cancellation), one-way messages and a clean shutdown.
/// When two nodes dial each other at once, the link dialed by the smaller name is kept on both sides.
/// Revoked peers' live links are dropped. Certificate-less join connections go to the `JoinService`.
///
/// An actor: its bookkeeping is isolated; sending on a link does not go through the actor.
public actor ConnectionManager {
    public nonisolated let local: NodeName
    public nonisolated let settings: ConnectionManagerSettings
    /// The revocations this node enforces (shared with every identity it is given).
    public nonisolated let revocations: RevocationList
    /// Refused dials, for observers (the membership shell).
    public nonisolated let refusals = PeerRefusals()
    /// The identity presented on new connections (replaced by `updateIdentity` after renewal or rotation).
    public private(set) var identity: NodeIdentity
    private var context: TLSContext
    nonisolated let registry: MessageRegistry
    nonisolated let handler: InboundHandler
    nonisolated let joinService: JoinService?

    private var listener: Listener?
    private var addresses: [NodeName: PeerAddress] = [:]
    private var links: [LinkKey: PeerLink] = [:]
    private var dialLoops: [LinkKey: Task<Void, Never>] = [:]
    private var linkWaiters: [LinkKey: [CheckedContinuation<Void, Never>]] = [:]
    private var running = true
    private var revocationObserver: UUID?
    private var refusalLog: [TransportError] = []
    private var linkTasks = 0
    /// When an inbound link of a peer replaced another open inbound link of the same peer and purpose.
    private var takeovers: [NodeName: [Date]] = [:]
    /// Peers whose inbound links keep replacing each other, with when that was last seen.
    private var duplicates: [NodeName: (count: Int, seen: Date)] = [:]
    /// Inbound takeovers of one peer within `takeoverWindow` that make it a suspected duplicate identity.
    public static let takeoverLimit = 3
    /// The window of `takeoverLimit`. 60 s.
    public static let takeoverWindow: TimeInterval = 60
    /// How many refusals `recentRefusals` keeps.
    public static let refusalLogLength = 64

    /// - Parameters:
    ///   - registry: message types this node accepts; others are answered with an error reply.
    ///   - joinService: set on nodes holding the CA key; their listener then also accepts joining nodes.
    ///   - handler: receives every message for upper layers.
    public init(
        identity: NodeIdentity, settings: ConnectionManagerSettings = ConnectionManagerSettings(),
        registry: MessageRegistry = .core, joinService: JoinService? = nil, handler: @escaping InboundHandler
    ) throws(TransportError) {
        self.identity = identity
        revocations = identity.revocations
        local = identity.name
        self.settings = settings
        self.registry = registry
        self.joinService = joinService
        self.handler = handler
        context = try TLSContext(identity: identity, mode: joinService == nil ? .mutual : .acceptingJoins)
    }

    /// Starts listening on `host:port` (0 for any free port); returns the bound address.
    @discardableResult
    public func listen(host: String, port: UInt16) throws(TransportError) -> PeerAddress {
        startRevocationWatch()
        let listener = try Listener(
            host: host, port: port, context: context, local: local, settings: settings.connection,
            onRefusal: { [weak self] error in
                guard let self else { return }
                Task { await self.recordRefusal(error) }
            },
            onConnection: { [weak self] connection, peer in
                guard let self else {
                    connection.close()
                    return
                }
                Task { await self.adopt(connection, peer) }
            })
        self.listener = listener
        return listener.address
    }

    /// Adds (or moves) a peer and keeps a link of each purpose open to it.
    public func addPeer(_ peer: NodeName, at address: PeerAddress, purposes: Set<ConnectionPurpose> = [.general]) {
        guard running, peer != local else { return }
        startRevocationWatch()
        addresses[peer] = address
        for purpose in purposes where dialLoops[LinkKey(peer: peer, purpose: purpose)] == nil {
            let key = LinkKey(peer: peer, purpose: purpose)
            dialLoops[key] = Task { [weak self] in await self?.dialLoop(key) }
        }
    }

    /// Presents `newIdentity` on new connections from now on (after `PKI.renewIfDue`, `JoinClient.renew` or a
    /// CA rotation) and trusts its CA set. Links whose peer certificate no longer chains to a trusted CA
    /// are closed (their peers redial and are checked again). The name must not change.
    public func updateIdentity(_ newIdentity: NodeIdentity) throws(TransportError) {
        guard newIdentity.name == local else {
            throw .pki("a running node cannot change its name from \(local) to \(newIdentity.name)")
        }
        var adjusted = newIdentity
        adjusted.revocations = revocations
        let fresh = try TLSContext(identity: adjusted, mode: joinService == nil ? .mutual : .acceptingJoins)
        identity = adjusted
        context = fresh
        listener?.updateContext(fresh)
        for (key, link) in links {
            guard let certificate = link.peer.certificate else { continue }
            if !adjusted.trustedAuthorities.contains(where: { certificate.isSigned(by: $0) }) {
                link.connection.close(reason: "the peer's CA is no longer trusted")
                links[key] = nil
            }
        }
    }

    /// Forgets a peer: stops redialing and closes its links.
    public func removePeer(_ peer: NodeName) {
        addresses[peer] = nil
        for (key, task) in dialLoops where key.peer == peer {
            task.cancel()
            dialLoops[key] = nil
        }
        for (key, link) in links where key.peer == peer {
            link.connection.close(reason: "peer removed")
            links[key] = nil
        }
    }

    /// Peers with an open link of `purpose`.
    public func connectedPeers(purpose: ConnectionPurpose = .general) -> [NodeName] {
        links.filter { $0.key.purpose == purpose && $0.value.connection.closedReason == nil }.map(\.key.peer).sorted()
    }

    /// The open link to `peer`, waiting up to `timeout` for one when the peer's address is known.
    public func link(
        to peer: NodeName, purpose: ConnectionPurpose = .general, timeout: TimeInterval? = nil
    ) async throws(TransportError) -> PeerLink {
        let key = LinkKey(peer: peer, purpose: purpose)
        let deadline = Date().addingTimeInterval(timeout ?? settings.requestTimeout)
        while true {
            if let link = links[key], link.connection.closedReason == nil { return link }
            guard running else { throw .closed(reason: "the connection manager is shut down") }
            guard addresses[peer] != nil else { throw .unreachable(peer, "no connection and no known address") }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { throw .unreachable(peer, "no connection within the time allowed") }
            await waitForLink(key, upTo: remaining)
            if Task.isCancelled { throw .cancelled }
        }
    }

    private func waitForLink(_ key: LinkKey, upTo seconds: TimeInterval) async {
        let wake = Task { [weak self] in
            try? await Task.sleep(nanoseconds: UInt64(min(seconds, 3600) * 1e9))
            await self?.wakeWaiters(key)
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            linkWaiters[key, default: []].append(continuation)
        }
        wake.cancel()
    }

    private func wakeWaiters(_ key: LinkKey) {
        let waiters = linkWaiters.removeValue(forKey: key) ?? []
        for waiter in waiters { waiter.resume() }
    }

    /// Sends a request to `peer` and returns the response envelope (an error reply is thrown as
    /// `.remoteError`).
    public nonisolated func request(
        _ type: MessageType, body: [UInt8], to peer: NodeName, purpose: ConnectionPurpose = .general,
        epoch: UInt64 = 0, timeout: TimeInterval? = nil
    ) async throws(TransportError) -> Envelope {
        let link = try await link(to: peer, purpose: purpose, timeout: timeout)
        return try await link.request(type, body: body, epoch: epoch, timeout: timeout ?? settings.requestTimeout)
    }

    /// Sends a one-way message to `peer`.
    public nonisolated func send(
        _ type: MessageType, body: [UInt8], to peer: NodeName, purpose: ConnectionPurpose = .general, epoch: UInt64 = 0
    ) async throws(TransportError) {
        let link = try await link(to: peer, purpose: purpose)
        try await link.send(type, body: body, epoch: epoch)
    }

    /// Closes everything cleanly: stops listening and redialing, says goodbye on every link, sends TLS
    /// close_notify, and waits (bounded by the handshake timeout) for the connections to close.
    /// With `graceful` false, links are cut at once with no goodbye and no close_notify (what peers see when
    /// a node crashes).
    public func shutdown(graceful: Bool = true) async {
        running = false
        listener?.close()
        listener = nil
        for task in dialLoops.values { task.cancel() }
        dialLoops = [:]
        if let revocationObserver { revocations.removeObserver(revocationObserver) }
        let open = Array(links.values)
        links = [:]
        for key in Array(linkWaiters.keys) { wakeWaiters(key) }
        for link in open {
            if graceful {
                try? await link.send(.goodbye, body: [])
                link.connection.close(reason: "\(local) is shutting down")
            } else {
                link.connection.abort(.closed(reason: "\(local) stopped abruptly"))
            }
        }
        for link in open { await link.connection.waitUntilClosed() }
    }

    /// The latest refused inbound connections (bad certificate, not TLS, bad hello, …) and links dropped for
    /// misbehaviour (bad frames, timeouts, revocation), oldest first.
    public func recentRefusals() -> [TransportError] { refusalLog }

    /// Peers whose certificate seems held by two live processes: their inbound links kept replacing each
    /// other (at least `takeoverLimit` times within `takeoverWindow`; a restarted or reconnecting peer does it
    /// once), with how many times and when it was last seen. Kept for 10 minutes after the last time.
    public func duplicateIdentitySuspects(now: Date = Date()) -> [NodeName: (count: Int, seen: Date)] {
        duplicates = duplicates.filter { now.timeIntervalSince($0.value.seen) < 600 }
        return duplicates
    }

    /// Accepted connections still in their TLS handshake or hello, by source host (see
    /// `ConnectionSettings.maxPendingHandshakes`).
    public func pendingHandshakes() -> [String: Int] { listener?.pendingHandshakesByHost ?? [:] }

    /// Tasks serving links (a reader and a keep-alive per link); they end with their link.
    public func liveLinkTaskCount() -> Int { linkTasks }

    // MARK: Internals

    private func linkTaskEnded() { linkTasks -= 1 }

    /// Counts an inbound link that replaced an open inbound link of the same peer: two processes presenting
    /// one certificate (a copied `.gt/pki`) each redial when the other's link replaces theirs.
    private func noteTakeover(of peer: NodeName, now: Date = Date()) {
        let recent = (takeovers[peer] ?? []).filter { now.timeIntervalSince($0) < Self.takeoverWindow } + [now]
        if takeovers[peer] == nil && takeovers.count >= 1024 { takeovers.removeAll() }
        takeovers[peer] = recent
        if recent.count >= Self.takeoverLimit { duplicates[peer] = (recent.count, now) }
    }

    private func recordRefusal(_ error: TransportError) {
        refusalLog.append(error)
        if refusalLog.count > Self.refusalLogLength { refusalLog.removeFirst(refusalLog.count - Self.refusalLogLength) }
    }

    private func startRevocationWatch() {
        guard revocationObserver == nil else { return }
        revocationObserver = revocations.addObserver { [weak self] entry in
            guard let self else { return }
            Task { await self.dropRevoked(serial: entry.serial) }
        }
    }

    private func dropRevoked(serial: String) {
        for (key, link) in links where link.peer.certificate?.serial.uppercased() == serial.uppercased() {
            link.connection.abort(.revoked(serial: serial))
            links[key] = nil
        }
    }

    /// Takes an established connection into the link table (tie-break applied) and starts serving it.
    func adopt(_ connection: Connection, _ peer: PeerInfo) {
        guard running else {
            connection.close(reason: "shutting down")
            return
        }
        if peer.purpose == .join {
            guard let joinService else {
                connection.abort(.joinRefused("this node does not hold the CA"))
                return
            }
            Task { [weak self] in
                // A join that replaced a node revoked its certificates: apply and spread that at once.
                for entry in await joinService.serve(connection, peer: peer) { await self?.publishRevocation(entry) }
            }
            return
        }
        if let certificate = peer.certificate, revocations.isRevoked(serial: certificate.serial) {
            recordRefusal(.revoked(serial: certificate.serial))
            connection.abort(.revoked(serial: certificate.serial))
            return
        }
        let key = LinkKey(peer: peer.name, purpose: peer.purpose)
        if let existing = links[key], existing.connection.closedReason == nil {
            if !existing.peer.dialedByLocal && !peer.dialedByLocal { noteTakeover(of: peer.name) }
            let dialerOf = { (info: PeerInfo) in info.dialedByLocal ? self.local : info.name }
            let existingPreferred = TieBreak.keeps(
                connectionDialedBy: dialerOf(existing.peer), local: local, remote: peer.name)
            let newPreferred = TieBreak.keeps(connectionDialedBy: dialerOf(peer), local: local, remote: peer.name)
            if existingPreferred && !newPreferred {
                retire(
                    PeerLink(
                        connection: connection, peer: peer, local: local, registry: registry, handler: wrappedHandler()),
                    running: false)
                return
            }
            retire(existing, running: true)
        }
        let link = PeerLink(
            connection: connection, peer: peer, local: local, registry: registry, handler: wrappedHandler())
        link.onGoodbye = { [weak self, weak link] in
            guard let self, let link else { return }
            Task { await self.linkEnded(link, key: key) }
        }
        links[key] = link
        wakeWaiters(key)
        linkTasks += 2
        let keepAlive = Task { [weak self, settings] in
            await Self.keepAlive(link, settings: settings) { [weak self] in await self?.siblingIdleSeconds(of: link) }
            await self?.linkTaskEnded()
        }
        Task { [weak self] in
            let reason = await link.run()
            keepAlive.cancel()  // nothing outlives the link
            await self?.linkEnded(link, key: key, reason: reason)
            await self?.linkTaskEnded()
        }
    }

    /// Seconds since the freshest frame on another link to the same peer (its membership link, say), or nil.
    private func siblingIdleSeconds(of link: PeerLink) -> TimeInterval? {
        links.compactMap { $0.key.peer == link.peer.name && $0.value !== link ? $0.value.idleSeconds : nil }.min()
    }

    /// Pings `link` whenever it has been silent for `keepAliveInterval`; aborts it when a ping goes
    /// unanswered. Returns when the link closes or the task is cancelled. While another link to the same
    /// peer is busy (heard from within `keepAliveInterval`: membership probes, every second or so), the
    /// peer is known alive and this link is pinged only after half the connection's idle timeout, which
    /// still keeps it open and finds it if it alone broke.
    private static func keepAlive(
        _ link: PeerLink, settings: ConnectionManagerSettings,
        siblingIdle: @escaping @Sendable () async -> TimeInterval?
    ) async {
        let relaxed = max(settings.keepAliveInterval, settings.connection.idleTimeout / 2)
        while !Task.isCancelled && link.connection.closedReason == nil {
            try? await Task.sleep(nanoseconds: UInt64(settings.keepAliveInterval / 3 * 1e9))
            guard !Task.isCancelled, link.connection.closedReason == nil else { return }
            let idle = link.idleSeconds
            guard idle >= settings.keepAliveInterval else { continue }
            if idle < relaxed, let sibling = await siblingIdle(), sibling < settings.keepAliveInterval { continue }
            do {
                _ = try await link.request(.ping, body: [], timeout: settings.requestTimeout)
            } catch {
                link.connection.abort(.timedOut("keep-alive ping unanswered: \(error)"))
            }
        }
    }

    /// Takes a duplicate link out of use without losing what is in flight on it: it says goodbye (the peer
    /// then closes it after flushing), and keeps delivering what arrives until it closes, or for at most the
    /// handshake timeout.
    private nonisolated func retire(_ link: PeerLink, running: Bool) {
        if !running { Task { _ = await link.run() } }
        let grace = settings.connection.handshakeTimeout
        Task {
            try? await link.send(.goodbye, body: [])
            try? await Task.sleep(nanoseconds: UInt64(grace * 1e9))
            link.connection.abort(.closed(reason: "duplicate link did not close in time"))
        }
    }

    private func linkEnded(_ link: PeerLink, key: LinkKey, reason: TransportError? = nil) {
        if links[key] === link { links[key] = nil }
        switch reason {
        case .protocolViolation, .timedOut, .helloRejected, .revoked: recordRefusal(reason!)
        default: break
        }
    }

    /// Applies a CA-signed revocation locally (dropping live links of that certificate) and sends it to
    /// every connected peer, which apply it and pass it on to their own peers once. Returns false when
    /// the entry's signature does not verify or it was already known. Persisting it
    /// (`PKI.recordRevocation`) is the caller's job; receivers' handlers get the `revocation` message too.
    @discardableResult
    public func publishRevocation(_ entry: RevocationEntry) async -> Bool {
        guard revocations.add(entry, trusting: identity.trustedAuthorities) else { return false }
        let body = Array(entry.jsonLine().utf8)
        for link in links.values where link.peer.purpose == .general && link.connection.closedReason == nil {
            try? await link.send(.revocation, body: body)
        }
        return true
    }

    private nonisolated func wrappedHandler() -> InboundHandler {
        let handler = self.handler
        let joinService = self.joinService
        return { [weak self] message in
            if message.envelope.type == .revocation, message.envelope.kind == .oneWay {
                guard let entry = try? JSONDecoder().decode(RevocationEntry.self, from: Data(message.envelope.body))
                else { throw ErrorReply(code: .badRequest, message: "unreadable revocation entry") }
                guard await self?.publishRevocation(entry) == true else { return [] }
            }
            if message.envelope.type == .renewRequest, message.envelope.kind == .request {
                guard let joinService else {
                    throw ErrorReply(code: .refused, message: "this node does not hold the CA key")
                }
                return try await joinService.renewOffPool(message)
            }
            if message.envelope.type == .renameRequest, message.envelope.kind == .request {
                guard let joinService else {
                    throw ErrorReply(code: .refused, message: "this node does not hold the CA key")
                }
                return try await joinService.renameOffPool(message)
            }
            return try await handler(message)
        }
    }

    private func currentLink(_ key: LinkKey) -> PeerLink? {
        guard let link = links[key], link.connection.closedReason == nil else { return nil }
        return link
    }

    private func dialLoop(_ key: LinkKey) async {
        var failures = 0
        while !Task.isCancelled && running {
            if let link = currentLink(key) {
                let start = Date()
                await link.connection.waitUntilClosed()
                failures = Date().timeIntervalSince(start) < settings.minimumHealthyLinkLife ? failures + 1 : 0
            } else if let address = addresses[key.peer] {
                do {
                    let (connection, info) = try await Dialer.connect(
                        to: address, peer: key.peer, context: context, local: local, purpose: key.purpose,
                        settings: settings.connection)
                    adopt(connection, info)
                    if currentLink(key) == nil { failures += 1 }
                } catch {
                    if case .system(_, let code) = error, code == ECONNREFUSED { refusals.report(key.peer) }
                    failures += 1
                }
            } else {
                return
            }
            if failures > 0 && !Task.isCancelled && running {
                let delay = Backoff.delay(
                    attempt: failures, base: settings.reconnectBaseDelay, cap: settings.reconnectMaxDelay,
                    jitter: settings.reconnectJitter, random: Double.random(in: 0..<1))
                try? await Task.sleep(nanoseconds: UInt64(delay * 1e9))
            }
        }
    }
}
