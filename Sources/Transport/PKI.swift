import CShims
import Foundation
import Wire

/// A node's TLS identity: its name, certificate and key, the CA certificates it trusts, and the revocations
/// it enforces.
///
/// `Sendable`: every member is immutable or (the revocation list) internally locked.
public struct NodeIdentity: Sendable {
    public var name: NodeName
    public var certificate: Certificate
    public var key: PrivateKey
    /// Every trusted cluster CA: one, or two while a rotation is under way.
    public var trustedAuthorities: [Certificate]
    public var revocations: RevocationList

    public init(
        name: NodeName, certificate: Certificate, key: PrivateKey, trustedAuthorities: [Certificate],
        revocations: RevocationList = RevocationList()
    ) {
        self.name = name
        self.certificate = certificate
        self.key = key
        self.trustedAuthorities = trustedAuthorities
        self.revocations = revocations
    }
}

/// The files of a node's PKI directory, `<town>/.gt/pki/`.
///
/// `ca.crt` (current CA), `ca-previous.crt` (during a rotation), `ca.key` (only on nodes holding the CA),
/// `node.crt`, `node.key`, `revocations.jsonl`, `tokens.jsonl` (hashes of issued join tokens), `issued.jsonl`
/// (certificates signed here), `cluster.json`.
/// Key files are mode 0600, the directory 0700. Every file is replaced atomically (temp file + rename).
/// `Sendable` because it is a plain value.
public struct PKIDirectory: Sendable {
    public let url: URL

    public init(_ url: URL) { self.url = url }

    public var caCertificate: URL { url.appendingPathComponent("ca.crt") }
    public var previousCACertificate: URL { url.appendingPathComponent("ca-previous.crt") }
    public var caKey: URL { url.appendingPathComponent("ca.key") }
    public var nodeCertificate: URL { url.appendingPathComponent("node.crt") }
    public var nodeKey: URL { url.appendingPathComponent("node.key") }
    public var revocationsFile: URL { url.appendingPathComponent("revocations.jsonl") }
    public var tokensFile: URL { url.appendingPathComponent("tokens.jsonl") }
    public var clusterFile: URL { url.appendingPathComponent("cluster.json") }
    /// Certificates this CA node signed (`IssuedCertificate` lines), for `gt node cert revoke <node>`.
    public var issuedFile: URL { url.appendingPathComponent("issued.jsonl") }

    /// True when this node holds the CA key (can sign join requests and revocations).
    public var holdsCA: Bool { FileManager.default.fileExists(atPath: caKey.path) }

    func read(_ file: URL) throws(TransportError) -> String {
        do {
            return try String(contentsOf: file, encoding: .utf8)
        } catch {
            throw .pki(
                "cannot read \(file.path): \(error.localizedDescription); run `gt cluster init` or "
                    + "`gt node join` first")
        }
    }

    /// Writes `text` atomically with `mode` (0600 for keys, 0644 otherwise).
    func write(_ text: String, to file: URL, mode: mode_t) throws(TransportError) {
        do {
            try FileManager.default.createDirectory(
                at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .pki("cannot create \(url.path): \(error.localizedDescription)")
        }
        let temporary = url.appendingPathComponent(".\(file.lastPathComponent).\(getpid()).tmp")
        let fd = gtshim_open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .system(operation: "open \(temporary.path)", errno: gtshim_errno()) }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                let code = gtshim_errno()
                if code == EINTR { continue }
                close(fd)
                unlink(temporary.path)
                throw .system(operation: "write \(temporary.path)", errno: code)
            }
            offset += written
        }
        fchmod(fd, mode)
        fsync(fd)
        close(fd)
        guard rename(temporary.path, file.path) == 0 else {
            let code = gtshim_errno()
            unlink(temporary.path)
            throw .system(operation: "rename to \(file.path)", errno: code)
        }
    }

    /// The CA certificates to trust: `ca.crt` and, during a rotation, `ca-previous.crt`.
    public func trustedAuthorities() throws(TransportError) -> [Certificate] {
        var result = try Certificate.bundle(pem: read(caCertificate))
        if FileManager.default.fileExists(atPath: previousCACertificate.path) {
            result += try Certificate.bundle(pem: read(previousCACertificate))
        }
        guard !result.isEmpty else { throw .pki("\(caCertificate.path) holds no certificate") }
        return result
    }

    /// The CA, when this node holds its key.
    public func authority() throws(TransportError) -> CertificateAuthority {
        guard holdsCA else { throw .pki("this node does not hold the CA key (\(caKey.path)); run it on the CA node") }
        return CertificateAuthority(
            certificate: try Certificate(pem: read(caCertificate)), key: try PrivateKey(pem: read(caKey)))
    }

    /// Revocation entries on disk whose signatures verify with `authorities`.
    public func revocations(trusting authorities: [Certificate]) throws(TransportError) -> RevocationList {
        let list = RevocationList()
        guard FileManager.default.fileExists(atPath: revocationsFile.path) else { return list }
        let decoder = JSONDecoder()
        for line in try read(revocationsFile).split(separator: "\n") where !line.isEmpty {
            if let entry = try? decoder.decode(RevocationEntry.self, from: Data(line.utf8)) {
                list.add(entry, trusting: authorities)
            }
        }
        return list
    }

    /// Loads this node's identity (certificate, key, trusted CAs, revocations).
    public func loadIdentity() throws(TransportError) -> NodeIdentity {
        let certificate = try Certificate(pem: read(nodeCertificate))
        let key = try PrivateKey(pem: read(nodeKey))
        let authorities = try trustedAuthorities()
        let name: NodeName
        do {
            name = try NodeName(certificate.commonName)
        } catch {
            throw .pki("\(nodeCertificate.path) names '\(certificate.commonName)', not a valid node name")
        }
        return NodeIdentity(
            name: name, certificate: certificate, key: key, trustedAuthorities: authorities,
            revocations: try revocations(trusting: authorities))
    }

    /// The sidecar lock file ordering every read-modify-write of this directory's JSONL files.
    public var lockFile: URL { url.appendingPathComponent(".lock") }

    /// Runs `body` holding this directory's lock: the process-wide `PKI.fileLock` and an exclusive `flock` on
    /// `lockFile` (other processes). Not reentrant. Blocking: call off the cooperative pool.
    func locked<T>(_ body: () throws(TransportError) -> T) throws(TransportError) -> T {
        PKI.fileLock.lock()
        defer { PKI.fileLock.unlock() }
        return try FileLock.withLock(lockFile.path, body)
    }

    /// Appends one line to a JSONL file (rewriting it atomically). Call it inside `locked`.
    func appendLine(_ line: String, to file: URL, mode: mode_t = 0o644) throws(TransportError) {
        let existing = FileManager.default.fileExists(atPath: file.path) ? try read(file) : ""
        try write(existing + line + "\n", to: file, mode: mode)
    }
}
