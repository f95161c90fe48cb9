import Beads
import Foundation
import GasTownTestKit
import Git
import LedgerStore
import Testing

/// Ephemeral beads (a wisp's) are never synced through git: the ledger branch's `issues.jsonl` and `stamps.jsonl`
/// leave them out, so another replica never sees them; a persistent bead written beside them syncs as usual.
@Suite struct EphemeralSyncTests {
    func createEphemeral(_ replica: TestReplica, _ title: String) async throws -> String {
        let result = await replica.write { ledger, clock throws(LedgerError) in
            var spec = NewBead(title: title)
            spec.ephemeral = true
            return try ledger.prepareCreate(spec, actor: "tester", stamp: clock.stamp, time: clock.time)
        }
        return try result.get().0.beadID!
    }

    @Test func wispsStayOffTheLedgerBranch() async throws {
        let (remote, a, b) = try await TestReplica.pair()
        defer { TestReplica.close(a, b) }
        let kept = try await a.create("Persistent work")
        let wisp = try await createEphemeral(a, "Patrol wisp")
        #expect(a.ledger.bead(wisp)?.ephemeral == true)
        try await a.sync()
        let issues = try await remote.file("issues.jsonl")
        let stamps = try await remote.file("stamps.jsonl")
        #expect(issues.contains(kept))
        #expect(!issues.contains(wisp), "\(issues)")
        #expect(!stamps.contains(wisp), "\(stamps)")
        try await b.sync()
        #expect(b.ledger.bead(kept) != nil)
        #expect(b.ledger.bead(wisp) == nil)
        // Editing the wisp later still pushes nothing of it; the replica keeps it locally.
        _ = await a.change(.update(id: wisp, fields: [.title("Patrol wisp, edited")]))
        try await a.sync()
        #expect(!(try await remote.file("issues.jsonl")).contains(wisp))
        #expect(a.ledger.bead(wisp)?.title == "Patrol wisp, edited")
    }
}
