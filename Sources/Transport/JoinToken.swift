import Foundation

/// A join token: a one-time secret plus the SHA-256 fingerprint of the cluster CA certificate.
///
/// Text form: `GTJ1-<32 hex secret>-<64 hex CA fingerprint>`. The joiner uses the fingerprint to pin the CA
/// before sending the secret; the CA holder stores only the secret's SHA-256 and accepts it once.
/// `Sendable` because it is a plain value.
public struct JoinToken: Equatable, Sendable, CustomStringConvertible {
    /// 16 random bytes, hex.
    public var secret: String
    /// SHA-256 of the CA certificate's DER, lowercase hex.
    public var caFingerprint: String

    public init(secret: String, caFingerprint: String) {
        self.secret = secret
        self.caFingerprint = caFingerprint
    }

    public var description: String { "GTJ1-\(secret)-\(caFingerprint)" }

    /// Parses the text form; the error says what is wrong.
    public init(parsing text: String) throws(TransportError) {
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "-")
        func isHex(_ part: Substring, _ count: Int) -> Bool {
            part.count == count && part.allSatisfy { $0.isHexDigit && !$0.isUppercase }
        }
        guard parts.count == 3, parts[0] == "GTJ1" else {
            throw .joinRefused("a join token looks like GTJ1-<secret>-<fingerprint>; got '\(text.prefix(12))…'")
        }
        guard isHex(parts[1], 32), isHex(parts[2], 64) else {
            throw .joinRefused("the join token's secret or CA fingerprint is not lowercase hex of the right length")
        }
        self.init(secret: String(parts[1]), caFingerprint: String(parts[2]))
    }

    /// SHA-256 of the secret, as stored by the CA holder.
    public var secretHash: String { hex(sha256(Array(secret.utf8))) }
}

/// One issued token as recorded in `tokens.jsonl` (the secret itself is never stored).
///
/// `Sendable` because it is a plain value.
public struct JoinTokenRecord: Codable, Equatable, Sendable {
    public var secretSHA256: String
    public var createdAt: Int64
    public var expiresAt: Int64
    /// When it was used, and by which node; nil while unused.
    public var usedAt: Int64?
    public var usedBy: String?
    /// The node name the token admits (`gt cluster token --name`); nil admits any free name.
    public var name: String?

    public init(
        secretSHA256: String, createdAt: Int64, expiresAt: Int64, usedAt: Int64? = nil, usedBy: String? = nil,
        name: String? = nil
    ) {
        self.secretSHA256 = secretSHA256
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.usedAt = usedAt
        self.usedBy = usedBy
        self.name = name
    }

    enum CodingKeys: String, CodingKey {
        case secretSHA256 = "secret_sha256"
        case createdAt = "created_at"
        case expiresAt = "expires_at"
        case usedAt = "used_at"
        case usedBy = "used_by"
        case name
    }
}
