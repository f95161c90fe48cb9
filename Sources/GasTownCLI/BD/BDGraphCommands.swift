import Beads
import Foundation
import LedgerStore

/// `bd dep`: dependency subcommands.
public struct BDDepCommand: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "dep", abstract: "Manage dependencies",
            subcommands: [
                BDDepAddCommand.self, BDDepRemoveCommand.self, BDDepListCommand.self, BDDepTreeCommand.self,
                BDDepCyclesCommand.self,
            ])
    }
    public init() {}
}

/// `bd dep add A B [-t type]`: A depends on B.
public struct BDDepAddCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "add", abstract: "Add a dependency: <issue> depends on <depends-on>",
            options: [
                .option(
                    "type", short: "t", value: "TYPE", help: "dependency type (blocks, parent-child, related, …)",
                    default: "blocks"),
                .flag("no-cycle-check", help: "allow a dependency that closes a blocking cycle"),
            ],
            arguments: [
                ArgumentSpec("issue", help: "the dependent issue"),
                ArgumentSpec("depends-on", help: "the issue it depends on"),
            ])
    }

    var issue: String
    var target: String
    var type: DependencyType
    var allowCycles: Bool
    public init(parsed: ParsedValues) throws(UsageError) {
        issue = parsed.argument("issue")
        target = parsed.argument("depends-on")
        type = try BDSupport.dependencyType(parsed.string("type") ?? "blocks", command: parsed.commandPath)
        allowCycles = parsed.flag("no-cycle-check")
    }

    public func run(_ context: CommandContext) async throws {
        let (issue, target, type, allowCycles, actor) = (
            self.issue, self.target, self.type, self.allowCycles, await context.actor()
        )
        try await BDSupport.withLedger(context, mode: .write) { db in
            _ = try db.write(scope: nil, routing: issue) { (ledger, clock) throws(LedgerError) -> LedgerOp in
                guard ledger.bead(issue) != nil else { throw LedgerError.beadNotFound(issue) }
                // Former IDs left by a sync re-ID resolve to the bead's current one (docs/sync.md "Re-IDs").
                return ledger.prepareDependency(
                    id: ledger.resolve(issue), on: ledger.resolve(target), type: type, actor: actor, stamp: clock.stamp,
                    time: clock.time, allowCycles: allowCycles)
            }
        }
        if context.jsonMode {
            BDSupport.printJSON(
                .object([
                    JSONMember("status", .string("added")), JSONMember("issue_id", .string(issue)),
                    JSONMember("depends_on_id", .string(target)), JSONMember("type", .string(type.rawValue)),
                ]), context.console)
        } else {
            context.console.out("✓ Added dependency: \(issue) depends on \(target) (\(type.rawValue))")
        }
    }
}

/// `bd dep remove A B [-t type]`.
public struct BDDepRemoveCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "remove", aliases: ["rm"], abstract: "Remove a dependency",
            options: [.option("type", short: "t", value: "TYPE", help: "dependency type (default: the only one)")],
            arguments: [
                ArgumentSpec("issue", help: "the dependent issue"),
                ArgumentSpec("depends-on", help: "the issue it depends on"),
            ])
    }

    var issue: String
    var target: String
    var type: DependencyType?
    public init(parsed: ParsedValues) throws(UsageError) {
        issue = parsed.argument("issue")
        target = parsed.argument("depends-on")
        type = try parsed.string("type").map { (t: String) throws(UsageError) in
            try BDSupport.dependencyType(t, command: parsed.commandPath)
        }
    }

    public func run(_ context: CommandContext) async throws {
        let (issue, target, type, actor) = (self.issue, self.target, self.type, await context.actor())
        try await BDSupport.withLedger(context, mode: .write) { db in
            _ = try db.write(scope: nil, routing: issue) { (ledger, clock) throws(LedgerError) -> LedgerOp in
                guard let bead = ledger.bead(issue) else { throw LedgerError.beadNotFound(issue) }
                let key =
                    bead.dependencies.first {
                        $0.dependsOnID == ledger.resolve(target) && (type == nil || $0.type == type)
                    }?.key ?? DependencyKey(dependsOnID: target, type: type ?? .blocks)
                return LedgerOp(
                    actor: actor, stamp: clock.stamp, time: clock.time,
                    change: .removeDependency(id: bead.id, key))
            }
        }
        if context.jsonMode {
            BDSupport.printJSON(
                .object([
                    JSONMember("status", .string("removed")), JSONMember("issue_id", .string(issue)),
                    JSONMember("depends_on_id", .string(target)),
                ]), context.console)
        } else {
            context.console.out("✓ Removed dependency: \(issue) no longer depends on \(target)")
        }
    }
}

/// `bd dep list <id> [--direction down|up] [-t type]`.
public struct BDDepListCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "list", abstract: "List an issue's dependencies (down) or dependents (up)",
            options: [
                .option(
                    "direction", value: "DIR", type: .choice(["down", "up"]),
                    help: "down: what it depends on; "
                        + "up: what depends on it", default: "down"),
                .option("type", short: "t", value: "TYPE", help: "only this dependency type"),
            ],
            arguments: [ArgumentSpec("id", help: "issue ID")])
    }

    var id: String
    var up: Bool
    var type: DependencyType?
    public init(parsed: ParsedValues) throws(UsageError) {
        id = parsed.argument("id")
        up = parsed.string("direction") == "up"
        type = try parsed.string("type").map { (t: String) throws(UsageError) in
            try BDSupport.dependencyType(t, command: parsed.commandPath)
        }
    }

    public func run(_ context: CommandContext) async throws {
        let (id, up, type) = (self.id, self.up, self.type)
        let rows: [(Bead, DependencyType)] = try await BDSupport.withLedger(context, mode: .read) { db in
            try db.read { state in
                let (bead, ledger) = try BDSupport.bead(id, in: state)
                if up {
                    return ledger.dependentIDs(of: bead.id).sorted().flatMap { other -> [(Bead, DependencyType)] in
                        guard let o = ledger.bead(other) else { return [] }
                        return o.dependencies.filter { $0.dependsOnID == bead.id }.map { (o, $0.type) }
                    }.filter { type == nil || $0.1 == type }
                }
                return bead.dependencies.filter { type == nil || $0.type == type }.compactMap { d in
                    ledger.bead(d.dependsOnID).map { ($0, d.type) }
                }
            }
        }
        if context.jsonMode {
            BDSupport.printJSON(
                .array(
                    rows.map { b, t in
                        BDSupport.beadJSON(b, adding: [JSONMember("dependency_type", .string(t.rawValue))])
                    }), context.console)
        } else if rows.isEmpty {
            context.console.out(up ? "No issues depend on \(id)" : "\(id) has no dependencies")
        } else {
            context.console.out(up ? "Issues that depend on \(id):" : "\(id) depends on:")
            for (b, t) in rows {
                context.console.out("  \(b.id): \(TerminalText.oneLine(b.title)) [P\(b.priority)] (\(t.rawValue))")
            }
        }
    }
}

/// `bd dep tree <id>`: the dependency tree (what it depends on; `--direction up`: what depends on it).
public struct BDDepTreeCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "tree", abstract: "Show the dependency tree of an issue",
            discussion: "For an epic, use --direction up to see its children (they depend on it through parent-child).",
            options: [
                .option(
                    "max-depth", short: "d", value: "N", type: .integer(1...1000), help: "maximum depth",
                    default: "50"),
                .option(
                    "direction", value: "DIR", type: .choice(["down", "up"]),
                    help: "down: dependencies; up: "
                        + "dependents", default: "down"),
                .flag("reverse", help: "same as --direction up"),
            ],
            arguments: [ArgumentSpec("id", help: "issue ID")])
    }

    var id: String
    var depth: Int
    var up: Bool
    public init(parsed: ParsedValues) throws(UsageError) {
        id = parsed.argument("id")
        depth = try parsed.int("max-depth") ?? 50
        up = parsed.string("direction") == "up" || parsed.flag("reverse")
    }

    public func run(_ context: CommandContext) async throws {
        let (id, depth, up) = (self.id, self.depth, self.up)
        let rows: [(TreeNode, Bead)] = try await BDSupport.withLedger(context, mode: .read) { db in
            try db.read { state in
                let (bead, ledger) = try BDSupport.bead(id, in: state)
                return ledger.dependencyTree(of: bead.id, maxDepth: depth, reverse: up).compactMap { node in
                    ledger.bead(node.id).map { (node, $0) }
                }
            }
        }
        if context.jsonMode {
            BDSupport.printJSON(
                .array(
                    rows.map { node, b in
                        BDSupport.beadJSON(
                            b,
                            adding: [
                                JSONMember("depth", .int(node.depth)), JSONMember("parent_id", .string(node.parentID)),
                                JSONMember("dependency_type", .string(node.type?.rawValue ?? "")),
                                JSONMember("truncated", .bool(node.truncated)),
                            ])
                    }), context.console)
            return
        }
        context.console.out("\n🌲 Dependency tree for \(id)\(up ? " (dependents)" : ""):\n")
        for (node, b) in rows {
            let indent = String(repeating: "    ", count: node.depth)
            let arrow = node.depth == 0 ? "" : "└── "
            let edge = node.type.map { " (\($0.rawValue))" } ?? ""
            let cut = node.truncated ? " …" : ""
            context.console.out(
                "\(indent)\(arrow)\(BDSupport.statusSymbol(b.status)) \(b.id): \(TerminalText.oneLine(b.title)) [P\(b.priority)] "
                    + "(\(b.status.rawValue))\(edge)\(cut)")
        }
        context.console.out("")
    }
}

/// `bd dep cycles`: blocking cycles in the graph.
public struct BDDepCyclesCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "cycles", abstract: "Detect dependency cycles (blocks, conditional-blocks, waits-for)")
    }
    public init(parsed: ParsedValues) throws(UsageError) {}

    public func run(_ context: CommandContext) async throws {
        let cycles: [[String]] = try await BDSupport.withLedger(context, mode: .read) { db in
            db.read { state in state.scopeNames.flatMap { state.scopes[$0]!.cycles() } }
        }
        if context.jsonMode {
            BDSupport.printJSON(.array(cycles.map { .array($0.map { .string($0) }) }), context.console)
        } else if cycles.isEmpty {
            context.console.out("✓ No dependency cycles detected")
        } else {
            context.console.out("⚠ Found \(cycles.count) dependency cycles:")
            for (i, c) in cycles.enumerated() {
                context.console.out("  \(i + 1). \((c + [c[0]]).joined(separator: " → "))")
            }
        }
    }
}
