import COpenSSL
import Wire

/// Every failure of the transport and the PKI, each saying what went wrong and, where it helps, what to do.
///
/// `Sendable` because it is a plain value.
public enum TransportError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An OpenSSL call failed; `detail` holds OpenSSL's error queue.
    case openssl(operation: String, detail: String)
    /// A socket call failed with `errno`.
    case system(operation: String, errno: Int32)
    /// The address is not `host:port` or does not resolve.
    case badAddress(String)
    /// The TLS handshake failed (wrong CA, expired, wrong name, no client certificate, not TLS, …).
    case handshakeFailed(String)
    /// The peer's certificate is revoked.
    case revoked(serial: String)
    /// The peer's hello was missing, malformed, or named someone other than its certificate.
    case helloRejected(String)
    /// The peer broke the wire protocol (bad frame, bad envelope); the connection was closed.
    case protocolViolation(WireError)
    /// The connection is closed (`reason` says why).
    case closed(reason: String)
    /// No answer within the time allowed.
    case timedOut(String)
    /// The caller's task was cancelled.
    case cancelled
    /// The peer answered with an error reply.
    case remoteError(ErrorReply)
    /// The node is overloaded (too many handshakes in progress); retry later.
    case unavailable(String)
    /// No connection to that peer, and none could be made.
    case unreachable(NodeName, String)
    /// PKI files are missing or unusable.
    case pki(String)
    /// A join token was malformed, unknown, expired or already used.
    case joinRefused(String)

    public var description: String {
        switch self {
        case .openssl(let operation, let detail): return "\(operation) failed: \(detail)"
        case .system(let operation, let code): return "\(operation) failed: \(String(cString: strerror(code)))"
        case .badAddress(let address): return "bad address '\(address)': expected HOST:PORT"
        case .handshakeFailed(let why): return "TLS handshake failed: \(why)"
        case .revoked(let serial): return "certificate \(serial) is revoked"
        case .helloRejected(let why): return "hello rejected: \(why)"
        case .protocolViolation(let error): return "protocol violation: \(error)"
        case .closed(let reason): return "connection closed: \(reason)"
        case .timedOut(let what): return "timed out: \(what)"
        case .cancelled: return "cancelled"
        case .remoteError(let reply): return "peer refused (\(reply.code)): \(reply.message)"
        case .unavailable(let why): return "unavailable: \(why); retry later"
        case .unreachable(let peer, let why): return "cannot reach \(peer): \(why)"
        case .pki(let why): return "PKI: \(why)"
        case .joinRefused(let why): return "join refused: \(why); ask a node holding the CA for a new token"
        }
    }

    /// Drains OpenSSL's (thread-local) error queue into an `.openssl` error.
    static func drainOpenSSL(_ operation: String) -> TransportError {
        .openssl(operation: operation, detail: openSSLErrors())
    }
}

/// OpenSSL's error queue of this thread as text, emptied.
func openSSLErrors() -> String {
    var parts: [String] = []
    while true {
        let code = ERR_get_error()
        if code == 0 { break }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        parts.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return parts.isEmpty ? "no OpenSSL error recorded" : parts.joined(separator: "; ")
}
