import Beads
import Foundation
import GasTownTestKit
import Node
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The Refinery inside the node (`TownRefineries`), with the built `gt`: the node claims each rig's Refinery lease
/// and lands what `gt done` files with nobody running `gt refinery run`; a `kill -9` of the node during a gate run
/// loses nothing and lands nothing twice after `gt up`.
@Suite(.serialized) struct RefineryNodeTests {
    let base = RefineryTests()

    /// Short lease and poll times in `town.json` (`refinery`), so a test does not wait the defaults.
    static func fastRefinery(_ town: TownFixture, renew: Double = 1, grace: Double = 4, poll: Double = 1) throws {
        let path = town.layout.townFile
        let data = try #require(FileManager.default.contents(atPath: path))
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        object["refinery"] = ["lease_renew_seconds": renew, "lease_grace_seconds": grace, "poll_seconds": poll]
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: path))
    }

    /// The MR beads of rig demo, by status (`mq_status`, closed ones included).
    func statuses(_ town: TownFixture) async throws -> [String: String] {
        let requests = try await town.beads(scope: "demo").filter { $0.issueType == .mergeRequest }
        return Dictionary(uniqueKeysWithValues: requests.map { ($0.id, $0.metadataString(MQKey.status) ?? "queued") })
    }

    /// Rig demo's Refinery lease epoch (0: none).
    func leaseEpoch(_ town: TownFixture) async throws -> Int {
        let bead = try await town.beads(scope: "demo").first {
            $0.id == RefineryLeaseRecord.beadID(prefix: "demo", rig: "demo")
        }
        return RefineryLeaseRecord.read(bead)?.lease.epoch ?? 0
    }

    @Test func theNodesRefineryLandsWhatGtDoneFilesWithNoRefineryRun() async throws {
        try await TownFixture.with { town in
            try RefineryNodeTests.fastRefinery(town)
            try await town.up()
            let remote = try await base.makeRig(town, gate: "true")
            let ids = try await base.work(town, [("Alpha", 1), ("Bravo", 2)])
            let merged = try await town.waitUntil(timeout: .seconds(90)) {
                let statuses = try await statuses(town)
                return statuses.count == 2 && statuses.values.allSatisfy { $0 == "merged" }
            }
            let final = try await statuses(town)
            #expect(merged, "\(final)")
            let subjects = try await base.history(remote).map(\.subject)
            #expect(subjects.suffix(2) == ["Alpha", "Bravo"], "\(subjects)")
            // The lease is held by this node, and gt refinery run says the node handles the rig.
            let leaseBead = try await town.beads(scope: "demo").first {
                $0.id == RefineryLeaseRecord.beadID(prefix: "demo", rig: "demo")
            }
            let lease = try #require(RefineryLeaseRecord.read(leaseBead))
            #expect(lease.lease.node == town.layout.nodeName() && lease.lease.epoch >= 1, "\(lease)")
            let status = try #require(try await base.json(town, ["mq", "status", "demo"]) as? [[String: Any]])
            #expect(status.first?["lease_node"] as? String == town.layout.nodeName(), "\(status)")
            let text = try await town.gt(["mq", "status", "demo"])
            #expect(text.stdout.contains("lease held by node \(town.layout.nodeName())"), "\(text.stdout)")
            let run = try await town.gt(["refinery", "run", "demo", "--once"])
            try expectOK(run)
            #expect(run.stdout.contains("the node runs rig demo's Refinery"), "\(run.stdout)")
            #expect(ids.count == 2)
        }
    }

    /// `gt done` wakes the node's Refinery: with an hour between passes, a request filed after a pass still lands.
    /// Alpha lands first (by whichever pass); Bravo is filed only once Alpha is merged, so the pass that merged
    /// Alpha had built its queue without Bravo, and only a wake (not the poll) can start the pass that lands it.
    @Test func gtDoneWakesTheNodesRefineryWithNoPoll() async throws {
        try await TownFixture.with { town in
            try RefineryNodeTests.fastRefinery(town, poll: 3600)
            try await town.up()
            let remote = try await base.makeRig(town, gate: "true")
            _ = try await base.work(town, [("Alpha", 1)])
            let first = try await town.waitUntil(timeout: .seconds(90)) {
                try await statuses(town).values.contains("merged")
            }
            let afterFirst = try await statuses(town)
            #expect(first, "\(afterFirst)")
            _ = try await base.work(town, [("Bravo", 2)])
            let merged = try await town.waitUntil(timeout: .seconds(90)) {
                let statuses = try await statuses(town)
                return statuses.count == 2 && statuses.values.allSatisfy { $0 == "merged" }
            }
            let final = try await statuses(town)
            #expect(merged, "the request filed after the pass waited for the hour-long poll: \(final)")
            let subjects = try await base.history(remote).map(\.subject)
            #expect(subjects.suffix(2) == ["Alpha", "Bravo"], "\(subjects)")
        }
    }

    /// `kill -9` of the node while the gate runs (a slow gate script): the target is untouched (never half-updated),
    /// and after `gt up` the node claims the lease again at a new epoch, the queue resumes, and every request lands
    /// exactly once.
    @Test func killNineDuringAGateRunThenUpResumesTheQueue() async throws {
        try await TownFixture.with { town in
            try RefineryNodeTests.fastRefinery(town)
            let started = town.directory.join("gate-started")
            let pids = town.directory.join("gate-pids")
            try town.directory.write(
                "gate.sh",
                """
                echo $$ >> \(pids)
                echo "$GT_MQ_COMMIT" >> \(started)
                sleep 4
                """)
            try await town.up()
            let remote = try await base.makeRig(town, gate: "sh \(town.directory.join("gate.sh"))")
            let before = try await base.history(remote).count
            _ = try await base.work(town, [("Alpha", 1), ("Bravo", 2), ("Charlie", 3)])
            let gating = try await town.waitUntil(timeout: .seconds(60)) {
                !(town.directory.read("gate-started") ?? "").isEmpty
            }
            #expect(gating, "no gate started")
            let nodePID = try #require(town.nodePID())
            #expect(kill(nodePID, SIGKILL) == 0)
            // Stray gate processes of the dead node are ours to stop.
            for pid in (town.directory.read("gate-pids") ?? "").split(separator: "\n").compactMap({ Int32($0) }) {
                kill(pid, SIGKILL)
            }
            let afterKill = try await base.history(remote)
            #expect(afterKill.count == before, "the target moved while the gate ran: \(afterKill.map(\.subject))")
            let epochBefore = try await leaseEpoch(town)

            try await town.up()
            let merged = try await town.waitUntil(timeout: .seconds(120)) {
                let statuses = try await statuses(town)
                return statuses.count == 3 && statuses.values.allSatisfy { $0 == "merged" }
            }
            let final = try await statuses(town)
            #expect(merged, "\(final)")
            let history = try await base.history(remote)
            let landed = history.dropFirst(before).map(\.subject)
            #expect(landed.sorted() == ["Alpha", "Bravo", "Charlie"], "each request lands exactly once: \(landed)")
            #expect(history.allSatisfy { $0.parents <= 1 }, "the target stays linear")
            let epochAfter = try await leaseEpoch(town)
            #expect(epochAfter > epochBefore, "the restarted node claims the lease at a new epoch")
            for pid in (town.directory.read("gate-pids") ?? "").split(separator: "\n").compactMap({ Int32($0) }) {
                kill(pid, SIGKILL)
            }
        }
    }

    /// `gt up --listen 127.0.0.1:0 --json`: the node's listen address; its pid is remembered for cleanup.
    /// Two nodes with the same rig, sharing the ledger remote and the rig's git remote: only one holds the rig's
    /// Refinery lease and runs its queue; `kill -9` of that node (by pid) during a gate run, and the other takes the
    /// lease over after the grace period and finishes the queue, every request landing once.
    /// Two nodes `a` and `b` of one cluster, sharing a ledger remote, both with rig `demo` (gate `gate`, the
    /// scripted agent as runtime) on one git remote; waits until both see one holder of the rig's Refinery lease.
    /// Returns the rig's remote and the holder's node name.
    func twoNodes(
        _ a: TownFixture, _ b: TownFixture, gate: String, poll: Double = 1
    ) async throws -> (remote: String, holder: String) {
        let ledgerRemote = a.directory.join("ledger.git")
        try await TownFixture.git(["init", "-q", "--bare", ledgerRemote], cwd: a.directory.path)
        for town in [a, b] { try RefineryNodeTests.fastRefinery(town, renew: 1, grace: 4, poll: poll) }
        try expectOK(try await a.gt(["cluster", "init", "--name", "acme"]))
        let address = try await a.upWithAddress()
        let token = try await a.gt(["cluster", "token", "--name", "beta"])
        try expectOK(token)
        try expectOK(
            try await b.gt([
                "node", "join", address, token.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
            ]))
        _ = try await b.upWithAddress()
        for town in [a, b] { try expectOK(try await town.bd(["remote", "add", "origin", ledgerRemote])) }
        let remote = try await base.makeRig(a, gate: gate)
        try expectOK(
            try await b.gt([
                "rig", "add", "demo", remote, "--gate", gate, "--runtime",
                "exec:'sh \(a.directory.join("agent.sh"))'", "--max-polecats", "16",
            ]))
        // One holder, as both nodes see it.
        var holders: [String] = []
        let agreed = try await a.waitUntil(timeout: .seconds(60)) {
            holders = []
            for town in [a, b] {
                let bead = try await town.beads(scope: "demo").first {
                    $0.id == RefineryLeaseRecord.beadID(prefix: "demo", rig: "demo")
                }
                holders.append(RefineryLeaseRecord.read(bead)?.lease.node ?? "")
            }
            return !holders[0].isEmpty && holders[0] == holders[1]
        }
        #expect(agreed, "\(holders)")
        return (remote, holders.first ?? "")
    }

    /// A sync that brings in a merge request wakes the holder's Refinery: with an hour between passes on both
    /// nodes, a request filed by `gt done` on the node that does not hold the rig's lease reaches the holder by the
    /// ledger sync, and lands. As in `gtDoneWakesTheNodesRefineryWithNoPoll`, the second request is filed only
    /// once the first is merged, so no pass that was already due can take it.
    @Test func aSyncedMergeRequestWakesTheHoldersRefinery() async throws {
        try await TownFixture.with(name: "alpha") { a in
            try await TownFixture.with(name: "beta") { b in
                let (remote, holder) = try await twoNodes(a, b, gate: "true", poll: 3600)
                let filer = holder == a.layout.nodeName() ? b : a
                #expect(holder != filer.layout.nodeName() && !holder.isEmpty)
                _ = try await base.work(filer, [("Alpha", 1)])
                let first = try await filer.waitUntil(timeout: .seconds(90)) {
                    try await statuses(filer).values.contains("merged")
                }
                let afterFirst = try await statuses(filer)
                #expect(first, "\(afterFirst)")
                _ = try await base.work(filer, [("Bravo", 2)])
                let merged = try await filer.waitUntil(timeout: .seconds(90)) {
                    let statuses = try await statuses(filer)
                    return statuses.count == 2 && statuses.values.allSatisfy { $0 == "merged" }
                }
                let final = try await statuses(filer)
                #expect(merged, "the synced request waited for the hour-long poll: \(final)")
                let subjects = try await base.history(remote).map(\.subject)
                #expect(subjects.suffix(2) == ["Alpha", "Bravo"], "\(subjects)")
            }
        }
    }

    @Test func twoNodesOneRefineryThenTheOtherTakesOverWhenItsHolderDies() async throws {
        try await TownFixture.with(name: "alpha") { a in
            try await TownFixture.with(name: "beta") { b in
                let started = a.directory.join("gate-started")
                let pids = a.directory.join("gate-pids")
                try a.directory.write(
                    "gate.sh",
                    """
                    echo $$ >> \(pids)
                    echo "$GT_MQ_COMMIT" >> \(started)
                    sleep 3
                    """)
                let (remote, holder) = try await twoNodes(a, b, gate: "sh \(a.directory.join("gate.sh"))")
                let before = try await base.history(remote).count
                _ = try await base.work(a, [("Alpha", 1), ("Bravo", 2), ("Charlie", 3), ("Delta", 3)])
                let gating = try await a.waitUntil(timeout: .seconds(60)) {
                    !(a.directory.read("gate-started") ?? "").isEmpty
                }
                #expect(gating, "no gate started")
                let (dead, survivor) = holder == a.layout.nodeName() ? (a, b) : (b, a)
                let deadPID = try #require(dead.nodePID())
                #expect(kill(deadPID, SIGKILL) == 0)
                let merged = try await survivor.waitUntil(timeout: .seconds(120)) {
                    let statuses = try await statuses(survivor)
                    return statuses.count == 4 && statuses.values.allSatisfy { $0 == "merged" }
                }
                let final = try await statuses(survivor)
                #expect(merged, "the survivor did not finish the queue: \(final)")
                let landed = try await base.history(remote).dropFirst(before).map(\.subject)
                #expect(landed.sorted() == ["Alpha", "Bravo", "Charlie", "Delta"], "\(landed)")
                let bead = try await survivor.beads(scope: "demo").first {
                    $0.id == RefineryLeaseRecord.beadID(prefix: "demo", rig: "demo")
                }
                #expect(RefineryLeaseRecord.read(bead)?.lease.node == survivor.layout.nodeName())
                for pid in (a.directory.read("gate-pids") ?? "").split(separator: "\n").compactMap({ Int32($0) }) {
                    kill(pid, SIGKILL)
                }
            }
        }
    }
}
