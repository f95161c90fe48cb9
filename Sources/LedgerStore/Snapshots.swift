import Foundation

/// A snapshot of the state: the opaque state bytes, the last WAL record they include, and the absorbed ledger
/// commit at that point.
///
/// `Sendable`: value types only.
public struct StoreSnapshot: Sendable, Equatable {
    /// Every record with a sequence up to this one is in `state`.
    public var coveredSequence: UInt64
    /// The ledger commit absorbed when the snapshot was taken.
    public var absorbedCommit: String?
    /// `WALReplayable.snapshot()` output.
    public var state: [UInt8]

    /// A snapshot with these parts.
    public init(coveredSequence: UInt64, absorbedCommit: String?, state: [UInt8]) {
        self.coveredSequence = coveredSequence
        self.absorbedCommit = absorbedCommit
        self.state = state
    }

    static let magic: [UInt8] = Array("GTSN".utf8)
    static let version: UInt16 = 1

    /// File bytes: `"GTSN"`, u16 version, u16 flags (bit 0: has commit), u64 covered sequence, u32 commit length,
    /// commit, u64 state length, state, u32 CRC-32C of everything before it. Little-endian.
    public func encoded() -> [UInt8] {
        var bytes = Self.magic
        let commit = Array((absorbedCommit ?? "").utf8)
        WALFormat.append(Self.version, to: &bytes)
        WALFormat.append(UInt16(absorbedCommit == nil ? 0 : 1), to: &bytes)
        WALFormat.append(coveredSequence, to: &bytes)
        WALFormat.append(UInt32(commit.count), to: &bytes)
        bytes += commit
        WALFormat.append(UInt64(state.count), to: &bytes)
        bytes += state
        WALFormat.append(CRC32C.checksum(bytes), to: &bytes)
        return bytes
    }

    /// Decodes snapshot file bytes; the error text says what is wrong.
    /// Takes the bytes by `consuming`, so a caller handing over its only copy (a file just read) gets the state cut
    /// out in place rather than copied.
    public static func decode(_ bytes: consuming [UInt8]) throws(SnapshotDecodeError) -> StoreSnapshot {
        guard bytes.count >= 32 else { throw SnapshotDecodeError(reason: "only \(bytes.count) bytes") }
        guard Array(bytes[0..<4]) == magic else { throw SnapshotDecodeError(reason: "not a GasTown snapshot") }
        let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<(bytes.count - 4)])) }
        guard crc == WALFormat.readU32(bytes, at: bytes.count - 4) else {
            throw SnapshotDecodeError(reason: "checksum mismatch")
        }
        let version = UInt16(bytes[4]) | UInt16(bytes[5]) << 8
        guard version <= Self.version else {
            throw SnapshotDecodeError(
                reason: "snapshot format version \(version); this build reads \(Self.version)", isNewerFormat: true)
        }
        guard version == Self.version else { throw SnapshotDecodeError(reason: "format version \(version)") }
        let hasCommit = bytes[6] & 1 == 1
        let covered = WALFormat.readU64(bytes, at: 8)
        let commitLength = Int(WALFormat.readU32(bytes, at: 16))
        guard commitLength <= bytes.count - 32 else { throw SnapshotDecodeError(reason: "commit length") }
        let commit = String(decoding: bytes[20..<(20 + commitLength)], as: UTF8.self)
        let stateStart = 20 + commitLength + 8
        let stateLength = WALFormat.readU64(bytes, at: 20 + commitLength)
        guard stateLength == UInt64(bytes.count - stateStart - 4) else {
            throw SnapshotDecodeError(reason: "state length \(stateLength) does not match the file")
        }
        bytes.removeLast(4)
        bytes.removeFirst(stateStart)
        return StoreSnapshot(coveredSequence: covered, absorbedCommit: hasCommit ? commit : nil, state: bytes)
    }
}

/// Why snapshot bytes could not be decoded. `Sendable`: a string.
public struct SnapshotDecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    public var reason: String
    /// The file is whole (its checksum holds) but in a newer release's format: not damage, never set aside.
    public var isNewerFormat = false

    public init(reason: String, isNewerFormat: Bool = false) {
        self.reason = reason
        self.isNewerFormat = isNewerFormat
    }

    public var description: String { "bad snapshot: \(reason)" }
}

/// A state (``WALReplayable``) met a snapshot or record in a format a newer release writes. Open reports it as
/// ``StoreError/newerFormat(path:detail:)`` and changes nothing. `Sendable`: a string.
public struct NewerStateFormat: Error, Sendable, Equatable, CustomStringConvertible {
    /// The format and both versions, e.g. "ledger snapshot format version 3; this build reads 1 and 2".
    public var detail: String
    public init(detail: String) { self.detail = detail }
    public var description: String { detail }
}

/// Snapshot files on disk. Blocking I/O: used by `open` (off the pool) and the WAL thread.
enum SnapshotFiles {
    /// Covered sequences of the snapshot files present, newest first (none when the directory does not exist).
    static func list(_ layout: StoreLayout) throws(StoreError) -> [UInt64] {
        try FileIO.listDirectoryIfPresent(layout.snapshotDirectory)
            .compactMap { StoreLayout.number(in: $0, prefix: "snapshot-", suffix: ".snap") }
            .sorted(by: >)
    }

    /// Writes `snapshot` atomically and confirms it: read back, it must decode (magic, lengths, checksum) to the
    /// same covered sequence. A snapshot that does not is removed again and the write fails, so an older snapshot
    /// is never pruned in favour of a bad one.
    static func write(_ snapshot: StoreSnapshot, _ layout: StoreLayout) throws(StoreError) {
        let path = layout.snapshotPath(coveredSequence: snapshot.coveredSequence)
        try AtomicFile.write(snapshot.encoded(), to: path)
        let confirmed: Bool
        do {
            confirmed = try StoreSnapshot.decode(try FileIO.readFile(path)).coveredSequence == snapshot.coveredSequence
        } catch {
            confirmed = false
        }
        guard confirmed else {
            try? FileIO.remove(path)
            throw .corruptSnapshot(path: path, reason: "it did not read back intact right after it was written")
        }
    }

    /// Deletes all but the `max(2, keep)` newest snapshots. Returns the covered sequence segments may be compacted
    /// up to: that of the oldest snapshot kept, and only once at least two are kept, so a damaged newest snapshot
    /// always has an older one, with every segment after it, to fall back to (nil: compact nothing).
    static func prune(_ layout: StoreLayout, keep: Int) throws(StoreError) -> UInt64? {
        let present = try list(layout)
        let kept = max(2, keep)
        for sequence in present.dropFirst(kept) {
            try FileIO.remove(layout.snapshotPath(coveredSequence: sequence))
        }
        try FileIO.fsyncDirectory(layout.snapshotDirectory)
        let keptSnapshots = present.prefix(kept)
        return keptSnapshots.count >= 2 ? keptSnapshots.last : nil
    }
}
