import Beads

/// Why a molecule command cannot run. `Sendable`: plain value.
public struct MoleculeError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var hint: String?
    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }
    public var description: String { message }
}

/// A molecule as it stands in the ledger: its root and every bead below it (parent-child, transitively), in
/// order — a bead after every bead of the molecule it waits for (blocks edges), ties in natural ID order
/// (`move-2` before `move-10`). Pure: built from a `Ledger` value.
/// `Sendable`: plain values.
public struct Molecule: Sendable {
    public var root: Bead
    /// Every bead below the root, tombstones left out, in order.
    public var beads: [Bead]
    /// The IDs of the beads the ledger counts as blocked.
    var blocked: Set<String>
    /// Whether each bead has children that are not done.
    var openParents: Set<String>

    /// The molecule whose root is `id`, or the one `id` is a step of (its nearest ancestor whose type is
    /// `molecule` or `convoy`, else its topmost ancestor).
    public init(_ id: String, in ledger: Ledger) throws(MoleculeError) {
        guard let start = ledger.bead(id), start.status != .tombstone else {
            throw MoleculeError("no molecule \(id)", hint: "list molecules with 'bd list -t molecule'")
        }
        var root = start
        var seen: Set<String> = [start.id]
        while !Molecule.isRoot(root), let parent = root.dependencies.first(where: { $0.type == .parentChild }),
            let up = ledger.bead(parent.dependsOnID), seen.insert(up.id).inserted
        {
            root = up
        }
        self.root = root
        let ids = ledger.descendants(of: root.id)
        let members = ids.compactMap { ledger.bead($0) }.filter { $0.status != .tombstone }
        beads = Molecule.ordered(members)
        blocked = ledger.blockedIDs
        var parents: Set<String> = []
        for b in members where !Molecule.isDone(b.status) {
            if let p = b.dependencies.first(where: { $0.type == .parentChild }) { parents.insert(p.dependsOnID) }
        }
        openParents = parents
    }

    /// A molecule's root: a bead of type molecule or convoy.
    public static func isRoot(_ bead: Bead) -> Bool { bead.issueType == .molecule || bead.issueType == .convoy }

    /// Gate beads of the molecule.
    public var gates: [Bead] { beads.filter { $0.issueType == .gate } }
    /// The work: every bead that is not a gate.
    public var steps: [Bead] { beads.filter { $0.issueType != .gate } }

    /// Steps that can be worked now: open, not blocked (by a need or a gate, or through a blocked parent), not a
    /// container with open children, not deferred past `now`. Ephemeral steps (a wisp's) count.
    public func ready(now: Timestamp) -> [Bead] {
        steps.filter { b in
            b.status == .open && !blocked.contains(b.id) && !openParents.contains(b.id)
                && (b.deferUntil.map { $0 <= now } ?? true)
        }
    }

    /// The step being worked (in progress; `actor`'s first when given), else the first ready step.
    public func current(now: Timestamp, actor: String? = nil) -> Bead? {
        let working = steps.filter { $0.status == .inProgress && !openParents.contains($0.id) }
        if let actor, let mine = working.first(where: { $0.assignee == actor }) { return mine }
        return working.first ?? ready(now: now).first
    }

    /// Counts over the steps.
    public var progress: MoleculeProgress {
        var p = MoleculeProgress()
        for b in steps {
            p.total += 1
            if Molecule.isDone(b.status) {
                p.closed += 1
            } else if b.status == .inProgress {
                p.inProgress += 1
            } else if blocked.contains(b.id) {
                p.blocked += 1
            }
        }
        p.openGates = gates.filter { !Molecule.isDone($0.status) }.count
        return p
    }

    /// Every step done.
    public var isComplete: Bool { steps.allSatisfy { Molecule.isDone($0.status) } }

    /// Whether the molecule is a wisp (its root ephemeral).
    public var isWisp: Bool { root.ephemeral }

    /// Steps no other step of the molecule waits for (what a sequential bond waits on).
    public var leaves: [Bead] {
        var needed: Set<String> = []
        for b in steps {
            for d in b.dependencies where d.type == .blocks { needed.insert(d.dependsOnID) }
            if let p = b.dependencies.first(where: { $0.type == .parentChild }) { needed.insert(p.dependsOnID) }
        }
        return steps.filter { !needed.contains($0.id) }
    }

    /// Topological over blocks edges inside `members`, ties in natural ID order.
    static func ordered(_ members: [Bead]) -> [Bead] {
        let byID = Dictionary(uniqueKeysWithValues: members.map { ($0.id, $0) })
        var waitsOn: [String: Set<String>] = [:]
        var dependents: [String: [String]] = [:]
        for b in members {
            let inside = b.dependencies.filter { $0.type != .parentChild && byID[$0.dependsOnID] != nil }
            waitsOn[b.id] = Set(inside.map(\.dependsOnID))
            for d in inside { dependents[d.dependsOnID, default: []].append(b.id) }
        }
        var available = members.filter { waitsOn[$0.id]!.isEmpty }.map(\.id)
        var out: [Bead] = []
        while !available.isEmpty {
            available.sort { naturalLess($0, $1) }
            let next = available.removeFirst()
            out.append(byID[next]!)
            for d in dependents[next] ?? [] {
                waitsOn[d]!.remove(next)
                if waitsOn[d]!.isEmpty { available.append(d) }
            }
        }
        // A cycle someone added by hand: the rest in ID order.
        let placed = Set(out.map(\.id))
        out += members.filter { !placed.contains($0.id) }.sorted { naturalLess($0.id, $1.id) }
        return out
    }

    /// `a` before `b` comparing runs of digits as numbers.
    public static func naturalLess(_ a: String, _ b: String) -> Bool {
        var i = a.unicodeScalars.makeIterator()
        var j = b.unicodeScalars.makeIterator()
        var x = i.next()
        var y = j.next()
        while let cx = x, let cy = y {
            if cx.properties.numericType != nil, cy.properties.numericType != nil,
                cx.isASCII, cy.isASCII
            {
                var nx = "", ny = ""
                while let c = x, c.isASCII, ("0"..."9").contains(c) {
                    nx.unicodeScalars.append(c)
                    x = i.next()
                }
                while let c = y, c.isASCII, ("0"..."9").contains(c) {
                    ny.unicodeScalars.append(c)
                    y = j.next()
                }
                let vx = nx.drop { $0 == "0" }, vy = ny.drop { $0 == "0" }
                if vx.count != vy.count { return vx.count < vy.count }
                if vx != vy { return vx < vy }
                continue
            }
            if cx != cy { return cx.value < cy.value }
            x = i.next()
            y = j.next()
        }
        return x == nil && y != nil
    }
}

/// Step counts of a molecule. `Sendable`: plain value.
public struct MoleculeProgress: Sendable, Equatable {
    public var total = 0
    public var closed = 0
    public var inProgress = 0
    public var blocked = 0
    public var openGates = 0
    /// Closed steps in percent (100 for a molecule without steps).
    public var percent: Int { total == 0 ? 100 : closed * 100 / total }
}

extension Molecule {
    /// Closed or deleted.
    public static func isDone(_ status: BeadStatus) -> Bool { status == .closed || status == .tombstone }
}
