import Foundation
import Wire

/// What `gt node cert show` prints about a certificate.
///
/// `Sendable` because it is a plain value.
public struct CertificateInfo: Codable, Equatable, Sendable {
    public var subject: String
    public var issuer: String
    public var serial: String
    public var fingerprint: String
    public var notBefore: Date
    public var notAfter: Date
    public var renewAt: Date
    public var revoked: Bool
}

/// The cluster PKI operations behind `gt cluster init`, `gt cluster token`, `gt node cert show|revoke`,
/// `gt cluster rotate-ca` and automatic renewal. All work on a `PKIDirectory`; time is passed in.
/// They are synchronous and fsync what they write: from async code, call them through `PKIQueue.run`.
///
/// A caseless namespace; nothing to share.
public enum PKI {
    /// Serializes read-modify-write of the JSONL files (`tokens.jsonl`, `issued.jsonl`, `revocations.jsonl`)
    /// within the process; `PKIDirectory.locked` adds the `flock` that orders other processes (the node and
    /// any number of `gt` commands).
    static let fileLock = NSLock()

    /// Creates the cluster CA and this node's identity under `directory`. Refuses to overwrite an existing CA.
    @discardableResult
    public static func initCluster(
        at directory: PKIDirectory, clusterName: String, nodeName: NodeName, now: Date = Date(),
        settings: PKISettings = PKISettings()
    ) throws(TransportError) -> NodeIdentity {
        guard !FileManager.default.fileExists(atPath: directory.caCertificate.path) else {
            throw .pki("\(directory.caCertificate.path) already exists: this town already belongs to a cluster")
        }
        let authority = try CertificateAuthority.create(clusterName: clusterName, now: now, settings: settings)
        try directory.write(try authority.key.pem(), to: directory.caKey, mode: 0o600)
        try directory.write(try authority.certificate.pem(), to: directory.caCertificate, mode: 0o644)
        let cluster = "{\"name\":\(jsonString(clusterName)),\"created_at\":\(Int64(now.timeIntervalSince1970))}\n"
        try directory.write(cluster, to: directory.clusterFile, mode: 0o644)
        let key = try PrivateKey.generateP256()
        let request = try CertificateRequest(commonName: nodeName.rawValue, key: key)
        let certificate = try issue(at: directory, request: request, name: nodeName, now: now, settings: settings)
        try directory.write(try key.pem(), to: directory.nodeKey, mode: 0o600)
        try directory.write(try certificate.pem(), to: directory.nodeCertificate, mode: 0o644)
        return try directory.loadIdentity()
    }

    /// Issues a single-use join token (recording only the hash of its secret). Needs the CA key. With `name`,
    /// the token admits only a node of that name.
    public static func makeJoinToken(
        at directory: PKIDirectory, name: NodeName? = nil, now: Date = Date(), settings: PKISettings = PKISettings()
    ) throws(TransportError) -> JoinToken {
        let authority = try directory.authority()
        let token = JoinToken(secret: hex(try secureRandomBytes(16)), caFingerprint: authority.certificate.fingerprint)
        let record = JoinTokenRecord(
            secretSHA256: token.secretHash, createdAt: Int64(now.timeIntervalSince1970),
            expiresAt: Int64(now.addingTimeInterval(settings.joinTokenLifetime).timeIntervalSince1970),
            name: name?.rawValue)
        try directory.locked { () throws(TransportError) in
            try directory.appendLine(encodeLine(record), to: directory.tokensFile, mode: 0o600)
        }
        return token
    }

    /// Every join token record in `tokens.jsonl` (unreadable lines are skipped).
    public static func joinTokens(at directory: PKIDirectory) throws(TransportError) -> [JoinTokenRecord] {
        guard FileManager.default.fileExists(atPath: directory.tokensFile.path) else { return [] }
        var records: [JoinTokenRecord] = []
        for line in try directory.read(directory.tokensFile).split(separator: "\n") where !line.isEmpty {
            if let record = try? JSONDecoder().decode(JoinTokenRecord.self, from: Data(line.utf8)) {
                records.append(record)
            }
        }
        return records
    }

    /// Marks the token with `secret` used by `node`. Throws `.joinRefused` when it is unknown, expired, already
    /// used (a replay) or bound to another name. Nothing is changed on refusal.
    public static func consumeJoinToken(
        at directory: PKIDirectory, secret: String, by node: NodeName, now: Date = Date()
    ) throws(TransportError) {
        try directory.locked { () throws(TransportError) in
            var records = try joinTokens(at: directory)
            let index: Int
            do throws(JoinRefusal) { index = try usableToken(in: records, secret: secret, for: node, now: now) } catch {
                throw .joinRefused(error.reason)
            }
            try markUsed(&records, index, by: node, now: now, at: directory)
        }
    }

    /// The index of the unused, unexpired token with `secret` that may admit `node`.
    static func usableToken(
        in records: [JoinTokenRecord], secret: String, for node: NodeName, now: Date
    ) throws(JoinRefusal) -> Int {
        let hash = JoinToken(secret: secret, caFingerprint: "").secretHash
        guard let index = records.firstIndex(where: { constantTimeEqual($0.secretSHA256, hash) }) else {
            throw JoinRefusal(reason: "unknown join token", tokenValid: false)
        }
        guard records[index].usedAt == nil else {
            throw JoinRefusal(
                reason: "this join token was already used by \(records[index].usedBy ?? "another node")",
                tokenValid: false)
        }
        guard Int64(now.timeIntervalSince1970) < records[index].expiresAt else {
            throw JoinRefusal(reason: "this join token expired", tokenValid: false)
        }
        if let bound = records[index].name, bound != node.rawValue {
            throw JoinRefusal(
                reason: "this join token was issued for node \(bound), not \(node); join with --node-name \(bound) "
                    + "or ask for a token for \(node) ('gt cluster token --name \(node)')",
                tokenValid: true)
        }
        return index
    }

    private static func markUsed(
        _ records: inout [JoinTokenRecord], _ index: Int, by node: NodeName, now: Date, at directory: PKIDirectory
    ) throws(TransportError) {
        records[index].usedAt = Int64(now.timeIntervalSince1970)
        records[index].usedBy = node.rawValue
        try directory.write(
            records.map(encodeLine).joined(separator: "\n") + "\n", to: directory.tokensFile, mode: 0o600)
    }

    /// What an admitted join produced: the new certificate, and the revocations of the certificates it replaced
    /// (spread them with `ConnectionManager.publishRevocation`).
    public struct JoinAdmission: Sendable {
        public var certificate: Certificate
        public var revoked: [RevocationEntry]
    }

    /// Admits a joining node, all under the PKI lock: checks the token (known, unused, unexpired, bound to this
    /// name if bound at all) and that the name is free: the CA node's own name never is, and a name holding an
    /// unrevoked, unexpired certificate is only given out with `replace`, which revokes those certificates
    /// first. Then marks the token used and signs `request`. Nothing is changed on refusal.
    public static func admitJoin(
        at directory: PKIDirectory, secret: String, request: CertificateRequest, name: NodeName, replace: Bool,
        now: Date = Date(), settings: PKISettings = PKISettings()
    ) throws(JoinRefusal) -> JoinAdmission {
        let outcome: Result<JoinAdmission, JoinRefusal>
        do throws(TransportError) {
            outcome = try directory.locked { () throws(TransportError) -> Result<JoinAdmission, JoinRefusal> in
                var records = try joinTokens(at: directory)
                let index: Int
                do throws(JoinRefusal) {
                    index = try usableToken(in: records, secret: secret, for: name, now: now)
                } catch {
                    return .failure(error)
                }
                if directory.localName == name {
                    return .failure(
                        JoinRefusal(
                            reason: "\(name) is the name of the CA node itself; choose another --node-name",
                            tokenValid: true))
                }
                let holding = try unrevokedCertificates(of: name, at: directory, now: now)
                if !holding.isEmpty && !replace {
                    let serials = holding.map(\.serial).joined(separator: ", ")
                    return .failure(
                        JoinRefusal(
                            reason: "node \(name) already holds a certificate (serial \(serials)); choose another "
                                + "--node-name, or pass --replace to revoke it and take the name",
                            tokenValid: true))
                }
                var revoked: [RevocationEntry] = []
                let authority = try directory.authority()
                for record in holding {
                    let entry = try RevocationEntry.revoking(
                        serial: record.serial, node: record.node, by: authority, now: now)
                    try directory.appendLine(entry.jsonLine(), to: directory.revocationsFile)
                    revoked.append(entry)
                }
                try markUsed(&records, index, by: name, now: now, at: directory)
                let certificate = try issueUnlocked(
                    at: directory, request: request, name: name, now: now, settings: settings)
                return .success(JoinAdmission(certificate: certificate, revoked: revoked))
            }
        } catch {
            throw JoinRefusal(reason: error.description, tokenValid: false)
        }
        return try outcome.get()
    }

    /// Unexpired certificates of `name` in `issued.jsonl` that `revocations.jsonl` does not revoke.
    static func unrevokedCertificates(
        of name: NodeName, at directory: PKIDirectory, now: Date
    ) throws(TransportError) -> [IssuedCertificate] {
        let issued = try issuedCertificates(at: directory).filter {
            $0.node == name.rawValue && $0.notAfter > Int64(now.timeIntervalSince1970)
        }
        guard !issued.isEmpty else { return [] }
        let known = try directory.revocations(trusting: directory.trustedAuthorities())
        var seen = Set<String>()
        return issued.filter { !known.isRevoked(serial: $0.serial) && seen.insert($0.serial).inserted }
    }

    /// Signs `request` for `name` with the directory's CA and records the certificate in `issued.jsonl`
    /// (so `revokeNode` can find every certificate a node holds).
    public static func issue(
        at directory: PKIDirectory, request: CertificateRequest, name: NodeName, now: Date = Date(),
        settings: PKISettings = PKISettings()
    ) throws(TransportError) -> Certificate {
        try directory.locked { () throws(TransportError) in
            try issueUnlocked(at: directory, request: request, name: name, now: now, settings: settings)
        }
    }

    private static func issueUnlocked(
        at directory: PKIDirectory, request: CertificateRequest, name: NodeName, now: Date, settings: PKISettings
    ) throws(TransportError) -> Certificate {
        let certificate = try directory.authority().issue(for: request, name: name, now: now, settings: settings)
        let record = IssuedCertificate(
            serial: certificate.serial, node: name.rawValue, fingerprint: certificate.fingerprint,
            notAfter: Int64(certificate.notAfter.timeIntervalSince1970))
        try directory.appendLine(encodeLine(record), to: directory.issuedFile, mode: 0o644)
        return certificate
    }

    /// Every certificate this CA node issued, oldest first.
    public static func issuedCertificates(at directory: PKIDirectory) throws(TransportError) -> [IssuedCertificate] {
        guard FileManager.default.fileExists(atPath: directory.issuedFile.path) else { return [] }
        return try directory.read(directory.issuedFile).split(separator: "\n").compactMap {
            try? JSONDecoder().decode(IssuedCertificate.self, from: Data($0.utf8))
        }
    }

    /// `gt node cert revoke <node>`: revokes every unexpired certificate issued to `node` and not yet revoked.
    /// Returns the new entries (spread them with `ConnectionManager.publishRevocation`).
    public static func revokeNode(
        at directory: PKIDirectory, node: NodeName, now: Date = Date()
    ) throws(TransportError) -> [RevocationEntry] {
        let known = try directory.revocations(trusting: directory.trustedAuthorities())
        var entries: [RevocationEntry] = []
        for record in try issuedCertificates(at: directory)
        where record.node == node.rawValue && record.notAfter > Int64(now.timeIntervalSince1970)
            && !known.isRevoked(serial: record.serial)
        {
            entries.append(try revoke(at: directory, serial: record.serial, node: record.node, now: now))
        }
        guard !entries.isEmpty else {
            throw .pki("no unrevoked, unexpired certificate of \(node) in \(directory.issuedFile.path)")
        }
        return entries
    }

    /// When a certificate should be renewed: `renewalFraction` (2/3) of the way through its life.
    public static func renewalDate(of certificate: Certificate, settings: PKISettings = PKISettings()) -> Date {
        let life = certificate.notAfter.timeIntervalSince(certificate.notBefore)
        return certificate.notBefore.addingTimeInterval(life * settings.renewalFraction)
    }

    /// True when `certificate` is due for renewal at `now`.
    public static func needsRenewal(
        _ certificate: Certificate, now: Date, settings: PKISettings = PKISettings()
    ) -> Bool {
        now >= renewalDate(of: certificate, settings: settings)
    }

    /// Renews this node's certificate with a new key when it is due, signing it with the local CA (a node
    /// without the CA key renews with `RenewalClient`). Returns the new certificate, or nil when not due.
    @discardableResult
    public static func renewIfDue(
        at directory: PKIDirectory, now: Date = Date(), settings: PKISettings = PKISettings()
    ) throws(TransportError) -> Certificate? {
        let current = try Certificate(pem: directory.read(directory.nodeCertificate))
        guard needsRenewal(current, now: now, settings: settings) else { return nil }
        let name: NodeName
        do { name = try NodeName(current.commonName) } catch { throw .pki("bad node name in node.crt") }
        let key = try PrivateKey.generateP256()
        let request = try CertificateRequest(commonName: name.rawValue, key: key)
        let certificate = try issue(at: directory, request: request, name: name, now: now, settings: settings)
        try installNodeCertificate(at: directory, certificate: certificate, key: key)
        return certificate
    }

    /// Replaces `node.crt` and `node.key` (key first, both atomically).
    public static func installNodeCertificate(
        at directory: PKIDirectory, certificate: Certificate, key: PrivateKey
    ) throws(TransportError) {
        try directory.write(try key.pem(), to: directory.nodeKey, mode: 0o600)
        try directory.write(try certificate.pem(), to: directory.nodeCertificate, mode: 0o644)
    }

    /// Signs a CA revocation of `serial` (a certificate of `node`) and appends it to `revocations.jsonl`.
    /// The caller spreads it (gossip) and applies it to its live `RevocationList`.
    @discardableResult
    public static func revoke(
        at directory: PKIDirectory, serial: String, node: String, now: Date = Date()
    ) throws(TransportError) -> RevocationEntry {
        let entry = try RevocationEntry.revoking(serial: serial, node: node, by: directory.authority(), now: now)
        try recordRevocation(entry, at: directory)
        return entry
    }

    /// Appends an entry received from a peer after checking its signature; returns false when it is invalid
    /// or already recorded.
    @discardableResult
    public static func recordRevocation(_ entry: RevocationEntry, at directory: PKIDirectory) throws(TransportError)
        -> Bool
    {
        let authorities = try directory.trustedAuthorities()
        guard entry.isValid(trusting: authorities) else { return false }
        return try directory.locked { () throws(TransportError) -> Bool in
            let known = try directory.revocations(trusting: authorities)
            guard !known.isRevoked(serial: entry.serial) else { return false }
            try directory.appendLine(entry.jsonLine(), to: directory.revocationsFile)
            return true
        }
    }

    /// Starts a CA rotation: the current CA certificate becomes `ca-previous.crt` (still trusted), a new CA
    /// replaces `ca.crt`/`ca.key`, and this node's certificate is re-issued by the new CA. Other nodes get
    /// new certificates by renewal; `completeRotation` then drops the old CA.
    @discardableResult
    public static func rotateCA(
        at directory: PKIDirectory, clusterName: String, now: Date = Date(), settings: PKISettings = PKISettings()
    ) throws(TransportError) -> CertificateAuthority {
        let old = try directory.authority()
        guard !FileManager.default.fileExists(atPath: directory.previousCACertificate.path) else {
            throw .pki("a CA rotation is already under way; finish it with completeRotation first")
        }
        let fresh = try CertificateAuthority.create(clusterName: clusterName, now: now, settings: settings)
        try directory.write(try old.certificate.pem(), to: directory.previousCACertificate, mode: 0o644)
        try directory.write(try fresh.key.pem(), to: directory.caKey, mode: 0o600)
        try directory.write(try fresh.certificate.pem(), to: directory.caCertificate, mode: 0o644)
        let current = try Certificate(pem: directory.read(directory.nodeCertificate))
        let name: NodeName
        do { name = try NodeName(current.commonName) } catch { throw .pki("bad node name in node.crt") }
        let key = try PrivateKey.generateP256()
        let request = try CertificateRequest(commonName: name.rawValue, key: key)
        try installNodeCertificate(
            at: directory,
            certificate: issue(at: directory, request: request, name: name, now: now, settings: settings),
            key: key)
        return fresh
    }

    /// Ends a CA rotation: the previous CA is no longer trusted.
    public static func completeRotation(at directory: PKIDirectory) throws(TransportError) {
        guard FileManager.default.fileExists(atPath: directory.previousCACertificate.path) else { return }
        guard unlink(directory.previousCACertificate.path) == 0 else {
            throw .system(operation: "unlink \(directory.previousCACertificate.path)", errno: errno)
        }
    }

    /// What `gt node cert show` reports about `certificate`.
    public static func info(
        _ certificate: Certificate, revocations: RevocationList? = nil, settings: PKISettings = PKISettings()
    ) -> CertificateInfo {
        CertificateInfo(
            subject: certificate.commonName, issuer: certificate.issuerCommonName, serial: certificate.serial,
            fingerprint: certificate.fingerprint, notBefore: certificate.notBefore, notAfter: certificate.notAfter,
            renewAt: renewalDate(of: certificate, settings: settings),
            revoked: revocations?.isRevoked(serial: certificate.serial) ?? false)
    }

    private static func encodeLine(_ record: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(record)) ?? Data(), as: UTF8.self)
    }

    private static func jsonString(_ text: String) -> String {
        String(decoding: (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
    }
}

/// One line of `issued.jsonl`: a certificate the CA node signed.
///
/// `Sendable` because it is a plain value.
public struct IssuedCertificate: Codable, Equatable, Sendable {
    public var serial: String
    public var node: String
    public var fingerprint: String
    /// Seconds since 1970.
    public var notAfter: Int64

    enum CodingKeys: String, CodingKey {
        case serial, node, fingerprint
        case notAfter = "not_after"
    }
}

/// Why a join was refused. `reason` is for the CA node's log; the caller is told it only when it showed a
/// valid, unused token (`tokenValid`): a stranger gets `strangerAnswer`, which says nothing of which node
/// used a token or which names exist.
///
/// `Sendable` because it is a plain value.
public struct JoinRefusal: Error, Equatable, Sendable {
    public var reason: String
    public var tokenValid: Bool

    public init(reason: String, tokenValid: Bool) {
        self.reason = reason
        self.tokenValid = tokenValid
    }

    /// What a caller without a valid token is told.
    public static let strangerAnswer =
        "join refused: the token is not valid here (unknown, already used or expired); ask the cluster's operator "
        + "for a new one ('gt cluster token' on the CA node)"

    /// What the joining node is told.
    public var answer: String { tokenValid ? "join refused: \(reason)" : Self.strangerAnswer }
}

/// Compares two strings in time independent of where they differ.
func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8)
    let y = Array(b.utf8)
    guard x.count == y.count else { return false }
    var difference: UInt8 = 0
    for index in x.indices { difference |= x[index] ^ y[index] }
    return difference == 0
}
