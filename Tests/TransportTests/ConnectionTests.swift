import Foundation
import GasTownTestKit
import Testing

@testable import Transport
@testable import Wire

@Suite struct ConnectionTests {
    @Test func mutualTLSExchangesFramesBothWays() async throws {
        let ca = try TestCA()
        let server = try ca.identity("server")
        let client = try ca.identity("client")
        let (listener, inbox) = try recordingListener(identity: server)
        defer { listener.close() }
        let (connection, peer) = try await Dialer.connect(
            to: listener.address, peer: name("server"), context: TLSContext(identity: client), local: client.name)
        #expect(peer.name == name("server"))
        #expect(peer.certificate?.commonName == "server")
        for index in 0..<100 { try await connection.send([UInt8(index)]) }
        #expect(await eventually { inbox.count == 100 })
        #expect(inbox.all.map { $0.1 } == (0..<100).map { [UInt8($0)] })
        #expect(inbox.acceptedPeers == [name("client")])
        connection.close()
        await connection.waitUntilClosed()
    }
}

@Suite struct BackPressureTests {
    /// A receiver that does not consume pauses its reading; TCP then fills up and the sender's `send` waits
    /// above its high-water mark. Once the receiver consumes, everything arrives in order.
    @Test func slowReceiverPausesReadingAndSenderWaits() async throws {
        let ca = try TestCA()
        let server = try ca.identity("server")
        let client = try ca.identity("client")
        var serverSettings = ConnectionSettings()
        serverSettings.inboundBufferLimit = 64 << 10
        final class Gate: @unchecked Sendable {
            let lock = NSLock()
            var open = false
            var received: [UInt32] = []
            var bufferedWhileClosed = 0
        }
        let gate = Gate()
        let listener = try Listener(
            host: "127.0.0.1", port: 0, context: TLSContext(identity: server), local: server.name,
            settings: serverSettings,
            onConnection: { connection, _ in
                Task {
                    while !gate.lock.withLock({ gate.open }) { try? await Task.sleep(nanoseconds: 5_000_000) }
                    while let frames = try? await connection.receive() {
                        let numbers = frames.map {
                            UInt32($0[0]) << 24 | UInt32($0[1]) << 16 | UInt32($0[2]) << 8 | UInt32($0[3])
                        }
                        gate.lock.withLock { gate.received += numbers }
                    }
                }
            })
        defer { listener.close() }
        var clientSettings = ConnectionSettings()
        clientSettings.outboundHighWater = 256 << 10
        clientSettings.outboundLowWater = 64 << 10
        let (connection, _) = try await Dialer.connect(
            to: listener.address, peer: server.name, context: TLSContext(identity: client), local: client.name,
            settings: clientSettings)
        let total = 512  // 512 × 64 KiB = 32 MiB, far more than the socket buffers hold
        final class Progress: @unchecked Sendable {
            let lock = NSLock()
            var sent = 0
        }
        let progress = Progress()
        let sender = Task {
            for index in 0..<total {
                var frame = [UInt8](repeating: 7, count: 64 << 10)
                frame[0] = UInt8(index >> 24)
                frame[1] = UInt8((index >> 16) & 0xFF)
                frame[2] = UInt8((index >> 8) & 0xFF)
                frame[3] = UInt8(index & 0xFF)
                try await connection.send(frame)
                progress.lock.withLock { progress.sent += 1 }
            }
        }
        try await Task.sleep(nanoseconds: 500_000_000)
        let sentWhileBlocked = progress.lock.withLock { progress.sent }
        #expect(sentWhileBlocked < total, "the sender must wait while the receiver does not read")
        try await Task.sleep(nanoseconds: 200_000_000)
        #expect(progress.lock.withLock { progress.sent } == sentWhileBlocked, "the sender is parked, not crawling")
        gate.lock.withLock { gate.open = true }
        try await sender.value
        #expect(await eventually(10, sync: { gate.lock.withLock { gate.received.count } == total }))
        #expect(gate.lock.withLock { gate.received } == (0..<UInt32(total)).map { $0 })
        connection.close()
    }
}
