import Foundation
import LedgerStore

#if canImport(Glibc)
    import Glibc
#endif

/// Benchmarks of the web dashboard (for `gt-bench dashboard`; never timed in tests), on a 3-node cluster of real
/// `gt up` processes (alpha, beta, gamma: one cluster CA, one ledger remote, rig demo on each) with `agents` scripted
/// `exec` polecats that stay working (a heartbeat and a line of output every 20 s), spread evenly by `gt sling
/// --node`:
///
/// - alpha's node CPU (utime + stime from /proc, % of one core) over `window` seconds, first with no browser, then
///   with `browsers` headless Chromium browsers on alpha's pages (the live event stream open in each); a bead on
///   beta is changed every 3 s in both windows, so the pages have live updates to follow;
/// - dashboard requests per second against alpha (`DashboardLoad`: kept-alive loopback connections on threads);
/// - event fan-out: `bd update` of a bead on beta until alpha's `/events` stream carries the `ledger_received`
///   that brought it (the title checked on alpha's API), `samples` times.
///
/// Everything started is stopped by pid (nodes, browsers, the towns' tmux servers); the directories are removed.
public enum DashboardBenchmarks {
    /// Figures of `run`. `Sendable`: numbers.
    public struct Figures: Sendable, Encodable {
        public var agents: Int
        public var browsers: Int
        public var windowSeconds: Double
        /// alpha's node CPU, % of one core, without and with the browsers.
        public var idleCPUPercent: Double
        public var browsersCPUPercent: Double
        public var load: [Route]
        /// Milliseconds from `bd update` on beta to the event on alpha's `/events`, per sample.
        public var fanOut: [Double]

        public struct Route: Sendable, Encodable {
            public var path: String
            public var connections: Int
            public var requestsPerSecond: Double
            public var p50: Double
            public var p99: Double
            public var errors: Int
            public var opened: Int

            enum CodingKeys: String, CodingKey {
                case path, connections, errors, opened
                case requestsPerSecond = "requests_per_second"
                case p50 = "p50_ms"
                case p99 = "p99_ms"
            }
        }

        enum CodingKeys: String, CodingKey {
            case agents, browsers, load
            case windowSeconds = "window_seconds"
            case idleCPUPercent = "idle_cpu_percent"
            case browsersCPUPercent = "browsers_cpu_percent"
            case fanOut = "fan_out_ms"
        }

        /// Markdown: a table per part, then the figures as JSON.
        public var lines: [String] {
            let fan = ProcessBenchmarks.medianAndP95(fanOut)
            var out = [
                "3 `gt up` nodes on loopback, \(agents) working `exec` polecats (\(agents / 3) per node), a bead "
                    + "changed on beta every 3 s; alpha's node process measured (utime + stime, /proc).",
                "",
                "| alpha's node CPU over \(Int(windowSeconds)) s | % of one core |",
                "|---|---|",
                String(format: "| no browser | %.2f %% |", idleCPUPercent),
                String(
                    format: "| %d headless Chromium on alpha's pages, live stream open (goal < 2 %%) | %.2f %% |",
                    browsers, browsersCPUPercent),
                "",
                "| route (alpha, loopback, kept alive) | connections | req/s | p50 ms | p99 ms | errors |",
                "|---|---|---|---|---|---|",
            ]
            for route in load {
                out.append(
                    String(
                        format: "| `%@` | %d | %.0f | %.2f | %.2f | %d |", route.path, route.connections,
                        route.requestsPerSecond, route.p50, route.p99, route.errors))
            }
            out += [
                "",
                String(
                    format: "Event fan-out, `bd update` on beta → alpha's `/events`: median %.0f ms, p95 %.0f ms "
                        + "(%d samples; through beta's ledger push, the remote, alpha's pull)", fan.median, fan.p95,
                    fanOut.count),
                "",
                "```json",
            ]
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            if let data = try? encoder.encode(self) { out.append(String(decoding: data, as: UTF8.self)) }
            out.append("```")
            return out
        }
    }

    typealias Town = TownBenchmarks.BenchTown

    /// Runs the three parts on one cluster.
    public static func run(
        agents: Int = 30, browsers: Int = 5, window: Double = 20, loadSeconds: Double = 5, samples: Int = 20
    ) async throws -> Figures {
        guard let chromium = HeadlessChromium.executable() else {
            throw TownBenchmarks.BenchmarkFailure(
                message: "Chromium is not installed (/usr/bin/chromium): run scripts/bootstrap")
        }
        return try await TownBenchmarks.withTown(name: "bench-dash-a", townName: "alpha") { a in
            try await TownBenchmarks.withTown(name: "bench-dash-b", townName: "beta") { b in
                try await TownBenchmarks.withTown(name: "bench-dash-c", townName: "gamma") { c in
                    try await cluster(
                        [a, b, c], agents: agents, browsers: browsers, chromium: chromium, window: window,
                        loadSeconds: loadSeconds, samples: samples)
                }
            }
        }
    }

    static func cluster(
        _ towns: [Town], agents: Int, browsers: Int, chromium: String, window: Double, loadSeconds: Double,
        samples: Int
    ) async throws -> Figures {
        let (a, b) = (towns[0], towns[1])
        let names = ["alpha", "beta", "gamma"]
        let perNode = (agents + 2) / 3
        let ledger = a.directory.join("ledger.git")
        let rig = a.directory.join("rig.git")
        try await a.git(["init", "-q", "--bare", ledger])
        try await a.git(["clone", "-q", "--bare", a.source, rig])
        for town in towns { try ClusterBenchmarks.configure(town, slots: perNode, grace: 60) }
        try await a.run(["cluster", "init", "--name", "bench"])
        let seed = try await ClusterBenchmarks.up(a)
        for town in towns.dropFirst() {
            let name = URL(fileURLWithPath: town.town).lastPathComponent
            let token = try await ClusterBenchmarks.output(a, ["cluster", "token", "--name", name])
            try await town.run(["node", "join", seed, token.trimmingCharacters(in: .whitespacesAndNewlines)])
            _ = try await ClusterBenchmarks.up(town)
        }
        for town in towns {
            // Stays working: a heartbeat and a line of output every 20 s.
            try town.directory.write(
                "agent.sh",
                """
                while :; do gt heartbeat -m "surveying $GT_BEAD" >/dev/null 2>&1; echo "surveying $GT_BEAD $(date +%s)"; sleep 20; done

                """)
            let remote = try await BuiltBinaries.run(.bd, ["-C", town.town, "remote", "add", "origin", ledger])
            guard remote.status == 0 else { throw TownBenchmarks.BenchmarkFailure(message: "bd remote add: \(remote)") }
            try await town.run([
                "rig", "add", "demo", rig, "--runtime", "exec:'sh \(town.directory.join("agent.sh"))'",
                "--max-polecats", String(perNode),
            ])
        }
        try await ClusterBenchmarks.waitUntil(120, "three nodes alive with rig demo") {
            let seen = await ClusterBenchmarks.members(a)
            return names.allSatisfy { seen[$0]?.status == "alive" && seen[$0]?.rigs.contains("demo") == true }
        }
        for index in 0..<agents {
            let bead = try await a.createBead("survey \(index)")
            _ = try await ClusterBenchmarks.output(a, ["sling", bead, "--node", names[index % 3], "--json"])
        }
        try await ClusterBenchmarks.waitUntil(180, "\(agents) agents running") {
            let seen = await ClusterBenchmarks.members(a)
            return names.map { seen[$0]?.agents ?? 0 }.reduce(0, +) >= agents
        }
        guard let alphaPID = a.nodePID else { throw TownBenchmarks.BenchmarkFailure(message: "no pid for alpha") }
        let info = try await ClusterBenchmarks.output(a, ["dashboard", "--json"])
        guard let object = ClusterBenchmarks.json(info) as? [String: Any], let base = object["url"] as? String,
            let listen = object["listen"] as? String, let port = UInt16(listen.split(separator: ":").last ?? "")
        else { throw TownBenchmarks.BenchmarkFailure(message: "gt dashboard --json said \(info)") }

        // A bead on beta, changed every 3 s while the CPU is measured; wait until alpha has it.
        let made = try await BuiltBinaries.run(.bd, ["-C", b.town, "create", "Fan-out probe", "--silent"])
        guard made.status == 0 else { throw TownBenchmarks.BenchmarkFailure(message: "bd create on beta: \(made)") }
        let probe = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try await ClusterBenchmarks.waitUntil(60, "alpha holding beta's bead") {
            await title(port: port, probe) != nil
        }
        try await Task.sleep(for: .seconds(5))

        let idle = try await cpuPercent(alphaPID, seconds: window, changing: b, probe)
        var open: [HeadlessChromium] = []
        let browsersCPU: Double
        do {
            let pages = ["", "polecats", "convoys", "merge-queue", "live"]
            for index in 0..<browsers {
                let browser = try HeadlessChromium.launch(executable: chromium)
                open.append(browser)
                let page = try await browser.newPage()
                try await page.navigate(base + pages[index % pages.count])
                guard try await page.waitFor("document.getElementById('live-state').textContent === 'live'") else {
                    throw TownBenchmarks.BenchmarkFailure(message: "browser \(index): the live stream did not open")
                }
            }
            try await Task.sleep(for: .seconds(3))
            browsersCPU = try await cpuPercent(alphaPID, seconds: window, changing: b, probe)
        } catch {
            for browser in open { await browser.close() }
            throw error
        }
        for browser in open { await browser.close() }

        var routes: [Figures.Route] = []
        for path in ["/api/nodes", "/api/polecats", "/api/ledger/beads?limit=100", "/api/convoys", "/polecats"] {
            let figures = await DashboardLoad.run(port: port, path: path, connections: 4, seconds: loadSeconds)
            routes.append(
                Figures.Route(
                    path: path, connections: figures.connections, requestsPerSecond: figures.perSecond,
                    p50: figures.percentile(0.5), p99: figures.percentile(0.99), errors: figures.errors,
                    opened: figures.opened))
        }

        let fanOut = try await fanOutLatency(port: port, beta: b, probe: probe, samples: samples)
        return Figures(
            agents: agents, browsers: browsers, windowSeconds: window, idleCPUPercent: idle,
            browsersCPUPercent: browsersCPU, load: routes, fanOut: fanOut)
    }

    /// The node's CPU over `seconds` as % of one core, while `probe` on `town` gets a new title every 3 s.
    static func cpuPercent(_ pid: Int32, seconds: Double, changing town: Town, _ probe: String) async throws
        -> Double
    {
        let before = ProcessCPU.seconds(pid)
        let start = DashboardLoad.monotonicNanos()
        let end = start + Int64(seconds * 1e9)
        var round = 0
        while DashboardLoad.monotonicNanos() < end {
            round += 1
            _ = try await BuiltBinaries.run(.bd, ["-C", town.town, "update", probe, "--title", "Probe \(round)"])
            let next = start + Int64(round) * 3_000_000_000
            let wait = min(next, end) - DashboardLoad.monotonicNanos()
            if wait > 0 { try await Task.sleep(for: .nanoseconds(wait)) }
        }
        let elapsed = Double(DashboardLoad.monotonicNanos() - start) / 1e9
        return (ProcessCPU.seconds(pid) - before) / elapsed * 100
    }

    /// `bd update` on beta → the `ledger_received` on alpha's `/events` after which alpha's API shows the new title.
    static func fanOutLatency(port: UInt16, beta: Town, probe: String, samples: Int) async throws -> [Double] {
        let watcher = EventStreamWatcher(port: port)
        defer { watcher.stop() }
        try await ClusterBenchmarks.waitUntil(10, "alpha's /events stream") { watcher.streaming }
        var figures: [Double] = []
        for sample in 0..<samples {
            let wanted = "Fan-out \(sample)"
            let start = TownBenchmarks.wallNanos()
            let updated = try await BuiltBinaries.run(.bd, ["-C", beta.town, "update", probe, "--title", wanted])
            guard updated.status == 0 else {
                throw TownBenchmarks.BenchmarkFailure(message: "bd update on beta: \(updated)")
            }
            var checked = 0
            var arrival: Int64?
            try await ClusterBenchmarks.waitUntil(30, "alpha's event for \(wanted)") {
                let received = watcher.events.filter { $0.at >= start && $0.line.contains("\"ledger_received\"") }
                // Each new ledger_received: does alpha hold the new title now?
                while checked < received.count {
                    let event = received[checked]
                    checked += 1
                    if await title(port: port, probe) == wanted {
                        arrival = event.at
                        return true
                    }
                }
                return false
            }
            if let arrival { figures.append(Double(arrival - start) / 1e6) }
            try await Task.sleep(for: .milliseconds(500))
        }
        return figures
    }

    /// The title of bead `id` on the dashboard at `port`, nil when it is not there.
    static func title(port: UInt16, _ id: String) async -> String? {
        await DedicatedThread.run(name: "gt-bench-get") { () -> String? in
            let fd = DashboardLoad.connect(host: "127.0.0.1", port: port)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            let request = Array(
                "GET /api/ledger/beads/\(id) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n".utf8)
            _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            var response: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                response += buffer[0..<count]
            }
            guard let end = DashboardLoad.headerEnd(response), response.starts(with: Array("HTTP/1.1 200".utf8)),
                let object = try? JSONSerialization.jsonObject(with: Data(response[(end + 4)...])) as? [String: Any]
            else { return nil }
            return (object["bead"] as? [String: Any])?["title"] as? String ?? object["title"] as? String
        }
    }
}
