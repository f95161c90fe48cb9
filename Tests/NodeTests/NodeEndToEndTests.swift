import Foundation
import GasTownTestKit
import Node
import Testing

/// The built `gt` binary end to end: two towns, a cluster CA, a join over the wire, pings both ways,
/// a replayed token, a revocation, restarts. Every node process is killed by pid in a defer.
@Suite(.serialized)
struct NodeEndToEndTests {
    @Test func clusterInitJoinPingRevokeDown() async throws {
        let directory = try TempDir(prefix: "gt-node-e2e")
        let a = try await TestTown(in: directory, name: "alpha")
        let b = try await TestTown(in: directory, name: "beta")
        let c = try await TestTown(in: directory, name: "gamma")
        defer {
            a.stopEverything()
            b.stopEverything()
            c.stopEverything()
        }

        let initialized = try await a.json(["cluster", "init", "--name", "acme"])
        let caFingerprint = try #require(initialized["ca_fingerprint"] as? String)
        #expect(initialized["node"] as? String == "alpha")
        #expect(FileManager.default.fileExists(atPath: a.paths.pki.caKey.path))
        let again = try await a.gt(["cluster", "init"])
        #expect(again.status == 1 && again.stderr.contains("already part of a cluster"))

        let upA = try await a.json(["up", "--listen", "127.0.0.1:0"])
        let addressA = try #require(upA["listen"] as? String)
        #expect(try #require(a.runtime).listen == addressA)
        #expect(a.recordedPid == a.runtime?.pid)

        let token = try await a.ok(["cluster", "token"]).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.hasPrefix("GTJ1-") && token.hasSuffix(caFingerprint))
        let joined = try await b.json(["node", "join", addressA, token])
        #expect(joined["node"] as? String == "beta")
        #expect(joined["ca_fingerprint"] as? String == caFingerprint)

        // The same token again (from another town) is refused, and nothing is written there.
        let replay = try await c.gt(["node", "join", addressA, token])
        #expect(replay.status == 1)
        #expect(replay.stderr.contains("already used"))
        #expect(!FileManager.default.fileExists(atPath: c.paths.pki.nodeCertificate.path))

        let upB = try await b.json(["up", "--listen", "127.0.0.1:0", "--join", addressA])
        let addressB = try #require(upB["listen"] as? String)
        #expect(try await eventually { connectedPeers(try await a.json(["status"])).contains("beta") })
        #expect(try await eventually { connectedPeers(try await b.json(["status"])).contains("alpha") })

        // Pings both ways print the peer's verified identity and round-trip times.
        let pingAB = try await a.json(["node", "ping", addressB])
        #expect(pingAB["peer"] as? String == "beta")
        #expect(pingAB["ca_fingerprint"] as? String == caFingerprint)
        #expect((pingAB["round_trips_ms"] as? [Double])?.count == 3)
        let pingBA = try await b.ok(["node", "ping", addressA])
        #expect(pingBA.contains("PONG from alpha"))
        #expect(pingBA.contains(caFingerprint))
        #expect(pingBA.contains("rtt:"))

        // beta renews over the wire on request; alpha sees the new certificate once beta redials.
        let serialBefore = try #require(try await b.json(["node", "cert", "show"])["serial"] as? String)
        let renewed = try await b.json(["node", "cert", "renew"])
        let serialAfter = try #require(renewed["serial"] as? String)
        #expect(serialAfter != serialBefore)
        #expect(try await b.json(["node", "cert", "show"])["serial"] as? String == serialAfter)
        #expect(
            try await eventually {
                try await a.json(["node", "cert", "show", "beta"])["serial"] as? String == serialAfter
            })

        // The CA node saw beta's certificates; revoking them drops beta's links and refuses its pings.
        let shown = try await a.json(["node", "cert", "show", "beta"])
        #expect(shown["revoked"] as? Bool == false)
        let revoked = try await a.json(["node", "cert", "revoke", "beta"])
        #expect(Set(revoked["serials"] as? [String] ?? []) == [serialBefore, serialAfter])
        #expect(revoked["applied"] as? Bool == true)
        #expect(try await eventually { !connectedPeers(try await a.json(["status"])).contains("beta") })
        #expect(try await eventually { !connectedPeers(try await b.json(["status"])).contains("alpha") })
        let refusedBA = try await b.gt(["node", "ping", addressA])
        #expect(refusedBA.status == 1)
        let refusedAB = try await a.gt(["node", "ping", addressB])
        #expect(refusedAB.status == 1)
        #expect(refusedAB.stderr.contains("revoked"))
        #expect(try await a.json(["node", "cert", "show", "beta"])["revoked"] as? Bool == true)
        let refusals = try await a.json(["status"])["refusals"] as? [String] ?? []
        #expect(refusals.contains { $0.contains("revoked") })
        // Still refused a few seconds later (beta keeps redialing, alpha keeps refusing).
        try await Task.sleep(nanoseconds: 1_500_000_000)
        #expect(!connectedPeers(try await a.json(["status"])).contains("beta"))

        // Both stop by pid; the socket and node.json are removed.
        let pidA = try #require(a.recordedPid)
        let pidB = try #require(b.recordedPid)
        #expect(try await a.json(["down"])["stopped"] as? Bool == true)
        #expect(try await b.json(["down"])["stopped"] as? Bool == true)
        #expect(!isAlive(pidA) && !isAlive(pidB))
        for town in [a, b] {
            #expect(!FileManager.default.fileExists(atPath: town.paths.socket))
            #expect(!FileManager.default.fileExists(atPath: town.paths.runtimeFile))
            #expect(try await town.json(["status"])["running"] as? Bool == false)
        }
        let events = try String(contentsOfFile: a.paths.eventsFile, encoding: .utf8)
        #expect(events.contains("\"peer_revoked\""))
        #expect(events.contains("\"node_stopping\""))
    }

    @Test func caRotationReachesEveryNode() async throws {
        let directory = try TempDir(prefix: "gt-node-rotate")
        let a = try await TestTown(in: directory, name: "ca-node")
        let b = try await TestTown(in: directory, name: "member")
        defer {
            a.stopEverything()
            b.stopEverything()
        }
        let oldCA = try #require(try await a.json(["cluster", "init"])["ca_fingerprint"] as? String)
        let addressA = try #require(try await a.json(["up", "--listen", "127.0.0.1:0"])["listen"] as? String)
        let token = try await a.ok(["cluster", "token"]).trimmingCharacters(in: .whitespacesAndNewlines)
        try await b.ok(["node", "join", addressA, token])
        let addressB = try #require(
            try await b.json(["up", "--listen", "127.0.0.1:0", "--join", addressA])["listen"] as? String)
        #expect(try await eventually { connectedPeers(try await a.json(["status"])).contains("member") })

        let started = try await a.json(["cluster", "rotate-ca"])
        let newCA = try #require(started["ca_fingerprint"] as? String)
        #expect(newCA != oldCA)
        #expect(started["previous_ca_fingerprint"] as? String == oldCA)
        #expect(started["notified"] as? [String] == ["member"])
        // The member trusts both, then renews from the new CA over the wire.
        #expect(
            try await eventually { try await b.json(["node", "cert", "show"])["ca_fingerprint"] as? String == newCA })
        #expect(FileManager.default.fileExists(atPath: b.paths.pki.previousCACertificate.path))
        #expect(try await eventually { (try await a.gt(["node", "ping", addressB])).status == 0 })
        #expect(try await a.json(["node", "ping", addressB])["ca_fingerprint"] as? String == newCA)
        #expect(try await b.json(["node", "ping", addressA])["ca_fingerprint"] as? String == newCA)

        let completed = try await a.json(["cluster", "rotate-ca", "--complete"])
        #expect(completed["phase"] as? String == "completed")
        #expect(
            try await eventually { !FileManager.default.fileExists(atPath: b.paths.pki.previousCACertificate.path) })
        #expect(!FileManager.default.fileExists(atPath: a.paths.pki.previousCACertificate.path))
        #expect(try await eventually { (try await b.gt(["node", "ping", addressA])).status == 0 })
        try await a.ok(["down"])
        try await b.ok(["down"])
    }

    @Test func killNineThenUpAgain() async throws {
        let directory = try TempDir(prefix: "gt-node-restart")
        let a = try await TestTown(in: directory, name: "solo")
        defer { a.stopEverything() }
        try await a.ok(["cluster", "init"])
        try await a.ok(["up", "--listen", "127.0.0.1:0"])
        let first = try #require(a.recordedPid)
        #expect(kill(first, SIGKILL) == 0)
        #expect(await eventually { !isAlive(first) })
        // The dead node left its socket, node.json and pid file behind.
        #expect(FileManager.default.fileExists(atPath: a.paths.socket))
        #expect(try await a.json(["status"])["running"] as? Bool == false)

        let again = try await a.json(["up", "--listen", "127.0.0.1:0"])
        let second = try #require(a.recordedPid)
        #expect(second != first)
        #expect(again["pid"] as? Int == Int(second))
        #expect(try await a.json(["status"])["running"] as? Bool == true)
        // `gt up` on a running node says so and starts nothing.
        let third = try await a.json(["up"])
        #expect(third["pid"] as? Int == Int(second))
        try await a.ok(["down"])
        #expect(!isAlive(second))
        let down = try await a.ok(["down"])
        #expect(down.contains("not running"))
    }

    @Test func upReportsANodeThatDiesWhileStarting() async throws {
        let directory = try TempDir(prefix: "gt-node-dies")
        let a = try await TestTown(in: directory, name: "first")
        let b = try await TestTown(in: directory, name: "second")
        defer {
            a.stopEverything()
            b.stopEverything()
        }
        try await a.ok(["cluster", "init"])
        try await b.ok(["cluster", "init"])
        let addressA = try #require(try await a.json(["up", "--listen", "127.0.0.1:0"])["listen"] as? String)
        // The port is taken: the second node exits at once, and `gt up` shows why.
        let up = try await b.gt(["up", "--listen", addressA])
        #expect(up.status == 1)
        #expect(up.stderr.contains("exited while starting"))
        #expect(up.stderr.contains("listen on"))
        #expect(!FileManager.default.fileExists(atPath: b.paths.pidFile))
        #expect(try await b.json(["status"])["running"] as? Bool == false)
        try await a.ok(["down"])
    }

    @Test func clearErrorsWithoutIdentityOrNode() async throws {
        let directory = try TempDir(prefix: "gt-node-errors")
        let a = try await TestTown(in: directory, name: "bare")
        defer { a.stopEverything() }
        let up = try await a.gt(["up", "--listen", "127.0.0.1:0"])
        #expect(up.status == 1)
        #expect(up.stderr.contains("gt cluster init"))
        let run = try await a.gt(["node", "run", "--listen", "127.0.0.1:0"])
        #expect(run.status == 1)
        #expect(run.stderr.contains("gt node join"))
        let status = try await a.ok(["status"])
        #expect(status.contains("not running"))
        let badToken = try await a.gt(["node", "join", "127.0.0.1:1", "not-a-token"])
        #expect(badToken.status == 1)
        #expect(badToken.stderr.contains("GTJ1-"))
        let badAddress = try await a.gt(["node", "ping", "no where:x"])
        #expect(badAddress.status == 2)
        // A member's name is looked up by the running node only.
        let byName = try await a.gt(["node", "ping", "nowhere"])
        #expect(byName.status == 1 && byName.stderr.contains("only the running node knows"))
        let token = try await a.gt(["cluster", "token"])
        #expect(token.status == 1)
        #expect(token.stderr.contains("CA key"))
        #expect(!FileManager.default.fileExists(atPath: a.paths.pki.caCertificate.path))
    }
}
