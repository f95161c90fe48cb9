import Foundation
import Node
import Town

/// `gt rig`: add, list and remove rigs (a project repository with its own ledger scope).
public struct GTRigCommand: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "rig", abstract: "Manage rigs: project repositories worked on by polecats",
            subcommands: [GTRigAddCommand.self, GTRigListCommand.self, GTRigRemoveCommand.self, GTRigSetCommand.self])
    }

    public init() {}
}

/// `gt rig add <name> <git-url> [--prefix P] [--runtime R]`.
public struct GTRigAddCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "add", abstract: "Add a rig: bare clone, Refinery clone, ledger scope with its prefix",
            discussion: """
                Clones <git-url> bare into <town>/<name>/.repo.git (polecat worktrees hang off it) and into
                <town>/<name>/refinery/rig, writes <town>/<name>/config.json, adds the ledger scope <prefix> (routed in
                .beads/routes.jsonl) and registers the rig in mayor/rigs.json. A URL that is not a git repository
                changes nothing.
                """,
            options: [
                .option("prefix", value: "P", help: "bead ID prefix of the rig's scope", default: "from the name"),
                .option("runtime", value: "R", help: "agent runtime: claude, codex, … or exec:'<command>'"),
                .option(
                    "max-polecats", value: "N", type: .integer(1...1000), help: "most polecats the rig may have",
                    default: "30"),
                .option(
                    "gate", value: "CMD",
                    help:
                        "the merge queue's gate command (run in a worktree of each candidate; none: merge after rebase)"
                ),
                .option(
                    "setup", value: "CMD",
                    help: "a shell command run in each new polecat worktree before its session (gt rig set … setup)"),
            ],
            arguments: [ArgumentSpec("name", help: "the rig's name"), ArgumentSpec("git-url", help: "its repository")])
    }

    var name: String
    var url: String
    var prefix: String?
    var runtime: String?
    var maxPolecats: Int?
    var gate: String?
    var setup: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        maxPolecats = try parsed.int("max-polecats")
        gate = parsed.string("gate")
        setup = parsed.string("setup")
        name = parsed.argument("name")
        url = parsed.argument("git-url")
        prefix = parsed.string("prefix")
        runtime = parsed.string("runtime")
        if !TownNames.isValid(name) {
            throw parsed.invalid("invalid rig name '\(name)': use lowercase letters, digits, '-' or '_'")
        }
    }

    public func run(_ context: CommandContext) async throws {
        var workflow = try await context.townWorkflow()
        let gitURL =
            url.contains("://") || url.contains("@")
                || !FileManager.default.fileExists(atPath: context.absolutePath(url))
            ? url : context.absolutePath(url)
        // On a terminal, a progress bar per clone on stderr (none in pipes, CI or --json).
        let bars = TransferProgressBars(console: context.console)
        workflow.transferProgress = { bars.observer($0) }
        defer { bars.finish() }
        let config = try await GTTown.run { [workflow] in
            let added = try await workflow.addRig(
                name: name, gitURL: gitURL, prefix: prefix, runtime: runtime, maxPolecats: maxPolecats)
            bars.finish()
            var config = added
            if let setup { config = try workflow.setRigSetup(rig: name, command: setup) }
            guard let gate else { return config }
            return try workflow.setRigSetting(rig: name, key: "gate", value: gate)
        }
        try context.report(config) {
            context.console.out("Added rig '\(config.name)' (prefix \(config.beads.prefix)-) from \(config.gitURL)")
            context.console.out("  repository: \(workflow.layout.bareRepository(name))")
            context.console.out("  refinery:   \(workflow.layout.refineryClone(name))")
            if let runtime = config.runtime { context.console.out("  runtime:    \(runtime)") }
            if let gate = config.mergeQueue?.gateCommand { context.console.out("  gate:       \(gate)") }
            if let setup = config.setup { context.console.out("  setup:      \(setup)") }
        }
    }
}

/// `gt rig list`.
public struct GTRigListCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(name: "list", aliases: ["ls"], abstract: "List the town's rigs")
    }

    public init(parsed: ParsedValues) throws(UsageError) {}

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let rigs = try await GTTown.run { try workflow.rigConfigs().values.sorted { $0.name < $1.name } }
        if context.jsonMode { return try context.console.json(rigs) }
        if rigs.isEmpty { return context.console.out("No rigs; add one with 'gt rig add <name> <git-url>'") }
        for rig in rigs {
            context.console.out(
                "\(rig.name)  prefix \(rig.beads.prefix)-  \(rig.gitURL)  branch \(rig.defaultBranch)"
                    + (rig.runtime.map { "  runtime \($0)" } ?? ""))
        }
    }
}

/// `gt rig remove <name> [--force]`.
public struct GTRigRemoveCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "remove", aliases: ["rm"], abstract: "Remove a rig (its beads stay in the ledger)",
            options: [.flag("force", short: "f", help: "remove it even while polecats work (their sessions stop)")],
            arguments: [ArgumentSpec("name", help: "the rig")])
    }

    var name: String
    var force: Bool

    public init(parsed: ParsedValues) throws(UsageError) {
        name = parsed.argument("name")
        force = parsed.flag("force")
    }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        try await GTTown.run { try await workflow.removeRig(name: name, force: force) }
        if context.jsonMode { return try context.console.json(["removed": name]) }
        context.console.out("Removed rig '\(name)'")
    }
}

/// `gt crew`: full clones for people.
public struct GTCrewCommand: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "crew", abstract: "Crew: a person's full clone of a rig at <town>/<rig>/crew/<name>/",
            subcommands: [GTCrewAddCommand.self, GTCrewListCommand.self, GTCrewAtCommand.self])
    }

    public init() {}
}

/// `gt crew add <rig> <name>`.
public struct GTCrewAddCommand: RigMemberCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "add", abstract: "Clone a rig for a crew member",
            arguments: RigMember.arguments(member: "the crew member"))
    }

    var member: RigMember

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let path = try await GTTown.run { try await workflow.addCrew(rig: rig, member: name) }
        if context.jsonMode { return try context.console.json(["rig": rig, "name": name, "path": path]) }
        context.console.out("Crew \(rig)/crew/\(name) at \(path)")
    }
}

/// `gt crew list [rig]`.
public struct GTCrewListCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "list", aliases: ["ls"], abstract: "List crew clones",
            arguments: [ArgumentSpec("rig", help: "only this rig", arity: .optional)])
    }

    var rig: String?

    public init(parsed: ParsedValues) throws(UsageError) { rig = parsed.optionalArgument("rig") }

    struct Entry: Encodable {
        var rig: String
        var name: String
        var path: String
    }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let crew = try await GTTown.run { try workflow.listCrew(rig: rig) }.map {
            Entry(rig: $0.rig, name: $0.name, path: $0.path)
        }
        if context.jsonMode { return try context.console.json(crew) }
        if crew.isEmpty { context.console.out("No crew; add one with 'gt crew add <rig> <name>'") }
        for entry in crew { context.console.out("\(entry.rig)/crew/\(entry.name)  \(entry.path)") }
    }
}

/// `gt crew at <rig> <name>`: prints the crew member's clone (`cd "$(gt crew at rig name)"`).
public struct GTCrewAtCommand: RigMemberCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "at", abstract: "Print the path of a crew member's clone (for cd)",
            arguments: RigMember.arguments(member: "the crew member"))
    }

    var member: RigMember

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        guard let entry = try await GTTown.run({ try workflow.listCrew(rig: rig) }).first(where: { $0.name == name })
        else {
            throw CLIError(
                "no crew member '\(name)' in rig \(rig)", hint: "add one with 'gt crew add \(rig) \(name)'",
                code: "not_found")
        }
        if context.jsonMode { return try context.console.json(["rig": rig, "name": name, "path": entry.path]) }
        context.console.out(entry.path)
    }
}
