/// A node's name: 1–63 characters of `a-z`, `0-9`, `-` and `.`, starting with a letter or digit.
/// It is the certificate's CN and DNS SAN, so it must be a valid DNS name.
///
/// `Sendable` because it is a plain value.
public struct NodeName: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: String

    /// Validates `rawValue`; throws `.invalidValue` saying what is wrong.
    public init(_ rawValue: String) throws(WireError) {
        let utf8 = Array(rawValue.utf8)
        guard (1...63).contains(utf8.count) else {
            throw .invalidValue(field: "node name", reason: "must be 1 to 63 characters, got \(utf8.count)")
        }
        func allowed(_ byte: UInt8) -> Bool {
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D || byte == 0x2E
        }
        guard utf8.allSatisfy(allowed) else {
            throw .invalidValue(
                field: "node name", reason: "'\(rawValue)' may hold only a-z, 0-9, '-' and '.'")
        }
        guard allowed(utf8[0]) && utf8[0] != 0x2D && utf8[0] != 0x2E else {
            throw .invalidValue(field: "node name", reason: "'\(rawValue)' must start with a letter or digit")
        }
        self.rawValue = rawValue
    }

    public var description: String { rawValue }

    public static func < (lhs: NodeName, rhs: NodeName) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A message type number. 0–99 are reserved for `Wire` and `Transport`; upper layers register 100 and above.
///
/// `Sendable` because it is a plain value.
public struct MessageType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16

    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public var description: String { "type \(rawValue)" }

    /// First frame on every connection, both ways.
    public static let hello = MessageType(rawValue: 1)
    /// Error reply (body: `ErrorReply`).
    public static let error = MessageType(rawValue: 2)
    /// Keep-alive and `gt node ping` (request and response carry the same opaque body).
    public static let ping = MessageType(rawValue: 3)
    /// A joining node asks for a certificate (only on join connections).
    public static let joinRequest = MessageType(rawValue: 10)
    /// A node with a certificate asks for a renewed one.
    public static let renewRequest = MessageType(rawValue: 11)
    /// A revocation entry being spread.
    public static let revocation = MessageType(rawValue: 12)
    /// Sent before a deliberate close, so the peer does not take the close for a failure.
    public static let goodbye = MessageType(rawValue: 13)
    /// Trust anti-entropy: a node's trust-state digest → the peer's signed CA rotations and revocations (on a
    /// general link, or on a certificate-less join connection to a CA holder when the link cannot verify).
    public static let trustState = MessageType(rawValue: 14)
}

/// What an envelope is: a request awaiting a response, its response, a one-way message, or an error reply.
///
/// `Sendable` because it is a plain value.
public enum MessageKind: UInt8, Sendable {
    case request = 0
    case response = 1
    case oneWay = 2
    case error = 3
}

/// The wire protocol version: a connection speaks one, chosen in the hello exchange.
///
/// A caseless namespace; nothing to share.
public enum ProtocolVersion {
    /// Versions this build speaks: 1 (the first envelope layout) and 2 (the compact one, see `Envelope`).
    public static let supported: ClosedRange<UInt16> = 1...2
    /// The version this build prefers.
    public static let current: UInt16 = 2
    /// The first version whose envelopes use the compact layout.
    public static let compact: UInt16 = 2
}

/// The header of every message, followed by its body.
///
/// Two layouts, chosen by `version` (docs/wire.md):
/// - version 1 (big-endian): version u16, kind u8, type u16, request id u64, epoch u64, sender (u8 length +
///   UTF-8), body (all remaining bytes).
/// - version 2 and later, compact: version u8, flags u8 (kind in bits 0–1, 0x04 epoch present, 0x08 sender
///   present), type u16, request id varint (requests, responses and errors only), epoch varint (if
///   present), sender (u8 length + UTF-8, only in a hello: elsewhere the connection's authenticated peer),
///   body. A one-way message takes 4 bytes instead of 22 + its sender's name.
///
/// A version-1 envelope starts with a zero byte, a compact one with its version, so `decode(_:peer:)`
/// tells them apart. `Sendable` because it is a plain value.
public struct Envelope: Equatable, Sendable {
    public var version: UInt16
    public var kind: MessageKind
    public var type: MessageType
    /// Pairs a response or error with its request; 0 for one-way messages.
    public var requestID: UInt64
    /// The sender as it names itself (checked against its certificate by the transport).
    public var sender: NodeName
    /// The sender's epoch (its incarnation or lease epoch, as the message type defines); 0 when unused.
    public var epoch: UInt64
    public var body: [UInt8]

    public init(
        version: UInt16 = ProtocolVersion.current, kind: MessageKind, type: MessageType, requestID: UInt64 = 0,
        sender: NodeName, epoch: UInt64 = 0, body: [UInt8] = []
    ) {
        self.version = version
        self.kind = kind
        self.type = type
        self.requestID = requestID
        self.sender = sender
        self.epoch = epoch
        self.body = body
    }

    /// Smallest possible encoded envelope of the version-1 layout (a 1-byte sender and no body).
    public static let minimumLength = 2 + 1 + 2 + 8 + 8 + 2

    /// Flag bits of the compact layout's second byte (after the kind in bits 0–1).
    static let epochPresent: UInt8 = 0x04
    static let senderPresent: UInt8 = 0x08

    /// The encoded envelope in the layout of its `version`.
    public func encoded() -> [UInt8] {
        guard version >= ProtocolVersion.compact, version <= UInt8.max else { return encodedVersion1() }
        let withSender = type == .hello
        var writer = BinaryWriter(capacity: 24 + (withSender ? sender.rawValue.utf8.count : 0) + body.count)
        writer.write(UInt8(version))
        writer.write(kind.rawValue | (epoch != 0 ? Self.epochPresent : 0) | (withSender ? Self.senderPresent : 0))
        writer.write(type.rawValue)
        if kind != .oneWay { writer.writeVarint(requestID) }
        if epoch != 0 { writer.writeVarint(epoch) }
        if withSender { writer.writeShort(sender.rawValue) }
        writer.writeRaw(body)
        return writer.bytes
    }

    private func encodedVersion1() -> [UInt8] {
        var writer = BinaryWriter(capacity: 24 + sender.rawValue.utf8.count + body.count)
        writer.write(version)
        writer.write(kind.rawValue)
        writer.write(type.rawValue)
        writer.write(requestID)
        writer.write(epoch)
        writer.writeShort(sender.rawValue)
        writer.writeRaw(body)
        return writer.bytes
    }

    /// Decodes either layout. `peer` is the connection's authenticated peer: the sender of a compact
    /// envelope that leaves it out (every one but a hello); without it such an envelope is an error.
    public static func decode(_ bytes: [UInt8], peer: NodeName? = nil) throws(WireError) -> Envelope {
        guard let first = bytes.first, first >= ProtocolVersion.compact else { return try decodeVersion1(bytes) }
        var reader = BinaryReader(bytes)
        let version = UInt16(try reader.readUInt8("version"))
        let flags = try reader.readUInt8("flags")
        guard flags & ~(0x03 | epochPresent | senderPresent) == 0 else {
            throw .invalidValue(field: "flags", reason: "unknown flag bits in \(flags)")
        }
        let kind = MessageKind(rawValue: flags & 0x03)!
        let type = MessageType(rawValue: try reader.readUInt16("type"))
        let requestID = kind == .oneWay ? 0 : try reader.readVarint("request id")
        let epoch = flags & epochPresent != 0 ? try reader.readVarint("epoch") : 0
        let sender: NodeName
        if flags & senderPresent != 0 {
            sender = try NodeName(reader.readShortString("sender"))
        } else if let peer {
            sender = peer
        } else {
            throw .invalidValue(field: "sender", reason: "left out, and the connection's peer is not known")
        }
        return Envelope(
            version: version, kind: kind, type: type, requestID: requestID, sender: sender, epoch: epoch,
            body: reader.readRemaining())
    }

    private static func decodeVersion1(_ bytes: [UInt8]) throws(WireError) -> Envelope {
        var reader = BinaryReader(bytes)
        let version = try reader.readUInt16("version")
        let kindByte = try reader.readUInt8("kind")
        guard let kind = MessageKind(rawValue: kindByte) else { throw .unknownMessageKind(kindByte) }
        let type = MessageType(rawValue: try reader.readUInt16("type"))
        let requestID = try reader.readUInt64("request id")
        let epoch = try reader.readUInt64("epoch")
        let sender = try NodeName(reader.readShortString("sender"))
        return Envelope(
            version: version, kind: kind, type: type, requestID: requestID, sender: sender, epoch: epoch,
            body: reader.readRemaining())
    }

    /// The error reply to this message (same type and request id), from `sender`.
    public func errorReply(_ reply: ErrorReply, from sender: NodeName) -> Envelope {
        Envelope(
            version: version, kind: .error, type: type, requestID: requestID, sender: sender,
            body: reply.encoded())
    }
}

/// The body of an error reply: a code and a human-readable message.
///
/// `Sendable` because it is a plain value.
public struct ErrorReply: Equatable, Sendable, Error {
    /// Why a message was refused.
    public enum Code: UInt16, Sendable {
        case unknownMessageType = 1
        case unsupportedVersion = 2
        case badRequest = 3
        case refused = 4
        case internalError = 5
        case unavailable = 6
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(code.rawValue)
        writer.write(message)
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(WireError) -> ErrorReply {
        var reader = BinaryReader(bytes)
        let raw = try reader.readUInt16("error code")
        let message = try reader.readString("error message")
        try reader.expectEnd()
        return ErrorReply(code: Code(rawValue: raw) ?? .internalError, message: message)
    }
}

extension NodeName: Codable {
    /// Decodes from a JSON string, validating it like `init(_:)`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            try self.init(text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
