import GasTownTestKit
import Membership

/// Sizes and seeds of the simulation properties: many seeds of a small cluster, a few of 50 members.
enum Sim {
    static let seeds: Range<UInt64> = 0..<100
    static let smallCluster = 8
    static let largeCluster = 50
    static let largeSeeds: Range<UInt64> = 1000..<1004

    /// A lossy, TCP-like network: 5 % loss, retransmit stalls of 0.2–1 s on 2 % of messages, and
    /// occasional connection resets.
    static var hostileNetwork: MembershipSimulator.Network {
        var n = MembershipSimulator.Network()
        n.lossRate = 0.05
        n.spikeRate = 0.02
        n.resetRate = 0.002
        return n
    }

    /// The latest time, after a crash, by which every live member has declared the crashed member dead,
    /// as the settings imply on a network without loss: each member probes every other member at least
    /// once in two shuffled probe rounds (2(n−1) probe intervals), concludes that probe one interval
    /// later, and its suspicion (started then at the latest, or earlier by gossip) runs out within the
    /// maximum suspicion timeout; one gossip interval covers message latency.
    static func detectionBound(_ s: Membership.Settings, members n: Int) -> Duration {
        s.probeInterval * (2 * (n - 1) + 1) + s.maxSuspicionTimeout(members: n) + s.gossipInterval
    }

    /// Time for news to reach every member for sure: the gossip epidemic normally takes a few gossip
    /// intervals; push-pull anti-entropy with a random member every push-pull interval repairs misses.
    static func disseminationBound(_ s: Membership.Settings, members n: Int) -> Duration {
        s.scaledPushPullInterval(members: n) + s.metadataMinInterval
    }

    /// Starts a cluster and runs it until it converged; nil (with the failure recorded by the caller)
    /// if it did not within the dissemination bound.
    static func converged(
        size: Int, seed: UInt64, network: MembershipSimulator.Network = MembershipSimulator.Network(),
        settings: Membership.Settings = Membership.Settings()
    ) -> MembershipSimulator? {
        var sim = MembershipSimulator(size: size, seed: seed, settings: settings, network: network)
        sim.startAll()
        let ok = sim.run(upTo: disseminationBound(settings, members: size)) { $0.converged() && sameView($0) }
        return ok ? sim : nil
    }

    /// True when every running member holds the same list of (name, status, incarnation, metadata).
    static func sameView(_ sim: MembershipSimulator) -> Bool {
        let views = (0..<sim.size).compactMap { sim.instance($0)?.members }
        guard let first = views.first else { return true }
        return views.allSatisfy { $0 == first }
    }

    /// True when every running member other than `subject` holds `subject` as not live.
    static func allSeeDown(_ sim: MembershipSimulator, _ subject: Int) -> Bool {
        (0..<sim.size).allSatisfy { i in
            i == subject || !sim.isRunning(i) || sim.view(of: i, about: subject).map { !$0.status.isLive } ?? true
        }
    }
}
