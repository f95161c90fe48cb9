import COpenSSL
import CShims
import Foundation

/// An ECDSA P-256 private key (libcrypto `EVP_PKEY`).
///
/// `@unchecked Sendable`: the key is never mutated after creation, and OpenSSL 3 allows concurrent
/// signing and reading with one `EVP_PKEY`.
public final class PrivateKey: @unchecked Sendable {
    let pointer: OpaquePointer

    init(owning pointer: OpaquePointer) { self.pointer = pointer }
    deinit { EVP_PKEY_free(pointer) }

    /// A fresh P-256 key from OpenSSL's CSPRNG.
    public static func generateP256() throws(TransportError) -> PrivateKey {
        ERR_clear_error()
        guard let key = gtshim_ec_p256_keygen() else { throw .drainOpenSSL("EC P-256 key generation") }
        return PrivateKey(owning: key)
    }

    public convenience init(pem: String) throws(TransportError) {
        ERR_clear_error()
        let bio = try MemoryBIO(pem)
        guard let key = PEM_read_bio_PrivateKey(bio.pointer, nil, nil, nil) else {
            throw .drainOpenSSL("reading a PEM private key")
        }
        self.init(owning: key)
    }

    /// PKCS#8 PEM, unencrypted (the file holding it is mode 0600).
    public func pem() throws(TransportError) -> String {
        ERR_clear_error()
        let bio = MemoryBIO()
        guard PEM_write_bio_PrivateKey(bio.pointer, pointer, nil, nil, 0, nil, nil) == 1 else {
            throw .drainOpenSSL("writing a PEM private key")
        }
        return bio.string()
    }

    /// ECDSA-SHA256 signature (DER) of `data`.
    public func sign(_ data: [UInt8]) throws(TransportError) -> [UInt8] {
        ERR_clear_error()
        guard let context = EVP_MD_CTX_new() else { throw .drainOpenSSL("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, EVP_sha256(), nil, pointer) == 1 else {
            throw .drainOpenSSL("starting a signature")
        }
        var length = 0
        guard EVP_DigestSign(context, nil, &length, data, data.count) == 1 else {
            throw .drainOpenSSL("sizing a signature")
        }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(context, &signature, &length, data, data.count) == 1 else {
            throw .drainOpenSSL("signing")
        }
        return Array(signature.prefix(length))
    }
}

/// Verifies an ECDSA-SHA256 signature with the public key of `certificate`.
func verifySignature(_ signature: [UInt8], of data: [UInt8], by certificate: Certificate) -> Bool {
    ERR_clear_error()
    defer { ERR_clear_error() }
    guard let key = X509_get0_pubkey(certificate.pointer), let context = EVP_MD_CTX_new() else { return false }
    defer { EVP_MD_CTX_free(context) }
    guard EVP_DigestVerifyInit(context, nil, EVP_sha256(), nil, key) == 1 else { return false }
    return EVP_DigestVerify(context, signature, signature.count, data, data.count) == 1
}

/// An X.509 certificate (libcrypto `X509`).
///
/// `@unchecked Sendable`: never mutated after it is built or parsed; only read by OpenSSL afterwards.
public final class Certificate: @unchecked Sendable {
    let pointer: OpaquePointer

    init(owning pointer: OpaquePointer) { self.pointer = pointer }
    /// Takes a new reference to a certificate OpenSSL owns.
    init(retaining pointer: OpaquePointer) {
        X509_up_ref(pointer)
        self.pointer = pointer
    }
    deinit { X509_free(pointer) }

    public convenience init(pem: String) throws(TransportError) {
        ERR_clear_error()
        let bio = try MemoryBIO(pem)
        guard let certificate = PEM_read_bio_X509(bio.pointer, nil, nil, nil) else {
            throw .drainOpenSSL("reading a PEM certificate")
        }
        self.init(owning: certificate)
    }

    /// All certificates in a PEM bundle (several concatenated certificates).
    public static func bundle(pem: String) throws(TransportError) -> [Certificate] {
        var result: [Certificate] = []
        var current = ""
        for line in pem.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("-----BEGIN CERTIFICATE-----") { current = "" }
            current += line + "\n"
            if line.hasPrefix("-----END CERTIFICATE-----") { result.append(try Certificate(pem: current)) }
        }
        return result
    }

    public func pem() throws(TransportError) -> String {
        ERR_clear_error()
        let bio = MemoryBIO()
        guard PEM_write_bio_X509(bio.pointer, pointer) == 1 else { throw .drainOpenSSL("writing a certificate") }
        return bio.string()
    }

    public func der() -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_X509(pointer, &out)
        guard length > 0, let out else { return [] }
        defer { CRYPTO_free(out, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// SHA-256 of the DER encoding, lowercase hex (what `openssl x509 -fingerprint -sha256` shows, without colons).
    public var fingerprint: String { hex(sha256(der())) }

    /// The subject's common name (the node name for node certificates).
    public var commonName: String { nameEntry(X509_get_subject_name(pointer), NID_commonName) }

    /// The issuer's common name.
    public var issuerCommonName: String { nameEntry(X509_get_issuer_name(pointer), NID_commonName) }

    /// Serial number, uppercase hex.
    public var serial: String {
        guard let bignum = ASN1_INTEGER_to_BN(X509_get_serialNumber(pointer), nil) else { return "" }
        defer { BN_free(bignum) }
        guard let text = BN_bn2hex(bignum) else { return "" }
        defer { CRYPTO_free(text, #fileID, #line) }
        return String(cString: text)
    }

    public var notBefore: Date { date(X509_get0_notBefore(pointer)) }
    public var notAfter: Date { date(X509_get0_notAfter(pointer)) }

    /// True when the certificate is valid for `name` as a DNS SAN (OpenSSL's `X509_check_host`).
    public func matches(host name: String) -> Bool {
        X509_check_host(pointer, name, name.utf8.count, 0, nil) == 1
    }

    /// True when `issuer`'s key signed this certificate.
    public func isSigned(by issuer: Certificate) -> Bool {
        guard let key = X509_get0_pubkey(issuer.pointer) else { return false }
        defer { ERR_clear_error() }
        return X509_verify(pointer, key) == 1
    }

    /// True when this certificate is a CA (basicConstraints CA:TRUE).
    public var isCA: Bool { X509_check_ca(pointer) > 0 }

    private func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date {
        var parts = tm()
        guard let time, ASN1_TIME_to_tm(time, &parts) == 1 else { return .distantPast }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }
}

func nameEntry(_ name: OpaquePointer?, _ nid: Int32) -> String {
    guard let name else { return "" }
    var buffer = [CChar](repeating: 0, count: 256)
    let length = X509_NAME_get_text_by_NID(name, nid, &buffer, Int32(buffer.count))
    guard length > 0 else { return "" }
    return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// A PKCS#10 certificate signing request (libcrypto `X509_REQ`).
///
/// `@unchecked Sendable`: never mutated after it is built or parsed.
public final class CertificateRequest: @unchecked Sendable {
    let pointer: OpaquePointer

    init(owning pointer: OpaquePointer) { self.pointer = pointer }
    deinit { X509_REQ_free(pointer) }

    /// A CSR for `commonName`, signed by `key`.
    public convenience init(commonName: String, key: PrivateKey) throws(TransportError) {
        ERR_clear_error()
        guard let request = X509_REQ_new() else { throw .drainOpenSSL("X509_REQ_new") }
        self.init(owning: request)
        guard X509_REQ_set_version(request, 0) == 1,
            let name = X509_REQ_get_subject_name(request),
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, commonName, -1, -1, 0) == 1,
            X509_REQ_set_pubkey(request, key.pointer) == 1,
            X509_REQ_sign(request, key.pointer, EVP_sha256()) > 0
        else { throw .drainOpenSSL("building a certificate request") }
    }

    public convenience init(pem: String) throws(TransportError) {
        ERR_clear_error()
        let bio = try MemoryBIO(pem)
        guard let request = PEM_read_bio_X509_REQ(bio.pointer, nil, nil, nil) else {
            throw .drainOpenSSL("reading a PEM certificate request")
        }
        self.init(owning: request)
    }

    public func pem() throws(TransportError) -> String {
        ERR_clear_error()
        let bio = MemoryBIO()
        guard PEM_write_bio_X509_REQ(bio.pointer, pointer) == 1 else { throw .drainOpenSSL("writing a CSR") }
        return bio.string()
    }

    /// The requested common name.
    public var commonName: String { nameEntry(X509_REQ_get_subject_name(pointer), NID_commonName) }

    /// True when the request is signed by the key it carries (proof of possession).
    public var isSelfSigned: Bool {
        defer { ERR_clear_error() }
        guard let key = X509_REQ_get0_pubkey(pointer) else { return false }
        return X509_REQ_verify(pointer, key) == 1
    }
}

/// A libcrypto memory BIO. Used by one thread, within one call.
final class MemoryBIO {
    let pointer: OpaquePointer

    init() { pointer = BIO_new(BIO_s_mem()) }

    init(_ text: String) throws(TransportError) {
        let bytes = Array(text.utf8)
        pointer = BIO_new(BIO_s_mem())
        guard bytes.isEmpty || BIO_write(pointer, bytes, Int32(bytes.count)) == Int32(bytes.count) else {
            throw .drainOpenSSL("BIO_write")
        }
    }

    deinit { BIO_free(pointer) }

    func string() -> String {
        var data: UnsafeMutablePointer<CChar>? = nil
        let length = gtshim_bio_get_mem_data(pointer, &data)
        guard length > 0, let data else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    }
}

/// SHA-256 of `data`.
func sha256(_ data: [UInt8]) -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: 32)
    var length: UInt32 = 32
    _ = EVP_Digest(data, data.count, &digest, &length, EVP_sha256(), nil)
    return digest
}

func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// `count` bytes from OpenSSL's CSPRNG.
func secureRandomBytes(_ count: Int) throws(TransportError) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    ERR_clear_error()
    guard RAND_bytes(&bytes, Int32(count)) == 1 else { throw .drainOpenSSL("RAND_bytes") }
    return bytes
}
