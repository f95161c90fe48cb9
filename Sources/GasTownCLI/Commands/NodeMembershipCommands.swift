import Foundation
import Node
import Transport
import Wire

/// `gt node list`: the cluster's members as this node sees them (like `serf members`).
public struct NodeListCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "list", aliases: ["members"], abstract: "List the cluster's members as this node sees them",
            discussion: """
                Asks the running node for its membership view: name, address, status (alive, suspect, failed,
                left), free agent slots, running agents, load, software version, draining, labels. With --json,
                an array of members with every metadata field.
                """,
            options: [
                .option(
                    "status", value: "STATUS", type: .choice(["alive", "suspect", "failed", "left"]),
                    help: "only members with this status"),
                .option("name", value: "NAME", help: "only the member with this name"),
            ])
    }

    var status: String?
    var name: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        status = parsed.string("status")
        name = parsed.string("name")
    }

    public func run(_ context: CommandContext) async throws {
        let members = try await NodeMembershipCLI.request(
            context, MembershipControl.list, EmptyBody(), as: [MemberReport].self
        ).filter { (status == nil || $0.status == status) && (name == nil || $0.name == name) }
        // Warnings (a duplicate identity) go to stderr, so the table and --json stay as they are.
        let town = try NodeCLI.town(context)
        if let client = await NodeCLI.client(town) {
            defer { client.close() }
            let status = try? await client.request(NodeMessageType.status, EmptyBody(), as: NodeStatus.self)
            for warning in status?.warnings ?? [] { context.console.err("warning: \(warning)") }
        }
        if context.jsonMode {
            try context.console.json(members)
            return
        }
        for line in NodeMembershipCLI.table(members) { context.console.out(line) }
    }
}

/// `gt node info`: this node's membership state, health and traffic.
public struct NodeInfoCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "info", abstract: "Show this node's membership: own record, health, traffic, timing",
            discussion: """
                Own status, incarnation and metadata; Lifeguard's local health score (0 is healthy); members by
                status; membership messages and bytes sent and received; probe and suspicion timing.
                """)
    }

    public init(parsed: ParsedValues) throws(UsageError) {}

    public func run(_ context: CommandContext) async throws {
        let info = try await NodeMembershipCLI.request(
            context, MembershipControl.info, EmptyBody(), as: MembershipInfo.self)
        if context.jsonMode {
            try context.console.json(info)
            return
        }
        let me = info.myself
        let counts = info.members.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        let t = info.traffic
        for line in [
            "node:        \(me.name) at \(me.address)",
            "status:      \(me.status) (incarnation \(me.incarnation), \(info.phase))",
            "health:      \(info.awareness) (Lifeguard local health; 0 is healthy)",
            "members:     \(counts)",
            "slots:       \(me.freeSlots) free, \(me.runningAgents) agents running",
            "load:        \(String(format: "%.2f", me.loadAverage)), \(me.freeMemoryBytes >> 20) MiB free",
            "version:     \(me.version.isEmpty ? "-" : me.version)\(me.draining ? " (draining)" : "")",
            "labels:      \(NodeMembershipCLI.labels(me))",
            "rigs:        \(me.rigs.isEmpty ? "-" : me.rigs.joined(separator: ","))",
            "runtimes:    \(me.runtimes.isEmpty ? "-" : me.runtimes.joined(separator: ","))",
            "sent:        \(t.messagesSent) messages, \(t.bytesSent) bytes (\(t.messagesDropped) dropped)",
            "received:    \(t.messagesReceived) messages, \(t.bytesReceived) bytes (\(t.decodeErrors) undecodable)",
            "timing:      "
                + info.timing.sorted { $0.key < $1.key }.map { "\($0.key)=\(Int($0.value))" }
                .joined(separator: " "),
        ] {
            context.console.out(line)
        }
    }
}

/// `gt node leave`: leave the cluster gracefully, then stop the node (like `serf leave`).
public struct NodeLeaveCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "leave", abstract: "Leave the cluster gracefully, then stop the node",
            discussion: """
                Tells every live member that this node leaves (they list it as left, not failed), then asks
                the node to shut down and waits (up to 10 s) for it to stop, then removes <town>/.gt/node.pid.
                Start it again with 'gt up'; it rejoins with a higher incarnation.
                """)
    }

    public init(parsed: ParsedValues) throws(UsageError) {}

    public func run(_ context: CommandContext) async throws {
        let report = try await NodeMembershipCLI.request(
            context, MembershipControl.leave, EmptyBody(), as: MemberReport.self)
        let town = try NodeCLI.town(context)
        let pid = NodeCLI.recordedPid(town)
        _ = try? await NodeMembershipCLI.request(context, NodeMessageType.shutdown, EmptyBody(), as: EmptyBody.self)
        // The node removes node.json and its socket itself; node.pid is gt up's, so it is removed here once the
        // process it names is gone.
        let deadline = Date().addingTimeInterval(10)
        while let pid, NodeCLI.isAlive(pid), NodeCLI.isNodeProcess(pid), Date() < deadline {
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        if let pid, !(NodeCLI.isAlive(pid) && NodeCLI.isNodeProcess(pid)) { unlink(town.pidFile) }
        try context.report(report) {
            context.console.out("\(report.name) left the cluster; the node is stopping")
        }
    }
}

/// `gt node drain [--move] [--undo]`: stop taking new work at once (the flag spreads by gossip); with `--move`, hand
/// this node's hooked work and queue to other nodes. `gt node undrain` (= `drain --undo`) takes new work again.
public struct NodeDrainCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "drain", abstract: "Stop taking new work (the draining flag spreads to every member)",
            discussion: """
                Sets this node's draining flag in its membership metadata at once: no Mayor places new work here
                and this node refuses mayor-admit. Running work goes on and finishes here. With --move, each
                bead hooked here is handed off now: its session is stopped and its lease released at a new epoch
                (gt release), its work branch is pushed to the rig's remote (named in a comment on the bead), and
                the Mayor places it on another node, which claims it at the next epoch; this node's Mayor queue is
                placed elsewhere too. --undo (or gt node undrain) clears the flag. See docs/operations.md.
                """,
            options: [
                .flag("move", help: "hand hooked work and queued beads to other nodes now"),
                .flag("undo", help: "clear the draining flag: take new work again (gt node undrain)"),
            ])
    }

    var undo: Bool
    var move: Bool

    public init(parsed: ParsedValues) throws(UsageError) {
        undo = parsed.flag("undo")
        move = parsed.flag("move")
        if undo && move {
            throw UsageError(
                command: "gt node drain", reason: .invalid("--move and --undo contradict each other: use one"))
        }
    }

    init(undo: Bool) {
        self.undo = undo
        self.move = false
    }

    public func run(_ context: CommandContext) async throws {
        let report: MayorDrainReport
        do {
            report = try await NodeMembershipCLI.request(
                context, MayorMessageType.drain, MayorDrainRequest(draining: !undo, move: move),
                as: MayorDrainReport.self, timeout: 1800)
        } catch where !move {
            // A node whose Mayor is not running (a bad placement section in town.json) still drains.
            let member = try await NodeMembershipCLI.request(
                context, MembershipControl.drain, DrainRequest(draining: !undo), as: MemberReport.self)
            report = MayorDrainReport(
                node: member.name, draining: member.draining, moved: [], placedFromQueue: [], queued: [])
        }
        try context.report(report) {
            context.console.out(
                report.draining
                    ? "\(report.node) is draining: no new work is placed here" : "\(report.node) takes new work")
            for moved in report.moved {
                let whereTo =
                    moved.status == "admitted"
                    ? "to \(moved.node) at epoch \(moved.epoch)" : "\(moved.status): \(moved.reason)"
                context.console.out(
                    "  moved \(moved.bead) from \(moved.from) \(whereTo)"
                        + (moved.branch.isEmpty ? "" : " (work kept on \(moved.branch))"))
            }
            if !report.placedFromQueue.isEmpty {
                context.console.out("  placed from the queue: \(report.placedFromQueue.joined(separator: ", "))")
            }
            if !report.queued.isEmpty {
                context.console.out(
                    "  still queued here (placed on other nodes when one has room): "
                        + report.queued.joined(separator: ", "))
            }
        }
    }
}

/// `gt node undrain`: the same as `gt node drain --undo` (take new work again).
public struct NodeUndrainCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "undrain", abstract: "Take new work again (clears the draining flag; = gt node drain --undo)")
    }

    public init(parsed: ParsedValues) throws(UsageError) {}

    public func run(_ context: CommandContext) async throws {
        try await NodeDrainCommand(undo: true).run(context)
    }
}

/// Helpers of the membership commands.
enum NodeMembershipCLI {
    /// One request to the running node; a clear error when it is not running.
    static func request<Response: Decodable>(
        _ context: CommandContext, _ type: MessageType, _ body: some Encodable, as: Response.Type,
        timeout: TimeInterval = 15
    ) async throws -> Response {
        let town = try NodeCLI.town(context)
        guard let client = await NodeCLI.client(town) else {
            throw CLIError(
                "no node is running for the town at \(town.root)", hint: "start it with 'gt up' or 'gt node run'",
                code: "not_running")
        }
        defer { client.close() }
        do {
            return try await client.request(type, body, as: Response.self, timeout: timeout)
        } catch {
            throw NodeCLI.fail(error)
        }
    }

    /// Labels as `key=value,…` sorted by key, or `-`.
    static func labels(_ member: MemberReport) -> String {
        member.labels.isEmpty
            ? "-"
            : member.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                .joined(separator: ",")
    }

    /// The `gt node list` table: a header and one aligned row per member.
    static func table(_ members: [MemberReport]) -> [String] {
        let header = ["NAME", "ADDRESS", "STATUS", "SLOTS", "AGENTS", "LOAD", "VERSION", "LABELS"]
        let rows = members.map { m in
            [
                m.name, m.address, m.status + (m.draining ? " (draining)" : ""), "\(m.freeSlots)",
                "\(m.runningAgents)", String(format: "%.2f", m.loadAverage), m.version.isEmpty ? "-" : m.version,
                labels(m),
            ]
        }
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return ([header] + rows).map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
    }
}

/// `gt node flood <peer>`: a diagnostic that loads the general link to a peer with large frames.
public struct NodeFloodCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "flood", abstract: "Load the link to a peer with large frames (diagnostic)",
            discussion: """
                The running node sends pings with large bodies to the peer over their general link (the peer
                echoes each), for a while. Membership probes travel on a separate link, so neither node should
                suspect the other meanwhile; the multi-process test checks exactly that.
                """,
            options: [
                .option("seconds", value: "S", type: .integer(1...3600), help: "how long", default: "10"),
                .option(
                    "frame-bytes", value: "N", type: .integer(1...(15 << 20)), help: "body bytes per frame",
                    default: "4194304"),
                .option("concurrency", value: "N", type: .integer(1...64), help: "frames in flight", default: "4"),
            ],
            arguments: [ArgumentSpec("peer", help: "the peer's node name")])
    }

    var request: FloodRequest

    public init(parsed: ParsedValues) throws(UsageError) {
        request = FloodRequest(
            peer: parsed.argument("peer"), seconds: Double(try parsed.int("seconds") ?? 10),
            frameBytes: try parsed.int("frame-bytes") ?? 4 << 20, concurrency: try parsed.int("concurrency") ?? 4)
    }

    public func run(_ context: CommandContext) async throws {
        let town = try NodeCLI.town(context)
        guard let client = await NodeCLI.client(town) else {
            throw CLIError(
                "no node is running for the town at \(town.root)", hint: "start it with 'gt up'", code: "not_running")
        }
        defer { client.close() }
        let report: FloodReport
        do {
            report = try await client.request(
                MembershipControl.flood, request, as: FloodReport.self, timeout: request.seconds + 60)
        } catch {
            throw NodeCLI.fail(error)
        }
        try context.report(report) {
            let mib = Double(report.bytes) / Double(1 << 20)
            context.console.out(
                String(
                    format: "%d frames, %.0f MiB each way to %@ in %.1f s (%.0f MiB/s), %d failed",
                    report.frames, mib, report.peer, report.seconds, mib / max(report.seconds, 0.001), report.failures))
        }
    }
}
