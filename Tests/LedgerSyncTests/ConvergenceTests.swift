import Beads
import Foundation
import GasTownTestKit
import Git
import LedgerStore
import Testing

/// One acknowledged write: which bead, its op, and the bead and stamps right after it on the replica that wrote
/// it (what it wrote is read from the stamps that carry the op's stamp).
struct LoggedWrite {
    var id: String
    var op: LedgerOp
    var bead: Bead
    var stamps: BeadStamps
}

/// Replays the operation log against final ledgers: every field group holds the value of its newest write (the
/// claim group: the highest epoch written), every set element's presence follows its newest add or remove, and
/// a bead whose newest status write is a delete is a tombstone.
enum ConvergenceChecker {
    static func fingerprint(_ bead: Bead, _ group: FieldGroup) -> String {
        var blank = Bead(id: bead.id, title: "", createdAt: Timestamp(unixNanos: 0))
        blank.copyValues(of: group, from: bead)
        return BeadCodec.encodeLine(blank)
    }

    static func check(_ log: [LoggedWrite], final ledger: Ledger) -> [String] {
        var problems: [String] = []
        var byBead: [String: [LoggedWrite]] = [:]
        for w in log { byBead[w.id, default: []].append(w) }
        for (id, writes) in byBead {
            guard let bead = ledger.beads[id] else {
                problems.append("\(id): missing")
                continue
            }
            for group in FieldGroup.allCases {
                let wrote = writes.filter { $0.stamps.stamp(of: group) == $0.op.stamp }
                guard !wrote.isEmpty else { continue }
                if group == .claim {
                    let top = wrote.map(\.bead.leaseEpoch).max()!
                    let candidates = wrote.filter { $0.bead.leaseEpoch == top }.map { fingerprint($0.bead, .claim) }
                    if bead.leaseEpoch != top || !candidates.contains(fingerprint(bead, .claim)) {
                        problems.append("\(id): claim epoch \(bead.leaseEpoch) \(bead.assignee), expected epoch \(top)")
                    }
                    continue
                }
                let last = wrote.max { $0.op.stamp < $1.op.stamp }!
                if fingerprint(bead, group) != fingerprint(last.bead, group) {
                    problems.append(
                        "\(id): group \(group.rawValue) is \(fingerprint(bead, group)), last written "
                            + "\(fingerprint(last.bead, group)) at \(last.op.stamp)")
                }
                if group == .status && last.bead.status == .tombstone && bead.status != .tombstone {
                    problems.append("\(id): deleted at \(last.op.stamp) and back without a later status write")
                }
            }
            func checkSet(_ name: String, _ path: KeyPath<BeadStamps, [String: ElementStamps]>, _ present: Set<String>)
            {
                var events: [String: (HLCStamp, Bool)] = [:]
                for w in writes {
                    for (key, e) in w.stamps[keyPath: path] {
                        for (stamp, added) in [(e.added, true), (e.removed, false)] where stamp == w.op.stamp {
                            if events[key].map({ $0.0 < w.op.stamp }) ?? true { events[key] = (w.op.stamp, added) }
                        }
                    }
                }
                for (key, (stamp, added)) in events where present.contains(key) != added {
                    problems.append(
                        "\(id): \(name) \(key) should be \(added ? "present" : "absent") (last at \(stamp))")
                }
            }
            checkSet("label", \.labels, Set(bead.labels))
            checkSet("dependency", \.dependencies, Set(bead.dependencies.map(\.key.text)))
            checkSet("comment", \.comments, Set(bead.comments.map(\.key)))
        }
        return problems
    }
}

@Suite(.serialized) struct ConvergenceTests {
    /// Seeds 11, 12, 13; `GT_SYNC_SEEDS=21,22,…` runs others (for exploring, not in CI).
    static let seeds: [UInt64] =
        ProcessInfo.processInfo.environment["GT_SYNC_SEEDS"]?.split(separator: ",").compactMap { UInt64($0) }
        ?? [11, 12, 13]

    /// 3 replicas of one bare remote, 1,000 seeded random writes each seed, interleaved with syncs (some
    /// concurrent), replicas cut off for stretches; then heal and sync: byte-identical JSONL everywhere, and
    /// the op-log checker finds every field group, set element and delete as last written.
    @Test(arguments: seeds)
    func replicasConvergeAndLoseNoUpdate(seed: UInt64) async throws {
        let remote = try await TestRemote()
        let replicas = try (0..<3).map { try TestReplica(name: "r\($0)", remote: remote.path) }
        defer { for r in replicas { r.close() } }
        var rng = SplitMix64(seed: seed)
        var log: [LoggedWrite] = []
        var cutOffUntil = [0, 0, 0]
        var acknowledged = 0
        var step = 0
        while acknowledged < 1_000 {
            step += 1
            let i = Int(rng.next() % 3)
            if cutOffUntil[i] <= step && rng.next() % 120 == 0 { cutOffUntil[i] = step + 40 + Int(rng.next() % 120) }
            let replica = replicas[i]
            let ledger = replica.ledger
            let change = RandomWrites.change(rng: &rng, ledger: ledger, step: step, replica: i)
            let newID = "t-r\(i)s\(step)"
            let result = await replica.write { current, clock throws(LedgerError) in
                switch change {
                case .create(let title):
                    // IDs unique per replica: two offline replicas minting one short hash ID is a different path
                    // (the merge re-IDs one bead, Beads' MergeTests), which this op-log checker does not follow.
                    var bead = NewBead(title: title)
                    bead.explicitID = newID
                    return try current.prepareCreate(bead, actor: "a\(i)", stamp: clock.stamp, time: clock.time)
                case .change(let make):
                    return LedgerOp(actor: "a\(i)", stamp: clock.stamp, time: clock.time, change: make(clock.time))
                }
            }
            if case .success(let (op, bead)) = result, let id = op.beadID, let bead {
                let stamps = replica.db.read { $0.scopes["t"]!.stamps[bead.id]! }
                log.append(LoggedWrite(id: id == bead.id ? id : bead.id, op: op, bead: bead, stamps: stamps))
                acknowledged += 1
            }
            let roll = rng.next() % 40
            if roll == 0 {
                // Everyone not cut off syncs at once: pushes race and some are rejected.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (k, r) in replicas.enumerated() where cutOffUntil[k] <= step {
                        group.addTask { try await r.sync() }
                    }
                    try await group.waitForAll()
                }
            } else if roll < 4, cutOffUntil[i] <= step {
                try await replica.sync()
            }
        }
        for _ in 0..<2 {
            for r in replicas { try await r.sync() }
        }
        let reference = replicas[0].exported
        for r in replicas.dropFirst() {
            #expect(r.exported.issues == reference.issues, "replica \(r.name) issues differ (seed \(seed))")
            #expect(r.exported.stamps == reference.stamps, "replica \(r.name) stamps differ (seed \(seed))")
        }
        #expect(try await remote.file("issues.jsonl") == reference.issues)
        let problems = ConvergenceChecker.check(log, final: replicas[0].ledger)
        #expect(problems.isEmpty, "seed \(seed): \(problems.prefix(10).joined(separator: "\n"))")
        #expect(log.count >= 1_000)
        // The checker can fail: a lost title write, a resurrected delete.
        let final = replicas[0].ledger
        func tampered(_ id: String, _ edit: (inout Bead) -> Void) throws -> Ledger {
            var beads = final.beads
            edit(&beads[id]!)
            return try Ledger(prefix: "t", beads: Array(beads.values), stamps: Array(final.stamps.values))
        }
        let edited = try #require(log.last { $0.op.change.isTitleUpdate }?.id)
        #expect(!ConvergenceChecker.check(log, final: try tampered(edited) { $0.title = "tampered" }).isEmpty)
        if let deleted = log.last(where: { $0.bead.status == .tombstone && final.beads[$0.id]?.status == .tombstone }) {
            #expect(!ConvergenceChecker.check(log, final: try tampered(deleted.id) { $0.status = .open }).isEmpty)
        }
    }
}

extension LedgerChange {
    var isTitleUpdate: Bool {
        if case .update(_, let fields) = self { return fields.contains { if case .title = $0 { true } else { false } } }
        return false
    }
}

/// The random writes of the convergence test: every kind of change, on beads the replica knows.
enum RandomWrites {
    enum Change: Sendable {
        case create(String)
        case change(@Sendable (Timestamp) -> LedgerChange)
    }

    static func change(rng: inout SplitMix64, ledger: Ledger, step: Int, replica: Int) -> Change {
        let ids = ledger.beads.keys.sorted()
        if ids.count < 5 || rng.next() % 10 == 0 { return .create("bead \(replica).\(step)") }
        let live = ids.filter { ledger.beads[$0]!.status != .tombstone }
        let pool = live.isEmpty ? ids : live
        let id = pool[Int(rng.next() % UInt64(pool.count))]
        let other = ids[Int(rng.next() % UInt64(ids.count))]
        let n = rng.next()
        let actor = "a\(replica)"
        switch rng.next() % 20 {
        case 0: return .change { _ in .update(id: id, fields: [.title("title \(replica).\(step)")]) }
        case 1: return .change { _ in .update(id: id, fields: [.description("desc \(n % 1000)")]) }
        case 2: return .change { _ in .update(id: id, fields: [.notes("notes \(step)"), .priority(Int(n % 5))]) }
        case 3: return .change { _ in .update(id: id, fields: [.issueType(n % 2 == 0 ? .bug : .feature)]) }
        case 4: return .change { _ in .update(id: id, fields: [.status(n % 2 == 0 ? .blocked : .deferred)]) }
        case 5: return .change { _ in .update(id: id, fields: [.assignee("who\(n % 3)")]) }
        case 6, 7: return .change { _ in .labels(id: id, add: ["l\(n % 4)"], remove: []) }
        case 8: return .change { _ in .labels(id: id, add: [], remove: ["l\(n % 4)"]) }
        case 9:
            return .change { time in
                .addComment(id: id, Comment(id: 0, issueID: id, author: actor, text: "c \(step)", createdAt: time))
            }
        case 10:
            return .change { time in
                .addDependency(
                    id: id,
                    Dependency(
                        issueID: id, dependsOnID: other, type: n % 2 == 0 ? .related : .blocks, createdAt: time,
                        createdBy: actor), allowCycles: true)
            }
        case 11:
            let key = ledger.beads[id]!.dependencies.first?.key ?? DependencyKey(dependsOnID: other, type: .related)
            return .change { _ in .removeDependency(id: id, key) }
        case 12, 13:
            return .change { _ in .claim(id: id, assignee: actor, node: "node\(replica)", expectedEpoch: nil) }
        case 14: return .change { _ in .release(id: id, assignee: actor) }
        case 15: return .change { _ in .close(id: id, reason: "done \(step)") }
        case 16: return .change { _ in .reopen(id: id) }
        case 17: return .change { _ in .delete(id: id, reason: "gone \(step)") }
        case 18:
            return .change { _ in .setMetadata(id: id, key: "k\(n % 3)", value: n % 4 == 0 ? nil : .string("v\(step)"))
            }
        default: return .change { _ in .update(id: id, fields: [.owner("owner\(n % 3)"), .design("d\(step)")]) }
        }
    }
}
