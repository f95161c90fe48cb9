import Foundation

/// `gt where`: shows the town this command line resolves to (DESIGN §10's rule) and how it was found.
public struct TownWhereCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "where", abstract: "Show the town root gt uses here, and how it was found",
            discussion: "The town is --town DIR, else $GT_TOWN, else the nearest parent holding mayor/town.json.")
    }

    public init(parsed: ParsedValues) throws(UsageError) {}

    /// What `--json` prints.
    struct Output: Encodable {
        var path: String
        var name: String
        var source: String
    }

    public func run(_ context: CommandContext) async throws {
        let location = try context.townRoot()
        let config = try TownConfig.load(townRoot: location.path)
        let output = Output(path: location.path, name: config.name, source: location.source.rawValue)
        try TownWhereCommand.show(
            output, context, location: location, detail: "name: \(output.name)", flag: "--town", variable: "GT_TOWN")
    }

    /// What both `where` commands print: `output` under `--json`, else the path, the `detail` line when there is
    /// one, and how the location was found (`flag` and `variable` name the ways to choose it).
    static func show(
        _ output: some Encodable, _ context: CommandContext, location: Discovery.Location, detail: String?,
        flag: String, variable: String
    ) throws {
        try context.report(output) {
            context.console.out(location.path)
            if let detail { context.console.out("  \(detail)") }
            context.console.out("  found by: \(explain(location.source, flag: flag, variable: variable))")
        }
    }

    static func explain(_ source: Discovery.Source, flag: String, variable: String) -> String {
        switch source {
        case .flag: flag
        case .environment: "$\(variable)"
        case .search: "search from the working directory"
        }
    }
}

/// `bd where`: shows the store this command line resolves to, like beads' `bd where`
/// (`path`, `prefix` when known), plus how it was found.
public struct StoreWhereCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "where", abstract: "Show active beads location",
            discussion: "The store is -C DIR, else $BEADS_DIR, else the nearest parent holding .beads/.")
    }

    public init(parsed: ParsedValues) throws(UsageError) {}

    /// What `--json` prints (beads' `WhereResult` fields we have, plus `source`).
    struct Output: Encodable {
        var path: String
        var prefix: String?
        var source: String
    }

    public func run(_ context: CommandContext) async throws {
        let location = try context.beadsStore()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: location.path, isDirectory: &isDirectory), isDirectory.boolValue
        else {
            throw CLIError(
                "no beads store at \(location.path)", hint: "run 'bd init' to create one", code: "no_beads_directory")
        }
        let output = Output(
            path: location.path, prefix: StoreWhereCommand.prefix(store: location.path),
            source: location.source.rawValue)
        try TownWhereCommand.show(
            output, context, location: location, detail: output.prefix.map { "prefix: \($0)" }, flag: "-C",
            variable: "BEADS_DIR")
    }

    /// The prefix recorded in `<store>/config.json` (written by `TownInstaller.initLedger`), if readable.
    static func prefix(store: String) -> String? {
        guard let data = FileManager.default.contents(atPath: Discovery.join(store, "config.json")),
            case .object(let members)? = try? JSONDecoder().decode(JSONValue.self, from: data),
            case .string(let prefix)? = members["prefix"]
        else { return nil }
        return prefix
    }
}
