import Foundation
import GasTownTestKit
import Testing

@testable import Transport
@testable import Wire

/// Attacks by a peer with a valid certificate that misbehaves on the stream.
@Suite struct StreamAttackTests {
    /// A TLS connection from "mallory" (valid certificate) that has completed the handshake and, if `hello`,
    /// the hello exchange.
    func mallory(_ arena: Arena, hello: Bool) async throws -> Connection {
        let identity = try arena.ca.identity("mallory")
        if hello {
            return try await Dialer.connect(
                to: arena.server.address, peer: name("server"), context: TLSContext(identity: identity),
                local: identity.name
            ).0
        }
        let connection = Connection.dial(
            arena.server.address, context: try TLSContext(identity: identity), serverName: name("server"),
            limits: .general, settings: ConnectionSettings())
        try await connection.handshake()
        return connection
    }

    func closesWithin(_ seconds: Double, _ connection: Connection) async -> Bool {
        await eventually(seconds, sync: { connection.closedReason != nil })
    }

    @Test func garbageInsteadOfHelloAfterTheHandshake() async throws {
        let arena = try await Arena()
        let connection = try await mallory(arena, hello: false)
        try await connection.sendFrames(Array("GET / HTTP/1.1\r\nHost: server\r\n\r\n".utf8))
        #expect(await closesWithin(3, connection))
        await arena.expectRefusal(containing: "exceeds the limit")
        await arena.finish(attacker: "mallory")
    }

    @Test func garbageFrameAfterTheHello() async throws {
        let arena = try await Arena()
        let connection = try await mallory(arena, hello: true)
        var rng = SystemRandomNumberGenerator()
        let junk = (0..<200).map { _ in UInt8.random(in: 0...255, using: &rng) }
        try await connection.send([0, 1, 2] + junk)  // a well-framed payload that is no envelope
        #expect(await closesWithin(3, connection))
        await arena.expectRefusal(containing: "protocol violation")
        await arena.finish(attacker: "mallory")
    }

    @Test func fourGiBLengthPrefixClosesAtOnce() async throws {
        var settings = TestNode.fastSettings
        settings.connection.partialFrameTimeout = 30  // so only the length check can close it quickly
        let arena = try await Arena(settings: settings)
        let connection = try await mallory(arena, hello: true)
        try await connection.sendFrames([0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3])
        #expect(await closesWithin(3, connection))
        await arena.expectRefusal(containing: "frame of 4294967295 bytes exceeds the limit of 16777216 bytes")
        await arena.finish(attacker: "mallory")
    }

    @Test func frameCutMidwayThenSilenceIsClosedAfterTheReadTimeout() async throws {
        var settings = TestNode.fastSettings
        settings.connection.partialFrameTimeout = 0.3
        let arena = try await Arena(settings: settings)
        let connection = try await mallory(arena, hello: true)
        #expect(await eventually { await arena.server.manager.connectedPeers().contains(name("mallory")) })
        try await connection.sendFrames([0, 0, 0, 100, 1, 2, 3])
        #expect(await closesWithin(3, connection))
        await arena.expectRefusal(containing: "a frame was cut off")
        #expect(await eventually { await arena.server.manager.connectedPeers() == [name("honest")] })
        // No task is left behind: only the honest link's reader and keep-alive remain.
        #expect(await eventually { await arena.server.manager.liveLinkTaskCount() == 2 })
        await arena.finish(attacker: "mallory")
    }

    /// After a cut-off frame times out, the server side's connection object (its sources, timer and
    /// reader task) is released: nothing is left behind.
    @Test func timedOutConnectionLeavesNothingBehind() async throws {
        let ca = try TestCA()
        let server = try ca.identity("server")
        var settings = ConnectionSettings()
        settings.partialFrameTimeout = 0.2
        final class Box: @unchecked Sendable {
            let lock = NSLock()
            weak var connection: Connection?
            var readerEnded = false
        }
        let box = Box()
        let listener = try Listener(
            host: "127.0.0.1", port: 0, context: TLSContext(identity: server), local: server.name, settings: settings
        ) { connection, _ in
            box.lock.withLock { box.connection = connection }
            Task {
                while (try? await connection.receive()) != nil {}
                box.lock.withLock { box.readerEnded = true }
            }
        }
        defer { listener.close() }
        let client = try ca.identity("mallory")
        let (connection, _) = try await Dialer.connect(
            to: listener.address, peer: server.name, context: TLSContext(identity: client), local: client.name)
        try await connection.sendFrames([0, 0, 0, 9, 1])
        #expect(await eventually(sync: { box.lock.withLock { box.readerEnded } }))
        #expect(await eventually(sync: { box.lock.withLock { box.connection == nil } }))
        #expect(await eventually(sync: { connection.closedReason != nil }))
    }
}
