import Beads
import Foundation
import LedgerStore

/// `bd init [--prefix P]`: creates the store `.beads/` in the directory (-C DIR, else $BEADS_DIR, else the working
/// directory) with one scope, `P` (default: the directory's name).
public struct BDInitCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "init", abstract: "Initialize bd in the current directory",
            discussion:
                "Creates .beads/ (write-ahead log, snapshots, config.json, routes.jsonl) with the given prefix.",
            options: [
                .option("prefix", short: "p", value: "PREFIX", help: "issue prefix (default: the directory name)"),
                .flag("quiet", short: "q", help: "print nothing on success"),
                .option("remote", value: "URL", help: "sync with this ledger remote: clone its ledger, or create it"),
            ])
    }

    var prefix: String?
    var quiet: Bool
    var remote: String?
    public init(parsed: ParsedValues) throws(UsageError) {
        prefix = parsed.string("prefix").map { $0.hasSuffix("-") ? String($0.dropLast()) : $0 }
        quiet = parsed.flag("quiet")
        remote = parsed.string("remote")
        if let prefix, !BeadID.isValidPrefix(prefix) {
            throw parsed.invalid(
                "invalid prefix '\(prefix)': use letters, digits, '-' and '_', starting with a letter (e.g. bd)")
        }
    }

    public func run(_ context: CommandContext) async throws {
        let path: String
        if let flag = context.globals.string("directory"), !flag.isEmpty {
            path = try context.beadsStore().path
        } else if let env = context.environment["BEADS_DIR"], !env.isEmpty {
            path = context.absolutePath(env)
        } else {
            path = Discovery.join(context.cwd, ".beads")
        }
        let directory = (path as NSString).deletingLastPathComponent
        var picked = prefix ?? BDInitCommand.defaultPrefix(directory: directory)
        if prefix == nil, let remote, let scope = await BDSyncSupport.soleRemoteScope(remote) { picked = scope }
        let chosen = picked
        guard BeadID.isValidPrefix(chosen) else {
            throw CLIError("cannot derive a prefix from \(directory)", hint: "pass --prefix NAME", code: "invalid")
        }
        guard FileManager.default.fileExists(atPath: directory) else {
            throw CLIError("directory \(directory) does not exist", hint: "create it first", code: "not_found")
        }
        try await BlockingWork.run { () throws in
            do throws(LedgerDatabaseError) {
                let db = try LedgerDatabase.initialize(StoreLayout(beadsDirectory: path), prefix: chosen)
                db.close()
            } catch { throw BDSupport.cliError(error) }
        }
        if let remote {
            let report = try await BDSyncSupport.attachRemote(url: remote, beadsDirectory: path, context)
            if !quiet && !context.jsonMode { BDSyncSupport.print(report, context, quietWhenIdle: false) }
        }
        if context.jsonMode {
            BDSupport.printJSON(
                .object([JSONMember("path", .string(path)), JSONMember("prefix", .string(chosen))]), context.console)
        } else if !quiet {
            context.console.out("✓ bd initialized successfully!")
            context.console.out("  Database: \(path)")
            context.console.out("  Issue prefix: \(chosen)")
            context.console.out("  Issues will be named: \(chosen)-<hash> (e.g., \(chosen)-a3f2dd)")
        }
    }

    static func defaultPrefix(directory: String) -> String {
        let name = (directory as NSString).lastPathComponent.lowercased()
        let cleaned = String(name.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) || $0 == "-" })
        return cleaned.isEmpty ? "bd" : cleaned
    }
}

/// The create flags shared by `bd create` and `bd q` (beads' spellings).
enum CreateFlags {
    static let common: [OptionSpec] = [
        .option("type", short: "t", value: "TYPE", help: "issue type (bug|feature|task|epic|chore|…)", default: "task"),
        .option("priority", short: "p", value: "P", help: "priority 0-4 or P0-P4 (0 = highest)", default: "2"),
        .option(
            "labels", short: "l", aliases: ["label"], value: "LABELS", kind: .commaList,
            help: "labels (comma-separated)"),
    ]
}

/// `bd create [title]` (alias `new`): creates one issue.
public struct BDCreateCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "create", aliases: ["new"], abstract: "Create a new issue",
            discussion: "The new ID is <prefix>-<hash>, or <parent>.<hash> with --parent.",
            options: CreateFlags.common + [
                .option("title", value: "TITLE", help: "issue title (alternative to the positional argument)"),
                .option("description", short: "d", aliases: ["body"], value: "TEXT", help: "issue description"),
                .option("design", value: "TEXT", help: "design notes"),
                .option("acceptance", value: "TEXT", help: "acceptance criteria"),
                .option("notes", value: "TEXT", help: "additional notes"),
                .option("assignee", short: "a", value: "NAME", help: "assignee"),
                .option("external-ref", value: "REF", help: "external reference (e.g. gh-9)"),
                .option(
                    "estimate", short: "e", value: "MINUTES", type: .integer(0...1_000_000),
                    help: "time estimate in minutes"),
                .option("parent", value: "ID", help: "parent issue: the new issue becomes its child"),
                .option(
                    "deps", value: "TYPE:ID", kind: .commaList, help: "dependencies (type:id or id; e.g. blocks:bd-15)"),
                .option("id", value: "ID", help: "explicit issue ID"),
                .option(
                    "rig", aliases: ["prefix"], value: "RIG",
                    help: "create in this scope: a scope prefix of the store, or in a town a rig's name"),
                .flag("ephemeral", help: "ephemeral issue (never ready work; not exported to git by beads)"),
                .flag("no-cycle-check", help: "allow a dependency that closes a blocking cycle"),
                .flag("silent", help: "print only the new ID"),
            ],
            arguments: [ArgumentSpec("title", help: "issue title", arity: .optional)])
    }

    var spec: NewBead
    var scope: String?
    var allowCycles: Bool
    var silent: Bool

    public init(parsed: ParsedValues) throws(UsageError) {
        let positional = parsed.optionalArgument("title")
        let flagged = parsed.string("title")
        if positional != nil && flagged != nil && positional != flagged {
            throw parsed.invalid("give the title once: either as an argument or with --title")
        }
        guard let title = positional ?? flagged else {
            throw parsed.invalid("a title is required: bd create \"Title\" (or --title)")
        }
        spec = NewBead(title: title)
        spec.issueType = IssueType(parsed.string("type") ?? "task")
        spec.priority = try BDSupport.priority(parsed.string("priority") ?? "2", command: parsed.commandPath)
        spec.labels = parsed.strings("labels")
        spec.description = parsed.string("description") ?? ""
        spec.design = parsed.string("design") ?? ""
        spec.acceptanceCriteria = parsed.string("acceptance") ?? ""
        spec.notes = parsed.string("notes") ?? ""
        spec.assignee = parsed.string("assignee") ?? ""
        spec.externalRef = parsed.string("external-ref")
        spec.estimatedMinutes = try parsed.int("estimate")
        spec.parent = parsed.string("parent")
        spec.dependencies = try BDSupport.dependencies(parsed.strings("deps"), command: parsed.commandPath)
        spec.explicitID = parsed.string("id")
        spec.ephemeral = parsed.flag("ephemeral")
        scope = parsed.string("rig")
        allowCycles = parsed.flag("no-cycle-check")
        silent = parsed.flag("silent")
    }

    public func run(_ context: CommandContext) async throws {
        let bead = try await BDCreateCommand.create(spec, scope: scope, allowCycles: allowCycles, context: context)
        if context.jsonMode {
            BDSupport.printJSON(BDSupport.beadJSON(bead), context.console)
        } else if silent {
            context.console.out(bead.id)
        } else {
            context.console.out("✓ Created issue: \(bead.id)")
            context.console.out("  Title: \(TerminalText.oneLine(bead.title))")
            context.console.out("  Priority: P\(bead.priority)")
            context.console.out("  Status: \(bead.status.rawValue)")
        }
    }

    /// Creates `spec` in `scope` (a scope prefix, or in a town a rig's name; else the scope of its parent or
    /// explicit ID, else the store's default scope). An issue type that is not known is refused first.
    static func create(_ spec: NewBead, scope requested: String?, allowCycles: Bool, context: CommandContext)
        async throws -> Bead
    {
        let directory = try context.beadsStore().path
        try BDSupport.checkIssueType(spec.issueType, beadsDirectory: directory, command: context.commandPath)
        let actor = await context.actor()
        return try await BDSupport.withLedger(context, mode: .write) { db in
            let routing = spec.parent ?? spec.explicitID
            var scope: String?
            if let requested {
                scope = try db.read { state in
                    try BDSupport.resolveScope(requested, state: state, beadsDirectory: directory)
                }
            }
            let (_, bead) = try db.write(scope: scope, routing: scope == nil ? routing : nil) {
                (ledger, clock) throws(LedgerError) -> LedgerOp in
                try ledger.prepareCreate(
                    spec, actor: actor, stamp: clock.stamp, time: clock.time, allowCycles: allowCycles)
            }
            guard let bead else { throw CLIError("the ledger did not return the new issue") }
            return bead
        }
    }
}

/// `bd q <title>`: quick capture; prints only the new ID.
public struct BDQuickCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "q", abstract: "Quick capture: create an issue and print only its ID",
            options: CreateFlags.common,
            arguments: [ArgumentSpec("title", help: "issue title (several words are joined)", arity: .variadic(min: 1))]
        )
    }

    var spec: NewBead
    public init(parsed: ParsedValues) throws(UsageError) {
        spec = NewBead(title: parsed.argumentList("title").joined(separator: " "))
        spec.issueType = IssueType(parsed.string("type") ?? "task")
        spec.priority = try BDSupport.priority(parsed.string("priority") ?? "2", command: parsed.commandPath)
        spec.labels = parsed.strings("labels")
    }

    public func run(_ context: CommandContext) async throws {
        let bead = try await BDCreateCommand.create(spec, scope: nil, allowCycles: false, context: context)
        if context.jsonMode {
            BDSupport.printJSON(.object([JSONMember("id", .string(bead.id))]), context.console)
        } else {
            context.console.out(bead.id)
        }
    }
}
