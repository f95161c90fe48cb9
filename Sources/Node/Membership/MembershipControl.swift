import Foundation
import Membership
import Transport
import Wire

/// The membership shell's message types and the local control protocol behind `gt node list`, `info`,
/// `leave` and `drain`: JSON bodies over the node's Unix socket, in the same frames as everything else.
///
/// Types 200–209 belong to membership: 200 the peer protocol (``Wire/MessageType/membership``), 201–204
/// local requests. A caseless namespace; nothing to share.
public enum MembershipControl {
    /// Local request, empty body → `[MemberReport]` (every known member, sorted by name).
    public static let list = MessageType(rawValue: 201)
    /// Local request, empty body → ``MembershipInfo``.
    public static let info = MessageType(rawValue: 202)
    /// Local request, empty body → ``MemberReport`` of this node after leaving (the node keeps running
    /// without membership until stopped).
    public static let leave = MessageType(rawValue: 203)
    /// Local request, ``DrainRequest`` → ``MemberReport`` of this node.
    public static let drain = MessageType(rawValue: 204)

    /// Local request, ``FloodRequest`` → ``FloodReport``: load the general link to a peer with large frames
    /// (pings with big bodies, echoed back) for a while. A diagnostic: membership must not suspect a peer
    /// that is busy with bulk traffic, because probes travel on their own link.
    public static let flood = MessageType(rawValue: 205)

    /// Every membership message type, for the node's registry.
    public static let descriptors: [MessageDescriptor] = [
        MessageDescriptor(type: .membership, name: "membership"),
        MessageDescriptor(type: list, name: "membership-list"),
        MessageDescriptor(type: info, name: "membership-info"),
        MessageDescriptor(type: leave, name: "membership-leave"),
        MessageDescriptor(type: drain, name: "membership-drain"),
        MessageDescriptor(type: flood, name: "membership-flood"),
    ]

    /// The local-only request types (refused when they come from a peer).
    public static let localOnly: Set<MessageType> = [list, info, leave, drain, flood]

    /// Answers one local control request with `shell`; throws an `ErrorReply` for a bad body, a request
    /// from a peer (not the Unix socket) or a type that is not a control request.
    public static func answer(_ message: InboundMessage, with shell: MembershipShell) async throws(ErrorReply)
        -> [UInt8]
    {
        let type = message.envelope.type
        guard localOnly.contains(type) else {
            throw ErrorReply(code: .unknownMessageType, message: "\(type) is not a membership control request")
        }
        guard message.peer.purpose == .local else {
            throw ErrorReply(
                code: .refused, message: "membership control requests are accepted only from the local CLI")
        }
        switch type {
        case flood:
            throw ErrorReply(code: .unavailable, message: "flood is served by the node's membership component")
        case list:
            return encode(await shell.members.map(MemberReport.init))
        case info:
            return encode(await MembershipInfo(shell))
        case leave:
            await shell.leave()
            return encode(MemberReport(await shell.ownMember))
        default:
            let request = try decode(DrainRequest.self, from: message.envelope.body)
            do {
                try await shell.setDraining(request.draining)
            } catch {
                throw ErrorReply(code: .refused, message: error.description)
            }
            return encode(MemberReport(await shell.ownMember))
        }
    }

    /// JSON as the node's other bodies: sorted keys, slashes unescaped.
    public static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? Array(encoder.encode(value))) ?? Array("{}".utf8)
    }

    /// Decodes a body from outside; a bad body is an `ErrorReply` with `badRequest` saying what was wrong.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(ErrorReply) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(bytes.isEmpty ? Array("{}".utf8) : bytes))
        } catch {
            throw ErrorReply(code: .badRequest, message: "malformed \(T.self) body: \(error)")
        }
    }
}

/// Body of the drain request: start (`true`) or stop (`false`, `gt node drain --undo`) draining.
///
/// Sendable: plain value.
public struct DrainRequest: Codable, Sendable, Equatable {
    /// True to drain, false to undo.
    public var draining: Bool
    /// Makes a request.
    public init(draining: Bool) { self.draining = draining }
}

/// Body of the flood request.
///
/// Sendable: plain value.
public struct FloodRequest: Codable, Sendable, Equatable {
    /// The peer (node name) to load.
    public var peer: String
    /// How long to keep sending, seconds.
    public var seconds: Double
    /// Body bytes per frame (at most the general frame limit, 16 MiB, minus the envelope).
    public var frameBytes: Int
    /// Frames in flight at once.
    public var concurrency: Int

    enum CodingKeys: String, CodingKey {
        case peer, seconds, concurrency
        case frameBytes = "frame_bytes"
    }

    /// Makes a request.
    public init(peer: String, seconds: Double, frameBytes: Int, concurrency: Int) {
        self.peer = peer
        self.seconds = seconds
        self.frameBytes = frameBytes
        self.concurrency = concurrency
    }
}

/// What a flood did.
///
/// Sendable: plain value.
public struct FloodReport: Codable, Sendable, Equatable {
    public var peer: String
    /// Frames sent and echoed back.
    public var frames: Int
    /// Body bytes sent (the same came back).
    public var bytes: Int
    public var seconds: Double
    /// Frames that failed (timeout, closed link); the first error.
    public var failures: Int
    public var firstError: String?

    enum CodingKeys: String, CodingKey {
        case peer, frames, bytes, seconds, failures
        case firstError = "first_error"
    }
}

/// One member as `gt node list` shows it (like `serf members`): name, address, status, capacity, labels,
/// version.
///
/// Sendable: plain value.
public struct MemberReport: Codable, Sendable, Equatable {
    public var name: String
    public var address: String
    /// `alive`, `suspect`, `failed` or `left`.
    public var status: String
    public var incarnation: UInt64
    public var freeSlots: UInt32
    public var runningAgents: UInt32
    /// Slots the Mayor reserved for admitted beads whose sessions have not started.
    public var reservedSlots: UInt32
    public var loadAverage: Double
    public var freeMemoryBytes: UInt64
    /// org, region, os, gpu and custom labels, flattened (`key=value`).
    public var labels: [String: String]
    public var rigs: [String]
    public var runtimes: [String]
    public var version: String
    public var draining: Bool
    public var metadataVersion: UInt64

    enum CodingKeys: String, CodingKey {
        case name, address, status, incarnation, labels, rigs, runtimes, version, draining
        case freeSlots = "free_slots"
        case runningAgents = "running_agents"
        case reservedSlots = "reserved_slots"
        case loadAverage = "load_average"
        case freeMemoryBytes = "free_memory_bytes"
        case metadataVersion = "metadata_version"
    }

    /// The report of `member`.
    public init(_ member: Membership.Member) {
        let md = member.metadata
        name = member.name
        address = member.node.address
        status = member.status.description
        incarnation = member.incarnation
        freeSlots = md.freeSlots
        runningAgents = md.runningAgents
        reservedSlots = md.reservedSlots
        loadAverage = md.loadAverage
        freeMemoryBytes = md.freeMemoryBytes
        var labels = md.labels.custom
        for (key, value) in [
            ("org", md.labels.org), ("region", md.labels.region), ("os", md.labels.os),
            ("gpu", md.labels.gpu),
        ] {
            if let value { labels[key] = value }
        }
        self.labels = labels
        rigs = md.rigs
        runtimes = md.runtimes
        version = md.softwareVersion
        draining = md.draining
        metadataVersion = md.version
    }
}

/// What `gt node info` shows: this node's own view, health and traffic.
///
/// Sendable: plain value.
public struct MembershipInfo: Codable, Sendable, Equatable {
    /// This node.
    public var myself: MemberReport
    /// `idle`, `running` or `left`.
    public var phase: String
    /// Lifeguard's local health score (0 = healthy).
    public var awareness: Int
    /// Members by status (`alive`, `suspect`, `failed`, `left`).
    public var members: [String: Int]
    /// Membership traffic so far.
    public var traffic: MembershipTraffic
    /// Probe interval, probe timeout and gossip interval in ms, and the suspicion timeout bounds for the
    /// current cluster size.
    public var timing: [String: Double]

    /// The info of `shell` now.
    public init(_ shell: MembershipShell) async {
        let members = await shell.members
        myself = MemberReport(await shell.ownMember)
        switch await shell.phase {
        case .idle: phase = "idle"
        case .running: phase = "running"
        case .left: phase = "left"
        }
        awareness = await shell.awareness
        var counts: [String: Int] = [:]
        for member in members { counts[member.status.description, default: 0] += 1 }
        self.members = counts
        traffic = shell.traffic
        let p = shell.settings.protocolSettings
        let live = max(1, members.filter { $0.status.isLive }.count)
        let ms = { (d: Duration) in Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }
        timing = [
            "probe_interval_ms": ms(p.probeInterval), "probe_timeout_ms": ms(p.probeTimeout),
            "gossip_interval_ms": ms(p.gossipInterval),
            "suspicion_min_ms": ms(p.minSuspicionTimeout(members: live)),
            "suspicion_max_ms": ms(p.maxSuspicionTimeout(members: live)),
        ]
    }
}
