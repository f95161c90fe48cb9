import Foundation
import Node
import Town

/// `gt mayor …`: the node's Mayor (docs/scheduling.md): what it has queued and re-slung.
public struct GTMayorCommand: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "mayor", abstract: "The node's Mayor: cluster placement of slung work",
            discussion: """
                In a cluster, 'gt sling <bead>' with no rig places the bead through the Mayor of the node it runs on
                (docs/scheduling.md). 'gt mayor queue' lists the beads that node has queued until a node has room,
                and those it re-slung from dead nodes.
                """,
            subcommands: [GTMayorQueueCommand.self, GTMayorAttachCommand.self])
    }

    public init() {}
}

/// `gt mayor queue`: this node's queued beads.
public struct GTMayorQueueCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "queue", abstract: "The beads this node's Mayor queued until a node has room",
            discussion: "Needs the town's node running (gt up). Each line: bead, rig, required labels, why it waits.")
    }

    public init(parsed: ParsedValues) throws(UsageError) {}

    public func run(_ context: CommandContext) async throws {
        let root = try context.townRoot().path
        guard let mayor = Mayor.running(town: root), NodeLedgerHandle.current != nil else {
            throw CLIError("the Mayor runs in the town's node: start it with gt up", code: "no_node")
        }
        let report = await mayor.queueReport()
        if context.jsonMode { return try context.console.json(report) }
        if report.queued.isEmpty { context.console.out("Nothing queued on \(report.node)") }
        for entry in report.queued {
            let labels = entry.require.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            context.console.out(
                "\(entry.bead)  rig \(entry.rig)\(labels.isEmpty ? "" : "  requires \(labels.joined(separator: ","))")"
                    + "  since \(entry.queuedAt): \(entry.reason)")
        }
        if !report.failedOver.isEmpty {
            context.console.out("Re-slung from dead nodes: \(report.failedOver.joined(separator: ", "))")
        }
    }
}

/// `gt mayor attach [--runtime R]`: starts (or finds) the Mayor's agent session and attaches the terminal to it;
/// with no terminal it leaves it detached and prints how to attach.
public struct GTMayorAttachCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "attach", abstract: "Start (or find) the Mayor's agent session and attach to it",
            discussion: """
                The session (Gas Town's hq-mayor) runs in <town>/mayor with the runtime given (default: the
                town's), GT_ROLE=mayor and GT_SCOPE=town; the Mayor's role context is written to
                <town>/mayor/.gt/mayor-context.md (GT_ROLE_CONTEXT) and given as its first prompt. A running
                session is reused. With a terminal (and no node running the command) the terminal is attached
                with tmux; otherwise the session stays detached and the tmux attach command is printed.
                """,
            options: [.option("runtime", value: "R", help: "the agent runtime: claude, codex, … or exec:'<command>'")])
    }

    var runtime: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        runtime = parsed.string("runtime")
        if let runtime, runtime.trimmingCharacters(in: .whitespaces).isEmpty {
            throw parsed.invalid("the runtime is empty: use claude, codex, gemini, … or exec:'<command>'")
        }
    }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let result = try await GTTown.run { try await workflow.startMayorSession(runtime: runtime) }
        if context.jsonMode { return try context.console.json(result) }
        context.console.out(
            "\(result.started ? "Started" : "Found") the Mayor's session \(result.session) (\(result.runtime)) "
                + "in \(result.directory)")
        let interactive = NodeLedgerHandle.current == nil && isatty(0) != 0 && isatty(1) != 0
        if interactive, !result.attach.isEmpty {
            let words = ["tmux"] + result.attach.split(separator: " ").dropFirst().map(String.init)
            var argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
            execvp("tmux", &argv)
            context.console.err("could not run tmux (errno \(errno))")
        }
        if !result.attach.isEmpty { context.console.out("  no terminal here: attach with  \(result.attach)") }
    }
}

/// `gt agents`: every agent session of the cluster, from the shared ledger.
public struct GTAgentsCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "agents", abstract: "List every agent of the cluster: node, rig, role, hook, state",
            discussion: """
                Read from the town's ledger, which the cluster's nodes share through its remote, so agents working on
                other nodes are listed with their node (the node their hooked bead is claimed on; empty when idle).
                A polecat whose hook no longer matches the bead's claim shows as stale.
                """)
    }

    public init(parsed: ParsedValues) throws(UsageError) {}

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let agents = try await GTTown.run { try await workflow.listAgents() }
        if context.jsonMode { return try context.console.json(agents) }
        if agents.isEmpty { return context.console.out("No agents; 'gt sling <bead>' starts one") }
        let width = max(4, agents.map(\.node.count).max() ?? 0)
        context.console.out("NODE".padding(toLength: width, withPad: " ", startingAt: 0) + "  AGENT  HOOK  STATE")
        for agent in agents {
            let node = (agent.node.isEmpty ? "-" : agent.node).padding(toLength: width, withPad: " ", startingAt: 0)
            let hook = agent.hook.isEmpty ? "-" : "\(agent.hook) (epoch \(agent.epoch))"
            context.console.out("\(node)  \(agent.address) [\(agent.role)]  \(hook)  \(agent.state)")
        }
    }
}
