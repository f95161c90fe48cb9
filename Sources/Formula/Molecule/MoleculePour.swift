import Beads

/// Pouring: a `MoleculePlan` as the ledger changes that create it, for one all-or-nothing write
/// (`LedgerAccess.write(scope:routing:actor:changes:)`, `TownLedger.batch`). Pure: the caller gives the ledger the
/// write is built against, the actor and the time (read in the shell); the changes are checked against a scratch
/// copy of the ledger one after another, so a plan that cannot be created (an ID taken, a title the ledger refuses)
/// throws before anything is written, and the database applies them together or not at all.
///
/// A namespace; `Sendable` trivially.
public enum MoleculePour {
    /// What pouring produces: the root's ID (minted unless given) and the creates, root first.
    /// `Sendable`: plain value.
    public struct Result: Sendable {
        public var rootID: String
        public var changes: [LedgerChange]
        /// The beads as they will be created, in order.
        public var beads: [Bead]
    }

    /// The creates of `plan` in `ledger` (the ledger of the scope the molecule goes to: the root's ID is minted
    /// with its prefix when `rootID` is nil). `attach` adds edges to the root (a bond, or the bead a molecule is
    /// slung on).
    public static func changes(
        _ plan: MoleculePlan, in ledger: Ledger, actor: String, time: Timestamp, rootID: String? = nil,
        attach: [DependencyKey] = []
    ) throws(LedgerError) -> Result {
        var scratch = ledger
        var clock = HybridLogicalClock(node: "pour")
        func stamp() throws(LedgerError) -> HLCStamp {
            do { return try clock.tick(wallMillis: time.unixMillis) } catch {
                throw .invalidOp("the clock cannot stamp the pour: \(error)")
            }
        }
        var specs = plan.newBeads(rootID: rootID ?? "pending")
        var rootSpec = specs.removeFirst()
        rootSpec.explicitID = rootID
        rootSpec.dependencies += attach
        var changes: [LedgerChange] = []
        var beads: [Bead] = []
        let rootOp = try scratch.prepareCreate(rootSpec, actor: actor, stamp: try stamp(), time: time)
        guard case .create(let root, _) = rootOp.change else { throw .invalidOp("pour: the root is not a create") }
        _ = try scratch.apply(rootOp)
        changes.append(rootOp.change)
        beads.append(root)
        for spec in plan.newBeads(rootID: root.id).dropFirst() {
            let op = try scratch.prepareCreate(spec, actor: actor, stamp: try stamp(), time: time)
            guard case .create(let bead, _) = op.change else { continue }
            _ = try scratch.apply(op)
            changes.append(op.change)
            beads.append(bead)
        }
        return Result(rootID: root.id, changes: changes, beads: beads)
    }
}
