import Foundation
import Wire

/// Who is at the other end of an established connection, and what the connection is for.
///
/// `Sendable`: plain values and an immutable certificate.
public struct PeerInfo: Sendable {
    /// The peer's name: taken from its verified certificate on TLS connections; as claimed on the Unix
    /// socket and by a joining node without a certificate.
    public var name: NodeName
    /// The peer's verified certificate (nil on the Unix socket and for certificate-less joiners).
    public var certificate: Certificate?
    public var purpose: ConnectionPurpose
    /// The protocol version both sides speak on this connection.
    public var version: UInt16
    /// True when this node dialed the connection.
    public var dialedByLocal: Bool
}

extension Connection {
    /// Completes TCP, TLS and the hello exchange. The dialing side sends its hello first; the accepting side
    /// checks it and answers with its own. Until the peer's hello is in, the connection is only provisional
    /// (in TLS 1.3 a refused client learns it on its first read). Throws and closes the connection when the
    /// peer is not who it must be.
    ///
    /// Versions: each side offers `versions` (this build's ``ProtocolVersion/supported``; tests pass others to play a
    /// node of another release) and both use the highest one in common. With none in common the accepting side still
    /// sends its hello before it refuses, so the dialer, too, can say which versions each side speaks.
    func establish(
        local: NodeName, expectedPeer: NodeName?, purpose: ConnectionPurpose?,
        versions: ClosedRange<UInt16> = ProtocolVersion.supported
    ) async throws(TransportError) -> PeerInfo {
        do throws(TransportError) {
            try await handshake()
            if role == .client {
                let hello = Hello(
                    sender: local, expectedPeer: expectedPeer, versions: versions, purpose: purpose ?? .general)
                if let purpose { setFrameLimits(purpose.limits) }
                try await send(hello.envelope().encoded())
                let remote = try await receiveHello()
                try checkServerHello(remote, local: local, expectedPeer: expectedPeer)
                let version = try negotiate(remote, local: versions)
                markEstablished()
                return PeerInfo(
                    name: remote.sender, certificate: peerCertificate, purpose: hello.purpose, version: version,
                    dialedByLocal: true)
            } else {
                let remote = try await receiveHello()
                let certificate = peerCertificate
                try checkClientHello(remote, local: local, certificate: certificate)
                setFrameLimits(remote.purpose.limits)
                let reply = Hello(
                    sender: local, expectedPeer: remote.sender, versions: versions, purpose: remote.purpose)
                let version: UInt16
                switch Result(catching: { () throws(TransportError) in try negotiate(remote, local: versions) }) {
                case .success(let agreed): version = agreed
                case .failure(let refusal):
                    // Our versions still go out (the hello is readable by every release), so the dialer's refusal
                    // names both sides' versions too; then the connection is closed.
                    try? await send(reply.envelope().encoded())
                    throw refusal
                }
                try await send(reply.envelope().encoded())
                markEstablished()
                return PeerInfo(
                    name: remote.sender, certificate: certificate, purpose: remote.purpose, version: version,
                    dialedByLocal: false)
            }
        } catch {
            abort(error)
            throw error
        }
    }

    private func receiveHello() async throws(TransportError) -> Hello {
        var frames = try await receive()
        let first = frames.removeFirst()
        unreceive(frames)
        do {
            return try Hello.decode(Envelope.decode(first))
        } catch {
            throw .helloRejected("the first frame is not a valid hello: \(error)")
        }
    }

    private func negotiate(_ remote: Hello, local: ClosedRange<UInt16>) throws(TransportError) -> UInt16 {
        do {
            return try Hello.negotiate(local: local, remote: remote.versions)
        } catch {
            throw .helloRejected("\(remote.sender): \(error.description)")
        }
    }

    private func checkServerHello(_ remote: Hello, local: NodeName, expectedPeer: NodeName?) throws(TransportError) {
        if let expectedPeer, remote.sender != expectedPeer {
            throw .helloRejected("dialed \(expectedPeer) but the peer says it is \(remote.sender)")
        }
        if let certificate = peerCertificate, context?.mode != .joinClient {
            guard certificate.commonName == remote.sender.rawValue, certificate.matches(host: remote.sender.rawValue)
            else {
                throw .helloRejected(
                    "the peer calls itself \(remote.sender) but its certificate names \(certificate.commonName)")
            }
        }
        if let named = remote.expectedPeer, named != local {
            throw .helloRejected("the peer expected to reach \(named), not \(local)")
        }
    }

    private func checkClientHello(_ remote: Hello, local: NodeName, certificate: Certificate?) throws(TransportError) {
        if let named = remote.expectedPeer, named != local {
            throw .helloRejected("the peer dialed \(named), but this node is \(local)")
        }
        guard let context else {
            guard remote.purpose == .local else {
                throw .helloRejected("only local connections are accepted on the Unix socket")
            }
            return
        }
        guard remote.purpose != .local else {
            throw .helloRejected("local connections are only accepted on the Unix socket")
        }
        if let certificate {
            guard certificate.commonName == remote.sender.rawValue, certificate.matches(host: remote.sender.rawValue)
            else {
                throw .helloRejected(
                    "the peer calls itself \(remote.sender) but its certificate names \(certificate.commonName)")
            }
        } else {
            guard context.mode == .acceptingJoins, remote.purpose == .join else {
                throw .helloRejected("a peer without a certificate may only join")
            }
        }
    }
}
