import Foundation

/// A short, stable identifier of a town, derived from the canonical path of its root directory, so that two
/// towns on one host never share session names or a tmux server.
///
/// Eight lowercase base-36 characters of the 64-bit FNV-1a hash of the path (symlinks resolved when the
/// path exists). FNV is used because it is stable across runs and platforms (Swift's `Hasher` is seeded);
/// it only has to tell apart the handful of towns on one host, not resist an adversary.
/// `Sendable`: an immutable string.
public struct TownID: Hashable, Sendable, CustomStringConvertible {
    /// The eight-character identifier.
    public let rawValue: String

    /// Number of characters in every town ID.
    public static let length = 8

    /// The ID of the town rooted at `townRoot`.
    public init(townRoot: String) {
        let canonical = TownID.canonicalPath(townRoot)
        var value = FNV1a.hash64(Array(canonical.utf8)) % TownID.modulus
        var characters = [Character](repeating: "0", count: TownID.length)
        let digits = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        for index in stride(from: TownID.length - 1, through: 0, by: -1) {
            characters[index] = digits[Int(value % 36)]
            value /= 36
        }
        rawValue = String(characters)
    }

    /// Accepts an already rendered ID: exactly eight characters from `[0-9a-z]`.
    public init?(rawValue: String) {
        guard rawValue.utf8.count == TownID.length,
            rawValue.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x7a).contains($0) })
        else { return nil }
        self.rawValue = rawValue
    }

    public var description: String { rawValue }

    /// 36^8: the number of distinct IDs.
    private static let modulus: UInt64 = 2_821_109_907_456

    /// The path with `.`/`..` and duplicate slashes removed, and symlinks resolved when it exists.
    static func canonicalPath(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        if let resolved = realpath(absolute, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        return (absolute as NSString).standardizingPath
    }
}

/// The name of one agent session: town, rig, polecat and session epoch, rendered as
/// `gt-<town-id>-<rig>-<polecat>-e<epoch>`.
///
/// Every driver action takes a `SessionName`, never a bare string, and tmux targets are matched exactly
/// (`=name`), so an action meant for epoch 3 finds nothing once epoch 4 runs, instead of hitting it.
/// Rig and polecat names are escaped injectively into tmux-legal characters: ASCII letters and digits stay,
/// every other byte (including `-`, `_`, `.` and `:`) becomes `_` and two lowercase hex digits. So `-` only
/// ever separates the five parts, two different identities never share a name, and `parse` recovers the
/// exact original names. `Sendable`: a value of strings and an integer.
public struct SessionName: Hashable, Sendable, CustomStringConvertible {
    /// The town the session belongs to.
    public let town: TownID
    /// The rig's name, unescaped.
    public let rig: String
    /// The polecat's (or other agent's) name, unescaped.
    public let polecat: String
    /// The session epoch: bumped every time a session for this polecat is (re)started.
    public let epoch: UInt64

    /// Every rendered name starts with this.
    public static let prefix = "gt-"

    /// A name; `rig` and `polecat` must be non-empty (checked by `SessionSpec.validate`).
    public init(town: TownID, rig: String, polecat: String, epoch: UInt64) {
        self.town = town
        self.rig = rig
        self.polecat = polecat
        self.epoch = epoch
    }

    /// The rendered session name, as tmux and the process records know it.
    public var rendered: String {
        "\(SessionName.prefix)\(town.rawValue)-\(SessionName.escape(rig))-\(SessionName.escape(polecat))-e\(epoch)"
    }

    public var description: String { rendered }

    /// The same polecat's session name at another epoch.
    public func withEpoch(_ newEpoch: UInt64) -> SessionName {
        SessionName(town: town, rig: rig, polecat: polecat, epoch: newEpoch)
    }

    /// Whether `other` names the same polecat (any epoch).
    public func samePolecat(as other: SessionName) -> Bool {
        town == other.town && rig == other.rig && polecat == other.polecat
    }

    /// Parses a rendered name; nil for anything that is not exactly what `rendered` produces (so foreign
    /// tmux sessions and other towns' records are ignored, never misread).
    public static func parse(_ text: String) -> SessionName? {
        guard text.hasPrefix(prefix) else { return nil }
        let parts = text.dropFirst(prefix.count).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 4, let town = TownID(rawValue: String(parts[0])),
            let rig = unescape(parts[1]), let polecat = unescape(parts[2]), !rig.isEmpty, !polecat.isEmpty
        else { return nil }
        let epochPart = parts[3]
        guard epochPart.first == "e", epochPart.count > 1, epochPart.count <= 20,
            epochPart.dropFirst().allSatisfy({ $0.isASCII && $0.isNumber }),
            epochPart.count == 2 || epochPart.dropFirst().first != "0",
            let epoch = UInt64(epochPart.dropFirst())
        else { return nil }
        let name = SessionName(town: town, rig: rig, polecat: polecat, epoch: epoch)
        return name.rendered == text ? name : nil
    }

    /// Escapes one component: `[A-Za-z0-9]` kept, every other UTF-8 byte as `_hh`.
    static func escape(_ component: String) -> String {
        var out = ""
        for byte in component.utf8 {
            if isPlain(byte) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "_" + String(byte >> 4, radix: 16) + String(byte & 0xf, radix: 16)
            }
        }
        return out
    }

    /// Inverse of `escape`; nil for text `escape` never produces.
    static func unescape(_ component: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(component.utf8).makeIterator()
        while let byte = iterator.next() {
            if isPlain(byte) {
                bytes.append(byte)
                continue
            }
            guard byte == UInt8(ascii: "_"), let high = iterator.next().flatMap(hexValue),
                let low = iterator.next().flatMap(hexValue)
            else { return nil }
            let decoded = high << 4 | low
            if isPlain(decoded) { return nil }
            bytes.append(decoded)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func isPlain(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5a).contains(byte) || (0x61...0x7a).contains(byte)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }
}

extension SessionName: Codable {
    /// Decodes the rendered form; a string that is not a session name is a `DecodingError`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let name = SessionName.parse(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not a session name")
        }
        self = name
    }

    /// Encodes the rendered form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rendered)
    }
}

/// 64-bit FNV-1a: a stable, fast, non-cryptographic hash for town IDs and pane-content evidence.
/// A namespace; `Sendable` trivially.
public enum FNV1a {
    /// The hash of `bytes`.
    public static func hash64<C: Collection>(_ bytes: C) -> UInt64 where C.Element == UInt8 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// The hash rendered as 16 lowercase hex digits.
    public static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let value = hash64(bytes)
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}
