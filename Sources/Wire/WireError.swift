/// Every way decoding outside bytes can fail. Decoders in `Wire` never trap: they return one of these.
///
/// `Sendable` because it is a plain value.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A frame announced `length` bytes, more than the connection's limit. Nothing was allocated.
    case frameTooLarge(length: UInt64, limit: Int)
    /// The bytes ended before `field` was complete.
    case truncated(field: String)
    /// `field` held bytes that are not valid UTF-8.
    case invalidUTF8(field: String)
    /// `field` held a value outside its allowed range or shape.
    case invalidValue(field: String, reason: String)
    /// Bytes were left over after the last field of a fixed-shape body.
    case trailingBytes(count: Int)
    /// The peer speaks protocol versions `remote`, none of which we (`local`) support.
    case noCommonVersion(local: ClosedRange<UInt16>, remote: ClosedRange<UInt16>)
    /// An envelope carried a protocol version other than the one negotiated for the connection.
    case unsupportedVersion(UInt16)
    /// The message type is not in the registry (or not at this protocol version).
    case unknownMessageType(UInt16)
    /// The message kind byte is not one of request, response, one-way, error.
    case unknownMessageKind(UInt8)

    public var description: String {
        switch self {
        case .frameTooLarge(let length, let limit):
            return "frame of \(length) bytes exceeds the limit of \(limit) bytes; the peer is misbehaving or "
                + "speaks another protocol"
        case .truncated(let field): return "message truncated in field '\(field)'"
        case .invalidUTF8(let field): return "field '\(field)' is not valid UTF-8"
        case .invalidValue(let field, let reason): return "field '\(field)' is invalid: \(reason)"
        case .trailingBytes(let count): return "\(count) unexpected bytes after the end of the message"
        case .noCommonVersion(let local, let remote):
            let older = remote.upperBound < local.lowerBound ? "the peer is older" : "this node is older"
            return "no common protocol version: this node speaks \(local.lowerBound)...\(local.upperBound), the peer "
                + "\(remote.lowerBound)...\(remote.upperBound); \(older): upgrade it (nodes of adjacent releases "
                + "always share one)"
        case .unsupportedVersion(let version): return "protocol version \(version) is not the negotiated one"
        case .unknownMessageType(let type): return "unknown message type \(type)"
        case .unknownMessageKind(let kind): return "unknown message kind \(kind)"
        }
    }
}
