import Beads
import Foundation
import GasTownTestKit
import Node
import Testing
import Town

#if canImport(Glibc)
    import Glibc
#endif

/// The issue's main multi-process test: three real nodes on loopback (separate towns, one cluster CA, one ledger
/// remote, the same two rigs added on each from one git remote each, scripted `exec` agents). A convoy of 12 beads in
/// the two rigs is launched from one node: its Mayor places the work by capacity (every node runs some), every bead
/// merges through the rigs' Refineries, the convoy lands once, and no bead is worked twice. A node holding hooked
/// work is killed with `kill -9`: its beads are re-slung at a new epoch and finish on the others, and the convoy
/// still lands.
@Suite(.serialized) struct ConvoyClusterTests {
    static let rigs = ["demo", "ops"]

    /// town.json: `slots` per node, a short failover grace, a fast Refinery and convoy patrol.
    static func configure(_ town: TownFixture, slots: Int, grace: Double) throws {
        let path = town.layout.townFile
        let data = try #require(FileManager.default.contents(atPath: path))
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var node = object["node"] as? [String: Any] ?? [:]
        node["slots"] = slots
        object["node"] = node
        object["placement"] = ["failover_grace_seconds": grace] as [String: Any]
        object["refinery"] = ["lease_renew_seconds": 1, "lease_grace_seconds": 4, "poll_seconds": 1]
        object["convoy"] = ["poll_seconds": 1, "landing_grace_seconds": 10]
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: path))
    }

    /// The merge requests of every rig: their branches, by source bead.
    func requests(_ town: TownFixture) async throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        for rig in Self.rigs {
            for mr in try await town.beads(scope: rig) where mr.issueType == .mergeRequest {
                if let source = mr.metadataString("source_bead") {
                    out[source, default: []].append(mr.metadataString("branch") ?? "")
                }
            }
        }
        return out
    }

    func object(_ town: TownFixture, _ arguments: [String]) async throws -> [String: Any] {
        let output = try await town.gt(arguments + ["--json"])
        try expectOK(output)
        return try #require(
            try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any], "\(output)")
    }

    @Test func aConvoyLaunchedFromOneNodeSpreadsOverThreeLandsOnceAndSurvivesAKilledNode() async throws {
        try await TownFixture.with(name: "alpha") { a in
            try await TownFixture.with(name: "beta") { b in
                try await TownFixture.with(name: "gamma") { c in
                    let towns = [a, b, c]
                    let ledgerRemote = a.directory.join("ledger.git")
                    try await TownFixture.git(["init", "-q", "--bare", ledgerRemote], cwd: a.directory.path)
                    var rigRemotes: [String: String] = [:]
                    for rig in Self.rigs {
                        let remote = a.directory.join("\(rig).git")
                        try await TownFixture.git(["clone", "-q", "--bare", a.source, remote], cwd: a.directory.path)
                        rigRemotes[rig] = remote
                    }
                    for town in towns { try Self.configure(town, slots: 4, grace: 2) }
                    try expectOK(try await a.gt(["cluster", "init", "--name", "acme"]))
                    let address = try await a.upWithAddress()
                    for town in [b, c] {
                        let token = try await a.gt(["cluster", "token", "--name", town.layout.nodeName()])
                        try expectOK(token)
                        try expectOK(
                            try await town.gt([
                                "node", "join", address, token.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                            ]))
                        _ = try await town.upWithAddress()
                    }
                    for town in towns {
                        try expectOK(try await town.bd(["remote", "add", "origin", ledgerRemote]))
                        // Long enough for the kill to find hooked work, short enough for a modest run.
                        let agent = try town.writeAgent(delay: 8)
                        for rig in Self.rigs {
                            try expectOK(
                                try await town.gt([
                                    "rig", "add", rig, rigRemotes[rig]!, "--runtime", "exec:'sh \(agent)'",
                                    "--max-polecats", "12",
                                ]))
                        }
                    }
                    let names = towns.map { $0.layout.nodeName() }
                    var seen: [String: [String: Any]] = [:]
                    let ready = try await a.waitUntil(timeout: .seconds(90)) {
                        seen = try await a.members()
                        return names.allSatisfy { name in
                            seen[name]?["status"] as? String == "alive"
                                && Set((seen[name]?["rigs"] as? [String]) ?? []).isSuperset(of: Self.rigs)
                        }
                    }
                    try #require(ready, "membership did not converge: \(seen)")

                    // Twelve beads, six per rig, in one convoy launched from alpha.
                    var beads: [String] = []
                    for i in 1...12 {
                        beads.append(try await a.createBead("Work \(i)", scope: Self.rigs[i % 2]))
                    }
                    try expectOK(try await a.gt(["convoy", "create", "Spread", "--human"] + beads))
                    let launch = try await object(a, ["convoy", "launch", "Spread"])
                    let slung = try #require(launch["slung"] as? [[String: Any]], "\(launch)")
                    for sling in slung {
                        #expect(names.contains(sling["node"] as? String ?? ""), "sling results name the node: \(sling)")
                    }
                    // The launch and the node's patrol place all twelve (4 slots on each of 3 nodes): each node's
                    // sling events say what it runs.
                    var placed: [String: String] = [:]
                    let allPlaced = try await a.waitUntil(timeout: .seconds(60)) {
                        placed = [:]
                        for town in towns {
                            for event in TownEvents.read(town.layout.eventsFile) where event["type"] == "sling" {
                                if let bead = event["bead"] { placed[bead] = town.layout.nodeName() }
                            }
                        }
                        return Set(placed.keys) == Set(beads)
                    }
                    #expect(allPlaced, "not every bead was slung: \(placed)")
                    #expect(Set(placed.values) == Set(names), "every node runs some of the convoy: \(placed)")
                    let failures = TownEvents.read(a.layout.eventsFile).filter { $0["type"] == "convoy_sling_failed" }
                    #expect(failures.isEmpty, "no convoy sling failed: \(failures)")

                    // kill -9 beta while its agents work (by pid): its beads are re-slung and finish elsewhere.
                    let victim = b.layout.nodeName()
                    let victimBeads = placed.filter { $0.value == victim }.map(\.key).sorted()
                    #expect(!victimBeads.isEmpty, "beta holds hooked work: \(placed)")
                    let victimPID = try #require(b.nodePID())
                    #expect(kill(victimPID, SIGKILL) == 0)
                    try? await b.tmux.killServer()

                    var view: [String: Any] = [:]
                    let landed = try await a.waitUntil(timeout: .seconds(240)) {
                        view = (try? await object(a, ["convoy", "status", "Spread"])) ?? view
                        return view["status"] as? String == "landed"
                    }
                    #expect(landed, "the convoy did not land: \(view)")
                    #expect(view["done"] as? Int == 12, "\(view)")
                    #expect(names.contains(view["landed_by"] as? String ?? ""), "\(view)")

                    // Everything merged through the Refinery, each bead once; the victim's on other nodes.
                    let counts = try await requests(a)
                    for id in beads {
                        #expect(counts[id]?.count == 1, "\(id) filed \(counts[id]?.count ?? 0) merge requests")
                    }
                    var final: [Bead] = []
                    for rig in Self.rigs { final += try await a.beads(scope: rig) }
                    for id in beads {
                        let bead = final.first { $0.id == id }
                        #expect(bead?.status == .closed, "\(id): \(String(describing: bead))")
                        let commit = bead?.metadataString("merge_commit") ?? ""
                        #expect(commit.count == 40, "\(id) has no merge commit: '\(commit)'")
                    }
                    for id in victimBeads {
                        let branch = counts[id]?.first ?? ""
                        #expect(!branch.isEmpty && !branch.contains("/\(victim)/"), "\(id) finished on \(branch)")
                        let bead = final.first { $0.id == id }
                        #expect((bead?.leaseEpoch ?? 0) >= 2, "\(id) re-slung at a new epoch")
                    }
                    // No bead slung twice except the victim's (once on beta, once after the failover).
                    var slings: [String: Int] = [:]
                    var landings = 0
                    for town in towns {
                        for event in TownEvents.read(town.layout.eventsFile) {
                            if event["type"] == "sling", let bead = event["bead"] { slings[bead, default: 0] += 1 }
                            if event["type"] == "convoy_landed" { landings += 1 }
                        }
                    }
                    for id in beads {
                        let expected = victimBeads.contains(id) ? 2 : 1
                        #expect(slings[id] == expected, "\(id) slung \(slings[id] ?? 0) times")
                    }
                    #expect(landings == 1, "the convoy landed \(landings) times")
                    for town in towns { await town.cleanUp() }
                }
            }
        }
    }
}
