import Foundation

/// A durable, single-writer store of a `WALReplayable` state under `<dir>/.beads/`: every write is applied to the
/// state, appended to the write-ahead log and fsync'd (group commit) before it is acknowledged; snapshots bound
/// the replay at open. See docs/ledger-store.md.
///
/// Opening takes `.beads/LOCK` before anything is read and keeps it until `close()`: exclusive for the one writer,
/// shared for a reader (`StoreOpenMode.read`), which has no WAL thread, changes no file and refuses writes.
///
/// `@unchecked Sendable`: `state`, `storedAbsorbedCommit`, `recordsSinceSnapshot`, `isClosed` and `divergence` are
/// guarded by `lock`; the WAL writer (nil for a reader) is itself thread-safe. Writes hold `lock` while applying and
/// queueing, so the log order is the apply order; the durability wait happens outside it, which is what lets
/// concurrent writers share an fsync.
public final class DurableStore<State: WALReplayable>: @unchecked Sendable {
    /// Where the store lives.
    public let layout: StoreLayout
    /// The settings it was opened with.
    public let settings: StoreSettings
    /// What opening found and repaired.
    public let recovery: RecoveryReport
    /// Whether the state is a partial view decoded by the `readView` given to `openBlocking` (a reader only).
    public let isReadView: Bool

    private let lock = NSLock()
    private var state: State
    private var storedAbsorbedCommit: String?
    private var recordsSinceSnapshot = 0
    private var bytesSinceSnapshot = 0
    /// Size of the state in the newest snapshot (taken, or loaded at open): the byte trigger waits for at least
    /// this much log, so a big state is not re-serialized after every `snapshotEveryBytes` of small writes.
    private var lastSnapshotBytes = 0
    private var isClosed = false
    private var divergence: String?
    /// The WAL thread; nil when opened for reading.
    private let writer: WALWriter?
    private let storeLock: StoreLock

    private init(
        layout: StoreLayout, settings: StoreSettings, recovery: RecoveryReport, state: State,
        absorbedCommit: String?, writer: WALWriter?, storeLock: StoreLock, replayedBytes: Int, snapshotBytes: Int,
        isReadView: Bool = false
    ) {
        self.isReadView = isReadView
        self.layout = layout
        self.settings = settings
        self.recovery = recovery
        self.state = state
        self.storedAbsorbedCommit = absorbedCommit
        self.writer = writer
        self.storeLock = storeLock
        recordsSinceSnapshot = recovery.replayedRecords
        bytesSinceSnapshot = replayedBytes
        lastSnapshotBytes = snapshotBytes
    }

    /// Opens the store at `layout`: takes the lock (waiting up to `settings.lockWaitTimeout`), loads the newest
    /// usable snapshot and replays the WAL after it. A writer (`mode` `.write`, the default, or `.repair`) creates
    /// the store if needed and cuts a torn tail, keeping its bytes aside; a reader (`.read`) changes no file. See
    /// `StoreOpenMode` and `recovery` for what was found. Blocking: for synchronous programs (embedded `bd`); async
    /// callers use `open(_:settings:mode:holder:) async`.
    ///
    /// `readView` (honoured for `.read` only): a decoder of the newest snapshot's state into a partial state for one
    /// query (`TownLedgerState.init(readyView:)`), used when no record follows the snapshot (a partial state cannot
    /// replay records); when it returns nil, or records follow, the state is decoded in full. `isReadView` says
    /// which.
    public static func openBlocking(
        _ layout: StoreLayout, settings: StoreSettings = StoreSettings(), mode: StoreOpenMode = .write,
        holder: String = StoreLock.describeCurrentProcess(),
        readView: ((UnsafeRawBufferPointer) throws -> State?)? = nil
    ) throws(StoreError) -> DurableStore {
        if mode.writes { try FileIO.makeDirectory(layout.root) }
        let storeLock = try StoreLock.acquire(
            path: layout.lockFile, holder: holder, timeout: settings.lockWaitTimeout,
            pollInterval: settings.lockPollInterval, shared: !mode.writes)
        do {
            if mode.writes {
                try FileIO.makeDirectory(layout.walDirectory)
                try FileIO.makeDirectory(layout.snapshotDirectory)
            }
            var report = RecoveryReport()
            var state = State()
            var absorbed: String?
            var replayedBytes = 0
            var snapshotBytes = 0
            // With a read view, the snapshot's decoding waits until it is known whether records follow it.
            let viewDecoder = mode.writes ? nil : readView
            var deferredSnapshot: StoreSnapshot?
            var deferredRecords: [WALRecord] = []
            var isReadView = false
            func restoreFully(_ snapshot: StoreSnapshot) throws(StoreError) {
                do {
                    state = try snapshot.state.withUnsafeBytes { try State(snapshotBytes: $0) }
                } catch let error as NewerStateFormat {
                    throw .newerFormat(
                        path: layout.snapshotPath(coveredSequence: snapshot.coveredSequence), detail: error.detail)
                } catch {
                    throw .corruptSnapshot(
                        path: layout.snapshotPath(coveredSequence: snapshot.coveredSequence), reason: "\(error)")
                }
            }
            func apply(_ record: WALRecord) throws(StoreError) {
                replayedBytes += record.body.count
                do { try state.apply(record: Data(record.body)) } catch {
                    throw .replayFailed(sequence: record.sequence, reason: "\(error)")
                }
            }
            let recovered = try WALRecovery.recover(
                layout: layout, settings: settings, mode: mode, report: &report,
                restore: { (snapshot) throws(StoreError) in
                    guard let snapshot else { return }
                    absorbed = snapshot.absorbedCommit
                    snapshotBytes = snapshot.state.count
                    if viewDecoder != nil {
                        deferredSnapshot = snapshot
                    } else {
                        try restoreFully(snapshot)
                    }
                },
                replay: { (record) throws(StoreError) in
                    switch record.kind {
                    case .payload:
                        if deferredSnapshot != nil { deferredRecords.append(record) } else { try apply(record) }
                    case .absorbedCommit:
                        absorbed = String(decoding: record.body, as: UTF8.self)
                    }
                })
            if let snapshot = deferredSnapshot, let viewDecoder {
                func decodeView() throws(StoreError) -> State? {
                    do { return try snapshot.state.withUnsafeBytes { try viewDecoder($0) } } catch let error
                        as NewerStateFormat
                    {
                        throw .newerFormat(
                            path: layout.snapshotPath(coveredSequence: snapshot.coveredSequence), detail: error.detail)
                    } catch {
                        throw .corruptSnapshot(
                            path: layout.snapshotPath(coveredSequence: snapshot.coveredSequence), reason: "\(error)")
                    }
                }
                if deferredRecords.isEmpty, let view = try decodeView() {
                    state = view
                    isReadView = true
                } else {
                    try restoreFully(snapshot)
                    for record in deferredRecords { try apply(record) }
                }
            }
            var writer: WALWriter?
            if mode.writes {
                let target = try WALRecovery.openForAppend(recovered, layout: layout)
                writer = WALWriter(
                    layout: layout, settings: settings, target: target, nextSequence: recovered.nextSequence,
                    watermark: report.watermark)
                writer?.start()
            }
            let store = DurableStore(
                layout: layout, settings: settings, recovery: report, state: state, absorbedCommit: absorbed,
                writer: writer, storeLock: storeLock, replayedBytes: replayedBytes,
                snapshotBytes: snapshotBytes, isReadView: isReadView)
            store.snapshotIfExpensiveReplay()
            return store
        } catch {
            storeLock.release()
            throw error
        }
    }

    /// `openBlocking` run on a dedicated thread, so the lock wait and the loading never block the cooperative pool.
    public static func open(
        _ layout: StoreLayout, settings: StoreSettings = StoreSettings(), mode: StoreOpenMode = .write,
        holder: String = StoreLock.describeCurrentProcess()
    ) async throws(StoreError) -> DurableStore {
        let box = try await DedicatedThread.run(name: "gt-store-open") { () throws(StoreError) in
            UncheckedBox(try openBlocking(layout, settings: settings, mode: mode, holder: holder))
        }
        return box.value
    }

    /// Reads the state under the store's lock. Keep `body` short and free of blocking calls.
    public func read<R>(_ body: (State) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(state)
    }

    /// Reads the state together with the position of the last record applied to it (0 when none), consistently:
    /// an export made in `body` covers exactly the records up to that position.
    public func readWithPosition<R>(_ body: (State, WALPosition) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(state, WALPosition(sequence: nextSequence - 1))
    }

    /// The ledger commit the store has absorbed (set by the sync layer), if any.
    public var absorbedCommit: String? {
        lock.lock()
        defer { lock.unlock() }
        return storedAbsorbedCommit
    }

    /// Counters of the WAL (records, fsyncs, snapshots) since open (all zero for a reader).
    public var statistics: WALStatistics { writer?.statistics ?? WALStatistics() }

    /// The sequence number the next record will get.
    public var nextSequence: UInt64 { writer?.upcomingSequence ?? recovery.nextSequence }

    /// Whether this store takes writes (false when opened with `StoreOpenMode.read`).
    public var isWritable: Bool { writer != nil }

    /// Applies `record` to the state and returns once it is durable. Throws `.rejected` (state and log
    /// unchanged) when the state refuses it.
    public func append(_ record: Data) async throws(StoreError) -> WALPosition {
        try await queueRecord(record).wait()
    }

    /// `append` for synchronous programs: blocks the calling thread until the record is durable. Never call it
    /// from the cooperative pool.
    public func appendSync(_ record: Data) throws(StoreError) -> WALPosition {
        try queueRecord(record).waitBlocking()
    }

    /// Runs `change` on the state; it returns the record that replays exactly what it did, and a result. The
    /// record is logged and made durable before this returns. `change` must leave the state unchanged when it
    /// throws. Throws `change`'s own errors unchanged, or a `StoreError`.
    public func transact<R, E: Error>(
        _ change: (inout State) throws(E) -> (record: Data, result: R)
    ) async throws -> (result: R, position: WALPosition) {
        let (result, durable) = try applyAndQueue(change)
        let position = try await durable.wait()
        return (result, position)
    }

    /// `transact` for synchronous programs: blocks until the record is durable. Never call it from the pool.
    public func transactSync<R, E: Error>(
        _ change: (inout State) throws(E) -> (record: Data, result: R)
    ) throws -> (result: R, position: WALPosition) {
        let (result, durable) = try applyAndQueue(change)
        return (result, try durable.waitBlocking())
    }

    /// Records in the WAL that the store has absorbed ledger commit `commit`; durable when this returns.
    public func recordAbsorbedCommit(_ commit: String) async throws(StoreError) -> WALPosition {
        try await queueAbsorbedCommit(commit).wait()
    }

    /// `recordAbsorbedCommit` for synchronous programs. Never call it from the pool.
    public func recordAbsorbedCommitSync(_ commit: String) throws(StoreError) -> WALPosition {
        try queueAbsorbedCommit(commit).waitBlocking()
    }

    /// Writes a snapshot of the current state now, then compacts; returns the position it covers.
    public func snapshot() async throws(StoreError) -> WALPosition {
        let durable = Durability()
        try queueSnapshot(completion: durable.complete)
        return try await durable.wait()
    }

    /// Waits for queued work, stops the WAL thread and releases the lock. Blocking; idempotent.
    public func close() {
        lock.lock()
        let wasClosed = isClosed
        isClosed = true
        lock.unlock()
        guard !wasClosed else { return }
        writer?.close()
        storeLock.release()
    }

    /// `close()` run on a dedicated thread.
    public func closeAsync() async {
        let box = UncheckedBox(self)
        await DedicatedThread.run(name: "gt-store-close") { box.value.close() }
    }

    deinit {
        close()
        // Freeing a large state (hundreds of thousands of objects for a 10,000-bead ledger) takes milliseconds;
        // a short-lived process (`bd`) would spend them just before exiting. Hand the last reference to a
        // background thread instead: the caller goes on at once, and a process that exits meanwhile skips it.
        let doomed = UncheckedBox(state)
        state = State()
        let releaser = Thread { withExtendedLifetime(doomed) {} }
        releaser.name = "gt-store-release"
        releaser.start()
    }

    /// A store whose open replayed many bytes (written before byte-triggered snapshots existed, or cut off
    /// before its snapshot was written) snapshots once now, so the next open loads the snapshot instead.
    private func snapshotIfExpensiveReplay() {
        lock.lock()
        defer { lock.unlock() }
        if writer != nil && byteTriggerReached { try? queueSnapshotLocked(completion: nil) }
    }

    /// The log since the last snapshot reached `snapshotEveryBytes` and the size of that snapshot (replaying about
    /// as many bytes as a snapshot holds is when loading the snapshot becomes cheaper). Called under `lock`.
    private var byteTriggerReached: Bool {
        settings.snapshotEveryBytes > 0 && bytesSinceSnapshot >= max(settings.snapshotEveryBytes, lastSnapshotBytes)
    }

    /// The WAL thread, or `.readOnly` for a reader. Called under `lock`.
    private func activeWriter() throws(StoreError) -> WALWriter {
        guard let writer else { throw .readOnly }
        return writer
    }

    private func queueRecord(_ record: Data) throws(StoreError) -> Durability {
        let durable = Durability()
        lock.lock()
        defer { lock.unlock() }
        guard !isClosed else { throw .closed }
        _ = try activeWriter()
        if let divergence { throw .poisoned(reason: divergence) }
        guard record.count + WALFormat.payloadPrefix <= settings.maxRecordBytes else {
            throw .recordTooLarge(bytes: record.count, limit: settings.maxRecordBytes - WALFormat.payloadPrefix)
        }
        do { try state.apply(record: record) } catch { throw .rejected(reason: "\(error)") }
        try queueLocked(record, durable)
        return durable
    }

    private func queueAbsorbedCommit(_ commit: String) throws(StoreError) -> Durability {
        let durable = Durability()
        lock.lock()
        defer { lock.unlock() }
        guard !isClosed else { throw .closed }
        _ = try activeWriter().enqueue(kind: .absorbedCommit, body: Array(commit.utf8), completion: durable.complete)
        storedAbsorbedCommit = commit
        return durable
    }

    /// Queues an already applied record. On a queueing failure the state already holds a change the log does not,
    /// so the store refuses every later write (reopening rebuilds the state from the log).
    private func queueLocked(_ record: Data, _ durable: Durability) throws(StoreError) {
        let writer = try activeWriter()
        do {
            _ = try writer.enqueue(kind: .payload, body: [UInt8](record), completion: durable.complete)
        } catch {
            divergence = "a change was applied but could not be logged: \(error)"
            throw error
        }
        recordsSinceSnapshot += 1
        bytesSinceSnapshot += record.count
        if settings.snapshotEveryRecords > 0 && recordsSinceSnapshot >= settings.snapshotEveryRecords
            || byteTriggerReached
        {
            try? queueSnapshotLocked(completion: nil)
        }
    }

    private func applyAndQueue<R, E: Error>(
        _ change: (inout State) throws(E) -> (record: Data, result: R)
    ) throws -> (R, Durability) {
        let durable = Durability()
        lock.lock()
        defer { lock.unlock() }
        guard !isClosed else { throw StoreError.closed }
        if let divergence { throw StoreError.poisoned(reason: divergence) }
        _ = try activeWriter()
        let (record, result) = try change(&state)
        try queueLocked(record, durable)
        return (result, durable)
    }

    private func queueSnapshot(completion: WALWriter.Completion?) throws(StoreError) {
        lock.lock()
        defer { lock.unlock() }
        guard !isClosed else { throw .closed }
        try queueSnapshotLocked(completion: completion)
    }

    private func queueSnapshotLocked(completion: WALWriter.Completion?) throws(StoreError) {
        let writer = try activeWriter()
        let snapshot = StoreSnapshot(
            coveredSequence: writer.upcomingSequence - 1, absorbedCommit: storedAbsorbedCommit,
            state: [UInt8](state.snapshot()))
        try writer.enqueueSnapshot(snapshot, completion: completion)
        lastSnapshotBytes = snapshot.state.count
        recordsSinceSnapshot = 0
        bytesSinceSnapshot = 0
    }
}

/// Carries a value across a concurrency boundary the compiler cannot check. Used only for values that are
/// themselves thread-safe (`DurableStore` is `@unchecked Sendable`).
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// One write's acknowledgement: completed once by the WAL thread, awaited by an async caller or waited on by a
/// blocking one.
///
/// `@unchecked Sendable`: `result` and `continuation` are guarded by `condition`.
final class Durability: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<WALPosition, StoreError>?
    private var continuation: CheckedContinuation<Result<WALPosition, StoreError>, Never>?

    var complete: WALWriter.Completion { { [self] in finish($0) } }

    private func finish(_ outcome: Result<WALPosition, StoreError>) {
        condition.lock()
        result = outcome
        let waiting = continuation
        continuation = nil
        condition.broadcast()
        condition.unlock()
        waiting?.resume(returning: outcome)
    }

    func wait() async throws(StoreError) -> WALPosition {
        let outcome: Result<WALPosition, StoreError> = await withCheckedContinuation { continuation in
            condition.lock()
            if let result {
                condition.unlock()
                continuation.resume(returning: result)
            } else {
                self.continuation = continuation
                condition.unlock()
            }
        }
        return try outcome.get()
    }

    func waitBlocking() throws(StoreError) -> WALPosition {
        condition.lock()
        while result == nil { condition.wait() }
        let outcome = result!
        condition.unlock()
        return try outcome.get()
    }
}
