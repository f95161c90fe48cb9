import Beads
import Foundation
import LedgerStore

/// Benchmarks of the town ledger store (`LedgerDatabase`), run by `gt-bench`, never timed in tests.
///
/// A namespace; `Sendable` trivially.
public enum LedgerBenchmarks {
    /// The outcome of a store benchmark. `Sendable`: numbers and a string.
    public struct Result: Sendable, CustomStringConvertible {
        public var name: String
        /// Operations done (creates, or lines imported).
        public var operations: Int
        public var seconds: Double
        /// fsyncs (group commits) the WAL did.
        public var fsyncs: Int
        public var perSecond: Double { seconds > 0 ? Double(operations) / seconds : 0 }

        public var description: String {
            String(format: "%@: %d in %.3f s = %.0f/s (%d fsyncs)", name, operations, seconds, perSecond, fsyncs)
        }
    }

    /// Durable `bd create`s per second from `writers` concurrent threads in one process, with group commit: each
    /// create mints an ID against the current ledger, is logged, and returns once fsync'd. Uses a fresh store in a
    /// temporary directory, removed afterwards.
    public static func durableCreates(writers: Int = 8, count: Int = 2_000) throws -> Result {
        let directory = try temporaryDirectory("gt-bench-creates")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let db = try LedgerDatabase.initialize(StoreLayout(directory: directory), prefix: "bd")
        defer { db.close() }
        let failures = ErrorBox()
        let clock = ContinuousClock()
        let start = clock.now
        let group = DispatchGroup()
        for writer in 0..<writers {
            let share = count / writers + (writer < count % writers ? 1 : 0)
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                for i in 0..<share {
                    do {
                        _ = try db.write(scope: nil, routing: nil) { (ledger, clock) throws(LedgerError) -> LedgerOp in
                            try ledger.prepareCreate(
                                NewBead(title: "bench \(writer)-\(i)"), actor: "bench", stamp: clock.stamp,
                                time: clock.time)
                        }
                    } catch {
                        failures.record(error)
                        return
                    }
                }
            }
            thread.start()
        }
        group.wait()
        if let error = failures.first { throw error }
        return Result(
            name: "durable creates (\(writers) writers)", operations: count, seconds: seconds(clock.now - start),
            fsyncs: db.statistics.fsyncs)
    }

    /// Imports a generated 10,000-bead JSONL (`BeadsFixtures.ledger`, shaped like beads' own) into a fresh store,
    /// as `bd import` does (decode, route, check, one durable record); reports lines per second.
    public static func import10k(count: Int = 10_000) throws -> Result {
        let text = BeadsFixtures.ledger(count: count).exportJSONL()
        let directory = try temporaryDirectory("gt-bench-import")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let db = try LedgerDatabase.initialize(StoreLayout(directory: directory), prefix: "bd")
        defer { db.close() }
        let clock = ContinuousClock()
        let start = clock.now
        let beads = try BeadCodec.decodeJSONL(text)
        _ = try db.write(scope: "bd", routing: nil) { (_, clock) throws(LedgerError) -> LedgerOp in
            LedgerOp(actor: "bench", stamp: clock.stamp, time: clock.time, change: .importBeads(beads))
        }
        return Result(
            name: "import \(count) lines", operations: beads.count, seconds: seconds(clock.now - start),
            fsyncs: db.statistics.fsyncs)
    }

    /// Prepares a store in `directory` (which must exist and hold no `.beads`) holding a generated `count`-bead
    /// ledger, so `gt-bench` can time `bd -C <directory> ready --json` as a whole process
    /// (`ProcessBenchmarks.meanMilliseconds(.bd, ["-C", directory, "ready", "--json"])`). The caller removes
    /// `directory`. Blocking.
    public static func prepareReadyStore(in directory: String, count: Int = 10_000) throws {
        let db = try LedgerDatabase.initialize(StoreLayout(directory: directory), prefix: "bd")
        defer { db.close() }
        let beads = BeadsFixtures.ledger(count: count).sortedBeads
        _ = try db.write(scope: "bd", routing: nil) { (_, clock) throws(LedgerError) -> LedgerOp in
            LedgerOp(actor: "bench", stamp: clock.stamp, time: clock.time, change: .importBeads(beads))
        }
    }

    /// Times `bd -C <dir> ready --json` on a prepared 10K store as a whole process; mean milliseconds over `runs`.
    public static func readyProcess10k(runs: Int = 10) async throws -> Double {
        let directory = try temporaryDirectory("gt-bench-ready")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await DedicatedThread.run { () throws in try prepareReadyStore(in: directory) }
        return try await ProcessBenchmarks.meanMilliseconds(.bd, ["-C", directory, "ready", "--json"], runs: runs)
    }

    /// `bd ready --json` on a 10,000-bead town ledger as a whole process, through the town's running node and
    /// embedded (no node), side by side on the same town (`gt install`, 10,000 generated beads imported into its
    /// `hq` scope, `gt up` on a free loopback port, then `gt down`). Returns the per-run milliseconds of each.
    public static func readyProcessNodeVersusEmbedded10k(
        runs: Int = 20
    ) async throws -> (
        node: [Double], embedded: [Double]
    ) {
        let result = try await readyProcessNodeVersusEmbedded(count: 10_000, runs: runs)
        return (result.node, result.embedded)
    }

    /// `readyProcessNodeVersusEmbedded10k` with `count` beads in the `hq` scope; also the node's resident memory
    /// (VmRSS, MiB) holding them, read after the timed runs.
    public static func readyProcessNodeVersusEmbedded(
        count: Int, runs: Int = 20
    ) async throws -> (node: [Double], embedded: [Double], nodeRSSMiB: Double) {
        let directory = try temporaryDirectory("gt-bench-ready-node")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let town = directory + "/town"
        let install = try await BuiltBinaries.run(.gt, ["install", town], cwd: directory)
        precondition(install.status == 0, "gt install failed: \(install)")
        try await DedicatedThread.run { () throws in
            let db = try LedgerDatabase.open(StoreLayout(beadsDirectory: town + "/.beads"))
            defer { db.close() }
            let beads = BeadsFixtures.ledger(count: count, prefix: "hq").sortedBeads
            _ = try db.write(scope: "hq", routing: nil) { (_, clock) throws(LedgerError) -> LedgerOp in
                LedgerOp(actor: "bench", stamp: clock.stamp, time: clock.time, change: .importBeads(beads))
            }
        }
        let arguments = ["-C", town, "ready", "--json"]
        let embedded = try await ProcessBenchmarks.runMilliseconds(.bd, arguments, runs: runs, cwd: town)
        let up = try await BuiltBinaries.run(.gt, ["up", "--listen", "127.0.0.1:0"], cwd: town)
        precondition(up.status == 0, "gt up failed: \(up)")
        let node: [Double]
        var rss = 0.0
        do {
            _ = try await ProcessBenchmarks.runMilliseconds(.bd, arguments, runs: 2, cwd: town)
            node = try await ProcessBenchmarks.runMilliseconds(.bd, arguments, runs: runs, cwd: town)
            if let text = try? String(contentsOfFile: town + "/.gt/node.pid", encoding: .utf8),
                let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                rss = TownBenchmarks.rssMiB(pid)
            }
        } catch {
            _ = try? await BuiltBinaries.run(.gt, ["down"], cwd: town)
            throw error
        }
        _ = try await BuiltBinaries.run(.gt, ["down"], cwd: town)
        return (node, embedded, rss)
    }

    /// Durable creates per second from `clients` concurrent client processes, each running `bd -C <town> create`
    /// `each` times one after another, against one `gt install`ed town: through its running node (`gt up`), and
    /// embedded (no node, every process takes the store's lock in turn). Every printed ID is then looked up in
    /// `bd list --all --limit 0 --json`; a missing one throws (an acknowledged write lost).
    public static func createsFromClientProcesses(
        clients: Int = 8, each: Int = 25
    ) async throws -> (throughNode: Double, embedded: Double) {
        let directory = try temporaryDirectory("gt-bench-creates-node")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let town = directory + "/town"
        let install = try await BuiltBinaries.run(.gt, ["install", town], cwd: directory)
        precondition(install.status == 0, "gt install failed: \(install)")
        func round(_ tag: String) async throws -> Double {
            let clock = ContinuousClock()
            let start = clock.now
            let ids = try await withThrowingTaskGroup(of: [String].self) { group in
                for client in 0..<clients {
                    group.addTask {
                        var ids: [String] = []
                        for i in 0..<each {
                            let out = try await BuiltBinaries.run(
                                .bd, ["-C", town, "create", "\(tag) \(client)-\(i)", "--silent"], cwd: town)
                            guard out.status == 0 else { throw TownBenchmarks.BenchmarkFailure(message: "bd create failed: \(out)") }
                            ids.append(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
                        }
                        return ids
                    }
                }
                var all: [String] = []
                for try await part in group { all += part }
                return all
            }
            let elapsed = seconds(clock.now - start)
            let list = try await BuiltBinaries.run(.bd, ["-C", town, "list", "--all", "--limit", "0", "--json"], cwd: town)
            let missing = ids.filter { !list.stdout.contains("\"\($0)\"") }
            guard list.status == 0, missing.isEmpty else {
                throw TownBenchmarks.BenchmarkFailure(message: "\(missing.count) acknowledged creates missing (\(missing.prefix(3))): \(list.status)")
            }
            return Double(ids.count) / elapsed
        }
        let embedded = try await round("embedded")
        let up = try await BuiltBinaries.run(.gt, ["up", "--listen", "127.0.0.1:0"], cwd: town)
        precondition(up.status == 0, "gt up failed: \(up)")
        do {
            let node = try await round("node")
            _ = try await BuiltBinaries.run(.gt, ["down"], cwd: town)
            return (node, embedded)
        } catch {
            _ = try? await BuiltBinaries.run(.gt, ["down"], cwd: town)
            throw error
        }
    }

    static func temporaryDirectory(_ prefix: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// The first error of several threads. `@unchecked Sendable`: guarded by `lock`.
final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: (any Error)?
    func record(_ error: any Error) {
        lock.lock()
        if stored == nil { stored = error }
        lock.unlock()
    }
    var first: (any Error)? {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }
}
