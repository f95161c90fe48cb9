import Foundation
import GasTownTestKit
import Testing

@testable import Transport
@testable import Wire

/// The trust anti-entropy's pure parts on real PKI files: a member that missed a CA rotation and a revocation
/// applies them from the CA node's trust state in order, each checked against the trust it holds; forged or
/// unrelated entries change nothing; applying twice changes nothing; and `PKI.rename`'s checks.
@Suite struct TrustStateTests {
    /// A CA town and a member directory holding a certificate of the current CA.
    func cluster(_ root: URL) throws -> (ca: PKIDirectory, member: PKIDirectory) {
        let ca = PKIDirectory(root.appendingPathComponent("ca"))
        try PKI.initCluster(at: ca, clusterName: "acme", nodeName: name("a1"))
        let member = PKIDirectory(root.appendingPathComponent("member"))
        let identity = try ca.authority().makeIdentity(for: name("b1"))
        try member.installTrustBundle(identity.trustedAuthorities)
        try PKI.installNodeCertificate(at: member, certificate: identity.certificate, key: identity.key)
        return (ca, member)
    }

    func state(of directory: PKIDirectory) throws -> TrustState {
        try directory.trustState(revocations: directory.revocations(trusting: directory.trustedAuthorities()).all)
    }

    @Test func aMemberThatMissedARotationAndARevocationCatchesUpInOrder() async throws {
        try await withTemporaryDirectory { root in
            let (ca, member) = try cluster(root)
            let oldCA = try ca.authority().certificate
            let before = try state(of: member)
            #expect(before.digest == (try state(of: ca)).digest, "same trust before the rotation")
            let (fresh, notice) = try PKI.startRotation(at: ca, clusterName: "acme")
            #expect(ca.rotationNotices() == [notice])
            // Revoked after the rotation: signed by the new CA, which the member cannot verify yet.
            let victim = try fresh.makeIdentity(for: name("c1"))
            let entry = try PKI.revoke(at: ca, serial: victim.certificate.serial, node: "c1")
            #expect(!entry.isValid(trusting: try member.trustedAuthorities()))
            let remote = try state(of: ca)
            #expect(remote.digest != before.digest)

            // Forged: a notice signed by a stranger CA, and a revocation by it, change nothing.
            let stranger = try CertificateAuthority.create(clusterName: "evil", now: Date())
            let forgedNotice = try CARotationNotice.make(
                .started, newCA: stranger.certificate, previousFingerprint: oldCA.fingerprint, signer: stranger)
            let forgedEntry = try RevocationEntry.revoking(serial: "ABCD", node: "b1", by: stranger, now: Date())
            let forged = TrustState(digest: "x", rotations: [forgedNotice], revocations: [forgedEntry])
            let nothing = try PKI.catchUp(with: forged, at: member, enforced: RevocationList())
            #expect(nothing.isEmpty)
            #expect(try member.trustedAuthorities().map(\.fingerprint) == [oldCA.fingerprint])

            // The real state: the rotation first (signed by the old CA the member trusts), then the revocation.
            let enforced = try member.revocations(trusting: member.trustedAuthorities())
            let caught = try PKI.catchUp(with: remote, at: member, enforced: enforced)
            #expect(caught.rotations == [notice])
            #expect(caught.revocations.map(\.serial) == [entry.serial])
            #expect(
                try member.trustedAuthorities().map(\.fingerprint) == [
                    fresh.certificate.fingerprint, oldCA.fingerprint,
                ])
            #expect(member.rotationNotices() == [notice])
            for accepted in caught.revocations { try PKI.recordRevocation(accepted, at: member) }
            #expect(try state(of: member).digest == remote.digest, "caught up: the same trust as the CA node")
            let again = try PKI.catchUp(
                with: remote, at: member, enforced: try member.revocations(trusting: member.trustedAuthorities()))
            #expect(again.isEmpty)

            // Completed while down too: both notices replayed in order leave only the new CA trusted.
            let completed = try PKI.finishRotation(at: ca)
            let later = try PKI.catchUp(with: try state(of: ca), at: member, enforced: RevocationList())
            #expect(later.rotations == [completed])
            #expect(try member.trustedAuthorities().map(\.fingerprint) == [fresh.certificate.fingerprint])
        }
    }

    @Test func theCANodeNeverTakesRotationsFromOthers() async throws {
        try await withTemporaryDirectory { root in
            let (ca, member) = try cluster(root)
            let current = try ca.authority()
            let other = try CertificateAuthority.create(clusterName: "acme", now: Date())
            let notice = try CARotationNotice.make(
                .started, newCA: other.certificate, previousFingerprint: current.certificate.fingerprint,
                signer: current)
            let result = try PKI.catchUp(
                with: TrustState(digest: "x", rotations: [notice]), at: ca, enforced: RevocationList())
            #expect(result.isEmpty)
            #expect(try ca.authority().certificate.fingerprint == current.certificate.fingerprint)
            _ = member
        }
    }

    @Test func renameChecksTheNameSignsAndRevokesTheOldOne() async throws {
        try await withTemporaryDirectory { root in
            let (ca, _) = try cluster(root)
            let key = try PrivateKey.generateP256()
            let b1 = try PKI.issue(
                at: ca, request: try CertificateRequest(commonName: "b1", key: key), name: name("b1"))
            _ = try PKI.issue(at: ca, request: try CertificateRequest(commonName: "c1", key: key), name: name("c1"))
            #expect(throws: TransportError.self) {
                try PKI.rename(at: ca, from: name("b1"), to: name("c1"), request: nil)
            }
            #expect(throws: TransportError.self) {
                try PKI.rename(at: ca, from: name("b1"), to: name("a1"), request: nil)
            }
            #expect(throws: TransportError.self) {
                try PKI.rename(at: ca, from: name("b1"), to: name("b1"), request: nil)
            }
            let checked = try PKI.rename(at: ca, from: name("b1"), to: name("b2"), request: nil)
            #expect(checked.certificate == nil && checked.revoked.isEmpty)
            // A CSR naming another name is refused; nothing is revoked.
            let wrong = try CertificateRequest(commonName: "zz", key: key)
            #expect(throws: TransportError.self) {
                try PKI.rename(at: ca, from: name("b1"), to: name("b2"), request: wrong)
            }
            #expect(try PKI.unrevokedCertificates(of: name("b1"), at: ca, now: Date()).count == 1)
            let newKey = try PrivateKey.generateP256()
            let done = try PKI.rename(
                at: ca, from: name("b1"), to: name("b2"), request: try CertificateRequest(commonName: "b2", key: newKey)
            )
            #expect(done.certificate?.commonName == "b2")
            #expect(done.revoked.map(\.serial) == [b1.serial])
            #expect(try PKI.unrevokedCertificates(of: name("b1"), at: ca, now: Date()).isEmpty, "b1 is free again")
            #expect(try PKI.unrevokedCertificates(of: name("b2"), at: ca, now: Date()).count == 1)
        }
    }
}
