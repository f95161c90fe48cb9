import Foundation
import Node

#if canImport(Glibc)
    import Glibc
#endif

/// Benchmarks of the Mayor across three real nodes with the built `gt` (for `gt-bench cluster`; never timed in
/// tests). Three towns on loopback (alpha, beta, gamma: one cluster CA, one ledger remote, the same rig on each
/// from one git remote) and scripted `exec` agents of seeded random duration: `beads` beads slung from alpha with
/// no node named, how they spread, how long the whole batch takes against the same work on one node, how long a
/// sling from alpha takes to start an agent on another node, and how long after a `kill -9` of a node its hooked
/// work runs elsewhere. Everything started is stopped by pid; the directories are removed.
public enum ClusterBenchmarks {
    /// Figures of `run`. `Sendable`: numbers.
    public struct Figures: Sendable, CustomStringConvertible {
        public var beads: Int
        public var slots: Int
        /// Beads run per node (by the node that claimed each at epoch 1).
        public var perNode: [String: Int]
        /// Over the samples taken while work was running: the mean of max/min agents per node (min counted ≥ 1).
        public var spreadMaxOverMin: Double
        /// Seconds from the first sling to the last bead closed (merged), three nodes / one node.
        public var clusterSeconds: Double
        public var oneNodeSeconds: Double
        /// Milliseconds from launching `gt sling` on alpha to the agent's first action on another node.
        public var remoteSling: [Double]
        /// Seconds from the `kill -9` to the others marking the node failed, and to each of its hooked beads'
        /// agents running on another node.
        public var detectedSeconds: Double
        public var failoverSeconds: [Double]
        public var grace: Double

        public var description: String {
            let sling = ProcessBenchmarks.medianAndP95(remoteSling)
            let nodes = perNode.keys.sorted().map { "\($0) \(perNode[$0] ?? 0)" }.joined(separator: ", ")
            return String(
                format: "%d beads, %d slots per node: run per node %@; spread (max/min agents per node while "
                    + "running) %.2f; all closed in %.1f s on three nodes against %.1f s on one (%.2f×); sling from "
                    + "alpha to an agent running on another node %.0f ms median (p95 %.0f, n=%d; goal ≤ 500 ms); "
                    + "kill -9 of a node: marked failed %.1f s after, its %d hooked beads running elsewhere %.1f s "
                    + "median, %.1f s max after (failover grace %.0f s; goal ≤ detection + grace + 2 s)",
                beads, slots, nodes, spreadMaxOverMin, clusterSeconds, oneNodeSeconds,
                oneNodeSeconds / max(clusterSeconds, 0.001), sling.median, sling.p95, remoteSling.count,
                detectedSeconds, failoverSeconds.count, ProcessBenchmarks.medianAndP95(failoverSeconds).median,
                failoverSeconds.max() ?? 0, grace)
        }
    }

    typealias Town = TownBenchmarks.BenchTown

    /// Runs the whole benchmark: `beads` beads of 1–`maxSeconds` s each (seeded), `slots` per node.
    public static func run(
        beads: Int = 100, slots: Int = 4, maxSeconds: Int = 6, grace: Double = 5, seed: UInt64 = 13
    ) async throws -> Figures {
        var rng = SplitMix64(seed: seed)
        let delays = (0..<beads).map { _ in Int.random(in: 1...maxSeconds, using: &rng) }
        let one = try await oneNode(delays: delays, slots: slots)
        return try await TownBenchmarks.withTown(name: "bench-cluster-a", townName: "alpha") { a in
            try await TownBenchmarks.withTown(name: "bench-cluster-b", townName: "beta") { b in
                try await TownBenchmarks.withTown(name: "bench-cluster-c", townName: "gamma") { c in
                    var figures = try await threeNodes([a, b, c], delays: delays, slots: slots, grace: grace)
                    figures.oneNodeSeconds = one
                    return figures
                }
            }
        }
    }

    /// The agent: stamps its start (bead, epoch, node), commits, works the bead's seconds, `gt done`.
    static func writeAgent(in town: Town, stamps: String) throws -> String {
        try town.directory.write(
            "agent.sh",
            """
            node=$(basename "$GT_TOWN")
            [ -e "\(stamps)/start-$GT_BEAD-e$GT_LEASE_EPOCH" ] || echo "$(date +%s%N) $node" > "\(stamps)/start-$GT_BEAD-e$GT_LEASE_EPOCH"
            echo "work on $GT_BEAD" > "work-$GT_BEAD.txt"
            git add -A
            git -c user.name="$GT_POLECAT" -c user.email=polecat@gt commit -qm "work on $GT_BEAD" || true
            sleep "$(cat "\(stamps)/delay-$GT_BEAD" 2>/dev/null || echo 1)"
            gt done

            """)
        return town.directory.join("agent.sh")
    }

    /// town.json: `slots`, the failover grace, a fast Refinery and convoy patrol.
    static func configure(_ town: Town, slots: Int, grace: Double) throws {
        let path = town.town + "/mayor/town.json"
        guard let data = FileManager.default.contents(atPath: path),
            var object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { throw TownBenchmarks.BenchmarkFailure(message: "cannot read \(path)") }
        var node = object["node"] as? [String: Any] ?? [:]
        node["slots"] = slots
        object["node"] = node
        object["placement"] = ["failover_grace_seconds": grace]
        object["refinery"] = ["lease_renew_seconds": 1, "lease_grace_seconds": 4, "poll_seconds": 1]
        object["convoy"] = ["poll_seconds": 1]
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: path))
    }

    static func output(_ town: Town, _ arguments: [String]) async throws -> String { try await town.run(arguments) }

    static func json(_ text: String) -> Any? { try? JSONSerialization.jsonObject(with: Data(text.utf8)) }

    static func up(_ town: Town) async throws -> String {
        let out = try await output(town, ["up", "--listen", "127.0.0.1:0", "--json"])
        town.nodePID = town.directory.read("\(URL(fileURLWithPath: town.town).lastPathComponent)/.gt/node.pid")
            .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard let listen = (json(out) as? [String: Any])?["listen"] as? String else {
            throw TownBenchmarks.BenchmarkFailure(message: "gt up printed no listen address: \(out)")
        }
        return listen
    }

    /// Members as alpha sees them: name → (status, agents, rigs).
    static func members(_ town: Town) async -> [String: (status: String, agents: Int, rigs: [String])] {
        guard let text = try? await output(town, ["node", "list", "--json"]),
            let list = json(text) as? [[String: Any]]
        else { return [:] }
        var out: [String: (status: String, agents: Int, rigs: [String])] = [:]
        for member in list {
            guard let name = member["name"] as? String else { continue }
            out[name] = (member["status"] as? String ?? "", member["running_agents"] as? Int ?? 0, member["rigs"] as? [String] ?? [])
        }
        return out
    }

    /// Beads of rig demo in `town`'s ledger: id → (status, lease epoch, claim node), work beads only.
    static func beads(_ town: Town) async -> [String: (status: String, epoch: Int, node: String)] {
        guard let result = try? await BuiltBinaries.run(.bd, ["-C", town.town, "export"]), result.status == 0
        else { return [:] }
        var out: [String: (status: String, epoch: Int, node: String)] = [:]
        for line in result.stdout.split(separator: "\n") {
            guard let bead = json(String(line)) as? [String: Any], let id = bead["id"] as? String,
                id.hasPrefix("demo-"), bead["issue_type"] as? String != "merge-request"
            else { continue }
            out[id] = (bead["status"] as? String ?? "", bead["lease_epoch"] as? Int ?? 0, bead["claim_node"] as? String ?? "")
        }
        return out
    }

    static func waitUntil(_ seconds: Double, _ what: String, _ check: () async -> Bool) async throws {
        guard await eventually(timeout: .milliseconds(Int64(seconds * 1000)), every: .milliseconds(250), check) else {
            throw TownBenchmarks.BenchmarkFailure(message: "timed out after \(Int(seconds)) s waiting for \(what)")
        }
    }

    static func seconds(since start: Int64) -> Double { Double(TownBenchmarks.wallNanos() - start) / 1e9 }

    /// The stamp of a bead's agent at `epoch`: (wall nanoseconds, node), if it started.
    static func stamp(_ stamps: TempDir, _ bead: String, epoch: Int) -> (Int64, String)? {
        guard let text = stamps.read("start-\(bead)-e\(epoch)") else { return nil }
        let parts = text.split(separator: " ")
        guard parts.count == 2, let at = Int64(parts[0]) else { return nil }
        return (at, parts[1].trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The same beads on one node with the same slots: seconds from the first sling to the last close.
    static func oneNode(delays: [Int], slots: Int) async throws -> Double {
        try await TownBenchmarks.withTown(name: "bench-cluster-one", townName: "solo") { town in
            let stamps = try TempDir(prefix: "bench-stamps")
            try configure(town, slots: slots, grace: 60)
            try await town.run(["cluster", "init", "--name", "solo"])
            _ = try await up(town)
            let agent = try writeAgent(in: town, stamps: stamps.path)
            let rig = town.directory.join("rig.git")
            try await town.git(["clone", "-q", "--bare", town.source, rig])
            try await town.run([
                "rig", "add", "demo", rig, "--runtime", "exec:'sh \(agent)'", "--max-polecats", String(slots),
            ])
            var ids: [String] = []
            for (index, delay) in delays.enumerated() {
                let bead = try await town.createBead("bench \(index)")
                try stamps.write("delay-\(bead)", "\(delay)\n")
                ids.append(bead)
            }
            let start = TownBenchmarks.wallNanos()
            // One node has no other node to queue for: a full rig refuses, so each sling waits for a free polecat.
            for bead in ids {
                while true {
                    let result = try await BuiltBinaries.run(
                        .gt, ["--town", town.town, "sling", bead, "--json"], cwd: town.directory.path)
                    if result.status == 0 { break }
                    guard result.stderr.contains("\"full\"") else {
                        throw TownBenchmarks.BenchmarkFailure(message: "gt sling \(bead): \(result)")
                    }
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            try await waitUntil(Double(delays.reduce(0, +)) + 300, "every bead closed on one node") {
                let all = await beads(town)
                return ids.allSatisfy { all[$0]?.status == "closed" }
            }
            return seconds(since: start)
        }
    }

    static func threeNodes(_ towns: [Town], delays: [Int], slots: Int, grace: Double) async throws -> Figures {
        let (a, b, c) = (towns[0], towns[1], towns[2])
        let stamps = try TempDir(prefix: "bench-stamps")
        let ledger = a.directory.join("ledger.git")
        let rig = a.directory.join("rig.git")
        try await a.git(["init", "-q", "--bare", ledger])
        try await a.git(["clone", "-q", "--bare", a.source, rig])
        for town in towns { try configure(town, slots: slots, grace: grace) }
        try await a.run(["cluster", "init", "--name", "bench"])
        let seed = try await up(a)
        for town in [b, c] {
            let name = URL(fileURLWithPath: town.town).lastPathComponent
            let token = try await output(a, ["cluster", "token", "--name", name])
            try await town.run(["node", "join", seed, token.trimmingCharacters(in: .whitespacesAndNewlines)])
            _ = try await up(town)
        }
        for town in towns {
            let agent = try writeAgent(in: town, stamps: stamps.path)
            let remote = try await BuiltBinaries.run(.bd, ["-C", town.town, "remote", "add", "origin", ledger])
            guard remote.status == 0 else { throw TownBenchmarks.BenchmarkFailure(message: "bd remote add: \(remote)") }
            try await town.run([
                "rig", "add", "demo", rig, "--runtime", "exec:'sh \(agent)'", "--max-polecats", String(slots),
            ])
        }
        let names = ["alpha", "beta", "gamma"]
        try await waitUntil(90, "three nodes alive with rig demo") {
            let seen = await members(a)
            return names.allSatisfy { seen[$0]?.status == "alive" && seen[$0]?.rigs.contains("demo") == true }
        }

        // The batch: slung from alpha with no node named; spread sampled every second while it runs.
        var ids: [String] = []
        for (index, delay) in delays.enumerated() {
            let bead = try await a.createBead("bench \(index)")
            try stamps.write("delay-\(bead)", "\(delay)\n")
            ids.append(bead)
        }
        let start = TownBenchmarks.wallNanos()
        var launched: [String: Int64] = [:]
        for bead in ids {
            launched[bead] = TownBenchmarks.wallNanos()
            _ = try await output(a, ["sling", bead, "--json"])
        }
        var ratios: [Double] = []
        var open: [String] = []
        do {
            try await waitUntil(Double(delays.reduce(0, +)) + 300, "every bead closed on three nodes") {
                let seen = await members(a)
                let agents = names.map { seen[$0]?.agents ?? 0 }
                if agents.reduce(0, +) >= 3 {
                    ratios.append(Double(agents.max() ?? 0) / Double(max(agents.min() ?? 0, 1)))
                }
                let all = await beads(a)
                open = ids.filter { all[$0]?.status != "closed" }.map {
                    "\($0) \(all[$0]?.status ?? "missing") e\(all[$0]?.epoch ?? 0) \(all[$0]?.node ?? "")"
                }
                return open.isEmpty
            }
        } catch {
            let queue = (try? await output(a, ["mayor", "queue"])) ?? ""
            throw TownBenchmarks.BenchmarkFailure(
                message: "\(error); not closed in alpha's ledger: \(open.joined(separator: ", ")); alpha's queue: \(queue)")
        }
        let clusterSeconds = seconds(since: start)
        var perNode: [String: Int] = [:]
        var remote: [Double] = []
        for bead in ids {
            guard let (at, node) = stamp(stamps, bead, epoch: 1) else { continue }
            perNode[node, default: 0] += 1
            // Only beads admitted at once (not queued) measure the sling path, not the wait for a free slot.
            if node != "alpha", let sent = launched[bead], at - sent < 5_000_000_000 {
                remote.append(Double(at - sent) / 1e6)
            }
        }

        // Failover: gamma's slots filled with long work, then gamma (node and agents) killed with kill -9.
        var held: [String] = []
        for index in 0..<slots {
            let bead = try await a.createBead("failover \(index)")
            try stamps.write("delay-\(bead)", "120\n")
            _ = try await output(a, ["sling", bead, "--node", "gamma", "--json"])
            held.append(bead)
        }
        try await waitUntil(60, "gamma's agents running") {
            held.allSatisfy { stamp(stamps, $0, epoch: 1) != nil }
        }
        try await waitUntil(30, "alpha's ledger holding gamma's claims") {
            let all = await beads(a)
            return held.allSatisfy { all[$0]?.node == "gamma" }
        }
        let killedAt = TownBenchmarks.wallNanos()
        if let pid = c.nodePID { kill(pid, SIGKILL) }
        c.nodePID = nil
        await c.cleanUp()
        var detected = 0.0
        try await waitUntil(60, "alpha and beta marking gamma failed") {
            let seenA = await members(a)
            let seenB = await members(b)
            guard seenA["gamma"]?.status == "failed", seenB["gamma"]?.status == "failed" else { return false }
            detected = seconds(since: killedAt)
            return true
        }
        try await waitUntil(grace + 90, "gamma's beads running elsewhere") {
            held.allSatisfy { stamp(stamps, $0, epoch: 2) != nil }
        }
        let failover = held.compactMap { stamp(stamps, $0, epoch: 2) }.map { Double($0.0 - killedAt) / 1e9 }
        return Figures(
            beads: ids.count, slots: slots, perNode: perNode,
            spreadMaxOverMin: ratios.isEmpty ? 0 : ratios.reduce(0, +) / Double(ratios.count),
            clusterSeconds: clusterSeconds, oneNodeSeconds: 0, remoteSling: remote, detectedSeconds: detected,
            failoverSeconds: failover, grace: grace)
    }
}
