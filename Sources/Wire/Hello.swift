/// What a connection is for. A peer pair holds at most one connection per purpose.
///
/// `Sendable` because it is a plain value.
public enum ConnectionPurpose: UInt8, Sendable, CaseIterable {
    /// Everything but membership probes (16 MiB frames).
    case general = 0
    /// Membership probes and gossip only (64 KiB frames, never queued behind bulk traffic).
    case membership = 1
    /// A node without a certificate asking for one (join token); only `joinRequest` is accepted.
    case join = 2
    /// The local CLI over the Unix socket.
    case local = 3

    /// The frame limits for this purpose.
    public var limits: FrameLimits { self == .membership ? .membership : .general }
}

/// The body of the `hello` message, the first frame each side sends on a connection.
///
/// It names the sender and the peer the sender believes it talks to, the protocol versions the sender
/// speaks, and the connection's purpose. `Sendable` because it is a plain value.
public struct Hello: Equatable, Sendable {
    public var sender: NodeName
    /// Whom the sender expects to reach; nil when it does not know (the accepting side, a joining node).
    public var expectedPeer: NodeName?
    public var versions: ClosedRange<UInt16>
    public var purpose: ConnectionPurpose

    public init(
        sender: NodeName, expectedPeer: NodeName?, versions: ClosedRange<UInt16> = ProtocolVersion.supported,
        purpose: ConnectionPurpose
    ) {
        self.sender = sender
        self.expectedPeer = expectedPeer
        self.versions = versions
        self.purpose = purpose
    }

    /// The full hello envelope (sent at the lowest version we speak, so any peer can read it).
    public func envelope() -> Envelope {
        var writer = BinaryWriter()
        writer.writeShort(expectedPeer?.rawValue ?? "")
        writer.write(versions.lowerBound)
        writer.write(versions.upperBound)
        writer.write(purpose.rawValue)
        return Envelope(
            version: versions.lowerBound, kind: .oneWay, type: .hello, sender: sender, body: writer.bytes)
    }

    /// Reads a hello from an envelope; anything else (or a malformed body) is an error. Bytes after the purpose are
    /// skipped, not refused: a newer build may append fields to its hello (docs/wire.md "Adjacent versions"), and the
    /// hello is the one message both sides must read before any version is agreed.
    public static func decode(_ envelope: Envelope) throws(WireError) -> Hello {
        guard envelope.type == .hello, envelope.kind == .oneWay else {
            throw .invalidValue(field: "first message", reason: "expected hello, got \(envelope.type)")
        }
        var reader = BinaryReader(envelope.body)
        let expected = try reader.readShortString("expected peer")
        let low = try reader.readUInt16("min version")
        let high = try reader.readUInt16("max version")
        guard low <= high else {
            throw .invalidValue(field: "versions", reason: "min \(low) is above max \(high)")
        }
        let purposeByte = try reader.readUInt8("purpose")
        guard let purpose = ConnectionPurpose(rawValue: purposeByte) else {
            throw .invalidValue(field: "purpose", reason: "unknown purpose \(purposeByte)")
        }
        // Anything further is a field of a newer build's hello: skipped (this build writes none).
        return Hello(
            sender: envelope.sender, expectedPeer: expected.isEmpty ? nil : try NodeName(expected),
            versions: low...high, purpose: purpose)
    }

    /// The version both sides use: the highest one both speak. Both sides compute the same answer. With no version
    /// in common it throws ``WireError/noCommonVersion(local:remote:)``, whose text names both ranges and which side
    /// is older.
    public static func negotiate(
        local: ClosedRange<UInt16>, remote: ClosedRange<UInt16>
    ) throws(WireError) -> UInt16 {
        let low = max(local.lowerBound, remote.lowerBound)
        let high = min(local.upperBound, remote.upperBound)
        guard low <= high else { throw .noCommonVersion(local: local, remote: remote) }
        return high
    }
}
