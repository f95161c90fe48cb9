import COpenSSL
import Foundation

/// An ssh server's host key as the server presented it: the key blob of the ssh wire format (what a `known_hosts`
/// line holds in base64), or only its SHA-256 when libgit2 gave no raw key.
///
/// Sendable: yes, a plain value.
public struct GitSSHHostKey: Sendable, Equatable {
    /// The key blob (`string keytype`, then the key's fields), when known.
    public let blob: Data?
    /// SHA-256 of the blob.
    public let sha256: Data

    /// A key from its blob.
    public init(blob: Data) {
        self.blob = blob
        self.sha256 = GitDigest.sha256(blob)
    }

    /// A key known only by its SHA-256 (libgit2 without `GIT_CERT_SSH_RAW`).
    public init(sha256: Data) {
        self.blob = nil
        self.sha256 = sha256
    }

    /// The key type named inside the blob (`ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`, …), or nil.
    public var type: String? { blob.flatMap(Self.type(ofBlob:)) }

    /// `SHA256:<base64 without padding>`, as `ssh-keygen -l` and ssh print it.
    public var fingerprint: String {
        "SHA256:" + sha256.base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    /// The key type a blob starts with (a big-endian 32-bit length, then that many ASCII bytes), or nil.
    static func type(ofBlob blob: Data) -> String? {
        let bytes = [UInt8](blob.prefix(4 + 64))
        guard bytes.count >= 4 else { return nil }
        let length = Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3])
        guard length > 0, length <= 64, bytes.count >= 4 + length else { return nil }
        let name = bytes[4..<(4 + length)]
        guard name.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return nil }
        return String(decoding: name, as: UTF8.self)
    }
}

/// The name ssh looks a host up by in `known_hosts`: `host` on port 22, `[host]:port` on any other.
///
/// Sendable: yes, a plain value.
public struct GitSSHHostName: Sendable, Equatable, CustomStringConvertible {
    /// The host as in the URL (lowercased: ssh compares host names without case).
    public let host: String
    /// The TCP port (22 when the URL names none).
    public let port: Int

    public init(host: String, port: Int = 22) {
        var host = host.lowercased()
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.host = host
        self.port = port
    }

    /// `host`, or `[host]:port` for a port other than 22: the string patterns and hashes are matched against.
    public var lookupName: String { port == 22 ? host : "[\(host)]:\(port)" }

    public var description: String { lookupName }

    /// The port of an ssh URL (`ssh://[user@]host[:port]/path`, `ssh+git://`, `git+ssh://`); 22 for the scp-like
    /// form (`user@host:path`) and for URLs that name no port.
    public static func port(ofURL url: String) -> Int {
        let schemes = ["ssh://", "ssh+git://", "git+ssh://"]
        guard let scheme = schemes.first(where: { url.lowercased().hasPrefix($0) }) else { return 22 }
        var authority = url.dropFirst(scheme.count).prefix { $0 != "/" }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        let portPart: Substring
        if authority.hasPrefix("[") {  // [::1]:2222
            guard let close = authority.firstIndex(of: "]") else { return 22 }
            let rest = authority[authority.index(after: close)...]
            guard rest.hasPrefix(":") else { return 22 }
            portPart = rest.dropFirst()
        } else {
            guard let colon = authority.lastIndex(of: ":") else { return 22 }
            portPart = authority[authority.index(after: colon)...]
        }
        guard let port = Int(portPart), (1...65_535).contains(port) else { return 22 }
        return port
    }
}

/// The entries of `known_hosts` files (OpenSSH's format, `sshd(8)` "SSH_KNOWN_HOSTS FILE FORMAT"), and the check of
/// a server's host key against them. A pure value: parsing takes bytes, the check takes the host and key.
///
/// Read: `host1,host2 keytype base64 [comment]` lines; host patterns with `*` and `?` wildcards and `!` negation;
/// `[host]:port` for other ports than 22; hashed names `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`
/// (`HashKnownHosts`); `@revoked` lines (that key is refused for those hosts). `@cert-authority` lines are skipped
/// (host certificates are not supported), as are comments, blank lines and lines that do not parse (counted in
/// `skippedLines`).
///
/// Sendable: yes, a plain value.
public struct GitKnownHosts: Sendable, Equatable {
    /// One usable line.
    public struct Entry: Sendable, Equatable {
        /// A host pattern of the line's first field.
        public enum Pattern: Sendable, Equatable {
            /// A name or glob (`*`, `?`), lowercased; `negated` for `!pattern`.
            case glob(String, negated: Bool)
            /// A hashed name: HMAC-SHA1 with `salt` as key of the lookup name equals `hash`.
            case hashed(salt: Data, hash: Data)
        }

        /// The file the line came from, and its 1-based line number (for messages).
        public let file: String
        public let line: Int
        /// `@revoked`: this key is refused for the hosts that match.
        public let revoked: Bool
        public let patterns: [Pattern]
        /// The key type field (`ssh-ed25519`, …).
        public let keyType: String
        /// The decoded key blob.
        public let key: Data

        /// Whether the line names `name` (a lookup name): some pattern matches and no negated pattern does.
        public func matches(_ name: String) -> Bool {
            var matched = false
            for pattern in patterns {
                switch pattern {
                case .glob(let glob, let negated):
                    if GitKnownHosts.globMatches(glob, name) {
                        if negated { return false }
                        matched = true
                    }
                case .hashed(let salt, let hash):
                    if GitDigest.hmacSHA1(key: salt, data: Data(name.utf8)) == hash { matched = true }
                }
            }
            return matched
        }
    }

    /// The usable entries, in file order.
    public var entries: [Entry]
    /// Lines that were neither blank, comments nor usable (malformed, or `@cert-authority`).
    public var skippedLines: Int

    public init(entries: [Entry] = [], skippedLines: Int = 0) {
        self.entries = entries
        self.skippedLines = skippedLines
    }

    /// Parses one file's bytes. Never fails: a line that does not parse is skipped and counted.
    public static func parse(_ bytes: Data, file: String) -> GitKnownHosts {
        var result = GitKnownHosts()
        var lineNumber = 0
        for raw in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            switch parseLine(Data(raw), file: file, line: lineNumber) {
            case .blank: break
            case .entry(let entry): result.entries.append(entry)
            case .skipped: result.skippedLines += 1
            }
        }
        return result
    }

    private enum LineResult { case blank, entry(Entry), skipped }

    private static func parseLine(_ raw: Data, file: String, line: Int) -> LineResult {
        // known_hosts is ASCII; a line that is not UTF-8 cannot name a host we look up.
        guard let text = String(data: raw, encoding: .utf8) else { return .skipped }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty || trimmed.hasPrefix("#") { return .blank }
        var fields = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        var revoked = false
        if let first = fields.first, first.hasPrefix("@") {
            guard first == "@revoked" else { return .skipped }  // @cert-authority: host certificates unsupported
            revoked = true
            fields.removeFirst()
        }
        guard fields.count >= 3 else { return .skipped }
        let keyType = fields[1]
        guard let key = Data(base64Encoded: fields[2]), !key.isEmpty,
            GitSSHHostKey.type(ofBlob: key) == keyType
        else { return .skipped }
        var patterns: [Entry.Pattern] = []
        for item in fields[0].split(separator: ",") where !item.isEmpty {
            if item.hasPrefix("|1|") {
                let parts = item.dropFirst(3).split(separator: "|", omittingEmptySubsequences: false)
                guard parts.count == 2, let salt = Data(base64Encoded: String(parts[0])),
                    let hash = Data(base64Encoded: String(parts[1])), hash.count == 20
                else { return .skipped }
                patterns.append(.hashed(salt: salt, hash: hash))
            } else if item.hasPrefix("|") {
                return .skipped  // another hash scheme
            } else if item.hasPrefix("!") {
                patterns.append(.glob(item.dropFirst().lowercased(), negated: true))
            } else {
                patterns.append(.glob(item.lowercased(), negated: false))
            }
        }
        guard !patterns.isEmpty else { return .skipped }
        return .entry(Entry(file: file, line: line, revoked: revoked, patterns: patterns, keyType: keyType, key: key))
    }

    /// `*` (any run, also empty) and `?` (one character) glob match, as ssh's `match_pattern`.
    static func globMatches(_ pattern: String, _ name: String) -> Bool {
        let p = Array(pattern.utf8)
        let s = Array(name.utf8)
        var (pi, si) = (0, 0)
        var star: Int?
        var starMatch = 0
        while si < s.count {
            if pi < p.count, p[pi] == UInt8(ascii: "?") || p[pi] == s[si] {
                pi += 1
                si += 1
            } else if pi < p.count, p[pi] == UInt8(ascii: "*") {
                star = pi
                starMatch = si
                pi += 1
            } else if let star {
                pi = star + 1
                starMatch += 1
                si = starMatch
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }

    /// What the files say about a host's key.
    public enum Verdict: Sendable, Equatable {
        /// An entry for the host holds this key.
        case known(Entry)
        /// No entry for the host holds a key of this type (`otherTypes`: the types the host is known with).
        case unknown(otherTypes: [String])
        /// An entry for the host holds another key of this type: the key changed, or someone is in between.
        case changed(Entry)
        /// An `@revoked` entry for the host lists this key.
        case revoked(Entry)
    }

    /// Checks `key` as presented by `name`. A revoked match wins, then a matching key, then a changed one.
    public func check(_ name: GitSSHHostName, key: GitSSHHostKey) -> Verdict {
        let lookup = name.lookupName
        let forHost = entries.filter { $0.matches(lookup) }
        func same(_ entry: Entry) -> Bool {
            if let blob = key.blob { return entry.key == blob }
            return GitDigest.sha256(entry.key) == key.sha256
        }
        if let revoked = forHost.first(where: { $0.revoked && same($0) }) { return .revoked(revoked) }
        let live = forHost.filter { !$0.revoked }
        if let known = live.first(where: same) { return .known(known) }
        let type = key.type
        if let changed = live.first(where: { type == nil || $0.keyType == type }) { return .changed(changed) }
        return .unknown(otherTypes: Array(Set(live.map(\.keyType))).sorted())
    }

    /// A `known_hosts` line for `name` and `key` (plain, not hashed), as `ssh-keyscan` prints it.
    public static func line(for name: GitSSHHostName, key: GitSSHHostKey) -> String? {
        guard let blob = key.blob, let type = key.type else { return nil }
        return "\(name.lookupName) \(type) \(blob.base64EncodedString())"
    }
}

/// SHA-256 and HMAC-SHA1 through OpenSSL (libcrypto), for host keys.
enum GitDigest {
    static func sha256(_ data: Data) -> Data {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = data.withUnsafeBytes { buffer in
            EVP_Digest(buffer.baseAddress, buffer.count, &out, &length, EVP_sha256(), nil)
        }
        return ok == 1 ? Data(out.prefix(Int(length))) : Data()
    }

    static func hmacSHA1(key: Data, data: Data) -> Data {
        var out = [UInt8](repeating: 0, count: 20)
        var length: UInt32 = 0
        let result = key.withUnsafeBytes { keyBuffer in
            data.withUnsafeBytes { dataBuffer in
                HMAC(
                    EVP_sha1(), keyBuffer.baseAddress, Int32(keyBuffer.count),
                    dataBuffer.baseAddress?.assumingMemoryBound(to: UInt8.self), dataBuffer.count, &out, &length)
            }
        }
        return result == nil ? Data() : Data(out.prefix(Int(length)))
    }
}
