import COpenSSL
import CShims
import Wire

/// An OpenSSL `SSL_CTX` configured for the cluster: TLS 1.3 only, this node's certificate and key, the
/// trusted cluster CAs, peer verification both ways.
///
/// `@unchecked Sendable`: the context is fully configured in `init` and only read afterwards (`SSL_new`),
/// which OpenSSL allows from many threads.
public final class TLSContext: @unchecked Sendable {
    /// How peers are verified.
    public enum Mode: Sendable {
        /// Both sides present certificates from a trusted CA (every node-to-node connection).
        case mutual
        /// Server side that also accepts clients without a certificate; such connections may only join.
        case acceptingJoins
        /// Client without a certificate that verifies the server by a pinned CA fingerprint after the handshake.
        case joinClient
        /// Server side that asks no client certificate: the dashboard's HTTPS (browsers authenticate with a
        /// login token instead). Never used for node-to-node connections.
        case httpsServer
        /// Client of a dashboard's HTTPS (`gt feed`): no certificate of its own, verifies the server's against the
        /// cluster CAs given (`BlockingTLSStream`). Never used for node-to-node connections.
        case httpsClient
    }

    /// The `SSL_CTX` (`package`: the dashboard's HTTPS server makes its `SSL` objects from it).
    package let pointer: OpaquePointer
    public let mode: Mode
    /// The node identity presented (nil for `joinClient`).
    public let identity: NodeIdentity?

    /// A context presenting `identity` and trusting `identity.trustedAuthorities`.
    public convenience init(identity: NodeIdentity, mode: Mode = .mutual) throws(TransportError) {
        try self.init(identity: Optional(identity), mode: mode)
    }

    /// The context a joining node uses (no certificate of its own).
    public static func joinClient() throws(TransportError) -> TLSContext {
        try TLSContext(identity: nil, mode: .joinClient)
    }

    /// The context a dashboard client uses (`gt feed` over HTTPS): no certificate of its own, the server's verified
    /// against `authorities` (the cluster CAs the town holds, or a copied `ca.crt`).
    public static func httpsClient(trusting authorities: [Certificate]) throws(TransportError) -> TLSContext {
        guard !authorities.isEmpty else { throw .pki("no cluster CA certificate to verify the dashboard with") }
        return try TLSContext(identity: nil, mode: .httpsClient, authorities: authorities)
    }

    private init(identity: NodeIdentity?, mode: Mode, authorities: [Certificate] = []) throws(TransportError) {
        TransportSetup.ignoreSIGPIPE
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_method()) else { throw .drainOpenSSL("SSL_CTX_new") }
        pointer = context
        self.mode = mode
        self.identity = identity
        guard gtshim_ssl_ctx_set_min_proto_version(context, TLS1_3_VERSION) == 1,
            gtshim_ssl_ctx_set_max_proto_version(context, TLS1_3_VERSION) == 1
        else { throw .drainOpenSSL("restricting to TLS 1.3") }
        _ = gtshim_ssl_ctx_set_mode(
            context, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
        _ = SSL_CTX_set_num_tickets(context, 0)
        if let identity {
            guard SSL_CTX_use_certificate(context, identity.certificate.pointer) == 1,
                SSL_CTX_use_PrivateKey(context, identity.key.pointer) == 1,
                SSL_CTX_check_private_key(context) == 1
            else { throw .drainOpenSSL("loading the node certificate and key") }
            let store = SSL_CTX_get_cert_store(context)
            for authority in identity.trustedAuthorities {
                guard X509_STORE_add_cert(store, authority.pointer) == 1 else {
                    throw .drainOpenSSL("trusting CA \(authority.commonName)")
                }
            }
            // Send the current CA after the leaf, so a joining node can match its pinned fingerprint.
            if let current = identity.trustedAuthorities.first, identity.certificate.isSigned(by: current) {
                _ = gtshim_ssl_ctx_add1_chain_cert(context, current.pointer)
            }
        }
        if identity == nil && !authorities.isEmpty {
            let store = SSL_CTX_get_cert_store(context)
            for authority in authorities {
                guard X509_STORE_add_cert(store, authority.pointer) == 1 else {
                    throw .drainOpenSSL("trusting CA \(authority.commonName)")
                }
            }
        }
        switch mode {
        case .mutual, .httpsClient: SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        case .acceptingJoins: SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        case .joinClient, .httpsServer: SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        }
        ERR_clear_error()
    }

    deinit { SSL_CTX_free(pointer) }
}

/// Process-wide setup of the transport.
///
/// A caseless namespace; nothing to share.
public enum TransportSetup {
    /// Ignores SIGPIPE once (a write to a closed socket then fails with EPIPE instead of killing the process), and
    /// initialises OpenSSL without its atexit cleanup, which raced with threads still inside libcrypto at `exit()`
    /// (docs/git.md); whichever OpenSSL initialisation comes first decides, so the transport does it too.
    public static let ignoreSIGPIPE: Void = {
        gtshim_openssl_init_no_atexit()
        gtshim_ignore_sigpipe()
    }()
}
