extension Membership {
    /// Why bytes could not be decoded as a membership message. Each case says what was wrong; the shell
    /// should drop the message (and may log the peer): membership needs no reply to garbage.
    ///
    /// Sendable: plain value.
    public enum DecodeError: Error, Hashable, Sendable, CustomStringConvertible {
        /// The input ended early while reading `field`.
        case truncated(field: String, offset: Int)
        /// The codec version byte is not one this build reads (0: no release writes it).
        case unsupportedVersion(UInt8)
        /// Unknown message type byte.
        case unknownMessageType(UInt8)
        /// Unknown gossip item kind byte.
        case unknownGossipKind(UInt8)
        /// Unknown member status byte.
        case unknownStatus(UInt8)
        /// A varint was longer than 10 bytes or overflowed 64 bits.
        case malformedVarint(field: String, offset: Int)
        /// A length or count exceeded its decoder limit.
        case tooLarge(field: String, value: UInt64, limit: Int)
        /// A string was not valid UTF-8.
        case invalidUTF8(field: String)
        /// A value was out of range (for example a flag byte other than 0 or 1).
        case invalidValue(field: String, value: UInt64)
        /// Bytes were left after a complete message.
        case trailingBytes(count: Int)
        /// The message leaves out `field` (the sender or the receiver, which the authenticated link names),
        /// but the decoder was not told it: pass `sender:` and `receiver:` to
        /// ``Membership/Message/decode(_:limits:sender:receiver:)``.
        case elided(field: String)

        public var description: String {
            switch self {
            case .truncated(let f, let o): "membership message truncated reading \(f) at byte \(o)"
            case .unsupportedVersion(let v):
                "membership codec version \(v) is not supported (this build reads 1 to 4 and any later one)"
            case .unknownMessageType(let t): "unknown membership message type \(t)"
            case .unknownGossipKind(let k): "unknown gossip item kind \(k)"
            case .unknownStatus(let s): "unknown member status \(s)"
            case .malformedVarint(let f, let o): "malformed varint for \(f) at byte \(o)"
            case .tooLarge(let f, let v, let l): "\(f) is \(v), over the limit of \(l)"
            case .invalidUTF8(let f): "\(f) is not valid UTF-8"
            case .invalidValue(let f, let v): "invalid value \(v) for \(f)"
            case .trailingBytes(let n): "\(n) unexpected bytes after the membership message"
            case .elided(let f): "the membership message leaves out the \(f), and the link did not name it"
            }
        }
    }
}

/// Appends the compact binary form: LEB128 varints, length-prefixed UTF-8 strings.
struct ByteWriter {
    var bytes: [UInt8] = []
    /// The codec version being written (3 adds metadata's reserved slots, 4 the extension entries).
    var codec: UInt8 = 2
    /// Extension entries written at the end of every metadata when `codec >= 4` (tag, bytes). This build defines
    /// none; tests write some to play a newer node.
    var metadataExtensions: [(tag: UInt64, bytes: [UInt8])] = []

    mutating func byte(_ b: UInt8) { bytes.append(b) }

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func string(_ s: String) {
        let utf8 = s.utf8
        varint(UInt64(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    mutating func optionalString(_ s: String?) {
        if let s {
            byte(1)
            string(s)
        } else {
            byte(0)
        }
    }

    mutating func bool(_ b: Bool) { byte(b ? 1 : 0) }
}

/// Reads what ``ByteWriter`` wrote, checking every length against ``Membership/CodecLimits`` first.
struct ByteReader {
    let bytes: [UInt8]
    var offset = 0
    let limits: Membership.CodecLimits
    /// The codec version being read (3 adds metadata's reserved slots, 4 and later the extension entries).
    var codec: UInt8 = 2

    var remaining: Int { bytes.count - offset }

    mutating func byte(_ field: String) throws(Membership.DecodeError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated(field: field, offset: offset) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func varint(_ field: String) throws(Membership.DecodeError) -> UInt64 {
        let start = offset
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte(field)
            if shift == 63 && b > 1 { throw .malformedVarint(field: field, offset: start) }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw .malformedVarint(field: field, offset: start) }
        }
    }

    mutating func uint32(_ field: String) throws(Membership.DecodeError) -> UInt32 {
        let v = try varint(field)
        guard let r = UInt32(exactly: v) else { throw .invalidValue(field: field, value: v) }
        return r
    }

    mutating func count(_ field: String, limit: Int) throws(Membership.DecodeError) -> Int {
        let n = try varint(field)
        guard n <= UInt64(limit) else { throw .tooLarge(field: field, value: n, limit: limit) }
        return Int(n)
    }

    mutating func string(_ field: String) throws(Membership.DecodeError) -> String {
        let n = try count(field + " length", limit: limits.maxStringBytes)
        guard n <= remaining else { throw .truncated(field: field, offset: offset) }
        let slice = bytes[offset..<(offset + n)]
        offset += n
        guard let s = String(validating: slice, as: UTF8.self) else { throw .invalidUTF8(field: field) }
        return s
    }

    mutating func optionalString(_ field: String) throws(Membership.DecodeError) -> String? {
        try bool(field + " present") ? try string(field) : nil
    }

    mutating func bool(_ field: String) throws(Membership.DecodeError) -> Bool {
        let b = try byte(field)
        guard b <= 1 else { throw .invalidValue(field: field, value: UInt64(b)) }
        return b == 1
    }
}

extension Membership.Message {
    /// The codec version written as the first byte. Version 2 adds the elision flags of the type byte;
    /// version 1 (no flags) is still read. Version 3 is version 2 plus a trailing `reservedSlots` varint in every
    /// metadata; it is written only when some metadata in the message has reserved slots, so a cluster of older
    /// nodes (which read 1 and 2) keeps reading every message without reservations.
    public static let codecVersion: UInt8 = 2
    /// The version written for a message carrying reserved slots.
    public static let reservationCodecVersion: UInt8 = 3
    /// The first extensible version: version 3's layout, plus an extension list at the end of every metadata
    /// (varint count, then per entry a varint tag, a varint length and that many bytes), a varint length after the
    /// kind byte of every gossip item of a kind above 5, and any bytes after the message. A reader skips extension
    /// entries, gossip kinds and trailing bytes it does not know, and reads every version from 4 on as version 4,
    /// so a later release may add fields only that way (docs/membership.md "Codec versions"). This build reads it
    /// and writes none of it: a release writes version 4 only once no member runs a release older than this one.
    public static let extensibleCodecVersion: UInt8 = 4

    /// Whether any metadata in this message has reserved slots (then it needs codec version 3).
    var carriesReservations: Bool {
        func any(_ gossip: [Membership.Gossip]) -> Bool {
            gossip.contains { if case .metadata(_, let md) = $0 { return md.reservedSlots != 0 } else { return false } }
        }
        switch self {
        case .ping(_, _, _, let g), .pingRequest(_, _, _, _, let g), .ack(_, _, let g), .gossip(_, let g): return any(g)
        case .nack: return false
        case .pushPull(_, _, _, let members): return members.contains { $0.metadata.reservedSlots != 0 }
        }
    }

    /// Type-byte flag: the sender is left out (it is the link's authenticated peer).
    static let senderElided: UInt8 = 0x10
    /// Type-byte flag: a ping's target is left out (it is the receiver).
    static let targetElided: UInt8 = 0x20

    /// The compact binary form of this message (version byte, type byte, fields), complete: any receiver
    /// can read it.
    public func encode() -> [UInt8] { encode(for: nil) }

    /// The compact binary form for the member `receiver` over a link that authenticates both ends: the
    /// sender's name and address (the receiver has the link's peer name and knows the address from its
    /// member list) and a ping's target when it is the receiver are left out. A push-pull is always
    /// complete. `receiver` nil: nothing is left out. Decode with the link's names,
    /// ``decode(_:limits:sender:receiver:)``.
    public func encode(for receiver: String?) -> [UInt8] {
        encode(for: receiver, codec: carriesReservations ? Self.reservationCodecVersion : Self.codecVersion)
    }

    /// The form of codec version `codec` (2 or more), with `metadataExtensions` in every metadata from version 4
    /// on: what tests use to play a node of another release.
    func encode(
        for receiver: String?, codec: UInt8, metadataExtensions: [(tag: UInt64, bytes: [UInt8])] = []
    ) -> [UInt8] {
        var w = ByteWriter()
        w.codec = codec
        w.metadataExtensions = metadataExtensions
        w.byte(w.codec)
        let elideSender: Bool
        if case .pushPull = self { elideSender = false } else { elideSender = receiver != nil }
        let senderFlag = elideSender ? Self.senderElided : 0
        func sender(_ from: Membership.Node) { if !elideSender { w.node(from) } }
        switch self {
        case .ping(let seq, let from, let target, let gossip):
            let elideTarget = receiver != nil && target == receiver
            w.byte(1 | senderFlag | (elideTarget ? Self.targetElided : 0))
            w.varint(UInt64(seq))
            sender(from)
            if !elideTarget { w.string(target) }
            w.gossipList(gossip)
        case .pingRequest(let seq, let from, let target, let wantsNack, let gossip):
            w.byte(2 | senderFlag)
            w.varint(UInt64(seq))
            sender(from)
            w.node(target)
            w.bool(wantsNack)
            w.gossipList(gossip)
        case .ack(let seq, let from, let gossip):
            w.byte(3 | senderFlag)
            w.varint(UInt64(seq))
            sender(from)
            w.gossipList(gossip)
        case .nack(let seq, let from):
            w.byte(4 | senderFlag)
            w.varint(UInt64(seq))
            sender(from)
        case .gossip(let from, let gossip):
            w.byte(5 | senderFlag)
            sender(from)
            w.gossipList(gossip)
        case .pushPull(let from, let isResponse, let isJoin, let members):
            w.byte(6)
            w.node(from)
            w.bool(isResponse)
            w.bool(isJoin)
            w.varint(UInt64(members.count))
            for m in members { w.member(m) }
        }
        return w.bytes
    }

    /// Decodes a message, enforcing `limits` before allocating; throws a ``Membership/DecodeError`` that
    /// says what was wrong. `sender` and `receiver` are the link's authenticated peer and this node: they
    /// fill in what ``encode(for:)`` left out (an elided sender gets an empty address; the instance looks
    /// it up in its member list).
    public static func decode(
        _ bytes: [UInt8], limits: Membership.CodecLimits = Membership.CodecLimits(), sender: String? = nil,
        receiver: String? = nil
    ) throws(Membership.DecodeError) -> Membership.Message {
        guard bytes.count <= limits.maxMessageBytes else {
            throw .tooLarge(field: "message size", value: UInt64(bytes.count), limit: limits.maxMessageBytes)
        }
        var r = ByteReader(bytes: bytes, limits: limits)
        let version = try r.byte("codec version")
        guard version >= 1 else { throw .unsupportedVersion(version) }
        r.codec = min(version, extensibleCodecVersion)
        let typeByte = try r.byte("message type")
        let flags = version == 1 ? 0 : typeByte & (senderElided | targetElided)
        let type = version == 1 ? typeByte : typeByte & 0x0F
        guard typeByte & ~(0x0F | senderElided | targetElided) == 0 || version == 1 else {
            throw .unknownMessageType(typeByte)
        }
        func from(_ field: String) throws(Membership.DecodeError) -> Membership.Node {
            guard flags & senderElided != 0 else { return try r.node(field) }
            guard let sender else { throw .elided(field: "sender") }
            return Membership.Node(name: sender, address: "")
        }
        if flags & targetElided != 0 && type != 1 { throw .invalidValue(field: "target flag", value: UInt64(typeByte)) }
        if flags & senderElided != 0 && type == 6 { throw .invalidValue(field: "sender flag", value: UInt64(typeByte)) }
        let message: Membership.Message
        switch type {
        case 1:
            let seq = try r.uint32("ping seq")
            let pinger = try from("ping sender")
            let target: String
            if flags & targetElided != 0 {
                guard let receiver else { throw .elided(field: "ping target") }
                target = receiver
            } else {
                target = try r.string("ping target")
            }
            message = .ping(seq: seq, from: pinger, target: target, gossip: try r.gossipList())
        case 2:
            let seq = try r.uint32("ping-req seq")
            message = .pingRequest(
                seq: seq, from: try from("ping-req sender"), target: try r.node("ping-req target"),
                wantsNack: try r.bool("ping-req wants nack"), gossip: try r.gossipList())
        case 3:
            let seq = try r.uint32("ack seq")
            message = .ack(seq: seq, from: try from("ack sender"), gossip: try r.gossipList())
        case 4:
            let seq = try r.uint32("nack seq")
            message = .nack(seq: seq, from: try from("nack sender"))
        case 5:
            message = .gossip(from: try from("gossip sender"), gossip: try r.gossipList())
        case 6:
            let from = try r.node("push-pull sender")
            let isResponse = try r.bool("push-pull response flag")
            let isJoin = try r.bool("push-pull join flag")
            let n = try r.count("push-pull member count", limit: limits.maxMembers)
            var members: [Membership.Member] = []
            members.reserveCapacity(min(n, r.remaining))
            for _ in 0..<n { members.append(try r.member()) }
            message = .pushPull(from: from, isResponse: isResponse, isJoin: isJoin, members: members)
        default:
            throw .unknownMessageType(typeByte)
        }
        // From version 4 on, bytes after the message are fields of a newer release: skipped.
        guard r.remaining == 0 || r.codec >= extensibleCodecVersion else { throw .trailingBytes(count: r.remaining) }
        return message
    }
}

extension Membership.Gossip {
    /// The encoded size of this item, in bytes (what it costs in a piggyback budget).
    public var encodedSize: Int {
        var w = ByteWriter()
        w.gossip(self)
        return w.bytes.count
    }
}

extension ByteWriter {
    mutating func node(_ n: Membership.Node) {
        string(n.name)
        string(n.address)
    }

    mutating func gossipList(_ items: [Membership.Gossip]) {
        varint(UInt64(items.count))
        for g in items { gossip(g) }
    }

    mutating func gossip(_ g: Membership.Gossip) {
        switch g {
        case .alive(let node, let inc):
            byte(1)
            self.node(node)
            varint(inc)
        case .suspect(let name, let inc, let from):
            byte(2)
            string(name)
            varint(inc)
            string(from)
        case .dead(let name, let inc, let from):
            byte(3)
            string(name)
            varint(inc)
            string(from)
        case .left(let name, let inc):
            byte(4)
            string(name)
            varint(inc)
        case .metadata(let name, let md):
            byte(5)
            string(name)
            metadata(md)
        }
    }

    mutating func member(_ m: Membership.Member) {
        node(m.node)
        varint(m.incarnation)
        byte(m.status.rawValue)
        metadata(m.metadata)
    }

    mutating func metadata(_ md: Membership.Metadata) {
        varint(md.version)
        varint(UInt64(md.freeSlots))
        varint(UInt64(md.runningAgents))
        varint(UInt64(md.loadAverageMilli))
        varint(md.freeMemoryBytes)
        optionalString(md.labels.org)
        optionalString(md.labels.region)
        optionalString(md.labels.os)
        optionalString(md.labels.gpu)
        let custom = md.labels.custom.sorted { $0.key < $1.key }
        varint(UInt64(custom.count))
        for (k, v) in custom {
            string(k)
            string(v)
        }
        varint(UInt64(md.rigs.count))
        for r in md.rigs { string(r) }
        varint(UInt64(md.runtimes.count))
        for r in md.runtimes { string(r) }
        string(md.softwareVersion)
        bool(md.draining)
        if codec >= 3 { varint(UInt64(md.reservedSlots)) }
        if codec >= 4 {
            varint(UInt64(metadataExtensions.count))
            for entry in metadataExtensions {
                varint(entry.tag)
                varint(UInt64(entry.bytes.count))
                bytes.append(contentsOf: entry.bytes)
            }
        }
    }
}

extension ByteReader {
    mutating func node(_ field: String) throws(Membership.DecodeError) -> Membership.Node {
        Membership.Node(name: try string(field + " name"), address: try string(field + " address"))
    }

    mutating func gossipList() throws(Membership.DecodeError) -> [Membership.Gossip] {
        let n = try count("gossip item count", limit: limits.maxGossipItems)
        var items: [Membership.Gossip] = []
        items.reserveCapacity(min(n, remaining))
        for _ in 0..<n {
            // From version 4 on, a gossip kind above 5 (a newer release's) carries its length: skipped.
            if codec >= 4, offset < bytes.count, bytes[offset] > 5 {
                offset += 1
                try skipField("unknown gossip item")
                continue
            }
            items.append(try gossip())
        }
        return items
    }

    mutating func gossip() throws(Membership.DecodeError) -> Membership.Gossip {
        let kind = try byte("gossip kind")
        switch kind {
        case 1: return .alive(try node("alive node"), incarnation: try varint("alive incarnation"))
        case 2:
            return .suspect(
                name: try string("suspect name"), incarnation: try varint("suspect incarnation"),
                from: try string("suspect from"))
        case 3:
            return .dead(
                name: try string("dead name"), incarnation: try varint("dead incarnation"),
                from: try string("dead from"))
        case 4: return .left(name: try string("left name"), incarnation: try varint("left incarnation"))
        case 5: return .metadata(name: try string("metadata name"), try metadata())
        default: throw .unknownGossipKind(kind)
        }
    }

    /// Skips one length-prefixed field of a newer release (an extension entry's bytes, an unknown gossip item).
    mutating func skipField(_ field: String) throws(Membership.DecodeError) {
        let n = try count(field + " length", limit: limits.maxMessageBytes)
        guard n <= remaining else { throw .truncated(field: field, offset: offset) }
        offset += n
    }

    mutating func member() throws(Membership.DecodeError) -> Membership.Member {
        let node = try node("member")
        let inc = try varint("member incarnation")
        let s = try byte("member status")
        guard let status = Membership.Status(rawValue: s) else { throw .unknownStatus(s) }
        return Membership.Member(node: node, incarnation: inc, status: status, metadata: try metadata())
    }

    mutating func metadata() throws(Membership.DecodeError) -> Membership.Metadata {
        var md = Membership.Metadata()
        md.version = try varint("metadata version")
        md.freeSlots = try uint32("free slots")
        md.runningAgents = try uint32("running agents")
        md.loadAverageMilli = try uint32("load average")
        md.freeMemoryBytes = try varint("free memory")
        md.labels.org = try optionalString("label org")
        md.labels.region = try optionalString("label region")
        md.labels.os = try optionalString("label os")
        md.labels.gpu = try optionalString("label gpu")
        let nc = try count("custom label count", limit: limits.maxListEntries)
        for _ in 0..<nc {
            let k = try string("custom label key")
            md.labels.custom[k] = try string("custom label value")
        }
        let nr = try count("rig count", limit: limits.maxListEntries)
        for _ in 0..<nr { md.rigs.append(try string("rig")) }
        let nt = try count("runtime count", limit: limits.maxListEntries)
        for _ in 0..<nt { md.runtimes.append(try string("runtime")) }
        md.softwareVersion = try string("software version")
        md.draining = try bool("draining")
        if codec >= 3 { md.reservedSlots = try uint32("reserved slots") }
        if codec >= 4 {
            // Extension entries: this build defines none, so every one is a newer release's field and skipped.
            let n = try count("metadata extension count", limit: limits.maxListEntries)
            for _ in 0..<n {
                _ = try varint("metadata extension tag")
                try skipField("metadata extension")
            }
        }
        return md
    }
}
