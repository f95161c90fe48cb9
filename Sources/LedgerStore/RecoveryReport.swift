import Foundation

/// How a process opens a store: as a reader, as the one writer, or as a writer that accepts cutting away damage
/// that lost acknowledged records. See docs/ledger-store.md, "Readers and writers" and "Damage at the end of the log".
///
/// `Sendable`: a plain enum.
public enum StoreOpenMode: Sendable, Equatable {
    /// A reader (`bd list`, `show`, `ready`, …): takes `.beads/LOCK` shared and changes no file. A damaged tail is
    /// reported and the valid records before it are read; nothing is cut. Writes throw `StoreError.readOnly`.
    case read
    /// The one writer: takes the lock exclusive. A torn tail (the last, never-acknowledged write cut short by a
    /// crash) is cut, its bytes kept aside; a tail that lost acknowledged records refuses with
    /// `StoreError.damagedTail` and leaves every file as it is.
    case write
    /// A writer that accepts the loss (`bd doctor --repair`): cuts any damaged tail, keeps its bytes aside, and
    /// lowers the watermark to what is left, so later writers open normally.
    case repair

    /// Whether this mode writes (takes the lock exclusive and may change files).
    public var writes: Bool { self != .read }
}

/// What opening a store found and did, for logs, warnings and `bd doctor`.
///
/// `Sendable`: value types only.
public struct RecoveryReport: Sendable, Equatable {
    /// The snapshot loaded (its covered sequence), if any.
    public var snapshotSequence: UInt64?
    /// Snapshots skipped because they were damaged, with the reason.
    public var skippedSnapshots: [String] = []
    /// Damaged snapshots a writer moved aside (`snapshot-<seq>.snap.damaged`), so they no longer count as kept.
    public var setAsideSnapshots: [String] = []
    /// Log records applied on top of the snapshot.
    public var replayedRecords: Int = 0
    /// Segments read.
    public var segmentsScanned: Int = 0
    /// Damage at the end of the log (a torn write, or records known to be missing), if any.
    public var tail: WALTailDamage?
    /// The watermark found (how far the log reached at the last clean close or snapshot), if any.
    public var watermark: WALWatermark?
    /// The sequence number the next record will get.
    public var nextSequence: UInt64 = 1
    /// How the store was opened.
    public var mode: StoreOpenMode = .write

    /// Bytes cut from the end of the last segment (0 when nothing was cut, also when a reader only skipped them).
    public var truncatedTailBytes: Int { tail.map { $0.isCut ? $0.damagedBytes : 0 } ?? 0 }
    /// Why the tail was cut or skipped, if it was.
    public var tornTailReason: String? { tail.flatMap { $0.damagedBytes > 0 ? $0.reason : nil } }

    /// What a person should be told about this open (one line each), or nothing when it found the store intact:
    /// damaged snapshots and damage at the end of the log.
    public var warnings: [String] {
        var lines: [String] = []
        if !skippedSnapshots.isEmpty {
            let used = snapshotSequence.map { "the snapshot at record \($0)" } ?? "no snapshot"
            lines.append(
                "skipped \(skippedSnapshots.count) damaged snapshot(s), loaded \(used) and replayed the log after it: "
                    + skippedSnapshots.joined(separator: "; "))
        }
        if let tail { lines.append(tail.description) }
        return lines
    }
}

/// Damage found at the end of the write-ahead log: bytes after the last valid record (a write cut short, zeroed or
/// flipped), and/or records the watermark says the log held that are no longer there.
///
/// A torn write loses at most the one batch that was being written when the writer died, and that batch was never
/// acknowledged. Anything more (records the watermark proves were durable, or more damaged bytes than one batch can
/// hold) is damage of acknowledged data: `isSuspicious`.
///
/// `Sendable`: value types only.
public struct WALTailDamage: Sendable, Equatable, CustomStringConvertible {
    /// The segment's file name (`<20 digits>.wal`), in `wal/`.
    public var segment: String
    /// Where the valid records of the segment end (the length it is cut to).
    public var validBytes: Int
    /// Damaged bytes after `validBytes` (cut, or to be cut). 0 when the log ends cleanly but records are missing.
    public var damagedBytes: Int
    /// What the damaged bytes look like ("record of 389 bytes cut short at 120", "checksum of the final record", …).
    public var reason: String
    /// What the watermark says the log held, when it proves records missing ("at its last clean close the log held
    /// records up to #32 and wal/… was 11748 bytes").
    public var watermarkNote: String?
    /// The sequence of the first record not recovered.
    public var firstMissing: UInt64
    /// Records lost: those the watermark proves the log held, and at least the record the damaged bytes began
    /// (0 when they are only zero bytes and no watermark says more).
    public var records: Int
    /// Of `records`, how many the watermark proves were durable (acknowledged); 0 without a watermark past the end.
    public var acknowledgedRecords: Int
    /// Bytes one torn write can span at most (`max(maxBatchBytes, maxRecordBytes + frame)`).
    public var tornWriteLimit: Int
    /// Where a writer kept the cut bytes (`wal/<segment>.cut-<time>`); nil when nothing was cut.
    public var keptAt: String?
    /// Whether the segment was cut (a writer) or only read up to `validBytes` (a reader, or a refused writer).
    public var isCut: Bool
    /// Whether a repair (`StoreOpenMode.repair`) accepted the loss: cut the damaged bytes and lowered the watermark.
    public var isAccepted: Bool = false

    /// Not explainable as one torn write: records known acknowledged are gone, or more bytes are damaged than one
    /// write can span. A writer refuses to cut it unless opened with `.repair`.
    public var isSuspicious: Bool { acknowledgedRecords > 0 || damagedBytes > tornWriteLimit }

    /// The records lost, as `#a` or `#a–#b`.
    public var missingRange: String {
        records <= 1 ? "#\(firstMissing)" : "#\(firstMissing)–#\(firstMissing + UInt64(records) - 1)"
    }

    public var description: String {
        let place = "wal/\(segment)"
        let damaged =
            damagedBytes > 0
            ? "\(place) ends in \(damagedBytes) damaged byte(s) after byte \(validBytes) (\(reason))"
            : "\(place) ends cleanly at byte \(validBytes)"
        let kept = keptAt.map { ", keeping the cut bytes in \($0)" } ?? ""
        if isSuspicious {
            let what =
                acknowledgedRecords > 0
                ? "\(acknowledgedRecords) acknowledged record(s) (\(missingRange)) are missing from its end"
                : "more bytes are damaged at its end than one torn write can span (\(tornWriteLimit))"
            let history = watermarkNote.map { "; \($0)" } ?? ""
            let action =
                isAccepted
                ? "The loss was accepted as asked (bd doctor --repair)\(kept)."
                : "Nothing was changed: restore .beads from a backup or re-clone the ledger from its remote, or run "
                    + "'bd doctor --repair' to accept the loss (it cuts the damage, keeping the cut bytes aside)."
            return "DATA LOSS in the write-ahead log: \(what). \(damaged)\(history). This is damage, not a torn "
                + "write. \(action)"
        }
        let lost = records == 0 ? "no complete record" : "\(records) record(s) (\(missingRange))"
        let verb = isCut ? "cut\(kept)" : "left in place (a reader changes nothing; the next writer cuts it)"
        return "the write-ahead log ended in a torn write, never acknowledged: \(damaged), \(lost); \(verb)"
    }
}

/// How far the log is known to reach: written by the writer at a clean close and after each snapshot, once every
/// record before `nextSequence` is durable, to `wal/acknowledged`. Opening compares it with what the segments hold,
/// so records lost from the end of the log (a truncated or zeroed file) are told apart from a torn write: after a
/// clean close nothing was being written, so any record missing below the watermark was acknowledged.
///
/// The file is replaced by rename without an fsync (it is written after the records it names are durable, so a
/// power loss can only leave an older watermark or none, which weakens detection but never reports a loss that did
/// not happen). Text: `next=<sequence> segment=<20-digit first sequence> length=<bytes>\n`.
///
/// `Sendable`: numbers.
public struct WALWatermark: Sendable, Equatable {
    /// Every record before this one was durable when the watermark was written.
    public var nextSequence: UInt64
    /// The first sequence of the segment that was being appended to.
    public var segment: UInt64
    /// That segment's length in bytes then.
    public var length: Int

    /// A watermark with these parts.
    public init(nextSequence: UInt64, segment: UInt64, length: Int) {
        self.nextSequence = nextSequence
        self.segment = segment
        self.length = length
    }

    /// The file's bytes.
    public func encoded() -> [UInt8] {
        Array("next=\(nextSequence) segment=\(StoreLayout.padded(segment)) length=\(length)\n".utf8)
    }

    /// Parses the file's bytes; nil unless they are exactly one well-formed line (a file cut short or garbled by a
    /// crash is ignored, as if there were none).
    public static func decode(_ bytes: [UInt8]) -> WALWatermark? {
        guard bytes.count <= 128, bytes.last == 0x0A else { return nil }
        let fields = String(decoding: bytes.dropLast(), as: UTF8.self).split(
            separator: " ", omittingEmptySubsequences: false)
        guard fields.count == 3 else { return nil }
        func value(_ field: Substring, _ key: String) -> UInt64? {
            guard field.hasPrefix(key + "=") else { return nil }
            let digits = field.dropFirst(key.count + 1)
            guard !digits.isEmpty, digits.count <= 20, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                return nil
            }
            return UInt64(digits)
        }
        guard let next = value(fields[0], "next"), let segment = value(fields[1], "segment"),
            fields[1].count == "segment=".count + 20, let length = value(fields[2], "length"),
            length <= UInt64(Int.max)
        else { return nil }
        return WALWatermark(nextSequence: next, segment: segment, length: Int(length))
    }

    /// The watermark of `layout`, or nil when there is none or it does not parse. Blocking; changes nothing.
    static func read(_ layout: StoreLayout) -> WALWatermark? {
        guard let bytes = try? FileIO.readFile(layout.watermarkFile) else { return nil }
        return decode(bytes)
    }

    /// Replaces the watermark file: by rename, fsync'd only when `durable` (a repair lowering it must stick; the
    /// writer's routine updates need not, see the type's comment).
    func write(_ layout: StoreLayout, durable: Bool) throws(StoreError) {
        if durable {
            try AtomicFile.write(encoded(), to: layout.watermarkFile)
        } else {
            try AtomicFile.replaceUnsynced(encoded(), at: layout.watermarkFile)
        }
    }
}
