import Foundation
import Git
import LedgerStore

/// Intervals and switches of the node's ledger sync loop (docs/sync.md "The node's sync loop"), with defaults.
///
/// `Sendable` because it is a plain value.
public struct LedgerSyncLoopSettings: Sendable, Equatable {
    /// Whether the node runs the loop at all (a town without `bd remote add` has nothing to do either way).
    public var enabled = true
    /// Periodic sync with path and `file://` remotes, and the longest a local write waits for its batch: 1 s.
    public var pathInterval: Duration = .seconds(1)
    /// The same for network remotes (ssh, https, git): 5 s.
    public var networkInterval: Duration = .seconds(5)
    /// Quiet time after a local write before its batch is synced (a burst of writes becomes one commit): 100 ms.
    /// A steady stream of writes is still synced at least once per interval.
    public var debounce: Duration = .milliseconds(100)
    /// First pause after a failed sync, doubled per consecutive failure (plus up to 50 % jitter): 1 s.
    public var retryBase: Duration = .seconds(1)
    /// Longest pause between retries of a failing remote: 60 s.
    public var retryCap: Duration = .seconds(60)
    /// Whether a push that moved a scope is announced to the cluster ("scope S at commit X"), and whether
    /// announcements from peers trigger a fetch: on. Off, peers see the write at their next periodic sync.
    public var notices = true
    /// How often the shell looks at the store for new local writes and at the clock: 50 ms.
    public var pollInterval: Duration = .milliseconds(50)
    /// How often the shell re-reads the configured remotes (`bd remote add|remove`): 2 s.
    public var remotesRefresh: Duration = .seconds(2)

    public init() {}

    /// The periodic interval for `remote`.
    public func interval(for remote: SyncRemote) -> Duration {
        GitRemoteURL.isLocal(remote.url) ? pathInterval : networkInterval
    }

    /// The pause after `failures` consecutive failures (1-based), `jitter` in 0..<1 adding up to 50 %, capped.
    public func retryDelay(failures: Int, jitter: Double) -> Duration {
        let base = retryBase * (1 << min(max(failures - 1, 0), 20))
        let capped = min(base, retryCap)
        return min(capped + capped * (0.5 * min(max(jitter, 0), 1)), retryCap)
    }
}

/// The pure core of the node's ledger sync loop: one scheduler per configured remote. It batches local writes
/// (debounce, at most one interval of delay), syncs every remote periodically, starts at most one sync per remote
/// at a time, fetches at once on a peer's notice "scope S at commit X" unless already at or past X, coalesces
/// notices arriving while a sync runs into one follow-up sync, retries a failing remote with capped exponential
/// backoff, and answers `bd sync` requests with the first sync that starts after them.
///
/// Time is a `Duration` since an origin the shell picks; the core reads no clock, does no I/O and draws no random
/// numbers (the jitter of a retry comes with the failure). Every `on…` method returns what the shell must do.
///
/// `Sendable` because it is a plain value.
public struct LedgerSyncLoop: Sendable, Equatable {
    /// Why a sync runs (several at once).
    public struct Reasons: OptionSet, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// The first sync after the remote appeared (or the node started).
        public static let initial = Reasons(rawValue: 1)
        /// Local writes not yet synced.
        public static let writes = Reasons(rawValue: 2)
        /// A peer's notice of a commit we do not have.
        public static let notice = Reasons(rawValue: 4)
        /// The periodic interval passed.
        public static let periodic = Reasons(rawValue: 8)
        /// `bd sync` asked.
        public static let requested = Reasons(rawValue: 16)
        /// A retry after a failure.
        public static let retry = Reasons(rawValue: 32)

        public var description: String {
            let names: [(Reasons, String)] = [
                (.initial, "initial"), (.writes, "writes"), (.notice, "notice"), (.periodic, "periodic"),
                (.requested, "requested"), (.retry, "retry"),
            ]
            return names.filter { contains($0.0) }.map(\.1).joined(separator: ",")
        }
    }

    /// What the shell must do.
    public enum Directive: Sendable, Equatable {
        /// Start sync number `id` with `remote` (and call `onSyncFinished` with that id when it ends).
        case sync(remote: SyncRemote, id: Int, reasons: Reasons)
        /// Tell every live member "scope `scope` is at `commit` on `remote`".
        case notify(scope: String, commit: String, remote: SyncRemote)
        /// The `bd sync` requests `tickets` are answered by the outcome of sync `syncID` (nil: no such remote).
        case answer(tickets: [Int], syncID: Int?)
    }

    /// How a sync ended.
    public enum Outcome: Sendable, Equatable {
        /// Per scope: the commit after the sync (`commits`), and the scopes whose commit this sync pushed
        /// (`pushed`, scope → commit).
        case succeeded(commits: [String: String], pushed: [String: String])
        /// The sync failed with `message`; `jitter` (0..<1) spreads the retry.
        case failed(message: String, jitter: Double)
    }

    /// One remote's scheduler state.
    public struct Remote: Sendable, Equatable {
        public var remote: SyncRemote
        public var interval: Duration
        /// The id and reasons of the sync running, if any.
        public var running: (id: Int, reasons: Reasons)? { runningState.map { ($0.id, $0.reasons) } }
        struct Running: Sendable, Equatable {
            var id: Int
            var reasons: Reasons
            var dirtySince: Duration?
            var notices: [String: Set<String>]
            var tickets: [Int]
        }
        var runningState: Running?
        /// The first local write not yet covered by a sync that started, and the latest one.
        public var dirtySince: Duration?
        public var lastWrite: Duration?
        /// Noticed commits per scope waiting for a sync: arrived while one ran, or during a backoff.
        public var pendingNotices: [String: Set<String>] = [:]
        /// `bd sync` tickets waiting for the next sync to start.
        public var waitingTickets: [Int] = []
        /// Whether the first sync has run (started).
        public var started = false
        public var lastFinish: Duration?
        public var lastSuccess: Duration?
        /// Consecutive failures, the time of the next retry, and the last error.
        public var failures = 0
        public var retryAt: Duration?
        public var lastError: String?
        /// Per scope: the commit of the last successful sync.
        public var commits: [String: String] = [:]
        /// Counters for status and tests.
        public var syncs = 0
        public var failedSyncs = 0
        public var noticeSyncs = 0
        public var noticesIgnored = 0
        public var noticesSent = 0

        init(remote: SyncRemote, interval: Duration) {
            self.remote = remote
            self.interval = interval
        }

        public static func == (a: Remote, b: Remote) -> Bool {
            a.remote == b.remote && a.interval == b.interval && a.runningState == b.runningState
                && a.dirtySince == b.dirtySince && a.lastWrite == b.lastWrite && a.pendingNotices == b.pendingNotices
                && a.waitingTickets == b.waitingTickets && a.started == b.started && a.lastFinish == b.lastFinish
                && a.lastSuccess == b.lastSuccess && a.failures == b.failures && a.retryAt == b.retryAt
                && a.lastError == b.lastError && a.commits == b.commits && a.syncs == b.syncs
                && a.failedSyncs == b.failedSyncs && a.noticeSyncs == b.noticeSyncs
                && a.noticesIgnored == b.noticesIgnored && a.noticesSent == b.noticesSent
        }
    }

    public let settings: LedgerSyncLoopSettings
    /// The remotes, in configuration order.
    public private(set) var remotes: [Remote] = []
    private var nextID = 1

    public init(settings: LedgerSyncLoopSettings = LedgerSyncLoopSettings()) {
        self.settings = settings
    }

    /// The scheduler of the remote named `name`.
    public func remote(named name: String) -> Remote? { remotes.first { $0.remote.name == name } }

    // MARK: Events

    /// The configured remotes are now `list` (at start and after `bd remote add|remove`). New remotes get a
    /// first sync at once; removed ones are forgotten (a sync still running for one is ignored when it ends, and
    /// its waiting `bd sync` requests are answered "no such remote").
    public mutating func onRemotes(_ list: [SyncRemote], now: Duration) -> [Directive] {
        var out: [Directive] = []
        var next: [Remote] = []
        for remote in list where !next.contains(where: { $0.remote.name == remote.name }) {
            if var existing = remotes.first(where: { $0.remote.name == remote.name }) {
                if existing.remote.url != remote.url {
                    existing.remote = remote
                    existing.interval = settings.interval(for: remote)
                    existing.started = false
                    existing.failures = 0
                    existing.retryAt = nil
                }
                next.append(existing)
            } else {
                next.append(Remote(remote: remote, interval: settings.interval(for: remote)))
            }
        }
        for old in remotes where !next.contains(where: { $0.remote.name == old.remote.name }) {
            let tickets = old.waitingTickets + (old.runningState?.tickets ?? [])
            if !tickets.isEmpty { out.append(.answer(tickets: tickets, syncID: nil)) }
        }
        remotes = next
        return out + evaluate(now: now)
    }

    /// The store took a local write (one or more) at `now`.
    public mutating func onLocalWrite(now: Duration) -> [Directive] {
        for i in remotes.indices {
            if remotes[i].dirtySince == nil { remotes[i].dirtySince = now }
            remotes[i].lastWrite = now
        }
        return evaluate(now: now)
    }

    /// A peer announced "scope `scope` is at `commit`" on the remote named `remote` (nil: not matched to one of
    /// ours, so every remote is a candidate). `alreadyHave` is the shell's check that our history of the scope
    /// already contains that commit (at or past it). A notice for a commit we have is ignored; otherwise the
    /// remote syncs at once, or once after the sync that is running (however many notices arrive meanwhile), or
    /// at its retry time when it is backing off.
    public mutating func onNotice(
        scope: String, commit: String, remote name: String?, alreadyHave: Bool, now: Duration
    ) -> [Directive] {
        guard settings.notices else { return [] }
        for i in remotes.indices where name == nil || remotes[i].remote.name == name {
            if alreadyHave || remotes[i].commits[scope] == commit {
                remotes[i].noticesIgnored += 1
                continue
            }
            // Bounded: past 64 noticed commits of a scope one more changes nothing (a sync is pending anyway).
            if remotes[i].pendingNotices[scope, default: []].count < 64 {
                remotes[i].pendingNotices[scope, default: []].insert(commit)
            }
        }
        return evaluate(now: now)
    }

    /// `bd sync` asked for a sync with the remote named `remote` (nil: every remote); `tickets` are answered (one
    /// per remote, in configuration order; extra tickets are answered "no such remote") by the first sync that
    /// starts after now, even during a backoff.
    public mutating func onSyncRequested(remote name: String?, tickets: [Int], now: Duration) -> [Directive] {
        var targets = remotes.indices.filter { name == nil || remotes[$0].remote.name == name }
        var unanswered: [Int] = []
        for ticket in tickets {
            if let i = targets.first {
                remotes[i].waitingTickets.append(ticket)
                targets.removeFirst()
            } else {
                unanswered.append(ticket)
            }
        }
        let out: [Directive] = unanswered.isEmpty ? [] : [.answer(tickets: unanswered, syncID: nil)]
        return out + evaluate(now: now)
    }

    /// The clock reached `now`: start what is due.
    public mutating func onTick(now: Duration) -> [Directive] { evaluate(now: now) }

    /// Sync `id` with the remote named `remote` ended at `now`.
    public mutating func onSyncFinished(remote name: String, id: Int, outcome: Outcome, now: Duration) -> [Directive] {
        guard let i = remotes.firstIndex(where: { $0.remote.name == name }), let run = remotes[i].runningState,
            run.id == id
        else { return evaluate(now: now) }
        var out: [Directive] = []
        remotes[i].runningState = nil
        remotes[i].lastFinish = now
        if !run.tickets.isEmpty { out.append(.answer(tickets: run.tickets, syncID: id)) }
        switch outcome {
        case .succeeded(let commits, let pushed):
            remotes[i].syncs += 1
            remotes[i].failures = 0
            remotes[i].retryAt = nil
            remotes[i].lastError = nil
            remotes[i].lastSuccess = now
            remotes[i].commits.merge(commits) { $1 }
            // Notices that came in while the sync ran and are now satisfied need no follow-up.
            for (scope, commit) in commits {
                remotes[i].pendingNotices[scope]?.remove(commit)
                if remotes[i].pendingNotices[scope]?.isEmpty == true { remotes[i].pendingNotices[scope] = nil }
            }
            if settings.notices {
                for scope in pushed.keys.sorted() {
                    out.append(.notify(scope: scope, commit: pushed[scope]!, remote: remotes[i].remote))
                    remotes[i].noticesSent += 1
                }
            }
        case .failed(let message, let jitter):
            remotes[i].failedSyncs += 1
            remotes[i].failures += 1
            remotes[i].lastError = message
            remotes[i].retryAt = now + settings.retryDelay(failures: remotes[i].failures, jitter: jitter)
            // What the failed sync was to carry is still to do.
            if let since = run.dirtySince {
                remotes[i].dirtySince = min(remotes[i].dirtySince ?? since, since)
                remotes[i].lastWrite = max(remotes[i].lastWrite ?? since, since)
            }
            remotes[i].pendingNotices.merge(run.notices) { $0.union($1) }
        }
        return out + evaluate(now: now)
    }

    // MARK: Scheduling

    /// When the shell should tick next (nil: nothing is due until an event).
    public func nextWake() -> Duration? {
        remotes.compactMap(dueTime).min()
    }

    /// When remote `r` should start its next sync, if it is idle.
    func dueTime(_ r: Remote) -> Duration? {
        guard r.runningState == nil else { return nil }
        if !r.waitingTickets.isEmpty { return .zero }
        if let retryAt = r.retryAt { return retryAt }
        if !r.started || !r.pendingNotices.isEmpty { return .zero }
        var due = (r.lastFinish ?? .zero) + r.interval
        if let since = r.dirtySince, let last = r.lastWrite {
            due = min(due, min(last + settings.debounce, since + r.interval))
        }
        return due
    }

    mutating func evaluate(now: Duration) -> [Directive] {
        var out: [Directive] = []
        for i in remotes.indices {
            guard let due = dueTime(remotes[i]), due <= now else { continue }
            var r = remotes[i]
            var reasons: Reasons = []
            if !r.waitingTickets.isEmpty { reasons.insert(.requested) }
            if r.failures > 0, let retryAt = r.retryAt, retryAt <= now { reasons.insert(.retry) }
            if !r.started { reasons.insert(.initial) }
            if !r.pendingNotices.isEmpty {
                reasons.insert(.notice)
                r.noticeSyncs += 1
            }
            if r.dirtySince != nil { reasons.insert(.writes) }
            if reasons.isEmpty { reasons.insert(.periodic) }
            let id = nextID
            nextID += 1
            r.runningState = Remote.Running(
                id: id, reasons: reasons, dirtySince: r.dirtySince, notices: r.pendingNotices, tickets: r.waitingTickets
            )
            r.started = true
            r.dirtySince = nil
            r.lastWrite = nil
            r.pendingNotices = [:]
            r.waitingTickets = []
            remotes[i] = r
            out.append(.sync(remote: r.remote, id: id, reasons: reasons))
        }
        return out
    }
}
