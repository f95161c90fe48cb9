import Beads
import Foundation
import Git

/// Syncs a town ledger store with git remotes (DESIGN §3 "Sync through git remotes"): each scope is the branch
/// `ledger/<scope>` of the bare repository `.beads/repo`, whose tree holds `issues.jsonl` (beads' export shape,
/// sorted by ID), `stamps.jsonl` and `replicas.jsonl`. A sync writes one commit per dirty scope, fetches, merges
/// the remote state into the store with the Beads state merge (as a WAL record, so it is durable and replayable),
/// commits with both parents and pushes with a compare-and-swap, retrying from the fetch after a backoff when the
/// push is rejected. See docs/sync.md.
///
/// The engine is an actor: a sync is one actor turn plus awaited git work, all of which runs on the sync
/// repository's own git thread (`GitRepository`), never on the cooperative pool; store writes use the store's
/// async API (its WAL thread does the fsync). Writes acknowledged while the git work is in flight are in the store
/// and are merged into the result (the merge record applies to the current state; the commit is rendered from the
/// state after it). The store passed to `sync` must be open in this process (the one writer).
///
/// `Sendable`: an actor.
public actor LedgerSync {
    /// The store's layout (`.beads/`); the sync repository is `layout.repoDirectory`.
    public nonisolated let layout: StoreLayout
    /// Intervals and limits.
    public nonisolated let settings: SyncSettings

    var repository: GitRepository?
    /// Per scope: the last commit synced, the ledger rendered into it and its lines.
    var caches: [String: ScopeCache] = [:]
    /// Per "remote/scope": the remote value seen last (to notice a history rewritten by force-push).
    var seenRemote: [String: GitOID] = [:]
    /// Per scope: the last pruning horizon applied.
    var pruneHorizons: [String: (horizon: HLCStamp, checkedMillis: Int64)] = [:]
    var pushHook: (@Sendable (_ scope: String, _ commit: GitOID) -> Void)?
    var lastNoticeSync: ContinuousClock.Instant?
    var noticeTask: Task<Void, Never>?
    var lastNoticeTask: Task<Void, Never>?
    /// One sync at a time: the actor is reentrant across the awaited git work, so a second caller (a notice, the
    /// loop, a claim) waits its turn here.
    var syncing = false
    var syncWaiters: [CheckedContinuation<Void, Never>] = []

    /// What a scope's last sync left behind: its commit, the ledger rendered into it (nil when only its lines are
    /// known, after a restart) and its files.
    struct ScopeCache: Sendable {
        var commit: GitOID?
        var ledger: Ledger?
        var lines = ScopeLines()
        var replicas: [String: ReplicaEntry] = [:]
    }

    public init(layout: StoreLayout, settings: SyncSettings = SyncSettings()) {
        self.layout = layout
        self.settings = settings
    }

    /// Sets the hook called after every landed push with "scope S at commit X", for the node to tell its peers
    /// over the wire (they call `receiveNotice`).
    public func setPushHook(_ hook: (@Sendable (_ scope: String, _ commit: GitOID) -> Void)?) {
        pushHook = hook
    }

    /// The sync repository, opened (or created, bare) on first use.
    public func openRepository() async throws(SyncError) -> GitRepository {
        if let repository { return repository }
        let path = layout.repoDirectory
        let repo: GitRepository
        do {
            if FileManager.default.fileExists(atPath: path + "/HEAD") {
                repo = try await GitRepository.open(at: path, settings: settings.git)
            } else {
                // HEAD names a branch no scope can have (scope branches are ledger/<prefix>), so moving a scope
                // branch never meets libgit2's refusal to force-update the current HEAD.
                repo = try await GitRepository.create(at: path, bare: true, initialHead: "sync", settings: settings.git)
            }
        } catch {
            throw .repository(error)
        }
        repository = repo
        return repo
    }

    // MARK: Sync

    /// One sync now with every configured remote (or the one named): per scope, commit local changes, fetch,
    /// merge, push. Scopes found on a remote and missing locally are added. Throws on the first remote that
    /// fails; scopes already synced stay synced.
    public func sync(_ database: LedgerDatabase, remote name: String? = nil) async throws(SyncError) -> SyncReport {
        var remotes = SyncConfig.remotes(layout)
        if let name { remotes = remotes.filter { $0.name == name } }
        guard !remotes.isEmpty else { throw .noRemote(name) }
        await acquire()
        defer { release() }
        let repo = try await openRepository()
        var report = SyncReport()
        for remote in remotes {
            try await rememberTrackingRefs(remote, repo)
            try await fetch(remote, repo)
            let remoteScopes = try await scopesOn(remote, repo)
            let local = Set(database.store.read { $0.scopeNames })
            for scope in remoteScopes.sorted() where !local.contains(scope) && BeadID.isValidPrefix(scope) {
                do {
                    try await DedicatedThread.run { () throws(LedgerDatabaseError) in try database.addScope(scope) }
                } catch { throw .store(error) }
            }
            for scope in database.store.read({ $0.scopeNames }) {
                report.scopes.append(try await syncScope(scope, with: remote, database: database, repo: repo))
            }
        }
        return report
    }

    func acquire() async {
        if !syncing {
            syncing = true
            return
        }
        await withCheckedContinuation { syncWaiters.append($0) }
    }

    func release() {
        if syncWaiters.isEmpty { syncing = false } else { syncWaiters.removeFirst().resume() }
    }

    /// Takes the remote-tracking refs as they were before the fetch as the values last seen on `remote` (they
    /// persist in the repository), so a new engine also notices a history rewritten since the last sync.
    func rememberTrackingRefs(_ remote: SyncRemote, _ repo: GitRepository) async throws(SyncError) {
        let prefix = "refs/remotes/\(remote.name)/ledger/"
        let branches: [GitBranch]
        do { branches = try await repo.branches(.remote) } catch { throw .repository(error) }
        for b in branches where b.reference.hasPrefix(prefix) {
            let key = remote.name + "/" + String(b.reference.dropFirst(prefix.count))
            if seenRemote[key] == nil { seenRemote[key] = b.target }
        }
    }

    /// Fetches every ledger branch of `remote` into `refs/remotes/<name>/ledger/*`.
    func fetch(_ remote: SyncRemote, _ repo: GitRepository) async throws(SyncError) {
        do {
            _ = try await repo.fetch(
                from: remote.url, refspecs: ["+refs/heads/ledger/*:refs/remotes/\(remote.name)/ledger/*"],
                prune: true)
        } catch {
            throw .remote(name: remote.name, url: remote.url, error)
        }
    }

    /// The scopes that have a branch on `remote` (as last fetched).
    func scopesOn(_ remote: SyncRemote, _ repo: GitRepository) async throws(SyncError) -> [String] {
        let prefix = "refs/remotes/\(remote.name)/ledger/"
        do {
            return try await repo.branches(.remote).compactMap {
                $0.reference.hasPrefix(prefix) ? String($0.reference.dropFirst(prefix.count)) : nil
            }
        } catch {
            throw .repository(error)
        }
    }

    /// Where each scope stands: absorbed commit, local changes not yet committed, last fetched remote values.
    public func status(_ database: LedgerDatabase) async throws(SyncError) -> [SyncScopeStatus] {
        await acquire()
        defer { release() }
        let repo = try await openRepository()
        let absorbed = LedgerSync.absorbedMap(database.store.absorbedCommit)
        var out: [SyncScopeStatus] = []
        for scope in database.store.read({ $0.scopeNames }) {
            let cache = try await loadCache(scope, absorbed: absorbed, repo: repo)
            let ledger = database.store.read { $0.scopes[scope]! }
            let changed = LedgerSync.render(ledger, cache).changed
            var remotes: [(name: String, commit: String?)] = []
            for remote in SyncConfig.remotes(layout) {
                let target = try? await repo.referenceTarget("refs/remotes/\(remote.name)/ledger/\(scope)")
                remotes.append((remote.name, (target ?? nil)?.hex))
            }
            out.append(
                SyncScopeStatus(
                    scope: scope, absorbed: absorbed[scope], dirty: cache.commit == nil || changed > 0,
                    changedBeads: changed, remotes: remotes))
        }
        return out
    }

    // MARK: Loop and notices

    /// The automatic sync loop of `bd sync --watch` and the node daemon: syncs every `interval` until the task is
    /// cancelled (a sync in progress finishes first). `database` gives the store for each round and says whether
    /// to close it afterwards (the CLI opens it per round so other `bd` commands get the lock in between; the
    /// node keeps its own open). `onSync` sees every round's outcome; an error does not stop the loop.
    public func watch(
        interval: Duration,
        database: @Sendable () async throws(SyncError) -> (database: LedgerDatabase, close: Bool),
        onSync: @Sendable (Result<SyncReport, SyncError>) async -> Void
    ) async {
        while !Task.isCancelled {
            let outcome: Result<SyncReport, SyncError>
            do throws(SyncError) {
                let (db, close) = try await database()
                do throws(SyncError) {
                    outcome = .success(try await sync(db))
                } catch {
                    outcome = .failure(error)
                }
                if close { await DedicatedThread.run { db.close() } }
            } catch {
                outcome = .failure(error)
            }
            await onSync(outcome)
            try? await Task.sleep(for: interval)
        }
    }

    /// A peer said "scope S at commit X" (over the wire). Unless that commit is already ours, a sync is scheduled,
    /// at most one per `settings.noticeCoalescing` however many notices arrive. Returns whether one was scheduled
    /// (false: already known, or coalesced into a pending one).
    @discardableResult
    public func receiveNotice(scope: String, commit: GitOID, database: LedgerDatabase) -> Bool {
        if caches[scope]?.commit == commit || noticeTask != nil { return false }
        let delay: Duration
        if let last = lastNoticeSync {
            let next = last + settings.noticeCoalescing
            let now = ContinuousClock.now
            delay = next > now ? next - now : .zero
        } else {
            delay = .zero
        }
        let task = Task {
            if delay > .zero { try? await Task.sleep(for: delay) }
            await self.runNoticeSync(database)
        }
        noticeTask = task
        lastNoticeTask = task
        return true
    }

    func runNoticeSync(_ database: LedgerDatabase) async {
        noticeTask = nil
        guard !Task.isCancelled else { return }
        lastNoticeSync = ContinuousClock.now
        _ = try? await sync(database)
    }

    /// Waits for the last scheduled notice sync, if any, to finish (tests, shutdown).
    public func settleNotices() async {
        await lastNoticeTask?.value
    }

    /// Cancels a notice sync still waiting for its turn (shutdown); one already running finishes.
    public func cancelNotices() async {
        noticeTask?.cancel()
        await lastNoticeTask?.value
    }

    // MARK: Absorbed commits

    /// The store's absorbed commits per scope (`DurableStore.absorbedCommit` holds a JSON object scope → hex).
    static func absorbedMap(_ text: String?) -> [String: String] {
        guard let text, let value = try? JSONValue.parse(text), case .object(let members) = value else { return [:] }
        var out: [String: String] = [:]
        for m in members { if let hex = m.value.stringValue { out[m.key] = hex } }
        return out
    }

    static func absorbedText(_ map: [String: String]) -> String {
        JSONValue.object(map.keys.sorted().map { JSONMember($0, .string(map[$0]!)) }).compactText
    }

    /// The cache of `scope`, reloaded from the absorbed commit when it is missing or stale (another process synced
    /// meanwhile, or this engine is new).
    func loadCache(
        _ scope: String, absorbed: [String: String], repo: GitRepository
    ) async throws(SyncError) -> ScopeCache {
        if let cache = caches[scope], cache.commit?.hex == absorbed[scope] { return cache }
        guard let hex = absorbed[scope], let oid = GitOID(hex: hex), await repo.contains(oid) else {
            return ScopeCache()
        }
        do {
            let files = try await LedgerSync.readFiles(oid, repo)
            var cache = ScopeCache(commit: oid)
            let issues = ScopeLines.split(files.issues)
            cache.lines = ScopeLines(issues: issues.lines, stamps: ScopeLines.split(files.stamps).lines)
            cache.lines.carried = issues.unreadable.map(\.bytes)
            cache.replicas = ReplicaEntry.decode(files.replicas).entries
            caches[scope] = cache
            return cache
        } catch {
            throw .repository(error)
        }
    }

    /// The files of a scope commit. `issuesMissing` says why `issues.jsonl` could not be read as a file (absent, or
    /// a directory), nil when it is one.
    static func readFiles(
        _ commit: GitOID, _ repo: GitRepository
    ) async throws(GitError) -> (issues: Data, stamps: Data, replicas: Data?, issuesMissing: String?) {
        var missing: String?
        let issues: Data
        if let data = try await repo.readFile("issues.jsonl", at: commit.hex) {
            issues = data
        } else {
            issues = Data()
            switch try await repo.entryKind("issues.jsonl", at: commit.hex) {
            case nil: missing = "it has no issues.jsonl"
            case "tree": missing = "its issues.jsonl is a directory, not a file"
            default: missing = "its issues.jsonl is not a file"
            }
        }
        let stamps = try await repo.readFile("stamps.jsonl", at: commit.hex) ?? Data()
        let replicas = try await repo.readFile("replicas.jsonl", at: commit.hex)
        return (issues, stamps, replicas, missing)
    }

    /// The lines of `ledger` and how many beads differ from the cache's commit. Lines the commit holds for IDs the
    /// ledger does not (held: beads a sync refused to take in, see `isHeld`) and its carried lines are kept, so a
    /// sync never erases what it could not read.
    static func render(_ ledger: Ledger, _ cache: ScopeCache) -> (lines: ScopeLines, changed: Int) {
        if let previous = cache.ledger { return cache.lines.updated(from: previous, to: ledger) }
        var lines = ScopeLines(ledger: ledger)
        lines.carried = cache.lines.carried
        var changed = 0
        for (id, line) in lines.issues
        where cache.lines.issues[id] != line || cache.lines.stamps[id] != lines.stamps[id] {
            changed += 1
        }
        for (id, line) in cache.lines.issues where lines.issues[id] == nil {
            if isHeld(line, in: ledger) {
                lines.issues[id] = line
                lines.stamps[id] = cache.lines.stamps[id]
            } else {
                changed += 1
            }
        }
        return (lines, changed)
    }

    /// Whether a branch line is one a sync refuses to take into `ledger`: not a bead (`BeadCodec`), or a bead the
    /// ledger's own checks refuse (`Ledger.validateRecord`, the checks of a local write).
    static func isHeld(_ line: String, in ledger: Ledger) -> Bool {
        guard let bead = try? BeadCodec.decode(try JSONValue.parse(line)) else { return true }
        do { try ledger.validateRecord(bead) } catch { return true }
        return false
    }
}

extension ScopeLines {
    init(issues: [String: String], stamps: [String: String]) {
        self.init()
        self.issues = issues
        self.stamps = stamps
    }
}
