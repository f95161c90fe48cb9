/// One command or subcommand of `gt` or `bd`, in the shape of swift-argument-parser's `ParsableCommand`:
/// a static `configuration` (what the parser reads), an initializer that takes the parsed values and
/// checks them (pure; tested without running anything), and `run`, which does the work.
///
/// Adding a command: write a struct conforming to `CLICommand`, give it a configuration, read its values
/// in `init(parsed:)`, do the work in `run(_:)`, and list the type in its parent's `subcommands`.
/// Sendable because the parsed command is handed to `run` on the cooperative pool.
public protocol CLICommand: Sendable {
    /// Name, help, options, arguments and subcommands.
    static var configuration: CommandConfiguration { get }
    /// Reads and checks the parsed values; throws a `UsageError` (exit 2) for values the parser
    /// cannot check itself (e.g. two flags that exclude each other).
    init(parsed: ParsedValues) throws(UsageError)
    /// Does the work. Throw `CLIError` for a failure with a hint and exit code; any other error is
    /// reported as a failure with exit status 1. Write output only through `context.console`.
    func run(_ context: CommandContext) async throws
}

/// A command that only groups subcommands (`gt node`, `bd dep`): run bare, it prints its help.
public protocol CommandGroup: CLICommand {
    /// A group has no values.
    init()
}

extension CommandGroup {
    public init(parsed: ParsedValues) throws(UsageError) { self.init() }

    public func run(_ context: CommandContext) async throws {
        context.console.out(context.helpText())
    }
}

/// The description of a whole program (`gt` or `bd`): its name, version, root command and the global
/// options accepted anywhere on the command line.
///
/// A plain value (`Sendable`).
public struct ProgramSpec: Sendable {
    /// The program's name as typed (`gt`).
    public var name: String
    /// The version printed by `--version`.
    public var version: String
    /// The root command; its subcommands are the program's commands.
    public var root: any CLICommand.Type
    /// Options accepted on every command, anywhere on the line (`--json`, `--actor`, `-C`, `--town`).
    public var globalOptions: [OptionSpec]
    /// Top-level commands of the original tool that this program lacks, by name, each with what to use instead
    /// (`"use 'gt refinery queue' …"`): an unknown command found here says so instead of only "unknown command".
    public var missingCommands: [String: String]

    /// Makes a program description.
    public init(
        name: String, version: String, root: any CLICommand.Type, globalOptions: [OptionSpec],
        missingCommands: [String: String] = [:]
    ) {
        self.name = name
        self.version = version
        self.root = root
        self.globalOptions = globalOptions
        self.missingCommands = missingCommands
    }
}

extension ProgramSpec {
    /// Runs this program with `arguments` (program name first) and returns the exit status. Ignores SIGPIPE.
    public func main(_ arguments: [String]) async -> Int32 {
        CommandRunner.prepareProcess()
        // Swift's `CommandLine.arguments` quietly replaces bytes that are not UTF-8 with U+FFFD, which would store a
        // title other than the one given: refuse them, from the bytes the process got.
        if let problem = TerminalText.invalidUTF8Argument(CommandRunner.rawArguments()) {
            let console = Console.standard(jsonMode: arguments.contains("--json"))
            console.reportError("\(name): \(problem)", hint: nil, code: "invalid_utf8", textPrefix: "")
            return ExitCode.usage.rawValue
        }
        return await CommandRunner.run(arguments, program: self).rawValue
    }
}

/// The result of parsing a command line: which command, with which values, and what to do.
///
/// A plain value (`Sendable`; metatypes of a `Sendable` protocol are `Sendable`).
public struct ParsedCommand: Sendable {
    /// What the program should do.
    public enum Action: Sendable, Equatable {
        /// Run the selected command.
        case run
        /// Print the selected command's help (`--help`, `-h`, `help <cmd>`, or a bare group).
        case help
        /// Print the program's version (`--version` on the root).
        case version
    }

    /// What to do.
    public var action: Action
    /// The selected command and its ancestors, root first.
    public var path: [any CLICommand.Type]
    /// The selected command's values.
    public var values: ParsedValues
    /// The global options' values.
    public var globals: ParsedValues

    /// The selected command's type.
    public var command: any CLICommand.Type { path[path.count - 1] }

    /// The canonical names along the path, root first (`["bd", "create"]`).
    public var pathNames: [String] { path.map { $0.configuration.name } }
}
