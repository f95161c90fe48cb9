import Foundation
import Membership
import Transport
import Wire

/// A connection manager with a membership shell plugged in: what a node needs for membership alone. Used
/// by the node daemon's membership component, by tests (several stacks in one process on loopback) and by
/// the benchmark.
///
/// The manager's inbound handler gives membership messages to the shell and everything else to `other`.
/// `@unchecked Sendable`: every stored property is immutable after `init` except the shell reference,
/// which is set once in `init` before the listener starts and read through `ShellBox`'s lock.
public final class MembershipStack: @unchecked Sendable {
    /// The node's connection manager.
    public let manager: ConnectionManager
    /// The membership shell.
    public let shell: MembershipShell
    /// The address the listener is bound to.
    public let address: PeerAddress

    /// Holds the shell for the inbound handler, which must exist before the shell does.
    final class ShellBox: @unchecked Sendable {
        private let lock = NSLock()
        private var value: MembershipShell?
        var shell: MembershipShell? {
            get { lock.withLock { value } }
            set { lock.withLock { value = newValue } }
        }
    }

    /// Listens on `host:port` (0: any free port) with `identity`, and makes the shell advertising
    /// `advertise` (default: the bound address). Call `shell.start(seeds:)` to join.
    /// - Parameter other: handles every non-membership message (default: refuses requests).
    public init(
        identity: NodeIdentity, host: String = "127.0.0.1", port: UInt16 = 0, advertise: String? = nil,
        metadata: Membership.Metadata = Membership.Metadata(),
        settings: MembershipShellSettings = MembershipShellSettings(),
        managerSettings: ConnectionManagerSettings = ConnectionManagerSettings(),
        registry: MessageRegistry = .core, joinService: JoinService? = nil, readsHostMetrics: Bool = true,
        other: InboundHandler? = nil
    ) async throws(TransportError) {
        var registry = registry
        registry.registerMembership()
        let box = ShellBox()
        manager = try ConnectionManager(
            identity: identity, settings: managerSettings, registry: registry, joinService: joinService
        ) { message in
            if let shell = box.shell, await shell.handle(message) { return [] }
            if let other { return try await other(message) }
            throw ErrorReply(code: .unknownMessageType, message: "this node serves only membership")
        }
        let links = try MembershipLinks(manager: manager, identity: identity, settings: settings)
        address = try await manager.listen(host: host, port: port)
        let me = Membership.Node(name: identity.name.rawValue, address: advertise ?? address.description)
        shell = MembershipShell(
            myself: me, metadata: metadata, links: links, settings: settings, readsHostMetrics: readsHostMetrics)
        box.shell = shell
        manager.refusals.observe { [weak shell] peer in
            guard let shell else { return }
            Task { await shell.connectionRefused(peer) }
        }
    }

    /// Stops the shell (without leaving) and shuts the transport down: to others this node has failed.
    public func stop() async {
        await shell.stop()
        await manager.shutdown()
    }

    /// Leaves gracefully, then shuts the transport down.
    public func leaveAndStop() async {
        await shell.leave()
        await manager.shutdown()
    }
}
