import Foundation
import Wire

/// The bodies of `joinRequest`, `renewRequest` and their responses.
///
/// A caseless namespace; nothing to share.
enum JoinMessages {
    /// Flag bit of the optional trailing byte: replace a node that holds the name (`gt node join --replace`).
    static let replaceFlag: UInt8 = 1

    /// The request: secret, CSR, then (only when set, so older CA nodes still read the rest) a flags byte.
    static func request(secret: String, csrPEM: String, replace: Bool = false) -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(secret)
        writer.write(csrPEM)
        if replace { writer.write(replaceFlag) }
        return writer.bytes
    }

    static func parseRequest(_ body: [UInt8]) throws(WireError) -> (secret: String, csrPEM: String, replace: Bool) {
        var reader = BinaryReader(body)
        let secret = try reader.readString("token secret")
        let csr = try reader.readString("certificate request")
        var flags: UInt8 = 0
        if reader.remainingCount > 0 { flags = try reader.readUInt8("join flags") }
        try reader.expectEnd()
        guard flags & ~replaceFlag == 0 else {
            throw .invalidValue(field: "join flags", reason: "unknown flag bits \(flags)")
        }
        return (secret, csr, flags & replaceFlag != 0)
    }

    static func response(certificatePEM: String, caBundlePEM: String, revocations: String, cluster: String) -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(certificatePEM)
        writer.write(caBundlePEM)
        writer.write(revocations)
        writer.write(cluster)
        return writer.bytes
    }

    static func parseResponse(
        _ body: [UInt8]
    ) throws(WireError) -> (certificatePEM: String, caBundlePEM: String, revocations: String, cluster: String) {
        var reader = BinaryReader(body)
        let certificate = try reader.readString("certificate")
        let bundle = try reader.readString("CA bundle")
        let revocations = try reader.readString("revocations")
        let cluster = try reader.readString("cluster")
        try reader.expectEnd()
        return (certificate, bundle, revocations, cluster)
    }
}

/// What the join service saw: for the CA node's log and events file.
///
/// `Sendable` because it is a plain value.
public enum JoinEvent: Sendable, Equatable {
    /// `node` joined from `source`; `replaced` lists the revoked certificates of a node it replaced.
    case joined(node: String, source: String, serial: String, replaced: [RevocationEntry])
    /// A join from `source` claiming `node` was refused for `reason` (never sent to a stranger). `limited`: this
    /// source had too many refusals and was refused without a look at its request; `suppressed` counts the
    /// refusals of this source not reported since the last report.
    case refused(node: String, source: String, reason: String, limited: Bool, suppressed: Int)
}

/// Counts refused joins per source host in a sliding window: past `joinRefusalLimit` refusals within
/// `joinRefusalWindow`, further joins from that host are refused unseen until the window moves on, and only
/// the first of them is reported.
///
/// `@unchecked Sendable`: all state is guarded by `lock`.
final class JoinRefusalLimiter: @unchecked Sendable {
    private let lock = NSLock()
    private let limit: Int
    private let window: TimeInterval
    private var refusals: [String: [Date]] = [:]
    private var quiet: [String: Int] = [:]

    init(limit: Int, window: TimeInterval) {
        self.limit = max(1, limit)
        self.window = window
    }

    /// True when `source` may have its request looked at.
    func admits(_ source: String, now: Date = Date()) -> Bool {
        lock.withLock {
            let recent = (refusals[source] ?? []).filter { now.timeIntervalSince($0) < window }
            refusals[source] = recent.isEmpty ? nil : recent
            if recent.isEmpty { quiet[source] = nil }
            return recent.count < limit
        }
    }

    /// Counts one refusal of `source`; returns whether to report it and how many were kept quiet before it.
    func refused(_ source: String, limited: Bool, now: Date = Date()) -> (report: Bool, suppressed: Int) {
        lock.withLock {
            if !limited {
                refusals[source, default: []].append(now)
                if refusals.count > 4096,
                    let oldest = refusals.min(by: { ($0.value.last ?? now) < ($1.value.last ?? now) })
                {
                    refusals[oldest.key] = nil
                }
                let skipped = quiet[source] ?? 0
                quiet[source] = nil
                return (true, skipped)
            }
            // Limited: report the first one of a run, count the rest.
            if let count = quiet[source] {
                quiet[source] = count + 1
                return (false, 0)
            }
            quiet[source] = 0
            return (true, 0)
        }
    }
}

/// Signs certificates for joining nodes (one-time token) and renews certificates of members, on a node
/// holding the CA key. A join connection carries exactly one `joinRequest`; anything else closes it and
/// nothing reaches application code. Refused joins are reported to `observer` with their reason and
/// rate-limited per source host (`PKISettings.joinRefusalLimit`); a caller without a valid token is told
/// only `JoinRefusal.strangerAnswer`.
///
/// `Sendable`: immutable configuration; token bookkeeping is serialized by `PKI`, the limiter is locked.
public final class JoinService: Sendable {
    public let directory: PKIDirectory
    public let settings: PKISettings
    let observer: (@Sendable (JoinEvent) -> Void)?
    let limiter: JoinRefusalLimiter

    public init(
        directory: PKIDirectory, settings: PKISettings = PKISettings(),
        observer: (@Sendable (JoinEvent) -> Void)? = nil
    ) {
        self.directory = directory
        self.settings = settings
        self.observer = observer
        limiter = JoinRefusalLimiter(limit: settings.joinRefusalLimit, window: settings.joinRefusalWindow)
    }

    /// Serves one join connection: reads the request, checks and consumes the token, signs the CSR, replies,
    /// closes. Returns the revocations of a replaced node's certificates (the caller spreads them).
    func serve(_ connection: Connection, peer: PeerInfo) async -> [RevocationEntry] {
        let source = connection.remoteHost ?? "unknown"
        let limit = settings.joinRequestTimeout
        let timeout = Task {
            try await Task.sleep(nanoseconds: UInt64(limit * 1e9))
            connection.abort(.timedOut("no join request within \(limit) s"))
        }
        defer { timeout.cancel() }
        guard let frames = try? await connection.receive(), let first = frames.first,
            let envelope = try? Envelope.decode(first, peer: peer.name), envelope.sender == peer.name
        else {
            connection.abort(.protocolViolation(.invalidValue(field: "join", reason: "no valid join request")))
            return []
        }
        if envelope.type == .trustState, envelope.kind == .request {
            // A member that cannot verify our certificate (it was down through a CA rotation) asks for the signed
            // trust state; nothing in it is secret, and the member checks every signature itself.
            await serveTrustState(envelope, on: connection, peer: peer)
            return []
        }
        guard envelope.type == .joinRequest, envelope.kind == .request else {
            connection.abort(.helloRejected("a joining node may only send a join request"))
            return []
        }
        let outcome: Result<([UInt8], PKI.JoinAdmission), JoinRefusal>
        let limited = !limiter.admits(source)
        if !limited {
            let requestBody = envelope.body
            let node = peer.name
            outcome = await withCheckedContinuation { continuation in
                PKIQueue.queue.async {
                    do throws(JoinRefusal) {
                        continuation.resume(returning: .success(try self.join(requestBody, node: node)))
                    } catch {
                        continuation.resume(returning: .failure(error))
                    }
                }
            }
        } else {
            outcome = .failure(
                JoinRefusal(
                    reason: "more than \(settings.joinRefusalLimit) refused joins from \(source) within "
                        + "\(Int(settings.joinRefusalWindow)) s", tokenValid: false))
        }
        switch outcome {
        case .success(let (body, admission)):
            let reply = Envelope(
                version: peer.version, kind: .response, type: .joinRequest, requestID: envelope.requestID,
                sender: directory.localName ?? peer.name, body: body)
            observer?(
                .joined(
                    node: peer.name.rawValue, source: source, serial: admission.certificate.serial,
                    replaced: admission.revoked))
            try? await connection.send(reply.encoded())
            connection.close(reason: "join done")
            return admission.revoked
        case .failure(let refusal):
            let (report, suppressed) = limiter.refused(source, limited: limited)
            if report {
                observer?(
                    .refused(
                        node: peer.name.rawValue, source: source, reason: refusal.reason, limited: limited,
                        suppressed: suppressed))
            }
            let answer =
                limited
                ? "join refused: too many refused joins from this address; wait \(Int(settings.joinRefusalWindow)) s"
                : refusal.answer
            var reply = envelope.errorReply(ErrorReply(code: .refused, message: answer), from: peer.name)
            if let name = directory.localName { reply.sender = name }
            reply.version = peer.version
            try? await connection.send(reply.encoded())
            connection.close(reason: "join refused")
            return []
        }
    }

    /// Answers a `trustState` request on a join connection with this CA holder's rotations and revocations.
    private func serveTrustState(_ envelope: Envelope, on connection: Connection, peer: PeerInfo) async {
        let directory = self.directory
        let state = try? await PKIQueue.run { () throws(TransportError) -> TrustState in
            let authorities = try directory.trustedAuthorities()
            return try directory.trustState(revocations: try directory.revocations(trusting: authorities).all)
        }
        var reply: Envelope
        if let state {
            reply = Envelope(
                version: peer.version, kind: .response, type: .trustState, requestID: envelope.requestID,
                sender: directory.localName ?? peer.name, body: state.encoded())
        } else {
            reply = envelope.errorReply(
                ErrorReply(code: .unavailable, message: "the trust state cannot be read here"), from: peer.name)
            if let name = directory.localName { reply.sender = name }
            reply.version = peer.version
        }
        try? await connection.send(reply.encoded())
        connection.close(reason: "trust state sent")
    }

    private func join(_ body: [UInt8], node: NodeName) throws(JoinRefusal) -> ([UInt8], PKI.JoinAdmission) {
        let parsed: (secret: String, csrPEM: String, replace: Bool)
        do { parsed = try JoinMessages.parseRequest(body) } catch {
            throw JoinRefusal(reason: "unreadable join request: \(error)", tokenValid: false)
        }
        let request: CertificateRequest
        do { request = try CertificateRequest(pem: parsed.csrPEM) } catch {
            throw JoinRefusal(reason: "unreadable certificate request: \(error)", tokenValid: false)
        }
        guard request.commonName == node.rawValue else {
            throw JoinRefusal(
                reason: "the certificate request names \(request.commonName), the hello \(node)", tokenValid: false)
        }
        guard request.isSelfSigned else {
            throw JoinRefusal(reason: "the certificate request's signature does not verify", tokenValid: false)
        }
        do { _ = try directory.authority() } catch {
            // Fail before consuming the token if the CA key is unusable.
            throw JoinRefusal(reason: error.description, tokenValid: false)
        }
        let admission = try PKI.admitJoin(
            at: directory, secret: parsed.secret, request: request, name: node, replace: parsed.replace,
            settings: settings)
        do { return (try responseBody(admission.certificate), admission) } catch {
            throw JoinRefusal(reason: error.description, tokenValid: true)
        }
    }

    /// `renew` on the PKI queue (it signs and appends to `issued.jsonl`).
    func renewOffPool(_ message: InboundMessage) async throws -> [UInt8] {
        let outcome: Result<[UInt8], TransportError> = await withCheckedContinuation { continuation in
            PKIQueue.queue.async {
                do {
                    continuation.resume(returning: .success(try self.renew(message)))
                } catch let reply as ErrorReply {
                    continuation.resume(returning: .failure(.remoteError(reply)))
                } catch {
                    continuation.resume(returning: .failure(.pki("\(error)")))
                }
            }
        }
        switch outcome {
        case .success(let body): return body
        case .failure(.remoteError(let reply)): throw reply
        case .failure(let error): throw ErrorReply(code: .refused, message: error.description)
        }
    }

    /// Answers a `renewRequest` from an authenticated member: a new certificate for the same name.
    func renew(_ message: InboundMessage) throws -> [UInt8] {
        guard message.peer.certificate != nil else {
            throw ErrorReply(code: .refused, message: "renewal needs an authenticated connection")
        }
        do {
            let request = try CertificateRequest(pem: String(decoding: message.envelope.body, as: UTF8.self))
            guard request.commonName == message.peer.name.rawValue else {
                throw ErrorReply(code: .refused, message: "a node may only renew its own certificate")
            }
            let certificate = try PKI.issue(
                at: directory, request: request, name: message.peer.name, settings: settings)
            return try responseBody(certificate)
        } catch let error as TransportError {
            throw ErrorReply(code: .refused, message: error.description)
        }
    }

    private func responseBody(_ certificate: Certificate) throws(TransportError) -> [UInt8] {
        let bundle = try directory.trustedAuthorities().map { (ca: Certificate) throws(TransportError) in try ca.pem() }
            .joined()
        let revocations =
            FileManager.default.fileExists(atPath: directory.revocationsFile.path)
            ? try directory.read(directory.revocationsFile) : ""
        let cluster = (try? directory.read(directory.clusterFile)) ?? "{}"
        return JoinMessages.response(
            certificatePEM: try certificate.pem(), caBundlePEM: bundle, revocations: revocations, cluster: cluster)
    }
}

extension PKIDirectory {
    /// Writes the trusted CAs: the first to `ca.crt`, any others to `ca-previous.crt` (removed when there are
    /// none).
    public func installTrustBundle(_ authorities: [Certificate]) throws(TransportError) {
        guard let current = authorities.first else { throw .pki("an empty CA bundle") }
        try write(try current.pem(), to: caCertificate, mode: 0o644)
        if authorities.count > 1 {
            var previous = ""
            for authority in authorities.dropFirst() { previous += try authority.pem() }
            try write(previous, to: previousCACertificate, mode: 0o644)
        } else if FileManager.default.fileExists(atPath: previousCACertificate.path) {
            unlink(previousCACertificate.path)
        }
    }

    /// The node name in `node.crt`, when there is one.
    var localName: NodeName? {
        guard let text = try? read(nodeCertificate), let certificate = try? Certificate(pem: text) else { return nil }
        return try? NodeName(certificate.commonName)
    }
}

/// Runs PKI file work (reads, atomic writes with fsync) on a dedicated serial dispatch queue, never on the
/// cooperative pool.
///
/// A caseless namespace; the queue is a process-wide constant.
public enum PKIQueue {
    static let queue = DispatchQueue(label: "gastown.pki")

    /// Runs `body` on the PKI queue and returns its result.
    public static func run<T: Sendable>(
        _ body: @escaping @Sendable () throws(TransportError) -> T
    ) async throws(TransportError) -> T {
        let result: Result<T, TransportError> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(TransportError) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }
}

/// The joining side of `gt node join <address> <token>`.
///
/// A caseless namespace; nothing to share.
public enum JoinClient {
    /// Connects to `address` without a certificate, pins the CA by the token's fingerprint (the secret is
    /// sent only after the server proved it holds a certificate from that CA), sends a CSR for `nodeName`,
    /// and installs the signed certificate, the CA bundle and the revocations under `directory`.
    @discardableResult
    public static func join(
        address: PeerAddress, token: JoinToken, nodeName: NodeName, directory: PKIDirectory, replace: Bool = false,
        settings: ConnectionSettings = ConnectionSettings(), timeout: TimeInterval = 10
    ) async throws(TransportError) -> NodeIdentity {
        guard !FileManager.default.fileExists(atPath: directory.nodeCertificate.path) else {
            throw .pki("\(directory.nodeCertificate.path) exists: this town already has a node identity")
        }
        let key = try PrivateKey.generateP256()
        let request = try CertificateRequest(commonName: nodeName.rawValue, key: key)
        let connection = Connection.dial(
            address, context: try TLSContext.joinClient(), serverName: nil, limits: .general, settings: settings)
        defer { connection.close(reason: "join finished") }
        let info = try await connection.establish(local: nodeName, expectedPeer: nil, purpose: .join)
        guard let pinned = connection.peerChain.first(where: { $0.fingerprint == token.caFingerprint }) else {
            throw .joinRefused("the server did not present the CA the token pins (\(token.caFingerprint.prefix(16))…)")
        }
        guard let leaf = info.certificate, leaf.isSigned(by: pinned), leaf.commonName == info.name.rawValue,
            leaf.notAfter > Date()
        else {
            throw .joinRefused("the server's certificate is not a valid certificate of the pinned CA")
        }
        let link = PeerLink(
            connection: connection, peer: info, local: nodeName, registry: .core, handler: { _ in [] })
        let reader = Task { await link.run() }
        defer { reader.cancel() }
        let response = try await link.request(
            .joinRequest, body: JoinMessages.request(secret: token.secret, csrPEM: try request.pem(), replace: replace),
            timeout: timeout)
        let parsed: (certificatePEM: String, caBundlePEM: String, revocations: String, cluster: String)
        do { parsed = try JoinMessages.parseResponse(response.body) } catch { throw .protocolViolation(error) }
        let certificate = try Certificate(pem: parsed.certificatePEM)
        let authorities = try Certificate.bundle(pem: parsed.caBundlePEM)
        guard certificate.isSigned(by: pinned), certificate.commonName == nodeName.rawValue,
            authorities.contains(where: { $0.fingerprint == pinned.fingerprint })
        else { throw .joinRefused("the signed certificate does not come from the pinned CA") }
        return try await PKIQueue.run { () throws(TransportError) in
            try directory.installTrustBundle(authorities)
            try directory.write(parsed.revocations, to: directory.revocationsFile, mode: 0o644)
            try directory.write(parsed.cluster, to: directory.clusterFile, mode: 0o644)
            try PKI.installNodeCertificate(at: directory, certificate: certificate, key: key)
            return try directory.loadIdentity()
        }
    }

    /// Asks the CA holder at `address` for its trust state over a certificate-less join connection (used when
    /// this node cannot verify the peers' certificates any more: it was down through a CA rotation). The
    /// server is not authenticated; the caller applies only what verifies (`PKI.catchUp`).
    public static func fetchTrustState(
        address: PeerAddress, local: NodeName, settings: ConnectionSettings = ConnectionSettings(),
        timeout: TimeInterval = 10
    ) async throws(TransportError) -> TrustState {
        let connection = Connection.dial(
            address, context: try TLSContext.joinClient(), serverName: nil, limits: .general, settings: settings)
        defer { connection.close(reason: "trust state fetched") }
        let info = try await connection.establish(local: local, expectedPeer: nil, purpose: .join)
        let link = PeerLink(connection: connection, peer: info, local: local, registry: .core, handler: { _ in [] })
        let reader = Task { await link.run() }
        defer { reader.cancel() }
        let response = try await link.request(.trustState, body: Array("{}".utf8), timeout: timeout)
        return try TrustState.decode(response.body)
    }

    /// Renews this node's certificate over the link to a CA holder (`manager` must have a link to `caNode`).
    @discardableResult
    public static func renew(
        via manager: ConnectionManager, caNode: NodeName, directory: PKIDirectory
    ) async throws(TransportError) -> Certificate {
        let current = try Certificate(pem: directory.read(directory.nodeCertificate))
        let key = try PrivateKey.generateP256()
        let request = try CertificateRequest(commonName: current.commonName, key: key)
        let response = try await manager.request(.renewRequest, body: Array(try request.pem().utf8), to: caNode)
        let parsed: (certificatePEM: String, caBundlePEM: String, revocations: String, cluster: String)
        do { parsed = try JoinMessages.parseResponse(response.body) } catch { throw .protocolViolation(error) }
        let certificate = try Certificate(pem: parsed.certificatePEM)
        // The bundle comes from a CA holder over a mutually authenticated link: during a rotation it names
        // the new CA (first) and the previous one.
        let bundle = try Certificate.bundle(pem: parsed.caBundlePEM)
        guard bundle.contains(where: { certificate.isSigned(by: $0) }), certificate.commonName == current.commonName
        else { throw .pki("the renewed certificate is not signed by the CA bundle that came with it") }
        try await PKIQueue.run { () throws(TransportError) in
            try directory.installTrustBundle(bundle)
            try PKI.installNodeCertificate(at: directory, certificate: certificate, key: key)
        }
        return certificate
    }
}

/// What `gt node ping` reports.
///
/// `Sendable`: plain values.
public struct PingResult: Codable, Sendable {
    /// The peer's verified name (from its certificate).
    public var peer: NodeName
    public var certificate: CertificateInfo
    /// Round-trip time of each ping, in seconds.
    public var roundTrips: [TimeInterval]
}

/// `gt node ping ADDRESS`: connects with this node's identity, pings, reports the peer's verified identity
/// and round-trip times.
///
/// A caseless namespace; nothing to share.
public enum Pinger {
    public static func ping(
        address: PeerAddress, identity: NodeIdentity, expectedPeer: NodeName? = nil, count: Int = 3,
        timeout: TimeInterval = 5
    ) async throws(TransportError) -> PingResult {
        let (connection, info) = try await Dialer.connect(
            to: address, peer: expectedPeer, context: TLSContext(identity: identity), local: identity.name)
        defer { connection.close(reason: "ping done") }
        let link = PeerLink(
            connection: connection, peer: info, local: identity.name, registry: .core, handler: { _ in [] })
        let reader = Task { await link.run() }
        defer { reader.cancel() }
        var roundTrips: [TimeInterval] = []
        for index in 0..<max(1, count) {
            let start = DispatchTime.now().uptimeNanoseconds
            let response = try await link.request(.ping, body: Array("ping \(index)".utf8), timeout: timeout)
            guard response.body == Array("ping \(index)".utf8) else {
                throw .protocolViolation(.invalidValue(field: "pong", reason: "body differs from the ping"))
            }
            roundTrips.append(TimeInterval(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        guard let certificate = info.certificate else { throw .handshakeFailed("the peer presented no certificate") }
        return PingResult(
            peer: info.name, certificate: PKI.info(certificate, revocations: identity.revocations),
            roundTrips: roundTrips)
    }
}
