import Foundation
import GasTownTestKit
import Node
import Testing

/// The node admin's lifecycle end to end with the built `gt` (one process per node, every one killed by pid in a
/// defer): a node down through `gt cluster rotate-ca` and a revocation catches up when it comes back, without a
/// re-join; `gt node rename` of this town's node, and its refusals.
@Suite(.serialized)
struct NodeLifecycleEndToEndTests {
    @Test func aNodeDownThroughARotationAndARevocationLearnsBothWithoutARejoin() async throws {
        let directory = try TempDir(prefix: "gt-node-catchup")
        let a = try await TestTown(in: directory, name: "ca-node")
        let b = try await TestTown(in: directory, name: "member")
        let c = try await TestTown(in: directory, name: "sleeper")
        defer {
            a.stopEverything()
            b.stopEverything()
            c.stopEverything()
        }
        let oldCA = try #require(try await a.json(["cluster", "init"])["ca_fingerprint"] as? String)
        let addressA = try #require(try await a.json(["up", "--listen", "127.0.0.1:0"])["listen"] as? String)
        for town in [b, c] {
            let token = try await a.ok(["cluster", "token"]).trimmingCharacters(in: .whitespacesAndNewlines)
            try await town.ok(["node", "join", addressA, token])
        }
        let addressB = try #require(try await b.json(["up", "--listen", "127.0.0.1:0"])["listen"] as? String)
        try await c.ok(["up", "--listen", "127.0.0.1:0"])
        #expect(
            try await eventually { connectedPeers(try await a.json(["status"])).isSuperset(of: ["member", "sleeper"]) })
        let sleeperSerial = try #require(try await c.json(["node", "cert", "show"])["serial"] as? String)

        // sleeper goes down (by pid); the CA rotates and member is revoked meanwhile.
        let pid = try #require(c.recordedPid)
        #expect(kill(pid, SIGTERM) == 0)
        #expect(await eventually { !isAlive(pid) })
        let newCA = try #require(try await a.json(["cluster", "rotate-ca"])["ca_fingerprint"] as? String)
        #expect(newCA != oldCA)
        #expect(
            try await eventually { try await b.json(["node", "cert", "show"])["ca_fingerprint"] as? String == newCA })
        let revoked = try #require(try await a.json(["node", "cert", "revoke", "member"])["serials"] as? [String])
        #expect(!revoked.isEmpty)
        let tokens = try String(contentsOfFile: a.paths.pki.tokensFile.path, encoding: .utf8)

        // sleeper comes back with its old certificate and trust: it catches up from its seed, no token, no join.
        let addressC = try #require(try await c.json(["up", "--listen", "127.0.0.1:0"])["listen"] as? String)
        #expect(
            try await eventually(20) {
                try await c.json(["node", "cert", "show"])["ca_fingerprint"] as? String == newCA
            }, "sleeper did not learn the new CA")
        let renewed = try await c.json(["node", "cert", "show"])
        #expect(renewed["subject"] as? String == "sleeper")
        #expect(renewed["serial"] as? String != sleeperSerial, "renewed from the new CA over the wire")
        let held = try String(contentsOfFile: c.paths.pki.revocationsFile.path, encoding: .utf8)
        #expect(revoked.allSatisfy { held.contains($0) }, "sleeper did not learn the revocation: \(held)")
        #expect(try await eventually { connectedPeers(try await a.json(["status"])).contains("sleeper") })
        // It refuses the revoked certificate itself: its ping to member fails on the revocation, not on trust.
        let ping = try await c.gt(["node", "ping", addressB])
        #expect(ping.status == 1 && ping.stderr.contains("revoked"), "\(ping)")
        #expect(try String(contentsOfFile: a.paths.pki.tokensFile.path, encoding: .utf8) == tokens, "no new join")
        let events = try String(contentsOfFile: c.paths.eventsFile, encoding: .utf8)
        #expect(events.contains("\"trust_caught_up\""))

        // Down again through a revocation alone (same CA, so the link verifies): the digest exchange on connect
        // brings it.
        let d = try await TestTown(in: directory, name: "extra")
        let token = try await a.ok(["cluster", "token"]).trimmingCharacters(in: .whitespacesAndNewlines)
        try await d.ok(["node", "join", addressA, token])
        let again = try #require(c.recordedPid)
        #expect(kill(again, SIGTERM) == 0)
        #expect(await eventually { !isAlive(again) })
        let extra = try #require(try await a.json(["node", "cert", "revoke", "extra"])["serials"] as? [String])
        try await c.ok(["up", "--listen", "127.0.0.1:0"])
        #expect(
            try await eventually(20) {
                let text = (try? String(contentsOfFile: c.paths.pki.revocationsFile.path, encoding: .utf8)) ?? ""
                return extra.allSatisfy { text.contains($0) }
            }, "sleeper did not learn the second revocation on connect")
        _ = addressC
        try await a.ok(["down"])
        try await c.ok(["down"])
    }

    @Test func renameThisNodeAndItsRefusals() async throws {
        let directory = try TempDir(prefix: "gt-node-rename")
        let a = try await TestTown(in: directory, name: "ca-node")
        let b = try await TestTown(in: directory, name: "member")
        let c = try await TestTown(in: directory, name: "other")
        defer {
            a.stopEverything()
            b.stopEverything()
            c.stopEverything()
        }
        try await a.ok(["cluster", "init"])
        let addressA = try #require(try await a.json(["up", "--listen", "127.0.0.1:0"])["listen"] as? String)
        for town in [b, c] {
            let token = try await a.ok(["cluster", "token"]).trimmingCharacters(in: .whitespacesAndNewlines)
            try await town.ok(["node", "join", addressA, token])
            try await town.ok(["up", "--listen", "127.0.0.1:0"])
        }
        #expect(
            try await eventually { connectedPeers(try await a.json(["status"])).isSuperset(of: ["member", "other"]) })
        let oldSerial = try #require(try await b.json(["node", "cert", "show"])["serial"] as? String)

        // Refused, nothing changed: another node, a bad name, the CA node's name, a name in use.
        let remote = try await b.gt(["node", "rename", "other", "x"])
        #expect(remote.status == 1 && remote.stderr.contains("not this town's node"), "\(remote)")
        let bad = try await b.gt(["node", "rename", "member", "Bad_Name"])
        #expect(bad.status == 2, "\(bad)")
        let caName = try await b.gt(["node", "rename", "member", "ca-node"])
        #expect(caName.status == 1 && caName.stderr.contains("CA node"), "\(caName)")
        let inUse = try await b.gt(["node", "rename", "member", "other"])
        #expect(inUse.status == 1 && inUse.stderr.contains("already holds a certificate"), "\(inUse)")
        #expect(try await b.json(["status"])["name"] as? String == "member", "still running as member")

        let renamedText = try await b.gt(["node", "rename", "member", "member-two"])
        print("gt node rename:\n\(renamedText.stdout)\(renamedText.stderr)")
        try #require(renamedText.status == 0)
        try await b.ok(["up", "--listen", "127.0.0.1:0"])
        #expect(try await eventually { connectedPeers(try await b.json(["status"])).contains("ca-node") })
        let renamed = try await b.json(["node", "rename", "member-two", "member-three"])
        #expect(renamed["new"] as? String == "member-three")
        #expect(!(renamed["revoked"] as? [String] ?? []).isEmpty, "\(renamed)")
        #expect(try await eventually { try await b.json(["status"])["running"] as? Bool == false })
        let town = try String(contentsOfFile: b.paths.townFile, encoding: .utf8)
        #expect(town.contains("member-three"))

        try await b.ok(["up", "--listen", "127.0.0.1:0"])
        #expect(try await b.json(["node", "cert", "show"])["subject"] as? String == "member-three")
        #expect(try await eventually { connectedPeers(try await a.json(["status"])).contains("member-three") })
        #expect(
            try await eventually { try await a.json(["node", "cert", "show", "member"])["revoked"] as? Bool == true })
        let issued = try String(contentsOfFile: a.paths.pki.revocationsFile.path, encoding: .utf8)
        #expect(issued.contains(oldSerial), "the old name's certificate is revoked")
        // The old name is free again: a new town joins under it without --replace.
        let d = try await TestTown(in: directory, name: "fresh")
        let token = try await a.ok(["cluster", "token"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let joined = try await d.json(["node", "join", addressA, token, "--node-name", "member"])
        #expect(joined["node"] as? String == "member")
        try await a.ok(["down"])
        try await b.ok(["down"])
        try await c.ok(["down"])
    }
}
