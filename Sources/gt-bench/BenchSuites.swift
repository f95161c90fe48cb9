import Beads
import Foundation
import GasTownCLI
import GasTownTestKit
import Git
import LedgerStore
import Transport

/// One named group of benchmarks; `run` returns the Markdown lines to print.
struct BenchSuite: Sendable {
    var name: String
    var title: String
    var run: @Sendable () async throws -> [String]
}

/// Describes where and when figures were taken: the header of every `gt-bench` run.
enum BenchMachine {
    static func header() -> String {
        let date = ISO8601DateFormatter().string(from: Date())
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" }
            ?? "unknown cpu"
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let memory = ProcessInfo.processInfo.physicalMemory >> 30
        #if DEBUG
            let build = "debug build (figures not comparable: run `make bench`)"
        #else
            let build = "release build"
        #endif
        return "# gt-bench \(GasTownVersion.current)\n\nmeasured \(date) on \(cpu), \(cores) cores, \(memory) GiB, "
            + build
    }
}

/// Every suite `gt-bench all` runs, in order.
enum BenchSuites {
    static let all: [BenchSuite] = [
        BenchSuite(name: "beads", title: "Beads core (10,000-bead ledger, in process)") {
            BeadsBenchmarks.all().map { "- \($0)" }
        },
        BenchSuite(name: "store", title: "Durable store: WAL appends with group commit") {
            var lines: [String] = []
            for writers in [1, 8] {
                let result = try await StoreBenchmarks.durableAppends(writers: writers, count: 4_000)
                lines.append("- \(writers) writer(s): \(result)")
            }
            return lines
        },
        BenchSuite(name: "ledger", title: "Town ledger store: durable creates, import, bd ready as a process") {
            var lines: [String] = []
            for writers in [1, 8] {
                lines.append("- \(try LedgerBenchmarks.durableCreates(writers: writers, count: 2_000))")
            }
            lines.append("- \(try LedgerBenchmarks.import10k())")
            let ready = try await LedgerBenchmarks.readyProcess10k(runs: 10)
            let floor = try await ProcessBenchmarks.meanMilliseconds(.bd, ["--version"], runs: 10)
            lines.append(
                String(
                    format: "- bd ready --json on 10,000 beads, embedded (no node), whole process: %.1f ms (mean of "
                        + "10; goal ≤ 60 ms, was 90 ms; `bd --version` in the same run: %.1f ms)", ready, floor))
            let (node, embedded) = try await LedgerBenchmarks.readyProcessNodeVersusEmbedded10k(runs: 20)
            let n = ProcessBenchmarks.medianAndP95(node)
            let e = ProcessBenchmarks.medianAndP95(embedded)
            lines.append(
                String(
                    format: "- bd ready --json on a 10,000-bead town ledger, whole process: through the node "
                        + "%.1f ms median (p95 %.1f), embedded %.1f ms median (p95 %.1f), 20 runs each", n.median,
                    n.p95, e.median, e.p95))
            return lines
        },
        BenchSuite(name: "node-creates", title: "Durable creates from 8 client processes, through the node and embedded") {
            let creates = try await LedgerBenchmarks.createsFromClientProcesses(clients: 8, each: 25)
            return [
                String(
                    format: "- `bd create` as a whole process, 8 clients × 25, every printed ID then found in `bd list`: "
                        + "through the node %.0f creates/s, embedded (no node) %.0f creates/s", creates.throughNode,
                    creates.embedded)
            ]
        },
        BenchSuite(
            name: "scale",
            title: "Cost follows the change: one 100,000-bead scope (GT_BENCH_SCALE_BEADS overrides the count)"
        ) {
            let count = ProcessInfo.processInfo.environment["GT_BENCH_SCALE_BEADS"].flatMap { Int($0) } ?? 100_000
            var lines: [String] = []
            let (node, embedded, rss) = try await LedgerBenchmarks.readyProcessNodeVersusEmbedded(count: count, runs: 10)
            let n = ProcessBenchmarks.medianAndP95(node)
            let e = ProcessBenchmarks.medianAndP95(embedded)
            lines.append(
                String(
                    format: "- bd ready --json on a %d-bead town scope, whole process: through the node %.1f ms median "
                        + "(p95 %.1f; goal ≤ 15 ms, was 560 ms), embedded %.1f ms median (p95 %.1f), 10 runs each",
                    count, n.median, n.p95, e.median, e.p95))
            lines.append(
                String(format: "- node RSS holding them: %.0f MiB (goal ≤ 200 MB, was 300 MB)", rss))
            let sync = try await SyncBenchmarks.smallChangeInLargeScope(beads: count, changed: 10, rounds: 3)
            lines.append(
                String(
                    format: "- sync of 10 changed beads in the %d-bead scope, median of 3: writer (push) %.0f ms, "
                        + "reader (pull) %.0f ms (goal ≤ 200 ms each; was 2,870 ms and 3,440 ms for one bead); first "
                        + "push %.0f ms, clone %.0f ms (was 4,870 ms); peak RSS of the bench process holding both "
                        + "replicas %.0f MiB", count, sync.pushMillis, sync.pullMillis, sync.initialPushMillis,
                    sync.initialCloneMillis, BenchMemory.peakRSSMiB()))
            return lines
        },
        BenchSuite(name: "git", title: "Git: compare-and-swap pushes against libgit2's own push, repack") {
            let cas = try await GitBenchmarks.casPushes(writers: 4, each: 100)
            let plain = try await GitBenchmarks.plainPushes(writers: 4, each: 100)
            let repack = try await GitBenchmarks.repackSize(commits: 1_000)
            return ["- CAS push (ours): \(cas)", "- libgit2 git_remote_push: \(plain)", "- repack: \(repack)"]
        },
        BenchSuite(name: "sync", title: "Ledger sync through a git remote (path remote, 1 s sync interval)") {
            let convergence = try await SyncBenchmarks.partitionedUpdates()
            let large = try await SyncBenchmarks.smallChangeInLargeScope()
            return ["- \(convergence)", "- \(large)"]
        },
        BenchSuite(
            name: "sync-loop",
            title: "Node ledger sync loop: write on node A visible on node B (loopback, shared path remote)"
        ) {
            var lines: [String] = []
            for notices in [true, false] {
                lines.append("- \(try await LedgerLoopBenchmarks.writeVisibleOnPeer(samples: 40, notices: notices))")
            }
            return lines
        },
        BenchSuite(name: "town", title: "Town: gt sling to a running agent (tmux, exec runtime), node resources") {
            let sling = try await TownBenchmarks.slingToRunning(beads: 20)
            let resources = try await TownBenchmarks.nodeResources()
            return ["- \(sling) (anchor: Gas Town ~5 s worktree creation; goal ≤ 1 s)", "- \(resources)"]
        },
        BenchSuite(
            name: "cluster",
            title: "Mayor across three nodes: spread, batch time against one node, remote sling, failover"
        ) {
            ["- " + String(describing: try await ClusterBenchmarks.run())]
        },
        BenchSuite(name: "health", title: "Health: the Witness's detection latency per failure, its cost per polecat") {
            let detection = try await HealthBenchmarks.detection(hungAfter: 20)
            let cost = try await TownBenchmarks.nodeResources(
                idlePolecats: 80, workingPolecats: 20, window: .seconds(20))
            return [
                "- \(detection) (anchors: Gas Town's 3-minute heartbeat and 30-minute GUPP thresholds, Gas City's 30 s "
                    + "patrol; monitoring tokens: 0, the rules are mechanical)",
                "- 100 polecats (80 idle, 20 working in tmux), Witness patrolling every 2 s: \(cost); "
                    + String(
                        format: "%.1f %% of a core per 100 working polecats at that rate",
                        cost.cpuPercentPerWorkingPolecat * 100),
            ]
        },
        BenchSuite(
            name: "dashboard",
            title: "Dashboard: node CPU under 5 browsers (3 nodes, 30 agents), requests per second, event fan-out"
        ) {
            let window = ProcessInfo.processInfo.environment["GT_BENCH_DASHBOARD_SECONDS"].flatMap { Double($0) } ?? 20
            return try await DashboardBenchmarks.run(window: window).lines
        },
        BenchSuite(name: "transport", title: "Transport: mutual TLS 1.3 frames, round trips, handshakes") {
            let frames = try await TransportBenchmarks.oneWayFrames(size: 1024, count: 200_000)
            let roundTrips = try await TransportBenchmarks.requestResponse(size: 1024, count: 20_000)
            let identities = try TransportBenchmarks.makeIdentities()
            let ours = try await TransportBenchmarks.handshakes(count: 300)
            let openssl = try await OpenSSLBaseline.handshakeMilliseconds(identities: identities)
            let memory = try await TransportBenchmarks.idleConnectionMemory(n: 500)
            return [
                "- 1 KiB frames one way, one connection: \(Int(frames)) frames/s (goal ≥ 100,000)",
                "- 1 KiB request/response round trips, one at a time: \(Int(roundTrips)) /s",
                "- full mutual handshake + hello (ours): \(fmt(ours)) ms",
                "- openssl s_time -new against openssl s_server, same certificates, same run: \(fmt(openssl)) ms "
                    + "(ours / openssl = \(fmt(ours / openssl)), goal ≤ 1.2)",
                "- memory per idle connection pair (both ends in one process): \(Int(memory / 1024)) KiB",
            ]
        },
        BenchSuite(name: "membership-sim", title: "Membership in simulation (seeded, simulated time)") {
            [
                "- 5 members, 200 seeds: \(MembershipSimulation.summary(members: 5, seeds: 0..<200))",
                "- 50 members, 10 seeds: \(MembershipSimulation.summary(members: 50, seeds: 0..<10))",
            ]
        },
        BenchSuite(name: "formula", title: "Formula: parse and cook Gas Town's towers-of-hanoi-10 (1,025 steps)") {
            let ten = try FormulaBenchmarks.parseAndCookHanoi()
            let fifteen = try FormulaBenchmarks.parseAndCookHanoi(disks: 15, iterations: 5)
            return (ten + ["same for towers-of-hanoi-15:"] + fifteen).map { "- \($0)" }
        },
        BenchSuite(name: "mq", title: "Merge queue in simulation (serial, Gas Town's Refinery, ours)") {
            MergeQueueBenchmarks.report()
        },
        BenchSuite(name: "cli", title: "CLI parsing") {
            CLIBenchmarks.parseAndHelp().map { "- \($0)" }
        },
    ]
}

/// This process's memory high-water mark.
enum BenchMemory {
    /// VmHWM of this process, MiB (0 when /proc is not there).
    static func peakRSSMiB() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return 0 }
        return (Double(line.split(separator: " ").dropFirst().first.map(String.init) ?? "0") ?? 0) / 1024
    }
}

/// Two decimals, for figures in milliseconds and ratios.
func fmt(_ value: Double) -> String { String(format: "%.2f", value) }
