import Foundation
import Node
import Town

/// `gt polecat`: the rig's named workers.
public struct GTPolecatCommand: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "polecat", abstract: "Polecats: named workers with a persistent identity and CV",
            subcommands: [
                GTPolecatListCommand.self, GTPolecatAddCommand.self, GTPolecatRemoveCommand.self,
                GTPolecatStatusCommand.self,
            ])
    }

    public init() {}
}

/// `gt polecat list [rig]`.
public struct GTPolecatListCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "list", aliases: ["ls"], abstract: "List polecats (state, hook, CV)",
            arguments: [ArgumentSpec("rig", help: "only this rig", arity: .optional)])
    }

    var rig: String?

    public init(parsed: ParsedValues) throws(UsageError) { rig = parsed.optionalArgument("rig") }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let polecats = try await GTTown.run { try await workflow.listPolecats(rig: rig) }
        if context.jsonMode { return try context.console.json(polecats) }
        if polecats.isEmpty { return context.console.out("No polecats; 'gt sling <bead> <rig>' creates them") }
        for polecat in polecats { context.console.out(GTPolecatListCommand.line(polecat)) }
    }

    static func line(_ polecat: PolecatState) -> String {
        let hook = polecat.isIdle ? "" : "  hook \(polecat.hookBead) e\(polecat.hookEpoch)"
        return "\(polecat.address)  \(polecat.state)\(hook)  session e\(polecat.sessionEpoch)  "
            + "cv: \(polecat.completed) done, \(polecat.merges) merged, \(polecat.failures) failed, "
            + "\(polecat.rework) rework" + (polecat.superseded > 0 ? ", \(polecat.superseded) superseded" : "")
    }

    /// The CV per bead label and runtime, one line each (`*`: every bead), for `gt polecat status`.
    static func recordLines(_ polecat: PolecatState) -> [String] {
        polecat.record.map {
            "    \($0.label == PolecatState.anyLabel ? "any work" : $0.label) on \($0.runtime): \($0.merges) merged, "
                + "\($0.failures) failed, \($0.rework) rework"
                + ($0.superseded > 0 ? ", \($0.superseded) superseded" : "")
        }
    }
}

/// `gt polecat add <rig> <name>`.
public struct GTPolecatAddCommand: RigMemberCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "add", abstract: "Create an idle polecat (its agent bead)",
            arguments: RigMember.arguments(member: "the polecat's name"))
    }

    var member: RigMember

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let polecat = try await GTTown.run { try await workflow.addPolecat(rig: rig, polecat: name) }
        if context.jsonMode { return try context.console.json(polecat) }
        context.console.out("Added polecat \(polecat.address)")
    }
}

/// `gt polecat remove <rig> <name> [--force]`.
public struct GTPolecatRemoveCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "remove", aliases: ["rm"], abstract: "Remove a polecat (its worktree and session)",
            options: [.flag("force", short: "f", help: "also when working: stop it and release its claim")],
            arguments: RigMember.arguments(member: "the polecat"))
    }

    var member: RigMember
    var force: Bool

    public init(parsed: ParsedValues) throws(UsageError) {
        member = RigMember(parsed)
        force = parsed.flag("force")
    }

    public func run(_ context: CommandContext) async throws {
        let (rig, name) = (member.rig, member.name)
        let workflow = try await context.townWorkflow()
        try await GTTown.run { try await workflow.removePolecat(rig: rig, polecat: name, force: force) }
        if context.jsonMode { return try context.console.json(["removed": "\(rig)/polecats/\(name)"]) }
        context.console.out("Removed polecat \(rig)/polecats/\(name)")
    }
}

/// `gt polecat status <rig>/<name>`.
public struct GTPolecatStatusCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "status", abstract: "Show one polecat: state, hook, session, CV",
            arguments: [ArgumentSpec("agent", help: "<rig>/<name> or <rig>/polecats/<name>")])
    }

    var agent: String

    public init(parsed: ParsedValues) throws(UsageError) {
        agent = parsed.argument("agent")
        if AgentAddress.polecat(agent) == nil {
            throw parsed.invalid("'\(agent)' is not a polecat address (<rig>/<name>)")
        }
    }

    struct Output: Encodable {
        var polecat: PolecatState
        var session: String
        var sessionAlive: Bool
        var worktree: String

        enum CodingKeys: String, CodingKey {
            case polecat, session, worktree
            case sessionAlive = "session_alive"
        }
    }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let (rig, name) = AgentAddress.polecat(agent)!
        guard
            let polecat = try await GTTown.run({ try await workflow.listPolecats(rig: rig) }).first(where: {
                $0.name == name
            })
        else { throw GTTown.cliError(TownError.noSuchPolecat(rig: rig, name: name)) }
        let session = polecat.sessionName(townRoot: workflow.layout.root)
        let output = Output(
            polecat: polecat, session: session.rendered,
            sessionAlive: (try? await workflow.sessions.isAlive(session)) ?? false,
            worktree: workflow.layout.polecatWorktree(rig, name))
        if context.jsonMode { return try context.console.json(output) }
        context.console.out(GTPolecatListCommand.line(polecat))
        context.console.out("  session:  \(output.session) (\(output.sessionAlive ? "running" : "not running"))")
        context.console.out("  worktree: \(output.worktree)")
        let record = GTPolecatListCommand.recordLines(polecat)
        if !record.isEmpty {
            context.console.out("  record:")
            for line in record { context.console.out(line) }
        }
    }
}
