/// Every interval and limit of the durable ledger store, with its default.
///
/// A plain value: `Sendable` because it holds only numbers and durations.
public struct StoreSettings: Sendable, Equatable {
    /// How long `open` waits for another writer to release `.beads/LOCK` before failing with
    /// `StoreError.locked`. Zero fails at once. Default 3 s (long enough for a node that is starting).
    public var lockWaitTimeout: Duration = .seconds(3)

    /// How often a waiting `open` retries the lock. Default 25 ms.
    public var lockPollInterval: Duration = .milliseconds(25)

    /// A WAL segment is closed and a new one started once it holds at least this many bytes.
    /// Default 64 MiB.
    public var segmentBytes: Int = 64 << 20

    /// A snapshot of the state is written after this many log records since the previous one; compaction then
    /// drops the segments it covers. Zero never snapshots automatically. Default 10,000 records.
    public var snapshotEveryRecords: Int = 10_000

    /// How many snapshots are kept (at least 1). With 2, a damaged newest snapshot falls back to the one before,
    /// because segments are only dropped once the oldest kept snapshot covers them. Default 2.
    public var snapshotsKept: Int = 2

    /// The largest record payload accepted by `append` and by the decoder. Default 16 MiB.
    public var maxRecordBytes: Int = 16 << 20

    /// The most bytes of records one group commit writes before its fsync; later records go in the next batch.
    /// Default 8 MiB.
    public var maxBatchBytes: Int = 8 << 20

    /// Settings with every default.
    public init() {}
}
