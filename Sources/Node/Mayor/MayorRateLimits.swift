import Foundation
import Health
import Membership
import Scheduling
import Town

/// The rate limits of one town in this process (docs/health.md "Rate limits, cluster-wide"): the Witness posts
/// the accounts it saw limited in its own panes after every patrol (keyed by runtime name, as `RateLimitBook`
/// keeps them); the Mayor reads them at every tick, publishes them in the node's membership metadata under its
/// account names, and posts the cluster's view it read back from every member, which the Witness's report
/// (`gt health`) shows. Neither waits for the other.
///
/// `@unchecked Sendable`: every field is read and written only under `lock`.
final class RateLimitBoard: @unchecked Sendable {
    private let lock = NSLock()
    private var ownLimits: [RateLimitBook.Entry] = []
    private var clusterLimits: [Placement.AccountLimit] = []

    nonisolated(unsafe) private static var boards: [String: RateLimitBoard] = [:]
    private static let boardsLock = NSLock()

    /// The board of the town at `root` (one per town per process).
    static func board(town root: String) -> RateLimitBoard {
        let key = URL(fileURLWithPath: root).standardizedFileURL.path
        return boardsLock.withLock {
            if let board = boards[key] { return board }
            let board = RateLimitBoard()
            boards[key] = board
            return board
        }
    }

    /// The Witness's own limits (its book's active entries).
    var own: [RateLimitBook.Entry] {
        get { lock.withLock { ownLimits } }
        set { lock.withLock { ownLimits = newValue } }
    }

    /// The cluster's limits as the Mayor last read them from membership.
    var cluster: [Placement.AccountLimit] {
        get { lock.withLock { clusterLimits } }
        set { lock.withLock { clusterLimits = newValue } }
    }
}

/// One limited runtime account as `gt status --json` (`rate_limits`) and `gt health` show it. `Sendable`: plain
/// values.
public struct ClusterRateLimit: Codable, Sendable, Equatable {
    public var account: String
    /// When it resets, Unix seconds.
    public var until: Double
    /// The node that published it.
    public var node: String

    public init(_ limit: Placement.AccountLimit) {
        account = limit.account
        until = limit.until
        node = limit.node
    }
}

extension Mayor {
    /// The wall clock for rate limits (their resets are wall-clock times read from the panes).
    static func wallClock() -> Double { Date().timeIntervalSince1970 }

    /// The limits this node publishes, by account: the Witness's own limits (by runtime) under this node's account
    /// for each runtime (`account.<runtime>` label, else the runtime's name).
    static func ownLimits(_ entries: [RateLimitBook.Entry], labels: [String: String], now: Double) -> [String: Double] {
        var out: [String: Double] = [:]
        for entry in entries where entry.until > now {
            let account = Placement.RateLimits.account(runtime: entry.account, labels: labels)
            out[account] = max(out[account] ?? 0, entry.until)
        }
        return out
    }

    /// The cluster's limits at `now`, from every member's metadata (this node's as membership holds it).
    func clusterLimits(now: Double) async -> [String: Placement.AccountLimit] {
        guard let shell = membership.shell else { return [:] }
        var published: [String: [String: Double]] = [:]
        for member in await shell.members {
            let limits = Placement.RateLimits.split(member.metadata.labels.custom).limits
            if !limits.isEmpty { published[member.name] = limits }
        }
        return Placement.RateLimits.cluster(published, now: now)
    }

    /// The runtime whose account a bead of `request` would use: the one asked for, else the rig's, else the
    /// town's default; `exec:…` counts as `exec`.
    func accountRuntime(_ request: MayorAdmitRequest) -> String {
        var text = request.runtime
        if text == nil, let context {
            text = MembershipComponent.rigs(context.town)[request.rig]?.runtime
        }
        let runtime = text ?? TownSettings().defaultRuntime
        return runtime.split(separator: ":", maxSplits: 1).first.map(String.init) ?? runtime
    }

    /// Posts the cluster's limits on the board and records a `rate-limit` event when an account becomes limited
    /// or free again in this node's view.
    func noteClusterLimits(_ limits: [String: Placement.AccountLimit]) {
        guard let context else { return }
        let board = RateLimitBoard.board(town: context.town.root)
        let before = Dictionary(board.cluster.map { ($0.account, $0) }, uniquingKeysWith: { a, _ in a })
        board.cluster = limits.values.sorted { $0.account < $1.account }
        for (account, limit) in limits where before[account]?.until != limit.until {
            let until = Placement.RateLimits.utc(limit.until)
            context.events.record(
                "rate-limit", ["account": account, "until": until, "node": limit.node, "state": "limited"])
            context.log.info(
                "runtime account rate-limited: no work is placed on it until the reset",
                ["account": account, "until": until, "seen_on": limit.node])
        }
        for account in before.keys where limits[account] == nil {
            context.events.record("rate-limit", ["account": account, "state": "reset"])
        }
    }
}
