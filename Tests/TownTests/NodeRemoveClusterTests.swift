import Beads
import Foundation
import GasTownTestKit
import Node
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `gt node remove` across three real nodes (separate towns and processes, one CA, one ledger remote, scripted
/// `exec` agents). The failover grace is ten minutes, so only the removal can move the dead node's work: beta is
/// killed with `kill -9` while its agent works; `gt node remove beta` on the CA node revokes it, marks it left and
/// re-slings its bead, which finishes on another node; beta's certificate no longer connects (to the CA node or to
/// gamma), and its name is free for a new join without --replace. Bad input first: a live node, a non-CA node, a
/// rename of a node holding work; each refused with nothing changed.
@Suite(.serialized) struct NodeRemoveClusterTests {
    @Test func aDeadNodeIsRemovedItsWorkFinishesElsewhereAndItsCertificateNoLongerConnects() async throws {
        try await TownFixture.with(name: "alpha") { a in
            try await TownFixture.with(name: "beta") { b in
                try await TownFixture.with(name: "gamma") { c in
                    let towns = [a, b, c]
                    let ledgerRemote = a.directory.join("ledger.git")
                    try await TownFixture.git(["init", "-q", "--bare", ledgerRemote], cwd: a.directory.path)
                    let rigRemote = a.directory.join("remote.git")
                    try await TownFixture.git(["clone", "-q", "--bare", a.source, rigRemote], cwd: a.directory.path)
                    for town in towns { try MayorClusterTests.configure(town, slots: 2, grace: 600) }
                    try expectOK(try await a.gt(["cluster", "init", "--name", "acme"]))
                    let addressA = try await a.upWithAddress()
                    var addresses: [String: String] = [:]
                    for town in [b, c] {
                        let name = town.layout.nodeName()
                        let token = try await a.gt(["cluster", "token", "--name", name])
                        try expectOK(token)
                        try expectOK(
                            try await town.gt([
                                "node", "join", addressA, token.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                            ]))
                        addresses[name] = try await town.upWithAddress()
                    }
                    for town in towns {
                        try expectOK(try await town.bd(["remote", "add", "origin", ledgerRemote]))
                        let agent = try town.writeAgent(delay: 6)
                        try expectOK(
                            try await town.gt([
                                "rig", "add", "demo", rigRemote, "--runtime", "exec:'sh \(agent)'", "--max-polecats",
                                "4",
                            ]))
                    }
                    let (alpha, beta, gamma) = (a.layout.nodeName(), b.layout.nodeName(), c.layout.nodeName())
                    var seen: [String: [String: Any]] = [:]
                    let ready = try await a.waitUntil(timeout: .seconds(90)) {
                        seen = try await a.members()
                        return [alpha, beta, gamma].allSatisfy { name in
                            seen[name]?["status"] as? String == "alive"
                                && (seen[name]?["rigs"] as? [String])?.contains("demo") == true
                        }
                    }
                    #expect(ready, "membership did not converge: \(seen)")

                    // Refused, nothing changed: a live node, a node without the CA key, an unknown name.
                    let live = try await a.gt(["node", "remove", gamma])
                    #expect(live.status == 1, "\(live)")
                    #expect(
                        live.stderr.contains("gt node drain --move") && live.stderr.contains("gt node leave"), "\(live)"
                    )
                    #expect(try await a.members()[gamma]?["status"] as? String == "alive")
                    let notCA = try await c.gt(["node", "remove", beta])
                    #expect(notCA.status == 1 && notCA.stderr.contains("CA node"), "\(notCA)")
                    let unknown = try await a.gt(["node", "remove", "nosuchnode"])
                    #expect(unknown.status == 1 && unknown.stderr.contains("no member named nosuchnode"), "\(unknown)")

                    // Work on beta's hook.
                    let id = try await a.createBead("Work on beta", scope: "demo")
                    let sling = try await a.gt(["sling", id, "--node", beta, "--json"])
                    try expectOK(sling)
                    let slung = try #require(
                        try JSONSerialization.jsonObject(with: Data(sling.stdout.utf8)) as? [String: Any])
                    #expect(slung["node"] as? String == beta, "\(sling.stdout)")
                    // beta cannot be renamed while it holds the bead.
                    let rename = try await b.gt(["node", "rename", beta, "beta-two"])
                    #expect(rename.status == 1 && rename.stderr.contains("gt node drain --move"), "\(rename)")

                    let victim = try #require(b.nodePID())
                    #expect(kill(victim, SIGKILL) == 0)
                    try? await b.tmux.killServer()
                    let dead = try await a.waitUntil(timeout: .seconds(30)) {
                        try await a.members()[beta]?["status"] as? String == "failed"
                    }
                    #expect(dead, "alpha does not see beta failed")

                    let removed = try await a.gt(["node", "remove", beta, "--json"])
                    try expectOK(removed)
                    print("gt node remove --json:\n\(removed.stdout)")
                    let report = try #require(
                        try JSONSerialization.jsonObject(with: Data(removed.stdout.utf8)) as? [String: Any])
                    #expect(report["status_before"] as? String == "failed", "\(removed.stdout)")
                    #expect(report["membership"] as? String == "left", "\(removed.stdout)")
                    #expect(!(report["revoked"] as? [String] ?? []).isEmpty, "\(removed.stdout)")
                    let moved = report["moved"] as? [[String: Any]] ?? []
                    #expect(moved.count == 1 && moved.first?["bead"] as? String == id, "\(removed.stdout)")
                    #expect(moved.first?["status"] as? String == "admitted", "\(removed.stdout)")
                    #expect([alpha, gamma].contains(moved.first?["node"] as? String ?? ""), "\(removed.stdout)")

                    // A second run finds nothing left to do and says so (its text output is in docs/operations.md).
                    let again = try await a.gt(["node", "remove", beta])
                    try expectOK(again)
                    print("gt node remove (again):\n\(again.stdout)")
                    #expect(
                        again.stdout.contains("no certificate left to revoke")
                            && again.stdout.contains("it held no beads"), "\(again)")

                    // The work finishes elsewhere: a merge request from a branch of another node, at a new epoch.
                    var branch = ""
                    let finished = try await a.waitUntil(timeout: .seconds(60)) {
                        for mr in try await a.beads(scope: "demo") where mr.issueType == .mergeRequest {
                            if mr.metadataString("source_bead") == id { branch = mr.metadataString("branch") ?? "" }
                        }
                        return !branch.isEmpty
                    }
                    #expect(finished, "the removed node's bead did not finish elsewhere")
                    #expect(!branch.contains("/\(beta)/"), "\(branch)")
                    let bead = try await a.beads(scope: "demo").first { $0.id == id }
                    #expect((bead?.leaseEpoch ?? 0) >= 2, "\(String(describing: bead))")

                    // Every node lists beta as left (it no longer counts for the majority rule).
                    let leftEverywhere = try await a.waitUntil(timeout: .seconds(20)) {
                        let onA = try await a.members()[beta]?["status"] as? String
                        let onC = try await c.members()[beta]?["status"] as? String
                        return onA == "left" && onC == "left"
                    }
                    #expect(leftEverywhere)

                    // beta's certificate no longer connects: not to the CA node, not to gamma (the revocation
                    // spread), and the CA node records the refusal as a revocation.
                    let toA = try await b.gt(["node", "ping", addressA])
                    #expect(toA.status != 0, "\(toA)")
                    let toC = try await b.gt(["node", "ping", addresses[gamma] ?? ""])
                    #expect(toC.status != 0, "\(toC)")
                    let refusals = try await a.gt(["status", "--json"])
                    #expect(refusals.stdout.contains("revoked"), "\(refusals.stdout)")

                    // The name is free: a fresh identity joins as beta without --replace.
                    try FileManager.default.removeItem(atPath: b.town + "/.gt/pki")
                    let token = try await a.gt(["cluster", "token", "--name", beta])
                    try expectOK(token)
                    let rejoin = try await b.gt([
                        "node", "join", addressA, token.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                    ])
                    #expect(rejoin.status == 0, "\(rejoin)")
                    for town in towns { await town.cleanUp() }
                }
            }
        }
    }
}
