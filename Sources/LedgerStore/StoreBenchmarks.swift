import Foundation

/// Benchmarks of the durable store, run by `gt-bench` (never timed in tests).
///
/// A namespace; `Sendable` trivially.
public enum StoreBenchmarks {
    /// The outcome of `durableAppends`. `Sendable`: numbers.
    public struct DurableAppendsResult: Sendable, CustomStringConvertible {
        /// Concurrent writer tasks.
        public var writers: Int
        /// Records appended in all.
        public var appends: Int
        /// Group commits (fsyncs) they took.
        public var fsyncs: Int
        /// Wall time.
        public var seconds: Double
        /// Acknowledged appends per second.
        public var appendsPerSecond: Double { seconds > 0 ? Double(appends) / seconds : 0 }
        /// Average records per fsync.
        public var recordsPerFsync: Double { fsyncs > 0 ? Double(appends) / Double(fsyncs) : 0 }

        public var description: String {
            String(
                format: "durable appends: %d writers, %d appends in %.3f s = %.0f/s, %d fsyncs (%.1f records/fsync)",
                writers, appends, seconds, appendsPerSecond, fsyncs, recordsPerFsync)
        }
    }

    /// Opens a fresh store in a temporary directory, runs `writers` concurrent tasks that together append `count`
    /// records of `recordBytes` bytes (each awaited until durable), and reports throughput and fsyncs. The
    /// temporary directory is removed afterwards.
    public static func durableAppends(
        writers: Int = 8, count: Int = 4_000, recordBytes: Int = 200
    ) async throws -> DurableAppendsResult {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("gt-bench-store-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var settings = StoreSettings()
        settings.snapshotEveryRecords = 0
        let store = try await DurableStore<OpaqueRecordLog>.open(StoreLayout(directory: directory), settings: settings)
        let record = Data(repeating: 0x42, count: recordBytes)
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                let share = count / writers + (writer < count % writers ? 1 : 0)
                group.addTask {
                    for _ in 0..<share { _ = try await store.append(record) }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = clock.now - start
        let stats = store.statistics
        await store.closeAsync()
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return DurableAppendsResult(writers: writers, appends: stats.records, fsyncs: stats.fsyncs, seconds: seconds)
    }
}
