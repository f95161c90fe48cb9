import Foundation
import GasTownTestKit
import Testing

@testable import Transport
@testable import Wire

func mode(of url: URL) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
}

@Suite struct PKITests {
    @Test func initClusterWritesTheLayoutWithPrivateKeys() async throws {
        try await withTemporaryDirectory { root in
            let directory = PKIDirectory(root.appendingPathComponent(".gt/pki"))
            let identity = try PKI.initCluster(at: directory, clusterName: "acme", nodeName: name("a1"))
            #expect(identity.name == name("a1"))
            #expect(try mode(of: directory.caKey) == 0o600)
            #expect(try mode(of: directory.nodeKey) == 0o600)
            #expect(try mode(of: directory.url) == 0o700)
            let certificate = identity.certificate
            #expect(certificate.commonName == "a1")
            #expect(certificate.matches(host: "a1"))
            #expect(!certificate.matches(host: "a2"))
            #expect(certificate.isSigned(by: identity.trustedAuthorities[0]))
            #expect(identity.trustedAuthorities[0].isCA)
            #expect(!certificate.isCA)
            let life = certificate.notAfter.timeIntervalSince(certificate.notBefore)
            #expect(abs(life - (90 * 86_400 + 300)) < 2)
            // Refuses to overwrite an existing cluster.
            #expect(throws: TransportError.self) {
                try PKI.initCluster(at: directory, clusterName: "acme", nodeName: name("a1"))
            }
            // Round trip through the files.
            let loaded = try directory.loadIdentity()
            #expect(loaded.certificate.fingerprint == certificate.fingerprint)
        }
    }

    @Test func renewalAtTwoThirdsOfLife() async throws {
        try await withTemporaryDirectory { root in
            let directory = PKIDirectory(root)
            let start = Date()
            let identity = try PKI.initCluster(at: directory, clusterName: "acme", nodeName: name("a1"), now: start)
            let renewAt = PKI.renewalDate(of: identity.certificate)
            let expected = identity.certificate.notBefore.addingTimeInterval(
                identity.certificate.notAfter.timeIntervalSince(identity.certificate.notBefore) * 2 / 3)
            #expect(abs(renewAt.timeIntervalSince(expected)) < 1)
            #expect(try PKI.renewIfDue(at: directory, now: renewAt.addingTimeInterval(-60)) == nil)
            let renewed = try #require(try PKI.renewIfDue(at: directory, now: renewAt.addingTimeInterval(60)))
            #expect(renewed.serial != identity.certificate.serial)
            #expect(renewed.notAfter > identity.certificate.notAfter)
            #expect(try directory.loadIdentity().certificate.serial == renewed.serial)
        }
    }

    @Test func joinTokensParseAndAreSingleUse() async throws {
        try await withTemporaryDirectory { root in
            let directory = PKIDirectory(root)
            let identity = try PKI.initCluster(at: directory, clusterName: "acme", nodeName: name("a1"))
            let token = try PKI.makeJoinToken(at: directory)
            #expect(token.caFingerprint == identity.trustedAuthorities[0].fingerprint)
            #expect(try JoinToken(parsing: token.description) == token)
            #expect(throws: TransportError.self) { try JoinToken(parsing: "GTJ1-zz-00") }
            #expect(throws: TransportError.self) { try JoinToken(parsing: "hello") }
            #expect(throws: TransportError.joinRefused("unknown join token")) {
                try PKI.consumeJoinToken(at: directory, secret: String(repeating: "0", count: 32), by: name("b1"))
            }
            try PKI.consumeJoinToken(at: directory, secret: token.secret, by: name("b1"))
            #expect(throws: TransportError.joinRefused("this join token was already used by b1")) {
                try PKI.consumeJoinToken(at: directory, secret: token.secret, by: name("b2"))
            }
            let stale = try PKI.makeJoinToken(at: directory, now: Date().addingTimeInterval(-2 * 86_400))
            #expect(throws: TransportError.joinRefused("this join token expired")) {
                try PKI.consumeJoinToken(at: directory, secret: stale.secret, by: name("b3"))
            }
            #expect(try mode(of: directory.tokensFile) == 0o600)
            #expect(try !String(contentsOf: directory.tokensFile, encoding: .utf8).contains(token.secret))
        }
    }

    @Test func revocationsAreSignedRecordedAndReloaded() async throws {
        try await withTemporaryDirectory { root in
            let directory = PKIDirectory(root)
            try PKI.initCluster(at: directory, clusterName: "acme", nodeName: name("a1"))
            let entry = try PKI.revoke(at: directory, serial: "ABCDEF", node: "b1")
            #expect(entry.isValid(trusting: try directory.trustedAuthorities()))
            var tampered = entry
            tampered.serial = "ABCDE0"
            #expect(!tampered.isValid(trusting: try directory.trustedAuthorities()))
            #expect(try !PKI.recordRevocation(tampered, at: directory))
            #expect(try !PKI.recordRevocation(entry, at: directory))  // already there
            let identity = try directory.loadIdentity()
            #expect(identity.revocations.isRevoked(serial: "abcdef"))
            #expect(!identity.revocations.isRevoked(serial: "ABCDE0"))
            #expect(PKI.info(identity.certificate, revocations: identity.revocations).revoked == false)
        }
    }

    @Test func revokeNodeRevokesEveryCertificateIssuedToIt() async throws {
        try await withTemporaryDirectory { root in
            let directory = PKIDirectory(root)
            try PKI.initCluster(at: directory, clusterName: "acme", nodeName: name("a1"))
            let key = try PrivateKey.generateP256()
            let request = try CertificateRequest(commonName: "b1", key: key)
            let first = try PKI.issue(at: directory, request: request, name: name("b1"))
            let second = try PKI.issue(at: directory, request: request, name: name("b1"))
            #expect(try PKI.issuedCertificates(at: directory).map(\.node) == ["a1", "b1", "b1"])
            let entries = try PKI.revokeNode(at: directory, node: name("b1"))
            #expect(Set(entries.map(\.serial)) == [first.serial, second.serial])
            let identity = try directory.loadIdentity()
            #expect(identity.revocations.isRevoked(serial: first.serial))
            #expect(!identity.revocations.isRevoked(serial: identity.certificate.serial))
            #expect(throws: TransportError.self) { try PKI.revokeNode(at: directory, node: name("b1")) }
            #expect(throws: TransportError.self) { try PKI.revokeNode(at: directory, node: name("zz")) }
        }
    }

    @Test func caRotationTrustsOldAndNewUntilComplete() async throws {
        try await withTemporaryDirectory { root in
            let caNode = PKIDirectory(root.appendingPathComponent("a"))
            let oldIdentity = try PKI.initCluster(at: caNode, clusterName: "acme", nodeName: name("a1"))
            let oldCA = try caNode.authority()
            // A member still holding a certificate from the old CA.
            let member = try oldCA.makeIdentity(for: name("b1"))
            try PKI.rotateCA(at: caNode, clusterName: "acme")
            let rotated = try caNode.loadIdentity()
            #expect(rotated.trustedAuthorities.count == 2)
            #expect(rotated.certificate.serial != oldIdentity.certificate.serial)
            #expect(!rotated.certificate.isSigned(by: oldCA.certificate))
            // The member trusts both CAs during rotation (it got the bundle by renewal or gossip).
            var memberDuringRotation = member
            memberDuringRotation.trustedAuthorities = rotated.trustedAuthorities
            let (listener, inbox) = try recordingListener(identity: rotated)
            let (connection, peer) = try await Dialer.connect(
                to: listener.address, peer: name("a1"), context: TLSContext(identity: memberDuringRotation),
                local: member.name)
            #expect(peer.name == name("a1"))
            try await connection.send([42])
            #expect(await eventually(sync: { inbox.count == 1 }))
            connection.close()
            listener.close()
            // After completion, the old CA's certificates are refused.
            try PKI.completeRotation(at: caNode)
            let after = try caNode.loadIdentity()
            #expect(after.trustedAuthorities.count == 1)
            let (strictListener, strictInbox) = try recordingListener(identity: after)
            defer { strictListener.close() }
            await #expect(throws: TransportError.self) {
                _ = try await Dialer.connect(
                    to: strictListener.address, peer: name("a1"), context: TLSContext(identity: memberDuringRotation),
                    local: member.name)
            }
            #expect(strictInbox.count == 0)
        }
    }
}
