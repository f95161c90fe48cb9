import Foundation
import Node
import Town
import Transport

/// `gt cluster-config`: the example cluster configuration files (cluster-config/).
public struct ClusterConfigGroup: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "cluster-config",
            abstract: "Check cluster configuration files (town.json with a node section, rig config)",
            subcommands: [ClusterConfigCheckCommand.self])
    }

    public init() {}
}

/// `gt cluster-config check <file>...`: validates each file, naming every bad field and what is allowed there.
public struct ClusterConfigCheckCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "check", abstract: "Validate cluster-config files: each bad field named, with what is allowed",
            discussion: """
                A file with "type": "town" is a mayor/town.json with the node, placement, refinery and convoy
                sections (cluster-config/alpha.town.json); "type": "rig" is a rig's config.json
                (cluster-config/rig.example.json). Every problem is listed, not only the first. Exit status 0 when
                every file is valid, 1 otherwise; --json prints one report per file. Nothing is changed.
                """,
            arguments: [ArgumentSpec("file", help: "files to check", arity: .variadic(min: 1))])
    }

    var files: [String]

    public init(parsed: ParsedValues) throws(UsageError) {
        files = parsed.argumentList("file")
    }

    public func run(_ context: CommandContext) async throws {
        var reports: [ClusterConfigReport] = []
        for file in files {
            reports.append(try ClusterConfigCLI.check(file, context: context))
        }
        if context.jsonMode {
            try context.console.json(reports)
        } else {
            for report in reports {
                if report.valid {
                    context.console.out(
                        "\(report.path): valid \(report.kind) config\(report.name.map { " (\($0))" } ?? "")")
                } else {
                    context.console.out("\(report.path): \(report.problems.count) problem(s)")
                    for problem in report.problems { context.console.out("  \(problem)") }
                }
            }
        }
        if reports.contains(where: { !$0.valid }) { throw CommandExit(.failure) }
    }
}

/// Reading cluster-config files for the commands that take one.
enum ClusterConfigCLI {
    /// `path` resolved against the working directory.
    static func resolve(_ path: String, context: CommandContext) -> String {
        path.hasPrefix("/") ? path : (context.cwd as NSString).appendingPathComponent(path)
    }

    /// Reads and checks one file; a file that cannot be read is an error naming it.
    static func check(_ file: String, context: CommandContext) throws(CLIError) -> ClusterConfigReport {
        let path = resolve(file, context: context)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError(
                "cannot read \(path)", hint: "check the path (an example: cluster-config/alpha.town.json)",
                code: "not_found")
        }
        return ClusterConfigCheck.check(data, path: file)
    }

    /// The sections of a checked town file that `gt up --config` writes into the town's own town.json.
    static let appliedSections = ["node", "placement", "refinery", "convoy"]

    /// Applies a valid town config file to `town`'s `mayor/town.json` (its node, placement, refinery and convoy
    /// sections replace the town's, the node section key by key; the town's identity stays). The node is named
    /// by the file's `node.name`, else its `name` (recorded as `node.name` when it differs from the town's).
    /// Refuses a file with problems, a rig file, and a name that differs from the node certificate this town
    /// already holds. Returns the node's name.
    static func apply(_ file: String, to town: TownPaths, context: CommandContext) async throws -> String {
        let report = try check(file, context: context)
        guard report.valid else {
            throw CLIError(
                "\(file) is not a valid cluster config: "
                    + report.problems.map(\.description).joined(separator: "; "),
                hint: "fix it (gt cluster-config check \(file) lists every problem); the town was not changed",
                code: "bad_config")
        }
        guard report.kind == "town" else {
            throw CLIError(
                "\(file) is a \(report.kind) config, not a town config", hint: "gt up --config takes a *.town.json",
                code: "bad_config")
        }
        let path = resolve(file, context: context)
        guard let data = FileManager.default.contents(atPath: path),
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else { throw CLIError("cannot read \(path)", code: "not_found") }
        let current: TownFile
        do { current = try TownFile.load(town.townFile) } catch {
            throw CLIError(error.message, hint: "is --town a town? (gt install DIR makes one)", code: "bad_config")
        }
        let node = object["node"] as? [String: Any]
        let nodeName = (node?["name"] as? String) ?? (object["name"] as? String) ?? current.name ?? ""
        if FileManager.default.fileExists(atPath: town.pki.nodeCertificate.path) {
            let pki = town.pki
            let held = try? await NodeBlocking.run { () throws(TransportError) -> String in
                try pki.loadIdentity().name.rawValue
            }
            if let held, held != nodeName {
                throw CLIError(
                    "\(file) names the node \(nodeName), but this town's certificate is for \(held)",
                    hint: "use the file made for \(held), or set \"node\": {\"name\": \"\(held)\"} in it; the town "
                        + "was not changed", code: "name_mismatch")
            }
        }
        nonisolated(unsafe) let sections = object
        let chosen = nodeName
        let townName = current.name
        do {
            try await NodeBlocking.run { () throws(TownFileError) in
                try TownFile.update(town.townFile) { _, target in
                    for key in appliedSections where key != "node" {
                        if let value = sections[key] { target[key] = value } else { target.removeValue(forKey: key) }
                    }
                    // The node section is merged key by key: node.join and node.listen recorded by gt node join
                    // stay unless the file sets them.
                    var section = target["node"] as? [String: Any] ?? [:]
                    for (key, value) in sections["node"] as? [String: Any] ?? [:] { section[key] = value }
                    if chosen != townName { section["name"] = chosen } else { section.removeValue(forKey: "name") }
                    target["node"] = section
                }
            }
        } catch {
            throw CLIError(error.message, code: "io")
        }
        return nodeName
    }
}
