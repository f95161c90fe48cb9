import Beads
import Foundation
import GasTownTestKit
import Testing

@testable import Formula

/// Pouring plans into a real `Ledger` (`MoleculePour`), the `Molecule` view, `close --continue`, gates, squash,
/// burn and bond, as values: no store, no clock but the times handed in.
@Suite struct MoleculeTests {
    static let t0 = Timestamp(unixMillis: 1_800_000_000_000)
    /// Values for every variable the sample formulas need.
    static let variables = [
        "feature": "login", "issue": "gt-abc", "rig": "gastown", "prefix": "gt", "pr": "42", "assignee": "bob",
    ]

    /// Applies `changes` as `actor` at `time`, one op each, as the database would.
    static func apply(_ changes: [LedgerChange], to ledger: inout Ledger, actor: String = "tester", time: Timestamp = t0)
        throws
    {
        var clock = HybridLogicalClock(node: "test", last: ledger.stamps.values.map(\.created).max())
        for change in changes {
            _ = try ledger.apply(
                LedgerOp(actor: actor, stamp: try clock.tick(wallMillis: time.unixMillis), time: time, change: change))
        }
    }

    static func pour(_ name: String, mode: MoleculeMode? = nil, into ledger: inout Ledger, time: Timestamp = t0)
        throws -> (MoleculePlan, String)
    {
        let plan = try SampleFormulas.library().cook(name, options: CookOptions(variables: variables, mode: mode))
        let poured = try MoleculePour.changes(plan, in: ledger, actor: "tester", time: time)
        try apply(poured.changes, to: &ledger, time: time)
        return (plan, poured.rootID)
    }

    @Test(arguments: SampleFormulas.names.filter { $0 != "security-audit" }, MoleculeMode.allCases)
    func everySampleFormulaCooksAndPours(name: String, mode: MoleculeMode) throws {
        var ledger = Ledger(prefix: "gt")
        let (plan, root) = try Self.pour(name, mode: mode, into: &ledger)
        #expect(ledger.count == plan.beads.count)
        let m = try Molecule(root, in: ledger)
        #expect(m.root.id == root)
        #expect(m.beads.count == plan.beads.count - 1)
        #expect(Set(m.beads.map(\.id)) == Set(plan.beads.dropFirst().map { MoleculePlan.id(rootID: root, suffix: $0.suffix) }))
        #expect(m.beads.allSatisfy { $0.ephemeral == (mode == .wisp) })
        #expect(!m.ready(now: Self.t0).isEmpty, "\(name): nothing ready after pouring")
        // Every bead comes after every molecule bead it waits for.
        var seen: Set<String> = []
        for b in m.beads {
            for d in b.dependencies where d.type == .blocks && d.dependsOnID.hasPrefix(root + ".") {
                #expect(seen.contains(d.dependsOnID), "\(name): \(b.id) listed before \(d.dependsOnID)")
            }
            seen.insert(b.id)
        }
    }

    @Test func anAspectAloneIsRefusedNamingTheFormula() throws {
        #expect(throws: FormulaError.self) { try SampleFormulas.library().cook("security-audit") }
    }

    @Test func towersOfHanoiRunsToCompletionByClosingWithContinue() throws {
        for mode in MoleculeMode.allCases {
            var ledger = Ledger(prefix: "gt")
            let (_, root) = try Self.pour("towers-of-hanoi", mode: mode, into: &ledger)
            var order: [String] = []
            var step = try #require(Molecule(root, in: ledger).ready(now: Self.t0).first).id
            while true {
                order.append(step)
                let before = try Molecule(root, in: ledger)
                #expect(before.ready(now: Self.t0).map(\.id).allSatisfy { $0 == step } || before.current(now: Self.t0)?.id == step)
                let c = try MoleculeOps.closeAndContinue(
                    step, reason: "done", claimNext: true, in: ledger, actor: "agent", time: Self.t0)
                try Self.apply(c.changes, to: &ledger, actor: "agent")
                if c.completed {
                    #expect(c.next == nil)
                    break
                }
                let next = try #require(c.next)
                #expect(ledger.bead(next)?.status == .inProgress)
                #expect(ledger.bead(next)?.assignee == "agent")
                #expect(try Molecule(root, in: ledger).current(now: Self.t0, actor: "agent")?.id == next)
                step = next
            }
            let suffixes = order.map { String($0.dropFirst(root.count + 1)) }
            #expect(suffixes == ["setup"] + (1...7).map { "move-\($0)" } + ["verify"])
            #expect(ledger.bead(root)?.status == .closed)
            let done = try Molecule(root, in: ledger)
            #expect(done.isComplete)
            #expect(done.progress == MoleculeProgress(total: 9, closed: 9, inProgress: 0, blocked: 0, openGates: 0))
        }
    }

    @Test func continueOnTheRootIsRefused() throws {
        var ledger = Ledger(prefix: "gt")
        let (_, root) = try Self.pour("towers-of-hanoi", into: &ledger)
        #expect(throws: MoleculeError.self) {
            try MoleculeOps.closeAndContinue(root, reason: "x", claimNext: true, in: ledger, actor: "a", time: Self.t0)
        }
    }

    static let gated = """
        formula = "gated"
        [[steps]]
        id = "build"
        title = "Step build"
        [[steps]]
        id = "wait"
        title = "Step wait"
        needs = ["build"]
        gate = { type = "timer", timeout = "90s" }
        [[steps]]
        id = "approve"
        title = "Step approve"
        gate = { type = "human" }
        [[steps]]
        id = "ci"
        title = "Step ci"
        gate = { type = "gh:run", id = "release.yml" }
        [[steps]]
        id = "pr"
        title = "Step pr"
        gate = { type = "gh:pr", id = "17" }
        [[steps]]
        id = "mail"
        title = "Step mail"
        gate = { type = "mail", id = "Deploy OK" }
        """

    @Test func gatesBlockTheirStepUntilResolved() throws {
        let library = FormulaLibrary(source: InMemoryFormulaSource(texts: ["gated": Self.gated], location: "t"))
        var ledger = Ledger(prefix: "gt")
        let plan = try library.cook("gated")
        let poured = try MoleculePour.changes(plan, in: ledger, actor: "tester", time: Self.t0)
        try Self.apply(poured.changes, to: &ledger)
        let root = poured.rootID
        let m = try Molecule(root, in: ledger)
        #expect(m.gates.count == 5)
        #expect(m.ready(now: Self.t0).map(\.id) == ["\(root).build"])
        func check(_ suffix: String, at time: Timestamp) throws -> GateCheck {
            Gates.check(try #require(ledger.bead("\(root).gate-\(suffix)")), in: ledger, now: time)
        }
        // timer: waiting before its timeout, resolved after.
        #expect(try check("wait", at: Timestamp(unixMillis: Self.t0.unixMillis + 89_000)).outcome == .waiting)
        #expect(try check("wait", at: Timestamp(unixMillis: Self.t0.unixMillis + 90_000)).outcome == .resolved)
        // human: never by a check.
        #expect(try check("approve", at: Self.t0).outcome == .cannotCheck)
        // gh:run / gh:pr: say they need network access and stay open.
        for g in ["ci", "pr"] {
            let c = try check(g, at: Timestamp(unixMillis: Self.t0.unixMillis + 10_000_000))
            #expect(c.outcome == .cannotCheck)
            #expect(c.reason.contains("needs network access"))
        }
        // mail: waiting until a message whose subject matches arrives after the gate.
        #expect(try check("mail", at: Self.t0).outcome == .waiting)
        let later = Timestamp(unixMillis: Self.t0.unixMillis + 5_000)
        var other = NewBead(title: "Unrelated")
        other.issueType = .message
        var match = NewBead(title: "re: deploy ok on staging")
        match.issueType = .message
        var clock = HybridLogicalClock(node: "mail", last: ledger.stamps.values.map(\.created).max())
        for spec in [other, match] {
            _ = try ledger.apply(
                try ledger.prepareCreate(
                    spec, actor: "mayor", stamp: try clock.tick(wallMillis: later.unixMillis), time: later))
        }
        let mail = try check("mail", at: later)
        #expect(mail.outcome == .resolved)
        #expect(mail.reason.contains("deploy ok on staging"))
        // Closing the gate unblocks its step.
        try Self.apply([.close(id: "\(root).gate-approve", reason: "ok")], to: &ledger)
        #expect(try Molecule(root, in: ledger).ready(now: Self.t0).map(\.id).contains("\(root).approve"))
        #expect(!(try Molecule(root, in: ledger).ready(now: Self.t0).map(\.id).contains("\(root).ci")))
        #expect(Gates.open(in: ledger).count == 4)
    }

    @Test func squashingAWispLeavesOnlyADigest() throws {
        var ledger = Ledger(prefix: "gt")
        let (_, root) = try Self.pour("shiny", mode: .wisp, into: &ledger)
        try Self.apply([.close(id: "\(root).design", reason: "designed")], to: &ledger)
        let m = try Molecule(root, in: ledger)
        let (changes, digest) = try MoleculeOps.squash(
            m, summary: nil, keepChildren: false, in: ledger, actor: "tester", time: Self.t0)
        try Self.apply(changes, to: &ledger)
        let stored = try #require(ledger.bead(digest.id))
        #expect(!stored.ephemeral)
        #expect(stored.status == .closed)
        #expect(stored.description.contains("1/5 steps closed"))
        #expect(stored.description.contains("designed"))
        #expect(stored.metadata.first { $0.key == "digest_of" }?.value == .string(root))
        for b in m.beads + [m.root] { #expect(ledger.bead(b.id)?.status == .tombstone) }
    }

    @Test func squashingAPouredMoleculeKeepsItsStepsAndClosesTheRoot() throws {
        var ledger = Ledger(prefix: "gt")
        let (_, root) = try Self.pour("shiny", into: &ledger)
        let m = try Molecule(root, in: ledger)
        let (changes, digest) = try MoleculeOps.squash(
            m, summary: "All good", keepChildren: false, in: ledger, actor: "tester", time: Self.t0)
        try Self.apply(changes, to: &ledger)
        #expect(ledger.bead(digest.id)?.description == "All good")
        #expect(ledger.bead(root)?.status == .closed)
        #expect(ledger.bead("\(root).design")?.status == .open)
    }

    @Test func burnDeletesEveryBead() throws {
        var ledger = Ledger(prefix: "gt")
        let (_, root) = try Self.pour("mol-gastown-boot", into: &ledger)
        let m = try Molecule(root, in: ledger)
        try Self.apply(MoleculeOps.burn(m, reason: "no"), to: &ledger)
        #expect(ledger.beads.values.allSatisfy { $0.status == .tombstone })
        #expect(throws: MoleculeError.self) { try Molecule(root, in: ledger) }
    }

    @Test func bondSequentialWaitsForTheLeavesAndParallelRunsBeside() throws {
        var ledger = Ledger(prefix: "gt")
        let (_, a) = try Self.pour("shiny", into: &ledger)
        let (_, b) = try Self.pour("towers-of-hanoi", into: &ledger, time: Timestamp(unixMillis: Self.t0.unixMillis + 1))
        let (_, c) = try Self.pour("rule-of-five", into: &ledger, time: Timestamp(unixMillis: Self.t0.unixMillis + 2))
        let ma = try Molecule(a, in: ledger)
        #expect(ma.leaves.map(\.id) == ["\(a).submit"])
        try Self.apply(
            MoleculeOps.bond(ma, try Molecule(b, in: ledger), type: .sequential, actor: "t", time: Self.t0), to: &ledger)
        #expect(try Molecule(b, in: ledger).ready(now: Self.t0).isEmpty)
        try Self.apply(
            MoleculeOps.bond(ma, try Molecule(c, in: ledger), type: .parallel, actor: "t", time: Self.t0), to: &ledger)
        // c is now part of a: a's view holds c's steps too, and they are ready beside a's first step.
        let joined = try Molecule(a, in: ledger)
        #expect(joined.beads.contains { $0.id == c })
        #expect(joined.ready(now: Self.t0).contains { $0.id.hasPrefix(c + ".") })
        for s in ["design", "implement", "review", "test", "submit"] {
            try Self.apply([.close(id: "\(a).\(s)", reason: "ok")], to: &ledger)
        }
        #expect(try Molecule(b, in: ledger).ready(now: Self.t0).map(\.id) == ["\(b).setup"])
    }

    @Test func aPourThatCannotBeCreatedThrowsBeforeAnyChange() throws {
        var ledger = Ledger(prefix: "gt")
        let (plan, root) = try Self.pour("towers-of-hanoi", into: &ledger)
        let before = ledger
        #expect(throws: LedgerError.self) {
            _ = try MoleculePour.changes(plan, in: ledger, actor: "tester", time: Self.t0, rootID: root)
        }
        #expect(ledger == before)
    }

    @Test func naturalOrder() {
        #expect(Molecule.naturalLess("move-2", "move-10"))
        #expect(!Molecule.naturalLess("move-10", "move-2"))
        #expect(Molecule.naturalLess("a", "b"))
        #expect(Molecule.naturalLess("a", "a1"))
        #expect(!Molecule.naturalLess("a1", "a1"))
        #expect(Molecule.naturalLess("x-09", "x-10"))
    }
}
