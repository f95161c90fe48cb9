import Beads
import Foundation
import Git

/// Every interval and limit of ledger sync, with its default (DESIGN §3). `Sendable`: values and `Sendable`
/// closures.
public struct SyncSettings: Sendable {
    /// Interval of automatic sync (`bd sync --watch`, the node's loop) for path and `file://` remotes: 1 s.
    public var pathInterval: Duration = .seconds(1)
    /// Interval of automatic sync for network remotes (ssh, https, git): 5 s.
    public var networkInterval: Duration = .seconds(5)
    /// First pause after a rejected push: 100 ms, doubled each retry (plus up to 50 % jitter).
    public var backoffBase: Duration = .milliseconds(100)
    /// Longest pause between push retries: 5 s.
    public var backoffCap: Duration = .seconds(5)
    /// Push attempts per scope and sync before giving up with `SyncError.contended`: 12.
    public var maxPushAttempts = 12
    /// Fetches triggered by "scope S at commit X" notices run at most once per this interval: 2 s.
    public var noticeCoalescing: Duration = .seconds(2)
    /// Pruning horizon: tombstones are dropped only when older than this and behind every live replica, and a
    /// replica silent for longer no longer holds pruning back (it must re-clone): 14 days.
    public var pruneHorizonMillis: Int64 = 14 * 24 * 3_600_000
    /// How often a sync looks for tombstones to prune (a scan of the scope) once the horizon moved: 10 minutes.
    public var pruneCheckMillis: Int64 = 600_000
    /// Settings of the sync repository (`.beads/repo`) and of remote access (credentials, certificates).
    public var git = GitSettings()
    /// The wall clock, Unix nanoseconds (commit times, replica lines). Default: the system clock.
    public var wallClockNanos: @Sendable () -> Int64 = LedgerDatabaseSettings.systemWallClock
    /// Jitter source for the push backoff, returning a value in 0..<1. Default: the system generator.
    public var jitter: @Sendable () -> Double = { Double.random(in: 0..<1) }

    public init() {}

    /// The pause before push retry `attempt` (0-based): base × 2ⁿ, capped, plus up to 50 % jitter (capped too).
    public func backoff(attempt: Int) -> Duration {
        let base = backoffBase * (1 << min(attempt, 20))
        let capped = min(base, backoffCap)
        return min(capped + capped * (0.5 * jitter()), backoffCap)
    }

    /// The automatic sync interval for a remote URL.
    public func interval(for url: String) -> Duration {
        GitRemoteURL.isLocal(url) ? pathInterval : networkInterval
    }
}

/// A configured ledger remote. `Sendable`: plain value.
public struct SyncRemote: Sendable, Hashable {
    /// Its name (`origin`).
    public var name: String
    /// A path, `file://`, `ssh://`, `user@host:path` or `https://` URL.
    public var url: String
    public init(name: String, url: String) {
        self.name = name
        self.url = url
    }
}

/// The remotes of a store, kept in `.beads/config.json` under `"remotes"` (other keys are kept as they are).
/// A namespace; `Sendable` trivially.
public enum SyncConfig {
    /// The configured remotes, in the order they were added (the first one decides claims).
    public static func remotes(_ layout: StoreLayout) -> [SyncRemote] {
        guard let object = readConfig(layout), case .array(let items)? = object["remotes"] else { return [] }
        return items.compactMap { item in
            guard let name = item["name"]?.stringValue, let url = item["url"]?.stringValue else { return nil }
            return SyncRemote(name: name, url: url)
        }
    }

    /// Adds a remote. Throws when the name is taken or invalid.
    public static func add(_ remote: SyncRemote, to layout: StoreLayout) throws(SyncError) {
        guard isValidName(remote.name) else {
            throw .invalidRemote("invalid remote name '\(remote.name)': use letters, digits, '-', '_' and '.'")
        }
        guard !remote.url.isEmpty else { throw .invalidRemote("remote \(remote.name) needs a URL or path") }
        var list = remotes(layout)
        if list.contains(where: { $0.name == remote.name }) {
            throw .invalidRemote("a remote named \(remote.name) already exists: remove it first (bd remote remove)")
        }
        list.append(remote)
        try save(list, layout)
    }

    /// Removes a remote. Throws when there is none of that name.
    public static func remove(_ name: String, from layout: StoreLayout) throws(SyncError) {
        var list = remotes(layout)
        guard list.contains(where: { $0.name == name }) else {
            throw .invalidRemote("no remote named \(name): 'bd remote list' shows them")
        }
        list.removeAll { $0.name == name }
        try save(list, layout)
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64 && !name.hasPrefix(".") && !name.hasPrefix("-")
            && name.unicodeScalars.allSatisfy {
                CharacterSet.alphanumerics.contains($0) && $0.isASCII || "-_.".unicodeScalars.contains($0)
            }
    }

    static func readConfig(_ layout: StoreLayout) -> JSONValue? {
        guard let data = FileManager.default.contents(atPath: LedgerDatabase.configPath(layout)) else { return nil }
        return try? JSONValue.parse(bytes: [UInt8](data))
    }

    static func save(_ list: [SyncRemote], _ layout: StoreLayout) throws(SyncError) {
        var members: [JSONMember] = []
        if case .object(let existing)? = readConfig(layout) { members = existing.filter { $0.key != "remotes" } }
        if !list.isEmpty {
            members.append(
                JSONMember(
                    "remotes",
                    .array(
                        list.map {
                            .object([JSONMember("name", .string($0.name)), JSONMember("url", .string($0.url))])
                        })))
        }
        var out = "{\n"
        for (i, m) in members.enumerated() {
            out += "  " + JSONValue.string(m.key).compactText + ": " + m.value.compactText
            out += i == members.count - 1 ? "\n" : ",\n"
        }
        out += "}\n"
        // 0600: a remote URL may hold credentials (https://user:token@host/…).
        do { try AtomicFile.write(Array(out.utf8), to: LedgerDatabase.configPath(layout), mode: 0o600) } catch {
            throw .store(.store(error))
        }
    }
}
