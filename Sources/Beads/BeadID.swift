/// Settings for minting bead IDs (beads' `AdaptiveIDConfig` defaults). `Sendable`: plain value.
public struct BeadIDSettings: Sendable, Hashable {
    /// Grow the hash length while the birthday-bound collision probability would exceed this. Default 0.25.
    public var maxCollisionProbability: Double = 0.25
    /// Shortest hash part. Default 3.
    public var minLength: Int = 3
    /// Longest hash part. Default 8.
    public var maxLength: Int = 8
    /// Nonces tried at each length before trying one character more. Default 10 (as beads).
    public var noncesPerLength: Int = 10
    /// Hash length of a new child's suffix (`<parent>.<hash>`). Default 4.
    public var childLength: Int = 4
    public init() {}
}

/// Why no ID could be minted. `Sendable`: plain value.
public enum BeadIDError: Error, Sendable, Equatable, CustomStringConvertible {
    case exhausted(prefix: String)
    case invalidPrefix(String)

    public var description: String {
        switch self {
        case .exhausted(let p): return "could not mint a unique ID with prefix \(p): every candidate is taken"
        case .invalidPrefix(let p):
            return "invalid ID prefix \"\(p)\": use letters, digits and '-' (e.g. \"bd\", \"hq\")"
        }
    }
}

/// Mints IDs the way beads does: `<prefix>-<base36>` from SHA-256 of
/// `title|description|creator|createdAtUnixNanos|nonce`, with an adaptive length chosen by the birthday bound
/// over the number of existing beads, and nonce then length retries on collision. Children get
/// `<parent>.<base36 hash>` (never all digits, so they cannot meet an imported `<parent>.<n>`).
/// `Sendable`: stateless namespace.
public enum BeadID {
    static let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)

    /// beads' `collisionProbability`: 1 − e^(−n²/2N) with N = 36^length.
    public static func collisionProbability(count: Int, length: Int) -> Double {
        var total = 1.0
        for _ in 0..<length { total *= 36 }
        let exponent = -Double(count) * Double(count) / (2.0 * total)
        return 1.0 - exp(exponent)
    }

    /// beads' `computeAdaptiveLength`: the shortest length whose collision probability is within the limit.
    public static func adaptiveLength(existing count: Int, settings: BeadIDSettings = BeadIDSettings()) -> Int {
        for length in settings.minLength...settings.maxLength
        where collisionProbability(count: count, length: length) <= settings.maxCollisionProbability {
            return length
        }
        return settings.maxLength
    }

    /// beads' `EncodeBase36`: big-endian bytes as a base36 number, left-padded with zeros, keeping the least
    /// significant `length` digits.
    public static func base36(_ bytes: some Collection<UInt8>, length: Int) -> String {
        var digits: [UInt8] = []
        var number = Array(bytes)
        while number.contains(where: { $0 != 0 }) {
            var remainder = 0
            for i in number.indices {
                let value = remainder * 256 + Int(number[i])
                number[i] = UInt8(value / 36)
                remainder = value % 36
            }
            digits.append(alphabet[remainder])
        }
        while digits.count < length { digits.append(UInt8(ascii: "0")) }
        return String(decoding: digits.prefix(length).reversed(), as: UTF8.self)
    }

    /// beads' `GenerateHashID` (bytes of the digest used per length: 3→2, 4→3, 5,6→4, 7,8→5).
    public static func hashID(
        prefix: String, title: String, description: String, creator: String, createdAtUnixNanos: Int64,
        length: Int, nonce: Int
    ) -> String {
        let content = "\(title)|\(description)|\(creator)|\(createdAtUnixNanos)|\(nonce)"
        let digest = SHA256.hash(Array(content.utf8))
        let numBytes: Int
        switch length {
        case 3: numBytes = 2
        case 4: numBytes = 3
        case 5, 6: numBytes = 4
        case 7, 8: numBytes = 5
        default: numBytes = 3
        }
        return "\(prefix)-\(base36(digest.prefix(numBytes), length: length))"
    }

    /// A new top-level ID not accepted by `isTaken`.
    public static func mint(
        prefix: String, title: String, description: String, creator: String, createdAt: Timestamp,
        existingCount: Int, settings: BeadIDSettings = BeadIDSettings(), isTaken: (String) -> Bool
    ) throws(BeadIDError) -> String {
        guard isValidPrefix(prefix) else { throw .invalidPrefix(prefix) }
        let base = min(adaptiveLength(existing: existingCount, settings: settings), settings.maxLength)
        for length in base...settings.maxLength {
            for nonce in 0..<settings.noncesPerLength {
                let id = hashID(
                    prefix: prefix, title: title, description: description, creator: creator,
                    createdAtUnixNanos: createdAt.unixNanos, length: length, nonce: nonce)
                if !isTaken(id) { return id }
            }
        }
        throw .exhausted(prefix: prefix)
    }

    /// A new child ID `<parent>.<hash>`: the hash is over parent, title, creator, time and nonce, at least
    /// one letter, so it never equals beads' numeric `<parent>.<n>` children.
    public static func mintChild(
        parent: String, title: String, creator: String, createdAt: Timestamp,
        settings: BeadIDSettings = BeadIDSettings(), isTaken: (String) -> Bool
    ) throws(BeadIDError) -> String {
        for length in settings.childLength...settings.maxLength {
            for nonce in 0..<(settings.noncesPerLength * 4) {
                let content = "\(parent)|\(title)|\(creator)|\(createdAt.unixNanos)|\(nonce)"
                let suffix = base36(SHA256.hash(Array(content.utf8)).prefix(5), length: length)
                if suffix.allSatisfy({ $0.isNumber }) { continue }
                let id = "\(parent).\(suffix)"
                if !isTaken(id) { return id }
            }
        }
        throw .exhausted(prefix: parent)
    }

    /// Letters, digits, '-' and '_', starting with a letter, at most 32 characters.
    public static func isValidPrefix(_ prefix: String) -> Bool {
        guard let first = prefix.unicodeScalars.first, prefix.count <= 32,
            ("a"..."z").contains(first) || ("A"..."Z").contains(first)
        else { return false }
        return prefix.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_"
        }
    }

    /// The prefix of an ID (`bd-1dez.1` → `bd`): everything before the last '-' preceding the hash part.
    public static func prefix(of id: String) -> String? {
        let root = id.split(separator: ".", maxSplits: 1).first.map(String.init) ?? id
        guard let dash = root.lastIndex(of: "-") else { return nil }
        return String(root[..<dash])
    }
}

/// e^x without Foundation (for the birthday bound; x ≤ 0, small magnitudes).
func exp(_ x: Double) -> Double {
    // Range reduction: e^x = (e^(x/2^k))^(2^k).
    var k = 0
    var r = x
    while abs(r) > 0.5 {
        r /= 2
        k += 1
    }
    var term = 1.0
    var sum = 1.0
    for n in 1..<30 {
        term *= r / Double(n)
        sum += term
    }
    for _ in 0..<k { sum *= sum }
    return sum
}
