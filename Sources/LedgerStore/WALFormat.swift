/// The position of a record in the write-ahead log: its sequence number, counted from 1 over the store's life.
///
/// `Sendable`: a number.
public struct WALPosition: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The record's sequence number (1-based, gap-free).
    public var sequence: UInt64

    /// A position at `sequence`.
    public init(sequence: UInt64) { self.sequence = sequence }

    public static func < (lhs: WALPosition, rhs: WALPosition) -> Bool { lhs.sequence < rhs.sequence }
    public var description: String { "#\(sequence)" }
}

/// What a WAL record carries.
///
/// `Sendable`: a raw byte.
public enum WALRecordKind: UInt8, Sendable {
    /// An opaque payload for the state (`WALReplayable.apply(record:)`), e.g. one serialized ledger op.
    case payload = 1
    /// The ledger commit the store has absorbed (UTF-8 text set by the sync layer).
    case absorbedCommit = 2
}

/// One decoded WAL record.
///
/// `Sendable`: value types only.
public struct WALRecord: Sendable, Equatable {
    /// What the body is.
    public var kind: WALRecordKind
    /// Its sequence number.
    public var sequence: UInt64
    /// The opaque body.
    public var body: [UInt8]

    /// A record with these parts.
    public init(kind: WALRecordKind, sequence: UInt64, body: [UInt8]) {
        self.kind = kind
        self.sequence = sequence
        self.body = body
    }
}

/// Why bytes of a WAL segment could not be decoded.
///
/// `Sendable`: value types only.
public enum WALDecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The 24-byte segment header is wrong.
    case badHeader(reason: String)
    /// A record in the middle of the segment is damaged: valid-looking bytes follow it.
    case corruptRecord(offset: Int, reason: String)
    /// The segment (or a record in it, at `offset`) is in a format a newer release writes: its checksums hold, so
    /// it is not damage. Nothing may be cut or rewritten.
    case newerFormat(offset: Int, detail: String)

    public var description: String {
        switch self {
        case .newerFormat(let offset, let detail): return "newer format at byte \(offset): \(detail)"
        case .badHeader(let reason): return "bad segment header: \(reason)"
        case .corruptRecord(let offset, let reason): return "corrupt record at byte \(offset): \(reason)"
        }
    }
}

/// The outcome of scanning one segment's bytes.
///
/// `Sendable`: value types only.
public struct WALSegmentScan: Sendable, Equatable {
    /// The first sequence number named by the header (nil when the header itself was torn).
    public var firstSequence: UInt64?
    /// Every complete record, in order.
    public var records: [WALRecord]
    /// Bytes up to the end of the last complete record (the length to truncate a torn segment to).
    public var validLength: Int
    /// Why the tail after `validLength` was dropped, if it was.
    public var tornTail: String?
}

/// The byte layout of WAL segments, and its pure encoder and decoder (no I/O).
///
/// Segment: header `"GTWL"`, u16 version, u16 flags, u64 first sequence, u32 reserved, u32 CRC-32C of the
/// preceding 20 bytes (24 bytes in all), then records. Record: u32 payload length, u32 CRC-32C of the payload,
/// payload = u8 kind, u64 sequence, body. All integers little-endian.
public enum WALFormat {
    /// Segment header size in bytes.
    public static let headerSize = 24
    /// Record framing (length + checksum) in bytes.
    public static let frameSize = 8
    /// Fixed part of a payload (kind + sequence).
    public static let payloadPrefix = 9
    /// Format version written and accepted.
    public static let version: UInt16 = 1
    static let magic: [UInt8] = Array("GTWL".utf8)

    /// The header of a segment whose first record will have `firstSequence`.
    public static func header(firstSequence: UInt64) -> [UInt8] {
        var bytes = magic
        append(version, to: &bytes)
        append(UInt16(0), to: &bytes)
        append(firstSequence, to: &bytes)
        append(UInt32(0), to: &bytes)
        append(CRC32C.checksum(bytes), to: &bytes)
        return bytes
    }

    /// Appends the framed bytes of one record to `out`.
    public static func encode(_ record: WALRecord, into out: inout [UInt8]) {
        var payload: [UInt8] = [record.kind.rawValue]
        payload.reserveCapacity(payloadPrefix + record.body.count)
        append(record.sequence, to: &payload)
        payload += record.body
        append(UInt32(payload.count), to: &out)
        append(CRC32C.checksum(payload), to: &out)
        out += payload
    }

    /// Decodes a segment. With `isLast`, a damaged final record (torn write: too short, or a checksum that fails
    /// on the very last record, or only zero bytes after it) is reported in `tornTail` and left out; anything
    /// else damaged throws.
    public static func scan(
        _ bytes: [UInt8], isLast: Bool, maxRecordBytes: Int
    ) throws(WALDecodeError) -> WALSegmentScan {
        if bytes.count < headerSize {
            guard isLast else { throw .badHeader(reason: "only \(bytes.count) bytes, header needs \(headerSize)") }
            return WALSegmentScan(firstSequence: nil, records: [], validLength: 0, tornTail: "torn segment header")
        }
        let first: UInt64
        do {
            first = try decodeHeader(bytes)
        } catch {
            if case .newerFormat = error { throw error }
            if isLast && allZero(bytes, from: 0) {
                return WALSegmentScan(firstSequence: nil, records: [], validLength: 0, tornTail: "zeroed header")
            }
            throw error
        }
        var records: [WALRecord] = []
        var offset = headerSize
        func torn(_ reason: String) throws(WALDecodeError) -> WALSegmentScan {
            guard isLast else { throw .corruptRecord(offset: offset, reason: reason) }
            let lastGood = records.last?.sequence ?? (first &- 1)
            if let (later, sequence) = validRecord(
                in: bytes, after: offset, lastSequence: lastGood, maxRecordBytes: maxRecordBytes)
            {
                throw .corruptRecord(
                    offset: offset,
                    reason: "\(reason), yet a valid record (#\(sequence)) follows at byte \(later): "
                        + "damage inside the log, not a torn tail")
            }
            return WALSegmentScan(firstSequence: first, records: records, validLength: offset, tornTail: reason)
        }
        while offset < bytes.count {
            let remaining = bytes.count - offset
            if remaining < frameSize { return try torn("record frame cut short (\(remaining) bytes)") }
            let length = Int(readU32(bytes, at: offset))
            let storedCRC = readU32(bytes, at: offset + 4)
            if length < payloadPrefix || length > maxRecordBytes {
                if allZero(bytes, from: offset) { return try torn("zero bytes after the last record") }
                throw .corruptRecord(offset: offset, reason: "impossible record length \(length)")
            }
            let end = offset + frameSize + length
            if end > bytes.count { return try torn("record of \(length) bytes cut short at \(remaining - 8)") }
            let crc = bytes.withUnsafeBytes { raw in
                CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(offset + frameSize)..<end]))
            }
            if crc != storedCRC {
                if end == bytes.count || allZero(bytes, from: end) { return try torn("checksum of the final record") }
                throw .corruptRecord(
                    offset: offset, reason: "checksum mismatch with \(bytes.count - end) bytes of records after it")
            }
            guard let kind = WALRecordKind(rawValue: bytes[offset + frameSize]) else {
                // Its checksum holds: a record kind of a newer release, not damage.
                throw .newerFormat(
                    offset: offset,
                    detail: "WAL record kind \(bytes[offset + frameSize]); this build reads kinds 1 and 2")
            }
            let sequence = readU64(bytes, at: offset + frameSize + 1)
            records.append(
                WALRecord(
                    kind: kind, sequence: sequence, body: Array(bytes[(offset + frameSize + payloadPrefix)..<end])))
            offset = end
        }
        return WALSegmentScan(firstSequence: first, records: records, validLength: offset, tornTail: nil)
    }

    /// Decodes a segment header and returns its first sequence number.
    public static func decodeHeader(_ bytes: [UInt8]) throws(WALDecodeError) -> UInt64 {
        guard bytes.count >= headerSize else { throw .badHeader(reason: "too short") }
        guard Array(bytes[0..<4]) == magic else { throw .badHeader(reason: "not a GasTown WAL segment (magic)") }
        let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<20])) }
        guard crc == readU32(bytes, at: 20) else { throw .badHeader(reason: "header checksum mismatch") }
        let version = UInt16(bytes[4]) | UInt16(bytes[5]) << 8
        guard version <= Self.version else {
            throw .newerFormat(offset: 0, detail: "WAL format version \(version); this build reads \(Self.version)")
        }
        guard version == Self.version else {
            throw .badHeader(reason: "format version \(version), this build reads \(Self.version)")
        }
        return readU64(bytes, at: 8)
    }

    /// The first position after `start` holding a complete record with a valid checksum and a sequence after
    /// `lastSequence`; used to tell damage inside the log (valid records follow) from a torn tail (none do).
    static func validRecord(
        in bytes: [UInt8], after start: Int, lastSequence: UInt64, maxRecordBytes: Int
    ) -> (offset: Int, sequence: UInt64)? {
        var position = start + 1
        let bound = UInt64(bytes.count - start)
        while position + frameSize + payloadPrefix <= bytes.count {
            defer { position += 1 }
            let length = Int(readU32(bytes, at: position))
            guard length >= payloadPrefix, length <= maxRecordBytes, length <= bytes.count - position - frameSize,
                WALRecordKind(rawValue: bytes[position + frameSize]) != nil
            else { continue }
            let sequence = readU64(bytes, at: position + frameSize + 1)
            guard sequence > lastSequence, sequence - lastSequence <= bound else { continue }
            let end = position + frameSize + length
            let crc = bytes.withUnsafeBytes {
                CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[(position + frameSize)..<end]))
            }
            if crc == readU32(bytes, at: position + 4) { return (position, sequence) }
        }
        return nil
    }

    static func allZero(_ bytes: [UInt8], from start: Int) -> Bool {
        var index = start
        while index < bytes.count {
            if bytes[index] != 0 { return false }
            index += 1
        }
        return true
    }

    static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    static func readU32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        var value: UInt32 = 0
        for index in 0..<4 { value |= UInt32(bytes[offset + index]) << (8 * index) }
        return value
    }

    static func readU64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[offset + index]) << (8 * index) }
        return value
    }
}
