import Foundation
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
