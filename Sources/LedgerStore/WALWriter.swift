import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Counters of the WAL since the store was opened. `Sendable`: numbers.
public struct WALStatistics: Sendable, Equatable {
    /// Records made durable.
    public var records: Int = 0
    /// Group commits (one write and one fdatasync each).
    public var fsyncs: Int = 0
    /// Bytes written to segments.
    public var bytes: Int = 0
    /// Snapshots written.
    public var snapshots: Int = 0
    /// Segments deleted by compaction.
    public var segmentsCompacted: Int = 0
    /// The last snapshot failure, if the last attempt failed (the log itself is unaffected).
    public var lastSnapshotError: StoreError?
}

/// The append side of the WAL: a dedicated thread that batches queued records into group commits (one write, one
/// `fdatasync`, then every caller in the batch is acknowledged), writes snapshots and compacts segments, and keeps
/// the watermark (`WALWatermark`) up to date after each snapshot and at a clean close.
///
/// `@unchecked Sendable`: `pending`, `nextSequence`, `failure`, `closing` and `stats` are guarded by `condition`;
/// the descriptor, segment list and active length belong to the writer thread alone after `start()`.
final class WALWriter: @unchecked Sendable {
    typealias Completion = @Sendable (Result<WALPosition, StoreError>) -> Void

    private enum Job {
        case record(sequence: UInt64, bytes: [UInt8], completion: Completion?)
        case snapshot(StoreSnapshot, completion: Completion?)
    }

    let layout: StoreLayout
    let settings: StoreSettings
    private let condition = NSCondition()
    private var pending: [Job] = []
    private var nextSequence: UInt64
    private var failure: StoreError?
    private var closing = false
    private var finished = false
    private var stats = WALStatistics()
    /// Records in the previous group commit: the writers likely to queue again soon (group commit window).
    private var previousBatchRecords = 0

    private var fd: Int32
    private var segments: [UInt64]
    private var activeLength: Int
    /// Every record before this one is durable (writer thread only).
    private var durableNext: UInt64
    /// The watermark last written (or found at open): not rewritten when nothing changed (writer thread only).
    private var watermark: WALWatermark?

    init(
        layout: StoreLayout, settings: StoreSettings, target: AppendTarget, nextSequence: UInt64,
        watermark: WALWatermark?
    ) {
        self.layout = layout
        self.settings = settings
        self.nextSequence = nextSequence
        durableNext = nextSequence
        fd = target.descriptor
        segments = target.segments
        activeLength = target.length
        self.watermark = watermark
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "gt-wal-writer"
        thread.start()
    }

    var statistics: WALStatistics {
        condition.lock()
        defer { condition.unlock() }
        return stats
    }

    /// The sequence number the next record will get.
    var upcomingSequence: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return nextSequence
    }

    /// Queues one record and returns its sequence number; `completion` runs on the writer thread once it is
    /// durable (or failed). Callers that must keep records in their own order call this under their own lock.
    func enqueue(kind: WALRecordKind, body: [UInt8], completion: Completion?) throws(StoreError) -> UInt64 {
        guard body.count + WALFormat.payloadPrefix <= settings.maxRecordBytes else {
            throw .recordTooLarge(bytes: body.count, limit: settings.maxRecordBytes - WALFormat.payloadPrefix)
        }
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw .poisoned(reason: failure.description) }
        if closing { throw .closed }
        let sequence = nextSequence
        nextSequence += 1
        var bytes: [UInt8] = []
        WALFormat.encode(WALRecord(kind: kind, sequence: sequence, body: body), into: &bytes)
        pending.append(.record(sequence: sequence, bytes: bytes, completion: completion))
        condition.signal()
        return sequence
    }

    /// Queues a snapshot; it is written after every record queued before it is durable.
    func enqueueSnapshot(_ snapshot: StoreSnapshot, completion: Completion?) throws(StoreError) {
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw .poisoned(reason: failure.description) }
        if closing { throw .closed }
        pending.append(.snapshot(snapshot, completion: completion))
        condition.signal()
    }

    /// Stops accepting work, waits until everything queued is written, and closes the segment. Blocking.
    func close() {
        condition.lock()
        closing = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while pending.isEmpty && !closing { condition.wait() }
            waitForCompanions()
            if pending.isEmpty {
                let clean = failure == nil
                condition.unlock()
                // A clean close: nothing is being written, so every record before `durableNext` is on disk.
                if clean { updateWatermark() }
                condition.lock()
                Glibc.close(fd)
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let jobs = pending
            pending = []
            let poisoned = failure
            condition.unlock()
            if let poisoned {
                fail(jobs[...], with: .poisoned(reason: poisoned.description))
            } else {
                process(jobs)
            }
        }
    }

    /// Group commit: while fewer records are queued than the previous batch held, waits (up to
    /// `settings.groupCommitWindow`) for the writers just acknowledged to queue their next records, so they share
    /// this fsync. A lone writer (previous batch of one) never waits. Called with `condition` locked.
    private func waitForCompanions() {
        guard settings.groupCommitWindow > .zero, !closing, previousBatchRecords > 1 else { return }
        let window = settings.groupCommitWindow.components
        let deadline = Date(
            timeIntervalSinceNow: Double(window.seconds) + Double(window.attoseconds) / 1e18)
        while !closing && queuedRecords < previousBatchRecords {
            guard condition.wait(until: deadline) else { break }
        }
    }

    /// Records (not snapshots) queued. Called with `condition` locked.
    private var queuedRecords: Int {
        var count = 0
        for job in pending {
            if case .record = job { count += 1 } else { return Int.max }
        }
        return count
    }

    private func process(_ jobs: [Job]) {
        var batch: [UInt8] = []
        var acknowledgements: [(UInt64, Completion?)] = []
        var index = 0
        func flush() -> Bool {
            guard !acknowledgements.isEmpty else { return true }
            do {
                try commit(batch, firstSequence: acknowledgements[0].0)
            } catch {
                condition.lock()
                failure = error
                condition.unlock()
                for (_, completion) in acknowledgements { completion?(.failure(error)) }
                fail(jobs[index...], with: .poisoned(reason: error.description))
                return false
            }
            durableNext = acknowledgements[acknowledgements.count - 1].0 + 1
            condition.lock()
            previousBatchRecords = acknowledgements.count
            stats.records += acknowledgements.count
            stats.fsyncs += 1
            stats.bytes += batch.count
            condition.unlock()
            for (sequence, completion) in acknowledgements { completion?(.success(WALPosition(sequence: sequence))) }
            batch.removeAll(keepingCapacity: true)
            acknowledgements.removeAll(keepingCapacity: true)
            return true
        }
        while index < jobs.count {
            switch jobs[index] {
            case .record(let sequence, let bytes, let completion):
                if !batch.isEmpty && batch.count + bytes.count > settings.maxBatchBytes {
                    guard flush() else { return }
                }
                batch += bytes
                acknowledgements.append((sequence, completion))
                index += 1
            case .snapshot(let snapshot, let completion):
                guard flush() else { return }
                index += 1
                let result = writeSnapshot(snapshot)
                completion?(result.map { WALPosition(sequence: snapshot.coveredSequence) })
            }
        }
        _ = flush()
    }

    private func fail(_ jobs: ArraySlice<Job>, with error: StoreError) {
        for job in jobs {
            switch job {
            case .record(_, _, let completion): completion?(.failure(error))
            case .snapshot(_, let completion): completion?(.failure(error))
            }
        }
    }

    private func commit(_ batch: [UInt8], firstSequence: UInt64) throws(StoreError) {
        if activeLength >= settings.segmentBytes && activeLength > WALFormat.headerSize {
            try startSegment(firstSequence: firstSequence)
        }
        let path = layout.segmentPath(firstSequence: segments.last ?? 0)
        try FileIO.writeAll(fd, batch, at: activeLength, path: path)
        activeLength += batch.count
        try FileIO.fsync(fd, path: path, dataOnly: true)
    }

    private func startSegment(firstSequence: UInt64) throws(StoreError) {
        let path = layout.segmentPath(firstSequence: firstSequence)
        let newFD = try FileIO.open(path, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)
        do {
            try FileIO.writeAll(newFD, WALFormat.header(firstSequence: firstSequence), at: 0, path: path)
            try FileIO.fsync(newFD, path: path)
            try FileIO.fsyncDirectory(layout.walDirectory)
        } catch {
            Glibc.close(newFD)
            throw error
        }
        Glibc.close(fd)
        fd = newFD
        segments.append(firstSequence)
        activeLength = WALFormat.headerSize
    }

    /// Writes and confirms the snapshot, prunes old snapshots, and drops every closed segment the oldest kept
    /// snapshot covers, once at least two are kept (`SnapshotFiles.prune`): one damaged snapshot always has an older
    /// one to fall back to, with the segments to replay after it. Cut files (`wal/*.cut-*`) are never touched.
    private func writeSnapshot(_ snapshot: StoreSnapshot) -> Result<Void, StoreError> {
        do {
            try SnapshotFiles.write(snapshot, layout)
            // A big active segment that the snapshot covers entirely is closed now, so compaction can drop it and
            // the next open does not scan (and checksum) megabytes of records it will not replay. Every record up to
            // the covered sequence is written (the snapshot was queued behind them) and none after it yet (this
            // thread writes in queue order), so the new segment starts right after the covered sequence.
            if settings.snapshotEveryBytes > 0, activeLength - WALFormat.headerSize >= settings.snapshotEveryBytes {
                try startSegment(firstSequence: snapshot.coveredSequence + 1)
            }
            var removed = 0
            if let oldestKept = try SnapshotFiles.prune(layout, keep: settings.snapshotsKept) {
                while segments.count > 1 && segments[1] <= oldestKept + 1 {
                    try FileIO.remove(layout.segmentPath(firstSequence: segments[0]))
                    segments.removeFirst()
                    removed += 1
                }
            }
            if removed > 0 { try FileIO.fsyncDirectory(layout.walDirectory) }
            updateWatermark()
            condition.lock()
            stats.snapshots += 1
            stats.segmentsCompacted += removed
            stats.lastSnapshotError = nil
            condition.unlock()
            return .success(())
        } catch {
            condition.lock()
            stats.lastSnapshotError = error
            condition.unlock()
            return .failure(error)
        }
    }

    /// Records how far the log is durable (`WALWatermark`), unless that is what the file already says. A failure
    /// only weakens the detection of a truncated log later, so it is ignored. Writer thread only.
    private func updateWatermark() {
        let current = WALWatermark(
            nextSequence: durableNext, segment: segments.last ?? durableNext, length: activeLength)
        guard current != watermark else { return }
        if (try? current.write(layout, durable: false)) != nil { watermark = current }
    }
}
