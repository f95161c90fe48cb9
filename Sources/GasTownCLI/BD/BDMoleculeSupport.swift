import Beads
import Formula
import Foundation
import LedgerStore

/// Shared plumbing of `bd formula`, `bd cook`, `bd mol`, `bd gate`, `bd close --continue`, `bd ready --mol`: the
/// formula library of the store's town, cooking with `--var`s, pouring in one write, and the JSON/text shapes.
/// The decisions are in the `Formula` core (`MoleculePour`, `Molecule`, `MoleculeOps`, `Gates`).
///
/// A namespace; `Sendable` trivially.
enum BDMolecules {
    /// `--var k=v` (repeatable).
    static let varOption = OptionSpec.option(
        "var", value: "KEY=VALUE", kind: .repeated, help: "a formula variable (repeatable)")

    /// The `--var` values.
    static func variables(_ parsed: ParsedValues) throws(UsageError) -> [String: String] {
        var out: [String: String] = [:]
        for item in parsed.strings("var") {
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                throw parsed.invalid("--var needs KEY=VALUE, got '\(item)'")
            }
            out[String(item[..<eq])] = String(item[item.index(after: eq)...])
        }
        return out
    }

    /// The directory whose `.beads/formulas` is searched first: the parent of the store (the town, or the project).
    /// Under `gt` (`gt formula`, `gt mol`): the town root (`--town`, `GT_TOWN`, nearest `mayor/town.json`).
    static func townRoot(_ context: CommandContext) throws(CLIError) -> String {
        if context.program.name == "gt" { return try context.townRoot().path }
        return (try context.beadsStore().path as NSString).deletingLastPathComponent
    }

    /// The formulas of the store's town over the built-ins.
    static func library(_ context: CommandContext) async throws(CLIError) -> FormulaLibrary {
        try await TownFormulas.library(town: try townRoot(context))
    }

    /// A formula error as a CLI error (its text names file, line and field); nothing was written.
    static func cliError(_ error: FormulaError) -> CLIError {
        CLIError(error.description + "; nothing was poured", code: "invalid_formula")
    }

    static func cliError(_ error: MoleculeError) -> CLIError {
        CLIError(error.message, hint: error.hint, code: "invalid")
    }

    /// Cooks `name` with `options` (the town's library), printing the warnings on stderr.
    static func cook(_ name: String, _ options: CookOptions, _ context: CommandContext) async throws(CLIError)
        -> MoleculePlan
    {
        let library = try await library(context)
        do {
            let plan = try library.cook(name, options: options)
            for w in plan.warnings { context.console.err("warning: \(w)") }
            return plan
        } catch {
            throw cliError(error)
        }
    }

    /// Pours `plan` into `scope` (nil: the store's default) in one all-or-nothing write; `attach` edges go on the
    /// root; `bond` builds more changes against the ledger with the pour applied (a bond onto the new molecule).
    static func pour(
        _ plan: MoleculePlan, scope: String?, attach: [DependencyKey] = [], context: CommandContext,
        bond: (@Sendable (Ledger, MoleculePour.Result) throws(MoleculeError) -> [LedgerChange])? = nil
    ) async throws -> (rootID: String, beads: [Bead]) {
        let actor = await context.actor()
        let now = BDSupport.now()
        return try await BDSupport.withLedger(context, mode: .write) { db in
            var result: MoleculePour.Result?
            var failure: MoleculeError?
            do {
                _ = try db.write(scope: scope, routing: nil, actor: actor) {
                    (ledger) throws(LedgerError) -> [LedgerChange] in
                    let poured = try MoleculePour.changes(plan, in: ledger, actor: actor, time: now, attach: attach)
                    result = poured
                    guard let bond else { return poured.changes }
                    do throws(MoleculeError) {
                        let after = try MoleculeOps.checked(poured.changes, on: ledger, actor: actor, time: now)
                        return poured.changes + (try bond(after, poured))
                    } catch {
                        failure = error
                        throw .invalidOp(error.message)
                    }
                }
            } catch {
                // The core's own refusal, with its hint, rather than the ledger's "invalid operation" wrapping.
                if let failure { throw cliError(failure) }
                throw error
            }
            return (result!.rootID, result!.beads)
        }
    }

    /// Reads the molecule `id` (root or any step).
    static func molecule(_ id: String, _ context: CommandContext) async throws -> (Molecule, Ledger) {
        try await BDSupport.withLedger(context, mode: .read) { db in
            try db.read { state throws -> (Molecule, Ledger) in
                let ledger = try BDSupport.bead(id, in: state).ledger
                do throws(MoleculeError) { return (try Molecule(id, in: ledger), ledger) } catch { throw cliError(error) }
            }
        }
    }

    /// Builds changes against the ledger holding `id` (errors from `make` as CLI errors) and writes them in one
    /// all-or-nothing write; returns what `make` returned besides the changes.
    static func write<T: Sendable>(
        routing id: String, _ context: CommandContext,
        _ make: @escaping @Sendable (Ledger, String, Timestamp) throws(MoleculeError) -> (T, [LedgerChange])
    ) async throws -> T {
        let actor = await context.actor()
        let now = BDSupport.now()
        return try await BDSupport.withLedger(context, mode: .write) { db in
            var out: T?
            var failure: MoleculeError?
            do {
                _ = try db.write(scope: nil, routing: id, actor: actor) { (ledger) throws(LedgerError) -> [LedgerChange] in
                    do throws(MoleculeError) {
                        let (value, changes) = try make(ledger, actor, now)
                        out = value
                        return changes
                    } catch {
                        failure = error
                        throw .invalidOp(error.message)
                    }
                }
            } catch {
                if let failure { throw cliError(failure) }
                throw error
            }
            return out!
        }
    }

    // MARK: Output

    static func planJSON(_ plan: MoleculePlan, rootID: String?) -> LedgerJSON {
        let root = rootID ?? "<root>"
        return .object([
            JSONMember("formula", .string(plan.formula)),
            JSONMember("mode", .string(plan.mode.rawValue)),
            JSONMember(
                "variables",
                .object(plan.variables.sorted { $0.key < $1.key }.map { JSONMember($0.key, .string($0.value)) })),
            JSONMember(
                "beads",
                .array(
                    plan.beads.map { b in
                        .object([
                            JSONMember("id", .string(MoleculePlan.id(rootID: root, suffix: b.suffix))),
                            JSONMember("role", .string(b.role.rawValue)),
                            JSONMember("title", .string(b.title)),
                            JSONMember("issue_type", .string(b.issueType.rawValue)),
                            JSONMember("priority", .int(b.priority)),
                            JSONMember("ephemeral", .bool(b.ephemeral)),
                            JSONMember(
                                "dependencies",
                                .array(
                                    b.dependencies.map {
                                        .object([
                                            JSONMember("type", .string($0.type.rawValue)),
                                            JSONMember(
                                                "depends_on_id",
                                                .string(MoleculePlan.id(rootID: root, suffix: $0.target))),
                                        ])
                                    })),
                        ] + (b.awaitType.isEmpty ? [] : [JSONMember("await_type", .string(b.awaitType))]))
                    })),
            JSONMember("warnings", .array(plan.warnings.map { .string($0.description) })),
        ])
    }

    static func printPlan(_ plan: MoleculePlan, rootID: String?, _ console: Console) {
        let root = rootID ?? "<root>"
        for b in plan.beads {
            let id = MoleculePlan.id(rootID: root, suffix: b.suffix)
            let needs = b.dependencies.filter { $0.type != .parentChild }.map {
                MoleculePlan.id(rootID: root, suffix: $0.target)
            }
            let indent = b.role == .root ? "" : "  "
            let after = needs.isEmpty ? "" : "  ← \(needs.joined(separator: ", "))"
            console.out(
                "\(indent)\(id) [\(b.issueType.rawValue)] \(TerminalText.oneLine(b.title))\(after)")
        }
    }

    static func progressJSON(_ m: Molecule, now: Timestamp) -> LedgerJSON {
        let p = m.progress
        return .object([
            JSONMember("molecule_id", .string(m.root.id)),
            JSONMember("title", .string(m.root.title)),
            JSONMember("total", .int(p.total)), JSONMember("completed", .int(p.closed)),
            JSONMember("in_progress", .int(p.inProgress)), JSONMember("blocked", .int(p.blocked)),
            JSONMember("ready", .int(m.ready(now: now).count)), JSONMember("open_gates", .int(p.openGates)),
            JSONMember("percent", .int(p.percent)), JSONMember("complete", .bool(m.isComplete)),
            JSONMember("ephemeral", .bool(m.isWisp)),
        ])
    }

    static func stepLine(_ b: Bead) -> String {
        "\(BDSupport.statusSymbol(b.status)) \(b.id) [\(b.issueType.rawValue)] \(TerminalText.oneLine(b.title))"
            + (b.assignee.isEmpty ? "" : " @\(TerminalText.oneLine(b.assignee))")
    }
}

extension BDMolecules {
    /// `bd close <step> --continue [--no-auto]`: closes the step and, in the same write, claims the molecule's next
    /// ready step for the actor (or closes the molecule when it was the last), then shows where the work is.
    static func closeAndContinue(_ id: String, reason: String, claim: Bool, _ context: CommandContext) async throws {
        let result: MoleculeOps.Continue = try await write(routing: id, context) {
            ledger, actor, now throws(MoleculeError) in
            let c = try MoleculeOps.closeAndContinue(
                id, reason: reason, claimNext: claim, in: ledger, actor: actor, time: now)
            return (c, c.changes)
        }
        let (m, _) = try await molecule(result.rootID, context)
        let next = result.next.flatMap { n in m.beads.first { $0.id == n } }
        if context.jsonMode {
            return BDSupport.printJSON(
                .object([
                    JSONMember("closed", .string(id)), JSONMember("molecule_id", .string(result.rootID)),
                    JSONMember("next", next.map { BDSupport.beadJSON($0) } ?? .null),
                    JSONMember("ready", .array(result.ready.map { .string($0) })),
                    JSONMember("complete", .bool(result.completed)),
                    JSONMember("progress", progressJSON(m, now: BDSupport.now())),
                ]), context.console)
        }
        let c = context.console
        c.out("✓ Closed \(id): \(TerminalText.oneLine(reason))")
        let p = m.progress
        if result.completed {
            c.out("✓ Molecule \(result.rootID) complete (\(p.closed)/\(p.total) steps)")
        } else if let next {
            c.out("→ Next step (claimed): \(stepLine(next))  [\(p.closed)/\(p.total)]")
            let text = next.description.trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty { c.out(text) }
        } else if !result.ready.isEmpty {
            c.out("Ready next: \(result.ready.joined(separator: ", "))  [\(p.closed)/\(p.total)]")
        } else {
            c.out("No step of \(result.rootID) is ready (waiting on gates or other steps: 'bd mol show \(result.rootID)')")
        }
    }

    /// `bd ready --mol <id>`: the molecule's ready steps, in step order.
    static func ready(_ id: String, limit: Int, _ context: CommandContext) async throws {
        let (m, _) = try await molecule(id, context)
        var ready = m.ready(now: BDSupport.now())
        if limit > 0 { ready = Array(ready.prefix(limit)) }
        if context.jsonMode { return BDSupport.printJSON(.array(ready.map { BDSupport.beadJSON($0) }), context.console) }
        if ready.isEmpty { return context.console.out("\n✨ No ready steps in molecule \(m.root.id)\n") }
        context.console.out("\n📋 Ready steps of \(m.root.id) (\(ready.count)):\n")
        for (i, b) in ready.enumerated() {
            context.console.out(
                "\(i + 1). [P\(b.priority)] [\(b.issueType.rawValue)] \(b.id): \(TerminalText.oneLine(b.title))")
        }
        context.console.out("")
    }
}
