import GasTownTestKit
import Membership
import MergeQueue

/// Shared set-ups for the merge-queue tests.
enum MQ {
    static func at(_ seconds: Double) -> MergeQueue.Instant { MergeQueue.Instant(seconds: seconds) }

    static func request(
        _ n: Int, priority: Int = 2, at seconds: Double = 0, files: Set<String> = [], blockedBy: Set<String> = [],
        epoch: Int = 1, beadEpoch: Int? = nil
    ) -> MergeQueue.Request {
        MergeQueue.Request(
            id: name(n), bead: bead(n), priority: priority, enqueuedAt: at(seconds), leaseEpoch: epoch,
            beadEpoch: beadEpoch, branch: "polecat/n/p\(n)/\(bead(n))/e\(epoch)", head: MergeQueue.Commit("h\(n)"),
            files: files, blockedBy: blockedBy)
    }

    static func name(_ n: Int) -> String { "mr-\(n < 10 ? "0" : "")\(n)" }
    static func bead(_ n: Int) -> String { "bd-\(n)" }

    static func settings(batch: Int = 4, depth: Int = 1, concurrency: Int = 1, retries: Int = 1) -> MergeQueue.Settings
    {
        var s = MergeQueue.Settings()
        s.batchSize = batch
        s.speculationDepth = depth
        s.gateConcurrency = concurrency
        s.flakyRetries = retries
        return s
    }

    /// `count` requests filed over `spread` seconds (seeded), with a random culprit set at `failRate`.
    static func world(count: Int, failRate: Double, seed: UInt64, spread: Double = 300) -> MergeQueueSimulator.World {
        var rng = Membership.Random(seed: seed)
        var world = MergeQueueSimulator.World()
        for n in 0..<count {
            world.arrivals.append(request(n, at: (rng.unit() * spread).rounded()))
            if rng.unit() < failRate { world.culprits.insert(name(n)) }
        }
        return world
    }
}

/// Picks directives of one kind out of a list.
extension Array where Element == MergeQueue.Directive {
    var rebases: [MergeQueue.Rebase] { compactMap { if case .rebase(let r) = $0 { r } else { nil } } }
    var gates: [MergeQueue.Gate] { compactMap { if case .gate(let g) = $0 { g } else { nil } } }
    var pushes: [MergeQueue.Push] { compactMap { if case .push(let p) = $0 { p } else { nil } } }
    var verdicts: [MergeQueue.Verdict] { compactMap { if case .verdict(let v) = $0 { v } else { nil } } }
    var cancelled: [MergeQueue.GateID] { compactMap { if case .cancelGate(let g) = $0 { g } else { nil } } }
    var discarded: [MergeQueue.CandidateID] { compactMap { if case .discard(let c) = $0 { c } else { nil } } }
    var checks: [MergeQueue.Commit] { compactMap { if case .checkLanded(let c) = $0 { c } else { nil } } }
    var flakes: [MergeQueue.Flake] { compactMap { if case .flaky(let f) = $0 { f } else { nil } } }
    var overlapReports: [[MergeQueue.Overlap]] { compactMap { if case .overlaps(let o) = $0 { o } else { nil } } }
}

extension MergeQueue.Rebase {
    var ids: [String] { requests.map(\.request) }
    /// A clean result: one made-up commit per request, named after the base and the request.
    var clean: MergeQueue.RebaseResult {
        var base = onto.hex
        return MergeQueue.RebaseResult(
            commits: requests.map { item in
                base = "\(base)+\(item.request)"
                return MergeQueue.Commit(base)
            })
    }
}

extension MergeQueue.Verdict {
    var isMerged: Bool { if case .merged = outcome { true } else { false } }
}
