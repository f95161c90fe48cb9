import Beads
import Foundation
import LedgerStore

/// Filter flags shared by `list`, `search`, `count` and `ready` (beads' spellings).
enum FilterFlags {
    static let status = OptionSpec.option(
        "status", short: "s", value: "STATUS", kind: .commaList, help: "only these statuses (open, in_progress, …)")
    static let priority = OptionSpec.option(
        "priority", short: "p", value: "P", kind: .commaList, help: "only these priorities (0-4 or P0-P4)")
    static let type = OptionSpec.option("type", short: "t", value: "TYPE", kind: .commaList, help: "only these types")
    static let assignee = OptionSpec.option("assignee", short: "a", value: "NAME", help: "only this assignee")
    static let label = OptionSpec.option(
        "label", short: "l", aliases: ["labels"], value: "LABELS", kind: .commaList,
        help: "only issues with ALL these labels")
    static let labelAny = OptionSpec.option(
        "label-any", value: "LABELS", kind: .commaList, help: "only issues with ANY of these labels")
    static let parent = OptionSpec.option("parent", value: "ID", help: "only descendants of this issue")
    static func limit(_ byDefault: Int) -> OptionSpec {
        .option(
            "limit", short: "n", value: "N", type: .integer(0...Int.max), help: "at most N results (0 = all)",
            default: "\(byDefault)")
    }
    static let all: [OptionSpec] = [status, priority, type, assignee, label, labelAny, parent]
}

/// `bd show <id>...`: full details of issues.
public struct BDShowCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "show", aliases: ["view"], abstract: "Show issue details",
            arguments: [ArgumentSpec("id", help: "issue IDs", arity: .variadic(min: 1))])
    }

    var ids: [String]
    public init(parsed: ParsedValues) throws(UsageError) { ids = parsed.argumentList("id") }

    public func run(_ context: CommandContext) async throws {
        if ids.contains(where: { $0.hasPrefix(HopAddress.scheme) }) {
            var addresses: [HopAddress] = []
            for id in ids {
                guard let address = HopAddress(id) else {
                    throw CLIError(
                        "'\(id.prefix(200))' is not a remote bead address",
                        hint: "use hop://<org>/<rig>/<bead-id> (and do not mix local ids with hop:// addresses)",
                        code: "bad_address")
                }
                addresses.append(address)
            }
            try await BDFederatedReads.show(context, addresses)
            return
        }
        let ids = self.ids
        let json = context.jsonMode
        let output: (LedgerJSON, String, [String]) = try await BDSupport.withLedger(context, mode: .read) { db in
            try db.read { state in
                var items: [LedgerJSON] = []
                var text: [String] = []
                var notes: [String] = []
                for id in ids {
                    let (bead, ledger) = try BDSupport.bead(id, in: state)
                    if let note = BDSupport.aliasNote(id, ledger) { notes.append(note) }
                    if json {
                        items.append(BDShowCommand.details(bead, ledger))
                    } else {
                        text.append(BDShowCommand.describe(bead, ledger))
                    }
                }
                return (.array(items), text.joined(separator: "\n"), notes)
            }
        }
        for note in output.2 { context.console.err("note: \(note)") }
        if json { BDSupport.printJSON(output.0, context.console) } else { context.console.out(output.1) }
    }

    /// beads' `IssueDetails`: the issue, then labels, dependencies and dependents (each the other issue plus
    /// `dependency_type`), comments and parent.
    static func details(_ bead: Bead, _ ledger: Ledger) -> LedgerJSON {
        var copy = bead
        copy.labels = []
        copy.dependencies = []
        copy.comments = []
        guard case .object(var members) = BeadCodec.encode(copy) else { return .null }
        if !bead.labels.isEmpty { members.append(JSONMember("labels", .array(bead.labels.map { .string($0) }))) }
        func related(_ other: Bead, _ type: DependencyType) -> LedgerJSON {
            BDSupport.beadJSON(other, adding: [JSONMember("dependency_type", .string(type.rawValue))])
        }
        let deps = bead.dependencies.compactMap { d in ledger.bead(d.dependsOnID).map { related($0, d.type) } }
        if !deps.isEmpty { members.append(JSONMember("dependencies", .array(deps))) }
        let dependents = ledger.dependentIDs(of: bead.id).sorted().compactMap { id -> [LedgerJSON]? in
            guard let other = ledger.bead(id) else { return nil }
            return other.dependencies.filter { $0.dependsOnID == bead.id }.map { related(other, $0.type) }
        }.flatMap { $0 }
        if !dependents.isEmpty { members.append(JSONMember("dependents", .array(dependents))) }
        if !bead.comments.isEmpty {
            members.append(JSONMember("comments", .array(bead.comments.map(BeadCodec.encode))))
        }
        if let parent = bead.parentID { members.append(JSONMember("parent", .string(parent))) }
        return .object(members)
    }

    static func describe(_ b: Bead, _ ledger: Ledger) -> String {
        var lines = ["\(BDSupport.statusSymbol(b.status)) \(b.id): \(TerminalText.oneLine(b.title))"]
        lines.append("Status: \(b.status.rawValue)")
        lines.append("Priority: P\(b.priority)")
        lines.append("Type: \(b.issueType.rawValue)")
        if !b.assignee.isEmpty { lines.append("Assignee: \(TerminalText.oneLine(b.assignee))") }
        lines.append("Created: \(b.createdAt.text)\(b.createdBy.isEmpty ? "" : " by \(b.createdBy)")")
        lines.append("Updated: \(b.updatedAt.text)")
        if let closed = b.closedAt {
            lines.append(
                "Closed: \(closed.text)\(b.closeReason.isEmpty ? "" : " (\(TerminalText.oneLine(b.closeReason)))")")
        }
        if let ref = b.externalRef { lines.append("External Ref: \(TerminalText.oneLine(ref))") }
        if !b.labels.isEmpty { lines.append("Labels: [\(TerminalText.oneLine(b.labels.joined(separator: " ")))]") }
        for (title, text) in [
            ("Description", b.description), ("Design", b.design),
            ("Acceptance Criteria", b.acceptanceCriteria), ("Notes", b.notes),
        ] where !text.isEmpty {
            lines.append("")
            lines.append("\(title):")
            lines.append(text)
        }
        if !b.dependencies.isEmpty {
            lines.append("")
            lines.append("Depends on (\(b.dependencies.count)):")
            for d in b.dependencies {
                let other = ledger.bead(d.dependsOnID)
                lines.append(
                    "  → \(d.dependsOnID) [\(d.type.rawValue)]"
                        + (other.map { ": \(TerminalText.oneLine($0.title)) [P\($0.priority)]" } ?? ""))
            }
        }
        let dependents = ledger.dependentIDs(of: b.id).sorted()
        if !dependents.isEmpty {
            lines.append("")
            lines.append("Blocks/children (\(dependents.count)):")
            for id in dependents {
                let other = ledger.bead(id)
                lines.append("  ← \(id)\(other.map { ": \(TerminalText.oneLine($0.title)) [P\($0.priority)]" } ?? "")")
            }
        }
        if !b.comments.isEmpty {
            lines.append("")
            lines.append("Comments (\(b.comments.count)):")
            for c in b.comments { lines.append("  [\(c.author)] \(c.text) (\(c.createdAt.text))") }
        }
        return lines.joined(separator: "\n")
    }
}

/// `bd list`: issues matching filters (closed ones only with --all or -s closed).
public struct BDListCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "list", abstract: "List issues",
            discussion: "Sorted by priority, then newest first. Closed issues are shown with --all or --status closed.",
            options: FilterFlags.all + [
                FilterFlags.limit(50),
                .flag("all", help: "include closed issues"),
                .option(
                    "sort", value: "FIELD", type: .choice(["priority", "created", "updated", "id", "title", "status"]),
                    help: "sort by priority|created|updated|id|title|status", default: "priority"),
                .flag("reverse", short: "r", help: "reverse the order"),
                .option("org", value: "ORG", help: "list a peer organization's beads (with --rig; docs/federation.md)"),
                .option("rig", value: "RIG", help: "the peer organization's rig (with --org)"),
            ])
    }

    var filter: BeadFilter
    var all: Bool
    var sort: String?
    var reverse: Bool
    var org: String?
    var rig: String?
    var remoteStatus: String?
    var remoteType: String?
    public init(parsed: ParsedValues) throws(UsageError) {
        filter = try BDSupport.filter(parsed, limitDefault: 50)
        all = parsed.flag("all")
        sort = parsed.string("sort")
        reverse = parsed.flag("reverse")
        org = parsed.string("org")
        rig = parsed.string("rig")
        if org != nil || rig != nil {
            guard org != nil, rig != nil else { throw parsed.invalid("--org and --rig go together") }
            let statuses = parsed.strings("status")
            let types = parsed.strings("type")
            guard statuses.count <= 1, types.count <= 1 else {
                throw parsed.invalid("with --org, give at most one --status and one --type")
            }
            remoteStatus = statuses.first
            remoteType = types.first
        }
    }

    public func run(_ context: CommandContext) async throws {
        if let org, let rig {
            try await BDFederatedReads.list(
                context, org: org, rig: rig, status: remoteStatus, type: remoteType, limit: filter.limit)
            return
        }
        let (filter, all, sort, reverse) = (self.filter, self.all, self.sort, self.reverse)
        let rows: [(Bead, Int, Int)] = try await BDSupport.withLedger(context, mode: .read) { db in
            db.read { state in
                var beads = BDSupport.list(state, filter)
                if !all && filter.statuses.isEmpty { beads.removeAll { $0.status == .closed } }
                beads = BDListCommand.sorted(beads, by: sort)
                if reverse { beads.reverse() }
                if filter.limit > 0 { beads = Array(beads.prefix(filter.limit)) }
                return beads.map { b in
                    let scope = state.scopes[state.scope(forID: b.id) ?? ""]
                    return (b, b.dependencies.count, scope?.dependentIDs(of: b.id).count ?? 0)
                }
            }
        }
        if context.jsonMode {
            BDSupport.printJSON(
                .array(
                    rows.map { b, deps, dependents in
                        BDSupport.beadJSON(
                            b,
                            adding: [
                                JSONMember("dependency_count", .int(deps)),
                                JSONMember("dependent_count", .int(dependents)),
                            ])
                    }), context.console)
        } else if rows.isEmpty {
            context.console.out("No issues found.")
        } else {
            for (b, _, _) in rows { context.console.out(BDSupport.listLine(b)) }
        }
    }

    static func sorted(_ beads: [Bead], by field: String?) -> [Bead] {
        switch field {
        case "created": return beads.sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
        case "updated": return beads.sorted { ($0.updatedAt, $0.id) > ($1.updatedAt, $1.id) }
        case "id": return beads.sorted { $0.id < $1.id }
        case "title": return beads.sorted { ($0.title.lowercased(), $0.id) < ($1.title.lowercased(), $1.id) }
        case "status": return beads.sorted { ($0.status.rawValue, $0.id) < ($1.status.rawValue, $1.id) }
        default: return beads  // Ledger.list order: priority, then newest first
        }
    }
}

/// `bd search <query>`: text search over id, title, description and notes.
public struct BDSearchCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "search", abstract: "Search issues by text (id, title, description, notes)",
            options: [
                FilterFlags.status, FilterFlags.type, FilterFlags.assignee, FilterFlags.label,
                .option("query", value: "TEXT", help: "search text (alternative to the argument)"),
                FilterFlags.limit(50),
            ],
            arguments: [ArgumentSpec("query", help: "search text", arity: .optional)])
    }

    var query: String
    var filter: BeadFilter
    public init(parsed: ParsedValues) throws(UsageError) {
        guard let q = parsed.optionalArgument("query") ?? parsed.string("query") else {
            throw parsed.invalid("a search query is required: bd search TEXT")
        }
        query = q
        filter = try BDSupport.filter(parsed, limitDefault: 50)
    }

    public func run(_ context: CommandContext) async throws {
        let (query, filter) = (self.query, self.filter)
        let found: [Bead] = try await BDSupport.withLedger(context, mode: .read) { db in
            db.read { state in
                let all = state.scopeNames.flatMap { state.scopes[$0]!.search(query, filter: filter) }
                return filter.limit > 0 ? Array(all.prefix(filter.limit)) : all
            }
        }
        if context.jsonMode {
            BDSupport.printJSON(.array(found.map { BDSupport.beadJSON($0) }), context.console)
        } else if found.isEmpty {
            context.console.out("No issues found matching '\(query)'")
        } else {
            context.console.out("Found \(found.count) issues matching '\(query)':")
            for b in found { context.console.out(BDSupport.listLine(b)) }
        }
    }
}

/// `bd ready`: open issues with no blockers (DESIGN §3's rule), sorted hybrid|priority|oldest.
public struct BDReadyCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "ready", abstract: "Show ready work (open issues with no blockers)",
            options: [
                FilterFlags.limit(10), FilterFlags.assignee, FilterFlags.label, FilterFlags.labelAny, FilterFlags.type,
                FilterFlags.parent,
                .option("priority", short: "p", value: "P", help: "only this priority"),
                .flag("unassigned", short: "u", help: "only issues with no assignee"),
                .option(
                    "sort", short: "s", value: "POLICY", type: .choice(["hybrid", "priority", "oldest"]),
                    help: "sort policy: hybrid|priority|oldest", default: "hybrid"),
                .flag("claim", help: "claim the first ready issue (through the remote when one is configured)"),
                .option("mol", value: "ID", help: "only the ready steps of this molecule, in step order"),
            ])
    }

    var filter: BeadFilter
    var sort: SortPolicy
    var claim: Bool
    var molecule: String?
    public init(parsed: ParsedValues) throws(UsageError) {
        filter = try BDSupport.filter(parsed, limitDefault: 10)
        sort = SortPolicy(rawValue: parsed.string("sort") ?? "hybrid") ?? .hybrid
        claim = parsed.flag("claim")
        molecule = parsed.string("mol")
        if molecule != nil && claim { throw parsed.invalid("--mol lists a molecule's steps; claim one with bd update --claim") }
    }

    public func run(_ context: CommandContext) async throws {
        if claim { return try await BDReadyClaim.run(filter: filter, sort: sort, context) }
        if let molecule { return try await BDMolecules.ready(molecule, limit: filter.limit, context) }
        let (filter, sort) = (self.filter, self.sort)
        let now = BDSupport.now()
        // Embedded, only the ready closure of each scope is loaded (`--parent` names any bead, so it loads all).
        let ready: [Bead] = try await BDSupport.withLedger(context, mode: .read, readyView: filter.parent == nil) {
            db in
            db.read { state in
                var unlimited = filter
                unlimited.limit = 0
                let all = state.scopeNames.flatMap { state.scopes[$0]!.ready(now: now, filter: unlimited, sort: sort) }
                return filter.limit > 0 ? Array(all.prefix(filter.limit)) : all
            }
        }
        if context.jsonMode {
            BDSupport.printJSON(.array(ready.map { BDSupport.beadJSON($0) }), context.console)
        } else if ready.isEmpty {
            context.console.out("\n✨ No ready work found (all issues have blocking dependencies)\n")
        } else {
            context.console.out("\n📋 Ready work (\(ready.count) issues with no blockers):\n")
            for (i, b) in ready.enumerated() {
                context.console.out(
                    "\(i + 1). [P\(b.priority)] [\(b.issueType.rawValue)] \(b.id): \(TerminalText.oneLine(b.title))")
                if let e = b.estimatedMinutes { context.console.out("   Estimate: \(e) min") }
                if !b.assignee.isEmpty { context.console.out("   Assignee: \(b.assignee)") }
            }
            context.console.out("")
        }
    }
}

/// `bd blocked`: issues that are blocked, with what blocks them.
public struct BDBlockedCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "blocked", abstract: "Show blocked issues", options: [FilterFlags.parent])
    }

    var parent: String?
    public init(parsed: ParsedValues) throws(UsageError) { parent = parsed.string("parent") }

    public func run(_ context: CommandContext) async throws {
        var query = BeadFilter()
        query.parent = parent
        let filter = query
        let blocked: [BlockedBead] = try await BDSupport.withLedger(context, mode: .read, readyView: parent == nil) {
            db in
            db.read { state in state.scopeNames.flatMap { state.scopes[$0]!.blocked(filter: filter) } }
        }
        if context.jsonMode {
            BDSupport.printJSON(
                .array(
                    blocked.map { item in
                        BDSupport.beadJSON(
                            item.bead,
                            adding: [
                                JSONMember("blocked_by_count", .int(item.blockedBy.count)),
                                JSONMember("blocked_by", .array(item.blockedBy.map { .string($0) })),
                            ])
                    }), context.console)
        } else if blocked.isEmpty {
            context.console.out("\n✨ No blocked issues\n")
        } else {
            context.console.out("\n🚫 Blocked issues (\(blocked.count)):\n")
            for item in blocked {
                context.console.out(
                    "[P\(item.bead.priority)] \(item.bead.id): \(TerminalText.oneLine(item.bead.title))")
                context.console.out(
                    "  Blocked by \(item.blockedBy.count) open dependencies: [\(item.blockedBy.joined(separator: " "))]"
                )
            }
            context.console.out("")
        }
    }
}
