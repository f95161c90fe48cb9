import Beads
import Formula
import Foundation
import LedgerStore

// MARK: bd formula

/// `bd formula list|show`.
public struct BDFormulaCommand: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "formula", abstract: "List and show workflow formulas (<town>/.beads/formulas over the built-ins)",
            subcommands: [BDFormulaListCommand.self, BDFormulaShowCommand.self])
    }
    public init() {}
}

/// `bd formula list`: every formula by name, with its type and where it comes from.
public struct BDFormulaListCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(name: "list", abstract: "List the formulas this store sees")
    }
    public init(parsed: ParsedValues) throws(UsageError) {}

    public func run(_ context: CommandContext) async throws {
        let library = try await BDMolecules.library(context)
        var rows: [LedgerJSON] = []
        var lines: [String] = []
        for name in library.source.names {
            let local = (library.source as? LayeredFormulaSource)?.layers.first?.formula(named: name) != nil
            let origin = local ? "town" : "built-in"
            do {
                let f = try library.load(name)
                let first = f.description.split(separator: "\n").first.map(String.init) ?? ""
                rows.append(
                    .object([
                        JSONMember("name", .string(name)), JSONMember("type", .string(f.type.rawValue)),
                        JSONMember("description", .string(first)), JSONMember("source", .string(origin)),
                        JSONMember("file", .string(f.file)),
                    ]))
                lines.append("  \(name) [\(f.type.rawValue)] (\(origin)) \(TerminalText.oneLine(first))")
            } catch {
                rows.append(
                    .object([
                        JSONMember("name", .string(name)), JSONMember("source", .string(origin)),
                        JSONMember("error", .string(error.description)),
                    ]))
                lines.append("  \(name) (\(origin)) ✗ \(TerminalText.oneLine(error.description))")
            }
        }
        if context.jsonMode { return BDSupport.printJSON(.array(rows), context.console) }
        context.console.out("Formulas (\(rows.count)):")
        for l in lines { context.console.out(l) }
    }
}

/// `bd formula show <name>`: the resolved formula (extends, expansions, aspects applied).
public struct BDFormulaShowCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "show", abstract: "Show a formula resolved: its variables and steps with their needs",
            arguments: [ArgumentSpec("name", help: "the formula")])
    }
    var name: String
    public init(parsed: ParsedValues) throws(UsageError) { name = parsed.argument("name") }

    public func run(_ context: CommandContext) async throws {
        let library = try await BDMolecules.library(context)
        let f: Formula
        do { f = try library.resolve(name) } catch { throw BDMolecules.cliError(error) }
        func flat(_ steps: [Step], into out: inout [Step]) {
            for s in steps {
                out.append(s)
                flat(s.children, into: &out)
            }
        }
        var steps: [Step] = []
        flat(f.steps, into: &steps)
        if context.jsonMode {
            return BDSupport.printJSON(
                .object([
                    JSONMember("name", .string(f.name)), JSONMember("type", .string(f.type.rawValue)),
                    JSONMember("description", .string(f.description)), JSONMember("file", .string(f.file)),
                    JSONMember("phase", f.phase.map { .string($0) } ?? .null),
                    JSONMember(
                        "vars",
                        .array(
                            f.vars.map { v in
                                .object([
                                    JSONMember("name", .string(v.name)),
                                    JSONMember("description", .string(v.description)),
                                    JSONMember("default", v.defaultValue.map { .string($0) } ?? .null),
                                    JSONMember("required", .bool(v.required)),
                                ])
                            })),
                    JSONMember(
                        "steps",
                        .array(
                            steps.map { s in
                                .object([
                                    JSONMember("id", .string(s.id)), JSONMember("title", .string(s.title)),
                                    JSONMember("needs", .array(s.allNeeds.map { .string($0) })),
                                ])
                            })),
                    JSONMember("legs", .array(f.legs.map { .string($0.id) })),
                ]), context.console)
        }
        let c = context.console
        c.out("\(f.name) [\(f.type.rawValue)] \(f.file)")
        if !f.description.isEmpty { c.out(f.description.trimmingCharacters(in: .whitespacesAndNewlines)) }
        if !f.vars.isEmpty {
            c.out("\nVariables:")
            for v in f.vars {
                let d = v.defaultValue.map { " (default: \($0))" } ?? (v.required ? " (required)" : "")
                c.out("  \(v.name)\(d) \(TerminalText.oneLine(v.description))")
            }
        }
        if !steps.isEmpty {
            c.out("\nSteps:")
            for s in steps {
                let needs = s.allNeeds.isEmpty ? "" : "  ← \(s.allNeeds.joined(separator: ", "))"
                c.out("  \(s.id): \(TerminalText.oneLine(s.title.isEmpty ? s.id : s.title))\(needs)")
            }
        }
        if !f.legs.isEmpty {
            c.out("\nLegs:")
            for l in f.legs { c.out("  \(l.id): \(TerminalText.oneLine(l.title))") }
        }
    }
}

// MARK: bd cook

/// `bd cook <formula> [--var k=v] [--dry-run]`: prints the molecule the formula makes (nothing is written).
public struct BDCookCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "cook", abstract: "Cook a formula and print the molecule it makes (writes nothing)",
            discussion: """
                Resolves the formula (extends, loops, advice, expansions, aspects), checks the variables and prints
                every bead a pour would create with its edges, root first. Protos are not stored in the ledger: the
                formula file is the proto; 'bd mol pour' and 'bd mol wisp' create the molecule.
                """,
            options: [
                BDMolecules.varOption,
                .flag("dry-run", help: "only print (the default: cook never writes)"),
                .option("mode", value: "MODE", type: .choice(["pour", "wisp"]), help: "pour or wisp (default: the formula's phase)"),
                .option("preset", value: "NAME", help: "a convoy preset: only its legs"),
            ],
            arguments: [ArgumentSpec("formula", help: "the formula's name")])
    }
    var formula: String
    var options: CookOptions
    public init(parsed: ParsedValues) throws(UsageError) {
        formula = parsed.argument("formula")
        options = CookOptions(
            variables: try BDMolecules.variables(parsed), mode: parsed.string("mode").flatMap(MoleculeMode.init),
            preset: parsed.string("preset"))
    }

    public func run(_ context: CommandContext) async throws {
        _ = try context.beadsStore()
        let plan = try await BDMolecules.cook(formula, options, context)
        if context.jsonMode { return BDSupport.printJSON(BDMolecules.planJSON(plan, rootID: nil), context.console) }
        context.console.out("Formula \(plan.formula) (\(plan.mode.rawValue)): \(plan.beads.count) beads")
        BDMolecules.printPlan(plan, rootID: nil, context.console)
    }
}

// MARK: bd mol

/// `bd mol …`: molecules (formulas poured into the ledger).
public struct BDMolCommand: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "mol", abstract: "Molecules: pour formulas, follow and finish their steps",
            subcommands: [
                BDMolPourCommand.self, BDMolWispCommand.self, BDMolShowCommand.self, BDMolCurrentCommand.self,
                BDMolProgressCommand.self, BDMolSquashCommand.self, BDMolBurnCommand.self, BDMolBondCommand.self,
            ])
    }
    public init() {}
}

/// `bd mol pour` and `bd mol wisp`.
struct BDMolPouring {
    static func configuration(_ mode: MoleculeMode) -> CommandConfiguration {
        CommandConfiguration(
            name: mode.rawValue,
            abstract: mode == .pour
                ? "Pour a formula: create its molecule (persistent, synced)"
                : "Create a wisp: the formula's molecule with every bead ephemeral (never synced through git)",
            discussion: """
                Every step becomes <root>.<step-id>, blocked by its needs; a gate becomes <root>.gate-<step> and
                blocks its step. All beads are written in one all-or-nothing write: a formula that does not cook
                (syntax, unknown need, cycle, missing or invalid variable) writes nothing.
                """,
            options: [
                BDMolecules.varOption,
                .option("rig", aliases: ["prefix"], value: "RIG", help: "the scope (or rig) to create it in"),
                .option("preset", value: "NAME", help: "a convoy preset: only its legs"),
                .flag("dry-run", help: "print what would be created; write nothing"),
            ],
            arguments: [ArgumentSpec("formula", help: "the formula's name")])
    }

    var formula: String
    var options: CookOptions
    var rig: String?
    var dryRun: Bool

    init(_ parsed: ParsedValues, mode: MoleculeMode) throws(UsageError) {
        formula = parsed.argument("formula")
        options = CookOptions(variables: try BDMolecules.variables(parsed), mode: mode, preset: parsed.string("preset"))
        rig = parsed.string("rig")
        dryRun = parsed.flag("dry-run")
    }

    func run(_ context: CommandContext) async throws {
        let path = try context.beadsStore().path
        let plan = try await BDMolecules.cook(formula, options, context)
        if dryRun {
            if context.jsonMode { return BDSupport.printJSON(BDMolecules.planJSON(plan, rootID: nil), context.console) }
            context.console.out("Would create \(plan.beads.count) beads (\(plan.mode.rawValue)):")
            return BDMolecules.printPlan(plan, rootID: nil, context.console)
        }
        var scope: String?
        if let rig {
            scope = try await BDSupport.withLedger(context, mode: .read) { db in
                try db.read { state throws(CLIError) in
                    try BDSupport.resolveScope(rig, state: state, beadsDirectory: path)
                }
            }
        }
        let (rootID, beads) = try await BDMolecules.pour(plan, scope: scope, context: context)
        if context.jsonMode {
            return BDSupport.printJSON(
                .object([
                    JSONMember("root_id", .string(rootID)), JSONMember("formula", .string(plan.formula)),
                    JSONMember("mode", .string(plan.mode.rawValue)), JSONMember("created", .int(beads.count)),
                    JSONMember("ids", .array(beads.map { .string($0.id) })),
                ]), context.console)
        }
        let what = plan.mode == .wisp ? "wisp" : "molecule"
        context.console.out("✓ Poured \(what) \(rootID) from \(plan.formula): \(beads.count) beads")
        BDMolecules.printPlan(plan, rootID: rootID, context.console)
    }
}

public struct BDMolPourCommand: CLICommand {
    public static var configuration: CommandConfiguration { BDMolPouring.configuration(.pour) }
    var body: BDMolPouring
    public init(parsed: ParsedValues) throws(UsageError) { body = try BDMolPouring(parsed, mode: .pour) }
    public func run(_ context: CommandContext) async throws { try await body.run(context) }
}

public struct BDMolWispCommand: CLICommand {
    public static var configuration: CommandConfiguration { BDMolPouring.configuration(.wisp) }
    var body: BDMolPouring
    public init(parsed: ParsedValues) throws(UsageError) { body = try BDMolPouring(parsed, mode: .wisp) }
    public func run(_ context: CommandContext) async throws { try await body.run(context) }
}

/// `bd mol show <id>`: the molecule's root and steps with their status.
public struct BDMolShowCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "show", abstract: "Show a molecule: its steps and gates in order, with status",
            arguments: [ArgumentSpec("id", help: "the molecule (its root, or any of its steps)")])
    }
    var id: String
    public init(parsed: ParsedValues) throws(UsageError) { id = parsed.argument("id") }

    public func run(_ context: CommandContext) async throws {
        let (m, _) = try await BDMolecules.molecule(id, context)
        let now = BDSupport.now()
        if context.jsonMode {
            return BDSupport.printJSON(
                .object([
                    JSONMember("root", BDSupport.beadJSON(m.root)),
                    JSONMember("steps", .array(m.beads.map { BDSupport.beadJSON($0) })),
                    JSONMember("ready", .array(m.ready(now: now).map { .string($0.id) })),
                    JSONMember("progress", BDMolecules.progressJSON(m, now: now)),
                ]), context.console)
        }
        let p = m.progress
        context.console.out(
            "\(BDMolecules.stepLine(m.root))\(m.isWisp ? " (wisp)" : "")  \(p.closed)/\(p.total) steps")
        let ready = Set(m.ready(now: now).map(\.id))
        for b in m.beads {
            context.console.out("  \(BDMolecules.stepLine(b))\(ready.contains(b.id) ? "  (ready)" : "")")
        }
    }
}

/// `bd mol current [<id>]`: where the work is: the step in progress, else the next ready step.
public struct BDMolCurrentCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "current", abstract: "Show the current step of a molecule (yours in progress, else the next ready)",
            discussion: "Without an ID: the molecules of the steps you (the actor) have in progress.",
            arguments: [ArgumentSpec("id", help: "the molecule (root or step)", arity: .optional)])
    }
    var id: String?
    public init(parsed: ParsedValues) throws(UsageError) { id = parsed.optionalArgument("id") }

    public func run(_ context: CommandContext) async throws {
        let actor = await context.actor()
        let now = BDSupport.now()
        let id = self.id
        let found: [(Molecule, Bead?)] = try await BDSupport.withLedger(context, mode: .read) { db in
            try db.read { state throws -> [(Molecule, Bead?)] in
                if let id {
                    let ledger = try BDSupport.bead(id, in: state).ledger
                    do throws(MoleculeError) {
                        let m = try Molecule(id, in: ledger)
                        return [(m, m.current(now: now, actor: actor))]
                    } catch { throw BDMolecules.cliError(error) }
                }
                var out: [(Molecule, Bead?)] = []
                var roots: Set<String> = []
                for name in state.scopeNames {
                    let ledger = state.scopes[name]!
                    for b in ledger.beads.values where b.status == .inProgress && b.assignee == actor {
                        guard let m = try? Molecule(b.id, in: ledger), m.root.id != b.id,
                            roots.insert(m.root.id).inserted
                        else { continue }
                        out.append((m, m.current(now: now, actor: actor)))
                    }
                }
                return out.sorted { $0.0.root.id < $1.0.root.id }
            }
        }
        if context.jsonMode {
            return BDSupport.printJSON(
                .array(
                    found.map { m, step in
                        .object([
                            JSONMember("molecule_id", .string(m.root.id)),
                            JSONMember("current", step.map { BDSupport.beadJSON($0) } ?? .null),
                            JSONMember("progress", BDMolecules.progressJSON(m, now: now)),
                        ])
                    }), context.console)
        }
        if found.isEmpty { return context.console.out("No molecule step in progress for \(actor)") }
        for (m, step) in found {
            let p = m.progress
            context.console.out("Molecule \(m.root.id): \(TerminalText.oneLine(m.root.title)) (\(p.closed)/\(p.total))")
            if let step {
                context.console.out("  Current: \(BDMolecules.stepLine(step))")
                let text = step.description.trimmingCharacters(in: .whitespacesAndNewlines)
                if !text.isEmpty { context.console.out(text) }
            } else if m.isComplete {
                context.console.out("  Complete")
            } else {
                context.console.out("  No step ready (waiting on gates or blocked steps: 'bd mol show \(m.root.id)')")
            }
        }
    }
}

/// `bd mol progress <id>`.
public struct BDMolProgressCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "progress", abstract: "Show how far a molecule is: steps closed, in progress, blocked, ready",
            arguments: [ArgumentSpec("id", help: "the molecule (root or step)")])
    }
    var id: String
    public init(parsed: ParsedValues) throws(UsageError) { id = parsed.argument("id") }

    public func run(_ context: CommandContext) async throws {
        let (m, _) = try await BDMolecules.molecule(id, context)
        let now = BDSupport.now()
        if context.jsonMode { return BDSupport.printJSON(BDMolecules.progressJSON(m, now: now), context.console) }
        let p = m.progress
        context.console.out("Molecule \(m.root.id): \(TerminalText.oneLine(m.root.title))")
        context.console.out(
            "  \(p.closed)/\(p.total) steps closed (\(p.percent)%), \(p.inProgress) in progress, "
                + "\(m.ready(now: now).count) ready, \(p.blocked) blocked, \(p.openGates) open gates")
    }
}

/// `bd mol squash <id> [--summary TEXT] [--keep-children]`.
public struct BDMolSquashCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "squash", abstract: "Condense a molecule into a digest bead",
            discussion: """
                Creates a closed, persistent digest bead ("Digest: <title>", label digest, metadata digest_of) listing
                the steps and their close reasons (or --summary). A wisp's beads are then deleted (unless
                --keep-children); a poured molecule keeps its steps and its root is closed. One write.
                """,
            options: [
                .option("summary", value: "TEXT", help: "the digest's text (default: the steps and their reasons)"),
                .flag("keep-children", help: "keep a wisp's beads"),
            ],
            arguments: [ArgumentSpec("id", help: "the molecule")])
    }
    var id: String
    var summary: String?
    var keep: Bool
    public init(parsed: ParsedValues) throws(UsageError) {
        id = parsed.argument("id")
        summary = parsed.string("summary")
        keep = parsed.flag("keep-children")
    }

    public func run(_ context: CommandContext) async throws {
        let (id, summary, keep) = (self.id, self.summary, self.keep)
        let digest: Bead = try await BDMolecules.write(routing: id, context) { ledger, actor, now throws(MoleculeError) in
            let m = try Molecule(id, in: ledger)
            let (changes, digest) = try MoleculeOps.squash(
                m, summary: summary, keepChildren: keep, in: ledger, actor: actor, time: now)
            return (digest, changes)
        }
        if context.jsonMode { return BDSupport.printJSON(BDSupport.beadJSON(digest), context.console) }
        context.console.out("✓ Squashed \(id) into \(digest.id)")
    }
}

/// `bd mol burn <id>`.
public struct BDMolBurnCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "burn", abstract: "Discard a molecule: delete its root and every step (no digest)",
            options: [.option("reason", short: "r", value: "TEXT", help: "why (kept on the tombstones)")],
            arguments: [ArgumentSpec("id", help: "the molecule")])
    }
    var id: String
    var reason: String
    public init(parsed: ParsedValues) throws(UsageError) {
        id = parsed.argument("id")
        reason = parsed.string("reason") ?? "Burned"
    }

    public func run(_ context: CommandContext) async throws {
        let (id, reason) = (self.id, self.reason)
        let deleted: [String] = try await BDMolecules.write(routing: id, context) {
            ledger, _, _ throws(MoleculeError) in
            let m = try Molecule(id, in: ledger)
            let changes = MoleculeOps.burn(m, reason: reason)
            return (m.beads.map(\.id) + [m.root.id], changes)
        }
        if context.jsonMode {
            return BDSupport.printJSON(.object([JSONMember("deleted", .array(deleted.map { .string($0) }))]), context.console)
        }
        context.console.out("✓ Burned \(id): \(deleted.count) beads deleted")
    }
}

/// `bd mol bond <A> <B> [--type sequential|parallel]`: joins two molecules; a formula name is poured first.
public struct BDMolBondCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "bond", abstract: "Bond two molecules: B after A (sequential) or B beside A (parallel)",
            discussion: """
                A and B are molecule IDs, or one of them a formula name, which is poured (a wisp when the other is a
                wisp) in the same write. sequential: B's root is blocked by every leaf step of A (the steps nothing
                else in A waits for). parallel: B's root becomes a child of A's root. Two formulas cannot be bonded
                here: compose them in a formula file (compose.expand).
                """,
            options: [
                .option("type", value: "TYPE", type: .choice(["sequential", "parallel"]), help: "sequential (default) or parallel"),
                BDMolecules.varOption,
            ],
            arguments: [ArgumentSpec("a", help: "molecule or formula"), ArgumentSpec("b", help: "molecule or formula")])
    }
    var a: String
    var b: String
    var type: MoleculeOps.BondType
    var variables: [String: String]
    public init(parsed: ParsedValues) throws(UsageError) {
        a = parsed.argument("a")
        b = parsed.argument("b")
        type = MoleculeOps.BondType(rawValue: parsed.string("type") ?? "sequential") ?? .sequential
        variables = try BDMolecules.variables(parsed)
    }

    public func run(_ context: CommandContext) async throws {
        let (a, b, type) = (self.a, self.b, self.type)
        let existing: [String: Bool] = try await BDSupport.withLedger(context, mode: .read) { db in
            db.read { state in
                var out: [String: Bool] = [:]
                for id in [a, b] {
                    if let scope = state.scope(forID: id), let ledger = state.scopes[scope],
                        let m = try? Molecule(id, in: ledger)
                    {
                        out[id] = m.isWisp
                    }
                }
                return out
            }
        }
        switch (existing[a], existing[b]) {
        case (.some, .some):
            try await BDMolecules.write(routing: b, context) { ledger, actor, now throws(MoleculeError) in
                let ma = try Molecule(a, in: ledger)
                let mb = try Molecule(b, in: ledger)
                return ((), MoleculeOps.bond(ma, mb, type: type, actor: actor, time: now))
            }
            if context.jsonMode { return BDSupport.printJSON(.object([JSONMember("bonded", .array([.string(a), .string(b)]))]), context.console) }
            context.console.out("✓ Bonded \(b) to \(a) (\(type.rawValue))")
        case (.some(let wisp), nil), (nil, .some(let wisp)):
            let formulaIsA = existing[a] == nil
            let formula = formulaIsA ? a : b
            let molecule = formulaIsA ? b : a
            let plan = try await BDMolecules.cook(
                formula, CookOptions(variables: variables, mode: wisp ? .wisp : .pour), context)
            let scopeOf: String? = try await BDSupport.withLedger(context, mode: .read) { db in
                db.read { $0.scope(forID: molecule) }
            }
            let (rootID, beads) = try await BDMolecules.pour(plan, scope: scopeOf, context: context) {
                ledger, poured throws(MoleculeError) in
                let existingMol = try Molecule(molecule, in: ledger)
                let new = try Molecule(poured.rootID, in: ledger)
                return formulaIsA
                    ? MoleculeOps.bond(new, existingMol, type: type, actor: "", time: poured.beads[0].createdAt)
                    : MoleculeOps.bond(existingMol, new, type: type, actor: "", time: poured.beads[0].createdAt)
            }
            if context.jsonMode {
                return BDSupport.printJSON(
                    .object([JSONMember("root_id", .string(rootID)), JSONMember("created", .int(beads.count))]),
                    context.console)
            }
            context.console.out("✓ Poured \(rootID) from \(formula) and bonded it \(type.rawValue) with \(molecule)")
        case (nil, nil):
            throw CLIError(
                "neither \(a) nor \(b) is a molecule: bond needs at least one poured molecule",
                hint: "pour one with 'bd mol pour <formula>', or compose formulas in a formula file (compose.expand)",
                code: "invalid")
        }
    }
}

// MARK: bd gate

/// `bd gate list|show|resolve|check`.
public struct BDGateCommand: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "gate", abstract: "Gates: waits that block a molecule step (timer, human, mail, gh:run, gh:pr)",
            subcommands: [
                BDGateListCommand.self, BDGateShowCommand.self, BDGateResolveCommand.self, BDGateCheckCommand.self,
            ])
    }
    public init() {}
}

enum BDGates {
    static func json(_ gate: Bead, _ check: GateCheck?) -> LedgerJSON {
        BDSupport.beadJSON(
            gate,
            adding: check.map {
                [JSONMember("check", .string($0.outcome.rawValue)), JSONMember("reason", .string($0.reason))]
            } ?? [])
    }
    static func line(_ gate: Bead, _ check: GateCheck?) -> String {
        let type = gate.awaitType.isEmpty ? "?" : gate.awaitType
        let id = gate.awaitID.isEmpty ? "" : " \(TerminalText.oneLine(gate.awaitID))"
        let why = check.map { " — \(TerminalText.oneLine($0.reason))" } ?? ""
        return "\(BDSupport.statusSymbol(gate.status)) \(gate.id) [\(type)\(id)]\(why)"
    }
}

public struct BDGateListCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "list", abstract: "List open gates", options: [.flag("all", help: "include resolved gates")])
    }
    var all: Bool
    public init(parsed: ParsedValues) throws(UsageError) { all = parsed.flag("all") }

    public func run(_ context: CommandContext) async throws {
        let all = self.all
        let now = BDSupport.now()
        let gates: [(Bead, GateCheck?)] = try await BDSupport.withLedger(context, mode: .read) { db in
            db.read { state in
                state.scopeNames.flatMap { name -> [(Bead, GateCheck?)] in
                    let ledger = state.scopes[name]!
                    let list =
                        all
                        ? ledger.beads.values.filter { $0.issueType == .gate && $0.status != .tombstone }
                            .sorted { Molecule.naturalLess($0.id, $1.id) }
                        : Gates.open(in: ledger)
                    return list.map {
                        ($0, Molecule.isDone($0.status) ? nil : Gates.check($0, in: ledger, now: now))
                    }
                }
            }
        }
        if context.jsonMode { return BDSupport.printJSON(.array(gates.map { BDGates.json($0, $1) }), context.console) }
        if gates.isEmpty { return context.console.out("No open gates") }
        for (g, c) in gates { context.console.out(BDGates.line(g, c)) }
    }
}

public struct BDGateShowCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "show", abstract: "Show a gate: what it waits for and whether that has happened",
            arguments: [ArgumentSpec("id", help: "the gate bead")])
    }
    var id: String
    public init(parsed: ParsedValues) throws(UsageError) { id = parsed.argument("id") }

    public func run(_ context: CommandContext) async throws {
        let id = self.id
        let now = BDSupport.now()
        let (gate, check, blocks): (Bead, GateCheck?, [String]) = try await BDSupport.withLedger(context, mode: .read) {
            db in
            try db.read { state throws -> (Bead, GateCheck?, [String]) in
                let (gate, ledger) = try BDSupport.bead(id, in: state)
                guard gate.issueType == .gate else {
                    throw CLIError("\(id) is not a gate (it is a \(gate.issueType.rawValue))", code: "invalid")
                }
                let blocked = ledger.dependentIDs(of: gate.id).sorted()
                return (gate, Molecule.isDone(gate.status) ? nil : Gates.check(gate, in: ledger, now: now), blocked)
            }
        }
        if context.jsonMode {
            return BDSupport.printJSON(
                BDGates.json(gate, check).appending(JSONMember("blocks", .array(blocks.map { .string($0) }))),
                context.console)
        }
        context.console.out(BDGates.line(gate, check))
        context.console.out("  \(TerminalText.oneLine(gate.title))")
        if gate.timeout > 0 { context.console.out("  timeout: \(Double(gate.timeout) / 1e9)s") }
        if !blocks.isEmpty { context.console.out("  blocks: \(blocks.joined(separator: ", "))") }
        if gate.status == .closed { context.console.out("  resolved: \(TerminalText.oneLine(gate.closeReason))") }
    }
}

public struct BDGateResolveCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "resolve", abstract: "Resolve (close) a gate by hand: a human gate, or one that cannot be checked",
            options: [.option("reason", short: "r", value: "TEXT", help: "why", default: "Resolved")],
            arguments: [ArgumentSpec("id", help: "gate beads", arity: .variadic(min: 1))])
    }
    var ids: [String]
    var reason: String
    public init(parsed: ParsedValues) throws(UsageError) {
        ids = parsed.argumentList("id")
        reason = parsed.string("reason") ?? "Resolved"
    }

    public func run(_ context: CommandContext) async throws {
        let reason = self.reason
        let closed = try await BDSupport.edit(ids, context: context) { bead, _ throws(LedgerError) in
            guard bead.issueType == .gate else {
                throw .invalidOp("\(bead.id) is not a gate (it is a \(bead.issueType.rawValue)); close it with bd close")
            }
            return [.close(id: bead.id, reason: reason)]
        }
        BDSupport.printEdited(closed, verb: "Resolved gate", context) { ": \($0.closeReason)" }
    }
}

/// `bd gate check`: checks every open gate; resolves (closes) those whose wait is over, in one write.
public struct BDGateCheckCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "check", abstract: "Check open gates and resolve those whose wait is over",
            discussion: """
                timer: resolved once its timeout has passed since the gate was created. mail: resolved when a message
                whose subject holds the gate's ID text arrived after the gate. human: only 'bd gate resolve'.
                gh:run and gh:pr need network access to GitHub, which is not checked here: they stay open and say so.
                """)
    }
    public init(parsed: ParsedValues) throws(UsageError) {}

    public func run(_ context: CommandContext) async throws {
        let actor = await context.actor()
        let now = BDSupport.now()
        let checks: [GateCheck] = try await BDSupport.withLedger(context, mode: .write) { db in
            var all: [GateCheck] = []
            for scope in db.read({ $0.scopeNames }) {
                let found = db.read { state in
                    state.scopes[scope].map { l in Gates.open(in: l).map { Gates.check($0, in: l, now: now) } } ?? []
                }
                all += found
                let resolved = found.filter { $0.outcome == .resolved }
                if resolved.isEmpty { continue }
                _ = try db.write(scope: scope, routing: nil, actor: actor) { _ throws(LedgerError) in
                    resolved.map { .close(id: $0.id, reason: $0.reason) }
                }
            }
            return all
        }
        if context.jsonMode {
            return BDSupport.printJSON(
                .array(
                    checks.map {
                        .object([
                            JSONMember("id", .string($0.id)), JSONMember("await_type", .string($0.awaitType)),
                            JSONMember("outcome", .string($0.outcome.rawValue)), JSONMember("reason", .string($0.reason)),
                        ])
                    }), context.console)
        }
        if checks.isEmpty { return context.console.out("No open gates") }
        for c in checks {
            let mark = c.outcome == .resolved ? "✓ resolved" : c.outcome == .waiting ? "… waiting" : "○ open"
            context.console.out("\(mark) \(c.id) [\(c.awaitType)]: \(TerminalText.oneLine(c.reason))")
        }
    }
}

extension LedgerJSON {
    /// An object with `member` appended (other values unchanged).
    func appending(_ member: JSONMember) -> LedgerJSON {
        guard case .object(let members) = self else { return self }
        return .object(members + [member])
    }
}
