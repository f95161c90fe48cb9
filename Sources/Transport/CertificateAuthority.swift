import COpenSSL
import Foundation
import Wire

/// Lifetimes and limits of the cluster PKI, with their defaults.
///
/// `Sendable` because it is a plain value.
public struct PKISettings: Sendable {
    /// Life of a node certificate. Default 90 days.
    public var nodeCertificateLifetime: TimeInterval = 90 * 86_400
    /// Life of a cluster CA certificate. Default 10 years.
    public var caLifetime: TimeInterval = 3_650 * 86_400
    /// Fraction of a certificate's life after which it is renewed. Default 2/3.
    public var renewalFraction: Double = 2.0 / 3.0
    /// How far `notBefore` is back-dated, to tolerate clock skew between nodes. Default 5 minutes.
    public var backdate: TimeInterval = 300
    /// How long a join token stays usable. Default 24 hours.
    public var joinTokenLifetime: TimeInterval = 86_400
    /// Time a certificate-less join connection has to send its join request. Default 10 s.
    public var joinRequestTimeout: TimeInterval = 10
    /// Refused joins from one source host within `joinRefusalWindow` after which its joins are refused unseen
    /// (and reported once) until the window moves on. Default 5.
    public var joinRefusalLimit = 5
    /// The window of `joinRefusalLimit`. Default 60 s.
    public var joinRefusalWindow: TimeInterval = 60

    public init() {}
}

/// The cluster certificate authority: its certificate and key. Signs node certificates and revocations.
///
/// `@unchecked Sendable`: both members are immutable OpenSSL objects safe for concurrent reads and signing.
public final class CertificateAuthority: @unchecked Sendable {
    public let certificate: Certificate
    public let key: PrivateKey

    public init(certificate: Certificate, key: PrivateKey) {
        self.certificate = certificate
        self.key = key
    }

    /// A new self-signed ECDSA P-256 CA for `clusterName`.
    public static func create(
        clusterName: String, now: Date, settings: PKISettings = PKISettings()
    ) throws(TransportError) -> CertificateAuthority {
        let key = try PrivateKey.generateP256()
        let stamp = Int(now.timeIntervalSince1970)
        let certificate = try buildCertificate(
            subject: "\(clusterName) cluster CA \(stamp)", publicKeyOf: key.pointer, issuer: nil, signer: key,
            validFrom: now.addingTimeInterval(-settings.backdate),
            validUntil: now.addingTimeInterval(settings.caLifetime),
            extensions: [
                (NID_basic_constraints, "critical,CA:TRUE,pathlen:0"),
                (NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"),
                (NID_subject_key_identifier, "hash"),
            ])
        return CertificateAuthority(certificate: certificate, key: key)
    }

    /// Signs a node certificate for `name` over `request`'s key, valid for client and server use, with
    /// `name` as CN and DNS SAN. The request must be self-signed (proof of possession) and name `name`.
    public func issue(
        for request: CertificateRequest, name: NodeName, validFrom: Date, validUntil: Date
    ) throws(TransportError) -> Certificate {
        guard request.isSelfSigned else { throw .pki("the certificate request's signature does not verify") }
        guard request.commonName == name.rawValue else {
            throw .pki("the certificate request names '\(request.commonName)', not '\(name)'")
        }
        guard let publicKey = X509_REQ_get0_pubkey(request.pointer) else {
            throw .drainOpenSSL("reading the request's public key")
        }
        return try Self.buildCertificate(
            subject: name.rawValue, publicKeyOf: publicKey, issuer: certificate, signer: key, validFrom: validFrom,
            validUntil: validUntil,
            extensions: [
                (NID_basic_constraints, "critical,CA:FALSE"),
                (NID_key_usage, "critical,digitalSignature"),
                (NID_ext_key_usage, "serverAuth,clientAuth"),
                (NID_subject_alt_name, "DNS:\(name.rawValue)"),
                (NID_subject_key_identifier, "hash"),
                (NID_authority_key_identifier, "keyid:always"),
            ])
    }

    /// Issues a node certificate with the default lifetime starting at `now`.
    public func issue(
        for request: CertificateRequest, name: NodeName, now: Date, settings: PKISettings = PKISettings()
    ) throws(TransportError) -> Certificate {
        try issue(
            for: request, name: name, validFrom: now.addingTimeInterval(-settings.backdate),
            validUntil: now.addingTimeInterval(settings.nodeCertificateLifetime))
    }

    private static func buildCertificate(
        subject: String, publicKeyOf publicKey: OpaquePointer, issuer: Certificate?, signer: PrivateKey,
        validFrom: Date, validUntil: Date, extensions: [(Int32, String)]
    ) throws(TransportError) -> Certificate {
        ERR_clear_error()
        guard let x509 = X509_new() else { throw .drainOpenSSL("X509_new") }
        let certificate = Certificate(owning: x509)
        var serialBytes = try secureRandomBytes(16)
        serialBytes[0] &= 0x7F
        serialBytes[0] |= 0x40
        guard X509_set_version(x509, 2) == 1,
            let serialNumber = BN_bin2bn(serialBytes, Int32(serialBytes.count), nil)
        else { throw .drainOpenSSL("setting the serial number") }
        defer { BN_free(serialNumber) }
        guard let asn1Serial = BN_to_ASN1_INTEGER(serialNumber, nil) else { throw .drainOpenSSL("BN_to_ASN1_INTEGER") }
        defer { ASN1_INTEGER_free(asn1Serial) }
        guard X509_set_serialNumber(x509, asn1Serial) == 1,
            ASN1_TIME_set(X509_getm_notBefore(x509), time_t(validFrom.timeIntervalSince1970)) != nil,
            ASN1_TIME_set(X509_getm_notAfter(x509), time_t(validUntil.timeIntervalSince1970)) != nil,
            let name = X509_get_subject_name(x509),
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, subject, -1, -1, 0) == 1,
            X509_set_issuer_name(x509, issuer.map { X509_get_subject_name($0.pointer) } ?? name) == 1,
            X509_set_pubkey(x509, publicKey) == 1
        else { throw .drainOpenSSL("building a certificate") }
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuer?.pointer ?? x509, x509, nil, nil, 0)
        for (nid, value) in extensions {
            guard let extensionValue = X509V3_EXT_conf_nid(nil, &context, nid, value) else {
                throw .drainOpenSSL("adding extension \(value)")
            }
            defer { X509_EXTENSION_free(extensionValue) }
            guard X509_add_ext(x509, extensionValue, -1) == 1 else { throw .drainOpenSSL("X509_add_ext") }
        }
        guard X509_sign(x509, signer.pointer, EVP_sha256()) > 0 else { throw .drainOpenSSL("signing a certificate") }
        return certificate
    }
}

extension CertificateAuthority {
    /// A complete in-memory identity for `name` signed by this CA (fresh key, CSR, certificate), trusting
    /// this CA. Used by the join server's own node, by tests and by benchmarks.
    public func makeIdentity(
        for name: NodeName, validFrom: Date, validUntil: Date, revocations: RevocationList = RevocationList()
    ) throws(TransportError) -> NodeIdentity {
        let key = try PrivateKey.generateP256()
        let request = try CertificateRequest(commonName: name.rawValue, key: key)
        let certificate = try issue(for: request, name: name, validFrom: validFrom, validUntil: validUntil)
        return NodeIdentity(
            name: name, certificate: certificate, key: key, trustedAuthorities: [self.certificate],
            revocations: revocations)
    }

    /// An identity valid from now (back-dated by `settings.backdate`) for the default lifetime.
    public func makeIdentity(
        for name: NodeName, now: Date = Date(), settings: PKISettings = PKISettings(),
        revocations: RevocationList = RevocationList()
    ) throws(TransportError) -> NodeIdentity {
        try makeIdentity(
            for: name, validFrom: now.addingTimeInterval(-settings.backdate),
            validUntil: now.addingTimeInterval(settings.nodeCertificateLifetime), revocations: revocations)
    }
}
