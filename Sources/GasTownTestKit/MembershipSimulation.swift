import Foundation
import Membership

/// Benchmark entry points over ``MembershipSimulator`` for `gt-bench` (simulated time, so the figures
/// are protocol properties, not machine speed). Sendable: a namespace.
public enum MembershipSimulation {
    /// The outcome of one failure-detection run. Sendable: plain value.
    public struct DetectionResult: Sendable, Hashable {
        /// Simulated seconds from the kill until every other member reported the killed one failed;
        /// nil if that did not happen within the time limit.
        public var detectionSeconds: Double?
        /// Simulated seconds until the freshly started cluster converged.
        public var convergenceSeconds: Double?
        /// Mean membership bytes sent per member per second in steady state (codec-encoded payloads,
        /// without wire framing or TLS).
        public var gossipBytesPerSecondPerMember: Double
        /// Mean messages sent per member per second in steady state.
        public var messagesPerSecondPerMember: Double
    }

    /// Starts `members` members, lets them converge, measures steady-state traffic over `steadyWindow`,
    /// kills one member and returns the simulated time until all others report it failed.
    public static func detectionTime(
        members: Int = 5, seed: UInt64, settings: Membership.Settings = Membership.Settings(),
        network: MembershipSimulator.Network = MembershipSimulator.Network(),
        steadyWindow: Duration = .seconds(60), limit: Duration = .seconds(300)
    ) -> DetectionResult {
        var net = network
        net.encodeMessages = true
        var sim = MembershipSimulator(size: members, seed: seed, settings: settings, network: net)
        let start = sim.now
        sim.startAll()
        let converged = sim.run(upTo: limit) { $0.converged() }
        let convergence = converged ? (sim.now - start) : nil
        let bytesBefore = (0..<members).map { sim.bytesSent(by: $0) }.reduce(0, +)
        let messagesBefore = (0..<members).map { sim.messagesSent(by: $0) }.reduce(0, +)
        sim.run(for: steadyWindow)
        let bytes = (0..<members).map { sim.bytesSent(by: $0) }.reduce(0, +) - bytesBefore
        let messages = (0..<members).map { sim.messagesSent(by: $0) }.reduce(0, +) - messagesBefore
        let window = Double(steadyWindow.components.seconds) + Double(steadyWindow.components.attoseconds) / 1e18
        var rng = Membership.Random(seed: seed ^ 0xDEAD_BEEF)
        let victim = 1 + Int(rng.next() % UInt64(max(1, members - 1)))
        sim.crash(victim)
        let killedAt = sim.now
        let detected = sim.run(upTo: limit, checkEvery: .milliseconds(10)) { s in
            (0..<s.size).allSatisfy { i in
                i == victim || !s.isRunning(i) || s.view(of: i, about: victim).map { !$0.status.isLive } ?? true
            }
        }
        return DetectionResult(
            detectionSeconds: detected ? (sim.now - killedAt).seconds : nil,
            convergenceSeconds: convergence?.seconds,
            gossipBytesPerSecondPerMember: Double(bytes) / window / Double(members),
            messagesPerSecondPerMember: Double(messages) / window / Double(members))
    }

    /// Runs ``detectionTime(members:seed:settings:network:steadyWindow:limit:)`` over `seeds` seeds and
    /// returns the results, for percentile reports.
    public static func detectionTimes(members: Int = 5, seeds: Range<UInt64>) -> [DetectionResult] {
        seeds.map { detectionTime(members: members, seed: $0) }
    }

    /// Percentiles over many seeds, for a benchmark table. Sendable: plain value.
    public struct Summary: Sendable, Hashable, CustomStringConvertible {
        /// Cluster size.
        public var members: Int
        /// Runs, and runs where every member detected the failure.
        public var runs: Int
        public var detected: Int
        /// Detection time percentiles, simulated seconds.
        public var medianSeconds: Double
        public var p90Seconds: Double
        public var maxSeconds: Double
        /// Mean steady-state payload bytes and messages per second per member.
        public var bytesPerSecondPerMember: Double
        public var messagesPerSecondPerMember: Double

        public var description: String {
            String(
                format: "membership sim, %d members, %d/%d detected: median %.2f s, p90 %.2f s, max %.2f s; "
                    + "%.0f B/s and %.2f msg/s per member",
                members, detected, runs, medianSeconds, p90Seconds, maxSeconds, bytesPerSecondPerMember,
                messagesPerSecondPerMember)
        }
    }

    /// Runs `seeds` detection runs of `members` members and summarises them (the `gt-bench` entry).
    public static func summary(members: Int = 5, seeds: Range<UInt64> = 0..<100) -> Summary {
        let results = detectionTimes(members: members, seeds: seeds)
        let times = results.compactMap(\.detectionSeconds).sorted()
        func pick(_ q: Double) -> Double {
            times.isEmpty ? .nan : times[min(times.count - 1, Int(q * Double(times.count)))]
        }
        let n = Double(max(1, results.count))
        return Summary(
            members: members, runs: results.count, detected: times.count, medianSeconds: pick(0.5),
            p90Seconds: pick(0.9), maxSeconds: times.last ?? .nan,
            bytesPerSecondPerMember: results.map(\.gossipBytesPerSecondPerMember).reduce(0, +) / n,
            messagesPerSecondPerMember: results.map(\.messagesPerSecondPerMember).reduce(0, +) / n)
    }
}

extension Duration {
    /// Seconds as a floating-point number.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
