import Beads
import Foundation
import GasTownTestKit
import Git
import LedgerStore
import Testing

@Suite struct SyncBasicTests {
    @Test func twoReplicasExchangeWritesThroughABareRemote() async throws {
        let (remote, a, b) = try await TestReplica.pair()
        defer { TestReplica.close(a, b) }
        let x = try await a.create("From A")
        let first = try await a.sync()
        #expect(first.commits == 1)
        #expect(try await remote.branch() != nil)
        let pulled = try await b.sync()
        #expect(pulled.scopes.first?.received == 1)
        #expect(b.ledger.bead(x)?.title == "From A")
        _ = await b.change(.update(id: x, fields: [.title("Edited by B")]))
        let y = try await b.create("From B")
        try await b.sync()
        try await a.sync()
        #expect(a.ledger.bead(x)?.title == "Edited by B")
        #expect(a.ledger.bead(y) != nil)
        #expect(a.exported.issues == b.exported.issues)
        #expect(a.exported.stamps == b.exported.stamps)
        #expect(try await remote.file("issues.jsonl") == a.exported.issues)
        // Nothing changed: no new commit.
        let quiet = try await a.sync()
        #expect(quiet.commits == 0)
    }

    @Test func concurrentWritesOnBothSidesMergeWithBothParents() async throws {
        let (remote, a, b) = try await TestReplica.pair()
        defer { TestReplica.close(a, b) }
        let x = try await a.create("Shared")
        try await a.sync()
        try await b.sync()
        _ = await a.change(.labels(id: x, add: ["from-a"], remove: []))
        _ = await b.change(.labels(id: x, add: ["from-b"], remove: []))
        _ = await b.change(.update(id: x, fields: [.priority(0)]))
        try await a.sync()
        let merged = try await b.sync()
        #expect(merged.scopes.first?.commits == 2)
        try await a.sync()
        #expect(a.ledger.bead(x)?.labels == ["from-a", "from-b"])
        #expect(a.ledger.bead(x)?.priority == 0)
        #expect(a.exported.issues == b.exported.issues)
        let head = try #require(try await remote.branch())
        let repo = try await GitRepository.open(at: remote.path)
        #expect(try await repo.commitInfo(head.hex).parents.count == 2)
    }

    @Test func aRestartedEngineResumesFromTheAbsorbedCommit() async throws {
        let remote = try await TestRemote()
        let a = try TestReplica(name: "a", remote: remote.path)
        defer { a.close() }
        _ = try await a.create("One")
        try await a.sync()
        let fresh = LedgerSync(layout: a.layout, settings: TestReplica.fastSettings)
        let again = try await fresh.sync(a.db)
        #expect(again.commits == 0)
        let status = try await fresh.status(a.db)
        #expect(status.first?.dirty == false)
        _ = try await a.create("Two")
        let dirty = try await fresh.status(a.db)
        #expect(dirty.first?.dirty == true && dirty.first?.changedBeads == 1)
        #expect(try await fresh.sync(a.db).commits == 1)
    }

    @Test func theMergeIsInTheWALAndReplaysAfterReopen() async throws {
        let remote = try await TestRemote()
        let a = try TestReplica(name: "a", remote: remote.path)
        let b = try TestReplica(name: "b", remote: remote.path)
        defer { a.close() }
        let x = try await a.create("Durable")
        try await a.sync()
        try await b.sync()
        let before = b.exported
        b.close()
        let reopened = try LedgerDatabase.open(b.layout)
        defer { reopened.close() }
        #expect(reopened.read { $0.scopes["t"]!.bead(x)?.title } == "Durable")
        #expect(reopened.read { $0.scopes["t"]!.exportJSONL() } == before.issues)
        #expect(reopened.read { $0.scopes["t"]!.exportStampsJSONL() } == before.stamps)
    }

    /// Writes acknowledged while syncs (with merges) are in flight are all on the remote after the next sync.
    @Test func writesDuringASyncAreNeverDropped() async throws {
        let (remote, a, b) = try await TestReplica.pair()
        defer { TestReplica.close(a, b) }
        let writer = Task {
            var ids: [String] = []
            for i in 0..<40 { ids.append(try await a.create("in flight \(i)")) }
            return ids
        }
        for i in 0..<6 {
            _ = try await b.create("from b \(i)")
            async let one = a.sync()
            async let two = b.sync()
            _ = try await (one, two)
        }
        let ids = try await writer.value
        try await a.sync()
        try await b.sync()
        let onRemote = Set(try BeadCodec.decodeJSONL(try await remote.file("issues.jsonl")).map(\.id))
        #expect(Set(ids).subtracting(onRemote).isEmpty)
        #expect(onRemote.count == 46)
        #expect(b.exported.issues == a.exported.issues)
    }

    /// Each scope is its own branch with its own commits; a clone gets every scope.
    @Test func scopesAreSeparateBranches() async throws {
        let (remote, a, b) = try await TestReplica.pair()
        defer { TestReplica.close(a, b) }
        try a.db.addScope("hq")
        _ = try await a.create("rig work")
        let convoy = try await a.write { ledger, clock throws(LedgerError) in
            try ledger.prepareCreate(NewBead(title: "convoy"), actor: "x", stamp: clock.stamp, time: clock.time)
        }
        #expect(try convoy.get().0.beadID?.hasPrefix("t-") == true)
        let hqBead = try await DedicatedThread.run { () throws in
            try a.db.write(scope: "hq", routing: nil) { ledger, clock throws(LedgerError) in
                try ledger.prepareCreate(NewBead(title: "town-wide"), actor: "x", stamp: clock.stamp, time: clock.time)
            }.op.beadID!
        }
        let first = try await a.sync()
        #expect(first.scopes.map(\.scope) == ["hq", "t"] && first.commits == 2)
        let hqFile = try await remote.file("issues.jsonl", scope: "hq")
        #expect(hqFile.contains(hqBead))
        _ = try await a.create("only in t")
        let second = try await a.sync()
        #expect(second.scopes.first { $0.scope == "hq" }?.commits == 0)
        #expect(second.scopes.first { $0.scope == "t" }?.commits == 1)
        try await b.sync()
        #expect(b.db.read { $0.scopes["hq"]?.bead(hqBead) } != nil)
    }

    @Test func renderedFilesAreTheLedgersExport() async throws {
        let remote = try await TestRemote()
        let a = try TestReplica(name: "a", remote: remote.path)
        defer { a.close() }
        for i in 0..<20 { _ = try await a.create("Bead \(i)") }
        try await a.sync()
        #expect(try await remote.file("issues.jsonl") == a.exported.issues)
        #expect(try await remote.file("stamps.jsonl") == a.exported.stamps)
        let replicas = try await remote.file("replicas.jsonl")
        #expect(replicas.contains(a.replicaID))
    }
}
