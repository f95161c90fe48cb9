/// Message types of federation between organizations (400–419): reads of another organization's beads.
/// A federated request travels on a link of the federation trust domain (`Transport`'s `FederationDirectory`),
/// never on a cluster link. Bodies carry their own version byte so they can grow without a new type.
extension MessageType {
    /// A peer organization asks for beads (`FederatedReadRequest` → `FederatedReadReply`).
    public static let federatedRead = MessageType(rawValue: 400)
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
