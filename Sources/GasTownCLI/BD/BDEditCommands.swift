import Beads
import Foundation
import LedgerStore

extension BDSupport {
    /// Applies `changes` (built per bead from the current ledger) to each of `ids`, one durable write each, and
    /// returns the beads as they are afterwards. Stops at the first refusal (earlier writes stay).
    static func edit(
        _ ids: [String], context: CommandContext,
        _ changes: @escaping @Sendable (Bead, String) throws(LedgerError) -> [LedgerChange]
    ) async throws -> [Bead] {
        let actor = await context.actor()
        return try await withLedger(context, mode: .write) { db in
            var out: [Bead] = []
            for id in ids {
                // One all-or-nothing write per issue: every change of this command, or none.
                let beads = try db.write(scope: nil, routing: id, actor: actor) {
                    (ledger) throws(LedgerError) -> [LedgerChange] in
                    guard let current = ledger.bead(id) else { throw .beadNotFound(id) }
                    return try changes(current, actor)
                }
                if let last = beads.last, let bead = last { out.append(bead) }
            }
            return out
        }
    }

    static func printEdited(
        _ beads: [Bead], verb: String, _ context: CommandContext, detail: (Bead) -> String = { _ in "" }
    ) {
        if context.jsonMode {
            printJSON(.array(beads.map { beadJSON($0) }), context.console)
        } else {
            for b in beads { context.console.out("✓ \(verb) \(b.id)\(detail(b))") }
        }
    }
}

/// `bd update <id>...`: changes fields, labels, metadata, or claims the issue.
public struct BDUpdateCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "update", abstract: "Update one or more issues",
            discussion: "--claim sets the assignee to the actor and the status to in_progress, with the next lease "
                + "epoch; it refuses an issue claimed by someone else. --claim --force takes such a claim over: the "
                + "holder's claim is released and yours taken in one write (the epoch still goes up by one, so the "
                + "old holder's 'gt done' is refused), and a comment records who forced it over whom.",
            options: [
                .option("status", short: "s", value: "STATUS", help: "new status"),
                .option("title", value: "TITLE", help: "new title"),
                .option("type", short: "t", value: "TYPE", help: "new issue type"),
                .option("priority", short: "p", value: "P", help: "new priority (0-4 or P0-P4)"),
                .option("assignee", short: "a", value: "NAME", help: "new assignee"),
                .option("description", short: "d", aliases: ["body"], value: "TEXT", help: "new description"),
                .option("design", value: "TEXT", help: "new design notes"),
                .option("acceptance", aliases: ["acceptance-criteria"], value: "TEXT", help: "new acceptance criteria"),
                .option("notes", value: "TEXT", help: "new notes"),
                .option("external-ref", value: "REF", help: "new external reference"),
                .option("estimate", short: "e", value: "MINUTES", type: .integer(0...1_000_000), help: "time estimate"),
                .option("add-label", value: "LABEL", kind: .repeated, help: "add a label"),
                .option("remove-label", value: "LABEL", kind: .repeated, help: "remove a label"),
                .option("set-metadata", value: "KEY=VALUE", kind: .repeated, help: "set a metadata key"),
                .flag("claim", help: "claim the issue: assignee = you, status in_progress"),
                .flag("force", help: "with --claim: take over a claim someone else holds (recorded in a comment)"),
            ],
            arguments: [ArgumentSpec("id", help: "issue IDs", arity: .variadic(min: 1))])
    }

    var ids: [String]
    var fields: [FieldUpdate] = []
    var close = false
    var addLabels: [String]
    var removeLabels: [String]
    var metadata: [(String, String)] = []
    var claim: Bool
    var force: Bool
    var type: IssueType?

    public init(parsed: ParsedValues) throws(UsageError) {
        ids = parsed.argumentList("id")
        let command = parsed.commandPath
        if let t = parsed.string("title") { fields.append(.title(t)) }
        if let t = parsed.string("type") {
            type = IssueType(t)
            fields.append(.issueType(IssueType(t)))
        }
        if let p = parsed.string("priority") { fields.append(.priority(try BDSupport.priority(p, command: command))) }
        if let a = parsed.string("assignee") { fields.append(.assignee(a)) }
        if let d = parsed.string("description") { fields.append(.description(d)) }
        if let d = parsed.string("design") { fields.append(.design(d)) }
        if let a = parsed.string("acceptance") { fields.append(.acceptanceCriteria(a)) }
        if let n = parsed.string("notes") { fields.append(.notes(n)) }
        if let r = parsed.string("external-ref") { fields.append(.externalRef(r.isEmpty ? nil : r)) }
        if let e = try parsed.int("estimate") { fields.append(.estimatedMinutes(e)) }
        if let s = parsed.string("status") {
            let status = try BDSupport.status(s, command: command)
            if status == .closed {
                close = true
            } else if status == .tombstone {
                throw parsed.invalid("use 'bd delete' to delete an issue")
            } else {
                fields.append(.status(status))
            }
        }
        addLabels = parsed.strings("add-label")
        removeLabels = parsed.strings("remove-label")
        for item in parsed.strings("set-metadata") {
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                throw parsed.invalid("--set-metadata needs KEY=VALUE, got '\(item)'")
            }
            metadata.append((String(item[..<eq]), String(item[item.index(after: eq)...])))
        }
        claim = parsed.flag("claim")
        force = parsed.flag("force")
        if force && !claim { throw parsed.invalid("--force goes with --claim (bd update <id> --claim --force)") }
        if fields.isEmpty && !close && addLabels.isEmpty && removeLabels.isEmpty && metadata.isEmpty && !claim {
            throw parsed.invalid("nothing to update: pass a flag such as --status, --title, --claim (see --help)")
        }
    }

    public func run(_ context: CommandContext) async throws {
        if let type {
            try BDSupport.checkIssueType(
                type, beadsDirectory: try context.beadsStore().path, command: context.commandPath)
        }
        let (fields, close, add, remove, metadata) =
            (self.fields, self.close, addLabels, removeLabels, self.metadata.map { [$0.0, $0.1] })
        let (claim, force) = (self.claim, self.force)
        // The claim first, through the claim runner (local compare-and-swap, or through the remote when one is
        // configured): when it is lost or refused, nothing else of the command is written.
        let claimed = claim ? try await BDClaimSync.claim(ids, context, force: force) : []
        let onlyClaim = fields.isEmpty && !close && add.isEmpty && remove.isEmpty && metadata.isEmpty
        let updated =
            onlyClaim
            ? claimed
            : try await BDSupport.edit(claimed.isEmpty ? ids : claimed.map(\.id), context: context) {
                bead, _ in
                var changes: [LedgerChange] = []
                if !fields.isEmpty { changes.append(.update(id: bead.id, fields: fields)) }
                if !add.isEmpty || !remove.isEmpty { changes.append(.labels(id: bead.id, add: add, remove: remove)) }
                for pair in metadata {
                    changes.append(.setMetadata(id: bead.id, key: pair[0], value: .string(pair[1])))
                }
                if close { changes.append(.close(id: bead.id, reason: "Closed")) }
                return changes
            }
        BDSupport.printEdited(updated, verb: "Updated issue:", context)
    }
}

/// `bd close <id>... [-r reason]`.
public struct BDCloseCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "close", abstract: "Close one or more issues",
            options: [
                .option(
                    "reason", short: "r", aliases: ["resolution"], value: "TEXT", help: "reason for closing",
                    default: "Closed"),
                .flag("continue", help: "a molecule step: close it and claim the molecule's next ready step"),
                .flag("no-auto", help: "with --continue: show the next step without claiming it"),
            ],
            arguments: [ArgumentSpec("id", help: "issue IDs", arity: .variadic(min: 1))])
    }

    var ids: [String]
    var reason: String
    var continueMolecule: Bool
    var noAuto: Bool
    public init(parsed: ParsedValues) throws(UsageError) {
        ids = parsed.argumentList("id")
        reason = parsed.string("reason") ?? "Closed"
        continueMolecule = parsed.flag("continue")
        noAuto = parsed.flag("no-auto")
        if continueMolecule && ids.count != 1 { throw parsed.invalid("--continue closes one molecule step: pass one ID") }
        if noAuto && !continueMolecule { throw parsed.invalid("--no-auto goes with --continue") }
    }

    public func run(_ context: CommandContext) async throws {
        let reason = self.reason
        if continueMolecule { return try await BDMolecules.closeAndContinue(ids[0], reason: reason, claim: !noAuto, context) }
        let closed = try await BDSupport.edit(ids, context: context) { bead, _ in
            [.close(id: bead.id, reason: reason)]
        }
        BDSupport.printEdited(closed, verb: "Closed", context) { ": \($0.closeReason)" }
    }
}

/// `bd reopen <id>... [-r reason]`: back to open (the reason becomes a comment).
public struct BDReopenCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "reopen", abstract: "Reopen one or more closed issues",
            options: [.option("reason", short: "r", value: "TEXT", help: "reason for reopening (added as a comment)")],
            arguments: [ArgumentSpec("id", help: "issue IDs", arity: .variadic(min: 1))])
    }

    var ids: [String]
    var reason: String?
    public init(parsed: ParsedValues) throws(UsageError) {
        ids = parsed.argumentList("id")
        reason = parsed.string("reason")
    }

    public func run(_ context: CommandContext) async throws {
        let reason = self.reason
        let reopened = try await BDSupport.edit(ids, context: context) { bead, actor in
            var changes: [LedgerChange] = [.reopen(id: bead.id)]
            if let reason, !reason.isEmpty {
                let comment = Comment(
                    id: (bead.comments.map(\.id).max() ?? 0) + 1, issueID: bead.id, author: actor,
                    text: "Reopened: \(reason)", createdAt: bead.updatedAt)
                changes.append(.addComment(id: bead.id, comment))
            }
            return changes
        }
        BDSupport.printEdited(reopened, verb: "Reopened", context)
    }
}

/// `bd delete <id>... --force`: deletes issues, keeping tombstones (as beads).
public struct BDDeleteCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "delete", abstract: "Delete issues (keeps a tombstone)",
            discussion: "Without --force, shows what would be deleted and changes nothing.",
            options: [
                .flag("force", short: "f", help: "really delete"),
                .option(
                    "reason", short: "r", value: "TEXT", help: "reason recorded on the tombstone", default: "deleted"),
            ],
            arguments: [ArgumentSpec("id", help: "issue IDs", arity: .variadic(min: 1))])
    }

    var ids: [String]
    var force: Bool
    var reason: String
    public init(parsed: ParsedValues) throws(UsageError) {
        ids = parsed.argumentList("id")
        force = parsed.flag("force")
        reason = parsed.string("reason") ?? "deleted"
    }

    public func run(_ context: CommandContext) async throws {
        let ids = self.ids
        guard force else {
            let found: [(String, String, Int)] = try await BDSupport.withLedger(context, mode: .read) { db in
                try db.read { state in
                    try ids.map { id in
                        let (b, ledger) = try BDSupport.bead(id, in: state)
                        return (b.id, b.title, ledger.dependentIDs(of: b.id).count)
                    }
                }
            }
            if context.jsonMode {
                BDSupport.printJSON(
                    .object([
                        JSONMember("would_delete", .array(found.map { .string($0.0) })),
                        JSONMember("deleted", .bool(false)),
                    ]), context.console)
                return
            }
            context.console.out("⚠ DELETE PREVIEW (nothing changed)")
            for (id, title, dependents) in found {
                context.console.out("  \(id): \(title)\(dependents > 0 ? " (\(dependents) issues reference it)" : "")")
            }
            context.console.out("Run again with --force to delete (a tombstone is kept).")
            return
        }
        let reason = self.reason
        let deleted = try await BDSupport.edit(ids, context: context) { bead, _ in
            [.delete(id: bead.id, reason: reason)]
        }
        BDSupport.printEdited(deleted, verb: "Deleted", context)
    }
}
