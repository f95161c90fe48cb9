import Beads
import Foundation
import GasTownTestKit
import Node
import Testing

/// `gt node drain [--move]` and the cluster part of `gt status` on three real nodes on loopback (the fixture of
/// `MayorClusterTests`: one CA, one ledger remote, one rig remote, scripted `exec` agents).
@Suite(.serialized) struct MayorDrainTests {
    let cluster = MayorClusterTests()

    /// Forms the cluster of `towns` (the first holds the CA), each with rig demo whose agent works `delay` seconds.
    func form(_ towns: [TownFixture], slots: Int, delay: Double, agentScript: String? = nil) async throws {
        let a = towns[0]
        let ledgerRemote = a.directory.join("ledger.git")
        try await TownFixture.git(["init", "-q", "--bare", ledgerRemote], cwd: a.directory.path)
        let rigRemote = a.directory.join("remote.git")
        try await TownFixture.git(["clone", "-q", "--bare", a.source, rigRemote], cwd: a.directory.path)
        for town in towns { try MayorClusterTests.configure(town, slots: slots, grace: 60) }
        try expectOK(try await a.gt(["cluster", "init", "--name", "acme"]))
        let address = try await a.upWithAddress()
        for town in towns.dropFirst() {
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
            var agent = try town.writeAgent(delay: delay)
            if let agentScript {
                try town.directory.write("agent.sh", agentScript)
                agent = town.directory.join("agent.sh")
            }
            try expectOK(
                try await town.gt([
                    "rig", "add", "demo", rigRemote, "--runtime", "exec:'sh \(agent)'", "--max-polecats", "10",
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
    }

    func json(_ output: BuiltBinaries.Output) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any], "\(output)")
    }

    func sling(_ town: TownFixture, _ id: String, node: String? = nil) async throws -> [String: Any] {
        let output = try await town.gt(["sling", id, "--json"] + (node.map { ["--node", $0] } ?? []))
        try expectOK(output)
        let reply = try json(output)
        #expect(reply["status"] as? String == "admitted", "\(output.stdout)")
        return reply
    }

    @Test func drainStopsNewWorkAndDrainMoveHandsHookedWorkToOtherNodes() async throws {
        try await TownFixture.with(name: "alpha") { a in
            try await TownFixture.with(name: "beta") { b in
                try await TownFixture.with(name: "gamma") { c in
                    let towns = [a, b, c]
                    // The agent commits early work at once (a moved bead's next polecat finds it and says so), works
                    // 40 s, commits the rest and is done.
                    let script = """
                        #!/bin/sh
                        if test -f "early-$GT_BEAD.txt"; then echo "$GT_BEAD" >> "$GT_TOWN/../inherited.log"; fi
                        echo "early work on $GT_BEAD by $GT_POLECAT" > "early-$GT_BEAD.txt"
                        git add -A
                        git -c user.name="$GT_POLECAT" -c user.email=polecat@gt commit -qm "early $GT_BEAD" || true
                        sleep 40
                        echo "work on $GT_BEAD by $GT_POLECAT" > "work-$GT_BEAD.txt"
                        git add -A
                        git -c user.name="$GT_POLECAT" -c user.email=polecat@gt commit -qm "work on $GT_BEAD" || true
                        gt done
                        """
                    try await form(towns, slots: 3, delay: 40, agentScript: script)
                    let (alpha, beta, gamma) = (a.layout.nodeName(), b.layout.nodeName(), c.layout.nodeName())

                    // Two beads working on beta, one on gamma.
                    var work: [String] = []
                    for (i, node) in [beta, beta, gamma].enumerated() {
                        let id = try await a.createBead("Work \(i)", scope: "demo")
                        let reply = try await sling(a, id, node: node)
                        #expect(reply["node"] as? String == node, "\(reply)")
                        work.append(id)
                    }

                    // gt node drain (no --move) on gamma: the flag reaches alpha; a drained node refuses mayor-admit.
                    let drained = try await c.gt(["node", "drain"])
                    try expectOK(drained)
                    #expect(drained.stdout.contains("\(gamma) is draining"), "\(drained)")
                    var seen: [String: [String: Any]] = [:]
                    let gossiped = try await a.waitUntil(timeout: .seconds(30)) {
                        seen = try await a.members()
                        return seen[gamma]?["draining"] as? Bool == true
                    }
                    #expect(gossiped, "alpha never saw gamma draining: \(seen)")
                    let refusedBead = try await a.createBead("Refused", scope: "demo")
                    let refused = try await a.gt(["sling", refusedBead, "--node", gamma])
                    #expect(refused.status != 0, "\(refused)")
                    #expect(refused.stderr.contains("\(gamma) is draining"), "\(refused)")
                    let untouched = try await a.beads(scope: "demo").first { $0.id == refusedBead }
                    #expect(untouched?.assignee == "" && untouched?.status == .open && untouched?.leaseEpoch == 0)
                    // New work with no node named goes anywhere but gamma.
                    let fresh = try await a.createBead("Fresh", scope: "demo")
                    let placed = try await sling(a, fresh)
                    #expect(placed["node"] as? String != gamma, "\(placed)")
                    work.append(fresh)

                    // gt status on alpha: every node with its slots, gamma draining, beta's polecats.
                    // (beta's slot numbers reach alpha by gossip: wait for them.)
                    var statusOutput = try await a.gt(["status", "--json"])
                    _ = try await a.waitUntil(timeout: .seconds(30)) {
                        statusOutput = try await a.gt(["status", "--json"])
                        let nodes = (try? json(statusOutput))?["cluster"].flatMap { ($0 as? [String: Any])?["nodes"] }
                        let beta = (nodes as? [[String: Any]])?.first { $0["name"] as? String == beta }
                        return (beta?["used"] as? Int ?? 0) >= 2 && (beta?["polecats"] as? [Any])?.count ?? 0 >= 2
                    }
                    try expectOK(statusOutput)
                    let status = try json(statusOutput)
                    let clusterView = try #require(status["cluster"] as? [String: Any], "\(statusOutput.stdout)")
                    let nodes = try #require(clusterView["nodes"] as? [[String: Any]])
                    #expect(Set(nodes.compactMap { $0["name"] as? String }) == [alpha, beta, gamma], "\(nodes)")
                    let gammaView = nodes.first { $0["name"] as? String == gamma }
                    #expect(gammaView?["draining"] as? Bool == true, "\(nodes)")
                    let betaView = try #require(nodes.first { $0["name"] as? String == beta })
                    let betaPolecats = (betaView["polecats"] as? [[String: Any]] ?? []).compactMap {
                        $0["bead"] as? String
                    }
                    #expect(Set(betaPolecats).isSuperset(of: work[0...1]), "\(betaView)")
                    #expect(betaView["slots"] as? Int == 3 && (betaView["used"] as? Int ?? 0) >= 2, "\(betaView)")
                    #expect(status["name"] as? String == alpha, "the node's own status is kept: \(statusOutput.stdout)")
                    let statusText = try await a.gt(["status"])
                    #expect(statusText.stdout.contains("cluster:     3 nodes"), "\(statusText)")
                    #expect(statusText.stdout.contains("draining"), "\(statusText)")
                    #expect(statusText.stdout.contains(work[0]), "\(statusText)")

                    // gt node drain --move on beta: its hooked beads go to other nodes at once.
                    let onBeta = try await a.beads(scope: "demo").filter {
                        $0.claimNode == beta && ($0.status == .hooked || $0.status == .inProgress)
                    }.map(\.id)
                    let moveOutput = try await b.gt(["node", "drain", "--move", "--json"])
                    try expectOK(moveOutput)
                    let report = try json(moveOutput)
                    let moved = report["moved"] as? [[String: Any]] ?? []
                    #expect(Set(moved.compactMap { $0["bead"] as? String }) == Set(onBeta), "\(moveOutput.stdout)")
                    for entry in moved {
                        #expect(entry["status"] as? String == "admitted", "\(entry)")
                        #expect(entry["node"] as? String == alpha, "gamma drains, beta drains: only alpha: \(entry)")
                        #expect((entry["branch"] as? String ?? "").contains("/\(beta)/"), "\(entry)")
                    }
                    let bBeads = try await b.beads(scope: "demo")
                    for id in onBeta {
                        let bead = bBeads.first { $0.id == id }
                        #expect(bead?.claimNode != beta, "\(id) still claimed on beta: \(String(describing: bead))")
                    }

                    // Every bead finishes exactly once; gamma's finished on gamma; the moved ones elsewhere.
                    var counts: [String: [String]] = [:]
                    let finished = try await a.waitUntil(timeout: .seconds(240)) {
                        counts = try await cluster.requests(a)
                        return work.allSatisfy { counts[$0] != nil }
                    }
                    #expect(finished, "not every bead filed its merge request: \(counts)")
                    for id in work { #expect(counts[id]?.count == 1, "\(id): \(String(describing: counts[id]))") }
                    #expect(counts[work[2]]?.first?.contains("/\(gamma)/") == true, "running work finishes on gamma")
                    for id in onBeta {
                        let branch = String(describing: counts[id])
                        #expect(counts[id]?.first?.contains("/\(beta)/") == false, "\(id): \(branch)")
                    }
                    // The moved beads' work was kept: their polecats on alpha started from beta's pushed branches.
                    let inherited = a.directory.read("inherited.log") ?? ""
                    for id in onBeta { #expect(inherited.contains(id), "\(id) started afresh: \(inherited)") }
                    for id in work where !onBeta.contains(id) {
                        #expect(!inherited.contains(id), "\(id) was never moved: \(inherited)")
                    }
                    let final = try await a.beads(scope: "demo")
                    for id in onBeta {
                        let bead = final.first { $0.id == id }
                        #expect((bead?.leaseEpoch ?? 0) >= 3, "released and claimed again: \(String(describing: bead))")
                    }
                    #expect(
                        !final.contains { $0.claimNode == beta && ($0.status == .hooked || $0.status == .inProgress) })
                    #expect(final.first { $0.id == refusedBead }?.status == .open, "the refused bead was never placed")

                    // The flag outlives a restart: gamma stopped and started again comes back draining.
                    #expect(FileManager.default.fileExists(atPath: c.town + "/.gt/draining"))
                    try expectOK(try await c.gt(["down"]))
                    try await c.up()
                    var own: [String: [String: Any]] = [:]
                    let stillDraining = try await a.waitUntil(timeout: .seconds(30)) {
                        own = try await c.members()
                        seen = try await a.members()
                        return own[gamma]?["draining"] as? Bool == true && seen[gamma]?["status"] as? String == "alive"
                            && seen[gamma]?["draining"] as? Bool == true
                    }
                    #expect(stillDraining, "gamma restarted is not draining: own \(String(describing: own[gamma])), alpha's view \(String(describing: seen[gamma]))")

                    // gt node undrain: gamma takes new work again (and the record is gone for the next restart).
                    let undrained = try await c.gt(["node", "undrain"])
                    try expectOK(undrained)
                    #expect(undrained.stdout.contains("\(gamma) takes new work"), "\(undrained)")
                    #expect(!FileManager.default.fileExists(atPath: c.town + "/.gt/draining"))
                    let contradiction = try await c.gt(["node", "drain", "--move", "--undo"])
                    #expect(
                        contradiction.status != 0 && contradiction.stderr.contains("contradict"), "\(contradiction)")
                }
            }
        }
    }

    /// `gt sling <molecule>` in a cluster places the molecule's ready steps through the Mayor (the root is no work).
    @Test func slingAMoleculeInAClusterPlacesItsReadySteps() async throws {
        try await TownFixture.with(name: "alpha") { a in
            try await TownFixture.with(name: "beta") { b in
                try await form([a, b], slots: 2, delay: 1)
                let poured = try await a.bd(["mol", "pour", "shiny", "--rig", "demo", "--var", "feature=x", "--json"])
                try expectOK(poured)
                let root = try #require(try json(poured)["root_id"] as? String, "\(poured)")
                let slung = try await a.gt(["sling", root, "--json"])
                try expectOK(slung)
                let result = try json(slung)
                #expect(result["molecule"] as? String == root, "\(slung.stdout)")
                let placed = result["placed"] as? [[String: Any]] ?? []
                #expect(placed.map { $0["bead"] as? String } == ["\(root).design"], "\(slung.stdout)")
                #expect(placed.allSatisfy { $0["status"] as? String == "admitted" }, "\(slung.stdout)")
                let names = [a.layout.nodeName(), b.layout.nodeName()]
                #expect(placed.allSatisfy { names.contains($0["node"] as? String ?? "") }, "\(slung.stdout)")
                let rootBead = try await a.beads(scope: "demo").first { $0.id == root }
                #expect(rootBead?.assignee == "" && rootBead?.leaseEpoch == 0, "the root is not slung as a bead")
            }
        }
    }

    /// `gt nudge` of an agent working on another node is forwarded there (mayor-nudge) and typed into its session;
    /// mail to it (a bead in the shared ledger) reaches its node's inbox.
    @Test func nudgeAndMailReachAnAgentOnAnotherNode() async throws {
        try await TownFixture.with(name: "alpha") { a in
            try await TownFixture.with(name: "beta") { b in
                // The agent waits for one line typed into its session, writes it down, then finishes.
                let script = """
                    #!/bin/sh
                    read line
                    echo "$GT_BEAD $line" >> "$GT_TOWN/../nudged.log"
                    echo "$line" > "work-$GT_BEAD.txt"
                    git add -A
                    git -c user.name="$GT_POLECAT" -c user.email=polecat@gt commit -qm "work on $GT_BEAD" || true
                    gt done
                    """
                try await form([a, b], slots: 2, delay: 0, agentScript: script)
                let beta = b.layout.nodeName()
                let id = try await a.createBead("Wait for a nudge", scope: "demo")
                let reply = try await sling(a, id, node: beta)
                let polecat = try #require(reply["polecat"] as? String)
                let address = "demo/polecats/\(polecat)"

                let mail = try await a.gt(["mail", "send", address, "-s", "Cross-node hello", "-m", "from alpha"])
                try expectOK(mail)
                var inbox = ""
                let delivered = try await b.waitUntil(timeout: .seconds(60)) {
                    inbox = try await b.gt(["mail", "inbox", "--from", address]).stdout
                    return inbox.contains("Cross-node hello")
                }
                #expect(delivered, "beta's inbox for \(address): \(inbox)")

                let nudged = try await a.gt(["nudge", address, "hello from alpha"])
                try expectOK(nudged)
                #expect(nudged.stdout.contains("on node \(beta)"), "\(nudged)")
                var log = ""
                let typed = try await b.waitUntil(timeout: .seconds(60)) {
                    log = b.directory.read("nudged.log") ?? ""
                    return log.contains("\(id) hello from alpha")
                }
                #expect(typed, "the agent on beta did not get the nudge: \(log)")
                #expect((b.directory.read("beta/.gt/events.jsonl") ?? "").contains("nudge-received"))
                // A nudge of an agent nobody has is refused.
                let unknown = try await a.gt(["nudge", "demo/polecats/nobody", "hi"])
                #expect(unknown.status != 0, "\(unknown)")
            }
        }
    }
}
