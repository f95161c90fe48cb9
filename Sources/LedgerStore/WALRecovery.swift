import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The log as recovered at open.
struct RecoveredLog {
    /// First sequences of the segments present, oldest first.
    var segments: [UInt64]
    /// The sequence number the next record gets.
    var nextSequence: UInt64
    /// Whether the last segment's records end right before `nextSequence`, so appends continue in it (otherwise a
    /// writer starts a fresh segment at `nextSequence`).
    var continuesLast: Bool
}

/// The active segment opened for appends.
struct AppendTarget {
    var segments: [UInt64]
    var descriptor: Int32
    var length: Int
}

/// Loading a store: newest usable snapshot, then every later WAL record; then what to do about damage at the end of
/// the log, by open mode (docs/ledger-store.md, "Recovery at open"). Blocking I/O.
enum WALRecovery {
    /// Reads `layout` and calls `restore` with the chosen snapshot (nil: start empty), then `replay` for every record
    /// after it, in order. A reader (`mode == .read`) changes no file; a writer cuts a torn tail (keeping its
    /// bytes), refuses a suspicious one (`.damagedTail`) unless `mode == .repair`, and sets damaged snapshots aside.
    static func recover(
        layout: StoreLayout, settings: StoreSettings, mode: StoreOpenMode, report: inout RecoveryReport,
        restore: (StoreSnapshot?) throws(StoreError) -> Void,
        replay: (WALRecord) throws(StoreError) -> Void
    ) throws(StoreError) -> RecoveredLog {
        report.mode = mode
        let segments = try FileIO.listDirectoryIfPresent(layout.walDirectory)
            .compactMap { StoreLayout.number(in: $0, suffix: ".wal") }
            .sorted()
        let firstAvailable = segments.first

        // The newest valid snapshot from which the remaining segments continue.
        var chosen: StoreSnapshot?
        var damagedSnapshots: [String] = []
        for sequence in try SnapshotFiles.list(layout) {
            let path = layout.snapshotPath(coveredSequence: sequence)
            do {
                let snapshot = try StoreSnapshot.decode(try FileIO.readFile(path))
                if let firstAvailable, firstAvailable > snapshot.coveredSequence + 1 {
                    report.skippedSnapshots.append("\(path): older than the oldest WAL segment")
                    continue
                }
                chosen = snapshot
                break
            } catch {
                // A newer release's snapshot is not damage: refuse before anything is changed or set aside.
                if let error = error as? SnapshotDecodeError, error.isNewerFormat {
                    throw .newerFormat(path: path, detail: error.reason)
                }
                report.skippedSnapshots.append("\(path): \(error)")
                damagedSnapshots.append(path)
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
        var lastEnd: UInt64 = expected
        var lastLength = 0
        var torn: (reason: String, validLength: Int, bytes: ArraySlice<UInt8>, first: UInt64)?
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
                case .newerFormat(let offset, let detail):
                    throw .newerFormat(path: path, detail: offset == 0 ? detail : "\(detail), at byte \(offset)")
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
            lastEnd = next
            lastLength = bytes.count
            if isLast, let reason = scan.tornTail {
                torn = (reason, scan.validLength, bytes[scan.validLength...], first)
                lastLength = scan.validLength
            }
        }
        report.nextSequence = expected
        if mode.writes {
            // Temporary files of snapshot (and watermark, cut) writes cut short by a crash; removed only once every
            // file read above is known to be in a format this build reads.
            for directory in [layout.snapshotDirectory, layout.walDirectory] {
                for name in try FileIO.listDirectory(directory) where name.hasPrefix(".") && name.contains(".tmp-") {
                    try FileIO.remove(directory + "/" + name)
                }
            }
        }
        let watermark = WALWatermark.read(layout)
        report.watermark = watermark
        let acknowledgedLost = watermark.map { $0.nextSequence > expected ? Int($0.nextSequence - expected) : 0 } ?? 0

        if torn != nil || acknowledgedLost > 0 {
            let segmentName =
                (layout.segmentPath(firstSequence: segments.last ?? watermark?.segment ?? expected) as NSString)
                .lastPathComponent
            var note: String?
            if let watermark, acknowledgedLost > 0 {
                let name = (layout.segmentPath(firstSequence: watermark.segment) as NSString).lastPathComponent
                let held =
                    segments.contains(watermark.segment)
                    ? "wal/\(name) was \(watermark.length) bytes" : "wal/\(name), now missing, held the last of them"
                note = "at its last clean close the log held records up to #\(watermark.nextSequence - 1) and \(held)"
            }
            let startedRecord = torn.map { $0.validLength >= WALFormat.headerSize && $0.bytes.contains { $0 != 0 } }
            var damage = WALTailDamage(
                segment: segmentName, validBytes: torn?.validLength ?? lastLength, damagedBytes: torn?.bytes.count ?? 0,
                reason: torn?.reason ?? "", watermarkNote: note, firstMissing: expected,
                records: max(acknowledgedLost, startedRecord == true ? 1 : 0), acknowledgedRecords: acknowledgedLost,
                tornWriteLimit: max(settings.maxBatchBytes, settings.maxRecordBytes + WALFormat.frameSize),
                keptAt: nil, isCut: false)
            if mode == .write && damage.isSuspicious { throw .damagedTail(damage) }
            if mode.writes {
                if let torn {
                    let path = layout.segmentPath(firstSequence: torn.first)
                    if !torn.bytes.isEmpty {
                        damage.keptAt = try keepAside(Array(torn.bytes), layout: layout, segment: segmentName)
                    }
                    try repairTail(path: path, validLength: torn.validLength, firstSequence: torn.first)
                    damage.isCut = true
                    lastLength = max(torn.validLength, WALFormat.headerSize)
                }
                damage.isAccepted = mode == .repair
                if acknowledgedLost > 0 {
                    // Accepted loss: later opens compare against what is left, not against records that are gone.
                    try WALWatermark(
                        nextSequence: expected, segment: segments.last ?? expected, length: lastLength
                    ).write(layout, durable: true)
                }
            }
            report.tail = damage
        }
        if mode.writes {
            // A damaged snapshot must not count as one of the kept ones (compaction drops segments only behind the
            // older of two), so it is moved aside, never deleted: `snapshot-<seq>.snap.damaged`.
            for path in damagedSnapshots {
                try FileIO.rename(path, path + ".damaged")
                report.setAsideSnapshots.append(path + ".damaged")
            }
            if !damagedSnapshots.isEmpty { try FileIO.fsyncDirectory(layout.snapshotDirectory) }
        }
        return RecoveredLog(
            segments: segments, nextSequence: expected, continuesLast: !segments.isEmpty && lastEnd == expected)
    }

    /// Opens the log for appending: the last segment when the records continue in it, else a fresh one.
    static func openForAppend(_ log: RecoveredLog, layout: StoreLayout) throws(StoreError) -> AppendTarget {
        guard log.continuesLast, let last = log.segments.last else {
            return try freshSegment(layout, firstSequence: log.nextSequence, previous: log.segments)
        }
        let path = layout.segmentPath(firstSequence: last)
        let fd = try FileIO.open(path, flags: O_WRONLY)
        let length = lseek(fd, 0, SEEK_END)
        guard length >= 0 else {
            let error = FileIO.fail("lseek", path)
            Glibc.close(fd)
            throw error
        }
        return AppendTarget(segments: log.segments, descriptor: fd, length: Int(length))
    }

    /// Writes the bytes about to be cut to `wal/<segment>.cut-<time>` (durably, before the cut), never over an
    /// earlier one; returns the path.
    private static func keepAside(_ bytes: [UInt8], layout: StoreLayout, segment: String) throws(StoreError) -> String {
        let base = layout.cutPath(segment: segment, time: Date())
        var path = base
        var attempt = 1
        while FileManager.default.fileExists(atPath: path) {
            path = base + "-\(attempt)"
            attempt += 1
        }
        try AtomicFile.write(bytes, to: path)
        return path
    }

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
    ) throws(StoreError) -> AppendTarget {
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
        return AppendTarget(
            segments: previous.filter { $0 < firstSequence } + [firstSequence], descriptor: fd,
            length: WALFormat.headerSize)
    }
}
