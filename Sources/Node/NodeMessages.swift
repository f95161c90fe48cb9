import Foundation
import Transport
import Wire

/// Message types of the node itself: 150–159 between nodes, 160–179 on the local Unix socket. Bodies are
/// JSON (the `Codable` types below); a body that does not decode is answered with `badRequest`.
///
/// A caseless namespace; nothing to share.
public enum NodeMessageType {
    /// Peer, one-way, sent by a node after dialing a seed: `NodeAnnounce` (where the sender listens).
    public static let announce = MessageType(rawValue: 150)
    /// Peer, one-way, from the CA node: a `CARotationNotice` (JSON).
    public static let caRotation = MessageType(rawValue: 151)
    /// Peer request, empty body → `PeerClockReply` (the answering node's wall clock), for `gt doctor`'s
    /// clock-skew check.
    public static let clock = MessageType(rawValue: 152)
    /// Local request: → `DoctorObservations` (what `gt doctor` checks, as the running node sees it).
    public static let doctor = MessageType(rawValue: 169)
    /// Local request: → `NodeStatus`.
    public static let status = MessageType(rawValue: 160)
    /// Local request: `PingRequest` → `PingReport` (the node pings, over its link when it has one).
    public static let ping = MessageType(rawValue: 161)
    /// Local request: → `EmptyBody`; the node then shuts down gracefully.
    public static let shutdown = MessageType(rawValue: 162)
    /// Local request: re-read revocations, certificates and CA files now → `ReloadReport`.
    public static let reloadPKI = MessageType(rawValue: 163)
    /// Local request: `TokenRequest` → `TokenReport` (only on a node holding the CA key).
    public static let joinToken = MessageType(rawValue: 164)
    /// Local request: `RevokeRequest` → `RevokeReport` (only on a node holding the CA key).
    public static let revoke = MessageType(rawValue: 165)
    /// Local request: `RotateRequest` → `RotateReport` (only on a node holding the CA key).
    public static let rotateCA = MessageType(rawValue: 166)
    /// Local request: renew this node's certificate now → `CertificateInfo` of the new certificate.
    public static let renew = MessageType(rawValue: 167)
    /// Local request: `RenameRequest` → `RenameReport` (`gt node rename`).
    public static let rename = MessageType(rawValue: 168)

    /// The descriptors the node registers.
    public static let descriptors: [MessageDescriptor] = [
        MessageDescriptor(type: announce, name: "node-announce"),
        MessageDescriptor(type: caRotation, name: "node-ca-rotation"),
        MessageDescriptor(type: status, name: "node-status"),
        MessageDescriptor(type: ping, name: "node-ping"),
        MessageDescriptor(type: shutdown, name: "node-shutdown"),
        MessageDescriptor(type: reloadPKI, name: "node-reload-pki"),
        MessageDescriptor(type: joinToken, name: "node-join-token"),
        MessageDescriptor(type: revoke, name: "node-revoke"),
        MessageDescriptor(type: rotateCA, name: "node-rotate-ca"),
        MessageDescriptor(type: renew, name: "node-renew"),
        MessageDescriptor(type: rename, name: "node-rename"),
        MessageDescriptor(type: clock, name: "node-clock"),
        MessageDescriptor(type: doctor, name: "node-doctor"),
    ]

    /// The local-only types (refused from peers).
    public static let localOnly: Set<MessageType> = [
        status, ping, shutdown, reloadPKI, joinToken, revoke, rotateCA, renew, rename, doctor,
    ]
}

/// JSON coding of node message bodies (sorted keys, ISO 8601 dates).
///
/// A caseless namespace; nothing to share.
public enum NodeJSON {
    public static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return (try? Array(encoder.encode(value))) ?? Array("{}".utf8)
    }

    /// Decodes a body from outside; a bad body is an `ErrorReply` with `badRequest`.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(ErrorReply) -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(type, from: Data(bytes.isEmpty ? Array("{}".utf8) : bytes))
        } catch {
            throw ErrorReply(code: .badRequest, message: "malformed \(T.self) body: \(error)")
        }
    }
}

/// An empty JSON object body.
///
/// `Sendable` because it is a plain value.
public struct EmptyBody: Codable, Sendable, Equatable {
    public init() {}
}

/// Body of `announce`.
///
/// `Sendable` because it is a plain value.
public struct NodeAnnounce: Codable, Sendable, Equatable {
    /// Where the sender listens for peers (`HOST:PORT`).
    public var address: String
    public init(address: String) { self.address = address }
}

/// What `gt status` prints.
///
/// `Sendable` because it is a plain value.
public struct NodeStatus: Codable, Sendable, Equatable {
    /// One supervised component.
    public struct Component: Codable, Sendable, Equatable {
        public var name: String
        /// `running`, `restarting`, `finished` or `stopped`.
        public var state: String
        public var failures: Int
        public var lastError: String?

        enum CodingKeys: String, CodingKey {
            case name, state, failures
            case lastError = "last_error"
        }
    }

    /// One peer the node knows.
    public struct Peer: Codable, Sendable, Equatable {
        public var name: String
        public var address: String?
        public var connected: Bool
    }

    public var running: Bool
    public var name: String
    public var pid: Int32
    public var listen: String
    public var socket: String
    public var startedAt: Date
    public var uptimeSeconds: Double
    public var holdsCA: Bool
    public var certificate: CertificateInfo
    public var caFingerprint: String
    public var peers: [Peer]
    public var components: [Component]
    public var revocations: Int
    /// The latest refused connections and dropped links (newest last, at most 10).
    public var refusals: [String]
    /// What needs the operator's attention (a duplicate identity, …), from `NodeContext.warnings`.
    public var warnings: [String]

    enum CodingKeys: String, CodingKey {
        case running, name, pid, listen, socket, certificate, peers, components, revocations, refusals, warnings
        case startedAt = "started_at"
        case uptimeSeconds = "uptime_seconds"
        case holdsCA = "holds_ca"
        case caFingerprint = "ca_fingerprint"
    }
}

/// Body of the local `ping` request.
///
/// `Sendable` because it is a plain value.
public struct PingRequest: Codable, Sendable, Equatable {
    public var address: String
    public var count: Int?
    public init(address: String, count: Int? = nil) {
        self.address = address
        self.count = count
    }
}

/// What `gt node ping` prints: the peer's verified identity and the round-trip times.
///
/// `Sendable` because it is a plain value.
public struct PingReport: Codable, Sendable, Equatable {
    public var address: String
    /// The peer's name, from its verified certificate.
    public var peer: String
    /// SHA-256 fingerprint of the cluster CA that signed the peer's certificate.
    public var caFingerprint: String
    /// The CA's subject (names the cluster).
    public var ca: String
    public var certificateFingerprint: String
    public var serial: String
    public var notAfter: Date
    /// Each round trip, in milliseconds.
    public var roundTripsMilliseconds: [Double]
    /// `node` when the running node pinged (over its link when it had one), `direct` when the CLI did.
    public var via: String

    enum CodingKeys: String, CodingKey {
        case address, peer, ca, serial, via
        case caFingerprint = "ca_fingerprint"
        case certificateFingerprint = "certificate_fingerprint"
        case notAfter = "not_after"
        case roundTripsMilliseconds = "round_trips_ms"
    }
}

/// Body of the local `joinToken` request.
///
/// `Sendable` because it is a plain value.
public struct TokenRequest: Codable, Sendable, Equatable {
    /// Lifetime in seconds (default: `PKISettings.joinTokenLifetime`).
    public var ttl: Double?
    /// The only node name the token admits (`--name`); nil: any name that is free.
    public var name: String?
    public init(ttl: Double? = nil, name: String? = nil) {
        self.ttl = ttl
        self.name = name
    }
}

/// A join token as printed by `gt cluster token`.
///
/// `Sendable` because it is a plain value.
public struct TokenReport: Codable, Sendable, Equatable {
    public var token: String
    public var caFingerprint: String
    public var expiresAt: Date
    /// The node name the token is bound to, if any.
    public var name: String?

    enum CodingKeys: String, CodingKey {
        case token, name
        case caFingerprint = "ca_fingerprint"
        case expiresAt = "expires_at"
    }

    public init(token: String, caFingerprint: String, expiresAt: Date, name: String? = nil) {
        self.token = token
        self.caFingerprint = caFingerprint
        self.expiresAt = expiresAt
        self.name = name
    }
}

/// Body of the local `revoke` request: a node name, and optionally one serial.
///
/// `Sendable` because it is a plain value.
public struct RevokeRequest: Codable, Sendable, Equatable {
    public var node: String
    public var serial: String?
    /// `gt node remove`: no unrevoked certificate of the node known here is not an error (nothing is left to
    /// revoke: a second run, or a node that never connected here and joined elsewhere).
    public var missingOK: Bool?
    public init(node: String, serial: String? = nil, missingOK: Bool? = nil) {
        self.node = node
        self.serial = serial
        self.missingOK = missingOK
    }

    enum CodingKeys: String, CodingKey {
        case node, serial
        case missingOK = "missing_ok"
    }
}

/// What `gt node cert revoke` prints.
///
/// `Sendable` because it is a plain value.
public struct RevokeReport: Codable, Sendable, Equatable {
    public var node: String
    /// Serials newly revoked.
    public var serials: [String]
    /// True when a running node applied the revocations (and dropped the peer's live links).
    public var applied: Bool

    public init(node: String, serials: [String], applied: Bool) {
        self.node = node
        self.serials = serials
        self.applied = applied
    }
}

/// What the local `reloadPKI` request returns.
///
/// `Sendable` because it is a plain value.
public struct ReloadReport: Codable, Sendable, Equatable {
    public var revocations: Int
    /// True when the node rebuilt its transport (a new certificate or CA).
    public var transportRebuilt: Bool

    enum CodingKeys: String, CodingKey {
        case revocations
        case transportRebuilt = "transport_rebuilt"
    }
}

/// Body of the local `rotateCA` request.
///
/// `Sendable` because it is a plain value.
public struct RotateRequest: Codable, Sendable, Equatable {
    /// Finish the rotation (stop trusting the previous CA) instead of starting one.
    public var complete: Bool
    public init(complete: Bool) { self.complete = complete }
}

/// What `gt cluster rotate-ca` prints.
///
/// `Sendable` because it is a plain value.
public struct RotateReport: Codable, Sendable, Equatable {
    /// `started` or `completed`.
    public var phase: String
    public var caFingerprint: String
    public var previousCAFingerprint: String?
    /// Peers the notice was sent to.
    public var notified: [String]
    /// True when a running node carried it out.
    public var nodeReloaded: Bool

    enum CodingKeys: String, CodingKey {
        case phase, notified
        case caFingerprint = "ca_fingerprint"
        case previousCAFingerprint = "previous_ca_fingerprint"
        case nodeReloaded = "node_reloaded"
    }

    public init(
        phase: String, caFingerprint: String, previousCAFingerprint: String?, notified: [String], nodeReloaded: Bool
    ) {
        self.phase = phase
        self.caFingerprint = caFingerprint
        self.previousCAFingerprint = previousCAFingerprint
        self.notified = notified
        self.nodeReloaded = nodeReloaded
    }
}
