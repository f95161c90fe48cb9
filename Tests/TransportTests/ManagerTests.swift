import Foundation
import GasTownTestKit
import Testing

@testable import Transport
@testable import Wire

/// A node's transport for tests: a manager whose handler echoes requests and records one-way messages.
final class TestNode: @unchecked Sendable {
    let manager: ConnectionManager
    let inbox = Inbox()
    var address: PeerAddress!

    static let echo = MessageType(rawValue: 100)
    static let note = MessageType(rawValue: 101)
    static let slow = MessageType(rawValue: 102)
    static var registry: MessageRegistry {
        var registry = MessageRegistry.core
        for (type, name) in [(echo, "echo"), (note, "note"), (slow, "slow")] {
            registry.register(MessageDescriptor(type: type, name: name))
        }
        return registry
    }

    init(
        identity: NodeIdentity, settings: ConnectionManagerSettings = fastSettings, port: UInt16 = 0,
        joinService: JoinService? = nil
    ) async throws {
        let inbox = self.inbox
        manager = try ConnectionManager(
            identity: identity, settings: settings, registry: Self.registry, joinService: joinService
        ) { message in
            inbox.accepted(message.peer.name)
            switch message.envelope.type {
            case TestNode.note:
                inbox.add(message.peer.name, message.envelope.body)
                return []
            case TestNode.slow:
                try await Task.sleep(nanoseconds: 5_000_000_000)
                return []
            default:
                return Array("\(message.peer.name):".utf8) + message.envelope.body
            }
        }
        address = try await manager.listen(host: "127.0.0.1", port: port)
    }

    var port: UInt16 {
        if case .tcp(_, let port) = address! { return port }
        return 0
    }

    static var fastSettings: ConnectionManagerSettings {
        var settings = ConnectionManagerSettings()
        settings.reconnectBaseDelay = 0.02
        settings.reconnectMaxDelay = 0.2
        settings.requestTimeout = 5
        return settings
    }
}

@Suite struct ManagerTests {
    @Test func threeNodesExchangeInEveryDirectionAndReconnectAfterRestart() async throws {
        let ca = try TestCA()
        let names = ["alpha", "bravo", "charlie"]
        let identities = try names.map { try ca.identity($0) }
        var nodes = try await identities.asyncMap { try await TestNode(identity: $0) }
        for (index, node) in nodes.enumerated() {
            for (other, peer) in nodes.enumerated() where other != index {
                await node.manager.addPeer(name(names[other]), at: peer.address)
            }
        }
        for (index, node) in nodes.enumerated() {
            for (other, _) in nodes.enumerated() where other != index {
                let response = try await node.manager.request(
                    TestNode.echo, body: [UInt8(index)], to: name(names[other]))
                #expect(response.body == Array("\(names[index]):".utf8) + [UInt8(index)])
                try await node.manager.send(TestNode.note, body: [UInt8(index), UInt8(other)], to: name(names[other]))
            }
        }
        for (index, node) in nodes.enumerated() {
            #expect(await eventually { node.inbox.count == 2 })
            #expect(Set(node.inbox.all.map(\.0.rawValue)) == Set(names.filter { $0 != names[index] }))
        }
        // Tie-break: alpha and bravo dialed each other; both keep one general link.
        #expect(await nodes[0].manager.connectedPeers() == [name("bravo"), name("charlie")])

        // Kill charlie (clean shutdown), restart it on the same port: the others reconnect by themselves.
        let port = nodes[2].port
        await nodes[2].manager.shutdown()
        #expect(await eventually { await nodes[0].manager.connectedPeers() == [name("bravo")] })
        await #expect(throws: TransportError.self) {
            _ = try await nodes[0].manager.request(TestNode.echo, body: [], to: name("charlie"), timeout: 0.2)
        }
        // Honest traffic between the survivors continued.
        _ = try await nodes[0].manager.request(TestNode.echo, body: [1], to: name("bravo"))
        nodes[2] = try await TestNode(identity: identities[2], port: port)
        #expect(await eventually(10) { await nodes[0].manager.connectedPeers().contains(name("charlie")) })
        #expect(await eventually(10) { await nodes[1].manager.connectedPeers().contains(name("charlie")) })
        let again = try await nodes[1].manager.request(TestNode.echo, body: [7], to: name("charlie"))
        #expect(again.body == Array("bravo:".utf8) + [7])
        await nodes[2].manager.addPeer(name("alpha"), at: nodes[0].address)
        let fromCharlie = try await nodes[2].manager.request(TestNode.echo, body: [8], to: name("alpha"))
        #expect(fromCharlie.body == Array("charlie:".utf8) + [8])
        for node in nodes { await node.manager.shutdown() }
    }

    @Test func peersReconnectAfterAnAbruptStop() async throws {
        let ca = try TestCA()
        let a = try await TestNode(identity: ca.identity("a"))
        let bIdentity = try ca.identity("b")
        var b = try await TestNode(identity: bIdentity)
        let c = try await TestNode(identity: ca.identity("c"))
        for node in [a, c] {
            await node.manager.addPeer(name("b"), at: b.address, purposes: [.general, .membership])
        }
        await a.manager.addPeer(name("c"), at: c.address)
        _ = try await a.manager.request(TestNode.echo, body: [], to: name("b"))
        _ = try await c.manager.request(TestNode.echo, body: [], to: name("b"), purpose: .membership)
        let port = b.port
        await b.manager.shutdown(graceful: false)  // no goodbye, no close_notify
        #expect(await eventually { await a.manager.connectedPeers() == [name("c")] })
        _ = try await a.manager.request(TestNode.echo, body: [1], to: name("c"))  // the others carry on
        b = try await TestNode(identity: bIdentity, port: port)
        #expect(await eventually(10) { await a.manager.connectedPeers(purpose: .membership) == [name("b")] })
        #expect(await eventually(10) { await c.manager.connectedPeers(purpose: .membership) == [name("b")] })
        let reply = try await c.manager.request(TestNode.echo, body: [2], to: name("b"))
        #expect(reply.body == Array("c:".utf8) + [2])
        for node in [a, b, c] { await node.manager.shutdown() }
    }

    @Test func unknownTypeTimeoutCancellationAndMembershipLink() async throws {
        let ca = try TestCA()
        let a = try await TestNode(identity: ca.identity("a"))
        let b = try await TestNode(identity: ca.identity("b"))
        await a.manager.addPeer(name("b"), at: b.address, purposes: [.general, .membership])
        // Unknown type → an error reply, never a crash.
        do {
            _ = try await a.manager.request(MessageType(rawValue: 4242), body: [], to: name("b"))
            Issue.record("an unknown type must be refused")
        } catch {
            guard case .remoteError(let reply) = error else { throw error }
            #expect(reply.code == .unknownMessageType)
        }
        // Timeout.
        await #expect(throws: TransportError.timedOut("no answer from b within 0.2 s")) {
            _ = try await a.manager.request(TestNode.slow, body: [], to: name("b"), timeout: 0.2)
        }
        // Cancellation.
        let pending = Task { try await a.manager.request(TestNode.slow, body: [], to: name("b"), timeout: 30) }
        try await Task.sleep(nanoseconds: 50_000_000)
        pending.cancel()
        await #expect(throws: TransportError.cancelled) { _ = try await pending.value }
        // The membership link is separate and limits frames to 64 KiB.
        #expect(await eventually { await a.manager.connectedPeers(purpose: .membership) == [name("b")] })
        let small = try await a.manager.request(TestNode.echo, body: [1], to: name("b"), purpose: .membership)
        #expect(small.body == Array("a:".utf8) + [1])
        await #expect(throws: TransportError.self) {
            _ = try await a.manager.request(
                TestNode.echo, body: [UInt8](repeating: 0, count: 70_000), to: name("b"), purpose: .membership)
        }
        let big = try await a.manager.request(TestNode.echo, body: [UInt8](repeating: 0, count: 70_000), to: name("b"))
        #expect(big.body.count == 70_002)
        await a.manager.shutdown()
        await b.manager.shutdown()
    }

    @Test func revocationSpreadsAndDropsTheRevokedPeerEverywhere() async throws {
        let ca = try TestCA()
        let a = try await TestNode(identity: ca.identity("a"))
        let b = try await TestNode(identity: ca.identity("b"))
        let c = try await TestNode(identity: ca.identity("c"))
        await a.manager.addPeer(name("b"), at: b.address)
        await a.manager.addPeer(name("c"), at: c.address)
        await b.manager.addPeer(name("c"), at: c.address)
        _ = try await a.manager.request(TestNode.echo, body: [], to: name("c"))
        _ = try await b.manager.request(TestNode.echo, body: [], to: name("c"))
        _ = try await a.manager.request(TestNode.echo, body: [], to: name("b"))
        let entry = try RevocationEntry.revoking(
            serial: await c.manager.identity.certificate.serial, node: "c", by: ca.authority, now: Date())
        #expect(await a.manager.publishRevocation(entry))
        #expect(await !a.manager.publishRevocation(entry))  // already known
        #expect(await eventually { await b.manager.connectedPeers() == [name("a")] })
        #expect(await eventually { await a.manager.connectedPeers() == [name("b")] })
        #expect(b.manager.revocations.isRevoked(serial: entry.serial))
        #expect(b.inbox.acceptedPeers.contains(name("a")))  // the handler saw the revocation message
        for node in [a, b, c] { await node.manager.shutdown() }
    }

    @Test func linkWhosePeerIsBusyOnAnotherLinkIsStillKeptOpen() async throws {
        // The general link is idle while the membership link to the same peer is busy: it is pinged less
        // often (after half the idle timeout) but still before the idle timeout would close it.
        let ca = try TestCA()
        var settings = TestNode.fastSettings
        settings.connection.idleTimeout = 0.8
        settings.keepAliveInterval = 0.1
        let a = try await TestNode(identity: ca.identity("a"), settings: settings)
        let b = try await TestNode(identity: ca.identity("b"), settings: settings)
        await a.manager.addPeer(name("b"), at: b.address, purposes: [.general, .membership])
        _ = try await a.manager.request(TestNode.echo, body: [], to: name("b"))
        let general = try await a.manager.link(to: name("b"))
        let deadline = DispatchTime.now().uptimeNanoseconds + 2_500_000_000
        while DispatchTime.now().uptimeNanoseconds < deadline {
            _ = try await a.manager.request(TestNode.echo, body: [1], to: name("b"), purpose: .membership)
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        #expect(general.connection.closedReason == nil)
        await a.manager.shutdown()
        await b.manager.shutdown()
    }

    @Test func keepAliveHoldsIdleLinksOpenAndIdleTimeoutClosesSilentOnes() async throws {
        let ca = try TestCA()
        var alive = TestNode.fastSettings
        alive.connection.idleTimeout = 0.8
        alive.keepAliveInterval = 0.1
        var silent = alive
        silent.keepAliveInterval = 3600
        for (settings, expectOpen) in [(alive, true), (silent, false)] {
            let a = try await TestNode(identity: ca.identity("a"), settings: settings)
            let b = try await TestNode(identity: ca.identity("b"), settings: settings)
            await a.manager.addPeer(name("b"), at: b.address)
            _ = try await a.manager.request(TestNode.echo, body: [], to: name("b"))
            let first = try await a.manager.link(to: name("b"))
            try await Task.sleep(nanoseconds: 2_000_000_000)
            #expect((first.connection.closedReason == nil) == expectOpen)
            if !expectOpen {
                guard case .timedOut(let why)? = first.connection.closedReason else {
                    Issue.record("expected an idle timeout, got \(String(describing: first.connection.closedReason))")
                    continue
                }
                #expect(why.contains("nothing received"))
            }
            await a.manager.shutdown()
            await b.manager.shutdown()
        }
    }

    @Test func backoffIsCappedExponentialWithJitter() {
        #expect(Backoff.delay(attempt: 0, base: 0.1, cap: 10, jitter: 0.5, random: 0.3) == 0)
        #expect(Backoff.delay(attempt: 1, base: 0.1, cap: 10, jitter: 0, random: 0.9) == 0.1)
        #expect(Backoff.delay(attempt: 4, base: 0.1, cap: 10, jitter: 0, random: 0.9) == 0.8)
        #expect(Backoff.delay(attempt: 40, base: 0.1, cap: 10, jitter: 0, random: 0.9) == 10)
        #expect(Backoff.delay(attempt: 40, base: 0.1, cap: 10, jitter: 0.5, random: 0) == 5)
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}

@Suite struct PeerRefusalTests {
    /// A peer whose process is gone refuses the redial; observers hear of it (the membership shell's evidence
    /// of a crash). A peer that merely restarts its links is not reported while it listens.
    @Test func aDialToAStoppedPeerIsReportedAsRefused() async throws {
        let ca = try TestCA()
        let alpha = try await TestNode(identity: try ca.identity("alpha"))
        let bravo = try await TestNode(identity: try ca.identity("bravo"))
        let refused = Inbox()
        alpha.manager.refusals.observe { peer in refused.add(peer, []) }
        await alpha.manager.addPeer(name("bravo"), at: bravo.address)
        _ = try await alpha.manager.request(TestNode.echo, body: [1], to: name("bravo"))
        #expect(refused.count == 0, "bravo listens: no refusal")
        await bravo.manager.shutdown(graceful: false)
        #expect(await eventually(10) { refused.all.contains { $0.0 == name("bravo") } })
        await alpha.manager.shutdown()
    }

    /// An observer is kept until its token is dropped (a restarted membership component does not pile them up).
    @Test func observersAreDroppedByTheirToken() async throws {
        let ca = try TestCA()
        let alpha = try await TestNode(identity: try ca.identity("alpha"))
        let refusals = alpha.manager.refusals
        let first = refusals.observe { _ in }
        let second = refusals.observe { _ in }
        #expect(first != second && refusals.observerCount == 2)
        refusals.stopObserving(first)
        refusals.stopObserving(first)
        #expect(refusals.observerCount == 1)
        refusals.stopObserving(second)
        #expect(refusals.observerCount == 0)
        await alpha.manager.shutdown()
    }
}
