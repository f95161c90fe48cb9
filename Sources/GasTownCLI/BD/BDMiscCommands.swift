import Beads
import Foundation
import LedgerStore

/// `bd label`: label subcommands.
public struct BDLabelCommand: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "label", abstract: "Manage issue labels",
            subcommands: [BDLabelAddCommand.self, BDLabelRemoveCommand.self, BDLabelListCommand.self])
    }
    public init() {}
}

/// `bd label add <id>... <label>` / `bd label remove <id>... <label>` (the last word is the label, as beads).
struct LabelEdit {
    var ids: [String]
    var label: String
    init(_ parsed: ParsedValues) throws(UsageError) {
        let words = parsed.argumentList("args")
        guard words.count >= 2 else { throw parsed.invalid("usage: <issue-id>... <label>") }
        ids = Array(words.dropLast())
        label = words.last!
    }

    /// The arguments of `bd label add|remove`: issue ids, then the label.
    static let arguments = [ArgumentSpec("args", help: "<issue-id>... <label>", arity: .variadic(min: 2))]

    /// Adds (`adding`) or removes the label on every issue, then prints what changed.
    func apply(adding: Bool, _ context: CommandContext) async throws {
        let label = self.label
        let beads = try await BDSupport.edit(ids, context: context) { b, _ in
            [.labels(id: b.id, add: adding ? [label] : [], remove: adding ? [] : [label])]
        }
        BDSupport.printEdited(
            beads, verb: adding ? "Added label '\(label)' to" : "Removed label '\(label)' from", context)
    }
}

public struct BDLabelAddCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "add", abstract: "Add a label to issues",
            arguments: LabelEdit.arguments)
    }
    var edit: LabelEdit
    public init(parsed: ParsedValues) throws(UsageError) { edit = try LabelEdit(parsed) }

    public func run(_ context: CommandContext) async throws { try await edit.apply(adding: true, context) }
}

public struct BDLabelRemoveCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "remove", aliases: ["rm"], abstract: "Remove a label from issues",
            arguments: LabelEdit.arguments)
    }
    var edit: LabelEdit
    public init(parsed: ParsedValues) throws(UsageError) { edit = try LabelEdit(parsed) }

    public func run(_ context: CommandContext) async throws { try await edit.apply(adding: false, context) }
}

/// `bd label list [id]`: an issue's labels, or every label in use with its count.
public struct BDLabelListCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "list", abstract: "List an issue's labels (or all labels with counts)",
            arguments: [ArgumentSpec("id", help: "issue ID", arity: .optional)])
    }
    var id: String?
    public init(parsed: ParsedValues) throws(UsageError) { id = parsed.optionalArgument("id") }

    public func run(_ context: CommandContext) async throws {
        let id = self.id
        let result: [(String, Int)] = try await BDSupport.withLedger(context, mode: .read) { db in
            try db.read { state in
                if let id { return try BDSupport.bead(id, in: state).bead.labels.map { ($0, 1) } }
                var counts: [String: Int] = [:]
                for b in BDSupport.list(state, BeadFilter()) { for l in b.labels { counts[l, default: 0] += 1 } }
                return counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            }
        }
        if context.jsonMode {
            if id != nil {
                BDSupport.printJSON(.array(result.map { .string($0.0) }), context.console)
            } else {
                BDSupport.printJSON(
                    .array(
                        result.map {
                            .object([JSONMember("label", .string($0.0)), JSONMember("count", .int($0.1))])
                        }), context.console)
            }
        } else if result.isEmpty {
            context.console.out(id.map { "\($0) has no labels" } ?? "No labels in use")
        } else {
            for (label, count) in result { context.console.out(id == nil ? "  \(label) (\(count))" : "  \(label)") }
        }
    }
}

/// `bd comments`: comment subcommands (`bd comments add`, `bd comments list`); `bd comment` adds one.
public struct BDCommentsCommand: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "comments", abstract: "View or add comments on an issue",
            subcommands: [BDCommentAddCommand.self, BDCommentListCommand.self])
    }
    public init() {}
}

/// `bd comments add <id> <text>` (also `bd comment <id> <text>`).
public struct BDCommentAddCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "add", abstract: "Add a comment to an issue",
            options: [.option("author", short: "a", value: "NAME", help: "comment author (default: the actor)")],
            arguments: [
                ArgumentSpec("id", help: "issue ID"),
                ArgumentSpec("text", help: "comment text (several words are joined)", arity: .variadic(min: 1)),
            ])
    }
    var id: String
    var text: String
    var author: String?
    public init(parsed: ParsedValues) throws(UsageError) {
        id = parsed.argument("id")
        text = parsed.argumentList("text").joined(separator: " ")
        author = parsed.string("author")
        if text.isEmpty { throw parsed.invalid("comment text is empty") }
    }

    public func run(_ context: CommandContext) async throws {
        var chosen = self.author ?? ""
        if chosen.isEmpty { chosen = await context.actor() }
        let author = chosen
        let (id, text) = (self.id, self.text)
        let comment: Comment = try await BDSupport.withLedger(context, mode: .write) { db in
            let (_, bead) = try db.write(scope: nil, routing: id) { (ledger, clock) throws(LedgerError) -> LedgerOp in
                guard let b = ledger.bead(id) else { throw LedgerError.beadNotFound(id) }
                return ledger.prepareComment(id: b.id, text: text, actor: author, stamp: clock.stamp, time: clock.time)
            }
            guard let c = bead?.comments.last else { throw CLIError("the comment was not stored") }
            return c
        }
        if context.jsonMode {
            BDSupport.printJSON(BeadCodec.encode(comment), context.console)
        } else {
            context.console.out("Comment added to \(comment.issueID)")
        }
    }
}

/// `bd comment <id> <text>`: shorthand for `bd comments add`.
public struct BDCommentCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        var c = BDCommentAddCommand.configuration
        c.name = "comment"
        c.abstract = "Add a comment to an issue (same as 'bd comments add')"
        return c
    }
    var add: BDCommentAddCommand
    public init(parsed: ParsedValues) throws(UsageError) { add = try BDCommentAddCommand(parsed: parsed) }
    public func run(_ context: CommandContext) async throws { try await add.run(context) }
}

/// `bd comments list <id>`.
public struct BDCommentListCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "list", abstract: "List an issue's comments", arguments: [ArgumentSpec("id", help: "issue ID")])
    }
    var id: String
    public init(parsed: ParsedValues) throws(UsageError) { id = parsed.argument("id") }

    public func run(_ context: CommandContext) async throws {
        let id = self.id
        let comments: [Comment] = try await BDSupport.withLedger(context, mode: .read) { db in
            try db.read { state in try BDSupport.bead(id, in: state).bead.comments }
        }
        if context.jsonMode {
            BDSupport.printJSON(.array(comments.map(BeadCodec.encode)), context.console)
        } else if comments.isEmpty {
            context.console.out("No comments on \(id)")
        } else {
            context.console.out("\nComments on \(id):")
            for c in comments { context.console.out("[\(c.author)] \(c.text) at \(c.createdAt.text)") }
        }
    }
}

/// `bd count`: the number of issues matching filters, optionally grouped.
public struct BDCountCommand: CLICommand {
    static let groupings = ["status", "priority", "type", "assignee", "label"]
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "count", abstract: "Count issues matching filters",
            options: FilterFlags.all + groupings.map { .flag("by-\($0)", help: "group the count by \($0)") })
    }
    var filter: BeadFilter
    var group: String?
    public init(parsed: ParsedValues) throws(UsageError) {
        filter = try BDSupport.filter(parsed)
        let chosen = BDCountCommand.groupings.filter { parsed.flag("by-\($0)") }
        if chosen.count > 1 { throw parsed.invalid("choose one of --by-status, --by-priority, --by-type, …") }
        group = chosen.first
    }

    public func run(_ context: CommandContext) async throws {
        let (filter, group) = (self.filter, self.group)
        let beads: [Bead] = try await BDSupport.withLedger(context, mode: .read) { db in
            db.read { BDSupport.list($0, filter) }
        }
        guard let group else {
            if context.jsonMode {
                BDSupport.printJSON(.object([JSONMember("count", .int(beads.count))]), context.console)
            } else {
                context.console.out("\(beads.count)")
            }
            return
        }
        var counts: [String: Int] = [:]
        for b in beads {
            let keys: [String]
            switch group {
            case "status": keys = [b.status.rawValue]
            case "priority": keys = ["P\(b.priority)"]
            case "type": keys = [b.issueType.rawValue]
            case "assignee": keys = [b.assignee.isEmpty ? "(unassigned)" : b.assignee]
            default: keys = b.labels.isEmpty ? ["(no labels)"] : b.labels
            }
            for k in keys { counts[k, default: 0] += 1 }
        }
        let rows = counts.sorted { $0.key < $1.key }
        if context.jsonMode {
            BDSupport.printJSON(
                .object([
                    JSONMember("total", .int(beads.count)),
                    JSONMember(
                        "groups",
                        .array(
                            rows.map {
                                .object([JSONMember("group", .string($0.key)), JSONMember("count", .int($0.value))])
                            })),
                ]), context.console)
        } else {
            context.console.out("Total: \(beads.count)")
            for (key, n) in rows { context.console.out("  \(key): \(n)") }
        }
    }
}

/// The sums of `LedgerStats` over every scope. `Sendable`: numbers.
struct StatsTotals: Sendable {
    var total = 0, open = 0, inProgress = 0, closed = 0, blocked = 0, deferred = 0, ready = 0, tombstones = 0
    var pinned = 0, hooked = 0, epicsEligibleForClosure = 0
    var averageLeadTimeHours = 0.0
}

/// `bd stats`: aggregate statistics.
public struct BDStatsCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(name: "stats", aliases: ["status"], abstract: "Show statistics")
    }
    public init(parsed: ParsedValues) throws(UsageError) {}

    public func run(_ context: CommandContext) async throws {
        let now = BDSupport.now()
        let s: StatsTotals = try await BDSupport.withLedger(context, mode: .read) { db in
            db.read { state in
                var total = StatsTotals()
                var weighted = 0.0
                for name in state.scopeNames {
                    let x = state.scopes[name]!.stats(now: now)
                    total.total += x.total
                    total.open += x.open
                    total.inProgress += x.inProgress
                    total.closed += x.closed
                    total.blocked += x.blocked
                    total.deferred += x.deferred
                    total.ready += x.ready
                    total.tombstones += x.tombstones
                    total.pinned += x.pinned
                    total.hooked += x.hooked
                    total.epicsEligibleForClosure += x.epicsEligibleForClosure
                    weighted += x.averageLeadTimeHours * Double(x.closed)
                }
                total.averageLeadTimeHours = total.closed > 0 ? weighted / Double(total.closed) : 0
                return total
            }
        }
        let rows: [(String, String, Int)] = [
            ("total_issues", "Total Issues", s.total), ("open_issues", "Open", s.open),
            ("in_progress_issues", "In Progress", s.inProgress), ("closed_issues", "Closed", s.closed),
            ("blocked_issues", "Blocked", s.blocked), ("deferred_issues", "Deferred", s.deferred),
            ("ready_issues", "Ready", s.ready), ("tombstone_issues", "Deleted", s.tombstones),
            ("pinned_issues", "Pinned", s.pinned),
            (
                "epics_eligible_for_closure", "Epics ready to close",
                s.epicsEligibleForClosure
            ),
        ]
        let lead = (s.averageLeadTimeHours * 100).rounded() / 100
        if context.jsonMode {
            BDSupport.printJSON(
                .object(
                    rows.map { JSONMember($0.0, .int($0.2)) } + [
                        JSONMember("average_lead_time_hours", .number(String(lead)))
                    ]), context.console)
        } else {
            context.console.out("\n📊 Issue Database Status\n")
            for (_, title, n) in rows { context.console.out("  \(title): \(n)") }
            context.console.out("  Avg Lead Time: \(lead) hours\n")
        }
    }
}
