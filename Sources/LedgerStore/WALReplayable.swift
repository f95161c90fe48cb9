import Foundation

/// A state that can be rebuilt from a snapshot plus the WAL records written after it: what `DurableStore` keeps.
///
/// The Beads ledger conforms by storing one serialized op per record. Requirements:
/// - `apply(record:)` is deterministic and atomic: when it throws, the state is unchanged.
/// - `init(snapshot: snapshot())` followed by the same records gives the same state as before.
/// Conformers need not be `Sendable`; `DurableStore` serializes all access behind its lock.
public protocol WALReplayable: SendableMetatype {
    /// The empty state of a new store.
    init()
    /// Rebuilds the state from `snapshot()` output.
    init(snapshot: Data) throws
    /// Rebuilds the state from `snapshot()` output lent for the duration of the call (not to be kept): what
    /// `DurableStore` calls at open, so a large snapshot is not copied once more. The default copies the bytes into
    /// a `Data` and calls `init(snapshot:)`.
    init(snapshotBytes: UnsafeRawBufferPointer) throws
    /// Applies one record (a new write, or one replayed from the log).
    mutating func apply(record: Data) throws
    /// The whole state as bytes, for a snapshot file.
    func snapshot() -> Data
}

extension WALReplayable {
    public init(snapshotBytes: UnsafeRawBufferPointer) throws { try self.init(snapshot: Data(snapshotBytes)) }
}

/// A state that is simply the list of its records: used to inspect a store's raw log, by tests, by the
/// `gt-testhelper` crash tests and by `StoreBenchmarks`.
///
/// `Sendable`: an array of `Data`.
public struct OpaqueRecordLog: WALReplayable, Sendable, Equatable {
    /// Every record applied, in order.
    public private(set) var records: [Data] = []

    public init() {}

    /// Snapshot format: per record, a u32 little-endian length and the bytes.
    public init(snapshot: Data) throws {
        let bytes = [UInt8](snapshot)
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 4 else { throw SnapshotDecodeError(reason: "record length cut short") }
            let length = Int(WALFormat.readU32(bytes, at: offset))
            offset += 4
            guard length <= bytes.count - offset else { throw SnapshotDecodeError(reason: "record cut short") }
            records.append(Data(bytes[offset..<(offset + length)]))
            offset += length
        }
    }

    public mutating func apply(record: Data) throws { records.append(record) }

    public func snapshot() -> Data {
        var bytes: [UInt8] = []
        for record in records {
            WALFormat.append(UInt32(record.count), to: &bytes)
            bytes += record
        }
        return Data(bytes)
    }
}
