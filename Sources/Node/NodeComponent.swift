import Foundation
import Town
import Transport
import Wire

/// A part of the node daemon (membership shell, Mayor, Deacon, LedgerActor, Witness, Refinery, …) that the
/// `Node` starts, supervises and routes messages to.
///
/// Life cycle, under the node's `Supervisor`: `start(in:)`, then `run()`; when either throws, `stop()` is
/// called and the component is started again after a backoff (`SupervisorSettings`). At node shutdown the
/// task running `run()` is cancelled and `stop()` is called. Messages whose type is in `messageTypes` (from
/// peers over TLS, and from the local CLI over the Unix socket; `message.peer.purpose` says which) go to
/// `handle(_:)` while the component is started; otherwise the sender gets an `unavailable` error reply.
///
/// Must be `Sendable`: the node calls it from several tasks. Usually an actor or a final class holding one.
public protocol NodeComponent: Sendable {
    /// A short unique name (`membership`, `mayor`), used in logs, events and `gt status`.
    var name: String { get }
    /// The message types this component handles. Numbers are unique across the node: 0–99 belong to Wire and
    /// Transport, 150–179 to the `Node` itself (see `NodeMessageType`); pick others.
    var messageTypes: [MessageDescriptor] { get }
    /// Prepares the component (opens files, subscribes, arms timers). Throwing is a failed start.
    func start(in context: NodeContext) async throws
    /// The component's main loop, if it has one. Runs until cancelled; throwing is a failure (the component is
    /// stopped and restarted). The default waits until cancelled.
    func run() async throws
    /// Releases what `start` took. Called after a failure and at shutdown; must not throw and must be bounded.
    func stop() async
    /// Answers one message of a type in `messageTypes`. For a request the result is the response body, and a
    /// thrown `ErrorReply` is sent back as the error reply; for a one-way message the result is ignored.
    func handle(_ message: InboundMessage) async throws -> [UInt8]
}

extension NodeComponent {
    public var messageTypes: [MessageDescriptor] { [] }

    public func run() async throws {
        while !Task.isCancelled {
            try await Task.sleep(nanoseconds: 3_600_000_000_000)
        }
        throw CancellationError()
    }

    public func stop() async {}

    public func handle(_ message: InboundMessage) async throws -> [UInt8] {
        throw ErrorReply(code: .unknownMessageType, message: "\(name) does not handle \(message.envelope.type)")
    }
}

/// What a component gets from the node: its identity, the town's paths, settings, logging, and the transport
/// (sending to peers, learning addresses). Stays valid for the node's life; the connection manager keeps
/// running across certificate renewals and CA rotations (`ConnectionManager.updateIdentity`), and the peer
/// directory kept here is what the node redials.
///
/// `Sendable`: immutable fields plus the node's transport box, which is locked.
public final class NodeContext: Sendable {
    /// This node's name (the CN of its certificate).
    public let name: NodeName
    /// The town's files.
    public let town: TownPaths
    /// The town's `mayor/town.json` as the node read it when it started (every component takes its settings
    /// from here rather than reading the file again).
    public let townFile: TownFile
    /// The node's settings.
    public let settings: NodeSettings
    /// The node's log (`<town>/.gt/logs/node.log`).
    public let log: NodeLogger
    /// The node's events file (`<town>/.gt/events.jsonl`).
    public let events: EventLog
    /// Warnings that `gt status` and `gt node list` show (a duplicate identity, …).
    public let warnings = WarningBoard()
    let box: TransportBox

    init(
        name: NodeName, town: TownPaths, townFile: TownFile, settings: NodeSettings, log: NodeLogger, events: EventLog,
        box: TransportBox
    ) {
        self.name = name
        self.town = town
        self.townFile = townFile
        self.settings = settings
        self.log = log
        self.events = events
        self.box = box
    }

    /// The node's connection manager.
    public var manager: ConnectionManager { box.manager }

    /// The address this node listens on for peers.
    public var listenAddress: PeerAddress { box.listenAddress }

    /// Sends a request to `peer` over its long-lived link; see `ConnectionManager.request`.
    public func request(
        _ type: MessageType, body: [UInt8], to peer: NodeName, purpose: ConnectionPurpose = .general,
        epoch: UInt64 = 0, timeout: TimeInterval? = nil
    ) async throws(TransportError) -> Envelope {
        try await box.manager.request(type, body: body, to: peer, purpose: purpose, epoch: epoch, timeout: timeout)
    }

    /// Sends a one-way message to `peer`.
    public func send(
        _ type: MessageType, body: [UInt8], to peer: NodeName, purpose: ConnectionPurpose = .general, epoch: UInt64 = 0
    ) async throws(TransportError) {
        try await box.manager.send(type, body: body, to: peer, purpose: purpose, epoch: epoch)
    }

    /// Records where `peer` listens and keeps links of `purposes` open to it.
    public func addPeer(_ peer: NodeName, at address: PeerAddress, purposes: Set<ConnectionPurpose> = [.general]) async
    {
        await box.addPeer(peer, at: address, purposes: purposes)
    }

    /// Forgets `peer` and closes its links.
    public func removePeer(_ peer: NodeName) async {
        await box.removePeer(peer)
    }

    /// Known peers and their addresses.
    public var peerAddresses: [NodeName: PeerAddress] { box.peerAddresses }
}

/// The node's transport and its peer directory.
///
/// `@unchecked Sendable`: the peer table is guarded by `lock`; the rest is immutable.
final class TransportBox: @unchecked Sendable {
    private let lock = NSLock()
    private let current: ConnectionManager
    private let address: PeerAddress
    private var peers: [NodeName: (PeerAddress, Set<ConnectionPurpose>)] = [:]

    init(manager: ConnectionManager, address: PeerAddress) {
        current = manager
        self.address = address
    }

    var manager: ConnectionManager { current }
    var listenAddress: PeerAddress { address }
    var peerAddresses: [NodeName: PeerAddress] { lock.withLock { peers.mapValues(\.0) } }
    var peerTable: [NodeName: (PeerAddress, Set<ConnectionPurpose>)] { lock.withLock { peers } }

    func addPeer(_ peer: NodeName, at address: PeerAddress, purposes: Set<ConnectionPurpose>) async {
        let manager: ConnectionManager = lock.withLock {
            let merged = purposes.union(peers[peer]?.1 ?? [])
            peers[peer] = (address, merged)
            return current
        }
        await manager.addPeer(peer, at: address, purposes: purposes)
    }

    func removePeer(_ peer: NodeName) async {
        let manager: ConnectionManager = lock.withLock {
            peers[peer] = nil
            return current
        }
        await manager.removePeer(peer)
    }
}

/// Warnings a node shows in `gt status` and `gt node list` until they stop recurring: each is set under a
/// key, with the time it was last seen, and dropped `retention` after that.
///
/// `@unchecked Sendable`: the table is guarded by `lock`.
public final class WarningBoard: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String: (text: String, seen: Date)] = [:]
    /// How long a warning stays after it was last seen. Default 10 minutes.
    public let retention: TimeInterval

    public init(retention: TimeInterval = 600) { self.retention = retention }

    /// Sets (or refreshes) the warning `key`; returns true when it was not shown before.
    @discardableResult
    public func set(_ key: String, _ text: String, now: Date = Date()) -> Bool {
        lock.withLock {
            let previous = entries[key]?.seen
            let fresh = previous.map { now.timeIntervalSince($0) >= retention } ?? true
            entries[key] = (text, max(now, previous ?? now))
            return fresh
        }
    }

    /// The warnings seen within `retention`, oldest key first.
    public func current(now: Date = Date()) -> [String] {
        lock.withLock {
            entries = entries.filter { now.timeIntervalSince($0.value.seen) < retention }
            return entries.sorted { $0.key < $1.key }.map { entry in
                let ago = Int(now.timeIntervalSince(entry.value.seen))
                return "\(entry.value.text) (last seen \(ago) s ago)"
            }
        }
    }
}
