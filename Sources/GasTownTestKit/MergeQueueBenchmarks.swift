import Foundation
import Membership
import MergeQueue

/// The merge-queue simulation benchmark for `gt-bench mq`: the same seeded worlds run through a serial queue, Gas
/// Town's Refinery batch algorithm (``MergeQueueBaselines``) and ours (``MergeQueueSimulator``) at speculation
/// depth 0 and 1 and gate concurrency 1 and 2. Simulated time, so the figures are properties of the algorithms,
/// not of the machine. Sendable: a namespace.
public enum MergeQueueBenchmarks {
    /// The shape of every world: requests filed at random over `count` minutes, a 10-minute gate, 5 s per rebased
    /// request, 5 s per push, disjoint files (no conflicts), every request a culprit with probability `failRate`.
    public static func world(count: Int, failRate: Double, seed: UInt64) -> MergeQueueSimulator.World {
        var rng = Membership.Random(seed: seed &* 0x9E37_79B9 &+ UInt64(count))
        var world = MergeQueueSimulator.World()
        world.gateDuration = .seconds(600)
        world.rebasePerRequest = .seconds(5)
        world.pushDuration = .seconds(5)
        let spread = Double(count) * 60
        for n in 0..<count {
            let id = "mr-\(n)"
            let at = MergeQueue.Instant(seconds: (rng.unit() * spread).rounded())
            world.arrivals.append(
                MergeQueue.Request(
                    id: id, bead: "bd-\(n)", enqueuedAt: at, branch: "polecat/\(n)", head: MergeQueue.Commit("h\(n)"),
                    files: ["src/file\(n).swift"]))
            if rng.unit() < failRate { world.culprits.insert(id) }
        }
        return world
    }

    /// One queue's figures over many seeds. Sendable: plain value.
    public struct Row: Sendable {
        public var name: String
        /// Mean gate runs per world, and of those the mean cancelled (speculation thrown away).
        public var gateRuns: Double
        public var cancelled: Double
        /// Mean simulated minutes from zero to the last verdict.
        public var wallMinutes: Double
        /// Time from filing to landing, pooled over all worlds, minutes.
        public var landMedianMinutes: Double
        public var landP95Minutes: Double
        /// Worlds where the merged set was not exactly the requests that are not culprits.
        public var wrongMergedSets: Int
    }

    /// The queues compared, in table order.
    public static let variants: [(name: String, batch: Int, depth: Int, concurrency: Int)] = [
        ("ours D=0 c=1", 4, 0, 1), ("ours D=0 c=2", 4, 0, 2), ("ours D=1 c=1 (defaults)", 4, 1, 1),
        ("ours D=1 c=2", 4, 1, 2), ("ours D=1 c=1, batch 5", 5, 1, 1),
    ]

    /// Every queue over `seeds` worlds of `count` requests failing at `failRate`.
    public static func compare(count: Int, failRate: Double, seeds: Range<UInt64>) -> [Row] {
        var samples: [String: [(MergeQueueBaselines.Outcome, Int, MergeQueueSimulator.World)]] = [:]
        let names = ["serial", "Gas Town"] + variants.map(\.name)
        for seed in seeds {
            let world = world(count: count, failRate: failRate, seed: seed)
            samples["serial", default: []].append((MergeQueueBaselines.serial(world), 0, world))
            samples["Gas Town", default: []].append((MergeQueueBaselines.gasTown(world), 0, world))
            for variant in variants {
                var settings = MergeQueue.Settings()
                settings.batchSize = variant.batch
                settings.speculationDepth = variant.depth
                settings.gateConcurrency = variant.concurrency
                let (outcome, cancelled) = ours(world, settings: settings)
                samples[variant.name, default: []].append((outcome, cancelled, world))
            }
        }
        return names.map { name in
            let runs = samples[name] ?? []
            var lands: [Double] = []
            var wrong = 0
            for (outcome, _, world) in runs {
                for request in world.arrivals {
                    if let landed = outcome.landedAt[request.id] { lands.append((landed - request.enqueuedAt).minutes) }
                }
                if outcome.merged != Set(world.arrivals.map(\.id)).subtracting(world.culprits) { wrong += 1 }
            }
            let n = Double(max(1, runs.count))
            return Row(
                name: name, gateRuns: Double(runs.map(\.0.gateRuns).reduce(0, +)) / n,
                cancelled: Double(runs.map(\.1).reduce(0, +)) / n,
                wallMinutes: runs.map { $0.0.wall.minutes }.reduce(0, +) / n,
                landMedianMinutes: percentile(lands, 0.5), landP95Minutes: percentile(lands, 0.95),
                wrongMergedSets: wrong)
        }
    }

    /// Runs our queue over a world to the end; returns its outcome and how many gate runs it cancelled.
    public static func ours(
        _ world: MergeQueueSimulator.World, settings: MergeQueue.Settings
    )
        -> (MergeQueueBaselines.Outcome, Int)
    {
        var sim = MergeQueueSimulator(settings: settings, world: world)
        sim.run()
        let end = sim.finishedAt.values.max() ?? .zero
        let outcome = MergeQueueBaselines.Outcome(
            gateRuns: sim.gateRuns, wall: end - .zero, landedAt: sim.landedAt, merged: sim.merged,
            reworked: sim.finished { if case .rework = $0 { true } else { false } })
        return (outcome, sim.cancelledGates)
    }

    /// Markdown lines: one table per (count, failure rate).
    public static func report(
        counts: [Int] = [16, 32], failRates: [Double] = [0, 0.1, 0.25], seeds: Int = 200
    )
        -> [String]
    {
        var lines = [
            "Simulated: requests filed at random over n minutes, 10 min gate, 5 s per rebased request, 5 s push, "
                + "each request a culprit with the given probability; \(seeds) seeded worlds per table, the same "
                + "worlds for every queue. Ours: batch 4, one flaky retry. Gas Town: batch 5, 30 s fill wait, "
                + "whole-batch retry, bisection, re-check (steveyegge/gastown internal/refinery/batch.go).",
            "",
        ]
        for count in counts {
            for rate in failRates {
                if lines.last != "" { lines.append("") }
                lines.append("**\(count) requests, \(Int(rate * 100)) % failing**")
                lines.append("")
                lines.append(
                    "| queue | gate runs (cancelled) | wall time | time to land, median | p95 | wrong merged sets |")
                lines.append("|---|---|---|---|---|---|")
                for row in compare(count: count, failRate: rate, seeds: 0..<UInt64(seeds)) {
                    let cancelled = row.cancelled > 0 ? String(format: " (%.1f)", row.cancelled) : ""
                    lines.append(
                        "| \(row.name) | " + String(format: "%.1f", row.gateRuns) + cancelled + " | "
                            + String(
                                format: "%.0f min | %.0f min | %.0f min", row.wallMinutes, row.landMedianMinutes,
                                row.landP95Minutes) + " | \(row.wrongMergedSets) |")
                }
                guard rate > 0 else { continue }
                lines.append("")
                lines.append(
                    String(
                        format: "Lower bound for any queue that retries each culprit's failure once: %.1f gate runs "
                            + "(n·h(p) bits to find the culprits, one bit per run at most, plus n·p retries).",
                        lowerBound(count: count, failRate: rate)))
            }
        }
        return lines
    }

    /// The expected gate runs no queue can beat: identifying a culprit set drawn with probability p per request
    /// takes n·h(p) bits of entropy, a pass/fail run yields at most one bit, and each culprit's failing input is run
    /// once more; at least one run is needed to land anything.
    public static func lowerBound(count: Int, failRate p: Double) -> Double {
        guard p > 0, p < 1 else { return p >= 1 ? Double(count) * 2 : 1 }
        let entropy = -(p * log2(p) + (1 - p) * log2(1 - p))
        return max(1, Double(count) * entropy) + Double(count) * p
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(0, rank), sorted.count - 1)]
    }
}

extension Duration {
    /// The duration in minutes, as a fraction.
    var minutes: Double {
        let (s, a) = components
        return (Double(s) + Double(a) / 1e18) / 60
    }
}
