import Foundation
import Git

/// Everything a running command may use: the console, the environment, the working directory, the
/// global options, and the discovery rules bound to them. Commands read nothing from process globals.
///
/// `Sendable`: immutable values only.
public struct CommandContext: Sendable {
    /// The program being run (`gt` or `bd`).
    public let program: ProgramSpec
    /// The parsed command line.
    public let parsed: ParsedCommand
    /// Where output goes.
    public let console: Console
    /// The process environment (or a test's).
    public let environment: [String: String]
    /// The absolute working directory.
    public let cwd: String

    /// Makes a context.
    public init(
        program: ProgramSpec, parsed: ParsedCommand, console: Console, environment: [String: String], cwd: String
    ) {
        self.program = program
        self.parsed = parsed
        self.console = console
        self.environment = environment
        self.cwd = cwd
    }

    /// The global options' values (`json`, `actor`, `town`, `directory`).
    public var globals: ParsedValues { parsed.globals }

    /// The command path as typed, canonical names (`gt install`).
    public var commandPath: String { parsed.pathNames.joined(separator: " ") }

    /// Whether `--json` was given.
    public var jsonMode: Bool { console.jsonMode }

    /// Writes a command's result: `value` as JSON under `--json`, else what `text` writes (the human form).
    public func report<T: Encodable>(_ value: T, text: () throws -> Void) throws {
        if jsonMode { try console.json(value) } else { try text() }
    }

    /// The actor, in beads' order: `--actor`, else `$BEADS_ACTOR`, else `$BD_ACTOR`, else git's `user.name` seen
    /// from the working directory (read through libgit2 on a git thread, only when nothing earlier is set), else
    /// `$USER`, else `unknown`.
    public func actor() async -> String {
        let flag = globals.string("actor")
        if let explicit = Discovery.explicitActor(flag: flag, environment: environment) { return explicit }
        let gitUserName = await GitConfig.string("user.name", from: cwd)
        return Discovery.actor(flag: flag, environment: environment, gitUserName: gitUserName)
    }

    /// The selected command's generated help text.
    public func helpText() -> String { HelpFormatter.help(for: parsed.path, program: program) }

    /// A path from the command line made absolute against `cwd`.
    public func absolutePath(_ path: String) -> String { Discovery.absolute(path, cwd: cwd) }

    /// The town root by DESIGN §10's rule (`--town`, `GT_TOWN`, nearest `mayor/town.json`).
    public func townRoot() throws(CLIError) -> Discovery.Location {
        try Discovery.townRoot(
            flag: globals.string("town"), environment: environment, cwd: cwd, fileExists: Self.fileExists)
    }

    /// The `bd` store directory by DESIGN §10's rule (`-C`, `BEADS_DIR`, nearest `.beads/`).
    public func beadsStore() throws(CLIError) -> Discovery.Location {
        try Discovery.beadsStore(
            flag: globals.string("directory"), environment: environment, cwd: cwd, fileExists: Self.fileExists)
    }

    /// The real file-system test used by discovery.
    @Sendable public static func fileExists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path)
    }
}
