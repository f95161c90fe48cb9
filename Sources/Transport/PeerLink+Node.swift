import Foundation
import Wire

// Additions for the node daemon (Sources/Node): serving and using connections it accepts or dials itself
// (the Unix socket of the local CLI, seed dials whose peer name is learned from the certificate).

extension PeerLink {
    /// Wraps an established connection (from `Listener(unixPath:)`, `Dialer.connect` or
    /// `Dialer.connectLocal`) in a link that pairs responses with requests, answers pings and hands every
    /// other message to `handler`. Call `serve()` to start reading.
    public static func wrapping(
        _ connection: Connection, peer: PeerInfo, local: NodeName, registry: MessageRegistry = .core,
        handler: @escaping InboundHandler = { _ in [] }
    ) -> PeerLink {
        PeerLink(connection: connection, peer: peer, local: local, registry: registry, handler: handler)
    }

    /// Reads frames until the connection closes (answering pings, pairing responses, delivering the rest);
    /// returns why it closed. Run it in its own task.
    public func serve() async -> TransportError { await run() }
}

extension ConnectionManager {
    /// Dials a seed address whose node name is not known yet: the name is taken from the verified
    /// certificate, the connection is adopted as that peer's general link (tie-break applied), and the peer
    /// is added so the link is redialed when it drops. Returns the peer.
    @discardableResult
    public func connect(seed address: PeerAddress) async throws(TransportError) -> PeerInfo {
        let mode: TLSContext.Mode = joinService == nil ? .mutual : .acceptingJoins
        let (connection, info) = try await Dialer.connect(
            to: address, peer: nil, context: TLSContext(identity: identity, mode: mode), local: local,
            purpose: .general,
            settings: settings.connection)
        guard info.name != local else {
            connection.close(reason: "dialed itself")
            throw .helloRejected("\(address) is this node itself")
        }
        adopt(connection, info)
        addPeer(info.name, at: address)
        return info
    }
}
