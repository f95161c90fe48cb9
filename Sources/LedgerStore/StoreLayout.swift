import Foundation

/// The paths of a ledger store under `<dir>/.beads/` (see docs/ledger-store.md).
///
/// `Sendable`: strings only.
public struct StoreLayout: Sendable, Equatable {
    /// `<dir>/.beads`.
    public let root: String

    /// The layout of the store whose `.beads` directory is inside `directory` (a town or project root).
    public init(directory: String) {
        let trimmed = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        root = trimmed + "/.beads"
    }

    /// The layout of the store at exactly `beadsDirectory` (as given by `BEADS_DIR`).
    public init(beadsDirectory: String) { root = beadsDirectory }

    /// The lock file; its content names the holder (pid, command, time).
    public var lockFile: String { root + "/LOCK" }
    /// WAL segments, `<20-digit first sequence>.wal`.
    public var walDirectory: String { root + "/wal" }
    /// Snapshots, `snapshot-<20-digit covered sequence>.snap`.
    public var snapshotDirectory: String { root + "/snapshots" }
    /// The watermark: how far the log reached at the writer's last clean close or snapshot (`WALWatermark`).
    public var watermarkFile: String { walDirectory + "/acknowledged" }
    /// The bare git repository used for sync (created by the sync layer, not by the store).
    public var repoDirectory: String { root + "/repo" }
    /// Exported, sorted per-scope JSONL: `export/<scope>/issues.jsonl` (written with `AtomicFile`).
    public var exportDirectory: String { root + "/export" }
    /// Lines a sync refused to take in from a remote, kept for inspection:
    /// `quarantine/<scope>/<remote>-<commit>.jsonl` (the lines as they were) and `….why` (line numbers and reasons).
    public var quarantineDirectory: String { root + "/quarantine" }

    /// The exported JSONL file of a scope.
    public func exportedJSONL(scope: String) -> String { exportDirectory + "/\(scope)/issues.jsonl" }

    /// The path of the segment whose first record is `firstSequence`.
    public func segmentPath(firstSequence: UInt64) -> String {
        walDirectory + "/" + Self.padded(firstSequence) + ".wal"
    }

    /// The path of the snapshot covering records up to `sequence`.
    public func snapshotPath(coveredSequence: UInt64) -> String {
        snapshotDirectory + "/snapshot-" + Self.padded(coveredSequence) + ".snap"
    }

    /// Where the bytes cut from the end of segment `segment` (a file name) are kept: `wal/<segment>.cut-<UTC time>`.
    /// Never a segment name, so compaction and recovery leave it alone.
    public func cutPath(segment: String, time: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss.SSS'Z'"
        return walDirectory + "/" + segment + ".cut-" + formatter.string(from: time)
    }

    static func padded(_ value: UInt64) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    /// Parses `<digits><suffix>` file names back into their number.
    static func number(in name: String, prefix: String = "", suffix: String) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        let digits = name.dropFirst(prefix.count).dropLast(suffix.count)
        guard digits.count == 20, digits.allSatisfy(\.isNumber) else { return nil }
        return UInt64(digits)
    }
}
