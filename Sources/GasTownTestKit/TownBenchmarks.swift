import Foundation
import Node
import Sessions
import Town

#if canImport(Glibc)
    import Glibc
#endif

/// Benchmarks of the town workflow with the built `gt` (for `gt-bench`; never timed in tests): sling → agent
/// running, the node's memory with idle polecats, the node's CPU per working polecat. Each builds a temporary
/// town with a rig made from a local repository (git), and removes everything it started: the node (by pid),
/// the town's tmux server, the directory.
public enum TownBenchmarks {
    /// Figures of `slingToRunning`.
    public struct SlingResult: Sendable, CustomStringConvertible {
        /// Milliseconds from starting `gt sling` to the agent process running (its first action), per bead.
        public var milliseconds: [Double]
        public var median: Double { milliseconds.sorted()[milliseconds.count / 2] }
        public var max: Double { milliseconds.max() ?? 0 }
        public var description: String {
            String(
                format: "sling → agent running: median %.1f ms, max %.1f ms over %d beads", median, max,
                milliseconds.count)
        }
    }

    /// Slings `beads` beads one after another to a rig whose `exec` agent records the wall clock as its first
    /// action; returns, per bead, the time from launching `gt sling` to that record.
    public static func slingToRunning(beads: Int = 10) async throws -> SlingResult {
        try await withTown(name: "bench-sling") { town in
            let agent = town.directory.join("agent.sh")
            try town.directory.write("agent.sh", "date +%s%N > \"$GT_TOWN/../started-$GT_BEAD\"\nsleep 30\n")
            try await town.run(["rig", "add", "demo", town.source, "--runtime", "exec:'sh \(agent)'"])
            var figures: [Double] = []
            for index in 0..<beads {
                let bead = try await town.createBead("bench \(index)")
                let start = TownBenchmarks.wallNanos()
                try await town.run(["sling", bead, "demo"])
                let marker = town.directory.join("started-\(bead)")
                var stamp: Int64?
                for _ in 0..<500 where stamp == nil {
                    stamp = town.directory.read("started-\(bead)").flatMap {
                        Int64($0.trimmingCharacters(in: .whitespacesAndNewlines))
                    }
                    if stamp == nil { try await Task.sleep(for: .milliseconds(2)) }
                }
                guard let stamp else { throw BenchmarkFailure(message: "the agent of \(bead) never wrote \(marker)") }
                figures.append(Double(stamp - start) / 1e6)
            }
            return SlingResult(milliseconds: figures)
        }
    }

    /// Figures of `nodeResources`.
    public struct NodeResources: Sendable, CustomStringConvertible {
        public var idlePolecats: Int
        /// The node's resident memory with no rig (baseline) and with the idle polecats, in MiB.
        public var baselineRSSMiB: Double
        public var idleRSSMiB: Double
        public var workingPolecats: Int
        public var windowSeconds: Double
        /// CPU seconds the node used (itself, and its reaped children such as tmux clients) over the window,
        /// per working polecat, as a percentage of one core.
        public var cpuPercentPerWorkingPolecat: Double
        public var description: String {
            String(
                format: "node RSS: %.1f MiB baseline, %.1f MiB with %d idle polecats; node CPU: %.3f %% of a core "
                    + "per working polecat (%d working, %.0f s window)",
                baselineRSSMiB, idleRSSMiB, idlePolecats, cpuPercentPerWorkingPolecat, workingPolecats, windowSeconds)
        }
    }

    /// Starts a node, measures its RSS before any rig and with `idlePolecats` idle polecats (after a few Witness
    /// patrols), then slings `workingPolecats` beads to agents that work (sleep) and measures the node's CPU over
    /// `window`.
    public static func nodeResources(
        idlePolecats: Int = 30, workingPolecats: Int = 5, window: Duration = .seconds(10),
        settle: Duration = .seconds(5)
    ) async throws -> NodeResources {
        try await withTown(name: "bench-node") { town in
            try await town.run(["cluster", "init", "--name", "bench"])
            try await town.run(["up", "--listen", "127.0.0.1:0"])
            guard let text = town.directory.read("town/.gt/node.pid"),
                let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
            else { throw BenchmarkFailure(message: "gt up recorded no pid") }
            town.nodePID = pid
            try await Task.sleep(for: settle)
            let baseline = rssMiB(pid)
            try town.directory.write("agent.sh", "sleep 600\n")
            try await town.run([
                "rig", "add", "demo", town.source, "--runtime", "exec:'sh \(town.directory.join("agent.sh"))'",
                "--max-polecats", String(idlePolecats + workingPolecats),
            ])
            for index in 0..<idlePolecats { try await town.run(["polecat", "add", "demo", "idle-\(index)"]) }
            try await Task.sleep(for: settle)
            let idle = rssMiB(pid)
            for index in 0..<workingPolecats {
                try await town.run(["sling", try await town.createBead("work \(index)"), "demo"])
            }
            try await Task.sleep(for: settle)
            let before = cpuSeconds(pid)
            try await Task.sleep(for: window)
            let used = cpuSeconds(pid) - before
            let seconds = Double(window.components.seconds)
            try? await town.run(["down"])
            return NodeResources(
                idlePolecats: idlePolecats, baselineRSSMiB: baseline, idleRSSMiB: idle,
                workingPolecats: workingPolecats, windowSeconds: seconds,
                cpuPercentPerWorkingPolecat: used / seconds * 100 / Double(max(workingPolecats, 1)))
        }
    }

    // MARK: - support

    struct BenchmarkFailure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// A temporary town with a source repository; cleaned up (node by pid, tmux server, directory) after `body`.
    final class BenchTown: @unchecked Sendable {
        let directory: TempDir
        let town: String
        let source: String
        var nodePID: Int32?

        init(name: String, townName: String = "town") throws {
            directory = try TempDir(prefix: name)
            town = directory.join(townName)
            source = directory.join("src")
        }

        /// Runs `gt --town <town> arguments`; its stdout, or a failure naming the command and its output.
        @discardableResult
        func run(_ arguments: [String], cwd: String? = nil) async throws -> String {
            let output = try await BuiltBinaries.run(.gt, ["--town", town] + arguments, cwd: cwd ?? directory.path)
            guard output.status == 0 else { throw BenchmarkFailure(message: "gt \(arguments): \(output)") }
            return output.stdout
        }

        func git(_ arguments: [String]) async throws {
            let output = try await BuiltBinaries.run(executable: "/usr/bin/git", arguments, cwd: directory.path)
            guard output.status == 0 else { throw BenchmarkFailure(message: "git \(arguments): \(output)") }
        }

        func createBead(_ title: String) async throws -> String {
            let output = try await BuiltBinaries.run(.bd, ["-C", town, "create", title, "--rig", "demo", "--silent"])
            guard output.status == 0 else { throw BenchmarkFailure(message: "bd create: \(output)") }
            return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func cleanUp() async {
            if let nodePID { kill(nodePID, SIGKILL) }
            if let tmux = SessionDrivers.findExecutable("tmux", path: "/usr/bin:/bin:/usr/local/bin") {
                try? await TmuxDriver(townRoot: town, tmuxPath: tmux).killServer()
            }
        }
    }

    /// A town in a temporary directory: `townName` is its directory's name, and so its node's name.
    static func withTown<T>(name: String, townName: String = "town", _ body: (BenchTown) async throws -> T)
        async throws -> T
    {
        let town = try BenchTown(name: name, townName: townName)
        do {
            try await town.git(["init", "-q", "-b", "main", town.source])
            try town.directory.write("src/README.md", "bench\n")
            try await town.git(["-C", town.source, "add", "-A"])
            try await town.git([
                "-C", town.source, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init",
            ])
            let output = try await BuiltBinaries.run(.gt, ["install", town.town])
            guard output.status == 0 else { throw BenchmarkFailure(message: "gt install: \(output)") }
            let result = try await body(town)
            await town.cleanUp()
            return result
        } catch {
            await town.cleanUp()
            throw error
        }
    }

    static func wallNanos() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }

    /// VmRSS of `pid` in MiB.
    static func rssMiB(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        let kib = Double(line.split(separator: " ").dropFirst().first.map(String.init) ?? "0") ?? 0
        return kib / 1024
    }

    /// utime + stime + cutime + cstime of `pid`, in seconds.
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command: state is field 3; utime..cstime are fields 14–17, i.e. indexes 11–14 here.
        guard fields.count > 14 else { return 0 }
        let ticks = (11...14).compactMap { Double(fields[$0]) }.reduce(0, +)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
