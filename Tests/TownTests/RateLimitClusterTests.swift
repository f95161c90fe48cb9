import Beads
import Foundation
import GasTownTestKit
import Node
import Testing
import Town

/// Rate limits, cluster-wide (docs/health.md), across two real nodes on loopback (`gt up` processes, one cluster
/// CA, one ledger remote): a scripted `exec` agent on alpha prints a Claude-style usage-limit message and waits;
/// alpha's Witness marks the `exec` account limited, alpha publishes it in its membership metadata, and beta's
/// Mayor, once gossip brings it, no longer places `exec` work on either node (they share the account): the sling
/// is queued with a message naming the account and its reset. About ten seconds.
@Suite(.serialized) struct RateLimitClusterTests {
    func json(_ output: BuiltBinaries.Output) -> [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any]
    }

    @Test func aLimitSeenOnOneNodeStopsPlacementOnEveryNode() async throws {
        try await TownFixture.with(name: "alpha") { a in
            try await TownFixture.with(name: "beta") { b in
                let ledgerRemote = a.directory.join("ledger.git")
                try await TownFixture.git(["init", "-q", "--bare", ledgerRemote], cwd: a.directory.path)
                let rigRemote = a.directory.join("remote.git")
                try await TownFixture.git(["clone", "-q", "--bare", a.source, rigRemote], cwd: a.directory.path)
                try MayorClusterTests.configure(a, slots: 4, grace: 60)
                try MayorClusterTests.configure(b, slots: 4, grace: 60)
                try expectOK(try await a.gt(["cluster", "init", "--name", "acme"]))
                let address = try await a.upWithAddress()
                let token = try await a.gt(["cluster", "token", "--name", b.layout.nodeName()])
                try expectOK(token)
                try expectOK(
                    try await b.gt([
                        "node", "join", address, token.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                    ]))
                _ = try await b.upWithAddress()
                try a.directory.write(
                    "limited.sh",
                    """
                    #!/bin/sh
                    echo "working on $GT_BEAD"
                    echo "Claude usage limit reached. Your limit will reset in 2 hours."
                    sleep 600
                    """)
                for town in [a, b] {
                    try expectOK(try await town.bd(["remote", "add", "origin", ledgerRemote]))
                    let agent = town === a ? a.directory.join("limited.sh") : try town.writeAgent()
                    try expectOK(
                        try await town.gt([
                            "rig", "add", "demo", rigRemote, "--runtime", "exec:'sh \(agent)'", "--max-polecats", "4",
                        ]))
                }
                let (alpha, beta) = (a.layout.nodeName(), b.layout.nodeName())
                var seen: [String: [String: Any]] = [:]
                let ready = try await a.waitUntil(timeout: .seconds(90)) {
                    seen = try await b.members()
                    return [alpha, beta].allSatisfy { name in
                        seen[name]?["status"] as? String == "alive"
                            && (seen[name]?["rigs"] as? [String])?.contains("demo") == true
                    }
                }
                #expect(ready, "membership did not converge: \(seen)")

                // Alpha's agent hits its limit.
                let first = try await a.createBead("First", scope: "demo")
                let slung = try await a.gt(["sling", first, "--node", alpha, "--json"])
                try expectOK(slung)
                #expect(json(slung)?["status"] as? String == "admitted", "\(slung.stdout)")
                var health: [String: Any] = [:]
                let marked = try await a.waitUntil(timeout: .seconds(60)) {
                    health = json(try await a.gt(["health", "--json"])) ?? [:]
                    let limits = health["rate_limits"] as? [[String: Any]] ?? []
                    return limits.contains { $0["account"] as? String == "exec" }
                }
                #expect(marked, "alpha's Witness did not mark the exec account: \(health)")

                // Beta learns it from alpha's metadata (gossip), shows it, and places no exec work anywhere.
                var status: [String: Any] = [:]
                let learned = try await b.waitUntil(timeout: .seconds(60)) {
                    status = json(try await b.gt(["status", "--json"])) ?? [:]
                    let limits = (status["cluster"] as? [String: Any])?["rate_limits"] as? [[String: Any]] ?? []
                    return limits.contains { $0["account"] as? String == "exec" && $0["node"] as? String == alpha }
                }
                #expect(learned, "beta's Mayor does not see alpha's limit: \(status)")
                let second = try await b.createBead("Second", scope: "demo")
                let placed = try await b.gt(["sling", second, "--json"])
                try expectOK(placed)
                let reply = try #require(json(placed), "\(placed)")
                #expect(reply["status"] as? String == "queued", "\(reply)")
                let reason = reply["reason"] as? String ?? ""
                #expect(reason.contains("runtime exec is rate-limited on every node"), "\(reason)")
                #expect(reason.contains("account exec until 20") && reason.contains("(seen on \(alpha))"), "\(reason)")
                let events = try String(contentsOfFile: b.layout.stateDirectory + "/events.jsonl", encoding: .utf8)
                let limitedEvent = events.split(separator: "\n").contains {
                    $0.contains("\"mayor-rate-limited\"") && $0.contains(second)
                }
                #expect(limitedEvent, "no mayor-rate-limited event on beta")
                let queue = try await b.gt(["mayor", "queue"])
                #expect(queue.stdout.contains(second), "\(queue)")
                let secondBead = try await b.beads(scope: "demo").first { $0.id == second }
                #expect(secondBead?.assignee == "" && secondBead?.status == .open, "a queued bead stays open")
                var betaHealth: [String: Any] = [:]
                let shown = try await b.waitUntil(timeout: .seconds(30)) {
                    betaHealth = json(try await b.gt(["health", "--json"])) ?? [:]
                    let limits = betaHealth["cluster_rate_limits"] as? [[String: Any]] ?? []
                    return limits.contains { $0["account"] as? String == "exec" }
                }
                #expect(shown, "beta's gt health does not show the cluster's limit: \(betaHealth)")
            }
        }
    }
}
