import Beads
import Foundation
import Git
import LedgerStore

/// What `SyncBenchmarks.partitionedUpdates` measured. `Sendable`: plain value.
public struct SyncConvergenceResult: Sendable, CustomStringConvertible {
    public var replicas: Int
    public var updates: Int
    /// Sync interval of every replica's loop.
    public var intervalMillis: Int
    /// From the last acknowledged write (partitions healed at that moment) to all replicas' JSONL identical.
    public var convergenceMillis: Double
    /// Commits on the remote branch created during the run.
    public var commits: Int
    /// Remote `objects/` size per 1,000 updates, before and after `repack()`.
    public var remoteBytesPer1000Before: Int
    public var remoteBytesPer1000After: Int
    /// Whether all replicas ended byte-identical (and equal to the remote).
    public var identical: Bool

    public var description: String {
        "\(replicas) replicas × \(updates) updates, interval \(intervalMillis) ms: converged \(identical) in "
            + String(format: "%.0f", convergenceMillis) + " ms after heal; \(commits) commits; remote "
            + "\(remoteBytesPer1000Before / 1024) KiB per 1,000 updates before repack, "
            + "\(remoteBytesPer1000After / 1024) KiB after"
    }
}

/// What `SyncBenchmarks.smallChangeInLargeScope` measured. `Sendable`: plain value.
public struct SyncLargeScopeResult: Sendable, CustomStringConvertible {
    public var beads: Int
    public var changed: Int
    /// Median milliseconds of a sync that pushes the changed beads (writer side).
    public var pushMillis: Double
    /// Median milliseconds of a sync that pulls and merges them (reader side: only changed lines parsed).
    public var pullMillis: Double
    /// The first sync of the scope (everything encoded and pushed), and the first clone (everything parsed).
    public var initialPushMillis: Double
    public var initialCloneMillis: Double

    public var description: String {
        "\(beads)-bead scope, \(changed) changed: push sync " + String(format: "%.1f", pushMillis) + " ms, pull sync "
            + String(format: "%.1f", pullMillis) + " ms (initial push " + String(format: "%.0f", initialPushMillis)
            + " ms, initial clone " + String(format: "%.0f", initialCloneMillis) + " ms)"
    }
}

/// Benchmarks of ledger sync for `gt-bench` (DESIGN §3, issue 6). Real stores and bare repositories in temporary
/// directories. A namespace; `Sendable` trivially.
public enum SyncBenchmarks {
    /// A replica: store, database, engine.
    final class Replica: @unchecked Sendable {
        let dir: TempDir
        let layout: StoreLayout
        let db: LedgerDatabase
        let engine: LedgerSync
        init(remote: String, prefix: String, settings: SyncSettings) throws {
            dir = try TempDir(prefix: "gt-bench-sync")
            layout = StoreLayout(directory: dir.path)
            db = try LedgerDatabase.initialize(layout, prefix: prefix)
            engine = LedgerSync(layout: layout, settings: settings)
            try SyncConfig.add(SyncRemote(name: "origin", url: remote), to: layout)
        }
        func write(_ change: @escaping @Sendable (Ledger, WriteClock) -> LedgerChange?) async {
            let db = self.db
            await DedicatedThread.run {
                _ = try? db.write(scope: nil, routing: nil) { ledger, clock throws(LedgerError) in
                    guard let c = change(ledger, clock) else { throw .invalidOp("nothing to do") }
                    return LedgerOp(actor: "bench", stamp: clock.stamp, time: clock.time, change: c)
                }
            }
        }
        var export: String { db.read { $0.scopes.values.map { $0.exportJSONL() + $0.exportStampsJSONL() }.joined() } }
    }

    /// Shared flags of the partitioned run. `@unchecked Sendable`: guarded by `lock`.
    final class Partitions: @unchecked Sendable {
        private let lock = NSLock()
        private var cut: Set<Int> = []
        func set(_ i: Int, _ isCut: Bool) {
            lock.lock()
            if isCut { cut.insert(i) } else { cut.remove(i) }
            lock.unlock()
        }
        func isCut(_ i: Int) -> Bool {
            lock.lock()
            defer { lock.unlock() }
            return cut.contains(i)
        }
        func heal() {
            lock.lock()
            cut.removeAll()
            lock.unlock()
        }
    }

    /// 3 replicas each running the sync loop (`interval`, default 1 s) and telling the others "scope S at commit X"
    /// after each push (coalesced fetches), `updates` concurrent updates spread over them while random replicas are
    /// cut off; then heal and time until every replica's JSONL is identical. Also counts commits and measures the
    /// remote's size per 1,000 updates before and after a repack.
    public static func partitionedUpdates(
        replicas count: Int = 3, updates: Int = 1_000, interval: Duration = .seconds(1), seed: UInt64 = 7
    ) async throws -> SyncConvergenceResult {
        let remoteDir = try TempDir(prefix: "gt-bench-remote")
        let remotePath = remoteDir.path + "/remote.git"
        let remoteRepo = try await GitRepository.create(at: remotePath, bare: true)
        var settings = SyncSettings()
        settings.pathInterval = interval
        let replicas = try (0..<count).map { _ in try Replica(remote: remotePath, prefix: "bn", settings: settings) }
        defer { for r in replicas { r.db.close() } }
        // Seed 100 beads through the first replica and let everyone clone them.
        for i in 0..<100 {
            await replicas[0].write { ledger, clock in
                let spec = NewBead(title: "seed \(i)")
                return (try? ledger.prepareCreate(spec, actor: "bench", stamp: clock.stamp, time: clock.time)).map(
                    \.change)
            }
        }
        for r in replicas { _ = try await r.engine.sync(r.db) }
        let startCommits = try await remoteRepo.commitCount("refs/heads/ledger/bn")
        let startBytes = try await remoteRepo.repack().bytesAfter
        let partitions = Partitions()
        for (i, r) in replicas.enumerated() {
            let peers = replicas.enumerated().filter { $0.offset != i }
            await r.engine.setPushHook { scope, commit in
                for (j, peer) in peers where !partitions.isCut(j) {
                    Task { await peer.engine.receiveNotice(scope: scope, commit: commit, database: peer.db) }
                }
            }
        }
        let loops = replicas.enumerated().map { i, r in
            Task {
                await r.engine.watch(interval: interval) { () throws(SyncError) in
                    if partitions.isCut(i) { throw .noRemote("partitioned") }
                    return (r.db, false)
                } onSync: { _ in
                }
            }
        }
        // Writers: one task per replica, updates spread evenly, random partitions toggled as they go.
        var rng = SplitMix64(seed: seed)
        let plans: [[UInt64]] = (0..<count).map { _ in (0..<(updates / count)).map { _ in rng.next() } }
        await withTaskGroup(of: Void.self) { group in
            for (i, r) in replicas.enumerated() {
                let plan = plans[i]
                group.addTask {
                    for (k, roll) in plan.enumerated() {
                        if roll % 97 == 0 { partitions.set(i, !partitions.isCut(i)) }
                        await r.write { ledger, _ in
                            let ids = ledger.beads.keys.sorted()
                            let id = ids[Int(roll % UInt64(ids.count))]
                            switch roll % 4 {
                            case 0: return .update(id: id, fields: [.title("t\(i).\(k)")])
                            case 1: return .update(id: id, fields: [.priority(Int(roll % 5))])
                            case 2: return .labels(id: id, add: ["l\(roll % 5)"], remove: ["l\((roll / 5) % 5)"])
                            default: return .update(id: id, fields: [.notes("n\(i).\(k)")])
                            }
                        }
                    }
                }
            }
        }
        partitions.heal()
        let healed = ContinuousClock.now
        var identical = false
        while ContinuousClock.now - healed < .seconds(60) {
            let exports = replicas.map(\.export)
            if Set(exports).count == 1 {
                identical = true
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let converged = ContinuousClock.now - healed
        for loop in loops { loop.cancel() }
        for loop in loops { await loop.value }
        for r in replicas { await r.engine.cancelNotices() }
        let commits = try await remoteRepo.commitCount("refs/heads/ledger/bn") - startCommits
        let repack = try await remoteRepo.repack()
        let per1000 = { (bytes: Int) in (bytes - startBytes) * 1_000 / max(updates, 1) }
        return SyncConvergenceResult(
            replicas: count, updates: updates,
            intervalMillis: Int(interval.components.seconds * 1_000)
                + Int(interval.components.attoseconds / 1_000_000_000_000_000),
            convergenceMillis: milliseconds(converged), commits: commits,
            remoteBytesPer1000Before: per1000(repack.bytesBefore), remoteBytesPer1000After: per1000(repack.bytesAfter),
            identical: identical)
    }

    /// A `beads`-bead scope (shaped like beads' own ledger) synced between two replicas; then `rounds` times:
    /// `changed` beads updated on one, timed sync there (push) and on the other (pull, parsing only changed lines).
    public static func smallChangeInLargeScope(
        beads: Int = 10_000, changed: Int = 10, rounds: Int = 5
    ) async throws -> SyncLargeScopeResult {
        let remoteDir = try TempDir(prefix: "gt-bench-remote")
        let remotePath = remoteDir.path + "/remote.git"
        _ = try await GitRepository.create(at: remotePath, bare: true)
        let writer = try Replica(remote: remotePath, prefix: "bd", settings: SyncSettings())
        let reader = try Replica(remote: remotePath, prefix: "bd", settings: SyncSettings())
        defer {
            writer.db.close()
            reader.db.close()
        }
        let fixture = BeadsFixtures.ledger(count: beads, seed: 42, prefix: "bd").sortedBeads
        await writer.write { _, _ in .importBeads(fixture) }
        var clock = ContinuousClock.now
        _ = try await writer.engine.sync(writer.db)
        let initialPush = milliseconds(ContinuousClock.now - clock)
        clock = ContinuousClock.now
        _ = try await reader.engine.sync(reader.db)
        let initialClone = milliseconds(ContinuousClock.now - clock)
        var push: [Double] = []
        var pull: [Double] = []
        let ids = fixture.filter { $0.status != .tombstone }.map(\.id)
        for round in 0..<rounds {
            for k in 0..<changed {
                let id = ids[(round * changed + k) * 7 % ids.count]
                await writer.write { _, _ in .update(id: id, fields: [.notes("round \(round) change \(k)")]) }
            }
            clock = ContinuousClock.now
            _ = try await writer.engine.sync(writer.db)
            push.append(milliseconds(ContinuousClock.now - clock))
            clock = ContinuousClock.now
            _ = try await reader.engine.sync(reader.db)
            pull.append(milliseconds(ContinuousClock.now - clock))
        }
        return SyncLargeScopeResult(
            beads: beads, changed: changed, pushMillis: median(push), pullMillis: median(pull),
            initialPushMillis: initialPush, initialCloneMillis: initialClone)
    }

    static func milliseconds(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1_000 + Double(d.components.attoseconds) / 1e15
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }
}
