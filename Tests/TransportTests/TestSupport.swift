import Foundation
import Testing

@testable import Transport
@testable import Wire

func name(_ text: String) -> NodeName { try! NodeName(text) }

/// A fresh cluster CA and helpers to make node identities, listeners and dialers on 127.0.0.1.
struct TestCA {
    let authority: CertificateAuthority

    init(cluster: String = "test") throws {
        authority = try CertificateAuthority.create(clusterName: cluster, now: Date())
    }

    func identity(_ node: String, revocations: RevocationList = RevocationList()) throws -> NodeIdentity {
        try authority.makeIdentity(for: name(node), revocations: revocations)
    }
}

/// Frames received by a test listener's application code, thread-safe.
final class Inbox: @unchecked Sendable {
    private let lock = NSLock()
    private var frames: [(NodeName, [UInt8])] = []
    private var peers: [NodeName] = []
    private var refusals: [TransportError] = []

    func add(_ peer: NodeName, _ frame: [UInt8]) { lock.withLock { frames.append((peer, frame)) } }
    func accepted(_ peer: NodeName) { lock.withLock { peers.append(peer) } }
    func refused(_ error: TransportError) { lock.withLock { refusals.append(error) } }
    var count: Int { lock.withLock { frames.count } }
    var all: [(NodeName, [UInt8])] { lock.withLock { frames } }
    var acceptedPeers: [NodeName] { lock.withLock { peers } }
    var refusalList: [TransportError] { lock.withLock { refusals } }
}

/// A listener whose application code records every frame it gets.
func recordingListener(
    identity: NodeIdentity, mode: TLSContext.Mode = .mutual, settings: ConnectionSettings = ConnectionSettings()
) throws -> (Listener, Inbox) {
    let inbox = Inbox()
    let listener = try Listener(
        host: "127.0.0.1", port: 0, context: TLSContext(identity: identity, mode: mode), local: identity.name,
        settings: settings, onRefusal: { inbox.refused($0) },
        onConnection: { connection, peer in
            inbox.accepted(peer.name)
            Task {
                while let frames = try? await connection.receive() {
                    for frame in frames { inbox.add(peer.name, frame) }
                }
            }
        })
    return (listener, inbox)
}

/// A temporary directory removed at the end of `body`, even when it throws.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("gt-transport-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try await body(url)
}
