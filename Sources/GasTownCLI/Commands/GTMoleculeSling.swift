import Beads
import Formula
import Foundation
import Town

/// The molecule half of `gt sling`: `gt sling <formula> --on <bead>` and `gt sling <molecule>`. The workflow
/// (`TownWorkflow.slingFormula`, `.slingMolecule`) does the work; this parses, cooks and prints.
enum GTMoleculeSling {
    /// Handles the molecule cases and returns `()`; nil when `command` is a plain bead sling.
    static func run(_ command: GTSlingCommand, _ workflow: TownWorkflow, _ context: CommandContext) async throws -> Void? {
        let result: MoleculeSlingResult
        if let on = command.on {
            let town = try context.townRoot().path
            let library = try await TownFormulas.library(town: town)
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
        for (step, why) in result.refused.sorted(by: { $0.key < $1.key }) { c.err("not slung: \(step): \(why)") }
        if result.slung.isEmpty && result.refused.isEmpty {
            c.out("No step of \(result.molecule) is ready ('bd mol show \(result.molecule)')")
        }
        if result.slung.isEmpty && !result.refused.isEmpty {
            throw CLIError("no ready step of \(result.molecule) could be slung", code: "refused")
        }
        return ()
    }
}
