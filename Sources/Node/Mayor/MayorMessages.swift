import Foundation
import Scheduling
import Town
import Wire

/// Message types of the Mayor (`Mayor`, docs/scheduling.md). Numbers 300–319 belong to the Mayor. JSON bodies
/// (`NodeJSON`).
///
/// A caseless namespace; nothing to share.
public enum MayorMessageType {
    /// Peer request: `MayorAdmitRequest` ("admit bead B for rig R") → `MayorAdmitReply` (admitted with node,
    /// polecat and epoch, or refused with the reason).
    public static let admit = MessageType(rawValue: 300)
    /// Local request (`gt sling --queue` and tests): `EmptyBody` → `MayorQueueReport`.
    public static let queue = MessageType(rawValue: 301)
    /// Local request (`gt node drain [--move]`, `gt node undrain`): `MayorDrainRequest` → `MayorDrainReport`.
    public static let drain = MessageType(rawValue: 302)
    /// Local request (`gt status` in a cluster): `EmptyBody` → `MayorClusterStatus`.
    public static let status = MessageType(rawValue: 303)
    /// Peer request (`gt nudge` of an agent working on another node): `MayorNudgeRequest` → `MayorNudgeReply`.
    public static let nudge = MessageType(rawValue: 304)
    /// Local request (`gt node remove`): `MayorRemoveRequest` → `MayorRemoveReport`.
    public static let remove = MessageType(rawValue: 305)

    public static let descriptors: [MessageDescriptor] = [
        MessageDescriptor(type: admit, name: "mayor-admit"),
        MessageDescriptor(type: queue, name: "mayor-queue"),
        MessageDescriptor(type: drain, name: "mayor-drain"),
        MessageDescriptor(type: status, name: "mayor-status"),
        MessageDescriptor(type: nudge, name: "mayor-nudge"),
        MessageDescriptor(type: remove, name: "mayor-remove"),
    ]
}

/// Body of `mayor-admit`: the placer asks the target to take `bead` for `rig`. `force` (failover) takes over the
/// claim of a holder whose node has been dead for the grace period. `Sendable`: a plain value.
public struct MayorAdmitRequest: Codable, Sendable, Equatable {
    public var bead: String
    public var rig: String
    /// The runtime named on `gt sling --runtime` (nil: the rig's).
    public var runtime: String?
    public var force: Bool
    /// The node that placed it.
    public var placer: String
    /// A branch on the rig's remote the new work branch starts from (a bead moved off a draining node keeps its
    /// work); nil: the rig's default branch.
    public var base: String?

    public init(
        bead: String, rig: String, runtime: String? = nil, force: Bool = false, placer: String, base: String? = nil
    ) {
        self.bead = bead
        self.rig = rig
        self.runtime = runtime
        self.force = force
        self.placer = placer
        self.base = base
    }

    /// Longest bead, rig or runtime text accepted.
    public static let maxFieldBytes = 1024

    /// Decodes and checks a request from a peer; a bad one is a `badRequest` saying what was wrong.
    public static func decode(_ bytes: [UInt8]) throws(ErrorReply) -> MayorAdmitRequest {
        let request = try NodeJSON.decode(MayorAdmitRequest.self, from: bytes)
        for (field, value) in [("bead", request.bead), ("rig", request.rig), ("placer", request.placer)] {
            guard !value.isEmpty, value.utf8.count <= maxFieldBytes else {
                throw ErrorReply(code: .badRequest, message: "mayor-admit: \(field) must be 1 to \(maxFieldBytes) bytes")
            }
        }
        if let runtime = request.runtime, runtime.isEmpty || runtime.utf8.count > maxFieldBytes {
            throw ErrorReply(code: .badRequest, message: "mayor-admit: runtime must be 1 to \(maxFieldBytes) bytes")
        }
        if let base = request.base, base.isEmpty || base.utf8.count > maxFieldBytes || base.hasPrefix("-") {
            throw ErrorReply(
                code: .badRequest, message: "mayor-admit: base must be a branch name of 1 to \(maxFieldBytes) bytes")
        }
        return request
    }
}

/// Answer to `mayor-admit`. `Sendable`: a plain value.
public struct MayorAdmitReply: Codable, Sendable, Equatable {
    public var admitted: Bool
    /// The node that admitted (or refused).
    public var node: String
    public var bead: String
    public var rig: String
    public var polecat: String
    public var epoch: Int
    public var branch: String
    public var session: String
    public var runtime: String
    /// Why it was refused (empty when admitted).
    public var reason: String
    /// A refusal about the bead itself (missing, closed, already claimed): no other node would take it either.
    public var final: Bool

    public init(
        admitted: Bool, node: String, bead: String, rig: String, polecat: String = "", epoch: Int = 0,
        branch: String = "", session: String = "", runtime: String = "", reason: String = "", final: Bool = false
    ) {
        self.admitted = admitted
        self.node = node
        self.bead = bead
        self.rig = rig
        self.polecat = polecat
        self.epoch = epoch
        self.branch = branch
        self.session = session
        self.runtime = runtime
        self.reason = reason
        self.final = final
    }

    /// A refusal.
    public static func refused(_ request: MayorAdmitRequest, node: String, _ reason: String, final: Bool = false)
        -> MayorAdmitReply
    {
        MayorAdmitReply(admitted: false, node: node, bead: request.bead, rig: request.rig, reason: reason, final: final)
    }
}

/// What `Mayor.place` did with a bead: admitted somewhere, or queued until membership reports room.
/// `Sendable`: a plain value.
public struct MayorPlacement: Codable, Sendable, Equatable {
    /// `admitted` or `queued`.
    public var status: String
    public var bead: String
    public var rig: String
    /// The node that admitted it (empty when queued).
    public var node: String
    public var polecat: String
    public var epoch: Int
    public var branch: String
    public var session: String
    public var runtime: String
    /// Why it is queued (or why the nodes before the admitting one refused).
    public var reason: String
    /// The nodes asked, in order, with each refusal.
    public var tried: [String]

    public var admitted: Bool { status == "admitted" }
}

/// One bead waiting for room (`<town>/.gt/mayor-queue.json`). `Sendable`: a plain value.
public struct MayorQueueEntry: Codable, Sendable, Equatable {
    public var bead: String
    public var rig: String
    public var runtime: String?
    public var require: [String: String]
    /// Why it could not be placed when last tried.
    public var reason: String
    /// When it was queued (ISO 8601, for people).
    public var queuedAt: String
    /// The branch its work starts from (a bead moved off a draining node); nil: the default branch.
    public var base: String? = nil

    enum CodingKeys: String, CodingKey {
        case bead, rig, runtime, require, reason, base
        case queuedAt = "queued_at"
    }
}

/// Answer to `mayor-queue`. `Sendable`: a plain value.
public struct MayorQueueReport: Codable, Sendable, Equatable {
    public var node: String
    public var queued: [MayorQueueEntry]
    /// Beads of dead nodes this node re-slung since it started.
    public var failedOver: [String]

    enum CodingKeys: String, CodingKey {
        case node, queued
        case failedOver = "failed_over"
    }
}

/// Body of `mayor-nudge`: type `text` into `agent`'s session on the node that receives it. `Sendable`: plain values.
public struct MayorNudgeRequest: Codable, Sendable, Equatable {
    public var agent: String
    public var text: String
    /// The node that forwarded it.
    public var from: String

    public init(agent: String, text: String, from: String) {
        self.agent = agent
        self.text = text
        self.from = from
    }

    /// Longest agent address accepted; longest text.
    public static let maxAgentBytes = 1024
    public static let maxTextBytes = 64 * 1024

    /// Decodes and checks a request from a peer; a bad one is a `badRequest` saying what was wrong.
    public static func decode(_ bytes: [UInt8]) throws(ErrorReply) -> MayorNudgeRequest {
        let request = try NodeJSON.decode(MayorNudgeRequest.self, from: bytes)
        guard !request.agent.isEmpty, request.agent.utf8.count <= maxAgentBytes else {
            throw ErrorReply(code: .badRequest, message: "mayor-nudge: agent must be 1 to \(maxAgentBytes) bytes")
        }
        guard request.text.utf8.count <= maxTextBytes else {
            throw ErrorReply(code: .badRequest, message: "mayor-nudge: text must be at most \(maxTextBytes) bytes")
        }
        return request
    }
}

/// Answer to `mayor-nudge` (and what `Mayor.nudge` returns): the node whose session got the text.
/// `Sendable`: plain values.
public struct MayorNudgeReply: Codable, Sendable, Equatable {
    public var node: String
    public var agent: String
    public var session: String
}

/// Body of `mayor-drain`: start draining (`draining`), and with `move` hand this node's hooked work and queue to
/// other nodes; `draining: false` takes new work again. `Sendable`: a plain value.
public struct MayorDrainRequest: Codable, Sendable, Equatable {
    public var draining: Bool
    public var move: Bool

    public init(draining: Bool, move: Bool = false) {
        self.draining = draining
        self.move = move
    }
}

/// One bead `gt node drain --move` handed off: its pushed branch and where it went. `Sendable`: a plain value.
public struct MayorMove: Codable, Sendable, Equatable {
    public var bead: String
    /// The agent that held it here.
    public var from: String
    /// The work branch pushed to the rig's remote before the session stopped ("" when it could not be pushed).
    public var branch: String
    /// `admitted` (on `node`), `queued` (placed again when a node has room) or `failed` (see `reason`).
    public var status: String
    public var node: String
    public var epoch: Int
    public var reason: String
}

/// Answer to `mayor-drain`. `Sendable`: a plain value.
public struct MayorDrainReport: Codable, Sendable, Equatable {
    public var node: String
    public var draining: Bool
    /// Hooked beads handed to other nodes (`--move`).
    public var moved: [MayorMove]
    /// Beads of this node's queue placed elsewhere (`--move`).
    public var placedFromQueue: [String]
    /// Beads still in this node's queue (its Mayor keeps placing them on other nodes while it runs).
    public var queued: [String]

    public init(node: String, draining: Bool, moved: [MayorMove], placedFromQueue: [String], queued: [String]) {
        self.node = node
        self.draining = draining
        self.moved = moved
        self.placedFromQueue = placedFromQueue
        self.queued = queued
    }

    enum CodingKeys: String, CodingKey {
        case node, draining, moved, queued
        case placedFromQueue = "placed_from_queue"
    }
}

/// Answer to `mayor-status`: the cluster as this node's Mayor sees it. `Sendable`: plain values.
public struct MayorClusterStatus: Codable, Sendable, Equatable {
    /// One member. `Sendable`: plain values.
    public struct NodeView: Codable, Sendable, Equatable {
        public var name: String
        public var status: String
        public var draining: Bool
        public var slots: Int
        public var used: Int
        public var free: Int
        public var reserved: Int
        public var rigs: [String]
        /// The polecats working on this node (from the shared ledger): address and hooked bead.
        public var polecats: [PolecatView]
    }

    /// A polecat at work. `Sendable`: plain values.
    public struct PolecatView: Codable, Sendable, Equatable {
        public var agent: String
        public var bead: String
        public var epoch: Int
    }

    /// An open convoy's progress. `Sendable`: plain values.
    public struct ConvoySummary: Codable, Sendable, Equatable {
        public var id: String
        public var name: String
        public var done: Int
        public var total: Int
    }

    /// The node that answered.
    public var node: String
    public var nodes: [NodeView]
    /// The answering node's Mayor queue.
    public var queued: [MayorQueueEntry]
    public var convoys: [ConvoySummary]
    /// The runtime accounts rate-limited anywhere in the cluster (from every member's metadata); absent from an
    /// older node's answer.
    public var rateLimits: [ClusterRateLimit]? = nil

    enum CodingKeys: String, CodingKey {
        case node, nodes, queued, convoys
        case rateLimits = "rate_limits"
    }
}

/// The Mayor's part of town.json: the cluster's placement policy and failover timing.
///
/// ```json
/// "placement": {"rules": [{"rig": "secret", "require": {"org": "acme"}}], "failover_grace_seconds": 180}
/// ```
/// Sendable: plain value.
public struct MayorConfig: Sendable, Equatable {
    public var policy = Placement.Policy()
    /// How long a node must have been reported dead before its hooked beads are re-slung. Default 180 s.
    public var grace: Duration = .seconds(180)
    /// `node.slots` when set (else the sum of the rigs' `max_polecats`).
    public var slots: Int?

    public init() {}

    /// The Mayor's part of a decoded town.json.
    public init(_ file: TownFile) {
        policy.rules = file.placement.rules
        if let grace = file.placement.failoverGrace { self.grace = grace }
        slots = file.node.slots
    }

    /// Reads `placement` (and `node.slots`) from town.json's bytes (through `TownFile`, its one reader); a wrong
    /// shape is an error naming the key.
    public static func decode(_ data: Data, path: String) throws(NodeError) -> MayorConfig {
        do throws(TownFileError) { return MayorConfig(try TownFile.decode(data, path: path)) } catch {
            throw NodeError(error)
        }
    }
}
