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
            subcommands: [GTMayorQueueCommand.self])
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
