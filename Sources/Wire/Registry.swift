/// Describes one registered message type: its name and the protocol versions that know it.
///
/// `Sendable` because it is a plain value.
public struct MessageDescriptor: Sendable, Equatable {
    public var type: MessageType
    public var name: String
    /// Protocol versions in which this type exists.
    public var versions: ClosedRange<UInt16>

    public init(type: MessageType, name: String, versions: ClosedRange<UInt16> = 1...UInt16.max) {
        self.type = type
        self.name = name
        self.versions = versions
    }
}

/// The versioned registry of message types a node understands.
///
/// An incoming envelope whose type is not registered at the connection's version is answered with an
/// `ErrorReply` (`unknownMessageType`) by `check(_:negotiatedVersion:local:)`; it never crashes.
/// `Sendable` because it is a plain value.
public struct MessageRegistry: Sendable {
    private var descriptors: [MessageType: MessageDescriptor] = [:]

    public init() {}

    /// The registry holding the types `Wire` and `Transport` use themselves.
    public static let core: MessageRegistry = {
        var registry = MessageRegistry()
        for (type, name) in [
            (MessageType.hello, "hello"), (.error, "error"), (.ping, "ping"), (.joinRequest, "join-request"),
            (.renewRequest, "renew-request"), (.revocation, "revocation"), (.goodbye, "goodbye"),
            (.trustState, "trust-state"), (MessageType(rawValue: 15), "rename-request"),
        ] {
            registry.descriptors[type] = MessageDescriptor(type: type, name: name)
        }
        return registry
    }()

    /// Adds a type. Replaces an earlier registration of the same number.
    public mutating func register(_ descriptor: MessageDescriptor) {
        descriptors[descriptor.type] = descriptor
    }

    /// The descriptor of `type` at protocol `version`, or nil.
    public func descriptor(for type: MessageType, version: UInt16) -> MessageDescriptor? {
        guard let descriptor = descriptors[type], descriptor.versions.contains(version) else { return nil }
        return descriptor
    }

    /// Every registered type, by number.
    public var all: [MessageDescriptor] { descriptors.values.sorted { $0.type.rawValue < $1.type.rawValue } }

    /// What to do with an incoming envelope.
    public enum Verdict: Equatable, Sendable {
        /// Hand it to the application.
        case deliver
        /// Send this error reply back (the envelope is not delivered).
        case reply(Envelope)
        /// Drop it silently (a bad response or error reply is never answered, so errors cannot ping-pong).
        case drop(WireError)
    }

    /// The verdict for `envelope` on a connection that negotiated `negotiatedVersion`. Responses and error
    /// replies are not checked against the registry (they answer our own requests and are paired by request
    /// id); their version still is.
    public func check(_ envelope: Envelope, negotiatedVersion: UInt16, local: NodeName) -> Verdict {
        let problem: (WireError, ErrorReply.Code)?
        if envelope.version != negotiatedVersion {
            problem = (.unsupportedVersion(envelope.version), .unsupportedVersion)
        } else if envelope.kind == .request || envelope.kind == .oneWay,
            descriptor(for: envelope.type, version: envelope.version) == nil
        {
            problem = (.unknownMessageType(envelope.type.rawValue), .unknownMessageType)
        } else {
            problem = nil
        }
        guard let (error, code) = problem else { return .deliver }
        guard envelope.kind == .request || envelope.kind == .oneWay else { return .drop(error) }
        return .reply(envelope.errorReply(ErrorReply(code: code, message: error.description), from: local))
    }
}
