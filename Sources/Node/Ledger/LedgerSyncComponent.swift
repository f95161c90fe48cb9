import Foundation
import Git
import LedgerStore
import Membership
import Transport
import Wire

/// Where the sync loop gets the town's open ledger: the node's LedgerActor (which holds the store's one-writer
/// lock) conforms; tests pass an opened database with `FixedLedgerDatabase`.
///
/// Conformers are `Sendable`.
public protocol LedgerDatabaseSource: Sendable {
    /// The open ledger, or nil while it is not open (the loop then waits and asks again).
    func heldLedgerDatabase() async -> LedgerDatabase?
    /// Told after a sync merged in beads changed elsewhere, in `scopes` (the node's handle wakes its Refinery).
    /// Default: nothing.
    func synced(scopes: [String])
}

extension LedgerDatabaseSource {
    public func synced(scopes: [String]) {}
}

/// A database opened by the caller, handed to the loop as it is. `Sendable`: `LedgerDatabase` is.
public struct FixedLedgerDatabase: LedgerDatabaseSource {
    public let database: LedgerDatabase
    public init(_ database: LedgerDatabase) { self.database = database }
    public func heldLedgerDatabase() async -> LedgerDatabase? { database }
}

/// A database found by a closure (e.g. `{ await ledgerActor.database }`). `Sendable`: a `Sendable` closure.
public struct LedgerDatabaseClosure: LedgerDatabaseSource {
    let body: @Sendable () async -> LedgerDatabase?
    public init(_ body: @escaping @Sendable () async -> LedgerDatabase?) { self.body = body }
    public func heldLedgerDatabase() async -> LedgerDatabase? { await body() }
}

/// The node's ledger sync loop (docs/sync.md "The node's sync loop"): runs `LedgerSync` with every remote of
/// the town's store as `LedgerSyncLoop` directs (batched local writes, periodic syncs, backoff), tells the live
/// members of the cluster after each push that moved a scope (`ledger-notice`, type 241), fetches at once on their
/// notices, and answers `bd sync` (`ledger-sync-now`, 242) and `bd sync --status` (`ledger-sync-status`, 243) on
/// the node's socket. In-process callers use `syncNow(remote:)` and `status()`.
///
/// All git work runs on the sync repository's git thread (`GitRepository`) and store writes on the WAL thread,
/// so no cooperative-pool thread blocks on libgit2 or fsync.
///
/// `@unchecked Sendable`: immutable configuration plus the current driver, guarded by `lock`.
public final class LedgerSyncComponent: NodeComponent, @unchecked Sendable {
    public let name = "ledger-sync"
    public var messageTypes: [MessageDescriptor] { LedgerSyncMessageType.descriptors }

    /// A cluster member to tell: its name and where it listens for peers.
    public typealias Peer = (name: NodeName, address: String)

    let source: any LedgerDatabaseSource
    let loopSettings: LedgerSyncLoopSettings?
    let syncSettings: SyncSettings
    let peers: @Sendable () async -> [Peer]
    private let lock = NSLock()
    private var current: LedgerSyncDriver?

    /// - Parameters:
    ///   - database: the town's open ledger.
    ///   - settings: the loop's settings; nil takes `NodeSettings.ledgerSync` from the node.
    ///   - syncSettings: the sync engine's settings (git, push backoff).
    ///   - peers: the members to notify after a push (default: none; use `init(database:membership:…)`).
    public init(
        database: any LedgerDatabaseSource, settings: LedgerSyncLoopSettings? = nil,
        syncSettings: SyncSettings = SyncSettings(), peers: @escaping @Sendable () async -> [Peer] = { [] }
    ) {
        source = database
        loopSettings = settings
        self.syncSettings = syncSettings
        self.peers = peers
    }

    /// The loop notifying every member `membership` sees alive (but this node).
    public convenience init(
        database: any LedgerDatabaseSource, membership: MembershipComponent, settings: LedgerSyncLoopSettings? = nil,
        syncSettings: SyncSettings = SyncSettings()
    ) {
        self.init(
            database: database, settings: settings, syncSettings: syncSettings,
            peers: {
                guard let shell = membership.shell else { return [] }
                let me = shell.myself.name
                return await shell.members.compactMap { member -> Peer? in
                    guard member.status == .alive, member.name != me, let name = try? NodeName(member.name) else {
                        return nil
                    }
                    return (name, member.node.address)
                }
            })
    }

    var driver: LedgerSyncDriver? { lock.withLock { current } }

    /// Components started in this process, for `running(store:)`. Guarded by `registryLock`.
    nonisolated(unsafe) private static var registry: [ObjectIdentifier: LedgerSyncComponent] = [:]
    private static let registryLock = NSLock()
    /// The `.beads` directory of the store the loop syncs (set once the ledger is open).
    private var storeRoot: String?

    /// The loop running in this process for the store at `root` (its `.beads` directory), if any: a `bd sync`
    /// executed inside the node calls its `syncNow(remote:)` (one sync at a time with the loop, and peers are told),
    /// and claims share its `engine()`.
    public static func running(store root: String) -> LedgerSyncComponent? {
        let all = registryLock.withLock { Array(registry.values) }
        let wanted = URL(fileURLWithPath: root).standardizedFileURL.path
        return all.first { component in
            component.lock.withLock { component.storeRoot }.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
                == wanted
        }
    }

    /// The `LedgerSync` engine the loop uses (nil until the ledger is open): other syncs of the same store in this
    /// process (claims) use it so they wait their turn instead of racing the loop on `.beads/repo`.
    public func engine() async -> LedgerSync? { await driver?.engine }

    func noteStore(_ root: String?) { lock.withLock { storeRoot = root } }

    public func start(in context: NodeContext) async throws {
        let driver = LedgerSyncDriver(
            context: context, source: source, settings: loopSettings ?? context.settings.ledgerSync,
            syncSettings: syncSettings, peers: peers, onStore: { [weak self] root in self?.noteStore(root) })
        lock.withLock { current = driver }
        Self.registryLock.withLock { Self.registry[ObjectIdentifier(self)] = self }
    }

    public func run() async throws {
        guard let driver else { return }
        try await driver.run()
    }

    public func stop() async {
        _ = Self.registryLock.withLock { Self.registry.removeValue(forKey: ObjectIdentifier(self)) }
        let driver = lock.withLock {
            defer {
                current = nil
                storeRoot = nil
            }
            return current
        }
        await driver?.stop()
    }

    public func handle(_ message: InboundMessage) async throws -> [UInt8] {
        guard let driver else { throw ErrorReply(code: .unavailable, message: "ledger sync is not running") }
        let local = message.peer.purpose == .local
        switch message.envelope.type {
        case LedgerSyncMessageType.notice:
            guard !local else { throw ErrorReply(code: .refused, message: "ledger notices come from peers") }
            await driver.receive(try LedgerNotice.decode(message.envelope.body), from: message.peer.name.rawValue)
            return []
        case LedgerSyncMessageType.syncNow:
            guard local else { throw ErrorReply(code: .refused, message: "ledger-sync-now is local only") }
            let request = try NodeJSON.decode(LedgerSyncRequest.self, from: message.envelope.body)
            return NodeJSON.encode(try await driver.syncNow(remote: request.remote))
        case LedgerSyncMessageType.status:
            guard local else { throw ErrorReply(code: .refused, message: "ledger-sync-status is local only") }
            return NodeJSON.encode(await driver.status())
        default:
            throw ErrorReply(code: .unknownMessageType, message: "\(name) does not handle \(message.envelope.type)")
        }
    }

    /// Syncs now with the remote named `remote` (nil: every remote), after the sync running, if any; returns what
    /// each remote's sync did. Throws `unavailable` while the component or the ledger is not up, `badRequest` for
    /// an unknown remote or none configured.
    public func syncNow(remote: String? = nil) async throws(ErrorReply) -> LedgerSyncReply {
        guard let driver else { throw ErrorReply(code: .unavailable, message: "ledger sync is not running") }
        return try await driver.syncNow(remote: remote)
    }

    /// Takes a notice as if peer `peer` had sent it over the wire (in-process senders and tests).
    public func receiveNotice(_ notice: LedgerNotice, from peer: String) async throws(ErrorReply) {
        guard let driver else { throw ErrorReply(code: .unavailable, message: "ledger sync is not running") }
        await driver.receive(notice, from: peer)
    }

    /// The loop's view of each remote.
    public func status() async throws(ErrorReply) -> LedgerSyncStatus {
        guard let driver else { throw ErrorReply(code: .unavailable, message: "ledger sync is not running") }
        return await driver.status()
    }

    /// The loop's view of each remote only (cheap: no scope is read; the Deacon's `ledger-sync` Dog).
    public func remoteStatus() async throws(ErrorReply) -> [LedgerSyncStatus.Remote] {
        guard let driver else { throw ErrorReply(code: .unavailable, message: "ledger sync is not running") }
        return await driver.status(scopes: false).remotes
    }
}

/// The actor shell around `LedgerSyncLoop`: feeds it the clock, the store's local writes, the configured
/// remotes, peers' notices and `bd sync` requests, and carries out its directives.
///
/// `Sendable`: an actor.
actor LedgerSyncDriver {
    let context: NodeContext
    let source: any LedgerDatabaseSource
    let settings: LedgerSyncLoopSettings
    let syncSettings: SyncSettings
    let peers: @Sendable () async -> [LedgerSyncComponent.Peer]
    var core: LedgerSyncLoop
    let origin = ContinuousClock.now
    let originDate = Date()
    var database: LedgerDatabase?
    var engine: LedgerSync?
    var seenWrites: UInt64 = 0
    var remotesReadAt: Duration?
    /// Outcomes of finished syncs, by id, while their `bd sync` tickets are answered.
    var results: [Int: Result<SyncReport, SyncError>] = [:]
    /// `bd sync` callers waiting, each for the outcomes of its tickets (one per remote asked).
    struct Request {
        var tickets: [Int]
        var outcomes: [Int: Result<SyncReport, SyncError>?]
        var continuation: CheckedContinuation<[Result<SyncReport, SyncError>?], Never>
    }
    var requests: [Request] = []
    var nextTicket = 1
    var tasks: [Int: Task<Void, Never>] = [:]
    var stopped = false
    /// Told the store's `.beads` directory when the loop adopts a ledger (nil when it goes away).
    let onStore: @Sendable (String?) -> Void

    init(
        context: NodeContext, source: any LedgerDatabaseSource, settings: LedgerSyncLoopSettings,
        syncSettings: SyncSettings, peers: @escaping @Sendable () async -> [LedgerSyncComponent.Peer],
        onStore: @escaping @Sendable (String?) -> Void = { _ in }
    ) {
        self.onStore = onStore
        self.context = context
        self.source = source
        self.settings = settings
        self.syncSettings = syncSettings
        self.peers = peers
        core = LedgerSyncLoop(settings: settings)
    }

    func now() -> Duration { ContinuousClock.now - origin }

    func run() async throws {
        guard settings.enabled else {
            while !Task.isCancelled { try await Task.sleep(for: .seconds(3600)) }
            throw CancellationError()
        }
        while !Task.isCancelled {
            await step()
            var pause = settings.pollInterval
            if let wake = core.nextWake() { pause = min(pause, max(wake - now(), .milliseconds(1))) }
            try await Task.sleep(for: pause)
        }
        throw CancellationError()
    }

    /// Stops starting syncs and answers waiting `bd sync` callers; a sync already in git finishes on its own.
    func stop() {
        stopped = true
        for request in requests { request.continuation.resume(returning: request.tickets.map { _ in nil }) }
        requests = []
    }

    /// One look at the world: the ledger, the remotes (every `remotesRefresh`), new local writes, the clock.
    func step() async {
        guard !stopped, let db = await source.heldLedgerDatabase() else {
            if database != nil { onStore(nil) }
            database = nil
            return
        }
        if database !== db {
            onStore(db.layout.root)
            if engine?.layout.root != db.layout.root { engine = LedgerSync(layout: db.layout, settings: syncSettings) }
            database = db
            seenWrites = db.localWriteCount
            remotesReadAt = nil
        }
        if remotesReadAt.map({ now() - $0 >= settings.remotesRefresh }) ?? true {
            let layout = db.layout
            let remotes = await DedicatedThread.run { SyncConfig.remotes(layout) }
            remotesReadAt = now()
            apply(core.onRemotes(remotes, now: now()))
        }
        let writes = db.localWriteCount
        if writes != seenWrites {
            seenWrites = writes
            apply(core.onLocalWrite(now: now()))
        }
        apply(core.onTick(now: now()))
    }

    func apply(_ directives: [LedgerSyncLoop.Directive]) {
        for directive in directives {
            switch directive {
            case .sync(let remote, let id, _):
                guard let db = database, let engine, !stopped else {
                    finished(remote: remote.name, id: id, .failure(.noRemote(remote.name)))
                    continue
                }
                tasks[id] = Task {
                    let result: Result<SyncReport, SyncError>
                    do throws(SyncError) {
                        result = .success(try await engine.sync(db, remote: remote.name))
                    } catch {
                        result = .failure(error)
                    }
                    self.finished(remote: remote.name, id: id, result)
                }
            case .notify(let scope, let commit, let remote):
                guard !stopped else { continue }
                let body = NodeJSON.encode(LedgerNotice(scope: scope, commit: commit, url: remote.url))
                let context = self.context
                let peers = self.peers
                Task {
                    for peer in await peers() {
                        if context.box.peerTable[peer.name]?.1.contains(.general) != true,
                            let address = try? PeerAddress(parsing: peer.address)
                        {
                            await context.addPeer(peer.name, at: address, purposes: [.general])
                        }
                        Task { try? await context.send(LedgerSyncMessageType.notice, body: body, to: peer.name) }
                    }
                }
            case .answer(let tickets, let syncID):
                let result = syncID.flatMap { results[$0] }
                for ticket in tickets { answer(ticket, result) }
            }
        }
    }

    func finished(remote: String, id: Int, _ result: Result<SyncReport, SyncError>) {
        tasks[id] = nil
        results[id] = result
        let outcome: LedgerSyncLoop.Outcome
        switch result {
        case .success(let report):
            var commits: [String: String] = [:]
            var pushed: [String: String] = [:]
            for scope in report.scopes where scope.remote == remote {
                guard let commit = scope.commit?.hex else { continue }
                commits[scope.scope] = commit
                if scope.pushes > 0 { pushed[scope.scope] = commit }
            }
            outcome = .succeeded(commits: commits, pushed: pushed)
            // Beads other nodes changed came in: the parts of the node waiting for work look (the Refinery wakes
            // when a new merge request arrived).
            let received = Set(report.scopes.filter { $0.received > 0 }.map(\.scope))
            if !received.isEmpty {
                source.synced(scopes: received.sorted())
                // Told to whoever watches the events (the dashboard's pages fetch again, `gt feed` shows it).
                let count = report.scopes.filter { $0.remote == remote }.reduce(0) { $0 + $1.received }
                let scopes = received.sorted().joined(separator: ",")
                context.events.record("ledger_received", ["remote": remote, "scopes": scopes, "beads": "\(count)"])
            }
            for scope in report.scopes {
                for reID in scope.reIDs {
                    let parts = reID.components(separatedBy: " → ")
                    context.log.warning(
                        "ledger sync re-IDed a bead", ["remote": remote, "scope": scope.scope, "re_id": reID])
                    context.events.record(
                        "ledger_reid",
                        [
                            "remote": remote, "scope": scope.scope, "old": parts.first ?? reID,
                            "new": parts.count > 1 ? parts[1] : "",
                        ])
                }
            }
            if core.remote(named: remote)?.failures ?? 0 > 0 {
                context.log.info("ledger sync recovered", ["remote": remote])
            }
        case .failure(let error):
            outcome = .failed(message: error.description, jitter: Double.random(in: 0..<1))
            let failures = (core.remote(named: remote)?.failures ?? 0) + 1
            context.log.warning(
                "ledger sync failed", ["remote": remote, "failures": "\(failures)", "error": error.description])
        }
        apply(core.onSyncFinished(remote: remote, id: id, outcome: outcome, now: now()))
        results[id] = nil
    }

    /// A peer's notice: match its URL to one of our remotes, check whether we already have the commit, and let
    /// the core decide.
    func receive(_ notice: LedgerNotice, from peer: String) async {
        guard settings.notices, !stopped, let engine else { return }
        let match = core.remotes.first { Self.sameRemote($0.remote.url, notice.url) }?.remote.name
        let have = await Self.alreadyHave(notice, engine)
        apply(core.onNotice(scope: notice.scope, commit: notice.commit, remote: match, alreadyHave: have, now: now()))
    }

    /// Whether our branch `ledger/<scope>` is at or past `notice.commit`.
    static func alreadyHave(_ notice: LedgerNotice, _ engine: LedgerSync) async -> Bool {
        guard let oid = GitOID(hex: notice.commit), let repo = try? await engine.openRepository(),
            await repo.contains(oid),
            let tip = (try? await repo.referenceTarget("refs/heads/ledger/\(notice.scope)")) ?? nil
        else { return false }
        if tip == oid { return true }
        return (try? await repo.isDescendant(tip, of: oid)) ?? false
    }

    /// Whether two remote URLs name the same remote (equal, or the same standardized local path).
    static func sameRemote(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        guard GitRemoteURL.isLocal(a), GitRemoteURL.isLocal(b) else { return false }
        func path(_ url: String) -> String {
            let bare = url.hasPrefix("file://") ? String(url.dropFirst("file://".count)) : url
            return URL(fileURLWithPath: bare).standardizedFileURL.path
        }
        return path(a) == path(b)
    }

    func syncNow(remote: String?) async throws(ErrorReply) -> LedgerSyncReply {
        // A `bd sync` right after `bd remote add` must know the new remote: read the remotes now.
        remotesReadAt = nil
        await step()
        guard database != nil, !stopped else {
            throw ErrorReply(code: .unavailable, message: "the node has not opened the town ledger yet; retry")
        }
        let names = core.remotes.map(\.remote.name).filter { remote == nil || $0 == remote }
        if names.isEmpty { throw ErrorReply(code: .badRequest, message: SyncError.noRemote(remote).description) }
        let tickets = names.map { _ in
            defer { nextTicket += 1 }
            return nextTicket
        }
        // One waiter for all the tickets, registered before the core can answer any of them.
        let outcomes = await withCheckedContinuation { continuation in
            requests.append(Request(tickets: tickets, outcomes: [:], continuation: continuation))
            apply(core.onSyncRequested(remote: remote, tickets: tickets, now: now()))
        }
        var reply = LedgerSyncReply()
        for outcome in outcomes {
            switch outcome {
            case .success(let report)?: reply.scopes += report.scopes.map(LedgerSyncScopeReport.init)
            case .failure(let error)?: reply.errors.append(error.description)
            case nil: reply.errors.append("the sync did not run (the node is stopping or the remote was removed)")
            }
        }
        reply.scopes.sort { ($0.remote, $0.scope) < ($1.remote, $1.scope) }
        return reply
    }

    /// Answers ticket `ticket` with `outcome` (nil: no sync ran), resuming its request once all of its tickets are.
    func answer(_ ticket: Int, _ outcome: Result<SyncReport, SyncError>?) {
        guard let i = requests.firstIndex(where: { $0.tickets.contains(ticket) }) else { return }
        requests[i].outcomes[ticket] = .some(outcome)
        guard requests[i].outcomes.count == requests[i].tickets.count else { return }
        let request = requests.remove(at: i)
        request.continuation.resume(returning: request.tickets.map { request.outcomes[$0]! })
    }

    /// The loop's view of each remote, and each scope's sync state (which waits for a sync in progress).
    /// The loop's view of each remote and, with `scopes`, each scope's state (which takes the sync lock and
    /// renders every scope: not for frequent callers).
    func status(scopes withScopes: Bool = true) async -> LedgerSyncStatus {
        var scopes: [LedgerSyncStatus.Scope] = []
        var scopesError: String?
        if withScopes, let database, let engine {
            do throws(SyncError) {
                scopes = try await engine.status(database).map(LedgerSyncStatus.Scope.init)
            } catch {
                scopesError = error.description
            }
        }
        let date = { (d: Duration) in self.originDate.addingTimeInterval(Self.seconds(d)) }
        return LedgerSyncStatus(
            ledgerOpen: database != nil, notices: settings.notices,
            remotes: core.remotes.map { r in
                LedgerSyncStatus.Remote(
                    name: r.remote.name, url: r.remote.url,
                    state: r.running != nil ? "syncing" : r.failures > 0 ? "backoff" : "idle",
                    intervalSeconds: Self.seconds(r.interval), syncs: r.syncs, failedSyncs: r.failedSyncs,
                    failures: r.failures, lastError: r.lastError, lastSuccessAt: r.lastSuccess.map(date),
                    nextRetryAt: r.failures > 0 ? r.retryAt.map(date) : nil, commits: r.commits,
                    noticeSyncs: r.noticeSyncs, noticesIgnored: r.noticesIgnored, noticesSent: r.noticesSent)
            }, scopes: scopes, scopesError: scopesError)
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
