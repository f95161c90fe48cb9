import Foundation
import GasTownTestKit
import Node
import Testing
import Transport
import Wire

/// Certificate renewal by the running node at two thirds of the certificate's life: on the CA node with its
/// own key, and on a member over the wire from the CA node. Certificates are issued with a 60 s life and a
/// 300 s back-date, so they are past two thirds at once.
struct RenewalTests {
    static var shortLived: PKISettings {
        var settings = PKISettings()
        settings.nodeCertificateLifetime = 60
        return settings
    }

    /// By the Deacon's `cert-renewal` Dog (its interval above 0), else by the node's own timer: one of them, so
    /// the certificate is renewed exactly once.
    @Test(arguments: [1.0, 0.0]) func caNodeRenewsItsOwnCertificate(dogInterval: Double) async throws {
        let directory = try TempDir(prefix: "gt-node-renew")
        let town = TownPaths(root: directory.join("ca"))
        try directory.write("ca/mayor/town.json", #"{"name": "ca", "type": "town", "version": 2}"#)
        let initial = try PKI.initCluster(
            at: town.pki, clusterName: "renew", nodeName: try NodeName("ca"), settings: Self.shortLived)
        #expect(PKI.needsRenewal(initial.certificate, now: Date()))
        var settings = NodeSettings()
        settings.deacon.dogs["cert-renewal"] = dogInterval
        let node = Node(town: town.root, options: NodeOptions(listen: "127.0.0.1:0", settings: settings))
        try await node.start()
        let client = try await NodeClient.connect(town)
        defer { client.close() }
        #expect(
            try await eventually(10) {
                let status = try await client.request(NodeMessageType.status, EmptyBody(), as: NodeStatus.self)
                return status.certificate.serial != initial.certificate.serial
            })
        let status = try await client.request(NodeMessageType.status, EmptyBody(), as: NodeStatus.self)
        #expect(status.certificate.notAfter > Date().addingTimeInterval(80 * 86_400))
        let onDisk = try Certificate(pem: String(contentsOf: town.pki.nodeCertificate, encoding: .utf8))
        #expect(onDisk.serial == status.certificate.serial)
        await node.shutdown()
        let events = try String(contentsOfFile: town.eventsFile, encoding: .utf8)
        let lines = events.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let renewals = lines.filter { $0["type"] as? String == "certificate_renewed" }
        #expect(renewals.count == 1, "renewed once, by one owner: \(renewals)")
        let owner = dogInterval > 0 ? "cert-renewal dog" : "node"
        #expect(renewals.first?["by"] as? String == owner, "\(renewals)")
        if dogInterval > 0 {
            #expect(
                lines.contains { $0["type"] as? String == "dog" && $0["dog"] as? String == "cert-renewal" },
                "the Dog's run is a dog event")
        }
    }

    @Test func memberRenewsOverTheWire() async throws {
        let directory = try TempDir(prefix: "gt-node-renew-member")
        let caTown = TownPaths(root: directory.join("hub"))
        let memberTown = TownPaths(root: directory.join("spoke"))
        try directory.write("hub/mayor/town.json", #"{"name": "hub", "type": "town", "version": 2}"#)
        try directory.write("spoke/mayor/town.json", #"{"name": "spoke", "type": "town", "version": 2}"#)
        try PKI.initCluster(at: caTown.pki, clusterName: "renew", nodeName: try NodeName("hub"))
        var hubSettings = NodeSettings()
        hubSettings.pki = Self.shortLived
        let hub = Node(town: caTown.root, options: NodeOptions(listen: "127.0.0.1:0", settings: hubSettings))
        let hubInfo = try await hub.start()
        let hubAddress = try PeerAddress(parsing: hubInfo.listen)

        let client = try await NodeClient.connect(caTown)
        defer { client.close() }
        let token = try await client.request(NodeMessageType.joinToken, TokenRequest(), as: TokenReport.self)
        let joined = try await JoinClient.join(
            address: hubAddress, token: try JoinToken(parsing: token.token), nodeName: try NodeName("spoke"),
            directory: memberTown.pki)
        #expect(PKI.needsRenewal(joined.certificate, now: Date()))

        var memberSettings = NodeSettings()
        memberSettings.renewalRetryInterval = 0.2
        memberSettings.deacon.dogs["cert-renewal"] = 0.2
        let member = Node(
            town: memberTown.root,
            options: NodeOptions(listen: "127.0.0.1:0", seeds: [hubInfo.listen], settings: memberSettings))
        try await member.start()
        let memberClient = try await NodeClient.connect(memberTown)
        defer { memberClient.close() }
        #expect(
            try await eventually(15) {
                let status = try await memberClient.request(NodeMessageType.status, EmptyBody(), as: NodeStatus.self)
                return status.certificate.serial != joined.certificate.serial
            })
        // The hub still talks to the member after it presents its new certificate.
        #expect(
            try await eventually(10) {
                let status = try await client.request(NodeMessageType.status, EmptyBody(), as: NodeStatus.self)
                return status.peers.contains { $0.name == "spoke" && $0.connected }
            })
        await member.shutdown()
        await hub.shutdown()
    }

    /// A revocation written to `revocations.jsonl` by another process (an offline `gt node cert revoke`) is
    /// picked up by the running node's file watch.
    @Test func revocationFileIsWatched() async throws {
        let directory = try TempDir(prefix: "gt-node-watch")
        let town = try makeTown(directory, name: "watcher")
        var settings = NodeSettings()
        settings.pkiWatchInterval = 0.1
        let node = Node(town: town.root, options: NodeOptions(listen: "127.0.0.1:0", settings: settings))
        try await node.start()
        let client = try await NodeClient.connect(town)
        defer { client.close() }
        #expect(try await client.request(NodeMessageType.status, EmptyBody(), as: NodeStatus.self).revocations == 0)
        try PKI.revoke(at: town.pki, serial: "C0FFEE", node: "someone")
        #expect(
            try await eventually(5) {
                try await client.request(NodeMessageType.status, EmptyBody(), as: NodeStatus.self).revocations == 1
            })
        let reload = try await client.request(NodeMessageType.reloadPKI, EmptyBody(), as: ReloadReport.self)
        #expect(reload.revocations == 1)
        #expect(!reload.transportRebuilt)
        await node.shutdown()
    }
}
