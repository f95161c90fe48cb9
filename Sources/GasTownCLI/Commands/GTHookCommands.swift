import Foundation
import Node
import Town

/// `gt hook`: shows the hook (inside a worktree: its own; elsewhere: every hooked polecat of the town).
public struct GTHookCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "hook", abstract: "Show hooked work (this worktree's, or every polecat's)")
    }

    public init(parsed: ParsedValues) throws(UsageError) {}

    public func run(_ context: CommandContext) async throws {
        let hooks = try await context.agentRequest(
            TownAgentRequest(.hook, directory: context.cwd), as: [HookView].self
        ) { try await $0.hooks(from: context.cwd) }
        if context.jsonMode { return try context.console.json(hooks) }
        if hooks.isEmpty { return context.console.out("Nothing on the hook") }
        for hook in hooks {
            context.console.out("\(hook.agent): \(hook.bead) \(hook.title) [\(hook.status), epoch \(hook.epoch)]")
            if let branch = hook.branch { context.console.out("  branch:  \(branch)") }
            context.console.out("  session: \(hook.session) (\(hook.sessionAlive ? "running" : "not running"))")
        }
    }
}

/// `gt prime`: prints the role context and the hooked work for the agent in this worktree.
public struct GTPrimeCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "prime", abstract: "Print the agent's role context and hooked work (run by runtime hooks)")
    }

    public init(parsed: ParsedValues) throws(UsageError) {}

    public func run(_ context: CommandContext) async throws {
        let text =
            try await context.agentRequest(
                TownAgentRequest(.prime, directory: context.cwd), as: [String: String].self
            ) { ["prime": try await $0.prime(from: context.cwd)] }["prime"] ?? ""
        if context.jsonMode { return try context.console.json(["prime": text]) }
        context.console.out(text)
    }
}

/// `gt nudge <agent> <text…>`: types a message into a polecat's session.
public struct GTNudgeCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "nudge", abstract: "Type a message into an agent's session now",
            arguments: [
                ArgumentSpec("agent", help: "<rig>/<name> or <rig>/polecats/<name>"),
                ArgumentSpec("text", help: "what to type", arity: .variadic(min: 1)),
            ])
    }

    var agent: String
    var text: String

    public init(parsed: ParsedValues) throws(UsageError) {
        agent = parsed.argument("agent")
        text = parsed.argumentList("text").joined(separator: " ")
    }

    public func run(_ context: CommandContext) async throws {
        // In a cluster the Mayor forwards a nudge to the node the agent works on (docs/scheduling.md).
        if NodeLedgerHandle.current != nil, let mayor = Mayor.running(town: try context.townRoot().path),
            await mayor.inCluster()
        {
            let reply: MayorNudgeReply
            do { reply = try await mayor.nudge(agent: agent, text: text) } catch {
                throw CLIError(error.message, code: "nudge_refused")
            }
            if context.jsonMode {
                return try context.console.json(["agent": reply.agent, "session": reply.session, "node": reply.node])
            }
            return context.console.out("Nudged \(reply.agent) (\(reply.session)) on node \(reply.node)")
        }
        let workflow = try await context.townWorkflow()
        let session = try await GTTown.run { try await workflow.nudge(agent: agent, text: text) }
        if context.jsonMode { return try context.console.json(["agent": agent, "session": session]) }
        context.console.out("Nudged \(AgentAddress.canonical(agent)) (\(session))")
    }
}

/// `gt handoff [-m note]`: from inside a worktree, replaces the session with a fresh one on the same hook.
public struct GTHandoffCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "handoff", abstract: "Hand the hooked work to a fresh session (the hook stays)",
            options: [.option("message", short: "m", value: "TEXT", help: "a note mailed to the next session")])
    }

    var note: String?

    public init(parsed: ParsedValues) throws(UsageError) { note = parsed.string("message") }

    public func run(_ context: CommandContext) async throws {
        let note = self.note
        let session =
            try await context.agentRequest(
                TownAgentRequest(.handoff, directory: context.cwd, note: note), as: [String: String].self
            ) { ["session": try await $0.handoff(from: context.cwd, note: note)] }["session"] ?? ""
        if context.jsonMode { return try context.console.json(["session": session]) }
        context.console.out("Handed off to \(session)")
    }
}

/// `gt witness patrol`: one pass of the Witness (what the node does on start and every patrol interval).
public struct GTWitnessCommand: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "witness", abstract: "The Witness: health of this node's polecats",
            subcommands: [GTWitnessPatrolCommand.self, GTWitnessStatusCommand.self, GTWitnessHistoryCommand.self])
    }

    public init() {}
}

/// `gt witness patrol`.
public struct GTWitnessPatrolCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "patrol",
            abstract: "Check every hooked polecat once: finish interrupted 'gt done', restart dead sessions")
    }

    public init(parsed: ParsedValues) throws(UsageError) {}

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let report = try await GTTown.run { try await workflow.recover() }
        if context.jsonMode { return try context.console.json(report) }
        context.console.out(
            "found \(report.found.count), restarted \(report.restarted.count), finished done \(report.finishedDone.count), "
                + "failed \(report.failed.count), stale \(report.stale.count)")
    }
}

/// `gt refinery`: the rig's merge queue.
public struct GTRefineryCommand: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "refinery", abstract: "The Refinery: the rig's merge queue (see also gt mq)",
            subcommands: [GTRefineryQueueCommand.self, GTRefineryRunCommand.self])
    }

    public init() {}
}

/// `gt refinery queue [rig] [--all]`: `gt mq list`, by its older name.
public struct GTRefineryQueueCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "queue", abstract: "List merge requests in queue order (priority, then age); same as gt mq list",
            options: [.flag("all", help: "include closed ones (merged, rework, conflict, rejected)")],
            arguments: [ArgumentSpec("rig", help: "only this rig", arity: .optional)])
    }

    var rig: String?
    var all: Bool

    public init(parsed: ParsedValues) throws(UsageError) {
        rig = parsed.optionalArgument("rig")
        all = parsed.flag("all")
    }

    public func run(_ context: CommandContext) async throws {
        try await GTMQListCommand(rig: rig, all: all).run(context)
    }
}
