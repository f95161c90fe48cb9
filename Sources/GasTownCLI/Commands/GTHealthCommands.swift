import Foundation
import Node
import Town

/// `gt heartbeat [-m note]`: from inside a polecat worktree, tells the Witness the agent is alive (a long silent
/// test or gate run is then never taken for hung). Writes `<worktree>/.gt/activity.json`; needs no node.
public struct GTHeartbeatCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "heartbeat", abstract: "Tell the Witness this agent is alive (during a long silent run)",
            options: [.option("message", short: "m", value: "TEXT", help: "what the agent is doing (kept as evidence)")])
    }

    var note: String?

    public init(parsed: ParsedValues) throws(UsageError) { note = parsed.string("message") }

    struct Output: Encodable {
        var heartbeats: Int
        var at: Double
        var note: String?
    }

    public func run(_ context: CommandContext) async throws {
        let activity = try GTTown.run { try AgentActivity.heartbeat(from: context.cwd, note: note) }
        try context.report(
            Output(heartbeats: activity.heartbeats, at: activity.lastHeartbeat ?? 0, note: activity.note)
        ) {
            context.console.out("heartbeat \(activity.heartbeats) recorded")
        }
    }
}

/// The Witness's last report of the town, or a clear error when there is none.
enum WitnessReports {
    static func load(_ context: CommandContext) throws -> WitnessReport {
        let layout = TownLayout(root: try context.townRoot().path)
        guard let report = try GTTown.run({ try WitnessReport.read(layout) }) else {
            throw CLIError(
                "the Witness has not reported yet: it writes \(WitnessReport.path(layout)) after every patrol",
                hint: "start the town's node with 'gt up' (its Witness patrols every 2 s)", code: "no_report")
        }
        return report
    }

    static func age(_ seconds: Double) -> String { "\(Int(max(0, seconds.rounded()))) s" }

    static func now() -> Double { Date().timeIntervalSince1970 }
}

/// `gt health`: one line per hooked polecat with its state and why, from the Witness's last patrol.
public struct GTHealthCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "health",
            abstract: "One line per polecat: its state (working, idle, stalled-at-prompt, looping, hung, …) and why",
            discussion: "Read from the Witness's last patrol (<town>/.gt/witness/status.json); the node must run.")
    }

    public init(parsed: ParsedValues) throws(UsageError) {}

    struct Output: Encodable {
        var node: String
        var at: Double
        var polecats: [WitnessReport.Polecat]
        var rateLimits: [WitnessReport.RateLimit]
        var clusterRateLimits: [ClusterRateLimit]?
        var freeze: FreezeRecord?
        enum CodingKeys: String, CodingKey {
            case node, at, polecats, freeze
            case rateLimits = "rate_limits"
            case clusterRateLimits = "cluster_rate_limits"
        }
    }

    public func run(_ context: CommandContext) async throws {
        let report = try WitnessReports.load(context)
        try context.report(
            Output(
                node: report.node, at: report.at, polecats: report.polecats, rateLimits: report.rateLimits,
                clusterRateLimits: report.clusterRateLimits, freeze: report.freeze)
        ) {
            let age = WitnessReports.age(WitnessReports.now() - report.at)
            if let freeze = report.freeze {
                context.console.out(
                    "FROZEN (gt estop by \(freeze.by) on \(freeze.node) at \(freeze.at)"
                        + (freeze.reason.isEmpty ? "" : ": \(freeze.reason)") + "): sessions paused; 'gt thaw' resumes")
            }
            if report.polecats.isEmpty { context.console.out("No hooked polecats (Witness on \(report.node), \(age) ago)") }
            for polecat in report.polecats {
                context.console.out(
                    "\(polecat.agent)  \(polecat.state)  e\(polecat.sessionEpoch)  \(polecat.bead)  \(polecat.reason)")
            }
            for limit in report.rateLimits {
                context.console.out(
                    "rate-limited: \(limit.account) until \(TownEvents.timestamp(Date(timeIntervalSince1970: limit.until)))"
                        + " (seen by \(limit.polecat))")
            }
            for limit in report.clusterRateLimits ?? [] {
                context.console.out(
                    "cluster rate limit: account \(limit.account) until "
                        + "\(TownEvents.timestamp(Date(timeIntervalSince1970: limit.until))) (published by \(limit.node)); "
                        + "no work is placed on it until then")
            }
        }
    }
}

/// `gt witness status [polecat]`: the Witness's last verdict per polecat with its evidence.
public struct GTWitnessStatusCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "status", abstract: "The Witness's last verdict per polecat, with the evidence",
            arguments: [ArgumentSpec("polecat", help: "<rig>/<name> or <rig>/polecats/<name>", arity: .optional)])
    }

    var polecat: String?

    public init(parsed: ParsedValues) throws(UsageError) { polecat = parsed.optionalArgument("polecat") }

    public func run(_ context: CommandContext) async throws {
        let report = try WitnessReports.load(context)
        let wanted = polecat.map(AgentAddress.canonical)
        let lines = report.polecats.filter { wanted == nil || $0.agent == wanted }
        if let wanted, lines.isEmpty {
            throw CLIError(
                "the Witness has no verdict for \(wanted) (not hooked, or not on node \(report.node))",
                hint: "'gt health' lists the polecats it watches", code: "not_found")
        }
        try context.report(lines) {
            for line in lines {
                context.console.out("\(line.agent): \(line.state) (seen \(line.seen)×), next action \(line.action)")
                context.console.out("  why: \(line.reason)")
                context.console.out("  session epoch \(line.sessionEpoch), bead \(line.bead)")
                for (name, value) in line.evidence.sorted(by: { $0.key < $1.key }) {
                    context.console.out("  \(name): \(value)")
                }
            }
        }
    }
}

/// `gt witness history [polecat]`: the Witness's actions, oldest first, from the event log.
public struct GTWitnessHistoryCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "history", abstract: "The Witness's actions (nudges, dialog answers, restarts, …) with evidence",
            options: [.flag("evidence", help: "also print each action's evidence and the pane's last lines")],
            arguments: [ArgumentSpec("polecat", help: "<rig>/<name> or <rig>/polecats/<name>", arity: .optional)])
    }

    var polecat: String?
    var evidence: Bool

    public init(parsed: ParsedValues) throws(UsageError) {
        polecat = parsed.optionalArgument("polecat")
        evidence = parsed.flag("evidence")
    }

    public func run(_ context: CommandContext) async throws {
        let layout = TownLayout(root: try context.townRoot().path)
        let wanted = polecat.map(AgentAddress.canonical)
        let events = TownEvents.read(layout.eventsFile).filter {
            ($0["type"] == "witness" || $0["type"] == "escalation") && (wanted == nil || $0["agent"] == wanted)
        }
        try context.report(events) {
            if events.isEmpty { context.console.out("No Witness actions") }
            for event in events {
                if event["type"] == "escalation" {
                    context.console.out(
                        "\(event["ts"] ?? "")  \(event["agent"] ?? "")  escalation [\(event["category"] ?? "")] to "
                            + "\(event["to"] ?? ""): \(event["cause"] ?? "")")
                    continue
                }
                context.console.out(
                    "\(event["ts"] ?? "")  \(event["agent"] ?? "")  \(event["state"] ?? "") → \(event["action"] ?? "") "
                        + "(\(event["outcome"] ?? "")) e\(event["session_epoch"] ?? "")  \(event["reason"] ?? "")")
                guard evidence else { continue }
                if let text = event["evidence"], !text.isEmpty { context.console.out("    evidence: \(text)") }
                for line in (event["pane_tail"] ?? "").split(separator: "\n", omittingEmptySubsequences: false)
                where !line.allSatisfy(\.isWhitespace) {
                    context.console.out("    | \(line)")
                }
            }
        }
    }
}

/// `gt escalations`: what the Witness escalated (one line per cause, how often raised, where sent).
public struct GTEscalationsCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "escalations", abstract: "Escalations raised by the Witness: one per cause, deduplicated")
    }

    public init(parsed: ParsedValues) throws(UsageError) {}

    public func run(_ context: CommandContext) async throws {
        let report = try WitnessReports.load(context)
        try context.report(report.escalations) {
            if report.escalations.isEmpty { context.console.out("No escalations") }
            for line in report.escalations {
                let sent = line.sentAt.map { "sent to \(line.recipient) \(WitnessReports.age(WitnessReports.now() - $0)) ago" }
                    ?? "held (rate limit)"
                context.console.out("[\(line.category)] \(line.subject) — raised \(line.count)×, \(sent)")
            }
        }
    }
}
