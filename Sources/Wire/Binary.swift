/// Appends big-endian integers, length-prefixed strings and byte strings: the body encoding of `Wire`.
///
/// `Sendable` because it is a plain value.
public struct BinaryWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func write(_ value: UInt8) { bytes.append(value) }

    public mutating func write(_ value: Bool) { bytes.append(value ? 1 : 0) }

    public mutating func write(_ value: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    public mutating func write(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> shift)) }
    }

    public mutating func write(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> shift)) }
    }

    /// A byte string with a 4-byte length prefix.
    public mutating func writeBytes(_ value: some Collection<UInt8>) {
        write(UInt32(truncatingIfNeeded: value.count))
        bytes.append(contentsOf: value)
    }

    /// A UTF-8 string with a 4-byte length prefix.
    public mutating func write(_ value: String) { writeBytes(Array(value.utf8)) }

    /// A UTF-8 string with a 1-byte length prefix (at most 255 bytes; longer strings are cut at 255 bytes).
    public mutating func writeShort(_ value: String) {
        let utf8 = Array(value.utf8.prefix(255))
        bytes.append(UInt8(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    /// Raw bytes, no prefix (only for the last field of a message).
    public mutating func writeRaw(_ value: some Collection<UInt8>) { bytes.append(contentsOf: value) }

    /// An unsigned LEB128 varint (7 bits a byte, least significant first; 1–10 bytes).
    public mutating func writeVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }
}

/// Reads what `BinaryWriter` wrote; every read checks bounds and throws `WireError` instead of trapping.
///
/// Length prefixes are checked against the bytes actually left before anything is allocated.
/// `Sendable` because it is a plain value.
public struct BinaryReader: Sendable {
    private let bytes: [UInt8]
    private var index: Int

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        index = 0
    }

    /// Bytes not yet read.
    public var remainingCount: Int { bytes.count - index }

    private mutating func take(_ count: Int, _ field: String) throws(WireError) -> ArraySlice<UInt8> {
        guard count >= 0, remainingCount >= count else { throw .truncated(field: field) }
        defer { index += count }
        return bytes[index..<(index + count)]
    }

    public mutating func readUInt8(_ field: String) throws(WireError) -> UInt8 {
        try take(1, field).first!
    }

    public mutating func readBool(_ field: String) throws(WireError) -> Bool {
        switch try readUInt8(field) {
        case 0: return false
        case 1: return true
        case let other: throw .invalidValue(field: field, reason: "boolean byte \(other)")
        }
    }

    public mutating func readUInt16(_ field: String) throws(WireError) -> UInt16 {
        try take(2, field).reduce(0) { $0 << 8 | UInt16($1) }
    }

    public mutating func readUInt32(_ field: String) throws(WireError) -> UInt32 {
        try take(4, field).reduce(0) { $0 << 8 | UInt32($1) }
    }

    public mutating func readUInt64(_ field: String) throws(WireError) -> UInt64 {
        try take(8, field).reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// An unsigned LEB128 varint; longer than 10 bytes or above 64 bits is an error.
    public mutating func readVarint(_ field: String) throws(WireError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readUInt8(field)
            if shift == 63 && byte > 1 { throw .invalidValue(field: field, reason: "varint above 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw .invalidValue(field: field, reason: "varint longer than 10 bytes") }
        }
    }

    /// A byte string with a 4-byte length prefix.
    public mutating func readBytes(_ field: String) throws(WireError) -> [UInt8] {
        let length = try readUInt32(field)
        guard Int(length) <= remainingCount else { throw .truncated(field: field) }
        return Array(try take(Int(length), field))
    }

    /// A UTF-8 string with a 4-byte length prefix.
    public mutating func readString(_ field: String) throws(WireError) -> String {
        try Self.utf8(readBytes(field), field)
    }

    /// A UTF-8 string with a 1-byte length prefix.
    public mutating func readShortString(_ field: String) throws(WireError) -> String {
        let length = try readUInt8(field)
        return try Self.utf8(Array(take(Int(length), field)), field)
    }

    /// Everything left.
    public mutating func readRemaining() -> [UInt8] {
        defer { index = bytes.count }
        return Array(bytes[index...])
    }

    /// Throws when bytes are left over.
    public func expectEnd() throws(WireError) {
        if remainingCount != 0 { throw .trailingBytes(count: remainingCount) }
    }

    private static func utf8(_ bytes: [UInt8], _ field: String) throws(WireError) -> String {
        guard let string = String(validating: bytes, as: UTF8.self) else { throw .invalidUTF8(field: field) }
        return string
    }
}
