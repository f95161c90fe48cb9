import Beads
import Foundation
import GasTownTestKit
import Git
import LedgerStore
import Scheduling
import Testing

/// The claim shell (`ClaimRunner`) over real stores and a real path remote: the `ClaimAttempt` core carried out
/// with the sync engine, the way the node and embedded `bd` run it.
@Suite struct ClaimRunnerTests {
    static let now = Timestamp(unixMillis: 1_767_225_600_000)

    func request(_ id: String, _ who: String, _ replica: TestReplica, force: Bool = false) -> ClaimRunner.Request {
        ClaimRunner.Request(
            id: id, claimant: Claimant(assignee: who, node: replica.replicaID), takeOver: force, time: Self.now)
    }

    /// Two stores race one claim through one path remote, round after round: exactly one wins, the other is told it
    /// lost to the winner's lease, and once both sync again both hold the winner's claim (no write lost: every
    /// round's note, written beside the claim, is on both).
    @Test func twoStoresRacingAClaimThroughOneRemoteHaveExactlyOneWinner() async throws {
        let (_, a, b) = try await TestReplica.pair()
        defer { TestReplica.close(a, b) }
        var ids: [String] = []
        for i in 0..<4 { ids.append(try await a.create("contended \(i)")) }
        try await a.sync()
        try await b.sync()
        for (round, id) in ids.enumerated() {
            async let first = ClaimRunner.claim(request(id, "alice", a), database: a.db, engine: a.engine)
            async let second = ClaimRunner.claim(request(id, "bob", b), database: b.db, engine: b.engine)
            let (ra, rb) = await (first, second)
            let winners = [ra, rb].filter { $0.outcome.isWon }
            #expect(winners.count == 1, "round \(round): \(ra.outcome) / \(rb.outcome)")
            guard let winner = winners.first, case .won(let lease) = winner.outcome else { continue }
            let loser = ra.outcome.isWon ? rb : ra
            guard case .lost(let to) = loser.outcome else {
                Issue.record("round \(round): the loser must be told it lost, got \(loser.outcome)")
                continue
            }
            #expect(to == lease, "round \(round): the loser is told the winner's lease")
            _ = try await a.change(.update(id: id, fields: [.notes("round \(round) by a")])).get()
            try await a.sync()
            try await b.sync()
            for r in [a, b] {
                #expect(r.ledger.bead(id).map(Lease.init) == lease, "\(r.name) holds the winner's claim")
                #expect(r.ledger.bead(id)?.notes == "round \(round) by a")
            }
        }
    }

    /// Both stores claim offline-style: b's claim is written but the remote already has a's at the same epoch; the
    /// runner's sync after the write finds the merge overturned it and reports lost (the merge's lost claim).
    @Test func aClaimOverturnedByTheMergeIsReportedLost() async throws {
        let (_, a, b) = try await TestReplica.pair()
        defer { TestReplica.close(a, b) }
        let x = try await a.create("Claimed offline on b")
        try await a.sync()
        try await b.sync()
        _ = try await b.change(.claim(id: x, assignee: "bob", node: b.replicaID, expectedEpoch: 0)).get()
        let won = await ClaimRunner.claim(request(x, "alice", a), database: a.db, engine: a.engine)
        #expect(won.outcome == .won(Lease(holder: "alice", node: a.replicaID, epoch: 1)))
        // b already holds it locally (bob, epoch 1): bob's runner syncs first, and the merge takes a's.
        let lost = await ClaimRunner.claim(request(x, "bob", b), database: b.db, engine: b.engine)
        #expect(lost.outcome == .lost(to: Lease(holder: "alice", node: a.replicaID, epoch: 1)), "\(lost.outcome)")
        #expect(b.ledger.bead(x)?.assignee == "alice")
    }

    /// Without a remote the claim is a compare-and-swap on the local store; a held bead is lost without a write,
    /// `takeOver` bumps the epoch and records a comment; an unreachable remote refuses with nothing written.
    @Test func localClaimsTakeOversAndAnUnreachableRemote() async throws {
        let solo = try TestReplica(name: "solo", remote: nil)
        defer { solo.close() }
        let x = try await solo.create("Local")
        let mine = await ClaimRunner.claim(request(x, "alice", solo), database: solo.db, engine: nil)
        #expect(mine.outcome == .won(Lease(holder: "alice", node: solo.replicaID, epoch: 1)))
        let theirs = await ClaimRunner.claim(request(x, "bob", solo), database: solo.db, engine: nil)
        #expect(theirs.outcome == .lost(to: Lease(holder: "alice", node: solo.replicaID, epoch: 1)))
        #expect(solo.ledger.bead(x)?.leaseEpoch == 1, "a lost claim writes nothing")
        let forced = await ClaimRunner.claim(request(x, "bob", solo, force: true), database: solo.db, engine: nil)
        #expect(forced.outcome == .won(Lease(holder: "bob", node: solo.replicaID, epoch: 2)))
        #expect(solo.ledger.bead(x)?.comments.last?.text.contains("forced by bob over alice") == true)
        let missing = await ClaimRunner.claim(request("t-nope", "bob", solo), database: solo.db, engine: nil)
        guard case .refused(let why) = missing.outcome else {
            Issue.record("a missing bead is refused, got \(missing.outcome)")
            return
        }
        #expect(why.contains("t-nope"))

        let gone = try TestReplica(name: "gone", remote: "/nonexistent/gt-claim-remote.git")
        defer { gone.close() }
        let y = try await gone.create("Remote unreachable")
        let refused = await ClaimRunner.claim(request(y, "alice", gone), database: gone.db, engine: gone.engine)
        guard case .refused(let text) = refused.outcome else {
            Issue.record("an unreachable remote refuses the claim, got \(refused.outcome)")
            return
        }
        #expect(text.contains("nothing was claimed"))
        #expect(gone.ledger.bead(y)?.assignee == "", "nothing was written")
    }
}
