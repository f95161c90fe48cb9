import Foundation

/// Why a store operation failed, worded for the person who has to act on it.
///
/// `Sendable`: only strings and numbers.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Another process holds `.beads/LOCK`. `holder` is what that process wrote into the lock file.
    case locked(path: String, holder: String, waited: Duration)
    /// A system call failed.
    case io(operation: String, path: String, errno: Int32)
    /// A WAL segment is damaged somewhere other than its torn tail.
    case corruptLog(segment: String, offset: Int, reason: String)
    /// Log records are missing: the sequence numbers jump.
    case sequenceGap(segment: String, expected: UInt64, found: UInt64)
    /// No snapshot and log together cover the history (segments were removed by hand, or every snapshot is bad).
    case historyMissing(reason: String)
    /// A snapshot file is damaged (reported only when no older snapshot can take its place).
    case corruptSnapshot(path: String, reason: String)
    /// A record is larger than `StoreSettings.maxRecordBytes`.
    case recordTooLarge(bytes: Int, limit: Int)
    /// The state refused the record (`WALReplayable.apply` threw); nothing was written.
    case rejected(reason: String)
    /// A record already in the log could not be applied while loading.
    case replayFailed(sequence: UInt64, reason: String)
    /// The store was closed.
    case closed
    /// The store was opened for reading (`StoreOpenMode.read`); it takes no writes.
    case readOnly
    /// The end of the log lost records that were acknowledged (or more bytes than one torn write can span): a
    /// writer refuses to cut it and changes nothing. Accept the loss with `StoreOpenMode.repair` (`bd doctor
    /// --repair`), or restore the store.
    case damagedTail(WALTailDamage)
    /// An earlier write or fsync failed; the log may be missing acknowledged-looking data, so the store refuses
    /// every further write. Reopen it (recovery keeps every acknowledged record).
    case poisoned(reason: String)
    /// A file of the store is in a format newer than this build reads (a newer release wrote it): open refuses
    /// before changing anything. `detail` names the format and both versions.
    case newerFormat(path: String, detail: String)

    public var description: String {
        switch self {
        case .locked(let path, let holder, let waited):
            let holderText =
                holder.isEmpty
                ? "a reader such as bd list, which writes no name, or a writer that has not written its name yet"
                : holder
            return "the ledger store lock \(path) is held by another writer (\(holderText)); waited \(waited). "
                + "Use the running node, or wait for that process to finish, or stop it."
        case .io(let operation, let path, let code):
            return "\(operation) failed on \(path): \(String(cString: strerror(code))) (errno \(code))"
        case .corruptLog(let segment, let offset, let reason):
            return "WAL segment \(segment) is corrupt at byte \(offset): \(reason). Records after it would be lost; "
                + "restore .beads from a backup or a ledger remote, or move the segment aside to accept the loss."
        case .sequenceGap(let segment, let expected, let found):
            return "WAL segment \(segment) continues at record \(found) but record \(expected) was expected: "
                + "segments are missing. Restore them, or re-clone the ledger from its remote."
        case .historyMissing(let reason):
            return "the ledger store cannot be rebuilt: \(reason). Restore .beads or re-clone the ledger."
        case .corruptSnapshot(let path, let reason):
            return "snapshot \(path) is corrupt: \(reason)"
        case .recordTooLarge(let bytes, let limit):
            return "record of \(bytes) bytes is over the limit of \(limit) bytes (StoreSettings.maxRecordBytes)"
        case .rejected(let reason):
            return "write rejected, nothing stored: \(reason)"
        case .replayFailed(let sequence, let reason):
            return "record \(sequence) of the WAL could not be applied while loading: \(reason)"
        case .closed:
            return "the ledger store is closed"
        case .readOnly:
            return "the ledger store was opened read-only; this command cannot write (open it as a writer)"
        case .damagedTail(let damage):
            return damage.description
        case .poisoned(let reason):
            return "the ledger store stopped accepting writes after a failed write (\(reason)); reopen it"
        case .newerFormat(let path, let detail):
            return "\(path) was written by a newer release of gt (\(detail)); this build changed nothing in the "
                + "store. Run the newer gt on this town (an upgrade cannot be undone by downgrading the binary)."
        }
    }
}
