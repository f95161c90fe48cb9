import Beads
import Formula
import Foundation

/// What `gt sling <formula> --on <bead>` or `gt sling <molecule>` did. `Sendable`: a plain value.
public struct MoleculeSlingResult: Sendable, Codable, Equatable {
    /// The molecule's root.
    public var molecule: String
    /// Whether this sling poured it (`--on`).
    public var poured: Bool
    /// Each ready step slung.
    public var slung: [SlingResult]
    /// Ready steps that could not be slung, with why.
    public var refused: [String: String]
}

extension TownWorkflow {
    /// `gt sling <formula> --on <bead>`: pours `plan` (cooked by the caller from the town's formulas) in the bead's
    /// scope, its root tracking the bead (`tracks`), in one all-or-nothing write; then slings its ready steps.
    public func slingFormula(
        _ plan: MoleculePlan, on beadID: String, rig: String?, runtime: String?
    ) async throws(TownError) -> MoleculeSlingResult {
        let now = Timestamp(unixNanos: Int64(Date().timeIntervalSince1970 * 1e9))
        let root: String = try await withLedger { ledger throws(TownError) in
            guard let bead = ledger.bead(beadID) else { throw .noSuchBead(beadID) }
            guard bead.status != .closed else { throw .beadClosed(beadID) }
            let actor = ledger.actor
            let box = RootBox()
            let beads = try await ledger.batch(routing: bead.id) { current throws(LedgerError) in
                let poured = try MoleculePour.changes(
                    plan, in: current, actor: actor, time: now,
                    attach: [DependencyKey(dependsOnID: bead.id, type: .tracks)])
                box.set(poured.rootID)
                return poured.changes
            }
            guard let id = box.value ?? beads.first??.id else { throw .ledger("the molecule was not stored") }
            events.record("mol-pour", ["molecule": id, "formula": plan.formula, "on": bead.id])
            return id
        }
        var result = try await slingMolecule(root, rig: rig, runtime: runtime)
        result.poured = true
        return result
    }

    /// `gt sling <molecule>`: slings each ready step of the molecule like a bead (`sling(bead:)`: a polecat each,
    /// placed by the usual sling path). A step that cannot be slung is reported, the others still go.
    public func slingMolecule(_ id: String, rig: String?, runtime: String?) async throws(TownError)
        -> MoleculeSlingResult
    {
        let (root, ready) = try await moleculeReadySteps(id)
        var out = MoleculeSlingResult(molecule: root, poured: false, slung: [], refused: [:])
        for step in ready {
            do {
                out.slung.append(try await sling(bead: step, rig: rig, runtime: runtime))
            } catch {
                out.refused[step] = error.description
            }
        }
        return out
    }

    /// The molecule's root and its steps ready now (what `gt sling <molecule>` slings; in a cluster the Mayor
    /// places each).
    public func moleculeReadySteps(_ id: String) async throws(TownError) -> (root: String, ready: [String]) {
        let now = Timestamp(unixNanos: Int64(Date().timeIntervalSince1970 * 1e9))
        return try await withLedger(mode: .read) { ledger throws(TownError) in
            guard let scope = ledger.scope(of: id), let value = ledger.database.read({ $0.scopes[scope] }) else {
                throw .noSuchBead(id)
            }
            do throws(MoleculeError) {
                let m = try Molecule(id, in: value)
                return (m.root.id, m.ready(now: now).map(\.id))
            } catch { throw .formula(error.description) }
        }
    }

    /// The molecule section of `gt prime` for a polecat whose hook holds `hooked`: the molecule, how far it is,
    /// the step to work now (the one the agent has in progress, else the hooked one, else the next ready), and
    /// how to move on. Nil when the hooked bead is not a molecule step.
    func moleculeSection(hooked: String, agent: String, ledger: TownLedger) -> String? {
        guard let scope = ledger.scope(of: hooked), let value = ledger.database.read({ $0.scopes[scope] }),
            let hookedBead = value.bead(hooked), !Molecule.isRoot(hookedBead),
            let m = try? Molecule(hooked, in: value), m.root.id != hooked, Molecule.isRoot(m.root)
        else { return nil }
        let now = Timestamp(unixNanos: Int64(Date().timeIntervalSince1970 * 1e9))
        let p = m.progress
        var text = "\n\n## Molecule \(m.root.id): \(m.root.title) (\(p.closed)/\(p.total) steps done)"
        let current =
            m.steps.first { $0.status == .inProgress && $0.assignee == agent }
            ?? m.steps.first { $0.id == hooked && !Molecule.isDone($0.status) } ?? m.current(now: now)
        if let step = current {
            text += "\nCurrent step: \(step.id) — \(step.title) (\(step.status.rawValue))"
            if !step.description.isEmpty { text += "\n\n\(step.description)" }
            text += "\n\nWhen the step is done: `bd close \(step.id) --continue` closes it and claims the next ready "
                + "step (`bd mol current \(m.root.id)` shows it)."
        } else if m.isComplete {
            text += "\nEvery step is done."
        } else {
            text += "\nNo step is ready: the rest waits on gates or other steps (`bd mol show \(m.root.id)`)."
        }
        return text
    }
}

/// The root ID seen inside a batch's change builder (which runs once, on the write thread).
/// `@unchecked Sendable`: guarded by a lock.
private final class RootBox: @unchecked Sendable {
    private let lock = NSLock()
    private var id: String?
    func set(_ value: String) { lock.withLock { id = value } }
    var value: String? { lock.withLock { id } }
}

extension TownWorkflow {
    /// Whether `id` is a molecule's root (a bead of type molecule).
    public func isMolecule(_ id: String) async throws(TownError) -> Bool {
        try await withLedger(mode: .read) { ledger throws(TownError) in
            ledger.bead(id).map { $0.issueType == .molecule } ?? false
        }
    }
}
