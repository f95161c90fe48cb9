import Foundation
import LedgerStore
import Node
import Transport

/// `gt up`: starts `gt node run` in the background and returns once it serves.
public struct UpCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "up", abstract: "Start this town's node in the background; return once it serves",
            discussion: """
                Runs 'gt node run' as a background process (output in <town>/.gt/logs/node.out), records its pid
                in <town>/.gt/node.pid, and waits until it answers on <town>/.gt/node.sock. A stale pid file or
                socket left by a killed node is cleaned up. If the node dies while starting, its log is shown.
                A town that joined a cluster (it has a node certificate but not the CA key) needs a node to
                join through: node.join in mayor/town.json (recorded by 'gt node join'), or --join; with
                neither, it refuses rather than start a separate one-node cluster, unless --alone.
                --config FILE (a cluster-config/*.town.json) is checked first (gt cluster-config check) and its
                node, placement, refinery and convoy sections are written into mayor/town.json before the node
                starts; a file with any problem is refused and nothing is changed.
                """,
            options: [
                .option("listen", value: "HOST:PORT", help: "where to listen (port 0: any free port)"),
                NodeCLI.joinOption,
                NodeCLI.dashboardOption,
                .flag("alone", help: "start a joined town's node without any seed (it waits for peers to dial it)"),
                .option("config", value: "FILE", help: "a cluster config (town.json): checked, then applied"),
                .option("timeout", value: "SECONDS", type: .integer(1...600), help: "how long to wait", default: "30"),
            ])
    }

    var listen: String?
    var seeds: [String]
    var timeout: Int
    var alone: Bool
    var config: String?
    var dashboard: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        config = parsed.string("config")
        listen = parsed.string("listen")
        seeds = parsed.strings("join")
        timeout = try parsed.int("timeout") ?? 30
        alone = parsed.flag("alone")
        dashboard = parsed.string("dashboard")
        try NodeCLI.checkAddresses([listen, dashboard].compactMap { $0 } + seeds, parsed)
    }

    public func run(_ context: CommandContext) async throws {
        let town = try NodeCLI.town(context)
        if let client = await NodeCLI.client(town) {
            defer { client.close() }
            let status = try? await client.request(NodeMessageType.status, EmptyBody(), as: NodeStatus.self)
            if let status {
                if let config {
                    throw CLIError(
                        "node \(status.name) already runs (pid \(status.pid)); --config \(config) was not applied",
                        hint: "stop it with 'gt down', then 'gt up --config \(config)'", code: "running")
                }
                try report(context, status, started: false)
                return
            }
        }
        if let pid = NodeCLI.recordedPid(town), NodeCLI.isAlive(pid), NodeCLI.isNodeProcess(pid) {
            throw CLIError(
                "a node (pid \(pid)) runs for this town but does not answer on \(town.socket)",
                hint: "wait, or stop it with 'gt down'", code: "not_answering")
        }
        if let config {
            let name = try await ClusterConfigCLI.apply(config, to: town, context: context)
            context.console.progress("applied \(config) to \(town.townFile) (node \(name))")
        }
        for stale in [town.pidFile, town.runtimeFile] { unlink(stale) }
        let pki = town.pki
        try await Self.initializeOneNodeCluster(town, context: context)
        guard FileManager.default.fileExists(atPath: pki.nodeCertificate.path) else {
            throw NodeCLI.fail(NodeError.noIdentity("no \(pki.nodeCertificate.path)"))
        }
        if !pki.holdsCA && seeds.isEmpty && !alone {
            let config: TownNodeConfig
            do { config = try TownNodeConfig.load(town) } catch { throw NodeCLI.fail(error) }
            if config.join.isEmpty {
                throw CLIError(
                    "this town joined a cluster, but \(town.townFile) names no node to join through (node.join), "
                        + "so the node would start a separate one-node cluster",
                    hint: "run 'gt up --join HOST:PORT' with the address of a cluster node, or 'gt up --alone' to "
                        + "start without one (peers must then dial this node)",
                    code: "no_seeds")
            }
        }
        let pid = try spawn(town, context: context)
        do {
            try AtomicFile.write(Data("\(pid)\n".utf8), to: town.pidFile)
        } catch {
            kill(pid, SIGTERM)
            throw CLIError("cannot write \(town.pidFile): \(error.localizedDescription)", code: "io")
        }
        let deadline = Date().addingTimeInterval(TimeInterval(timeout))
        while Date() < deadline {
            if !NodeCLI.isAlive(pid) {
                unlink(town.pidFile)
                let log = NodeCLI.tail(town.consoleFile, lines: 15) + NodeCLI.tail(town.logFile, lines: 10)
                throw CLIError(
                    "the node exited while starting (pid \(pid)); last lines of its output:\n"
                        + log.filter { !$0.isEmpty }.map { "  " + $0 }.joined(separator: "\n"),
                    hint: "see \(town.logFile)", code: "start_failed")
            }
            if let client = await NodeCLI.client(town) {
                defer { client.close() }
                if let status = try? await client.request(NodeMessageType.status, EmptyBody(), as: NodeStatus.self),
                    status.pid == pid
                {
                    try report(context, status, started: true)
                    return
                }
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        throw CLIError(
            "the node (pid \(pid)) did not answer within \(timeout) s; it is still running",
            hint: "see \(town.logFile), or stop it with 'gt down'", code: "timeout")
    }

    /// A town that never made or joined a cluster (no CA, no node certificate, no key under `.gt/pki/`) becomes a
    /// one-node cluster, its CA made as `gt cluster init` would, said in one line on stderr. A town with any of
    /// them (initialised, joined, or half-joined) is left as it is.
    static func initializeOneNodeCluster(_ town: TownPaths, context: CommandContext) async throws {
        let pki = town.pki
        let marks = [pki.caCertificate.path, pki.nodeCertificate.path, pki.nodeKey.path, pki.caKey.path]
        guard !marks.contains(where: { FileManager.default.fileExists(atPath: $0) }) else { return }
        let node = try NodeCLI.nodeName(flag: nil, town: town)
        let cluster = (try? TownNodeConfig.load(town))?.townName ?? node.rawValue
        let identity: NodeIdentity
        do {
            identity = try await NodeBlocking.run { () throws(TransportError) -> NodeIdentity in
                try PKI.initCluster(at: pki, clusterName: cluster, nodeName: node)
            }
        } catch {
            throw NodeCLI.fail(error)
        }
        let fingerprint = identity.trustedAuthorities.first?.fingerprint ?? ""
        context.console.progress(
            "first start: made '\(cluster)' a one-node cluster (node \(node), CA \(fingerprint.prefix(16))…, files in "
                + "\(pki.url.path)); 'gt cluster token' lets other towns join it")
    }

    private func spawn(_ town: TownPaths, context: CommandContext) throws(CLIError) -> Int32 {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        var arguments = ["node", "run", "--town", town.root]
        if let listen { arguments += ["--listen", listen] }
        if let dashboard { arguments += ["--dashboard", dashboard] }
        for seed in seeds { arguments += ["--join", seed] }
        let fd = open(town.consoleFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CLIError("cannot open \(town.consoleFile): \(String(cString: strerror(errno)))", code: "io")
        }
        let output = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = context.environment
        process.currentDirectoryURL = URL(fileURLWithPath: town.root)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        do {
            try process.run()
        } catch {
            throw CLIError("cannot start \(executable): \(error.localizedDescription)", code: "start_failed")
        }
        return process.processIdentifier
    }

    private func report(_ context: CommandContext, _ status: NodeStatus, started: Bool) throws {
        try context.report(status) {
            let verb = started ? "up" : "already running"
            context.console.out("node \(status.name) \(verb) (pid \(status.pid)), listening on \(status.listen)")
        }
    }
}

/// `gt down`: stops the background node (SIGTERM by the recorded pid, then SIGKILL after a bounded wait).
public struct DownCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "down", abstract: "Stop this town's node (SIGTERM, then SIGKILL after --timeout)",
            options: [
                .option(
                    "timeout", value: "SECONDS", type: .integer(1...600), help: "how long to wait after SIGTERM",
                    default: "10")
            ])
    }

    var timeout: Int

    public init(parsed: ParsedValues) throws(UsageError) {
        timeout = try parsed.int("timeout") ?? 10
    }

    /// What `--json` prints.
    struct Output: Encodable {
        var stopped: Bool
        var pid: Int32?
        var killed: Bool
        var message: String
    }

    public func run(_ context: CommandContext) async throws {
        let town = try NodeCLI.town(context)
        guard let pid = NodeCLI.recordedPid(town), NodeCLI.isAlive(pid) else {
            cleanStale(town)
            return try say(context, Output(stopped: false, pid: nil, killed: false, message: "node: not running"))
        }
        guard NodeCLI.isNodeProcess(pid) else {
            cleanStale(town)
            return try say(
                context,
                Output(stopped: false, pid: pid, killed: false, message: "node: not running (stale pid \(pid) removed)")
            )
        }
        kill(pid, SIGTERM)
        var killed = false
        if !(await waitForExit(pid, seconds: Double(timeout))) {
            kill(pid, SIGKILL)
            killed = true
            _ = await waitForExit(pid, seconds: 5)
        }
        if NodeCLI.isAlive(pid) {
            throw CLIError("node (pid \(pid)) is still running after SIGKILL", code: "stop_failed")
        }
        cleanStale(town)
        try say(
            context,
            Output(
                stopped: true, pid: pid, killed: killed,
                message: killed ? "node stopped (pid \(pid), killed after \(timeout) s)" : "node stopped (pid \(pid))"))
    }

    private func waitForExit(_ pid: Int32, seconds: Double) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if !NodeCLI.isAlive(pid) { return true }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        return !NodeCLI.isAlive(pid)
    }

    /// Removes what a dead node left (pid file; socket and node.json when no node holds the lock).
    private func cleanStale(_ town: TownPaths) {
        unlink(town.pidFile)
        let fd = open(town.lockFile, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 {
            unlink(town.socket)
            unlink(town.runtimeFile)
            flock(fd, LOCK_UN)
        }
    }

    private func say(_ context: CommandContext, _ output: Output) throws {
        if context.jsonMode { try context.console.json(output) } else { context.console.out(output.message) }
    }
}

/// `gt status`: asks the node over its Unix socket; says "not running" otherwise.
public struct StatusCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "status", abstract: "Show whether this town's node runs, its peers and components, and the cluster",
            discussion: """
                In a cluster (more than one member) it also shows every node with its slots used and free,
                whether it is draining, the polecats working on it, the open convoys and this node's Mayor queue;
                --json adds them under "cluster".
                """)
    }

    public init(parsed: ParsedValues) throws(UsageError) {}

    /// The node's status, or nil when no node answers within the settings' timeouts.
    func askStatus(_ town: TownPaths) async -> NodeStatus? {
        var quick = ConnectionSettings()
        quick.connectTimeout = settings.connectTimeout
        quick.handshakeTimeout = settings.handshakeTimeout
        guard let client = try? await NodeClient.connect(town, settings: quick) else { return nil }
        defer { client.close() }
        return try? await client.request(
            NodeMessageType.status, EmptyBody(), as: NodeStatus.self, timeout: settings.statusTimeout)
    }

    /// What `--json` prints when no node answers.
    struct NotRunning: Encodable {
        var running = false
        var town: String
    }

    /// What `--json` prints when a live node holds the town's node lock but does not answer in time.
    struct NotAnswering: Encodable {
        var running = true
        var answering = false
        var pid: Int32
        var town: String
    }

    /// Timeouts of the status request.
    var settings = NodeCLISettings()

    public func run(_ context: CommandContext) async throws {
        let town = try NodeCLI.town(context)
        guard let status = await askStatus(town) else {
            if let pid = NodeCLI.lockHolder(town) {
                try context.report(NotAnswering(pid: pid, town: town.root)) {
                    context.console.out(
                        "node: not answering (pid \(pid)): it holds \(town.lockFile) but gave no status on "
                            + "\(town.socket) within \(Int(settings.statusTimeout)) s")
                    context.console.out(
                        "  it may be stopped ('kill -CONT \(pid)' resumes it) or overloaded; 'gt down' stops it")
                }
                throw CommandExit(.failure)
            }
            try context.report(NotRunning(town: town.root)) {
                context.console.out("node: not running (town \(town.root))")
            }
            return
        }
        let cluster = await askCluster(town)
        if context.jsonMode {
            try context.console.json(StatusOutput(status: status, cluster: cluster))
            return
        }
        let console = context.console
        console.out("node \(status.name): running (pid \(status.pid), up \(Int(status.uptimeSeconds)) s)")
        console.out("  listen:      \(status.listen)")
        console.out("  socket:      \(status.socket)")
        console.out(
            "  certificate: serial \(status.certificate.serial), \(NodeCLI.renewal(status.certificate.renewAt))")
        console.out("  cluster CA:  \(status.caFingerprint)\(status.holdsCA ? " (this node holds the CA key)" : "")")
        console.out("  peers:       \(status.peers.isEmpty ? "none" : "")")
        for peer in status.peers {
            console.out("    \(peer.name)\t\(peer.address ?? "-")\t\(peer.connected ? "connected" : "not connected")")
        }
        console.out("  components:  \(status.components.isEmpty ? "none" : "")")
        for component in status.components {
            console.out("    \(component.name)\t\(component.state)\tfailures \(component.failures)")
        }
        if !status.refusals.isEmpty {
            console.out("  refused:")
            for refusal in status.refusals { console.out("    \(refusal)") }
        }
        for warning in status.warnings { console.out("  WARNING:     \(warning)") }
        if let cluster { for line in Self.clusterLines(cluster) { console.out(line) } }
    }

    /// The node's status with the cluster's (in a cluster) under `cluster`, for `--json`.
    struct StatusOutput: Encodable {
        var status: NodeStatus
        var cluster: MayorClusterStatus?

        enum Keys: String, CodingKey { case cluster }

        func encode(to encoder: any Encoder) throws {
            try status.encode(to: encoder)
            var container = encoder.container(keyedBy: Keys.self)
            try container.encodeIfPresent(cluster, forKey: .cluster)
        }
    }

    /// The cluster as the node's Mayor sees it, when the node is in a cluster of more than one member.
    func askCluster(_ town: TownPaths) async -> MayorClusterStatus? {
        guard let client = await NodeCLI.client(town) else { return nil }
        defer { client.close() }
        guard
            let cluster = try? await client.request(
                MayorMessageType.status, EmptyBody(), as: MayorClusterStatus.self, timeout: settings.statusTimeout),
            cluster.nodes.count > 1
        else { return nil }
        return cluster
    }

    /// The text of the cluster part of `gt status`.
    static func clusterLines(_ cluster: MayorClusterStatus) -> [String] {
        let used = cluster.nodes.reduce(0) { $0 + $1.used }
        let slots = cluster.nodes.reduce(0) { $0 + $1.slots }
        var lines = ["  cluster:     \(cluster.nodes.count) nodes, slots \(used)/\(slots) used (docs/scheduling.md)"]
        let width = max(4, cluster.nodes.map(\.name.count).max() ?? 0)
        for node in cluster.nodes {
            let state = node.status + (node.draining ? " draining" : "")
            let reserved = node.reserved > 0 ? ", \(node.reserved) reserved" : ""
            lines.append(
                "    \(node.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(state)  "
                    + "slots \(node.used)/\(node.slots) (\(node.free) free\(reserved))  "
                    + "rigs \(node.rigs.isEmpty ? "-" : node.rigs.joined(separator: ","))")
            for polecat in node.polecats {
                lines.append("      \(polecat.agent)  \(polecat.bead) (epoch \(polecat.epoch))")
            }
        }
        lines.append("  convoys:     \(cluster.convoys.isEmpty ? "none open" : "")")
        for convoy in cluster.convoys {
            lines.append("    \(convoy.id)  \(convoy.name)  \(convoy.done)/\(convoy.total) done")
        }
        for limit in cluster.rateLimits ?? [] {
            lines.append(
                "  rate limit:  account \(limit.account) until "
                    + "\(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: limit.until))) (published by \(limit.node))")
        }
        lines.append("  queued:      \(cluster.queued.isEmpty ? "none (on \(cluster.node))" : "")")
        for entry in cluster.queued {
            lines.append("    \(entry.bead)  rig \(entry.rig): \(entry.reason)")
        }
        return lines
    }
}
