import Foundation
import Wire

/// A CA rotation told to the other nodes of a cluster (added for the node daemon's `gt cluster rotate-ca`).
///
/// `started` carries the new CA certificate signed by the *previous* CA's key, so a node that trusts only the
/// previous CA can trust the new one too; `completed` is signed by the new CA and tells nodes to stop
/// trusting the previous one. Signed bytes: `gastown-ca-rotation-v1\n<phase>\n<new CA fingerprint>\n<previous
/// CA fingerprint>`. `Sendable` because it is a plain value.
public struct CARotationNotice: Codable, Equatable, Sendable {
    /// Which step of the rotation.
    public enum Phase: String, Codable, Sendable {
        case started, completed
    }

    public var phase: Phase
    /// The new CA's certificate (PEM).
    public var caPEM: String
    /// SHA-256 fingerprint of the CA being retired.
    public var previousFingerprint: String
    /// Base64 ECDSA-SHA256 signature (by the previous CA for `started`, the new CA for `completed`).
    public var signature: String

    enum CodingKeys: String, CodingKey {
        case phase, signature
        case caPEM = "ca_pem"
        case previousFingerprint = "previous_fingerprint"
    }

    func signedBytes(newFingerprint: String) -> [UInt8] {
        Array("gastown-ca-rotation-v1\n\(phase.rawValue)\n\(newFingerprint)\n\(previousFingerprint)".utf8)
    }

    /// A signed notice. `signer` is the previous CA for `.started`, the new CA for `.completed`.
    public static func make(
        _ phase: Phase, newCA: Certificate, previousFingerprint: String, signer: CertificateAuthority
    ) throws(TransportError) -> CARotationNotice {
        var notice = CARotationNotice(
            phase: phase, caPEM: try newCA.pem(), previousFingerprint: previousFingerprint, signature: "")
        let bytes = notice.signedBytes(newFingerprint: newCA.fingerprint)
        notice.signature = Data(try signer.key.sign(bytes)).base64EncodedString()
        return notice
    }

    /// The new CA certificate when the notice is well formed and signed by the right CA among
    /// `authorities`; nil otherwise.
    public func verifiedCA(trusting authorities: [Certificate]) -> Certificate? {
        guard let newCA = try? Certificate(pem: caPEM), newCA.isCA, newCA.isSigned(by: newCA),
            let signatureBytes = Data(base64Encoded: signature)
        else { return nil }
        let signerFingerprint = phase == .started ? previousFingerprint : newCA.fingerprint
        guard let signer = authorities.first(where: { $0.fingerprint == signerFingerprint }) else { return nil }
        let bytes = signedBytes(newFingerprint: newCA.fingerprint)
        return verifySignature(Array(signatureBytes), of: bytes, by: signer) ? newCA : nil
    }
}

extension PKI {
    /// Applies a verified rotation notice on a node: `started` makes the new CA `ca.crt` and keeps the
    /// current one as `ca-previous.crt` (both trusted); `completed` removes `ca-previous.crt` once `ca.crt` is
    /// the new CA. Returns false when the notice does not verify or changes nothing. Never touches `ca.key`.
    @discardableResult
    public static func apply(_ notice: CARotationNotice, at directory: PKIDirectory) throws(TransportError) -> Bool {
        let trusted = try directory.trustedAuthorities()
        guard let newCA = notice.verifiedCA(trusting: trusted) else { return false }
        let current = trusted[0]
        switch notice.phase {
        case .started:
            guard current.fingerprint != newCA.fingerprint, current.fingerprint == notice.previousFingerprint else {
                return false
            }
            try directory.write(try current.pem(), to: directory.previousCACertificate, mode: 0o644)
            try directory.write(try newCA.pem(), to: directory.caCertificate, mode: 0o644)
            return true
        case .completed:
            guard current.fingerprint == newCA.fingerprint,
                FileManager.default.fileExists(atPath: directory.previousCACertificate.path)
            else { return false }
            try completeRotation(at: directory)
            return true
        }
    }
}
