import Foundation
import GasTownTestKit
import Testing

@testable import Transport
@testable import Wire

@Suite struct JoinTests {
    /// A CA node with a join service, plus an honest peer with traffic running (the Arena).
    func caArena(
        _ root: URL, settings: PKISettings = PKISettings(), events: JoinEventLog? = nil
    ) async throws -> (Arena, PKIDirectory) {
        let directory = PKIDirectory(root.appendingPathComponent("ca-town/.gt/pki"))
        let arena = try await Arena(joinService: { ca in
            // The arena's CA becomes this directory's CA, so the join service signs with it.
            try directory.write(try ca.authority.key.pem(), to: directory.caKey, mode: 0o600)
            try directory.write(try ca.authority.certificate.pem(), to: directory.caCertificate, mode: 0o644)
            let server = try ca.authority.makeIdentity(for: name("server"))
            try PKI.installNodeCertificate(at: directory, certificate: server.certificate, key: server.key)
            return JoinService(directory: directory, settings: settings) { events?.add($0) }
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
                // A caller without a valid token learns nothing: not that it was used, nor by whom.
                guard case .remoteError(let reply)? = error as? TransportError else { throw error }
                #expect(reply.message == JoinRefusal.strangerAnswer)
                #expect(!reply.message.contains("newbie"))
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
                #expect(reply.message == JoinRefusal.strangerAnswer)
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

/// What a join service reported, thread-safe.
final class JoinEventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [JoinEvent] = []
    func add(_ event: JoinEvent) { lock.withLock { events.append(event) } }
    var all: [JoinEvent] { lock.withLock { events } }
    var refusals: [(reason: String, limited: Bool)] {
        all.compactMap {
            if case .refused(_, _, let reason, let limited, _) = $0 { return (reason, limited) }
            return nil
        }
    }
}

/// Issue 10, hole 1: a token binds a name, a name in use is refused unless replaced, refusals are logged and
/// rate-limited, and strangers learn nothing.
@Suite struct JoinNameTests {
    func caArena(
        _ root: URL, settings: PKISettings = PKISettings(), events: JoinEventLog? = nil
    ) async throws -> (Arena, PKIDirectory) {
        try await JoinTests().caArena(root, settings: settings, events: events)
    }

    func refusal(_ body: () async throws -> Void) async throws -> String {
        do {
            try await body()
        } catch {
            guard case .remoteError(let reply)? = error as? TransportError else { throw error }
            return reply.message
        }
        Issue.record("the join must be refused")
        return ""
    }

    @Test func aTokenIssuedForANameAdmitsOnlyThatName() async throws {
        try await withTemporaryDirectory { root in
            let events = JoinEventLog()
            let (arena, ca) = try await caArena(root, events: events)
            let token = try PKI.makeJoinToken(at: ca, name: name("beta"))
            let impostor = PKIDirectory(root.appendingPathComponent("i/.gt/pki"))
            let message = try await refusal {
                try await JoinClient.join(
                    address: arena.server.address, token: token, nodeName: name("gamma"), directory: impostor)
            }
            #expect(message.contains("issued for node beta, not gamma"))
            #expect(!FileManager.default.fileExists(atPath: impostor.nodeCertificate.path))
            // Refused before the token was used: beta can still join with it.
            let beta = PKIDirectory(root.appendingPathComponent("b/.gt/pki"))
            let joined = try await JoinClient.join(
                address: arena.server.address, token: token, nodeName: name("beta"), directory: beta)
            #expect(joined.name == name("beta"))
            #expect(try PKI.joinTokens(at: ca).first?.usedBy == "beta")
            #expect(events.refusals.map(\.reason).contains { $0.contains("issued for node beta") })
            #expect(
                events.all.contains { if case .joined("beta", _, _, []) = $0 { return true } else { return false } })
            await arena.finish(attacker: "gamma")
        }
    }

    @Test func aNameInUseIsRefusedUnlessReplacedWhichRevokesTheOldCertificate() async throws {
        try await withTemporaryDirectory { root in
            let (arena, ca) = try await caArena(root)
            let first = PKIDirectory(root.appendingPathComponent("b1/.gt/pki"))
            let original = try await JoinClient.join(
                address: arena.server.address, token: PKI.makeJoinToken(at: ca), nodeName: name("beta"),
                directory: first)
            // A second node asking for beta with a fresh, unbound token: refused, token not used.
            let token = try PKI.makeJoinToken(at: ca)
            let second = PKIDirectory(root.appendingPathComponent("b2/.gt/pki"))
            let message = try await refusal {
                try await JoinClient.join(
                    address: arena.server.address, token: token, nodeName: name("beta"), directory: second)
            }
            #expect(message.contains("node beta already holds a certificate"))
            #expect(message.contains("--replace"))
            #expect(try PKI.joinTokens(at: ca).last?.usedAt == nil)
            // The CA node's own name is never given out, not even with --replace.
            let own = try await refusal {
                try await JoinClient.join(
                    address: arena.server.address, token: token, nodeName: name("server"), directory: second,
                    replace: true)
            }
            #expect(own.contains("the name of the CA node itself"))
            // With --replace: the old certificate is revoked first (on disk and live), then beta is re-issued.
            let replaced = try await JoinClient.join(
                address: arena.server.address, token: token, nodeName: name("beta"), directory: second, replace: true)
            let revocations = try ca.revocations(trusting: ca.trustedAuthorities())
            #expect(revocations.isRevoked(serial: original.certificate.serial))
            #expect(!revocations.isRevoked(serial: replaced.certificate.serial))
            let live = arena.server.manager.revocations
            #expect(await eventually(sync: { live.isRevoked(serial: original.certificate.serial) }))
            // The old holder is refused; the new one is a member.
            await #expect(throws: TransportError.self) {
                _ = try await Dialer.connect(
                    to: arena.server.address, peer: name("server"), context: TLSContext(identity: original),
                    local: original.name)
            }
            let (connection, _) = try await Dialer.connect(
                to: arena.server.address, peer: name("server"), context: TLSContext(identity: replaced),
                local: replaced.name)
            connection.close(reason: "done")
            await arena.finish(attacker: "mallory")
        }
    }

    @Test func refusedJoinsAreLoggedAndRateLimitedPerSource() async throws {
        try await withTemporaryDirectory { root in
            var settings = PKISettings()
            settings.joinRefusalLimit = 3
            let events = JoinEventLog()
            let (arena, ca) = try await caArena(root, settings: settings, events: events)
            let real = try PKI.makeJoinToken(at: ca)
            let directory = PKIDirectory(root.appendingPathComponent("m/.gt/pki"))
            for attempt in 0..<3 {
                let guessed = JoinToken(
                    secret: String(repeating: String(format: "%02x", attempt), count: 16),
                    caFingerprint: real.caFingerprint)
                let message = try await refusal {
                    try await JoinClient.join(
                        address: arena.server.address, token: guessed, nodeName: name("mallory"), directory: directory)
                }
                #expect(message == JoinRefusal.strangerAnswer)
            }
            // The CA node's log has each reason and the source.
            #expect(events.refusals.map(\.reason) == Array(repeating: "unknown join token", count: 3))
            #expect(
                events.all.allSatisfy {
                    if case .refused(_, let source, _, _, _) = $0 { return source == "127.0.0.1" } else { return true }
                })
            // Past the limit even a valid token is refused unseen (and not used up), reported once.
            for _ in 0..<3 {
                let message = try await refusal {
                    try await JoinClient.join(
                        address: arena.server.address, token: real, nodeName: name("mallory"), directory: directory)
                }
                #expect(message.contains("too many refused joins from this address"))
            }
            #expect(events.refusals.filter(\.limited).count == 1)
            #expect(try PKI.joinTokens(at: ca).allSatisfy { $0.usedAt == nil })
            await arena.finish(attacker: "mallory")
        }
    }

    @Test func joinRequestFlagsDecodeAndRefuseUnknownBits() throws {
        let plain = JoinMessages.request(secret: "s", csrPEM: "c")
        #expect(try JoinMessages.parseRequest(plain).replace == false)
        #expect(try JoinMessages.parseRequest(JoinMessages.request(secret: "s", csrPEM: "c", replace: true)).replace)
        #expect(throws: WireError.self) { try JoinMessages.parseRequest(plain + [2]) }
        #expect(throws: WireError.self) { try JoinMessages.parseRequest(plain + [1, 0]) }
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
