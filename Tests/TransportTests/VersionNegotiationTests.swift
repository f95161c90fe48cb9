import Foundation
import GasTownTestKit
import Testing

@testable import Transport
@testable import Wire

/// Protocol version negotiation over real mutual TLS on loopback: a client playing a node of another release
/// (other supported versions) against a listener of this build (docs/wire.md "Adjacent versions").
@Suite struct VersionNegotiationTests {
    /// Dials `listener` as `client` offering `versions`; returns the peer info or the refusal.
    static func dial(
        _ listener: Listener, client: NodeIdentity, versions: ClosedRange<UInt16>
    ) async -> Result<(Connection, PeerInfo), TransportError> {
        let connection = Connection.dial(
            listener.address, context: try! TLSContext(identity: client), serverName: name("server"), limits: .general,
            settings: ConnectionSettings())
        do throws(TransportError) {
            let info = try await connection.establish(
                local: client.name, expectedPeer: name("server"), purpose: .general, versions: versions)
            return .success((connection, info))
        } catch {
            return .failure(error)
        }
    }

    @Test func anOlderNodeIsServedAtTheHighestVersionItSpeaks() async throws {
        let ca = try TestCA()
        let (listener, inbox) = try recordingListener(identity: try ca.identity("server"))
        defer { listener.close() }
        // A release that spoke only version 1 (the first envelope layout).
        let old = try ca.identity("old")
        guard case .success(let (connection, info)) = await Self.dial(listener, client: old, versions: 1...1) else {
            Issue.record("a version-1 node was refused")
            return
        }
        #expect(info.version == 1)
        let envelope = Envelope(version: info.version, kind: .oneWay, type: .ping, sender: name("old"), body: [7])
        try await connection.send(envelope.encoded())
        #expect(await eventually { inbox.count == 1 })
        // Version 1 starts with the zero high byte of its u16 version: the client wrote the layout negotiated.
        #expect(inbox.all.first?.1.first == 0)
        #expect(try Envelope.decode(inbox.all[0].1, peer: name("old")).body == [7])
        connection.close()
        await connection.waitUntilClosed()
        // The previous release (1...2) and this one use version 2.
        guard
            case .success(let (current, currentInfo)) = await Self.dial(
                listener, client: try ca.identity("previous"), versions: 1...2)
        else {
            Issue.record("a node of the previous release was refused")
            return
        }
        #expect(currentInfo.version == 2)
        current.close()
        await current.waitUntilClosed()
    }

    @Test func aPeerWithNoCommonVersionIsRefusedOnBothSidesNamingBothRanges() async throws {
        let ca = try TestCA()
        let (listener, inbox) = try recordingListener(identity: try ca.identity("server"))
        defer { listener.close() }
        for (client, versions, clientSide, serverSide) in [
            ("future", UInt16(7)...8, "the peer is older", "this node is older"),
            ("ancient", UInt16(0)...0, "this node is older", "the peer is older"),
        ] {
            let result = await Self.dial(listener, client: try ca.identity(client), versions: versions)
            guard case .failure(let error) = result else {
                Issue.record("\(client) (versions \(versions)) was accepted")
                continue
            }
            // The dialer learns why: the server's hello reached it before the refusal.
            let text = error.description
            #expect(text.contains("no common protocol version"), "\(text)")
            #expect(text.contains("this node speaks \(versions.lowerBound)...\(versions.upperBound)"), "\(text)")
            #expect(text.contains("the peer 1...2"), "\(text)")
            #expect(text.contains(clientSide), "\(text)")
            // And the listener refused it with the same two ranges, seen from its side.
            let theirs = "the peer \(versions.lowerBound)...\(versions.upperBound)"
            let refusedHere = await eventually { inbox.refusalList.contains { "\($0)".contains(theirs) } }
            #expect(refusedHere, "listener refusals: \(inbox.refusalList)")
            let serverText = inbox.refusalList.map { "\($0)" }.first { $0.contains(theirs) } ?? ""
            #expect(serverText.contains("this node speaks 1...2") && serverText.contains(serverSide), "\(serverText)")
            #expect(serverText.contains(client), "the refusal names the peer: \(serverText)")
        }
        #expect(inbox.acceptedPeers.isEmpty)
    }
}
