import GasTownTestKit
import Membership
import Testing

/// Properties of the protocol over many seeds of the deterministic simulator (simulated time).
@Suite struct MembershipSimulationTests {
    @Test func liveMembersConvergeToOneView() {
        for seed in Sim.seeds {
            #expect(Sim.converged(size: Sim.smallCluster, seed: seed) != nil, "seed \(seed)")
        }
        for seed in Sim.largeSeeds {
            #expect(Sim.converged(size: Sim.largeCluster, seed: seed) != nil, "50 members, seed \(seed)")
        }
    }

    @Test func crashedMemberIsDeclaredDeadByEveryoneWithinTheBound() {
        for (size, seeds) in [(Sim.smallCluster, Sim.seeds), (Sim.largeCluster, Sim.largeSeeds)] {
            for seed in seeds {
                guard var sim = Sim.converged(size: size, seed: seed) else {
                    Issue.record("no convergence, seed \(seed)")
                    continue
                }
                let victim = 1 + Int(seed % UInt64(size - 1))
                sim.crash(victim)
                let bound = Sim.detectionBound(sim.settings, members: size)
                let detected = sim.run(upTo: bound) { Sim.allSeeDown($0, victim) }
                #expect(detected, "size \(size) seed \(seed): not everyone declared \(victim) dead within \(bound)")
                #expect(sim.deaths.allSatisfy { $0.subject == victim }, "size \(size) seed \(seed): \(sim.deaths)")
                #expect(Sim.sameView(sim) || !detected, "size \(size) seed \(seed)")
            }
        }
    }

    @Test func noLiveMemberIsDeclaredDeadUnderSpikesResetsAndLoss() {
        var suspicions = 0
        defer { #expect(suspicions > 0, "the network was never hostile enough to raise a suspicion") }
        for (size, seeds, duration) in [
            (Sim.smallCluster, Sim.seeds, Duration.seconds(60)), (Sim.largeCluster, Sim.largeSeeds, .seconds(60)),
        ] {
            for seed in seeds {
                var sim = MembershipSimulator(size: size, seed: seed, network: Sim.hostileNetwork)
                sim.startAll()
                sim.run(for: duration)
                #expect(sim.deaths.isEmpty, "size \(size) seed \(seed): false positives \(sim.deaths)")
                suspicions += sim.suspicions
                // Under loss some member may be suspect at any instant; once the network calms down all
                // views agree again.
                sim.network = MembershipSimulator.Network()
                let calm = sim.run(upTo: Sim.disseminationBound(sim.settings, members: size)) {
                    $0.converged() && Sim.sameView($0)
                }
                #expect(calm, "size \(size) seed \(seed)")
            }
        }
    }

    @Test func viewsMergeAfterAPartitionHeals() {
        let runs = Sim.seeds.map { (Sim.smallCluster, $0) } + Sim.largeSeeds.prefix(2).map { (Sim.largeCluster, $0) }
        for (size, seed) in runs {
            guard var sim = Sim.converged(size: size, seed: seed) else {
                Issue.record("no convergence, seed \(seed)")
                continue
            }
            let left = Array(0..<(size / 2))
            let right = Array((size / 2)..<size)
            sim.partition([left, right])
            let split = sim.run(upTo: Sim.detectionBound(sim.settings, members: size)) { s in
                left.allSatisfy { a in right.allSatisfy { b in s.view(of: a, about: b)?.status == .dead } }
                    && right.allSatisfy { a in left.allSatisfy { b in s.view(of: a, about: b)?.status == .dead } }
            }
            #expect(split, "seed \(seed): the sides did not declare each other dead")
            sim.heal()
            // Every member tries one failed member per reconnect interval; the first exchange across
            // the healed cut starts refutations that gossip and push-pull carry to everyone.
            let bound = sim.settings.reconnectInterval + Sim.disseminationBound(sim.settings, members: size)
            let merged = sim.run(upTo: bound) { $0.converged() && Sim.sameView($0) }
            #expect(merged, "seed \(seed): views did not merge within \(bound)")
        }
    }

    @Test func metadataChangesReachEveryone() throws {
        let runs = Sim.seeds.map { (Sim.smallCluster, $0) } + Sim.largeSeeds.prefix(2).map { (Sim.largeCluster, $0) }
        for (size, seed) in runs {
            guard var sim = Sim.converged(size: size, seed: seed) else {
                Issue.record("no convergence, seed \(seed)")
                continue
            }
            let who = Int(seed % UInt64(size))
            var md = sim.instance(who)!.metadata
            md.freeSlots = 17
            md.draining = true
            md.labels.custom["zone"] = "z\(seed)"
            try sim.updateMetadata(who, md)
            let version = sim.instance(who)!.metadata.version
            let reached = sim.run(upTo: Sim.disseminationBound(sim.settings, members: size)) { s in
                (0..<s.size).allSatisfy { i in
                    let m = s.view(of: i, about: who)?.metadata
                    return m?.version == version && m?.freeSlots == 17 && m?.labels.custom["zone"] == "z\(seed)"
                }
            }
            #expect(reached, "seed \(seed)")
        }
    }

    @Test func memberPausedForLessThanTheMinimumSuspicionTimeoutIsNotDeclaredDead() {
        for seed in Sim.seeds {
            let size = Sim.smallCluster
            guard var sim = Sim.converged(size: size, seed: seed) else {
                Issue.record("no convergence, seed \(seed)")
                continue
            }
            let victim = Int(seed % UInt64(size))
            let pause = sim.settings.minSuspicionTimeout(members: size) - .milliseconds(100)
            sim.pause(victim)
            sim.run(for: pause)
            sim.resume(victim)
            sim.run(for: .seconds(30))
            #expect(sim.deaths.isEmpty, "seed \(seed): \(sim.deaths)")
            #expect(sim.converged(), "seed \(seed)")
        }
    }

    @Test func suspectedMemberRefutesWithAHigherIncarnation() {
        for seed in Sim.seeds {
            let size = Sim.smallCluster
            guard var sim = Sim.converged(size: size, seed: seed) else {
                Issue.record("no convergence, seed \(seed)")
                continue
            }
            let victim = Int(seed % UInt64(size))
            let accuser = (victim + 1) % size
            let told = (victim + 2) % size
            let rumour = Membership.Gossip.suspect(
                name: MembershipSimulator.name(victim), incarnation: 0, from: MembershipSimulator.name(accuser))
            let from = Membership.Node(
                name: MembershipSimulator.name(accuser), address: MembershipSimulator.address(accuser))
            sim.inject(.gossip(from: from, gossip: [rumour]), to: told)
            #expect(sim.view(of: told, about: victim)?.status == .suspect, "seed \(seed)")
            let refuted = sim.run(upTo: sim.settings.minSuspicionTimeout(members: size)) { s in
                (0..<s.size).allSatisfy { i in
                    let m = s.view(of: i, about: victim)
                    return m?.status == .alive && (m?.incarnation ?? 0) >= 1
                }
            }
            #expect(refuted, "seed \(seed)")
            sim.run(for: .seconds(30))
            #expect(sim.deaths.isEmpty, "seed \(seed): \(sim.deaths)")
        }
    }

    @Test func restartedMemberRejoinsWithAHigherIncarnationAndItsNewMetadata() {
        for seed in Sim.seeds.prefix(50) {
            let size = Sim.smallCluster
            guard var sim = Sim.converged(size: size, seed: seed) else {
                Issue.record("no convergence, seed \(seed)")
                continue
            }
            let victim = 1 + Int(seed % UInt64(size - 1))
            sim.crash(victim)
            let dead = sim.run(upTo: Sim.detectionBound(sim.settings, members: size)) { Sim.allSeeDown($0, victim) }
            #expect(dead, "seed \(seed)")
            let deadIncarnation = sim.view(of: 0, about: victim)?.incarnation ?? 0
            // The new life starts at incarnation 0 and metadata version 1, below what the others hold.
            sim.start(victim, seeds: [MembershipSimulator.address(0)], metadata: Membership.Metadata(freeSlots: 9))
            let back = sim.run(upTo: Sim.disseminationBound(sim.settings, members: size)) { s in
                (0..<s.size).allSatisfy { i in
                    let m = s.view(of: i, about: victim)
                    return m?.status == .alive && m!.incarnation > deadIncarnation && m?.metadata.freeSlots == 9
                }
            }
            #expect(back, "seed \(seed)")
            #expect(sim.converged(), "seed \(seed)")
        }
    }

    @Test func memberThatLeavesIsSeenLeftNotFailed() {
        for seed in Sim.seeds.prefix(50) {
            let size = Sim.smallCluster
            guard var sim = Sim.converged(size: size, seed: seed) else {
                Issue.record("no convergence, seed \(seed)")
                continue
            }
            let who = Int(seed % UInt64(size))
            sim.leave(who)
            sim.run(for: .seconds(1))
            sim.crash(who)
            let gone = sim.run(upTo: .seconds(5)) { s in
                (0..<s.size).allSatisfy { i in i == who || s.view(of: i, about: who)?.status == .left }
            }
            #expect(gone, "seed \(seed)")
            sim.run(for: .seconds(30))
            #expect(sim.deaths.isEmpty, "seed \(seed): \(sim.deaths)")
        }
    }
}

@Suite struct MembershipBenchmarkEntryTests {
    @Test func detectionSummaryCoversEveryRunWithinTheBound() {
        let summary = MembershipSimulation.summary(members: 5, seeds: 0..<5)
        let bound = Sim.detectionBound(Membership.Settings(), members: 5)
        #expect(summary.runs == 5 && summary.detected == 5)
        #expect(summary.maxSeconds <= Double(bound.components.seconds) + 1)
        #expect(summary.bytesPerSecondPerMember > 0 && summary.messagesPerSecondPerMember > 1)
        #expect(summary.description.contains("5/5 detected"))
    }
}

/// A refused connection (the member's process died, its host answers with a reset) is evidence a probe
/// timeout is not: members suspect at once and declare the member dead within `refusedSuspicionTimeout`.
@Suite struct MembershipRefusedConnectionTests {
    /// Simulated seconds from the crash until every live member holds the victim as dead.
    static func detection(seed: UInt64, refuses: Bool) -> Double? {
        guard var sim = Sim.converged(size: Sim.smallCluster, seed: seed) else { return nil }
        let victim = 1 + Int(seed % UInt64(Sim.smallCluster - 1))
        let start = sim.now.nanoseconds
        sim.crash(victim, refusesConnections: refuses)
        let bound = Sim.detectionBound(sim.settings, members: Sim.smallCluster)
        guard sim.run(upTo: bound, checkEvery: .milliseconds(10), until: { Sim.allSeeDown($0, victim) }) else {
            return nil
        }
        guard sim.deaths.allSatisfy({ $0.subject == victim }) else { return nil }
        return Double(sim.now.nanoseconds - start) / 1e9
    }

    @Test func aRefusingCrashedMemberIsDeclaredDeadWithinTheRefusalBound() {
        let settings = Membership.Settings()
        let n = Sim.smallCluster
        // Some member sends to the victim within a probe round (every member probes or gossips every second);
        // its suspicion then ends within the refusal bound, and one gossip interval carries the death.
        let bound =
            (settings.probeInterval * (n - 1) + settings.refusedSuspicionTimeout(members: n) + settings.gossipInterval)
        var refused: [Double] = []
        var plain: [Double] = []
        for seed in Sim.seeds {
            guard let fast = Self.detection(seed: seed, refuses: true) else {
                Issue.record("seed \(seed): not detected, or a live member was declared dead")
                continue
            }
            #expect(fast <= Double(bound.components.seconds) + Double(bound.components.attoseconds) / 1e18, "seed \(seed): \(fast) s")
            refused.append(fast)
            if let slow = Self.detection(seed: seed, refuses: false) { plain.append(slow) }
        }
        let median = { (xs: [Double]) in xs.sorted()[xs.count / 2] }
        #expect(refused.count == Sim.seeds.count && plain.count == Sim.seeds.count)
        if !refused.isEmpty && !plain.isEmpty {
            #expect(median(refused) <= 0.5 * median(plain), "median \(median(refused)) s against \(median(plain)) s")
        }
    }

    @Test func aLiveMemberWronglyRefusedRefutesAndIsNeverDeclaredDead() {
        for seed in Sim.seeds {
            guard var sim = Sim.converged(size: Sim.smallCluster, seed: seed) else {
                Issue.record("seed \(seed): no convergence")
                continue
            }
            let observer = Int(seed % UInt64(Sim.smallCluster))
            let subject = (observer + 1 + Int(seed % 3)) % Sim.smallCluster
            sim.injectRefusal(at: observer, about: subject)
            #expect(sim.view(of: observer, about: subject)?.status == .suspect, "seed \(seed)")
            sim.run(for: .seconds(20))
            #expect(sim.deaths.isEmpty, "seed \(seed): \(sim.deaths)")
            #expect(sim.converged() && Sim.sameView(sim), "seed \(seed)")
        }
    }

    @Test func refusalsAboutUnknownDeadOrSelfChangeNothing() {
        guard var sim = Sim.converged(size: 4, seed: 7) else {
            Issue.record("no convergence")
            return
        }
        var me = sim.instance(0)!
        #expect(me.onConnectionRefused(name: "node-0", now: sim.now).isEmpty)
        #expect(me.onConnectionRefused(name: "nobody", now: sim.now).isEmpty)
        sim.crash(3)
        _ = sim.run(upTo: Sim.detectionBound(sim.settings, members: 4)) { Sim.allSeeDown($0, 3) }
        var after = sim.instance(0)!
        #expect(after.member(named: "node-3")?.status == .dead)
        #expect(after.onConnectionRefused(name: "node-3", now: sim.now).isEmpty)
    }
}
