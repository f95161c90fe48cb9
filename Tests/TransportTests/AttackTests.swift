import Foundation
import GasTownTestKit
import Testing

@testable import Transport
@testable import Wire

/// A server node with an honest peer exchanging requests with it the whole time an attack runs.
final class Arena: @unchecked Sendable {
    let ca: TestCA
    let server: TestNode
    let honest: TestNode
    private let lock = NSLock()
    private var successes = 0
    private var failures: [String] = []
    private var traffic: Task<Void, Never>?

    init(
        settings: ConnectionManagerSettings = TestNode.fastSettings,
        joinService: ((TestCA) throws -> JoinService)? = nil
    )
        async throws
    {
        ca = try TestCA()
        server = try await TestNode(identity: ca.identity("server"), settings: settings, joinService: joinService?(ca))
        honest = try await TestNode(identity: ca.identity("honest"))
        await honest.manager.addPeer(name("server"), at: server.address)
        _ = try await honest.manager.request(TestNode.echo, body: [0], to: name("server"))
        let honest = self.honest
        traffic = Task { [weak self] in
            var round: UInt8 = 0
            while !Task.isCancelled {
                round &+= 1
                do {
                    let reply = try await honest.manager.request(TestNode.echo, body: [round], to: name("server"))
                    self?.record(reply.body == Array("honest:".utf8) + [round] ? nil : "wrong reply")
                } catch {
                    if !Task.isCancelled { self?.record("\(error)") }
                }
                try? await Task.sleep(nanoseconds: 5_000_000)
            }
        }
    }

    private func record(_ failure: String?) {
        lock.withLock {
            if let failure { failures.append(failure) } else { successes += 1 }
        }
    }

    /// Stops the honest traffic, checks it never failed and kept flowing, and that no frame from anyone but
    /// the honest peer reached the server's application code. Shuts both nodes down.
    /// Waits until the server logged a refusal whose description contains `text`.
    func expectRefusal(containing text: String) async {
        let seen = await eventually { await self.server.manager.recentRefusals().contains { "\($0)".contains(text) } }
        let log = await server.manager.recentRefusals()
        #expect(seen, "no refusal containing '\(text)': \(log)")
    }

    func finish(attacker: String, alsoServed: Set<String> = []) async {
        let before = lock.withLock { successes }
        _ = await eventually(sync: { self.lock.withLock { self.successes } >= before + 3 })
        traffic?.cancel()
        await traffic?.value
        let (ok, failed) = lock.withLock { (successes, failures) }
        #expect(failed.isEmpty, "honest traffic failed during the attack: \(failed)")
        #expect(ok >= 3, "honest traffic did not keep flowing")
        #expect(!server.inbox.acceptedPeers.contains(name(attacker)), "a frame from the attacker reached the app")
        #expect(Set(server.inbox.acceptedPeers) == Set(["honest"].map(name) + alsoServed.map(name)))
        await honest.manager.shutdown()
        await server.manager.shutdown()
    }
}

@Suite struct AttackTests {
    @Test func certificateFromAnotherCAIsRefused() async throws {
        let arena = try await Arena()
        let rogue = try TestCA(cluster: "rogue")
        var attacker = try rogue.identity("mallory")
        attacker.trustedAuthorities = [arena.ca.authority.certificate]  // it trusts us; we must not trust it
        await #expect(throws: TransportError.self) {
            _ = try await Dialer.connect(
                to: arena.server.address, peer: name("server"), context: TLSContext(identity: attacker),
                local: attacker.name)
        }
        await arena.expectRefusal(containing: "unable to get local issuer certificate")
        await arena.finish(attacker: "mallory")
    }

    @Test func expiredCertificateIsRefused() async throws {
        let arena = try await Arena()
        let attacker = try arena.ca.authority.makeIdentity(
            for: name("mallory"), validFrom: Date().addingTimeInterval(-86_400 * 100),
            validUntil: Date().addingTimeInterval(-86_400))
        await #expect(throws: TransportError.self) {
            _ = try await Dialer.connect(
                to: arena.server.address, peer: name("server"), context: TLSContext(identity: attacker),
                local: attacker.name)
        }
        await arena.expectRefusal(containing: "certificate has expired")
        await arena.finish(attacker: "mallory")
    }

    @Test func revokedCertificateIsRefusedAndLiveLinkDropped() async throws {
        let arena = try await Arena()
        let revocations = arena.server.manager.revocations
        let trusted = [arena.ca.authority.certificate]
        // Already revoked at handshake time.
        let revoked = try arena.ca.identity("mallory")
        revocations.add(
            try RevocationEntry.revoking(
                serial: revoked.certificate.serial, node: "mallory", by: arena.ca.authority, now: Date()),
            trusting: trusted)
        await #expect(throws: TransportError.self) {
            let (connection, _) = try await Dialer.connect(
                to: arena.server.address, peer: name("server"), context: TLSContext(identity: revoked),
                local: revoked.name)
            try await connection.send(Envelope(kind: .oneWay, type: TestNode.note, sender: name("mallory")).encoded())
            _ = try await connection.receive()
        }
        await arena.expectRefusal(containing: "certificate \(revoked.certificate.serial) is revoked")
        // An entry not signed by our CA is ignored.
        let rogue = try TestCA(cluster: "rogue")
        let forged = try RevocationEntry.revoking(
            serial: await arena.honest.manager.identity.certificate.serial, node: "honest", by: rogue.authority,
            now: Date())
        #expect(!revocations.add(forged, trusting: trusted))
        // Revoked while connected: the live link is dropped.
        let trudy = try await TestNode(identity: arena.ca.identity("trudy"))
        await trudy.manager.addPeer(name("server"), at: arena.server.address)
        _ = try await trudy.manager.request(TestNode.echo, body: [1], to: name("server"))
        #expect(await arena.server.manager.connectedPeers().contains(name("trudy")))
        revocations.add(
            try RevocationEntry.revoking(
                serial: await trudy.manager.identity.certificate.serial, node: "trudy", by: arena.ca.authority,
                now: Date()),
            trusting: trusted)
        #expect(await eventually { await arena.server.manager.connectedPeers() == [name("honest")] })
        // Trudy keeps redialing and keeps being refused.
        try await Task.sleep(nanoseconds: 300_000_000)
        #expect(await arena.server.manager.connectedPeers() == [name("honest")])
        await trudy.manager.shutdown()
        let trudyFrames = arena.server.inbox.acceptedPeers.filter { $0 == name("trudy") }.count
        #expect(trudyFrames == 1)  // only the echo before revocation
        await arena.finish(attacker: "mallory", alsoServed: ["trudy"])
    }

    @Test func serverWithRightCAButWrongNameIsRefusedByTheClient() async throws {
        let arena = try await Arena()
        let client = try arena.ca.identity("mallory")
        do {
            _ = try await Dialer.connect(
                to: arena.server.address, peer: name("bank"), context: TLSContext(identity: client), local: client.name)
            Issue.record("a server named 'server' must not pass for 'bank'")
        } catch {
            guard case .handshakeFailed(let detail) = error else { throw error }
            #expect(detail.contains("hostname mismatch"))
        }
        await arena.finish(attacker: "mallory")
    }

    @Test func clientWithoutCertificateIsRefused() async throws {
        let arena = try await Arena()
        await #expect(throws: TransportError.self) {
            let connection = Connection.dial(
                arena.server.address, context: try TLSContext.joinClient(), serverName: nil, limits: .general,
                settings: ConnectionSettings())
            _ = try await connection.establish(local: name("mallory"), expectedPeer: nil, purpose: .general)
        }
        await arena.expectRefusal(containing: "peer did not return a certificate")
        await arena.finish(attacker: "mallory")
    }

    @Test func plaintextClientIsRefused() async throws {
        let arena = try await Arena()
        let connection = Connection.dial(
            arena.server.address, context: nil, serverName: nil, limits: .general, settings: ConnectionSettings())
        await #expect(throws: TransportError.self) {
            _ = try await connection.establish(local: name("mallory"), expectedPeer: nil, purpose: .general)
        }
        await arena.expectRefusal(containing: "wrong version number")
        await arena.finish(attacker: "mallory")
    }
}
