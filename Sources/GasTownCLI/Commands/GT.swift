import Foundation

/// The `gt` program: its root command, global options and entry point.
public enum GT {
    /// Options accepted on every `gt` command, anywhere on the line.
    public static let globalOptions: [OptionSpec] = [
        .jsonOutput,
        .option(
            "town", value: "DIR", help: "the town root (default: $GT_TOWN, else nearest parent with mayor/town.json)"),
        .option("actor", value: "NAME", help: "who is acting (default: $BEADS_ACTOR, $BD_ACTOR, git user.name, $USER)"),
    ]

    /// The program description the parser and help read.
    public static let program = ProgramSpec(
        name: "gt", version: GasTownVersion.current, root: Root.self, globalOptions: globalOptions,
        missingCommands: GTMissingCommands.byName)

    /// Runs `gt` with `arguments` (program name first) and returns the exit status. Ignores SIGPIPE.
    public static func main(_ arguments: [String]) async -> Int32 { await program.main(arguments) }

    /// `gt`: the root; its subcommands are `gt`'s commands.
    public struct Root: CommandGroup {
        public static var configuration: CommandConfiguration {
            CommandConfiguration(
                name: "gt",
                abstract: "Gas Town: a multi-agent coding orchestrator run as a cluster of town nodes",
                discussion: """
                    A town is the workspace (mayor/town.json at its root); every gt command finds it with
                    --town DIR, else $GT_TOWN, else the nearest parent of the working directory.
                    """,
                subcommands: [
                    InstallCommand.self, TownWhereCommand.self, VersionCommand.self, UpCommand.self, DownCommand.self,
                    StatusCommand.self, DashboardCommand.self, GTFeedCommand.self, NodeGroup.self, ClusterGroup.self,
                    ClusterConfigGroup.self, FederationGroup.self, GTDelegateCommand.self, GTMigrateCommand.self,
                    GTRigCommand.self, GTPolecatCommand.self, GTCrewCommand.self, GTSlingCommand.self, GTMayorCommand.self,
                    GTAgentsCommand.self,
                    GTReleaseCommand.self,
                    GTDoneCommand.self, GTHookCommand.self, GTPrimeCommand.self, GTMailCommand.self,
                    GTNudgeCommand.self, GTHandoffCommand.self, GTWitnessCommand.self, GTRefineryCommand.self, GTMQCommand.self,
                    GTConvoyCommand.self,
                    GTTomlCommand.self, BDFormulaCommand.self, BDMolCommand.self,
                    GTHeartbeatCommand.self, GTHealthCommand.self, GTEscalationsCommand.self,
                    GTEstopCommand.self, GTThawCommand.self, GTDoctorCommand.self, GTNotifyCommand.self,
                    GTCostsCommand.self,
                ])
        }

        public init() {}
    }
}

/// `bd`: the ledger CLI with beads' verbs and flags.
public enum BD {
    /// Options accepted on every `bd` command, anywhere on the line.
    public static let globalOptions: [OptionSpec] = [
        .jsonOutput,
        .option(
            "actor", value: "NAME",
            help: "actor name for the audit trail (default: $BEADS_ACTOR, $BD_ACTOR, git user.name, $USER)"),
        .option(
            "directory", short: "C", value: "DIR",
            help: "use the store DIR/.beads (default: $BEADS_DIR, else nearest parent with .beads/)"),
    ]

    /// The program description the parser and help read.
    public static let program = ProgramSpec(
        name: "bd", version: GasTownVersion.current, root: Root.self, globalOptions: globalOptions)

    /// Runs `bd` with `arguments` (program name first) and returns the exit status. Ignores SIGPIPE.
    public static func main(_ arguments: [String]) async -> Int32 { await program.main(arguments) }

    /// `bd`: the root; its subcommands are `bd`'s verbs.
    public struct Root: CommandGroup {
        public static var configuration: CommandConfiguration {
            CommandConfiguration(
                name: "bd",
                abstract: "bd: the beads ledger of Gas Town (issues with dependencies, in git)",
                discussion: """
                    The store is found with -C DIR, else $BEADS_DIR, else the nearest parent of the working
                    directory holding .beads/.
                    """,
                subcommands: [
                    BDInitCommand.self, BDCreateCommand.self, BDQuickCommand.self, BDShowCommand.self,
                    BDListCommand.self, BDSearchCommand.self, BDUpdateCommand.self, BDCloseCommand.self,
                    BDReopenCommand.self, BDDeleteCommand.self, BDReadyCommand.self, BDBlockedCommand.self,
                    BDDepCommand.self, BDLabelCommand.self, BDCommentsCommand.self, BDCommentCommand.self,
                    BDCountCommand.self, BDStatsCommand.self, BDImportCommand.self, BDExportCommand.self,
                    StoreWhereCommand.self, VersionCommand.self, BDSyncCommand.self, BDRemoteCommand.self,
                    BDDoctorCommand.self, BDFormulaCommand.self, BDCookCommand.self, BDMolCommand.self,
                    BDGateCommand.self,
                ])
        }

        public init() {}
    }
}

/// `gt version` / `bd version`: prints the program's version (also `--version` on the root).
public struct VersionCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(name: "version", abstract: "Print the version")
    }

    public init(parsed: ParsedValues) throws(UsageError) {}

    /// What `--json` prints.
    struct Output: Encodable {
        var name: String
        var version: String
    }

    public func run(_ context: CommandContext) async throws {
        try context.report(Output(name: context.program.name, version: context.program.version)) {
            context.console.out("\(context.program.name) version \(context.program.version)")
        }
    }
}
