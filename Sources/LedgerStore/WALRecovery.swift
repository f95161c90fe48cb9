import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What opening a store found and did, for logs and `bd doctor`-style output.
///
/// `Sendable`: value types only.
public struct RecoveryReport: Sendable, Equatable {
    /// The snapshot loaded (its covered sequence), if any.
    public var snapshotSequence: UInt64?
    /// Snapshots skipped because they were damaged, with the reason.
    public var skippedSnapshots: [String] = []
    /// Log records applied on top of the snapshot.
    public var replayedRecords: Int = 0
    /// Segments read.
    public var segmentsScanned: Int = 0
    /// Bytes cut from the end of the last segment (a torn write that was never acknowledged).
    public var truncatedTailBytes: Int = 0
    /// Why the tail was cut, if it was.
    public var tornTailReason: String?
    /// The sequence number the next record will get.
    public var nextSequence: UInt64 = 1
}

/// The log as recovered at open: the active segment ready for appends.
struct RecoveredLog {
    var segments: [UInt64]
    var activeDescriptor: Int32
    var activeLength: Int
    var nextSequence: UInt64
}

/// Loading a store: newest usable snapshot, then every later WAL record, cutting a torn tail. Blocking I/O.
enum WALRecovery {
    /// Reads `layout` and calls `restore` with the chosen snapshot (nil: start empty), then `replay` for every record
    /// after it, in order. Returns the log opened for appending.
    static func recover(
        layout: StoreLayout, settings: StoreSettings, report: inout RecoveryReport,
        restore: (StoreSnapshot?) throws(StoreError) -> Void,
        replay: (WALRecord) throws(StoreError) -> Void
    ) throws(StoreError) -> RecoveredLog {
        // Temporary files of snapshot writes cut short by a crash.
        for name in try FileIO.listDirectory(layout.snapshotDirectory)
        where name.hasPrefix(".") && name.contains(".tmp-") {
            try FileIO.remove(layout.snapshotDirectory + "/" + name)
        }
        let segments = try FileIO.listDirectory(layout.walDirectory)
            .compactMap { StoreLayout.number(in: $0, suffix: ".wal") }
            .sorted()
        let firstAvailable = segments.first

        // The newest valid snapshot from which the remaining segments continue.
        var chosen: StoreSnapshot?
        for sequence in try SnapshotFiles.list(layout) {
            let path = layout.snapshotPath(coveredSequence: sequence)
            do {
                let snapshot = try StoreSnapshot.decode(try readSnapshot(path))
                if let firstAvailable, firstAvailable > snapshot.coveredSequence + 1 {
                    report.skippedSnapshots.append("\(path): older than the oldest WAL segment")
                    continue
                }
                chosen = snapshot
                break
            } catch {
                report.skippedSnapshots.append("\(path): \(error)")
            }
        }
        let covered = chosen?.coveredSequence ?? 0
        if chosen == nil, let firstAvailable, firstAvailable > 1 {
            throw .historyMissing(
                reason: "the oldest WAL segment starts at record \(firstAvailable) and no usable snapshot covers "
                    + "the records before it (\(report.skippedSnapshots.joined(separator: "; ")))")
        }
        report.snapshotSequence = chosen?.coveredSequence
        try restore(chosen)

        var expected = covered + 1
        var replayNext = covered + 1
        var lastFirst: UInt64 = expected
        var lastEnd: UInt64 = expected
        for (index, first) in segments.enumerated() {
            let isLast = index == segments.count - 1
            if !isLast && segments[index + 1] <= covered + 1 { continue }
            let path = layout.segmentPath(firstSequence: first)
            let name = (path as NSString).lastPathComponent
            let bytes = try FileIO.readFile(path)
            report.segmentsScanned += 1
            let scan: WALSegmentScan
            do {
                scan = try WALFormat.scan(bytes, isLast: isLast, maxRecordBytes: settings.maxRecordBytes)
            } catch {
                switch error {
                case .badHeader(let reason): throw .corruptLog(segment: name, offset: 0, reason: reason)
                case .corruptRecord(let offset, let reason):
                    throw .corruptLog(segment: name, offset: offset, reason: reason)
                }
            }
            if let headerFirst = scan.firstSequence, headerFirst != first {
                throw .corruptLog(segment: name, offset: 0, reason: "header names record \(headerFirst)")
            }
            if first > expected { throw .sequenceGap(segment: name, expected: expected, found: first) }
            var next = first
            for record in scan.records {
                guard record.sequence == next else {
                    throw .sequenceGap(segment: name, expected: next, found: record.sequence)
                }
                next += 1
                if record.sequence > covered {
                    // Segments must continue exactly where the previous one ended: no gap, no overlap.
                    guard record.sequence == replayNext else {
                        throw .sequenceGap(segment: name, expected: replayNext, found: record.sequence)
                    }
                    try replay(record)
                    replayNext += 1
                    report.replayedRecords += 1
                }
            }
            expected = max(expected, next)
            lastFirst = first
            lastEnd = next
            if isLast, let reason = scan.tornTail {
                report.tornTailReason = reason
                report.truncatedTailBytes = bytes.count - scan.validLength
                try repairTail(path: path, validLength: scan.validLength, firstSequence: first)
            }
        }

        report.nextSequence = expected
        // Append to the last segment only if its records end right before `expected` (they do unless segments
        // were removed by hand behind a snapshot); otherwise start a fresh segment at `expected`.
        if segments.isEmpty || lastEnd != expected {
            return try freshSegment(layout, firstSequence: expected, previous: segments)
        }
        let path = layout.segmentPath(firstSequence: lastFirst)
        let fd = try FileIO.open(path, flags: O_WRONLY)
        let length = lseek(fd, 0, SEEK_END)
        guard length >= 0 else {
            let error = FileIO.fail("lseek", path)
            Glibc.close(fd)
            throw error
        }
        return RecoveredLog(
            segments: segments.filter { $0 <= lastFirst }, activeDescriptor: fd, activeLength: Int(length),
            nextSequence: expected)
    }

    private static func readSnapshot(_ path: String) throws -> [UInt8] { try FileIO.readFile(path) }

    /// Cuts a torn tail (or rewrites a torn header) and makes the repair durable.
    private static func repairTail(path: String, validLength: Int, firstSequence: UInt64) throws(StoreError) {
        let fd = try FileIO.open(path, flags: O_WRONLY)
        defer { Glibc.close(fd) }
        if validLength < WALFormat.headerSize {
            try FileIO.truncate(fd, to: 0, path: path)
            try FileIO.writeAll(fd, WALFormat.header(firstSequence: firstSequence), at: 0, path: path)
        } else {
            try FileIO.truncate(fd, to: validLength, path: path)
        }
        try FileIO.fsync(fd, path: path)
    }

    private static func freshSegment(
        _ layout: StoreLayout, firstSequence: UInt64, previous: [UInt64]
    ) throws(StoreError) -> RecoveredLog {
        let path = layout.segmentPath(firstSequence: firstSequence)
        let fd = try FileIO.open(path, flags: O_WRONLY | O_CREAT | O_EXCL)
        do {
            try FileIO.writeAll(fd, WALFormat.header(firstSequence: firstSequence), at: 0, path: path)
            try FileIO.fsync(fd, path: path)
            try FileIO.fsyncDirectory(layout.walDirectory)
        } catch {
            Glibc.close(fd)
            throw error
        }
        return RecoveredLog(
            segments: previous.filter { $0 < firstSequence } + [firstSequence], activeDescriptor: fd,
            activeLength: WALFormat.headerSize, nextSequence: firstSequence)
    }
}
