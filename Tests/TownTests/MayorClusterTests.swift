import Beads
import Foundation
import GasTownTestKit
import Node
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The Mayor across three real nodes on loopback (separate towns, one cluster CA, one ledger remote, the same rig
/// added on each from one git remote, scripted `exec` agents): beads slung from one node spread over all three,
/// none is worked twice; `kill -9` of a node holding hooked work, and its beads finish on the others. Bad input
/// (`--node` unknown, a policy excluding every node, `--require` a label nobody has) changes nothing or queues with
/// the label named; the dead node, back, has its late `gt done` refused by epoch.
@Suite(.serialized) struct MayorClusterTests {
    /// town.json: two slots per node and a short failover grace.
    static func configure(_ town: TownFixture, slots: Int, grace: Double) throws {
        let path = town.layout.townFile
        let data = try #require(FileManager.default.contents(atPath: path))
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var node = object["node"] as? [String: Any] ?? [:]
        node["slots"] = slots
        object["node"] = node
        object["placement"] = [
            "failover_grace_seconds": grace, "rules": [["rig": "secret", "require": ["org": "nobody"]]],
        ] as [String: Any]
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: path))
    }

    /// The merge requests of rig demo: their branches, by source bead.
    func requests(_ town: TownFixture) async throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        for mr in try await town.beads(scope: "demo") where mr.issueType == .mergeRequest {
            if let source = mr.metadataString("source_bead") {
                out[source, default: []].append(mr.metadataString("branch") ?? "")
            }
        }
        return out
    }

    @Test func slungWorkSpreadsOverThreeNodesAndADeadNodesBeadsFinishElsewhere() async throws {
        try await TownFixture.with(name: "alpha") { a in
            try await TownFixture.with(name: "beta") { b in
                try await TownFixture.with(name: "gamma") { c in
                    let towns = [a, b, c]
                    let ledgerRemote = a.directory.join("ledger.git")
                    try await TownFixture.git(["init", "-q", "--bare", ledgerRemote], cwd: a.directory.path)
                    let rigRemote = a.directory.join("remote.git")
                    try await TownFixture.git(["clone", "-q", "--bare", a.source, rigRemote], cwd: a.directory.path)
                    for town in towns { try MayorClusterTests.configure(town, slots: 2, grace: 2) }
                    try expectOK(try await a.gt(["cluster", "init", "--name", "acme"]))
                    let address = try await a.upWithAddress()
                    for town in [b, c] {
                        let name = town.layout.nodeName()
                        let token = try await a.gt(["cluster", "token", "--name", name])
                        try expectOK(token)
                        try expectOK(
                            try await town.gt([
                                "node", "join", address, token.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                            ]))
                        _ = try await town.upWithAddress()
                    }
                    for town in towns {
                        try expectOK(try await town.bd(["remote", "add", "origin", ledgerRemote]))
                        // The agent works long enough for all six to be hooked at once, then commits and is done.
                        let agent = try town.writeAgent(delay: 12)
                        try expectOK(
                            try await town.gt([
                                "rig", "add", "demo", rigRemote, "--runtime", "exec:'sh \(agent)'", "--max-polecats",
                                "10",
                            ]))
                    }
                    let names = towns.map { $0.layout.nodeName() }
                    var seen: [String: [String: Any]] = [:]
                    let ready = try await a.waitUntil(timeout: .seconds(90)) {
                        seen = try await a.members()
                        return names.allSatisfy { name in
                            seen[name]?["status"] as? String == "alive"
                                && (seen[name]?["rigs"] as? [String])?.contains("demo") == true
                        }
                    }
                    #expect(ready, "membership did not converge: \(seen)")

                    // Bad input first: nothing changes.
                    let probe = try await a.createBead("Probe", scope: "demo")
                    let unknown = try await a.gt(["sling", probe, "--node", "nosuchnode"])
                    #expect(unknown.status != 0)
                    #expect(unknown.stderr.contains("no node nosuchnode in the cluster"), "\(unknown)")
                    let gpu = try await a.gt(["sling", probe, "--require", "gpu=h100", "--json"])
                    try expectOK(gpu)
                    let queued = try #require(
                        try JSONSerialization.jsonObject(with: Data(gpu.stdout.utf8)) as? [String: Any])
                    #expect(queued["status"] as? String == "queued", "\(gpu.stdout)")
                    #expect((queued["reason"] as? String ?? "").contains("gpu=h100"), "\(gpu.stdout)")
                    let probeBead = try await a.beads(scope: "demo").first { $0.id == probe }
                    #expect(probeBead?.assignee == "" && probeBead?.status == .open, "a queued bead stays open")
                    // A policy that keeps rig secret off every node: refused, nothing changed.
                    let policed = try await a.createBead("Policed", scope: "demo")
                    let refused = try await a.gt(["sling", policed, "secret", "--require", "os=linux"])
                    #expect(refused.status != 0)
                    #expect(refused.stderr.contains("placement policy excludes every node"), "\(refused)")
                    let policedBead = try await a.beads(scope: "demo").first { $0.id == policed }
                    #expect(policedBead?.assignee == "" && policedBead?.status == .open && policedBead?.leaseEpoch == 0)
                    let queue = try await a.gt(["mayor", "queue"])
                    #expect(!queue.stdout.contains(policed), "a refused bead is not queued: \(queue)")
                    #expect(queue.stdout.contains(probe) && queue.stdout.contains("gpu=h100"), "\(queue)")

                    // Six beads slung from alpha with no rig named: two slots per node, so all three get work.
                    var placed: [String: String] = [:]
                    var polecats: [String: String] = [:]
                    for i in 1...6 {
                        let id = try await a.createBead("Work \(i)", scope: "demo")
                        let output = try await a.gt(["sling", id, "--json"])
                        try expectOK(output)
                        let reply = try #require(
                            try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any])
                        #expect(reply["status"] as? String == "admitted", "\(output.stdout)")
                        placed[id] = reply["node"] as? String ?? ""
                        polecats[id] = reply["polecat"] as? String ?? ""
                    }
                    #expect(Set(placed.values) == Set(names), "every node gets work: \(placed)")
                    for name in names { #expect(placed.values.filter { $0 == name }.count == 2, "\(placed)") }

                    // gt agents on alpha lists the other nodes' agents from the shared ledger.
                    var agentsText = ""
                    let listed = try await a.waitUntil(timeout: .seconds(30)) {
                        agentsText = try await a.gt(["agents"]).stdout
                        return names.allSatisfy { agentsText.contains($0 + " ") || agentsText.contains($0 + "  ") }
                    }
                    #expect(listed, "\(agentsText)")

                    // kill -9 beta (by pid) while its two agents work: its beads are re-slung and finish elsewhere.
                    let victim = b.layout.nodeName()
                    let victimBeads = placed.filter { $0.value == victim }.map(\.key).sorted()
                    let victimPID = try #require(b.nodePID())
                    #expect(kill(victimPID, SIGKILL) == 0)
                    try? await b.tmux.killServer()
                    var counts: [String: [String]] = [:]
                    let finished = try await a.waitUntil(timeout: .seconds(180)) {
                        counts = try await requests(a)
                        return placed.keys.allSatisfy { counts[$0] != nil }
                    }
                    #expect(finished, "not every bead filed its merge request: \(counts)")
                    for (id, branches) in counts where placed[id] != nil {
                        #expect(branches.count == 1, "\(id) done \(branches.count) times: \(branches)")
                    }
                    for id in victimBeads {
                        // Finished on another node: the branch names the node that did the work.
                        let branch = counts[id]?.first ?? ""
                        #expect(!branch.contains("/\(victim)/") && !branch.isEmpty, "\(id) on \(branch)")
                    }
                    let final = try await a.beads(scope: "demo")
                    for id in victimBeads {
                        let bead = final.first { $0.id == id }
                        #expect((bead?.leaseEpoch ?? 0) >= 2, "\(id) was re-slung at a new epoch: \(String(describing: bead))")
                    }
                    let events =
                        (a.directory.read("alpha/.gt/events.jsonl") ?? "")
                        + (c.directory.read("gamma/.gt/events.jsonl") ?? "")
                    #expect(events.contains("mayor-failover"), "no failover event")

                    // beta comes back: once its ledger has the new epoch, its late gt done in the old worktree is
                    // refused by epoch, the worktree is kept, and nothing more is filed.
                    let late = try #require(victimBeads.first)
                    try await b.up()
                    let learned = try await b.waitUntil(timeout: .seconds(60)) {
                        (try await b.beads(scope: "demo").first { $0.id == late }?.leaseEpoch ?? 0) >= 2
                    }
                    #expect(learned, "beta's ledger did not learn the new epoch")
                    let worktree = b.town + "/demo/polecats/" + (polecats[late] ?? "")
                    #expect(FileManager.default.fileExists(atPath: worktree), "the dead node's worktree is kept")
                    let done = try await b.gt(["done"], cwd: worktree)
                    #expect(done.status != 0, "\(done)")
                    #expect(done.stderr.contains("lease epoch") && done.stderr.contains("may not finish"), "\(done)")
                    let after = try await requests(a)
                    #expect(after[late]?.count == 1, "\(String(describing: after[late]))")

                    // A molecule across the cluster: a formula of three parallel steps and a join, poured on alpha
                    // and its ready steps placed by the Mayor like beads; two slots per node, so they cannot all
                    // land on one node, and the join waits.
                    let formulas = a.town + "/.beads/formulas"
                    try FileManager.default.createDirectory(atPath: formulas, withIntermediateDirectories: true)
                    try """
                        formula = "fanout"
                        [[steps]]
                        id = "left"
                        title = "Left"
                        [[steps]]
                        id = "middle"
                        title = "Middle"
                        [[steps]]
                        id = "right"
                        title = "Right"
                        [[steps]]
                        id = "join"
                        title = "Join"
                        needs = ["left", "middle", "right"]
                        """.write(toFile: formulas + "/fanout.formula.toml", atomically: true, encoding: .utf8)
                    let back = try await a.waitUntil(timeout: .seconds(60)) {
                        let now = try await a.members()
                        return names.allSatisfy { now[$0]?["status"] as? String == "alive" }
                    }
                    #expect(back, "beta did not come back alive")
                    let feature = try await a.createBead("Feature", scope: "demo")
                    let sling = try await a.gt(["sling", "fanout", "--on", feature, "--json"])
                    try expectOK(sling)
                    let molecule = try #require(
                        try JSONSerialization.jsonObject(with: Data(sling.stdout.utf8)) as? [String: Any])
                    let steps = try #require(molecule["placed"] as? [[String: Any]], "\(sling.stdout)")
                    let root = molecule["molecule"] as? String ?? ""
                    #expect(molecule["poured"] as? Bool == true)
                    #expect((molecule["refused"] as? [String: Any])?.isEmpty == true, "\(sling.stdout)")
                    #expect(
                        Set(steps.compactMap { $0["bead"] as? String })
                            == [root + ".left", root + ".middle", root + ".right"], "\(sling.stdout)")
                    #expect(steps.allSatisfy { $0["status"] as? String == "admitted" }, "\(sling.stdout)")
                    #expect(Set(steps.compactMap { $0["node"] as? String }).count >= 2, "\(sling.stdout)")
                    let join = try await a.beads(scope: "demo").first { $0.id == root + ".join" }
                    #expect(join?.status == .open && join?.assignee == "", "the join waits for its steps")
                    for town in towns { await town.cleanUp() }
                }
            }
        }
    }
}
