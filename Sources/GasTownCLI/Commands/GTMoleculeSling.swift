import Beads
import Formula
import Foundation
import Node
import Town

/// What `gt sling <molecule>` (or `<formula> --on <bead>`) did in a cluster: the steps the Mayor placed, each on
/// the node that admitted it (or queued), and the steps it could not place. `Sendable`: a plain value.
public struct MoleculePlacementResult: Sendable, Codable, Equatable {
    public var molecule: String
    public var poured: Bool
    public var placed: [MayorPlacement]
    public var refused: [String: String]
}

/// The molecule half of `gt sling`: `gt sling <formula> --on <bead>` and `gt sling <molecule>`. The workflow
/// (`TownWorkflow.slingFormula`, `.slingMolecule`, `.pourFormula`, `.readySteps`) does the work, and in a cluster
/// the Mayor places each ready step like a bead; this parses, cooks and prints.
enum GTMoleculeSling {
    /// Handles the molecule cases here (no cluster, or a rig named) and returns `()`; nil when `command` is a plain
    /// bead sling.
    static func run(_ command: GTSlingCommand, _ workflow: TownWorkflow, _ context: CommandContext) async throws -> Void? {
        let result: MoleculeSlingResult
        if let on = command.on {
            let plan = try await cook(command, on: on, context)
            result = try await GTTown.run {
                try await workflow.slingFormula(plan, on: on, rig: command.rig, runtime: command.runtime)
            }
        } else {
            let isMolecule = try await GTTown.run { try await workflow.isMolecule(command.bead) }
            guard isMolecule else { return nil }
            result = try await GTTown.run {
                try await workflow.slingMolecule(command.bead, rig: command.rig, runtime: command.runtime)
            }
        }
        if context.jsonMode { try context.console.json(result); return () }
        let c = context.console
        if result.poured { c.out("✓ Poured molecule \(result.molecule) from \(command.bead) onto \(command.on ?? "")") }
        for s in result.slung {
            c.out("Slung \(s.bead) to \(s.rig)/polecats/\(s.polecat) (lease epoch \(s.epoch))")
            c.out("  worktree: \(s.worktree)")
            c.out("  session:  \(s.session) (\(s.runtime))")
        }
        try report(molecule: result.molecule, slung: result.slung.count, refused: result.refused, c)
        return ()
    }

    /// The same in a cluster: pours here (with `--on`), then has `mayor` place each ready step on the node with
    /// room, as `gt sling <bead>` does; nil when `command` is a plain bead sling.
    static func place(
        _ command: GTSlingCommand, _ mayor: Mayor, _ workflow: TownWorkflow, _ context: CommandContext
    ) async throws -> Void? {
        let root: String
        if let on = command.on {
            let plan = try await cook(command, on: on, context)
            root = try await GTTown.run { try await workflow.pourFormula(plan, on: on) }
        } else {
            let isMolecule = try await GTTown.run { try await workflow.isMolecule(command.bead) }
            guard isMolecule else { return nil }
            root = command.bead
        }
        let (molecule, ready) = try await GTTown.run { try await workflow.readySteps(of: root) }
        var result = MoleculePlacementResult(molecule: molecule, poured: command.on != nil, placed: [], refused: [:])
        for step in ready {
            do {
                result.placed.append(
                    try await mayor.place(
                        bead: step, rig: command.rig, runtime: command.runtime, require: command.require,
                        node: command.node))
            } catch {
                result.refused[step] = error.message
            }
        }
        if context.jsonMode { try context.console.json(result); return () }
        let c = context.console
        if result.poured { c.out("✓ Poured molecule \(molecule) from \(command.bead) onto \(command.on ?? "")") }
        for p in result.placed {
            if p.admitted {
                c.out("Slung \(p.bead) to \(p.rig)/polecats/\(p.polecat) on node \(p.node) (lease epoch \(p.epoch))")
            } else {
                c.out("Queued \(p.bead) (rig \(p.rig)): \(p.reason)")
            }
        }
        try report(molecule: molecule, slung: result.placed.count, refused: result.refused, c)
        return ()
    }

    /// Cooks the formula `command.bead` from the town's library, `issue` set to `on` when the formula has it.
    static func cook(_ command: GTSlingCommand, on: String, _ context: CommandContext) async throws -> MoleculePlan {
        let library = try await TownFormulas.library(town: try context.townRoot().path)
        var variables = command.variables
        let plan: MoleculePlan
        do {
            let formula = try library.resolve(command.bead)
            if variables["issue"] == nil, formula.vars.contains(where: { $0.name == "issue" }) {
                variables["issue"] = on
            }
            plan = try library.cook(command.bead, options: CookOptions(variables: variables))
        } catch {
            throw BDMolecules.cliError(error)
        }
        for w in plan.warnings { context.console.err("warning: \(w)") }
        return plan
    }

    /// The refusals and the exit status: an error when steps were ready and none could be slung.
    static func report(molecule: String, slung: Int, refused: [String: String], _ c: Console) throws {
        for (step, why) in refused.sorted(by: { $0.key < $1.key }) { c.err("not slung: \(step): \(why)") }
        if slung == 0 && refused.isEmpty { c.out("No step of \(molecule) is ready ('bd mol show \(molecule)')") }
        if slung == 0 && !refused.isEmpty {
            throw CLIError("no ready step of \(molecule) could be slung", code: "refused")
        }
    }
}
