import Foundation
import GasTownTestKit
import Testing

@testable import Transport
@testable import Wire

/// Idle TCP connections that never start TLS must not lock real peers out: pending handshakes are capped per
/// source host and in total, a new host displaces the busiest host's oldest one, and established links are
/// never touched.
@Suite struct HandshakeFloodTests {
    /// Opens `count` TCP connections to `port` from the source address `host` (any of 127.0.0.0/8 is on the
    /// loopback interface) that never send a byte. Non-blocking connects: nothing waits for the kernel.
    static func idleConnections(_ count: Int, from host: String, to port: UInt16) throws -> [Int32] {
        var fds: [Int32] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw TransportError.system(operation: "socket", errno: errno) }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var source = sockaddr_in()
            source.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, host, &source.sin_addr)
            var target = sockaddr_in()
            target.sin_family = sa_family_t(AF_INET)
            target.sin_port = port.bigEndian
            inet_pton(AF_INET, "127.0.0.1", &target.sin_addr)
            let bound = withUnsafePointer(to: &source) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else {
                close(fd)
                throw TransportError.system(operation: "bind \(host)", errno: errno)
            }
            _ = withUnsafePointer(to: &target) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            fds.append(fd)
        }
        return fds
    }

    @Test func idleConnectionsFromManyHostsDoNotLockARealPeerOut() async throws {
        let arena = try await Arena()
        var fds: [Int32] = []
        defer { for fd in fds { close(fd) } }
        // Far more idle connections than the listener holds in their handshake: one host opens 600, thirty
        // others 20 each (together past the total of 256 even at 16 per host).
        fds += try Self.idleConnections(600, from: "127.0.0.2", to: arena.server.port)
        for host in 3...32 { fds += try Self.idleConnections(20, from: "127.0.0.\(host)", to: arena.server.port) }
        // The listener takes the flood in (the kernel's accept queue lets it in a few at a time), never
        // holding more than 16 from one host nor 256 in all.
        let manager = arena.server.manager
        var largest = 0
        _ = await eventually(10) {
            let pending = await manager.pendingHandshakes()
            #expect(pending.values.allSatisfy { $0 <= 16 } && pending.values.reduce(0, +) <= 256, "\(pending)")
            largest = max(largest, pending.values.reduce(0, +))
            return largest >= 200
        }
        #expect(largest >= 64, "the flood never reached the listener")
        // A real peer from a host with no pending handshake connects at its first attempt, while every idle
        // connection is still open on our side.
        let late = try arena.ca.identity("late")
        let (connection, info) = try await Dialer.connect(
            to: arena.server.address, peer: name("server"), context: TLSContext(identity: late), local: late.name)
        #expect(info.name == name("server"))
        connection.close(reason: "done")
        // The honest peer's established link kept its traffic flowing throughout (checked by finish).
        await arena.finish(attacker: "mallory", alsoServed: [])
    }

    @Test func idleConnectionsAreClosedAfterTheAcceptHandshakeTimeout() async throws {
        var settings = TestNode.fastSettings
        settings.connection.acceptHandshakeTimeout = 0.3
        let arena = try await Arena(settings: settings)
        let fds = try Self.idleConnections(3, from: "127.0.0.2", to: arena.server.port)
        defer { for fd in fds { close(fd) } }
        await arena.expectRefusal(containing: "no completed handshake and hello within 0.3 s")
        await arena.finish(attacker: "mallory", alsoServed: [])
    }

    @Test func admissionKeepsPerHostAndTotalCapsAndDisplacesTheBusiestHost() {
        var pending = PendingHandshakes()
        // Per host: the third from one host is refused.
        #expect(pending.admit(host: "a", total: 4, perHost: 2) != nil)
        #expect(pending.admit(host: "a", total: 4, perHost: 2) != nil)
        #expect(pending.admit(host: "a", total: 4, perHost: 2) == nil)
        #expect(pending.admit(host: "b", total: 4, perHost: 2) != nil)
        #expect(pending.admit(host: "b", total: 4, perHost: 2) != nil)
        #expect(pending.count == 4)
        // Full: a new host displaces the oldest handshake of the busiest host (on a tie, the oldest one).
        guard let (id, evicted) = pending.admit(host: "c", total: 4, perHost: 2) else {
            Issue.record("a new host must get a slot")
            return
        }
        #expect(evicted?.id == 1 && evicted?.host == "a")
        #expect(pending.count == 4)
        // a:1 b:2 c:1. A second from c would leave c as busy as b: refused.
        #expect(pending.admit(host: "c", total: 4, perHost: 2) == nil)
        // A new host d: b holds two, so b's oldest gives way.
        #expect(pending.admit(host: "d", total: 4, perHost: 2)?.1?.host == "b")
        // a:1 b:1 c:1 d:1: nobody holds more than one, so e is refused.
        #expect(pending.admit(host: "e", total: 4, perHost: 2) == nil)
        // A finished handshake frees its slot; one already displaced changes nothing.
        pending.finish(1)
        #expect(pending.count == 4)
        pending.finish(id)
        #expect(pending.count == 3)
        #expect(pending.admit(host: "e", total: 4, perHost: 2)?.1 == nil)
    }
}

/// Issue 10, hole 1: two live processes presenting one certificate (a copied `.gt/pki`) are noticed by the
/// nodes they connect to: their links keep replacing each other.
@Suite struct DuplicateIdentityTransportTests {
    @Test func twoProcessesWithOneIdentityAreSuspectedAndAReconnectIsNot() async throws {
        let arena = try await Arena()
        let server = arena.server.manager
        // One honest reconnect (a restart): not a duplicate.
        let once = try arena.ca.identity("once")
        let first = try await TestNode(identity: once)
        await first.manager.addPeer(name("server"), at: arena.server.address)
        _ = try await first.manager.request(TestNode.echo, body: [1], to: name("server"))
        await first.manager.shutdown()
        let again = try await TestNode(identity: once)
        await again.manager.addPeer(name("server"), at: arena.server.address)
        _ = try await again.manager.request(TestNode.echo, body: [2], to: name("server"))
        // Two live processes with one certificate, both keeping a link to the server.
        let twin = try arena.ca.identity("twin")
        let left = try await TestNode(identity: twin)
        let right = try await TestNode(identity: twin)
        for node in [left, right] { await node.manager.addPeer(name("server"), at: arena.server.address) }
        #expect(await eventually(10) { await server.duplicateIdentitySuspects()[name("twin")] != nil })
        #expect(await server.duplicateIdentitySuspects()[name("once")] == nil)
        for node in [left, right, again] { await node.manager.shutdown() }
        await arena.finish(attacker: "mallory", alsoServed: ["once"])
    }
}
