import Foundation
import Transport
import Wire

/// The local CLI's connection to its town's running node over `<town>/.gt/node.sock` (same frames, no TLS).
///
/// `Sendable`: holds an immutable link, which is itself thread-safe.
public final class NodeClient: Sendable {
    let link: PeerLink
    let reader: Task<TransportError, Never>
    /// The node's name, from its hello.
    public var node: NodeName { link.peer.name }

    init(link: PeerLink) {
        self.link = link
        reader = Task { await link.serve() }
    }

    deinit { reader.cancel() }

    /// Connects to the node serving `town`; `.notRunning` when there is none.
    public static func connect(
        _ town: TownPaths, settings: ConnectionSettings = ConnectionSettings()
    ) async throws(NodeError) -> NodeClient {
        guard FileManager.default.fileExists(atPath: town.socket) else {
            throw .notRunning("no \(town.socket)")
        }
        let local: NodeName
        do { local = try NodeName("gt-cli-\(getpid())") } catch { throw .io("bad local name") }
        do {
            var quick = settings
            quick.connectTimeout = min(settings.connectTimeout, 2)
            quick.handshakeTimeout = min(settings.handshakeTimeout, 5)
            let (connection, info) = try await Dialer.connectLocal(path: town.socket, local: local, settings: quick)
            return NodeClient(link: PeerLink.wrapping(connection, peer: info, local: local))
        } catch {
            throw .notRunning("\(town.socket) does not answer: \(error)")
        }
    }

    /// Sends a request of `type` with a JSON `body` and decodes the JSON response.
    public func request<Response: Decodable>(
        _ type: MessageType, _ body: some Encodable, as: Response.Type, timeout: TimeInterval = 15
    ) async throws(NodeError) -> Response {
        let response: Envelope
        do {
            response = try await link.request(type, body: NodeJSON.encode(body), timeout: timeout)
        } catch {
            if case .remoteError(let reply) = error { throw .refused(reply.message) }
            throw .transport(error)
        }
        do {
            return try NodeJSON.decode(Response.self, from: response.body)
        } catch {
            throw .refused("the node's answer did not decode: \(error.message)")
        }
    }

    /// Sends a request of `type` with raw `body` bytes (for components whose bodies are not JSON); an error
    /// reply is thrown as `.remoteError`.
    public func requestRaw(
        _ type: MessageType, body: [UInt8], timeout: TimeInterval = 15
    ) async throws(TransportError) -> Envelope {
        try await link.request(type, body: body, timeout: timeout)
    }

    /// Closes the connection.
    public func close() {
        link.connection.close(reason: "cli done")
        reader.cancel()
    }
}
