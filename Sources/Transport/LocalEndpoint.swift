import Foundation
import Wire

/// The node side of the local Unix socket (`<town>/.gt/node.sock`, mode 0600): accepts `gt`/`bd`
/// connections and serves their requests with `handler`, with the same frames, envelopes and registry as
/// the TLS links.
///
/// `@unchecked Sendable`: the listener is immutable after `init`; `close()` is thread-safe.
public final class LocalServer: @unchecked Sendable {
    public let listener: Listener

    public init(
        path: String, local: NodeName, registry: MessageRegistry = .core,
        settings: ConnectionSettings = ConnectionSettings(), handler: @escaping InboundHandler
    ) throws(TransportError) {
        listener = try Listener(unixPath: path, local: local, settings: settings) { connection, peer in
            let link = PeerLink(connection: connection, peer: peer, local: local, registry: registry, handler: handler)
            Task { _ = await link.run() }
        }
    }

    /// Stops accepting and removes the socket file.
    public func close() { listener.close() }
}

/// The CLI side of the local Unix socket.
///
/// A caseless namespace; nothing to share.
public enum LocalClient {
    /// Connects to the node's socket as `local` (for instance `cli`), completes the hello, and returns a
    /// link ready for `request`/`send` (its reader is running). Close it with `link.connection.close()`.
    public static func connect(
        path: String, local: NodeName, node: NodeName? = nil, registry: MessageRegistry = .core,
        settings: ConnectionSettings = ConnectionSettings(),
        handler: @escaping InboundHandler = { _ in [] }
    ) async throws(TransportError) -> PeerLink {
        let (connection, peer) = try await Dialer.connectLocal(path: path, node: node, local: local, settings: settings)
        let link = PeerLink(connection: connection, peer: peer, local: local, registry: registry, handler: handler)
        Task { _ = await link.run() }
        return link
    }
}
