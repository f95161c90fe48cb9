import Beads

/// The molecule verbs as ledger changes for one all-or-nothing write (`bd close --continue`, `bd mol squash`,
/// `bd mol burn`, `bd mol bond`). Pure: built against the ledger value handed in, checked on a scratch copy.
///
/// A namespace; `Sendable` trivially.
public enum MoleculeOps {
    /// Applies `changes` to a copy of `ledger` (throwing what the ledger would refuse) and returns the copy.
    static func simulate(_ changes: [LedgerChange], on ledger: Ledger, actor: String, time: Timestamp)
        throws(LedgerError) -> Ledger
    {
        var scratch = ledger
        var clock = HybridLogicalClock(node: "plan")
        for change in changes {
            let stamp: HLCStamp
            do { stamp = try clock.tick(wallMillis: time.unixMillis) } catch {
                throw .invalidOp("the clock cannot stamp the change: \(error)")
            }
            _ = try scratch.apply(LedgerOp(actor: actor, stamp: stamp, time: time, change: change))
        }
        return scratch
    }

    /// What `bd close <step> --continue` does. `Sendable`: plain value.
    public struct Continue: Sendable {
        public var changes: [LedgerChange]
        /// The molecule's root.
        public var rootID: String
        /// The step claimed next (nil when none is ready, or with `claimNext` false).
        public var next: String?
        /// Steps ready after the close (the first is `next` when claimed).
        public var ready: [String]
        /// Whether the close finished the molecule (its root is closed too).
        public var completed: Bool
    }

    /// Closes `stepID` (reason `reason`); then, in the same write, closes the molecule's root when every step is
    /// done, or claims the first ready step for `actor` when `claimNext`.
    public static func closeAndContinue(
        _ stepID: String, reason: String, claimNext: Bool, in ledger: Ledger, actor: String, time: Timestamp
    ) throws(MoleculeError) -> Continue {
        let molecule = try Molecule(stepID, in: ledger)
        let id = ledger.resolve(stepID)
        guard Molecule.isRoot(molecule.root) else {
            throw MoleculeError(
                "\(stepID) is not a step of a molecule, so there is no next step to continue to",
                hint: "close it without --continue: 'bd close \(stepID)'")
        }
        guard id != molecule.root.id else {
            throw MoleculeError(
                "\(stepID) is the root of a molecule, not a step: --continue closes a step and moves to the next",
                hint: "close a step: 'bd mol current \(id)' shows which")
        }
        var changes: [LedgerChange] = [.close(id: id, reason: reason)]
        let after = try Molecule(molecule.root.id, in: checked(changes, on: ledger, actor: actor, time: time))
        var completed = false
        var next: String?
        let ready = after.ready(now: time).map(\.id)
        if after.isComplete {
            if !Molecule.isDone(after.root.status) {
                changes.append(.close(id: after.root.id, reason: "Molecule complete"))
            }
            completed = true
        } else if claimNext, let first = ready.first {
            changes.append(.claim(id: first, assignee: actor, node: "", expectedEpoch: nil))
            next = first
            _ = try checked(changes, on: ledger, actor: actor, time: time)
        }
        return Continue(changes: changes, rootID: molecule.root.id, next: next, ready: ready, completed: completed)
    }

    /// `changes` applied to a copy of `ledger` (the ledger's refusal as a `MoleculeError`): the copy.
    public static func checked(_ changes: [LedgerChange], on ledger: Ledger, actor: String, time: Timestamp)
        throws(MoleculeError) -> Ledger
    {
        do { return try simulate(changes, on: ledger, actor: actor, time: time) } catch {
            throw MoleculeError(error.description)
        }
    }

    /// `bd mol burn`: every bead of the molecule deleted (tombstones, with `reason`), children before parents.
    public static func burn(_ molecule: Molecule, reason: String) -> [LedgerChange] {
        (molecule.beads.reversed() + [molecule.root]).map { .delete(id: $0.id, reason: reason) }
    }

    /// `bd mol squash`: a digest bead (persistent, closed) summarising the molecule, and then: a wisp's beads
    /// deleted (unless `keepChildren`); a poured molecule's steps kept (the audit trail) and its root closed.
    /// The digest names the molecule in its metadata (`digest_of`), not by an edge: a wisp's IDs never reach a
    /// remote, and an edge to them would be a dangling edge there. `summary` replaces the generated description.
    public static func squash(
        _ molecule: Molecule, summary: String?, keepChildren: Bool, in ledger: Ledger, actor: String,
        time: Timestamp
    ) throws(MoleculeError) -> (changes: [LedgerChange], digest: Bead) {
        let p = molecule.progress
        var text = "Digest of \(molecule.root.id) (\(molecule.root.sourceFormula.isEmpty ? "molecule" : "formula " + molecule.root.sourceFormula)): \(p.closed)/\(p.total) steps closed.\n"
        for step in molecule.steps {
            let reason = step.closeReason.isEmpty ? "" : " — \(step.closeReason)"
            text += "\n- [\(Molecule.isDone(step.status) ? "x" : " ")] \(step.id): \(step.title)\(reason)"
        }
        var spec = NewBead(title: String("Digest: \(molecule.root.title)".prefix(500)))
        spec.description = summary ?? text
        spec.status = .closed
        spec.labels = ["digest"]
        spec.metadata = [
            JSONMember("digest_of", .string(molecule.root.id)),
            JSONMember("steps", .int(Int64(p.total))), JSONMember("closed", .int(Int64(p.closed))),
        ]
        do {
            var clock = HybridLogicalClock(node: "plan")
            let op = try ledger.prepareCreate(
                spec, actor: actor, stamp: try clock.tick(wallMillis: time.unixMillis), time: time)
            guard case .create(let digest, _) = op.change else { throw MoleculeError("squash: no digest") }
            var changes: [LedgerChange] = [op.change]
            if molecule.isWisp && !keepChildren {
                changes += burn(molecule, reason: "Squashed into \(digest.id)")
            } else if !Molecule.isDone(molecule.root.status) {
                changes.append(.close(id: molecule.root.id, reason: "Squashed into \(digest.id)"))
            }
            _ = try simulate(changes, on: ledger, actor: actor, time: time)
            return (changes, digest)
        } catch let error as MoleculeError {
            throw error
        } catch let error as LedgerError {
            throw MoleculeError(error.description)
        } catch {
            throw MoleculeError("squash failed: \(error)")
        }
    }

    /// How `bd mol bond` joins two molecules. `Sendable`: plain enum.
    public enum BondType: String, Sendable, CaseIterable {
        /// B runs after A: B's root waits for (is blocked by) every leaf step of A.
        case sequential
        /// B runs alongside A: B's root becomes a child of A's root.
        case parallel
    }

    /// The edges that bond molecule `b` (whose root is `bRootID`, possibly not created yet) to molecule `a`.
    public static func bondEdges(_ a: Molecule, type: BondType) -> [DependencyKey] {
        switch type {
        case .sequential:
            let leaves = a.leaves
            return (leaves.isEmpty ? [a.root] : leaves).map { DependencyKey(dependsOnID: $0.id, type: .blocks) }
        case .parallel: return [DependencyKey(dependsOnID: a.root.id, type: .parentChild)]
        }
    }

    /// Bonding two molecules already poured: the dependency changes on `b`'s root.
    public static func bond(_ a: Molecule, _ b: Molecule, type: BondType, actor: String, time: Timestamp)
        -> [LedgerChange]
    {
        bondEdges(a, type: type).map {
            .addDependency(
                id: b.root.id,
                Dependency(issueID: b.root.id, dependsOnID: $0.dependsOnID, type: $0.type, createdAt: time,
                    createdBy: actor),
                allowCycles: false)
        }
    }
}
