import Foundation

/// `gt install <dir> [--name NAME] [--owner EMAIL]`: creates a town (see `TownInstaller`).
public struct InstallCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "install",
            abstract: "Create a town: mayor/town.json, the hq ledger in .beads/, and .gt/ for node state",
            discussion: """
                Refuses a directory that is already a town (or already has mayor/, .beads/ or .gt/); nothing
                is changed then. The town is built in a staging directory and renamed into place, so a
                failure leaves no half town.
                """,
            options: [
                .option(
                    "name", value: "NAME", help: "the town's name", default: "the directory's name"),
                .option("owner", value: "EMAIL", help: "the owner recorded in town.json"),
            ],
            arguments: [
                ArgumentSpec("dir", help: "the directory to make a town in (created if missing; its parent must exist)")
            ])
    }

    /// The directory as typed.
    public var directory: String
    /// `--name`.
    public var name: String?
    /// `--owner`.
    public var owner: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        directory = parsed.argument("dir")
        name = parsed.string("name")
        owner = parsed.string("owner")
        if let name, !TownInstaller.isValidName(name) {
            throw parsed.invalid("invalid town name '\(name)': use letters, digits, '.', '_' or '-'")
        }
        if directory.isEmpty { throw parsed.invalid("the directory must not be empty") }
    }

    public func run(_ context: CommandContext) async throws {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let installer = try TownInstaller(
            directory: context.absolutePath(directory), name: name, owner: owner,
            createdAt: formatter.string(from: Date()))
        let result = try await BlockingWork.run { () throws(CLIError) -> TownInstaller.Result in
            try installer.install()
        }
        try context.report(result) {
            context.console.out("Created town '\(result.name)' at \(result.path)")
            context.console.out("  ledger: \(result.path)/.beads (prefix \(result.prefix)-)")
            context.console.out("  next:   cd \(result.path) && gt up")
        }
    }
}
