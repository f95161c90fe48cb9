import Dispatch
import Foundation
import Wire

/// Accepts connections on a TCP port (TLS) or a Unix socket (plain, mode 0600), completes the handshake and
/// hello of each, and hands established connections to `onConnection`. Refused peers (bad certificate,
/// no certificate, not TLS, bad hello, timeout) are closed before anything reaches `onConnection`.
///
/// `@unchecked Sendable`: the listening socket and its source are confined to `queue`; the rest is immutable.
public final class Listener: @unchecked Sendable {
    /// Where the listener is reachable (with the real port when port 0 was asked for).
    public let address: PeerAddress
    let local: NodeName
    private let contextLock = NSLock()
    private var currentContext: TLSContext?
    let settings: ConnectionSettings
    let onConnection: @Sendable (Connection, PeerInfo) -> Void
    let onRefusal: @Sendable (TransportError) -> Void
    private let queue = DispatchQueue(label: "gastown.listener")
    private let pendingLock = NSLock()
    private var pending = PendingHandshakes()
    private let source: DispatchSourceRead
    private let fd: Int32

    /// Listens on `host:port` (port 0: any free port) with TLS context `context`.
    public convenience init(
        host: String, port: UInt16, context: TLSContext, local: NodeName,
        settings: ConnectionSettings = ConnectionSettings(),
        onRefusal: @escaping @Sendable (TransportError) -> Void = { _ in },
        onConnection: @escaping @Sendable (Connection, PeerInfo) -> Void
    ) throws(TransportError) {
        let (fd, bound) = try Socket.listenTCP(host: host, port: port, backlog: settings.listenBacklog)
        self.init(
            fd: fd, address: .tcp(host: host, port: bound), context: context, local: local, settings: settings,
            onRefusal: onRefusal, onConnection: onConnection)
    }

    /// Listens on the Unix socket `path` (mode 0600), without TLS, for the local CLI.
    public convenience init(
        unixPath path: String, local: NodeName, settings: ConnectionSettings = ConnectionSettings(),
        onRefusal: @escaping @Sendable (TransportError) -> Void = { _ in },
        onConnection: @escaping @Sendable (Connection, PeerInfo) -> Void
    ) throws(TransportError) {
        let fd = try Socket.listenUnix(path: path, backlog: settings.listenBacklog)
        self.init(
            fd: fd, address: .unix(path: path), context: nil, local: local, settings: settings, onRefusal: onRefusal,
            onConnection: onConnection)
    }

    private init(
        fd: Int32, address: PeerAddress, context: TLSContext?, local: NodeName, settings: ConnectionSettings,
        onRefusal: @escaping @Sendable (TransportError) -> Void,
        onConnection: @escaping @Sendable (Connection, PeerInfo) -> Void
    ) {
        self.fd = fd
        self.address = address
        currentContext = context
        self.local = local
        self.settings = settings
        self.onRefusal = onRefusal
        self.onConnection = onConnection
        source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source.setEventHandler { [weak self] in self?.acceptAll() }
        source.setCancelHandler { Glibc.close(fd) }
        source.activate()
    }

    deinit { source.cancel() }

    private func acceptAll() {
        let perHost = isUnix ? Int.max : settings.maxPendingHandshakesPerHost
        while let client = Socket.accept(fd) {
            let host = isUnix ? "local" : (Socket.peerHost(client) ?? "unknown")
            let decision = pendingLock.withLock {
                pending.admit(host: host, total: settings.maxPendingHandshakes, perHost: perHost)
            }
            guard let (id, evicted) = decision else {
                Glibc.close(client)
                onRefusal(
                    .unavailable(
                        "refused a connection from \(host): more than \(settings.maxPendingHandshakes) handshakes in "
                            + "progress, or \(settings.maxPendingHandshakesPerHost) from that host"))
                continue
            }
            let connection = Connection.accepted(
                fd: client, context: contextLock.withLock { currentContext }, limits: .general, settings: settings,
                remoteHost: host)
            pendingLock.withLock { pending.attach(id, connection) }
            if let evicted {
                evicted.connection?.abort(.unavailable("handshake slot taken by a connection from another host"))
                onRefusal(.unavailable("closed a pending handshake from \(evicted.host) to admit one from \(host)"))
            }
            let local = self.local
            let onConnection = self.onConnection
            let onRefusal = self.onRefusal
            Task { [weak self] in
                defer { self?.pendingLock.withLock { self?.pending.finish(id) } }
                do {
                    let peer = try await connection.establish(local: local, expectedPeer: nil, purpose: nil)
                    onConnection(connection, peer)
                } catch {
                    onRefusal((error as? TransportError) ?? .cancelled)
                }
            }
        }
    }

    private var isUnix: Bool {
        if case .unix = address { return true }
        return false
    }

    /// How many connections are in their handshake now, by source host.
    public var pendingHandshakesByHost: [String: Int] { pendingLock.withLock { pending.countsByHost } }

    /// Uses `context` for connections accepted from now on (a renewed certificate, a rotated CA set).
    public func updateContext(_ context: TLSContext) {
        contextLock.withLock { currentContext = context }
    }

    /// Stops accepting (established connections are not touched). For a Unix socket, removes the file.
    public func close() {
        source.cancel()
        if case .unix(let path) = address { unlink(path) }
    }
}

/// The connections a listener holds in their handshake, by source host: admission under the total and
/// per-host caps, and the choice of which pending handshake gives way when the total is reached.
///
/// Not `Sendable`: the listener guards it with its lock.
struct PendingHandshakes {
    struct Entry {
        var id: UInt64
        var host: String
        var connection: Connection?
    }

    private var byHost: [String: [Entry]] = [:]
    private var nextID: UInt64 = 0
    private(set) var count = 0

    /// Admits a connection from `host`: returns its id and, when the total was reached, the entry it displaced
    /// (the oldest pending handshake of the host holding the most, when that is more than `host` holds); nil when
    /// it must be refused.
    mutating func admit(host: String, total: Int, perHost: Int) -> (UInt64, Entry?)? {
        let mine = byHost[host]?.count ?? 0
        guard mine < perHost else { return nil }
        var evicted: Entry?
        if count >= total {
            // The busiest host; on a tie, the one whose oldest handshake is oldest.
            let busiest = byHost.max { left, right in
                left.value.count != right.value.count
                    ? left.value.count < right.value.count : (left.value.first?.id ?? 0) > (right.value.first?.id ?? 0)
            }
            guard let busiest, busiest.value.count > mine + 1 else { return nil }
            evicted = byHost[busiest.key]?.removeFirst()
            if byHost[busiest.key]?.isEmpty == true { byHost[busiest.key] = nil }
            count -= 1
        }
        nextID += 1
        byHost[host, default: []].append(Entry(id: nextID, host: host, connection: nil))
        count += 1
        return (nextID, evicted)
    }

    /// Records the connection of the admitted handshake `id`.
    mutating func attach(_ id: UInt64, _ connection: Connection) {
        for (host, entries) in byHost {
            guard let index = entries.firstIndex(where: { $0.id == id }) else { continue }
            byHost[host]?[index].connection = connection
            return
        }
    }

    /// Pending handshakes by source host.
    var countsByHost: [String: Int] { byHost.mapValues(\.count) }

    /// The handshake `id` ended (established, refused or evicted).
    mutating func finish(_ id: UInt64) {
        for (host, entries) in byHost {
            guard let index = entries.firstIndex(where: { $0.id == id }) else { continue }
            byHost[host]?.remove(at: index)
            if byHost[host]?.isEmpty == true { byHost[host] = nil }
            count -= 1
            return
        }
    }
}

/// Opens connections to peers.
///
/// A caseless namespace; nothing to share.
public enum Dialer {
    /// Connects to `address` over TLS, checks that the server's certificate names `peer` (SNI + SAN), and
    /// completes the hello exchange for `purpose`. With `peer` nil (`gt node ping ADDRESS`), any node with a
    /// certificate from a trusted CA is accepted and its name is taken from that certificate.
    public static func connect(
        to address: PeerAddress, peer: NodeName?, context: TLSContext, local: NodeName,
        purpose: ConnectionPurpose = .general, settings: ConnectionSettings = ConnectionSettings()
    ) async throws(TransportError) -> (Connection, PeerInfo) {
        let connection = Connection.dial(
            address, context: context, serverName: peer, limits: purpose.limits, settings: settings)
        let info = try await connection.establish(local: local, expectedPeer: peer, purpose: purpose)
        return (connection, info)
    }

    /// Connects to a node's Unix socket (no TLS) as the local CLI named `local`.
    public static func connectLocal(
        path: String, node: NodeName? = nil, local: NodeName, settings: ConnectionSettings = ConnectionSettings()
    ) async throws(TransportError) -> (Connection, PeerInfo) {
        let connection = Connection.dial(
            .unix(path: path), context: nil, serverName: nil, limits: .general, settings: settings)
        let info = try await connection.establish(local: local, expectedPeer: node, purpose: .local)
        return (connection, info)
    }
}
