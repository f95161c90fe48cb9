import Foundation
import Testing

@testable import Transport
@testable import Wire

@Suite struct JoinTests {
    /// A CA node with a join service, plus an honest peer with traffic running (the Arena).
    func caArena(_ root: URL) async throws -> (Arena, PKIDirectory) {
        let directory = PKIDirectory(root.appendingPathComponent("ca-town/.gt/pki"))
        let arena = try await Arena(joinService: { ca in
            // The arena's CA becomes this directory's CA, so the join service signs with it.
            try directory.write(try ca.authority.key.pem(), to: directory.caKey, mode: 0o600)
            try directory.write(try ca.authority.certificate.pem(), to: directory.caCertificate, mode: 0o644)
            let server = try ca.authority.makeIdentity(for: name("server"))
            try PKI.installNodeCertificate(at: directory, certificate: server.certificate, key: server.key)
            return JoinService(directory: directory)
        })
        return (arena, directory)
    }

    @Test func joinGetsACertificateThenTalksAndTheTokenCannotBeReplayed() async throws {
        try await withTemporaryDirectory { root in
            let (arena, caDirectory) = try await caArena(root)
            let token = try PKI.makeJoinToken(at: caDirectory)
            let joinerDirectory = PKIDirectory(root.appendingPathComponent("b-town/.gt/pki"))
            let joined = try await JoinClient.join(
                address: arena.server.address, token: token, nodeName: name("newbie"), directory: joinerDirectory)
            #expect(joined.name == name("newbie"))
            #expect(joined.certificate.isSigned(by: arena.ca.authority.certificate))
            #expect(try mode(of: joinerDirectory.nodeKey) == 0o600)
            // The new node is a full member: mutual TLS with the server works.
            let newbie = try await TestNode(identity: joinerDirectory.loadIdentity())
            await newbie.manager.addPeer(name("server"), at: arena.server.address)
            let reply = try await newbie.manager.request(TestNode.echo, body: [5], to: name("server"))
            #expect(reply.body == Array("newbie:".utf8) + [5])
            // And ping reports the verified identity.
            let ping = try await Pinger.ping(address: arena.server.address, identity: joined)
            #expect(ping.peer == name("server"))
            #expect(ping.roundTrips.count == 3)
            await newbie.manager.shutdown()
            // Replay of the same token is refused.
            let replayDirectory = PKIDirectory(root.appendingPathComponent("c-town/.gt/pki"))
            do {
                try await JoinClient.join(
                    address: arena.server.address, token: token, nodeName: name("replayer"), directory: replayDirectory)
                Issue.record("a replayed token must be refused")
            } catch {
                guard case .remoteError(let reply)? = error as? TransportError else { throw error }
                #expect(reply.message.contains("already used by newbie"))
            }
            #expect(!FileManager.default.fileExists(atPath: replayDirectory.nodeCertificate.path))
            await arena.finish(attacker: "replayer", alsoServed: ["newbie"])
        }
    }

    @Test func wrongTokenIsRefused() async throws {
        try await withTemporaryDirectory { root in
            let (arena, caDirectory) = try await caArena(root)
            let real = try PKI.makeJoinToken(at: caDirectory)
            let directory = PKIDirectory(root.appendingPathComponent("m-town/.gt/pki"))
            // Right CA fingerprint, wrong secret.
            let guessed = JoinToken(secret: String(repeating: "ab", count: 16), caFingerprint: real.caFingerprint)
            do {
                try await JoinClient.join(
                    address: arena.server.address, token: guessed, nodeName: name("mallory"), directory: directory)
                Issue.record("a wrong token must be refused")
            } catch {
                guard case .remoteError(let reply)? = error as? TransportError else { throw error }
                #expect(reply.message.contains("unknown join token"))
            }
            // A token pinning another CA: the joiner refuses the server before sending the secret.
            let otherCA = try TestCA(cluster: "other")
            let pinnedElsewhere = JoinToken(
                secret: real.secret, caFingerprint: otherCA.authority.certificate.fingerprint)
            await #expect(throws: TransportError.self) {
                try await JoinClient.join(
                    address: arena.server.address, token: pinnedElsewhere, nodeName: name("mallory"),
                    directory: directory)
            }
            // The real token was not consumed by either attempt.
            try PKI.consumeJoinToken(at: caDirectory, secret: real.secret, by: name("later"))
            #expect(!FileManager.default.fileExists(atPath: directory.nodeCertificate.path))
            // A certificate-less joiner may not send anything but a join request.
            let sneaky = Connection.dial(
                arena.server.address, context: try TLSContext.joinClient(), serverName: nil, limits: .general,
                settings: ConnectionSettings())
            let info = try await sneaky.establish(local: name("mallory"), expectedPeer: nil, purpose: .join)
            try await sneaky.send(
                Envelope(version: info.version, kind: .oneWay, type: TestNode.note, sender: name("mallory")).encoded())
            #expect(await eventually(sync: { sneaky.closedReason != nil }))
            // Nor pretend to be a general peer without a certificate.
            let pretender = Connection.dial(
                arena.server.address, context: try TLSContext.joinClient(), serverName: nil, limits: .general,
                settings: ConnectionSettings())
            await #expect(throws: TransportError.self) {
                _ = try await pretender.establish(local: name("mallory"), expectedPeer: nil, purpose: .general)
            }
            await arena.expectRefusal(containing: "a peer without a certificate may only join")
            await arena.finish(attacker: "mallory")
        }
    }

    @Test func renewalOverTheWire() async throws {
        try await withTemporaryDirectory { root in
            let (arena, caDirectory) = try await caArena(root)
            let token = try PKI.makeJoinToken(at: caDirectory)
            let directory = PKIDirectory(root.appendingPathComponent("r-town/.gt/pki"))
            let joined = try await JoinClient.join(
                address: arena.server.address, token: token, nodeName: name("renewer"), directory: directory)
            let node = try await TestNode(identity: joined)
            await node.manager.addPeer(name("server"), at: arena.server.address)
            let renewed = try await JoinClient.renew(via: node.manager, caNode: name("server"), directory: directory)
            #expect(renewed.serial != joined.certificate.serial)
            #expect(try directory.loadIdentity().certificate.serial == renewed.serial)
            await node.manager.shutdown()
            await arena.finish(attacker: "mallory", alsoServed: [])
        }
    }
}

@Suite struct RotationTests {
    @Test func caRotationOnARunningCluster() async throws {
        try await withTemporaryDirectory { root in
            let aDirectory = PKIDirectory(root.appendingPathComponent("a/.gt/pki"))
            try PKI.initCluster(at: aDirectory, clusterName: "acme", nodeName: name("a"))
            let oldCA = try aDirectory.authority()
            let a = try await TestNode(
                identity: aDirectory.loadIdentity(), joinService: JoinService(directory: aDirectory))
            let bDirectory = PKIDirectory(root.appendingPathComponent("b/.gt/pki"))
            try await JoinClient.join(
                address: a.address, token: PKI.makeJoinToken(at: aDirectory), nodeName: name("b"), directory: bDirectory
            )
            let b = try await TestNode(identity: bDirectory.loadIdentity())
            await b.manager.addPeer(name("a"), at: a.address)
            _ = try await b.manager.request(TestNode.echo, body: [1], to: name("a"))

            // Rotation starts on the CA node: it presents a new-CA certificate and trusts both CAs.
            try PKI.rotateCA(at: aDirectory, clusterName: "acme")
            try await a.manager.updateIdentity(aDirectory.loadIdentity())
            #expect(await a.manager.connectedPeers() == [name("b")])  // b's old-CA link is still trusted
            // b renews over its link and gets the two-CA bundle.
            let renewed = try await JoinClient.renew(via: b.manager, caNode: name("a"), directory: bDirectory)
            #expect(!renewed.isSigned(by: oldCA.certificate))
            #expect(try bDirectory.trustedAuthorities().count == 2)
            try await b.manager.updateIdentity(bDirectory.loadIdentity())
            // New connections with the new certificates work.
            await b.manager.removePeer(name("a"))
            await b.manager.addPeer(name("a"), at: a.address)
            _ = try await b.manager.request(TestNode.echo, body: [2], to: name("a"))

            // Rotation completes: the old CA is no longer trusted; an old-CA certificate is refused.
            try PKI.completeRotation(at: aDirectory)
            try await a.manager.updateIdentity(aDirectory.loadIdentity())
            #expect(await a.manager.connectedPeers() == [name("b")])  // b now holds a new-CA certificate
            var straggler = try oldCA.makeIdentity(for: name("c"))
            straggler.trustedAuthorities = try aDirectory.trustedAuthorities()
            await #expect(throws: TransportError.self) {
                _ = try await Dialer.connect(
                    to: a.address, peer: name("a"), context: TLSContext(identity: straggler), local: straggler.name)
            }
            await a.expectRefusal(containing: "unable to get local issuer certificate")
            _ = try await b.manager.request(TestNode.echo, body: [3], to: name("a"))
            await b.manager.shutdown()
            await a.manager.shutdown()
        }
    }
}

extension TestNode {
    func expectRefusal(containing text: String) async {
        let seen = await eventually { await self.manager.recentRefusals().contains { "\($0)".contains(text) } }
        let log = await manager.recentRefusals()
        #expect(seen, "no refusal containing '\(text)': \(log)")
    }
}
