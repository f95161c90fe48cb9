import Testing

@testable import Scheduling

@Suite struct ServiceClaimTests {
    let second: Int64 = 1_000_000_000
    let settings = ServiceClaim.Settings(renewEvery: .seconds(2), grace: .seconds(10))

    func claimed(_ directives: [ServiceClaim.Directive]) -> ServiceLease? {
        for case .write(let record) in directives { return record }
        return nil
    }

    @Test func aFreeRecordIsClaimedThenRunAndRenewed() throws {
        var a = ServiceClaim(service: "refinery", node: "a", settings: settings)
        let first = a.onRead(nil, now: 0)
        let write = try #require(claimed(first))
        #expect(write.lease == Lease(holder: "refinery", node: "a", epoch: 1))
        #expect(a.onRead(write, now: second) == [.start(epoch: 1)])
        #expect(a.holds(epoch: 1))
        // Renewed once renewEvery has passed since the claim.
        #expect(a.onRead(write, now: 2 * second) == [.write(ServiceLease(lease: write.lease, renewal: 1))])
        #expect(a.onRead(ServiceLease(lease: write.lease, renewal: 1), now: 3 * second) == [])
    }

    @Test func anotherNodeTakesOverOnlyAfterTheRecordStoppedChangingForTheGracePeriod() throws {
        var b = ServiceClaim(service: "refinery", node: "b", settings: settings)
        var record = ServiceLease(lease: Lease(holder: "refinery", node: "a", epoch: 4))
        #expect(b.onRead(record, now: 0) == [])
        // Renewals keep it alive however long it runs.
        for step in 1...20 {
            record.renewal += 1
            #expect(b.onRead(record, now: Int64(step) * 5 * second) == [])
        }
        // Unchanged since t = 100 s: nothing until t = 110 s, then a claim at the next epoch.
        #expect(b.onRead(record, now: 109 * second) == [])
        let late = b.onRead(record, now: 110 * second)
        let take = try #require(claimed(late))
        #expect(take.lease == Lease(holder: "refinery", node: "b", epoch: 5))
        #expect(b.onRead(take, now: 111 * second) == [.start(epoch: 5)])
    }

    @Test func aRestartedNodeClaimsItsOwnOldRecordAgainAtTheNextEpoch() throws {
        var a = ServiceClaim(service: "refinery", node: "a", settings: settings)
        let old = ServiceLease(lease: Lease(holder: "refinery", node: "a", epoch: 7), renewal: 30)
        let restart = a.onRead(old, now: 0)
        let again = try #require(claimed(restart))
        #expect(again.lease.epoch == 8)
        #expect(a.onRead(again, now: 1) == [.start(epoch: 8)])
    }

    @Test func losingAConcurrentClaimStopsTheService() throws {
        var a = ServiceClaim(service: "refinery", node: "a", settings: settings)
        let first = a.onRead(nil, now: 0)
        let mine = try #require(claimed(first))
        #expect(a.onRead(mine, now: 1) == [.start(epoch: 1)])
        // The merge kept b's claim at the same epoch.
        let theirs = ServiceLease(lease: Lease(holder: "refinery", node: "b", epoch: 1))
        #expect(a.onRead(theirs, now: 2) == [.stop])
        #expect(!a.holds(epoch: 1))
    }

    @Test func aReleaseFreesTheRecordForAnImmediateTakeover() throws {
        var a = ServiceClaim(service: "refinery", node: "a", settings: settings)
        let first = a.onRead(nil, now: 0)
        let mine = try #require(claimed(first))
        _ = a.onRead(mine, now: 1)
        let release = a.release()
        let released = try #require(release)
        #expect(released.lease.isFree && released.lease.epoch == 1)
        var b = ServiceClaim(service: "refinery", node: "b", settings: settings)
        let taken = b.onRead(released, now: 5)
        #expect(claimed(taken)?.lease == Lease(holder: "refinery", node: "b", epoch: 2))
    }
}
