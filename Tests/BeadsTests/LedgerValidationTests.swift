import GasTownTestKit
import Testing

@testable import Beads

@Suite struct LedgerValidationTests {
    /// Runs `change`, expects `error`, and checks that the ledger did not change.
    func expectRefused(
        _ h: inout Harness, _ change: LedgerChange, _ error: LedgerError,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let before = h.ledger
        let stamp = h.nextStamp()
        let op = LedgerOp(actor: h.actor, stamp: stamp, time: h.time, change: change)
        #expect(throws: error, sourceLocation: sourceLocation) { try h.ledger.check(op) }
        #expect(throws: error, sourceLocation: sourceLocation) { try h.ledger.apply(op) }
        #expect(h.ledger == before, "ledger changed by a refused op", sourceLocation: sourceLocation)
        #expect(h.ledger.exportJSONL() == before.exportJSONL(), sourceLocation: sourceLocation)
        #expect(!error.description.isEmpty)
    }

    func newBead(_ id: String, _ title: String, priority: Int = 2, status: BeadStatus = .open) -> LedgerChange {
        var b = Bead(id: id, title: title, createdAt: Timestamp(unixMillis: 1))
        b.priority = priority
        b.status = status
        return .create(b, allowCycles: false)
    }

    /// A `tracks` edge (a convoy's) may name a bead of another scope, which this scope cannot check; to this scope's
    /// own IDs, and for every other edge type, the target must exist.
    @Test func tracksEdgesMayNameBeadsOfOtherScopes() throws {
        var h = Harness()
        let a = try h.create("Convoy")
        let other = Dependency(issueID: a, dependsOnID: "web-abc", type: .tracks, createdAt: h.time)
        try h.run(.addDependency(id: a, other, allowCycles: false))
        #expect(h.ledger.bead(a)?.dependencies.map(\.dependsOnID) == ["web-abc"])
        var own = other
        own.dependsOnID = "t-nope"
        expectRefused(
            &h, .addDependency(id: a, own, allowCycles: false), .dependencyTargetMissing(id: a, target: "t-nope"))
        var blocks = other
        blocks.type = .blocks
        blocks.dependsOnID = "web-def"
        expectRefused(
            &h, .addDependency(id: a, blocks, allowCycles: false), .dependencyTargetMissing(id: a, target: "web-def"))
        // A tracked bead of another scope never blocks ready work.
        #expect(h.ledger.ready(now: h.time).contains { $0.id == a })
    }

    @Test func everyValidationErrorLeavesTheLedgerUnchanged() throws {
        var h = Harness()
        let a = try h.create("A")
        let b = try h.create("B", deps: [DependencyKey(dependsOnID: a, type: .blocks)])
        expectRefused(&h, newBead("t-x1", ""), .titleEmpty)
        expectRefused(&h, newBead("t-x1", "   "), .titleEmpty)
        expectRefused(&h, newBead("t-x1", String(repeating: "x", count: 501)), .titleTooLong(length: 501, limit: 500))
        expectRefused(&h, newBead("t-x1", "ok", priority: 5), .priorityOutOfRange(5))
        expectRefused(&h, newBead("t-x1", "ok", priority: -1), .priorityOutOfRange(-1))
        expectRefused(&h, newBead("zz-x1", "ok"), .wrongPrefix(id: "zz-x1", prefix: "t"))
        expectRefused(&h, newBead(a, "dup"), .beadExists(a))
        expectRefused(
            &h, newBead("t-x1", "ok", status: .tombstone), .invalidStatus("tombstone (a new bead cannot be deleted)"))
        var withMissing = Bead(id: "t-x2", title: "ok", createdAt: h.time)
        withMissing.dependencies = [
            Dependency(issueID: "t-x2", dependsOnID: "t-nope", type: .blocks, createdAt: h.time)
        ]
        expectRefused(
            &h, .create(withMissing, allowCycles: false), .dependencyTargetMissing(id: "t-x2", target: "t-nope"))
        expectRefused(&h, .update(id: a, fields: [.title("")]), .titleEmpty)
        expectRefused(&h, .update(id: a, fields: [.notes("n"), .priority(9)]), .priorityOutOfRange(9))
        expectRefused(&h, .update(id: a, fields: [.status(.tombstone)]), .invalidStatus("tombstone (use delete)"))
        expectRefused(&h, .update(id: "t-missing", fields: [.title("x")]), .beadNotFound("t-missing"))
        let dep = Dependency(issueID: b, dependsOnID: a, type: .blocks, createdAt: h.time)
        expectRefused(&h, .addDependency(id: b, dep, allowCycles: false), .dependencyExists(id: b, key: "blocks:\(a)"))
        var selfDep = dep
        selfDep.dependsOnID = b
        expectRefused(&h, .addDependency(id: b, selfDep, allowCycles: false), .selfDependency(b))
        var missing = dep
        missing.dependsOnID = "t-gone"
        expectRefused(
            &h, .addDependency(id: b, missing, allowCycles: false), .dependencyTargetMissing(id: b, target: "t-gone"))
        var back = dep
        back.dependsOnID = b
        expectRefused(&h, .addDependency(id: a, back, allowCycles: false), .cycle([a, b, a]))
        expectRefused(
            &h, .removeDependency(id: a, DependencyKey(dependsOnID: b, type: .related)),
            .dependencyNotFound(id: a, key: "related:\(b)"))
        expectRefused(&h, .labels(id: a, add: [""], remove: []), .labelInvalid(""))
        expectRefused(&h, .labels(id: a, add: ["a,b"], remove: []), .labelInvalid("a,b"))
        expectRefused(&h, .setMetadata(id: a, key: "", value: .string("v")), .metadataKeyEmpty)
        try h.run(.claim(id: a, assignee: "alice", node: "n1", expectedEpoch: 0))
        expectRefused(
            &h, .claim(id: a, assignee: "bob", node: "n2", expectedEpoch: nil),
            .alreadyClaimed(id: a, by: "alice", node: "n1", epoch: 1))
        expectRefused(
            &h, .claim(id: a, assignee: "alice", node: "n1", expectedEpoch: 0),
            .staleEpoch(id: a, expected: 0, current: 1))
        expectRefused(&h, .release(id: a, assignee: "bob"), .notClaimHolder(id: a, holder: "alice"))
        try h.run(.delete(id: b, reason: "gone"))
        expectRefused(&h, .update(id: b, fields: [.title("back")]), .beadDeleted(b))
        expectRefused(
            &h, .importBeads([Bead(id: "other-1", title: "x", createdAt: h.time)]),
            .wrongPrefix(id: "other-1", prefix: "t"))
    }

    /// `validateRecord` is one set of checks for a create, an import and a sync merge (issue 10: remote beads
    /// skipped them): the ID's prefix, length and characters, the title, priority, labels, self edges.
    @Test func everyRecordIsCheckedByOneFunction() throws {
        var h = Harness()
        let longID = "t-" + String(repeating: "x", count: 5_000)
        expectRefused(
            &h, newBead(longID, "ok"),
            .idInvalid(id: longID, why: "it has 5002 characters, at most 128 are allowed"))
        expectRefused(&h, newBead("t-a b", "ok"), .idInvalid(id: "t-a b", why: "it holds U+20, which IDs cannot hold"))
        expectRefused(
            &h, newBead("t-a\u{1B}[2J", "ok"),
            .idInvalid(id: "t-a\u{1B}[2J", why: "it holds U+1B, which IDs cannot hold"))
        expectRefused(&h, newBead("t-", "ok"), .wrongPrefix(id: "t-", prefix: "t"))
        let longTitle = Bead(id: "t-imp", title: String(repeating: "T", count: 5_000), createdAt: h.time)
        expectRefused(&h, .importBeads([longTitle]), .titleTooLong(length: 5_000, limit: 500))
        let ledger = h.ledger
        #expect(throws: LedgerError.wrongPrefix(id: "zz-foreign", prefix: "t")) {
            try ledger.validateRecord(Bead(id: "zz-foreign", title: "x", createdAt: Timestamp(unixMillis: 1)))
        }
        var selfEdge = Bead(id: "t-self", title: "x", createdAt: Timestamp(unixMillis: 1))
        selfEdge.status = .tombstone
        selfEdge.dependencies = [Dependency(issueID: "t-self", dependsOnID: "t-self", type: .blocks, createdAt: h.time)]
        #expect(throws: LedgerError.selfDependency("t-self")) { try ledger.validateRecord(selfEdge) }
        selfEdge.dependencies = []
        try ledger.validateRecord(selfEdge)
        try ledger.validateRecord(Bead(id: "t-ok.1.x_y-z", title: "fine", createdAt: Timestamp(unixMillis: 1)))
        let shown = LedgerError.idInvalid(id: longID, why: "too long").description
        #expect(shown.count < 200 && shown.contains("5002 characters"))
    }

    @Test func mutationsDoWhatTheySay() throws {
        var h = Harness()
        let a = try h.create("A")
        try h.run(.update(id: a, fields: [.title("A2"), .description("d"), .priority(0), .issueType(.bug)]))
        var bead = try #require(h.ledger.bead(a))
        #expect(bead.title == "A2" && bead.description == "d" && bead.priority == 0 && bead.issueType == .bug)
        #expect(bead.updatedAt == h.time)
        try h.run(.labels(id: a, add: ["x", "y"], remove: []))
        try h.run(.labels(id: a, add: [], remove: ["x"]))
        #expect(h.ledger.bead(a)?.labels == ["y"])
        try h.run(.close(id: a, reason: "fixed"))
        bead = try #require(h.ledger.bead(a))
        #expect(bead.status == .closed && bead.closedAt == h.time && bead.closeReason == "fixed")
        try h.run(.reopen(id: a))
        bead = try #require(h.ledger.bead(a))
        #expect(bead.status == .open && bead.closedAt == nil && bead.closeReason.isEmpty)
        try h.run(.claim(id: a, assignee: "alice", node: "n1", expectedEpoch: nil))
        bead = try #require(h.ledger.bead(a))
        #expect(
            bead.assignee == "alice" && bead.claimNode == "n1" && bead.leaseEpoch == 1 && bead.status == .inProgress)
        try h.run(.release(id: a, assignee: "alice"))
        try h.run(.claim(id: a, assignee: "bob", node: "n2", expectedEpoch: 1))
        #expect(h.ledger.bead(a)?.leaseEpoch == 2)
        try h.run(h.ledger.prepareComment(id: a, text: "hello <b>", actor: "bob", stamp: h.nextStamp(), time: h.time))
        #expect(h.ledger.bead(a)?.comments.map(\.text) == ["hello <b>"])
        try h.run(.setMetadata(id: a, key: "k", value: .string("v")))
        #expect(h.ledger.bead(a)?.metadataValue("k") == .string("v"))
        try h.run(.delete(id: a, reason: "dup"))
        bead = try #require(h.ledger.bead(a))
        #expect(
            bead.status == .tombstone && bead.deletedBy == "tester" && bead.originalType == "bug"
                && bead.closedAt == nil)
        #expect(h.ledger.stamps[a]?.deleted != nil)
        // Child IDs: <parent>.<hash>, never all digits.
        let parent = try h.create("P")
        let kid = try h.create("K", parent: parent)
        #expect(kid.hasPrefix(parent + "."))
        let suffix = kid.split(separator: ".").last!
        #expect(suffix.contains { !$0.isNumber })
        #expect(h.ledger.bead(kid)?.parentID == parent)
        #expect(
            h.ledger.list(
                {
                    var f = BeadFilter()
                    f.parent = parent
                    return f
                }()
            ).map(\.id) == [kid])
    }

    @Test func stampsFollowFieldGroupsAndElements() throws {
        var h = Harness()
        let a = try h.create("A")
        let created = try #require(h.ledger.stamps[a]?.created)
        try h.run(.update(id: a, fields: [.title("T")]))
        let s1 = try #require(h.ledger.stamps[a])
        #expect(s1.stamp(of: .title) > created)
        #expect(s1.stamp(of: .priority) == created)
        try h.run(.close(id: a, reason: "r"))
        let s2 = try #require(h.ledger.stamps[a])
        #expect(s2.stamp(of: .status) > s1.stamp(of: .title))
        try h.run(.labels(id: a, add: ["x"], remove: []))
        try h.run(.labels(id: a, add: [], remove: ["x"]))
        try h.run(.labels(id: a, add: ["x"], remove: []))
        let s3 = try #require(h.ledger.stamps[a])
        #expect(s3.labels["x"]?.isPresent == true)
        #expect(s3.labels["x"]!.added! > s3.labels["x"]!.removed!)
        // stamps.jsonl round trip
        let text = h.ledger.exportStampsJSONL()
        let decoded = try BeadStamps.decodeJSONL(text)
        #expect(decoded.count == 1 && decoded[0] == s3)
    }
}

@Suite struct UserInputParsingTests {
    @Test func statusesTypesAndDepsParseOrSayWhatIsWrong() throws {
        #expect(try BeadStatus.parse("in_progress") == .inProgress)
        #expect(throws: LedgerError.invalidStatus("done")) { try BeadStatus.parse("done") }
        #expect(try DependencyType.parse("parent-child") == .parentChild)
        #expect(throws: LedgerError.unknownDependencyType("loves")) { try DependencyType.parse("loves") }
        #expect(try DependencyKey.parse("bd-12") == DependencyKey(dependsOnID: "bd-12", type: .blocks))
        #expect(
            try DependencyKey.parse("discovered-from:bd-1.2")
                == DependencyKey(dependsOnID: "bd-1.2", type: .discoveredFrom))
        #expect(throws: LedgerError.unknownDependencyType("nope")) { try DependencyKey.parse("nope:bd-1") }
        #expect(throws: LedgerError.invalidOp("dependency \"blocks:\" has no ID: use type:id")) {
            try DependencyKey.parse("blocks:")
        }
        #expect(DependencyType.allCases.count == 19)
        #expect(LedgerError.unknownDependencyType("x").description.contains("delegated-from"))
    }
}
