import Membership
import Testing

private func node(_ name: String) -> Membership.Node { Membership.Node(name: name, address: "\(name):7946") }
private func at(_ seconds: Double) -> Membership.Instant { Membership.Instant(nanoseconds: Int64(seconds * 1e9)) }

/// An instance named "me" that joined alone and then learned `others` (alive, incarnation 0).
private func instance(knowing others: [String], seed: UInt64 = 1, settings: Membership.Settings = .init())
    -> Membership.Instance
{
    var i = Membership.Instance(myself: node("me"), seed: seed, settings: settings)
    _ = i.join(seeds: [], now: .zero)
    let members = others.map {
        Membership.Member(node: node($0), incarnation: 0, status: .alive, metadata: .init(version: 1))
    }
    _ = i.onMessage(.pushPull(from: node(others[0]), isResponse: true, isJoin: false, members: members), now: .zero)
    return i
}

private func sends(_ directives: [Membership.Directive]) -> [(Membership.Message, String)] {
    directives.compactMap { if case .send(let m, let to, _) = $0 { (m, to) } else { nil } }
}

private func armed(_ directives: [Membership.Directive], _ id: Membership.TimerID) -> Membership.Instant? {
    directives.compactMap { if case .armTimer(id, let at) = $0 { at } else { nil } }.last
}

@Suite struct MembershipSettingsTests {
    @Test func suspicionTimeoutShrinksAsMemberlistComputesIt() {
        let s = Membership.Settings()
        let cases: [(Int, Duration)] = [
            (0, .seconds(30)), (1, .seconds(16)), (2, .milliseconds(7810)), (3, .seconds(2)),
            (4, .seconds(2)),
        ]
        for (c, expected) in cases {
            #expect(s.suspicionTimeout(confirmations: c, expected: 3, min: .seconds(2), max: .seconds(30)) == expected)
        }
        #expect(s.suspicionTimeout(confirmations: 0, expected: 0, min: .seconds(2), max: .seconds(30)) == .seconds(2))
    }

    @Test func minimumSuspicionTimeoutScalesWithLog10OfTheClusterSize() {
        var s = Membership.Settings()
        s.suspicionMultiplier = 3
        let cases: [(Int, Duration)] = [
            (5, .seconds(3)), (10, .seconds(3)), (50, .milliseconds(5094)),
            (100, .seconds(6)), (500, .milliseconds(8094)), (1000, .seconds(9)),
        ]
        for (n, expected) in cases { #expect(s.minSuspicionTimeout(members: n) == expected, "n = \(n)") }
        let d = Membership.Settings()
        #expect(d.minSuspicionTimeout(members: 5) == .seconds(4))
        #expect(d.maxSuspicionTimeout(members: 5) == .seconds(24))
        #expect(d.suspicionConfirmations(members: 3) == 0)
        #expect(d.suspicionConfirmations(members: 5) == 2)
    }

    @Test func retransmitLimitAndPushPullIntervalScaleWithTheCluster() {
        var s = Membership.Settings()
        s.retransmitMultiplier = 3
        #expect([0, 1, 99].map { s.retransmitLimit(members: $0) } == [0, 3, 6])
        s.pushPullInterval = .seconds(1)
        #expect(
            [1, 32, 33, 64, 65].map { s.scaledPushPullInterval(members: $0) }
                == [.seconds(1), .seconds(1), .seconds(2), .seconds(2), .seconds(3)])
    }
}

@Suite struct MembershipInstanceTests {
    @Test func joinSendsItsStateToEverySeedAndArmsThePeriodicTimers() {
        var i = Membership.Instance(myself: node("me"), seed: 9)
        let d = i.join(seeds: ["a:1", "b:1", "me:7946"], now: at(10))
        let targets = sends(d).map(\.1)
        #expect(targets == ["a:1", "b:1"])
        guard case .pushPull(_, false, true, let members)? = sends(d).first?.0 else {
            Issue.record("no join push-pull")
            return
        }
        #expect(members.map(\.name) == ["me"])
        for id: Membership.TimerID in [.probe, .gossip, .pushPull, .reconnect] { #expect(armed(d, id) != nil) }
        // A message from a member we do not know yet makes us exchange state with it, once.
        let first = sends(i.onMessage(.nack(seq: 1, from: node("a")), now: at(11)))
        #expect(first.count == 1 && first[0].1 == "a:7946")
        #expect(sends(i.onMessage(.nack(seq: 2, from: node("a")), now: at(11))).isEmpty)
    }

    @Test func earlyTimerIsReArmedAndStaleOneIgnored() {
        var i = instance(knowing: ["a"])
        let d = i.onTimer(.probe, now: at(1))
        guard let next = armed(d, .probe) else {
            Issue.record("probe not re-armed: \(d)")
            return
        }
        #expect(
            i.onTimer(.probe, now: Membership.Instant(nanoseconds: next.nanoseconds - 1)) == [
                .armTimer(.probe, at: next)
            ])
        #expect(i.onTimer(.probeTimeout(seq: 999), now: at(100)).isEmpty)
    }

    @Test func pingIsAnsweredWithAnAckCarryingGossip() {
        var i = instance(knowing: ["a", "b"])
        let d = i.onMessage(.ping(seq: 42, from: node("a"), target: "me", gossip: []), now: at(1))
        guard case .ack(42, let from, let gossip)? = sends(d).first?.0 else {
            Issue.record("no ack: \(d)")
            return
        }
        #expect(from == node("me"))
        #expect(gossip.contains(.alive(node("b"), incarnation: 0)))
        // A ping meant for another name (a reused address) is not acked.
        #expect(sends(i.onMessage(.ping(seq: 43, from: node("a"), target: "x", gossip: []), now: at(1))).isEmpty)
    }

    @Test func suspicionOfOurselvesIsRefutedWithAHigherIncarnationToEveryone() {
        var i = instance(knowing: ["a", "b", "c"])
        let d = i.onMessage(
            .gossip(from: node("a"), gossip: [.suspect(name: "me", incarnation: 5, from: "a")]), now: at(1))
        #expect(i.incarnation == 6)
        #expect(i.awareness == 1)
        let told = sends(d).filter { $0.0 == .gossip(from: node("me"), gossip: [.alive(node("me"), incarnation: 6)]) }
        #expect(Set(told.map(\.1)) == ["a:7946", "b:7946", "c:7946"])
        // Older news about us is corrected at its sender, without a new incarnation.
        let stale = i.onMessage(
            .gossip(from: node("b"), gossip: [.dead(name: "me", incarnation: 2, from: "b")]), now: at(2))
        #expect(i.incarnation == 6)
        #expect(sends(stale).map(\.1) == ["b:7946"])
    }

    @Test func restartedNodeRefutesItsOlderLifeAndRepublishesItsMetadata() {
        var i = Membership.Instance(myself: node("me"), metadata: .init(freeSlots: 2), seed: 3)
        _ = i.join(seeds: ["a:7946"], now: .zero)
        #expect(i.incarnation == 0 && i.metadata.version == 1)
        let old = Membership.Member(node: node("me"), incarnation: 7, status: .dead, metadata: .init(version: 10))
        let a = Membership.Member(node: node("a"), incarnation: 0, status: .alive, metadata: .init(version: 1))
        _ = i.onMessage(.pushPull(from: node("a"), isResponse: true, isJoin: true, members: [a, old]), now: at(0.01))
        #expect(i.incarnation == 8)
        #expect(i.metadata.version == 11 && i.metadata.freeSlots == 2)
        #expect(i.member(named: "me")?.status == .alive)
    }

    @Test func missedNacksRaiseLocalHealthWhichStretchesTheProbeInterval() {
        var i = instance(knowing: ["a", "b", "c", "d"])
        var d = i.onTimer(.probe, now: at(1))
        guard case .ping(let seq, _, let target, _)? = sends(d).first?.0 else {
            Issue.record("no ping: \(d)")
            return
        }
        #expect(armed(d, .probeTimeout(seq: seq)) == at(1.5))
        d = i.onProbeTimeout(seq: seq, now: at(1.5))
        let requests = sends(d).filter { if case .pingRequest = $0.0 { true } else { false } }
        #expect(requests.count == 3)
        #expect(!requests.map(\.1).contains(target + ":7946"))
        // No ack and no nack: we may be the slow one; the target is suspected anyway.
        d = i.onTimer(.probe, now: at(2))
        #expect(i.awareness == 3)
        #expect(i.member(named: target)?.status == .suspect)
        #expect(armed(d, .probe) == at(6))
    }

    @Test func nacksKeepLocalHealthAndAnAckImprovesIt() {
        var i = instance(knowing: ["a", "b", "c", "d"])
        var d = i.onTimer(.probe, now: at(1))
        guard case .ping(let seq, _, _, _)? = sends(d).first?.0 else { return }
        _ = i.onTimer(.probeTimeout(seq: seq), now: at(1.5))
        for h in ["a", "b", "c", "d"] { _ = i.onMessage(.nack(seq: seq, from: node(h)), now: at(1.9)) }
        d = i.onTimer(.probe, now: at(2))
        #expect(i.awareness == 0)
        guard case .ping(let seq2, _, _, _)? = sends(d).first?.0 else { return }
        _ = i.onMessage(.ack(seq: seq2, from: node("x"), gossip: []), now: at(2.1))
        #expect(i.awareness == 0)
    }

    @Test func indirectProbeIsRelayedAndNackedWhenTheTargetIsSilent() {
        var i = instance(knowing: ["a", "b"])
        var d = i.onMessage(
            .pingRequest(seq: 5, from: node("a"), target: node("b"), wantsNack: true, gossip: []),
            now: at(1))
        guard case .ping(let relaySeq, _, "b", _)? = sends(d).first?.0 else {
            Issue.record("no relayed ping: \(d)")
            return
        }
        #expect(armed(d, .relayNack(seq: relaySeq)) == at(1.4))
        d = i.onTimer(.relayNack(seq: relaySeq), now: at(1.4))
        #expect(sends(d).map(\.0) == [.nack(seq: 5, from: node("me"))])
        d = i.onMessage(.ack(seq: relaySeq, from: node("b"), gossip: []), now: at(1.45))
        guard case .ack(5, _, _)? = sends(d).first?.0 else {
            Issue.record("ack not forwarded: \(d)")
            return
        }
    }

    @Test func independentConfirmationsShrinkTheSuspicionTimeout() {
        let names = (0..<9).map { "n\($0)" }
        var i = instance(knowing: names)
        let s = i.settings
        let minT = s.minSuspicionTimeout(members: 10)
        let maxT = s.maxSuspicionTimeout(members: 10)
        var d = i.onMessage(
            .gossip(from: node("n1"), gossip: [.suspect(name: "n0", incarnation: 0, from: "n1")]),
            now: at(1))
        #expect(armed(d, .suspicion(name: "n0")) == at(1) + maxT)
        // The same accuser again does not count.
        d = i.onMessage(
            .gossip(from: node("n1"), gossip: [.suspect(name: "n0", incarnation: 0, from: "n1")]),
            now: at(2))
        #expect(armed(d, .suspicion(name: "n0")) == nil)
        d = i.onMessage(
            .gossip(from: node("n2"), gossip: [.suspect(name: "n0", incarnation: 0, from: "n2")]),
            now: at(2))
        let mid = s.suspicionTimeout(confirmations: 1, expected: 2, min: minT, max: maxT)
        #expect(armed(d, .suspicion(name: "n0")) == at(1) + mid)
        #expect(mid < maxT && mid > minT)
        d = i.onMessage(
            .gossip(from: node("n3"), gossip: [.suspect(name: "n0", incarnation: 0, from: "n3")]),
            now: at(3))
        #expect(armed(d, .suspicion(name: "n0")) == at(1) + minT)
        #expect(i.onTimer(.suspicion(name: "n0"), now: at(2) + minT).isEmpty == false)
        #expect(i.member(named: "n0")?.status == .dead)
    }

    @Test func precedenceFollowsIncarnations() {
        var i = instance(knowing: ["a", "b"])
        _ = i.onMessage(.gossip(from: node("b"), gossip: [.dead(name: "a", incarnation: 0, from: "b")]), now: at(1))
        #expect(i.member(named: "a")?.status == .dead)
        _ = i.onMessage(.gossip(from: node("b"), gossip: [.alive(node("a"), incarnation: 0)]), now: at(2))
        #expect(i.member(named: "a")?.status == .dead)
        _ = i.onMessage(.gossip(from: node("b"), gossip: [.alive(node("a"), incarnation: 1)]), now: at(3))
        #expect(i.member(named: "a")?.status == .alive)
        _ = i.onMessage(.gossip(from: node("b"), gossip: [.suspect(name: "a", incarnation: 0, from: "b")]), now: at(4))
        #expect(i.member(named: "a")?.status == .alive)
        _ = i.onMessage(.gossip(from: node("b"), gossip: [.left(name: "a", incarnation: 1)]), now: at(5))
        #expect(i.member(named: "a")?.status == .left)
        _ = i.onMessage(.gossip(from: node("b"), gossip: [.alive(node("a"), incarnation: 1)]), now: at(6))
        #expect(i.member(named: "a")?.status == .left)
    }

    @Test func ownMetadataIsGossipedAtMostOncePerInterval() throws {
        var i = instance(knowing: ["a"])
        _ = i.onTimer(.gossip, now: at(3))
        var d = try i.updateMetadata(.init(freeSlots: 1), now: at(3))
        #expect(i.metadata.version == 2)
        #expect(armed(d, .metadataBroadcast) == nil)
        d = try i.updateMetadata(.init(freeSlots: 0), now: at(4))
        #expect(armed(d, .metadataBroadcast) == at(5))
        d = i.onTimer(.gossip, now: at(4.5))
        let early = sends(d).flatMap { m -> [Membership.Gossip] in if case .gossip(_, let g) = m.0 { g } else { [] } }
        #expect(early.allSatisfy { if case .metadata(_, let md) = $0 { md.version == 2 } else { true } })
        _ = i.onTimer(.metadataBroadcast, now: at(5))
        d = i.onTimer(.gossip, now: at(5))
        let late = sends(d).flatMap { m -> [Membership.Gossip] in if case .gossip(_, let g) = m.0 { g } else { [] } }
        #expect(late.contains(.metadata(name: "me", i.metadata)))
        #expect(i.metadata.version == 3)
    }

    @Test func oversizedMetadataIsRefusedAndNothingChanges() {
        var i = instance(knowing: ["a"])
        let before = i.metadata
        let huge = Membership.Metadata(rigs: (0..<200).map { "a-rather-long-rig-name-\($0)" })
        #expect(throws: Membership.Instance.MetadataTooLarge.self) { try i.updateMetadata(huge, now: at(1)) }
        #expect(i.metadata == before)
    }

    @Test func messageClaimingAnotherSenderThanTheAuthenticatedPeerIsDropped() {
        var i = instance(knowing: ["a", "b"])
        let ping = Membership.Message.ping(seq: 1, from: node("a"), target: "me", gossip: [])
        #expect(i.onMessage(ping, authenticatedPeer: "b", now: at(1)).isEmpty)
        #expect(!sends(i.onMessage(ping, authenticatedPeer: "a", now: at(1))).isEmpty)
    }

    @Test func leaveTellsEveryLiveMemberAndEndsTheInstance() {
        var i = instance(knowing: ["a", "b"])
        let d = i.leave(now: at(1))
        #expect(Set(sends(d).map(\.1)) == ["a:7946", "b:7946"])
        #expect(sends(d).allSatisfy { $0.0 == .gossip(from: node("me"), gossip: [.left(name: "me", incarnation: 0)]) })
        #expect(i.phase == .left)
        #expect(i.onTick(now: at(100)).isEmpty)
    }

    @Test func forceLeaveTakesADeadMemberAsLeftAndTellsTheLiveOnes() {
        var i = instance(knowing: ["a", "b", "c"])
        _ = i.onMessage(.gossip(from: node("a"), gossip: [.dead(name: "c", incarnation: 0, from: "a")]), now: at(1))
        #expect(i.member(named: "c")?.status == .dead)
        let d = i.forceLeave(name: "c", now: at(2))
        #expect(i.member(named: "c")?.status == .left)
        #expect(Set(sends(d).map(\.1)) == ["a:7946", "b:7946"], "told directly to the live members, not to c")
        #expect(sends(d).allSatisfy { $0.0 == .gossip(from: node("me"), gossip: [.left(name: "c", incarnation: 0)]) })
        // Nothing more to do: again, ourselves, an unknown name.
        #expect(i.forceLeave(name: "c", now: at(3)).isEmpty)
        #expect(i.forceLeave(name: "me", now: at(3)).isEmpty)
        #expect(i.forceLeave(name: "nobody", now: at(3)).isEmpty)
        #expect(i.member(named: "me")?.status == .alive)
        // Another member takes the news as left too; a new node under the name, at a higher incarnation, is alive.
        var other = instance(knowing: ["a", "b", "c"], seed: 2)
        _ = other.onMessage(.gossip(from: node("me"), gossip: [.left(name: "c", incarnation: 0)]), now: at(2))
        #expect(other.member(named: "c")?.status == .left)
        _ = other.onMessage(.gossip(from: node("c"), gossip: [.alive(node("c"), incarnation: 1)]), now: at(3))
        #expect(other.member(named: "c")?.status == .alive)
    }

    @Test func nodeThatLeftAndRestartsRefutesItsDeparture() {
        var i = Membership.Instance(myself: node("me"), seed: 4)
        _ = i.join(seeds: ["a:7946"], now: .zero)
        let old = Membership.Member(node: node("me"), incarnation: 3, status: .left, metadata: .init(version: 5))
        _ = i.onMessage(.pushPull(from: node("a"), isResponse: true, isJoin: true, members: [old]), now: at(0.1))
        #expect(i.incarnation == 4)
        #expect(i.member(named: "me")?.status == .alive)
        #expect(i.metadata.version == 6)
    }

    @Test func equalSeedsAndEventsGiveEqualDirectives() {
        var x = instance(knowing: ["a", "b", "c", "d", "e"], seed: 77)
        var y = instance(knowing: ["a", "b", "c", "d", "e"], seed: 77)
        var z = instance(knowing: ["a", "b", "c", "d", "e"], seed: 78)
        var differs = false
        for step in 1...20 {
            let dx = x.onTick(now: at(Double(step)))
            #expect(dx == y.onTick(now: at(Double(step))))
            differs = differs || dx != z.onTick(now: at(Double(step)))
        }
        #expect(differs)
    }
}

/// Issue 10: two live processes holding one name (a copied `.gt/pki`) are told apart from an earlier life.
@Suite struct MembershipIdentityConflictTests {
    private func conflicts(_ directives: [Membership.Directive]) -> [String] {
        directives.compactMap { if case .identityConflict(_, let addresses, _) = $0 { addresses[0] } else { nil } }
    }

    private func aliveNews(_ address: String, _ incarnation: Membership.Incarnation) -> Membership.Message {
        .gossip(
            from: node("x"), gossip: [.alive(Membership.Node(name: "me", address: address), incarnation: incarnation)])
    }

    @Test func aSecondProcessThatAnswersOurRefutationIsReported() {
        var i = instance(knowing: ["x"])
        // Our name heard alive from another address: refuted, not yet reported (it may be an earlier life).
        #expect(conflicts(i.onMessage(aliveNews("copy:7946", 0), now: at(1))).isEmpty)
        #expect(i.incarnation == 1)
        #expect(conflicts(i.onMessage(aliveNews("copy:7946", 0), now: at(2))).isEmpty)
        // It answers our refutation from above it: a live process holds our identity.
        #expect(conflicts(i.onMessage(aliveNews("copy:7946", 2), now: at(3))) == ["copy:7946"])
        #expect(i.incarnation == 3)
        #expect(conflicts(i.onMessage(aliveNews("copy:7946", 4), now: at(4))) == ["copy:7946"])
    }

    @Test func anEarlierLifeAtAnotherAddressIsOnlyRefuted() {
        var i = instance(knowing: ["x"])
        for step in 1...5 {
            #expect(conflicts(i.onMessage(aliveNews("old:7946", 5), now: at(Double(step)))).isEmpty)
        }
        #expect(i.incarnation == 6)
        // News of our own address never counts.
        #expect(conflicts(i.onMessage(aliveNews("me:7946", 9), now: at(7))).isEmpty)
    }

    @Test func aMemberWhoseAddressGoesBackAndForthIsReported() {
        var i = instance(knowing: ["x", "y"])
        func alive(_ address: String, _ incarnation: Membership.Incarnation) -> [Membership.Directive] {
            i.onMessage(
                .gossip(
                    from: node("x"),
                    gossip: [.alive(Membership.Node(name: "y", address: address), incarnation: incarnation)]),
                now: at(Double(incarnation)))
        }
        // y moves once (a restart on another port): no conflict.
        #expect(conflicts(alive("y:8000", 1)).isEmpty)
        #expect(i.member(named: "y")?.node.address == "y:8000")
        // And back, while alive: two processes answer as y.
        let back = alive("y:7946", 2)
        #expect(
            back.contains(.identityConflict(name: "y", addresses: ["y:8000", "y:7946"], incarnation: 2)), "\(back)")
        #expect(conflicts(alive("y:9000", 3)).isEmpty)
    }
}
