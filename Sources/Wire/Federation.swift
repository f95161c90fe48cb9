/// Message types of federation between organizations (400–419): reads of another organization's beads, and delegation.
/// A federated request travels on a link of the federation trust domain (`Transport`'s `FederationDirectory`),
/// never on a cluster link. Bodies carry their own version byte so they can grow without a new type.
extension MessageType {
    /// A peer organization asks for beads (`FederatedReadRequest` → `FederatedReadReply`).
    public static let federatedRead = MessageType(rawValue: 400)
    /// A peer organization hands us a bead to work on (`FederatedDelegateRequest` → `FederatedDelegateReply`).
    public static let federatedDelegate = MessageType(rawValue: 401)
}

/// A read of another organization's beads: one bead (`show`) or a filtered list (`list`) of one rig.
///
/// Body (version 1): version u8 (1), kind u8 (0 show, 1 list), rig short string, bead id short string (show;
/// empty for list), status short string (empty = any), type short string (empty = any), limit u32 (list; at
/// most `maxLimit`). Decoding checks every field and refuses trailing bytes. `Sendable`: a plain value.
public struct FederatedReadRequest: Equatable, Sendable {
    public static let version: UInt8 = 1
    /// The most beads one list may ask for. 1,000.
    public static let maxLimit: UInt32 = 1_000

    /// What is asked for.
    public enum Query: Equatable, Sendable {
        case show(id: String)
        case list(status: String?, type: String?, limit: UInt32)
    }

    public var rig: String
    public var query: Query

    public init(rig: String, query: Query) {
        self.rig = rig
        self.query = query
    }

    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(Self.version)
        switch query {
        case .show(let id):
            writer.write(UInt8(0))
            writer.writeShort(rig)
            writer.writeShort(id)
            writer.writeShort("")
            writer.writeShort("")
            writer.write(UInt32(0))
        case .list(let status, let type, let limit):
            writer.write(UInt8(1))
            writer.writeShort(rig)
            writer.writeShort("")
            writer.writeShort(status ?? "")
            writer.writeShort(type ?? "")
            writer.write(limit)
        }
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(WireError) -> FederatedReadRequest {
        var reader = BinaryReader(bytes)
        let version = try reader.readUInt8("version")
        guard version == Self.version else {
            throw .invalidValue(field: "version", reason: "federated read version \(version), this node speaks 1")
        }
        let kind = try reader.readUInt8("kind")
        let rig = try reader.readShortString("rig")
        let id = try reader.readShortString("id")
        let status = try reader.readShortString("status")
        let type = try reader.readShortString("type")
        let limit = try reader.readUInt32("limit")
        try reader.expectEnd()
        guard !rig.isEmpty, rig.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x2F && $0 < 0x7F }) else {
            throw .invalidValue(field: "rig", reason: "empty, or holds spaces, '/' or non-ASCII")
        }
        switch kind {
        case 0:
            guard !id.isEmpty, id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw .invalidValue(field: "id", reason: "a show needs a printable bead id")
            }
            guard status.isEmpty, type.isEmpty, limit == 0 else {
                throw .invalidValue(field: "kind", reason: "a show carries no filters")
            }
            return FederatedReadRequest(rig: rig, query: .show(id: id))
        case 1:
            guard id.isEmpty else { throw .invalidValue(field: "id", reason: "a list names no bead") }
            guard (1...maxLimit).contains(limit) else {
                throw .invalidValue(field: "limit", reason: "\(limit), allowed 1...\(maxLimit)")
            }
            return FederatedReadRequest(
                rig: rig, query: .list(status: status.isEmpty ? nil : status, type: type.isEmpty ? nil : type, limit: limit))
        default:
            throw .invalidValue(field: "kind", reason: "\(kind) is neither 0 (show) nor 1 (list)")
        }
    }
}

/// The answer to a `FederatedReadRequest`: the answering organization's name and the beads, each one line of
/// beads' JSONL export (what `bd show --json` prints per bead).
///
/// Body (version 1): version u8 (1), organization short string, count u32 (at most
/// `FederatedReadRequest.maxLimit`), then count strings (u32 length, each at most `maxBeadBytes`).
/// The count is checked against the bytes left before anything is allocated. `Sendable`: a plain value.
public struct FederatedReadReply: Equatable, Sendable {
    public static let version: UInt8 = 1
    /// The largest bead line accepted. 1 MiB.
    public static let maxBeadBytes = 1 << 20

    public var organization: String
    public var beads: [String]

    public init(organization: String, beads: [String]) {
        self.organization = organization
        self.beads = beads
    }

    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(Self.version)
        writer.writeShort(organization)
        writer.write(UInt32(beads.count))
        for bead in beads { writer.write(bead) }
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(WireError) -> FederatedReadReply {
        var reader = BinaryReader(bytes)
        let version = try reader.readUInt8("version")
        guard version == Self.version else {
            throw .invalidValue(field: "version", reason: "federated reply version \(version), this node speaks 1")
        }
        let organization = try reader.readShortString("organization")
        let count = try reader.readUInt32("count")
        guard count <= FederatedReadRequest.maxLimit else {
            throw .invalidValue(field: "count", reason: "\(count) beads, over \(FederatedReadRequest.maxLimit)")
        }
        // Every bead takes at least its 4-byte length prefix: a count the bytes cannot hold fails before reserving.
        guard Int(count) * 4 <= reader.remainingCount else { throw .truncated(field: "beads") }
        var beads: [String] = []
        beads.reserveCapacity(Int(count))
        for _ in 0..<count {
            let line = try reader.readString("bead")
            guard line.utf8.count <= maxBeadBytes else {
                throw .invalidValue(field: "bead", reason: "a bead line over \(maxBeadBytes) bytes")
            }
            beads.append(line)
        }
        try reader.expectEnd()
        return FederatedReadReply(organization: organization, beads: beads)
    }
}

/// A delegation (`gt delegate <bead> --to <org>`): the requester's bead (its `hop://` address, title and
/// description), the rig of the receiver it should land in (empty: the receiver picks), the acceptance gate command
/// the requester will run on the returned branch, the agent-hours budget and the deadline.
///
/// Body (version 1): version u8 (1), origin short string (`hop://<org>/<rig>/<id>`), rig short string, title
/// string (at most `maxTitleBytes`), description string (at most `maxDescriptionBytes`), gate string (at most
/// `maxGateBytes`, not empty), budget u32 (thousandths of an agent-hour; 0 = none), deadline u64 (Unix seconds;
/// 0 = none), return-to string (the git remote the receiver pushes the finished branch to, at most `maxGateBytes`;
/// empty = none). Decoding checks every field and refuses trailing bytes. `Sendable`: a plain value.
public struct FederatedDelegateRequest: Equatable, Sendable {
    public static let version: UInt8 = 1
    /// 2,000 bytes (a bead title is at most 500 characters).
    public static let maxTitleBytes = 2_000
    /// 64 KiB.
    public static let maxDescriptionBytes = 64 * 1024
    /// 4 KiB.
    public static let maxGateBytes = 4 * 1024

    public var origin: String
    public var rig: String
    public var title: String
    public var description: String
    public var gate: String
    /// Thousandths of an agent-hour (0: no budget of its own).
    public var budgetMilliHours: UInt32
    /// Unix seconds (0: no deadline).
    public var deadline: UInt64
    /// Where the receiver pushes the finished branch (`delegated/<receiver>/<bead>`): a git remote URL or path.
    public var returnTo: String

    public init(
        origin: String, rig: String, title: String, description: String, gate: String, budgetMilliHours: UInt32 = 0,
        deadline: UInt64 = 0, returnTo: String = ""
    ) {
        self.returnTo = returnTo
        self.origin = origin
        self.rig = rig
        self.title = title
        self.description = description
        self.gate = gate
        self.budgetMilliHours = budgetMilliHours
        self.deadline = deadline
    }

    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(Self.version)
        writer.writeShort(origin)
        writer.writeShort(rig)
        writer.write(title)
        writer.write(description)
        writer.write(gate)
        writer.write(budgetMilliHours)
        writer.write(deadline)
        writer.write(returnTo)
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(WireError) -> FederatedDelegateRequest {
        var reader = BinaryReader(bytes)
        let version = try reader.readUInt8("version")
        guard version == Self.version else {
            throw .invalidValue(field: "version", reason: "delegation version \(version), this node speaks 1")
        }
        let origin = try reader.readShortString("origin")
        let rig = try reader.readShortString("rig")
        let title = try reader.readString("title")
        let description = try reader.readString("description")
        let gate = try reader.readString("gate")
        let budget = try reader.readUInt32("budget")
        let deadline = try reader.readUInt64("deadline")
        let returnTo = try reader.readString("return_to")
        try reader.expectEnd()
        guard returnTo.utf8.count <= maxGateBytes, !returnTo.contains("\n") else {
            throw .invalidValue(field: "return_to", reason: "over \(maxGateBytes) bytes or several lines")
        }
        guard origin.hasPrefix("hop://"), origin.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .invalidValue(field: "origin", reason: "not a hop:// address")
        }
        guard rig.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x2F && $0 < 0x7F }) else {
            throw .invalidValue(field: "rig", reason: "holds spaces, '/' or non-ASCII")
        }
        guard !title.isEmpty, title.utf8.count <= maxTitleBytes else {
            throw .invalidValue(field: "title", reason: "empty or over \(maxTitleBytes) bytes")
        }
        guard description.utf8.count <= maxDescriptionBytes else {
            throw .invalidValue(field: "description", reason: "over \(maxDescriptionBytes) bytes")
        }
        guard !gate.isEmpty, gate.utf8.count <= maxGateBytes else {
            throw .invalidValue(field: "gate", reason: "empty or over \(maxGateBytes) bytes")
        }
        guard deadline <= UInt64(Int64.max) else { throw .invalidValue(field: "deadline", reason: "out of range") }
        return FederatedDelegateRequest(
            origin: origin, rig: rig, title: title, description: description, gate: gate, budgetMilliHours: budget,
            deadline: deadline, returnTo: returnTo)
    }
}

/// The receiver's answer to a `FederatedDelegateRequest`: accepted (with the linked bead it recorded and the rig
/// it landed in) or refused (with the reason, and whether it was a budget).
///
/// Body (version 1): version u8 (1), outcome u8 (0 accepted, 1 refused, 2 refused: budget exhausted), bead short
/// string (accepted; else empty), rig short string, reason string (refused; at most 4 KiB). `Sendable`: a plain value.
public struct FederatedDelegateReply: Equatable, Sendable {
    public static let version: UInt8 = 1

    public enum Outcome: UInt8, Sendable {
        case accepted = 0
        case refused = 1
        case budgetExhausted = 2
    }

    public var outcome: Outcome
    public var bead: String
    public var rig: String
    public var reason: String

    public init(outcome: Outcome, bead: String = "", rig: String = "", reason: String = "") {
        self.outcome = outcome
        self.bead = bead
        self.rig = rig
        self.reason = reason
    }

    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(Self.version)
        writer.write(outcome.rawValue)
        writer.writeShort(bead)
        writer.writeShort(rig)
        writer.write(reason)
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(WireError) -> FederatedDelegateReply {
        var reader = BinaryReader(bytes)
        let version = try reader.readUInt8("version")
        guard version == Self.version else {
            throw .invalidValue(field: "version", reason: "delegation reply version \(version), this node speaks 1")
        }
        let raw = try reader.readUInt8("outcome")
        guard let outcome = Outcome(rawValue: raw) else {
            throw .invalidValue(field: "outcome", reason: "\(raw) is not 0, 1 or 2")
        }
        let bead = try reader.readShortString("bead")
        let rig = try reader.readShortString("rig")
        let reason = try reader.readString("reason")
        try reader.expectEnd()
        guard reason.utf8.count <= 4 * 1024 else { throw .invalidValue(field: "reason", reason: "over 4 KiB") }
        guard (outcome == .accepted) == !bead.isEmpty else {
            throw .invalidValue(field: "bead", reason: "an accepted delegation names its bead, a refused one none")
        }
        return FederatedDelegateReply(outcome: outcome, bead: bead, rig: rig, reason: reason)
    }
}

extension MessageType {
    /// The requester tells the receiver how a delegation ended (`FederatedDelegationVerdict`; empty answer).
    public static let federatedDelegationVerdict = MessageType(rawValue: 404)
}

/// How a delegation ended, as the requester tells the receiver: the delegation's origin (`hop://` address of the
/// requester's bead), the verdict (0 accepted: merged; 1 rejected: the gate failed; 2 withdrawn: expired; 3 withdrawn:
/// budget exhausted) and the gate's output (at most 64 KiB).
///
/// Body (version 1): version u8 (1), origin short string, verdict u8, output string. `Sendable`: a plain value.
public struct FederatedDelegationVerdict: Equatable, Sendable {
    public static let version: UInt8 = 1
    public var origin: String
    public var verdict: UInt8
    public var output: String

    public init(origin: String, verdict: UInt8, output: String = "") {
        self.origin = origin
        self.verdict = verdict
        self.output = output
    }

    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(Self.version)
        writer.writeShort(origin)
        writer.write(verdict)
        writer.write(output)
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(WireError) -> FederatedDelegationVerdict {
        var reader = BinaryReader(bytes)
        let version = try reader.readUInt8("version")
        guard version == Self.version else {
            throw .invalidValue(field: "version", reason: "verdict version \(version), this node speaks 1")
        }
        let origin = try reader.readShortString("origin")
        let verdict = try reader.readUInt8("verdict")
        let output = try reader.readString("output")
        try reader.expectEnd()
        guard origin.hasPrefix("hop://") else { throw .invalidValue(field: "origin", reason: "not a hop:// address") }
        guard verdict <= 3 else { throw .invalidValue(field: "verdict", reason: "\(verdict) is not 0-3") }
        guard output.utf8.count <= 64 * 1024 else { throw .invalidValue(field: "output", reason: "over 64 KiB") }
        return FederatedDelegationVerdict(origin: origin, verdict: verdict, output: output)
    }
}
