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

    /// A snapshot is also written once the records logged since the previous one (or replayed at open) add up to
    /// this many bytes and to at least the size of the previous snapshot, so one big record (an import of
    /// thousands of beads) is loaded from a snapshot by the next open instead of being decoded and re-applied every
    /// time, while a big state is not re-serialized after every megabyte of small writes. Zero disables it.
    /// Default 1 MiB.
    public var snapshotEveryBytes: Int = 1 << 20

    /// How many snapshots are kept (at least 1). With 2, a damaged newest snapshot falls back to the one before,
    /// because segments are only dropped once the oldest kept snapshot covers them. Default 2.
    public var snapshotsKept: Int = 2

    /// The largest record payload accepted by `append` and by the decoder. Default 16 MiB.
    public var maxRecordBytes: Int = 16 << 20

    /// The most bytes of records one group commit writes before its fsync; later records go in the next batch.
    /// Default 8 MiB.
    public var maxBatchBytes: Int = 8 << 20

    /// Group commit: when the WAL thread wakes with fewer records queued than its previous batch held (other
    /// writers were active and are likely about to queue again), it waits up to this long for them before its
    /// `fdatasync`, so concurrent writers share one. Never delays a lone writer (previous batch of one) and never
    /// acknowledges before the fsync. Zero disables the wait. Default 300 µs (about a third of an fsync here).
    public var groupCommitWindow: Duration = .microseconds(300)

    /// Settings with every default.
    public init() {}
}
