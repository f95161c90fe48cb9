import GasTownTestKit
import Testing

@testable import Scheduling

/// The claim state machine alone, and many claimants racing through a model of the ledger remote.
@Suite struct ClaimAttemptTests {
    let alice = Claimant(assignee: "rig/polecats/alice", node: "n1")
    let bob = Claimant(assignee: "rig/polecats/bob", node: "n2")

    @Test func localClaimOfAFreeBeadWritesAtTheEpochReadAndWins() {
        var attempt = ClaimAttempt(bead: "gt-1", claimant: alice, mode: .local)
        let first = attempt.start(current: Lease(holder: "", node: "", epoch: 4))
        #expect(first == [.write(bead: "gt-1", claimant: alice, expectedEpoch: 4, takeOver: false)])
        let won = Lease(holder: alice.assignee, node: "n1", epoch: 5)
        #expect(attempt.onWritten(.written(won)) == [.report(.won(won))])
        #expect(attempt.step == .finished)
    }

    @Test func aBeadHeldByAnotherIsLostWithoutWritingUnlessTakenOver() {
        let held = Lease(holder: bob.assignee, node: "n2", epoch: 2)
        var plain = ClaimAttempt(bead: "gt-1", claimant: alice, mode: .local)
        #expect(plain.start(current: held) == [.report(.lost(to: held))])
        var forced = ClaimAttempt(bead: "gt-1", claimant: alice, mode: .local, takeOver: true)
        #expect(forced.start(current: held) == [.write(bead: "gt-1", claimant: alice, expectedEpoch: 2, takeOver: true)])
    }

    @Test func theHolderMayClaimAgainAndAMissingBeadIsRefused() {
        var again = ClaimAttempt(bead: "gt-1", claimant: alice, mode: .local)
        let mine = Lease(holder: alice.assignee, node: "n1", epoch: 3)
        #expect(again.start(current: mine) == [.write(bead: "gt-1", claimant: alice, expectedEpoch: 3, takeOver: false)])
        var missing = ClaimAttempt(bead: "gt-9", claimant: alice, mode: .local)
        guard case .report(.refused(let why))? = missing.start(current: nil).first else {
            Issue.record("a missing bead must be refused")
            return
        }
        #expect(why.contains("gt-9"))
    }

    @Test func remoteClaimSyncsWritesSyncsAndChecksItSurvived() {
        var attempt = ClaimAttempt(bead: "gt-1", claimant: alice, mode: .remote)
        #expect(attempt.start(current: Lease(holder: "", node: "", epoch: 0)) == [.sync])
        let free = Lease(holder: "", node: "", epoch: 1)
        #expect(
            attempt.onSynced(.landed, current: free)
                == [.write(bead: "gt-1", claimant: alice, expectedEpoch: 1, takeOver: false)])
        let mine = Lease(holder: alice.assignee, node: "n1", epoch: 2)
        #expect(attempt.onWritten(.written(mine)) == [.sync])
        #expect(attempt.onSynced(.landed, current: mine) == [.report(.won(mine))])
    }

    @Test func remoteClaimThatTheMergeOverturnedIsLost() {
        var attempt = ClaimAttempt(bead: "gt-1", claimant: alice, mode: .remote)
        _ = attempt.start(current: nil)
        _ = attempt.onSynced(.landed, current: Lease(holder: "", node: "", epoch: 0))
        _ = attempt.onWritten(.written(Lease(holder: alice.assignee, node: "n1", epoch: 1)))
        let theirs = Lease(holder: bob.assignee, node: "n2", epoch: 1)
        #expect(attempt.onSynced(.landed, current: theirs) == [.report(.lost(to: theirs))])
    }

    @Test func failedSyncsRefuseBeforeAndLeaveTheClaimUnconfirmedAfter() {
        var before = ClaimAttempt(bead: "gt-1", claimant: alice, mode: .remote, syncAttempts: 1)
        _ = before.start(current: nil)
        guard case .report(.refused(let why))? = before.onSynced(.failed("unreachable"), current: nil).first else {
            Issue.record("a failed first sync must refuse")
            return
        }
        #expect(why.contains("nothing was claimed"))
        var after = ClaimAttempt(bead: "gt-1", claimant: alice, mode: .remote, syncAttempts: 1)
        _ = after.start(current: nil)
        _ = after.onSynced(.landed, current: Lease(holder: "", node: "", epoch: 0))
        let mine = Lease(holder: alice.assignee, node: "n1", epoch: 1)
        _ = after.onWritten(.written(mine))
        #expect(after.onSynced(.failed("gone"), current: mine) == [.report(.unconfirmed(mine, reason: "gone"))])
    }

    /// A failed sync is retried up to `syncAttempts` per step (a lost push, a remote briefly away): before the write
    /// it is then refused, after the write unconfirmed; a sync that lands on a retry goes on as if the first had.
    @Test func failedSyncsAreRetriedUpToTheLimitPerStep() {
        var attempt = ClaimAttempt(bead: "gt-1", claimant: alice, mode: .remote, syncAttempts: 3)
        #expect(attempt.start(current: nil) == [.sync])
        #expect(attempt.onSynced(.failed("cut"), current: nil) == [.sync])
        #expect(attempt.onSynced(.failed("cut"), current: nil) == [.sync])
        let free = Lease(holder: "", node: "", epoch: 0)
        #expect(
            attempt.onSynced(.landed, current: free)
                == [.write(bead: "gt-1", claimant: alice, expectedEpoch: 0, takeOver: false)])
        let mine = Lease(holder: alice.assignee, node: "n1", epoch: 1)
        #expect(attempt.onWritten(.written(mine)) == [.sync])
        // The count starts again for the sync after the write.
        #expect(attempt.onSynced(.failed("lost push"), current: mine) == [.sync])
        #expect(attempt.onSynced(.failed("lost push"), current: mine) == [.sync])
        #expect(
            attempt.onSynced(.failed("lost push"), current: mine) == [.report(.unconfirmed(mine, reason: "lost push"))])
        var refused = ClaimAttempt(bead: "gt-1", claimant: alice, mode: .remote, syncAttempts: 2)
        _ = refused.start(current: nil)
        #expect(refused.onSynced(.failed("down"), current: nil) == [.sync])
        guard case .report(.refused)? = refused.onSynced(.failed("down"), current: nil).first else {
            Issue.record("the last failed sync before the write refuses")
            return
        }
    }

    @Test func lateEventsAreIgnored() {
        var attempt = ClaimAttempt(bead: "gt-1", claimant: alice, mode: .local)
        _ = attempt.start(current: Lease(holder: "", node: "", epoch: 0))
        _ = attempt.onWritten(.written(Lease(holder: alice.assignee, node: "n1", epoch: 1)))
        #expect(attempt.onWritten(.refused("x")).isEmpty)
        #expect(attempt.onSynced(.landed, current: nil).isEmpty)
    }

    /// Claimants on separate replicas race through a model of the remote (merge: higher epoch wins, at equal
    /// epochs the remote's side; a sync is merge-then-push, atomic as the compare-and-swap push makes it), with
    /// syncs failing at random (some after fetching and merging, their push lost). Over many seeds: at most one
    /// claimant is told it won, the bead's lease on the remote is the winner's, and every loser's outcome names a
    /// lease that really was on its replica.
    @Test(arguments: 0..<300)
    func racingClaimantsThroughTheRemoteHaveAtMostOneWinner(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let count = 2 + Int(rng.next() % 4)
        var model = RemoteModel(replicas: count)
        var attempts = (0..<count).map { i in
            ClaimAttempt(
                bead: "gt-1", claimant: Claimant(assignee: "a\(i)", node: "n\(i)"), mode: .remote)
        }
        var pending: [[ClaimAttempt.Directive]] = attempts.indices.map { i in
            attempts[i].start(current: model.local[i])
        }
        var outcomes: [Int: ClaimOutcome] = [:]
        while outcomes.count < count {
            let live = pending.indices.filter { !pending[$0].isEmpty }
            let i = live[Int(rng.next() % UInt64(live.count))]
            let directive = pending[i].removeFirst()
            switch directive {
            case .sync:
                let fails = rng.next() % 5 == 0
                // A failed sync either never reached the remote or fetched and merged but lost its push.
                if !fails { model.sync(i) } else if rng.next() % 2 == 0 { model.fetch(i) }
                pending[i] += attempts[i].onSynced(fails ? .failed("cut") : .landed, current: model.local[i])
            case .write(_, let claimant, let expected, _):
                pending[i] += attempts[i].onWritten(model.write(i, claimant, expected: expected))
            case .report(let outcome):
                outcomes[i] = outcome
            }
        }
        let winners = outcomes.filter { $0.value.isWon }
        #expect(winners.count <= 1, "seed \(seed): \(outcomes)")
        if let (i, outcome) = winners.first, case .won(let lease) = outcome {
            #expect(model.remote == lease, "seed \(seed): the winner a\(i)'s lease must be on the remote")
        }
        // Whatever was left unconfirmed, once every replica syncs, the remote settles on one lease and no
        // replica that was told it won is overturned (two rounds: the first carries every replica's writes up).
        for _ in 0..<2 { for i in 0..<count { model.sync(i) } }
        if let (_, outcome) = winners.first, case .won(let lease) = outcome { #expect(model.remote == lease) }
        for i in 0..<count { #expect(model.local[i] == model.remote) }
    }
}

/// The ledger remote as the claim protocol sees it: one lease per replica and one on the remote.
struct RemoteModel {
    var remote = Lease(holder: "", node: "", epoch: 0)
    var local: [Lease]

    init(replicas: Int) { local = Array(repeating: remote, count: replicas) }

    /// The claim group's merge: the higher epoch wins; at equal epochs the side already on the remote.
    static func merge(local: Lease, remote: Lease) -> Lease { local.epoch > remote.epoch ? local : remote }

    /// Fetch and merge only: the push was lost.
    mutating func fetch(_ i: Int) { local[i] = RemoteModel.merge(local: local[i], remote: remote) }

    mutating func sync(_ i: Int) {
        local[i] = RemoteModel.merge(local: local[i], remote: remote)
        remote = local[i]
    }

    mutating func write(_ i: Int, _ claimant: Claimant, expected: Int) -> ClaimAttempt.WriteResult {
        let current = local[i]
        guard current.epoch == expected else { return .moved(current: current) }
        if !current.isFree && !current.isHeld(by: claimant) { return .held(current) }
        local[i] = Lease(holder: claimant.assignee, node: claimant.node, epoch: current.epoch + 1)
        return .written(local[i])
    }
}
