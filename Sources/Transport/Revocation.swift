import Foundation
import Wire

/// One revocation: a certificate serial (and the node it named), signed by a cluster CA.
/// Stored one per line in `revocations.jsonl` and spread by gossip.
///
/// `Sendable` because it is a plain value.
public struct RevocationEntry: Codable, Equatable, Sendable {
    /// Serial of the revoked certificate, uppercase hex.
    public var serial: String
    /// The node the certificate named.
    public var node: String
    /// Seconds since 1970 when it was revoked.
    public var revokedAt: Int64
    /// SHA-256 fingerprint of the CA certificate that signed this entry.
    public var caFingerprint: String
    /// Base64 ECDSA-SHA256 signature over `signedBytes`.
    public var signature: String

    enum CodingKeys: String, CodingKey {
        case serial, node, signature
        case revokedAt = "revoked_at"
        case caFingerprint = "ca_fingerprint"
    }

    /// The exact bytes the CA signs.
    public var signedBytes: [UInt8] {
        Array("gastown-revocation-v1\n\(serial)\n\(node)\n\(revokedAt)\n\(caFingerprint)".utf8)
    }

    /// A new entry revoking `certificate`, signed by `authority`.
    public static func revoking(
        serial: String, node: String, by authority: CertificateAuthority, now: Date
    ) throws(TransportError) -> RevocationEntry {
        var entry = RevocationEntry(
            serial: serial.uppercased(), node: node, revokedAt: Int64(now.timeIntervalSince1970),
            caFingerprint: authority.certificate.fingerprint, signature: "")
        entry.signature = Data(try authority.key.sign(entry.signedBytes)).base64EncodedString()
        return entry
    }

    /// True when the signature verifies with one of `authorities`.
    public func isValid(trusting authorities: [Certificate]) -> Bool {
        guard let authority = authorities.first(where: { $0.fingerprint == caFingerprint }),
            let signatureBytes = Data(base64Encoded: signature)
        else { return false }
        return verifySignature(Array(signatureBytes), of: signedBytes, by: authority)
    }

    /// One JSON line (no newline).
    public func jsonLine() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}

/// The set of revoked serials a node enforces, shared by its TLS contexts and connections.
///
/// Only entries whose CA signature verifies are accepted. Observers (the connection manager) are told of
/// each new serial so live connections using it are dropped.
/// `@unchecked Sendable`: all state is guarded by `lock`.
public final class RevocationList: @unchecked Sendable {
    private let lock = NSLock()
    private var serials: Set<String> = []
    private var entries: [RevocationEntry] = []
    private var observers: [UUID: @Sendable (RevocationEntry) -> Void] = [:]

    public init() {}

    /// True when `serial` is revoked.
    public func isRevoked(serial: String) -> Bool {
        lock.withLock { serials.contains(serial.uppercased()) }
    }

    /// Every accepted entry.
    public var all: [RevocationEntry] { lock.withLock { entries } }

    /// Adds `entry` if its signature verifies with one of `authorities`; returns false (and changes nothing)
    /// when it does not verify or is already known. Observers are told of new entries.
    @discardableResult
    public func add(_ entry: RevocationEntry, trusting authorities: [Certificate]) -> Bool {
        guard entry.isValid(trusting: authorities) else { return false }
        let notify: [@Sendable (RevocationEntry) -> Void]? = lock.withLock {
            guard serials.insert(entry.serial.uppercased()).inserted else { return nil }
            entries.append(entry)
            return Array(observers.values)
        }
        guard let notify else { return false }
        for observer in notify { observer(entry) }
        return true
    }

    /// Calls `observer` for every entry added from now on; returns a token for `removeObserver`.
    @discardableResult
    public func addObserver(_ observer: @escaping @Sendable (RevocationEntry) -> Void) -> UUID {
        let id = UUID()
        lock.withLock { observers[id] = observer }
        return id
    }

    public func removeObserver(_ id: UUID) {
        _ = lock.withLock { observers.removeValue(forKey: id) }
    }
}
