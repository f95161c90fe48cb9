import Dispatch
import Foundation
import Membership
import Transport
import Wire

extension MessageType {
    /// One membership protocol message, one-way, on the peer's dedicated membership link. Body:
    /// `Membership.Message.encode()`. The membership shell owns 200–209 (see `MembershipControl`).
    public static let membership = MessageType(rawValue: 200)
}

extension MessageRegistry {
    /// Registers the membership message types: the peer message and the local control requests.
    public mutating func registerMembership() {
        for descriptor in MembershipControl.descriptors { register(descriptor) }
    }
}

/// Traffic counters of a membership shell: what it sent and received on membership links.
///
/// Frame bytes are counted as they go on the wire before TLS: 4-byte frame length + envelope + body.
/// Sendable: plain value.
public struct MembershipTraffic: Sendable, Hashable, Codable {
    /// Messages handed to a membership link.
    public var messagesSent: UInt64 = 0
    /// Frame bytes handed to a membership link.
    public var bytesSent: UInt64 = 0
    /// Messages dropped: no link within the wait timeout, queue full, or a bad address.
    public var messagesDropped: UInt64 = 0
    /// Messages received and decoded.
    public var messagesReceived: UInt64 = 0
    /// Frame bytes received.
    public var bytesReceived: UInt64 = 0
    /// Messages that failed to decode (dropped).
    public var decodeErrors: UInt64 = 0

    enum CodingKeys: String, CodingKey {
        case messagesSent = "messages_sent"
        case bytesSent = "bytes_sent"
        case messagesDropped = "messages_dropped"
        case messagesReceived = "messages_received"
        case bytesReceived = "bytes_received"
        case decodeErrors = "decode_errors"
    }

    /// Zero counters.
    public init() {}
}

/// The membership shell's side of the transport: sends each encoded membership message as one frame on
/// the dedicated membership link of its peer (64 KiB frames, never queued behind bulk traffic), best
/// effort.
///
/// One bounded queue and one sender task per peer: a message waits at most `linkWaitTimeout` for the
/// peer's link and is dropped after that, or when the queue is full (the oldest go first). A message to a
/// seed address (no name yet) first learns the seed's name with a short TLS dial that checks its
/// certificate, then goes the same way.
///
/// `@unchecked Sendable`: the mutable tables and counters are guarded by `lock`; the manager is an actor.
public final class MembershipLinks: @unchecked Sendable {
    /// This node's name.
    public let local: NodeName
    let context: TLSContext
    let settings: MembershipShellSettings
    let connectionSettings: ConnectionSettings
    let currentManager: @Sendable () -> ConnectionManager
    let addPeer: @Sendable (NodeName, PeerAddress) async -> Void

    private struct Item: Sendable {
        var bytes: [UInt8]
        var address: String
    }

    private struct Outbox {
        var continuation: AsyncStream<Item>.Continuation
        var task: Task<Void, Never>
    }

    private let lock = NSLock()
    private var outboxes: [NodeName: Outbox] = [:]
    private var pending = 0
    private var traffic = MembershipTraffic()
    private var closed = false

    /// Makes the links for the node whose manager is `manager` (its registry must include the membership
    /// types: `MessageRegistry.registerMembership()`); `identity` is the node's TLS identity, used to dial
    /// seed addresses whose names are not known yet.
    public convenience init(manager: ConnectionManager, identity: NodeIdentity, settings: MembershipShellSettings)
        throws(TransportError)
    {
        try self.init(
            identity: identity, settings: settings, connectionSettings: manager.settings.connection,
            manager: { manager },
            addPeer: { peer, address in await manager.addPeer(peer, at: address, purposes: [.membership]) })
    }

    /// Makes the links for a node whose connection manager may be replaced (certificate renewal): `manager`
    /// returns the current one, and `addPeer` records a peer's address and keeps a membership link open to
    /// it (e.g. `NodeContext.addPeer(_:at:purposes: [.membership])`).
    public init(
        identity: NodeIdentity, settings: MembershipShellSettings, connectionSettings: ConnectionSettings,
        manager: @escaping @Sendable () -> ConnectionManager,
        addPeer: @escaping @Sendable (NodeName, PeerAddress) async -> Void
    ) throws(TransportError) {
        local = identity.name
        self.settings = settings
        self.connectionSettings = connectionSettings
        currentManager = manager
        self.addPeer = addPeer
        context = try TLSContext(identity: identity, mode: .mutual)
    }

    /// Traffic so far.
    public var counters: MembershipTraffic { lock.withLock { traffic } }

    /// Queues one encoded message for the member `name` at `address` (a seed when `name` is nil). Never
    /// blocks.
    func send(_ bytes: [UInt8], to address: String, name: String?) {
        guard let name else {
            resolveSeed(address, then: bytes)
            return
        }
        guard let peer = try? NodeName(name), peer != local else {
            lock.withLock { traffic.messagesDropped += 1 }
            return
        }
        enqueue(Item(bytes: bytes, address: address), for: peer)
    }

    /// Counts a received frame (its envelope at protocol `version`).
    func countReceived(bytes: Int, decoded: Bool, version: UInt16) {
        let size = Self.frameBytes(body: bytes, sender: local, version: version)
        lock.withLock {
            traffic.bytesReceived += UInt64(size)
            if decoded { traffic.messagesReceived += 1 } else { traffic.decodeErrors += 1 }
        }
    }

    /// Waits until every queued message was handed to its link (or dropped), for at most `timeout` seconds.
    func flush(timeout: TimeInterval) async {
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(timeout * 1e9)
        while lock.withLock({ pending }) > 0 && DispatchTime.now().uptimeNanoseconds < deadline {
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
    }

    /// Stops every sender task; later sends are dropped.
    func close() {
        let all: [Outbox] = lock.withLock {
            closed = true
            defer { outboxes = [:] }
            return Array(outboxes.values)
        }
        for outbox in all {
            outbox.continuation.finish()
            outbox.task.cancel()
        }
    }

    /// Frame bytes of a membership message at protocol `version`: frame length (4) + envelope header
    /// (compact: 4; version 1: 22 + sender) + body.
    static func frameBytes(body: Int, sender: NodeName, version: UInt16) -> Int {
        Envelope(version: version, kind: .oneWay, type: .membership, sender: sender).encoded().count + 4 + body
    }

    private func enqueue(_ item: Item, for peer: NodeName) {
        let continuation: AsyncStream<Item>.Continuation? = lock.withLock {
            if closed { return nil }
            if let outbox = outboxes[peer] { return outbox.continuation }
            let (stream, continuation) = AsyncStream.makeStream(
                of: Item.self, bufferingPolicy: .bufferingNewest(settings.sendQueueLimit))
            let task = Task { [weak self] in _ = await self?.drain(stream, to: peer) }
            outboxes[peer] = Outbox(continuation: continuation, task: task)
            return continuation
        }
        guard let continuation else {
            lock.withLock { traffic.messagesDropped += 1 }
            return
        }
        lock.withLock { pending += 1 }
        switch continuation.yield(item) {
        case .enqueued: break
        case .dropped, .terminated:
            lock.withLock {
                pending -= 1
                traffic.messagesDropped += 1
            }
        @unknown default: break
        }
    }

    private func drain(_ stream: AsyncStream<Item>, to peer: NodeName) async {
        var registered: String?
        for await item in stream {
            var sent = false
            var version = ProtocolVersion.current
            if item.address != registered, let address = try? PeerAddress(parsing: item.address) {
                await addPeer(peer, address)
                registered = item.address
            }
            // An empty address: a member we know only by the link it reached us on; answer over that link.
            if registered != nil || item.address.isEmpty,
                let link = try? await currentManager().link(
                    to: peer, purpose: .membership, timeout: settings.linkWaitTimeout)
            {
                version = link.peer.version
                do {
                    try await link.send(.membership, body: item.bytes)
                    sent = true
                } catch {
                    sent = false
                }
            }
            let size = Self.frameBytes(body: item.bytes.count, sender: local, version: version)
            lock.withLock {
                pending -= 1
                if sent {
                    traffic.messagesSent += 1
                    traffic.bytesSent += UInt64(size)
                } else {
                    traffic.messagesDropped += 1
                }
            }
        }
    }

    /// Learns the name of the node at a seed address with a short TLS dial (its certificate must come from
    /// our CA), then queues `bytes` to it by name.
    private func resolveSeed(_ address: String, then bytes: [UInt8]) {
        guard let peerAddress = try? PeerAddress(parsing: address) else {
            lock.withLock { traffic.messagesDropped += 1 }
            return
        }
        lock.withLock { pending += 1 }
        let local = self.local
        let connectionSettings = self.connectionSettings
        Task { [weak self, context] in
            var target: NodeName?
            if let (connection, info) = try? await Dialer.connect(
                to: peerAddress, peer: nil, context: context, local: local, purpose: .membership,
                settings: connectionSettings)
            {
                target = info.name
                try? await connection.send(
                    Envelope(version: info.version, kind: .oneWay, type: .goodbye, sender: local).encoded())
                connection.close(reason: "seed name learned")
            }
            guard let self else { return }
            self.lock.withLock { self.pending -= 1 }
            if let target, target != local {
                self.enqueue(Item(bytes: bytes, address: address), for: target)
            } else {
                self.lock.withLock { self.traffic.messagesDropped += 1 }
            }
        }
    }
}
