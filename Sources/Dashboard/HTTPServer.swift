import COpenSSL
import CShims
import Dispatch
import Foundation
import Transport

/// The HTTP server's limits and timeouts. `Sendable`: a plain value.
public struct HTTPServerSettings: Sendable {
    public var limits = HTTPLimits()
    /// Most open connections; more are closed at accept. Default 256.
    public var maxConnections = 256
    /// Time allowed for a request's head and body once its first byte came (and for a TLS handshake). Default 10 s.
    public var requestTimeout: TimeInterval = 10
    /// A kept-alive connection with no request in progress is closed after this. Default 60 s.
    public var idleTimeout: TimeInterval = 60
    /// Most bytes queued for a slow client before it is dropped (an event stream nobody reads). Default 4 MiB.
    public var maxQueuedBytes = 4 * 1024 * 1024
    public var listenBacklog: Int32 = 64

    public init() {}
}

/// A small HTTP/1.1 server on a non-blocking socket, driven by `DispatchSource`s (never a cooperative-pool thread
/// blocked on a socket): plain TCP, or TLS with the node's certificate (`TLSContext` mode `.httpsServer`). Each
/// request goes to `handler` (an async function, run as a task); requests on one connection are answered in
/// order, one at a time. Malformed or oversized requests get their 4xx/5xx (`HTTPRequestParser`) and the
/// connection is closed; the server keeps serving everyone else.
///
/// `@unchecked Sendable`: the listening socket is confined to `queue`; `connections` is guarded by `lock`.
public final class HTTPServer: @unchecked Sendable {
    public typealias Handler = @Sendable (HTTPRequest, HTTPClientInfo) async -> HTTPReply

    /// The bound host and port (the real port when 0 was asked for).
    public let host: String
    public let port: UInt16
    public var isTLS: Bool { tls != nil }
    let settings: HTTPServerSettings
    let tls: TLSContext?
    let handler: Handler
    private let queue = DispatchQueue(label: "gastown.dashboard.accept")
    private let source: DispatchSourceRead
    private let fd: Int32
    private let lock = NSLock()
    private var connections: [ObjectIdentifier: HTTPConnection] = [:]
    private var closed = false

    /// Listens on `host:port` (port 0: any free port).
    public init(
        host: String, port: UInt16, tls: TLSContext? = nil, settings: HTTPServerSettings = HTTPServerSettings(),
        handler: @escaping Handler
    ) throws(TransportError) {
        TransportSetup.ignoreSIGPIPE
        let (fd, bound) = try Socket.listenTCP(host: host, port: port, backlog: settings.listenBacklog)
        self.fd = fd
        self.host = host
        self.port = bound
        self.tls = tls
        self.settings = settings
        self.handler = handler
        source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source.setEventHandler { [weak self] in self?.acceptAll() }
        source.setCancelHandler { Glibc.close(fd) }
        source.activate()
    }

    deinit { source.cancel() }

    /// Open connections now.
    public var connectionCount: Int { lock.withLock { connections.count } }

    private func acceptAll() {
        while let client = Socket.accept(fd) {
            let full = lock.withLock { closed || connections.count >= settings.maxConnections }
            if full {
                Glibc.close(client)
                continue
            }
            Socket.setNoDelay(client)
            let info = HTTPClientInfo(host: Socket.peerHost(client) ?? "unknown", tls: tls != nil)
            let connection = HTTPConnection(fd: client, server: self, info: info)
            lock.withLock { connections[ObjectIdentifier(connection)] = connection }
            connection.start()
        }
    }

    func finished(_ connection: HTTPConnection) {
        _ = lock.withLock { connections.removeValue(forKey: ObjectIdentifier(connection)) }
    }

    /// Stops accepting and closes every connection (event streams included).
    public func close() {
        let open: [HTTPConnection] = lock.withLock {
            closed = true
            return Array(connections.values)
        }
        source.cancel()
        for connection in open { connection.close() }
    }
}

/// Who sent a request. `Sendable`: a plain value.
public struct HTTPClientInfo: Sendable, Equatable {
    /// The client's address (`127.0.0.1`, `::1`, …).
    public var host: String
    public var tls: Bool
}

/// One accepted connection: reads into a buffer, parses with `HTTPRequestParser`, runs the handler, writes the
/// response (or keeps an event stream open).
///
/// `@unchecked Sendable`: every field is touched only on `queue` (the `send` of a stream hops onto it).
final class HTTPConnection: @unchecked Sendable, HTTPEventStream {
    enum State { case handshaking, reading, handling, streaming, closing, closed }

    let fd: Int32
    let info: HTTPClientInfo
    weak var server: HTTPServer?
    let settings: HTTPServerSettings
    let handler: HTTPServer.Handler
    let queue = DispatchQueue(label: "gastown.dashboard.connection")
    var ssl: OpaquePointer?
    var state = State.reading
    var inbound: [UInt8] = []
    var outbound: [UInt8] = []
    var outboundOffset = 0
    var retryLength: Int?
    var readSource: DispatchSourceRead?
    var writeSource: DispatchSourceWrite?
    var writeSourceSuspended = false
    var timer: DispatchSourceTimer?
    var lastActivity = DispatchTime.now().uptimeNanoseconds
    var requestStarted: UInt64?
    var closeAfterFlush = false
    var readEOF = false
    private let openLock = NSLock()
    private var open = true

    init(fd: Int32, server: HTTPServer, info: HTTPClientInfo) {
        self.fd = fd
        self.server = server
        self.info = info
        settings = server.settings
        handler = server.handler
        if let tls = server.tls, let made = SSL_new(tls.pointer) {
            SSL_set_fd(made, fd)
            SSL_set_accept_state(made)
            ssl = made
            state = .handshaking
            requestStarted = lastActivity
        }
    }

    func start() {
        queue.async { [self] in
            // The descriptor is closed only once both sources are cancelled: closing it earlier lets a new
            // connection reuse the number while libdispatch still watches the old registration (its events lost).
            let fd = self.fd
            let sources = DispatchGroup()
            sources.enter()
            sources.enter()
            sources.notify(queue: queue) { Glibc.close(fd) }
            let read = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
            read.setEventHandler { [weak self] in self?.readable() }
            read.setCancelHandler { sources.leave() }
            readSource = read
            let write = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue)
            write.setEventHandler { [weak self] in self?.writable() }
            write.setCancelHandler { sources.leave() }
            writeSource = write
            write.activate()
            write.suspend()
            writeSourceSuspended = true
            let tick = DispatchSource.makeTimerSource(queue: queue)
            tick.schedule(deadline: .now() + 1, repeating: 1)
            tick.setEventHandler { [weak self] in self?.tick() }
            timer = tick
            read.activate()
            tick.activate()
            if state == .handshaking { handshake() }
        }
    }

    var isOpen: Bool { openLock.withLock { open } }

    func send(_ bytes: [UInt8]) -> Bool {
        guard isOpen else { return false }
        queue.async { [self] in
            guard state == .streaming else { return }
            if outbound.count - outboundOffset + bytes.count > settings.maxQueuedBytes {
                shutdown()
                return
            }
            outbound += bytes
            flush()
        }
        return true
    }

    func close() { queue.async { [self] in shutdown() } }

    // MARK: Reading

    private func handshake() {
        guard let ssl else { return }
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 {
            state = .reading
            requestStarted = nil
            lastActivity = DispatchTime.now().uptimeNanoseconds
            readable()
            return
        }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ: return
        case SSL_ERROR_WANT_WRITE: armWrite(true)
        default: shutdown()
        }
    }

    private func readable() {
        if state == .handshaking {
            handshake()
            return
        }
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        for _ in 0..<16 {
            guard state != .closed && state != .closing else { return }
            // While a request is handled, do not buffer without bound: stop once a full request's worth waits.
            if state == .handling && inbound.count > maxRequestBytes { break }
            let count: Int
            if let ssl {
                ERR_clear_error()
                let result = chunk.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
                if result <= 0 {
                    let code = SSL_get_error(ssl, result)
                    if code == SSL_ERROR_WANT_READ { break }
                    if code == SSL_ERROR_WANT_WRITE {
                        armWrite(true)
                        break
                    }
                    if code == SSL_ERROR_ZERO_RETURN {
                        peerFinished()
                        return
                    }
                    shutdown()
                    return
                }
                count = Int(result)
            } else {
                let result = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if result < 0 {
                    let code = gtshim_errno()
                    if code == EAGAIN || code == EWOULDBLOCK { break }
                    if code == EINTR { continue }
                    shutdown()
                    return
                }
                if result == 0 {
                    peerFinished()
                    return
                }
                count = result
            }
            lastActivity = DispatchTime.now().uptimeNanoseconds
            // An event stream's client sends nothing we use; what it sends is dropped.
            if state == .streaming { continue }
            if requestStarted == nil { requestStarted = lastActivity }
            inbound += chunk[0..<count]
        }
        if state == .reading { parseNext() }
    }

    /// The client closed its sending side (a half-close, `curl` or a test client): answer what it sent, then close.
    private func peerFinished() {
        readEOF = true
        readSource?.cancel()
        readSource = nil
        switch state {
        case .reading:
            parseNext()
            if state == .reading { shutdown() }
        case .streaming: shutdown()
        default: break
        }
    }

    private var maxRequestBytes: Int {
        settings.limits.maxRequestLine + settings.limits.maxHeaderBytes + settings.limits.maxBody + 16
    }

    private func parseNext() {
        guard state == .reading, !inbound.isEmpty else { return }
        switch HTTPRequestParser.parse(inbound, limits: settings.limits) {
        case .needMore:
            return
        case .failure(let error):
            inbound = []
            respond(.error(error.status, error.reason), keepAlive: false)
        case .request(let request, let consumed):
            inbound.removeFirst(consumed)
            requestStarted = inbound.isEmpty ? nil : DispatchTime.now().uptimeNanoseconds
            state = .handling
            let handler = self.handler
            let info = self.info
            Task { [weak self] in
                let reply = await handler(request, info)
                guard let connection = self else { return }
                connection.queue.async {
                    connection.deliver(reply, keepAlive: request.keepAlive, head: request.method == "HEAD")
                }
            }
        }
    }

    private func deliver(_ reply: HTTPReply, keepAlive: Bool, head: Bool) {
        guard state == .handling else { return }
        switch reply {
        case .response(var response):
            if head {
                response.headers.append(("Content-Length", "\(response.body.count)"))
                response.body = []
            }
            respond(response, keepAlive: keepAlive)
        case .stream(let head, let open):
            if readEOF {
                shutdown()
                return
            }
            state = .streaming
            outbound += head.encoded(keepAlive: true, streaming: true)
            flush()
            if state == .streaming { open(self) }
        }
    }

    private func respond(_ response: HTTPResponse, keepAlive requested: Bool) {
        let keepAlive = requested && !readEOF
        outbound += response.encoded(keepAlive: keepAlive)
        if keepAlive {
            state = .reading
        } else {
            state = .closing
            closeAfterFlush = true
        }
        lastActivity = DispatchTime.now().uptimeNanoseconds
        flush()
        if state == .reading { parseNext() }
    }

    // MARK: Writing

    private func writable() {
        if state == .handshaking {
            armWrite(false)
            handshake()
            return
        }
        flush()
    }

    /// The write source is active from the start and suspended while there is nothing to write.
    private func armWrite(_ wanted: Bool) {
        guard let writeSource, wanted == writeSourceSuspended else { return }
        if wanted { writeSource.resume() } else { writeSource.suspend() }
        writeSourceSuspended = !wanted
    }

    private func flush() {
        while outboundOffset < outbound.count {
            let length = retryLength ?? min(outbound.count - outboundOffset, 64 * 1024)
            let offset = outboundOffset
            if let ssl {
                ERR_clear_error()
                let result = outbound.withUnsafeBytes { SSL_write(ssl, $0.baseAddress! + offset, Int32(length)) }
                if result > 0 {
                    retryLength = nil
                    outboundOffset += Int(result)
                    continue
                }
                let code = SSL_get_error(ssl, result)
                if code == SSL_ERROR_WANT_WRITE || code == SSL_ERROR_WANT_READ {
                    retryLength = length
                    armWrite(true)
                    return
                }
                shutdown()
                return
            } else {
                let result = outbound.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, length) }
                if result > 0 {
                    outboundOffset += result
                    continue
                }
                let code = gtshim_errno()
                if result < 0 && (code == EAGAIN || code == EWOULDBLOCK) {
                    armWrite(true)
                    return
                }
                if result < 0 && code == EINTR { continue }
                shutdown()
                return
            }
        }
        outbound.removeAll(keepingCapacity: true)
        outboundOffset = 0
        armWrite(false)
        if closeAfterFlush { shutdown() }
    }

    // MARK: Timers and closing

    private func tick() {
        let now = DispatchTime.now().uptimeNanoseconds
        if let started = requestStarted, state == .reading || state == .handshaking,
            TimeInterval(now &- started) / 1e9 > settings.requestTimeout
        {
            if state == .handshaking {
                shutdown()
            } else {
                inbound = []
                respond(.error(408, "the request did not arrive within \(settings.requestTimeout) s"), keepAlive: false)
            }
        } else if state == .reading && inbound.isEmpty && TimeInterval(now &- lastActivity) / 1e9 > settings.idleTimeout
        {
            shutdown()
        }
    }

    private func shutdown() {
        guard state != .closed else { return }
        state = .closed
        openLock.withLock { open = false }
        timer?.cancel()
        readSource?.cancel()
        if let writeSource {
            if writeSourceSuspended { writeSource.resume() }
            writeSourceSuspended = false
            writeSource.cancel()
        }
        if let ssl {
            ERR_clear_error()
            _ = SSL_shutdown(ssl)
            SSL_free(ssl)
            self.ssl = nil
        }
        if readSource == nil && writeSource == nil { Glibc.close(fd) }
        readSource = nil
        writeSource = nil
        server?.finished(self)
    }
}
