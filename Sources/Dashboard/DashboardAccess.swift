import Foundation
import Transport

/// The dashboard's files under `<town>/.gt/`: `dashboard.json` (where the running node's dashboard is, written at
/// start and removed at stop; `gt dashboard` reads it) and `dashboard.token` (the login token, mode 0600, made once
/// and kept, so a URL given out stays valid across restarts; delete the file to change it).
///
/// `Sendable`: a plain value.
public struct DashboardFiles: Sendable {
    public let stateDirectory: String

    public init(townRoot: String) { stateDirectory = townRoot + "/.gt" }

    public var infoFile: String { stateDirectory + "/dashboard.json" }
    public var tokenFile: String { stateDirectory + "/dashboard.token" }

    /// The token in `tokenFile`, made (32 random bytes, hex) when the file is missing or empty. Blocking.
    public func loadOrMakeToken() throws -> String {
        if let data = FileManager.default.contents(atPath: tokenFile) {
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if text.count >= 16 { return text }
        }
        var generator = SystemRandomNumberGenerator()
        let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }
            .joined()
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        let temporary = tokenFile + ".\(getpid()).tmp"
        guard FileManager.default.createFile(
            atPath: temporary, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]),
            rename(temporary, tokenFile) == 0
        else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: tokenFile]) }
        return token
    }

    /// Writes `info` to `infoFile` (atomically). Blocking.
    public func write(_ info: DashboardInfo) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        let temporary = infoFile + ".\(getpid()).tmp"
        guard FileManager.default.createFile(
            atPath: temporary, contents: try encoder.encode(info) + Data([0x0A]),
            attributes: [.posixPermissions: 0o600]),
            rename(temporary, infoFile) == 0
        else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: infoFile]) }
    }

    /// The running dashboard's record, or nil.
    public func read() -> DashboardInfo? {
        guard let data = FileManager.default.contents(atPath: infoFile) else { return nil }
        return try? JSONDecoder().decode(DashboardInfo.self, from: data)
    }
}

/// Where a node's dashboard serves (`<town>/.gt/dashboard.json`, and `gt dashboard --json`).
///
/// `Sendable`: a plain value.
public struct DashboardInfo: Codable, Sendable, Equatable {
    /// The URL to open (`http://127.0.0.1:8420/`, or `https://HOST:PORT/` beyond loopback).
    public var url: String
    /// The bound `HOST:PORT`.
    public var listen: String
    public var tls: Bool
    /// Whether requests need the token (beyond loopback).
    public var tokenRequired: Bool
    public var node: String
    public var pid: Int32

    enum CodingKeys: String, CodingKey {
        case url, listen, tls, node, pid
        case tokenRequired = "token_required"
    }

    public init(url: String, listen: String, tls: Bool, tokenRequired: Bool, node: String, pid: Int32) {
        self.url = url
        self.listen = listen
        self.tls = tls
        self.tokenRequired = tokenRequired
        self.node = node
        self.pid = pid
    }
}

/// Where the dashboard listens and who may use it: pure decisions.
///
/// A caseless namespace; nothing to share.
public enum DashboardAccess {
    /// The cookie a browser keeps the token in.
    public static let cookieName = "gt_dashboard"

    /// The default port: the node's listen port + 1000 (7420 → 8420), so several towns' nodes on one machine do not
    /// collide; 0 (any free port) when the node's port is 0 or too high.
    public static func defaultPort(nodePort: UInt16) -> UInt16 {
        nodePort == 0 || nodePort > 64_535 ? 0 : nodePort + 1000
    }

    /// The address to listen on: `override` (`gt node run --dashboard`), else town.json's `dashboard.listen`, else
    /// loopback at `defaultPort`. Throws a message naming what was wrong.
    public static func listenAddress(override: String?, configured: String?, nodePort: UInt16) throws(TransportError)
        -> (host: String, port: UInt16, isDefault: Bool)
    {
        guard let text = override ?? configured else {
            return ("127.0.0.1", defaultPort(nodePort: nodePort), true)
        }
        let address = try PeerAddress(parsing: text)
        guard case .tcp(let host, let port) = address else { throw .badAddress("\(text) (the dashboard needs HOST:PORT)") }
        return (host, port, false)
    }

    /// Whether `host` is a loopback address (127.0.0.0/8, ::1, localhost): only there does the dashboard serve plain
    /// HTTP without a token.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// The token a request carries: `Authorization: Bearer T`, the cookie, or `?token=T`.
    public static func presentedToken(_ request: HTTPRequest) -> String? {
        if let value = request.header("authorization"), value.lowercased().hasPrefix("bearer ") {
            return String(value.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        if let cookie = request.cookie(cookieName) { return cookie }
        return request.query["token"]
    }

    /// Compares in time independent of where they differ.
    public static func tokensMatch(_ presented: String?, _ expected: String) -> Bool {
        guard let presented else { return false }
        let left = Array(presented.utf8)
        let right = Array(expected.utf8)
        var difference = UInt8(left.count == right.count ? 0 : 1)
        for index in 0..<min(left.count, right.count) { difference |= left[index] ^ right[index] }
        return difference == 0
    }

    /// On loopback, a `Host` naming another site means a page elsewhere reached us through DNS rebinding: only
    /// loopback names (with any port) are accepted.
    public static func hostAllowedOnLoopback(_ host: String?) -> Bool {
        guard let host else { return false }
        var name = host
        if name.hasPrefix("[") {
            name = String(name.dropFirst().prefix { $0 != "]" })
        } else if let colon = name.lastIndex(of: ":") {
            name = String(name[..<colon])
        }
        return isLoopback(name.lowercased())
    }
}
