import COpenSSL
import CShims
import Dispatch
import Foundation
import Wire

/// One framed byte stream to a peer: TLS 1.3 over TCP, or plain over a Unix socket.
///
/// Non-blocking socket driven by `DispatchSource` read/write sources on the connection's own serial queue;
/// the `SSL*` is touched only on that queue (one thread at a time), with `ERR_clear_error` before every
/// `SSL_*` I/O call and the error read right after on the same thread. Callers never block: `send` appends
/// to a locked buffer and waits only above the high-water mark; `receive` waits for frames. Reading pauses
/// while more than `inboundBufferLimit` bytes wait to be received.
///
/// `@unchecked Sendable`: state touched by the queue (`ssl`, sources, decoder, write buffer) is confined to
/// `queue`; state shared with callers (pending output, inbound frames, waiters) is guarded by `lock`.
public final class Connection: @unchecked Sendable {
    /// Which side of the connection we are.
    public enum Role: Sendable { case client, server }

    enum State { case idle, connecting, handshaking, open, closed }

    public let role: Role
    let context: TLSContext?
    let settings: ConnectionSettings
    let queue: DispatchQueue
    /// The name the client expects the server's certificate to carry (SNI and SAN check).
    let serverName: NodeName?
    /// The remote host of an accepted connection (`127.0.0.1`; `local` on the Unix socket), else nil.
    public let remoteHost: String?

    // Confined to `queue`.
    var fd: Int32 = -1
    var ssl: OpaquePointer?
    var state = State.idle
    var readSource: DispatchSourceRead?
    var writeSource: DispatchSourceWrite?
    var timer: DispatchSourceTimer?
    var readSourceSuspended = false
    var writeSourceSuspended = true
    var decoder: FrameDecoder
    var writeBuffer: [UInt8] = []
    var writeOffset = 0
    var retryLength: Int?
    /// An `SSL_read` asked to write first (TLS 1.3 post-handshake traffic); read again once writable.
    var readWantsWrite = false
    var startedAt = DispatchTime.now().uptimeNanoseconds
    var lastReadAt = DispatchTime.now().uptimeNanoseconds
    /// An acknowledgement push is scheduled (see `ConnectionSettings.acknowledgementDelay`).
    var ackPushScheduled = false
    var established = false
    var handshakeWaiter: CheckedContinuation<Void, Error>?
    let readBuffer: UnsafeMutableRawPointer

    // Guarded by `lock`.
    let lock = NSLock()
    var pending: [UInt8] = []
    var outstanding = 0
    var flushScheduled = false
    var sendWaiters: [UInt64: CheckedContinuation<Void, Error>] = [:]
    var nextWaiterID: UInt64 = 0
    var inbound: [[UInt8]] = []
    var inboundBytes = 0
    var readPaused = false
    var receiver: CheckedContinuation<[[UInt8]], Error>?
    var closeReason: TransportError?
    var closeWaiters: [CheckedContinuation<Void, Never>] = []
    var verifiedPeer: Certificate?
    var peerChainCertificates: [Certificate] = []
    var sendLimits: FrameLimits

    init(
        role: Role, context: TLSContext?, serverName: NodeName?, limits: FrameLimits, settings: ConnectionSettings,
        remoteHost: String? = nil
    ) {
        TransportSetup.ignoreSIGPIPE
        self.remoteHost = remoteHost
        self.role = role
        self.context = context
        self.serverName = serverName
        self.settings = settings
        decoder = FrameDecoder(limits: limits)
        sendLimits = limits
        queue = DispatchQueue(label: "gastown.connection")
        readBuffer = UnsafeMutableRawPointer.allocate(byteCount: settings.readChunk, alignment: 16)
    }

    deinit {
        readBuffer.deallocate()
        if let ssl { SSL_free(ssl) }
        if fd >= 0 { Glibc.close(fd) }
    }

    // MARK: Starting

    /// Starts connecting to `address`; `handshake()` waits for the outcome.
    static func dial(
        _ address: PeerAddress, context: TLSContext?, serverName: NodeName?, limits: FrameLimits,
        settings: ConnectionSettings
    ) -> Connection {
        let connection = Connection(
            role: .client, context: context, serverName: serverName, limits: limits, settings: settings)
        connection.queue.async { connection.startDial(address) }
        return connection
    }

    /// Wraps an accepted socket; `handshake()` waits for the TLS handshake.
    static func accepted(
        fd: Int32, context: TLSContext?, limits: FrameLimits, settings: ConnectionSettings, remoteHost: String? = nil
    ) -> Connection {
        let connection = Connection(
            role: .server, context: context, serverName: nil, limits: limits, settings: settings,
            remoteHost: remoteHost ?? Socket.peerHost(fd))
        connection.queue.async { connection.startSession(fd: fd, connected: true) }
        return connection
    }

    func startDial(_ address: PeerAddress) {
        do {
            let socket = try Socket.startConnect(to: address)
            startSession(fd: socket, connected: false)
        } catch {
            shutdown(error, graceful: false)
        }
    }

    func startSession(fd socket: Int32, connected: Bool) {
        guard state == .idle else {
            Glibc.close(socket)
            return
        }
        fd = socket
        if case .tcp = socketKind(socket) { Socket.setNoDelay(socket) }
        startedAt = DispatchTime.now().uptimeNanoseconds
        lastReadAt = startedAt
        let read = DispatchSource.makeReadSource(fileDescriptor: socket, queue: queue)
        let write = DispatchSource.makeWriteSource(fileDescriptor: socket, queue: queue)
        let ticker = DispatchSource.makeTimerSource(queue: queue)
        read.setEventHandler { [unowned self] in self.readable() }
        write.setEventHandler { [unowned self] in self.writable() }
        ticker.setEventHandler { [unowned self] in self.tick() }
        // The sources hold the connection alive until they are cancelled in `shutdown`.
        read.setCancelHandler { [self] in _ = self }
        write.setCancelHandler { [self] in _ = self }
        ticker.setCancelHandler { [self] in _ = self }
        readSource = read
        writeSource = write
        timer = ticker
        let interval = DispatchTimeInterval.milliseconds(Int(settings.tickInterval * 1000))
        ticker.schedule(deadline: .now() + interval, repeating: interval)
        ticker.activate()
        read.activate()
        state = .connecting
        if connected { beginTLS() } else { setWriteInterest(true) }
    }

    enum SocketKind { case tcp, unix }
    func socketKind(_ socket: Int32) -> SocketKind {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        return Int32(storage.ss_family) == AF_UNIX ? .unix : .tcp
    }

    func beginTLS() {
        guard let context else {
            state = .open
            finishHandshake()
            return
        }
        ERR_clear_error()
        guard let session = SSL_new(context.pointer), SSL_set_fd(session, fd) == 1 else {
            shutdown(.drainOpenSSL("SSL_new"), graceful: false)
            return
        }
        ssl = session
        if role == .client {
            SSL_set_connect_state(session)
            if let serverName {
                guard gtshim_ssl_set_tlsext_host_name(session, serverName.rawValue) == 1,
                    SSL_set1_host(session, serverName.rawValue) == 1
                else {
                    shutdown(.drainOpenSSL("setting SNI and the expected host name"), graceful: false)
                    return
                }
            }
        } else {
            SSL_set_accept_state(session)
        }
        state = .handshaking
        driveHandshake()
    }

    func driveHandshake() {
        guard let ssl else { return }
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 {
            setWriteInterest(false)
            verifyPeerAfterHandshake()
            return
        }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ: setWriteInterest(false)
        case SSL_ERROR_WANT_WRITE: setWriteInterest(true)
        default:
            var detail = openSSLErrors()
            let verify = SSL_get_verify_result(ssl)
            if verify != X509_V_OK {
                detail = String(cString: X509_verify_cert_error_string(verify)) + " (" + detail + ")"
            }
            shutdown(.handshakeFailed(detail), graceful: false)
        }
    }

    func verifyPeerAfterHandshake() {
        guard let ssl, let context else { return }
        var peer: Certificate?
        if let raw = SSL_get1_peer_certificate(ssl) { peer = Certificate(owning: raw) }
        var chain: [Certificate] = []
        if let stack = SSL_get_peer_cert_chain(ssl) {
            for index in 0..<gtshim_sk_x509_num(stack) {
                if let certificate = gtshim_sk_x509_value(stack, index) {
                    chain.append(Certificate(retaining: certificate))
                }
            }
        }
        if context.mode != .joinClient {
            if let peer {
                guard SSL_get_verify_result(ssl) == X509_V_OK else {
                    shutdown(.handshakeFailed("the peer's certificate did not verify"), graceful: false)
                    return
                }
                if let revocations = context.identity?.revocations, revocations.isRevoked(serial: peer.serial) {
                    shutdown(.revoked(serial: peer.serial), graceful: false)
                    return
                }
            } else if context.mode == .mutual || role == .client {
                shutdown(.handshakeFailed("the peer presented no certificate"), graceful: false)
                return
            }
        }
        lock.withLock {
            verifiedPeer = peer
            peerChainCertificates = chain
        }
        state = .open
        finishHandshake()
    }

    func finishHandshake() {
        let waiter = handshakeWaiter
        handshakeWaiter = nil
        waiter?.resume()
        flush()
        readLoop()
    }

    /// Waits until the TCP connection and the TLS handshake are done (nothing to do for plain sockets).
    func handshake() async throws(TransportError) {
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                queue.async {
                    switch self.state {
                    case .open: continuation.resume()
                    case .closed:
                        continuation.resume(
                            throwing: self.lock.withLock { self.closeReason } ?? .closed(reason: "closed"))
                    default: self.handshakeWaiter = continuation
                    }
                }
            }
        } catch let error as TransportError {
            throw error
        } catch {
            throw .closed(reason: "\(error)")
        }
    }

    /// Marks the hello exchange complete: the handshake deadline no longer applies.
    func markEstablished() { queue.async { self.established = true } }

    /// Lowers (or raises) the frame limit once the purpose is known.
    func setFrameLimits(_ limits: FrameLimits) {
        lock.withLock { sendLimits = limits }
        queue.async { self.decoder.limits = limits }
    }

    /// The peer's certificate as verified in the handshake (nil for plain sockets and certificate-less joiners).
    public var peerCertificate: Certificate? { lock.withLock { verifiedPeer } }

    /// Every certificate the peer sent (leaf first); a joining client checks its pinned CA among them.
    var peerChain: [Certificate] { lock.withLock { peerChainCertificates } }

    /// Why the connection closed, or nil while it is open.
    public var closedReason: TransportError? { lock.withLock { closeReason } }
}
