import Beads
import Dispatch
import Foundation
import Node
import Git
import LedgerStore

#if canImport(Glibc)
    import Glibc
#endif

/// `bd sync`: one sync with the ledger remotes now (`--status`: where each scope stands; `--watch`: the automatic
/// loop, until SIGINT or SIGTERM).
public struct BDSyncCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "sync", abstract: "Sync the ledger with its git remotes",
            discussion: """
                Each scope is the branch ledger/<scope> of .beads/repo (issues.jsonl, stamps.jsonl, replicas.jsonl).
                A sync commits local changes (one commit per scope), fetches, merges by state (nothing is lost),
                and pushes with a compare-and-swap, retrying after a backoff when someone else pushed first.
                --watch syncs every --interval (default 1s for path remotes, 5s for network ones) until
                interrupted; it opens the store only for each round, so other bd commands run in between.
                """,
            options: [
                .flag("status", help: "show what is committed, changed and fetched, without syncing"),
                .flag("watch", help: "sync every --interval until SIGINT/SIGTERM"),
                .option("interval", value: "DURATION", help: "interval of --watch: 500ms, 1s, 2m (default per remote)"),
                .option("remote", value: "NAME", help: "sync with this remote only"),
            ])
    }

    var status: Bool
    var watch: Bool
    var interval: Duration?
    var remote: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        status = parsed.flag("status")
        watch = parsed.flag("watch")
        remote = parsed.string("remote")
        if let text = parsed.string("interval") {
            guard let d = BDSyncSupport.duration(text), d > .zero else {
                throw parsed.invalid("invalid --interval '\(text)': use e.g. 500ms, 1s, 2m")
            }
            interval = d
        }
        if status && watch { throw parsed.invalid("--status and --watch do not go together") }
    }

    public func run(_ context: CommandContext) async throws {
        let layout = StoreLayout(beadsDirectory: try context.beadsStore().path)
        if !status && !watch, let loop = LedgerSyncComponent.running(store: layout.root) {
            // Inside the node: the node's sync loop runs the sync (one at a time with its own, peers told).
            let reply: LedgerSyncReply
            do { reply = try await loop.syncNow(remote: remote) } catch {
                throw CLIError(error.message, code: "sync_failed")
            }
            try BDSyncSupport.print(reply, context)
            return
        }
        let engine = await BDSyncSupport.engine(layout)
        if status {
            try await BDSyncSupport.printStatus(engine, layout, context)
        } else if watch {
            try await BDSyncSupport.watch(engine, layout, interval: interval, remote: remote, context)
        } else {
            // On a terminal, the fetches of a sync run by this process (not the node's loop) draw a progress bar.
            let bars = TransferProgressBars(console: context.console)
            defer { bars.finish() }
            var engine = engine
            if LedgerSyncComponent.running(store: layout.root) == nil, let observer = bars.observer("fetching the ledger")
            {
                var settings = SyncSettings()
                settings.git.transferProgress = observer
                engine = LedgerSync(layout: layout, settings: settings)
            }
            let report = try await BDSyncSupport.withDatabase(layout) { [engine] db async throws(SyncError) in
                try await engine.sync(db, remote: remote)
            }
            bars.finish()
            BDSyncSupport.print(report, context, quietWhenIdle: false)
        }
    }
}

/// `bd remote`: the ledger remotes (stored in `.beads/config.json`).
public struct BDRemoteCommand: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "remote", abstract: "Manage the ledger's git remotes",
            subcommands: [BDRemoteAddCommand.self, BDRemoteListCommand.self, BDRemoteRemoveCommand.self])
    }
    public init() {}
}

/// `bd remote add NAME URL`.
public struct BDRemoteAddCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "add", abstract: "Add a ledger remote (a path, file://, ssh or https URL)",
            arguments: [
                ArgumentSpec("name", help: "remote name, e.g. origin"), ArgumentSpec("url", help: "URL or path"),
            ])
    }
    var name: String
    var url: String
    public init(parsed: ParsedValues) throws(UsageError) {
        name = parsed.argument("name")
        url = parsed.argument("url")
    }
    public func run(_ context: CommandContext) async throws {
        let layout = StoreLayout(beadsDirectory: try context.beadsStore().path)
        let url =
            GitRemoteURL.isLocal(self.url) && !self.url.hasPrefix("file://") ? context.absolutePath(self.url) : self.url
        do { try SyncConfig.add(SyncRemote(name: name, url: url), to: layout) } catch {
            throw CLIError(error.description, code: "invalid")
        }
        let shown = GitRemoteURL.redacted(url)
        if context.jsonMode {
            BDSupport.printJSON(
                .object([JSONMember("name", .string(name)), JSONMember("url", .string(shown))]), context.console)
        } else {
            context.console.out("✓ Added remote \(name) \(shown)")
        }
    }
}

/// `bd remote list`.
public struct BDRemoteListCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(name: "list", abstract: "List the ledger remotes")
    }
    public init(parsed: ParsedValues) throws(UsageError) {}
    public func run(_ context: CommandContext) async throws {
        let remotes = SyncConfig.remotes(StoreLayout(beadsDirectory: try context.beadsStore().path))
        if context.jsonMode {
            let items: [LedgerJSON] = remotes.map {
                .object([
                    JSONMember("name", .string($0.name)), JSONMember("url", .string(GitRemoteURL.redacted($0.url))),
                ])
            }
            BDSupport.printJSON(.array(items), context.console)
        } else if remotes.isEmpty {
            context.console.out("No remotes: add one with 'bd remote add origin URL'")
        } else {
            // Credentials in a URL are shown as *** (they stay in .beads/config.json, mode 0600).
            for r in remotes { context.console.out("\(r.name)\t\(GitRemoteURL.redacted(r.url))") }
        }
    }
}

/// `bd remote remove NAME`.
public struct BDRemoteRemoveCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "remove", aliases: ["rm"], abstract: "Remove a ledger remote",
            arguments: [ArgumentSpec("name", help: "remote name")])
    }
    var name: String
    public init(parsed: ParsedValues) throws(UsageError) { name = parsed.argument("name") }
    public func run(_ context: CommandContext) async throws {
        let layout = StoreLayout(beadsDirectory: try context.beadsStore().path)
        do { try SyncConfig.remove(name, from: layout) } catch { throw CLIError(error.description, code: "not_found") }
        if !context.jsonMode {
            context.console.out("✓ Removed remote \(name)")
        } else {
            BDSupport.printJSON(.object([JSONMember("removed", .string(name))]), context.console)
        }
    }
}

/// Plumbing of the sync commands: opening the store off the pool, printing reports, the watch loop, `init --remote`.
/// A namespace; `Sendable` trivially.
enum BDSyncSupport {
    /// Opens the store (embedded, taking its lock) on a dedicated thread, runs `body`, closes it.
    static func withDatabase<T: Sendable>(
        _ layout: StoreLayout, _ body: (LedgerDatabase) async throws(SyncError) -> T
    ) async throws -> T {
        let held = try await BDSupport.heldDatabase(for: layout.root)
        let db: LedgerDatabase
        if let held { db = held } else { db = try await open(layout) }
        let result: Result<T, SyncError>
        do throws(SyncError) { result = .success(try await body(db)) } catch { result = .failure(error) }
        if held == nil { await DedicatedThread.run { db.close() } }
        switch result {
        case .success(let value): return value
        case .failure(let error): throw cliError(error)
        }
    }

    /// Opens the store as the writer (a sync writes) and prints what recovery found on `console`'s stderr.
    static func open(_ layout: StoreLayout, console: Console = .standard()) async throws(CLIError) -> LedgerDatabase {
        let db: LedgerDatabase
        do {
            db = try await DedicatedThread.run { () throws(LedgerDatabaseError) in try LedgerDatabase.open(layout) }
        } catch {
            throw BDSupport.cliError(error)
        }
        BDSupport.warn(db.recovery, console)
        return db
    }

    static func cliError(_ error: SyncError) -> CLIError {
        switch error {
        case .noRemote: return CLIError(error.description, code: "no_remote")
        case .store(let e): return BDSupport.cliError(e)
        default: return CLIError(error.description, code: "sync_failed")
        }
    }

    /// `500ms`, `1s`, `1.5s`, `2m`, or a plain number of seconds.
    static func duration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let n = Double(text.dropLast(suffix.count)) else { continue }
            return .milliseconds(Int64(n * scale * 1_000))
        }
        return Double(text).map { .milliseconds(Int64($0 * 1_000)) }
    }

    /// The sync engine for the store: inside the node, the sync loop's own (so a claim's sync or `bd sync --status`
    /// waits its turn with the loop's syncs on `.beads/repo`), else a new one.
    static func engine(_ layout: StoreLayout) async -> LedgerSync {
        if let loop = LedgerSyncComponent.running(store: layout.root), let engine = await loop.engine() {
            return engine
        }
        return LedgerSync(layout: layout)
    }

    /// Prints what the node's sync loop did for `bd sync`, as an embedded sync prints; a remote that failed is an
    /// error after the scopes that synced are printed.
    static func print(_ reply: LedgerSyncReply, _ context: CommandContext) throws {
        print(reply.scopes, context, quietWhenIdle: false)
        if !reply.errors.isEmpty {
            throw CLIError(reply.errors.joined(separator: "; "), code: "sync_failed")
        }
    }

    static func print(_ report: SyncReport, _ context: CommandContext, quietWhenIdle: Bool) {
        print(report.scopes.map(LedgerSyncScopeReport.init), context, quietWhenIdle: quietWhenIdle)
    }

    /// One printer for both paths: warnings and lost claims on stderr, then a line per scope (or beads' JSON array).
    static func print(_ scopes: [LedgerSyncScopeReport], _ context: CommandContext, quietWhenIdle: Bool) {
        for w in scopes.flatMap(\.warnings) { context.console.err("warning: \(w)") }
        for lost in scopes.flatMap(\.lostClaims) {
            context.console.err(
                "claim of \(lost.id) lost: already claimed by \(lost.winnerAssignee) at epoch \(lost.winnerEpoch)")
        }
        if context.jsonMode {
            BDSupport.printJSON(
                .array(
                    scopes.map { s in
                        .object([
                            JSONMember("scope", .string(s.scope)), JSONMember("remote", .string(s.remote)),
                            JSONMember("sent", .int(s.sent)), JSONMember("received", .int(s.received)),
                            JSONMember("commits", .int(s.commits)), JSONMember("pushes", .int(s.pushes)),
                            JSONMember("commit", .string(s.commit ?? "")), JSONMember("pruned", .int(s.pruned)),
                            JSONMember("lost_claims", .array(s.lostClaims.map { .string($0.id) })),
                            JSONMember("warnings", .array(s.warnings.map { .string($0) })),
                        ])
                    }), context.console)
            return
        }
        for s in scopes {
            let idle = s.sent == 0 && s.received == 0 && s.commits == 0 && s.pruned == 0
            if idle && quietWhenIdle { continue }
            let at = s.commit.map { String($0.prefix(12)) } ?? "-"
            var line = "ledger/\(s.scope) ⇄ \(s.remote): "
            line += idle ? "up to date" : "sent \(s.sent), received \(s.received), \(s.commits) commit(s)"
            if s.pruned > 0 { line += ", pruned \(s.pruned)" }
            if !s.reIDs.isEmpty { line += ", re-IDed \(s.reIDs.joined(separator: ", "))" }
            context.console.out(line + " at \(at)")
        }
    }

    static func printStatus(_ engine: LedgerSync, _ layout: StoreLayout, _ context: CommandContext) async throws {
        let remotes = SyncConfig.remotes(layout)
        let status = try await withDatabase(layout) { db async throws(SyncError) in try await engine.status(db) }
        if context.jsonMode {
            BDSupport.printJSON(
                .array(
                    status.map { s in
                        .object([
                            JSONMember("scope", .string(s.scope)), JSONMember("absorbed", .string(s.absorbed ?? "")),
                            JSONMember("dirty", .bool(s.dirty)), JSONMember("changed_beads", .int(s.changedBeads)),
                            JSONMember(
                                "remotes",
                                .array(
                                    s.remotes.map {
                                        .object([
                                            JSONMember("name", .string($0.name)),
                                            JSONMember("fetched", .string($0.commit ?? "")),
                                        ])
                                    })),
                        ])
                    }), context.console)
            return
        }
        if remotes.isEmpty { context.console.out("No remotes: add one with 'bd remote add origin URL'") }
        for s in status {
            let absorbed = s.absorbed.map { String($0.prefix(12)) } ?? "never synced"
            let state = s.dirty ? "\(s.changedBeads) bead(s) changed since" : "no local changes"
            context.console.out("ledger/\(s.scope): synced at \(absorbed), \(state)")
            for r in s.remotes {
                context.console.out("  \(r.name): \(r.commit.map { String($0.prefix(12)) } ?? "not fetched")")
            }
        }
    }

    /// The watch loop: sync every interval until SIGINT/SIGTERM, printing rounds that moved something.
    static func watch(
        _ engine: LedgerSync, _ layout: StoreLayout, interval: Duration?, remote: String?, _ context: CommandContext
    ) async throws {
        if NodeLedgerHandle.current != nil {
            throw CLIError(
                "bd sync --watch does not run through the town's node: the node holds the store and runs no watch "
                    + "loop for a client",
                hint: "run 'bd sync' (once) while the node runs, or stop the node with 'gt down' to watch",
                code: "node_running")
        }
        let remotes = SyncConfig.remotes(layout)
        guard let first = remotes.first(where: { remote == nil || $0.name == remote }) else {
            throw cliError(.noRemote(remote))
        }
        let every = interval ?? engine.settings.interval(for: first.url)
        let console = context.console
        let jsonContext = context
        if !context.jsonMode { console.out("Syncing every \(every) (Ctrl-C to stop)") }
        let loop = Task {
            await engine.watch(interval: every) { () async throws(SyncError) in
                do throws(CLIError) { return (try await open(layout), true) } catch {
                    throw .store(.badRecord(error.description))
                }
            } onSync: { outcome in
                switch outcome {
                case .success(let report): print(report, jsonContext, quietWhenIdle: true)
                case .failure(let error): console.err("warning: \(error.description)")
                }
            }
        }
        let stop = SignalStop(signals: [SIGINT, SIGTERM]) { loop.cancel() }
        await loop.value
        stop.cancel()
        if !context.jsonMode { console.out("Stopped.") }
    }

    /// `bd init --remote URL` before the store exists: the remote's only scope, if it has exactly one (so a clone
    /// takes the remote's prefix when none is given). Path remotes only; nil otherwise.
    static func soleRemoteScope(_ url: String) async -> String? {
        guard GitRemoteURL.isLocal(url), let repo = try? await GitRepository.open(at: GitRemoteURL.localPath(url)),
            let branches = try? await repo.branches(.local)
        else { return nil }
        let scopes = branches.compactMap { $0.name.hasPrefix("ledger/") ? String($0.name.dropFirst(7)) : nil }
        return scopes.count == 1 ? scopes[0] : nil
    }

    /// `bd init --remote URL` after the store was created: makes the remote exist (a missing path or an empty
    /// directory becomes a bare repository), records it as `origin`, and syncs: a remote with a ledger is cloned
    /// (every scope), an empty one gets this store's scopes.
    static func attachRemote(
        url raw: String, beadsDirectory: String, _ context: CommandContext
    ) async throws
        -> SyncReport
    {
        let url = GitRemoteURL.isLocal(raw) && !raw.hasPrefix("file://") ? context.absolutePath(raw) : raw
        if GitRemoteURL.isLocal(url) {
            let path = GitRemoteURL.localPath(url)
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? nil
            if !FileManager.default.fileExists(atPath: path) || entries?.isEmpty == true {
                // HEAD names this store's scope branch, so a plain `git clone` of the remote checks it out.
                let head = LedgerDatabase.readConfigPrefix(StoreLayout(beadsDirectory: beadsDirectory)).map {
                    "ledger/\($0)"
                }
                do { _ = try await GitRepository.create(at: path, bare: true, initialHead: head ?? "main") } catch {
                    throw CLIError("cannot create the remote repository at \(path): \(error)", code: "sync_failed")
                }
            }
        }
        let layout = StoreLayout(beadsDirectory: beadsDirectory)
        do { try SyncConfig.add(SyncRemote(name: "origin", url: url), to: layout) } catch {
            throw CLIError(error.description, code: "invalid")
        }
        let engine = LedgerSync(layout: layout)
        do {
            return try await withDatabase(layout) { db async throws(SyncError) in try await engine.sync(db) }
        } catch let error as CLIError {
            // The store was created by this very command: a failed init leaves nothing behind.
            try? FileManager.default.removeItem(atPath: beadsDirectory)
            throw CLIError(
                "bd init --remote failed: \(error.message)", hint: "no store was created; check the URL and try again",
                code: error.code)
        }
    }
}

/// Calls `action` once when one of `signals` arrives (the signals are ignored by default meanwhile). Cancel to
/// restore nothing and stop listening. `@unchecked Sendable`: its sources are only touched at init and cancel.
final class SignalStop: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []

    init(signals: [Int32], action: @escaping @Sendable () -> Void) {
        for sig in signals {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler(handler: action)
            source.resume()
            sources.append(source)
        }
    }

    func cancel() { for s in sources { s.cancel() } }
}
