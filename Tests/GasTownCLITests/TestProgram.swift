import GasTownCLI

/// A small `bd`-shaped program for parser tests: a root with `create` (many option kinds), a `dep` group,
/// and `list`.
enum TestProgram {
    static let spec = ProgramSpec(
        name: "bd", version: "9.9.9", root: Root.self,
        globalOptions: [
            .flag("json", help: "JSON output"),
            .option("actor", value: "NAME", help: "actor"),
            .option("directory", short: "C", value: "DIR", help: "store directory"),
        ])

    struct Root: CommandGroup {
        static var configuration: CommandConfiguration {
            CommandConfiguration(
                name: "bd", abstract: "test root", subcommands: [Create.self, Dep.self, List.self, Hidden.self])
        }
    }

    struct Create: CLICommand {
        static var configuration: CommandConfiguration {
            CommandConfiguration(
                name: "create", aliases: ["new"], abstract: "Create an issue",
                discussion: "Creates one issue.",
                options: [
                    .option("priority", short: "p", value: "N", type: .integer(0...4), help: "priority", default: "2"),
                    .option("type", short: "t", type: .choice(["bug", "task", "epic"]), help: "issue type"),
                    .option("labels", short: "l", aliases: ["label"], kind: .commaList, help: "labels"),
                    .option("deps", value: "TYPE:ID", kind: .repeated, help: "dependencies"),
                    .option("description", short: "d", help: "description"),
                    .flag("force", short: "f", help: "force"),
                    .flag("silent", short: "s", help: "print only the ID"),
                    .flag("secret", help: "not shown", hidden: true),
                ],
                arguments: [ArgumentSpec("title", help: "the title", arity: .optional)])
        }

        var values: ParsedValues
        init(parsed: ParsedValues) throws(UsageError) {
            values = parsed
            if parsed.flag("force") && parsed.flag("silent") { throw parsed.invalid("--force and --silent conflict") }
        }
        func run(_ context: CommandContext) async throws {
            context.console.out("created \(values.argument("title"))")
        }
    }

    struct Dep: CommandGroup {
        static var configuration: CommandConfiguration {
            CommandConfiguration(name: "dep", abstract: "Manage dependencies", subcommands: [DepAdd.self])
        }
    }

    struct DepAdd: CLICommand {
        static var configuration: CommandConfiguration {
            CommandConfiguration(
                name: "add", abstract: "Add a dependency",
                options: [.option("type", short: "t", help: "dependency type", default: "blocks")],
                arguments: [ArgumentSpec("issue", help: "the issue"), ArgumentSpec("depends-on", help: "the blocker")])
        }
        init(parsed: ParsedValues) throws(UsageError) {}
        func run(_ context: CommandContext) async throws {}
    }

    struct List: CLICommand {
        static var configuration: CommandConfiguration {
            CommandConfiguration(
                name: "list", abstract: "List issues",
                options: [.option("limit", short: "n", type: .integer(nil), help: "limit")],
                arguments: [ArgumentSpec("ids", help: "issue IDs", arity: .variadic(min: 0))])
        }
        init(parsed: ParsedValues) throws(UsageError) {}
        func run(_ context: CommandContext) async throws {
            throw CLIError("issue not found: bd-x", hint: "run 'bd list'", code: "not_found")
        }
    }

    struct Hidden: CLICommand {
        static var configuration: CommandConfiguration {
            CommandConfiguration(name: "internal-thing", abstract: "hidden", hidden: true)
        }
        init(parsed: ParsedValues) throws(UsageError) {}
        func run(_ context: CommandContext) async throws {}
    }

    static func parse(_ words: [String]) throws(UsageError) -> ParsedCommand {
        try CommandLineParser.parse(words, program: spec)
    }

    static func parseError(_ words: [String]) -> UsageError? {
        do {
            _ = try parse(words)
            return nil
        } catch {
            return error
        }
    }
}
