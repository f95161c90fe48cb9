import Beads
import Foundation
import Git

#if canImport(Glibc)
    import Glibc
#endif

/// Settings of a town ledger store, with documented defaults. `Sendable`: values and a `Sendable` closure.
public struct LedgerDatabaseSettings: Sendable {
    /// The durable store's settings. Defaults as `StoreSettings`, except `maxRecordBytes` = 256 MiB so an import
    /// of a large JSONL file (one all-or-nothing record) fits, and `lockWaitTimeout` = 10 s so a `bd` started
    /// while several others run waits its turn instead of failing.
    public var store: StoreSettings
    /// Reads the wall clock in Unix nanoseconds. Default: `clock_gettime(CLOCK_REALTIME)`. Tests inject a clock.
    public var wallClockNanos: @Sendable () -> Int64 = LedgerDatabaseSettings.systemWallClock

    public init() {
        store = StoreSettings()
        store.maxRecordBytes = 256 << 20
        store.lockWaitTimeout = .seconds(10)
    }

    /// The system's real-time clock in nanoseconds.
    @Sendable public static func systemWallClock() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

/// The stamp and wall time a write gets: handed to the closure that builds the op.
/// `Sendable`: plain value.
public struct WriteClock: Sendable {
    /// The HLC stamp of this write.
    public var stamp: HLCStamp
    /// The wall time of this write (updated_at, closed_at, …), in UTC.
    public var time: Timestamp
}

/// How `bd` reaches a town's ledger: embedded (this process holds the store's lock, `LedgerDatabase`) or,
/// later, through the running node's Unix socket (DESIGN §3: bd tries the socket first, then the lock). Commands
/// use only this protocol.
///
/// Conformers are `Sendable` and serialize their own access.
public protocol LedgerAccess: AnyObject, Sendable {
    /// The `.beads` directory.
    var storePath: String { get }
    /// The scope new beads go to when no other is asked for (the prefix of `bd init`, `hq` for a town).
    var defaultScope: String { get }
    /// Reads the state; keep `body` short.
    func read<R>(_ body: (TownLedgerState) throws -> R) rethrows -> R
    /// Builds an op against the current ledger of a scope (`scope`, else the scope routing `id`, else the default
    /// scope) with a fresh stamp, applies it and makes it durable. Nothing is stored when `make` or the core throws.
    func write(
        scope: String?, routing id: String?, _ make: (Ledger, WriteClock) throws(LedgerError) -> LedgerOp
    ) throws(LedgerDatabaseError) -> (op: LedgerOp, bead: Bead?)
    /// Applies the changes `changes` builds against the current ledger of the scope (routed as `write`) as one
    /// all-or-nothing write by `actor`: each change gets its own stamp, all are logged in one record. Returns the
    /// bead after each change. Nothing is stored when any change is refused.
    func write(
        scope: String?, routing id: String?, actor: String,
        changes: (Ledger) throws(LedgerError) -> [LedgerChange]
    ) throws(LedgerDatabaseError) -> [Bead?]
    /// Writes every scope's sorted `issues.jsonl` and `stamps.jsonl` under `export/<scope>/`; returns the paths.
    func exportScopes() throws(LedgerDatabaseError) -> [String]
    /// Releases the store (waits for queued writes). Idempotent.
    func close()
}

/// The town's ledger store at `<dir>/.beads/`: every scope (`hq`, one per rig) in one durable store with one
/// write-ahead log, routed by ID prefix. Embedded mode: opening takes the store's exclusive lock before loading
/// (`DurableStore`); a second writer waits up to the lock timeout, then gets a clear error.
///
/// The HLC lives here, in the shell: each write reads the wall clock and ticks a clock whose node is the store's
/// replica ID and whose floor is the newest stamp in the store, so stamps only grow, across restarts too.
///
/// `@unchecked Sendable`: all state is inside the `DurableStore` (thread-safe); `defaultScope` is immutable.
public final class LedgerDatabase: LedgerAccess, @unchecked Sendable {
    /// Where the store lives.
    public let layout: StoreLayout
    public let settings: LedgerDatabaseSettings
    public let defaultScope: String
    let store: DurableStore<TownLedgerState>
    private let writes = LocalWriteCounter()

    public var storePath: String { layout.root }

    /// Local writes (`write`, `addScope`) this instance acknowledged, counting from 0 at open: the node's sync
    /// loop polls it to notice work to push (sync's own merge records do not count).
    public var localWriteCount: UInt64 { writes.value }

    /// The config file naming the default scope: `{"prefix": …}`.
    public static func configPath(_ layout: StoreLayout) -> String { layout.root + "/config.json" }

    private init(
        layout: StoreLayout, settings: LedgerDatabaseSettings, defaultScope: String,
        store: DurableStore<TownLedgerState>
    ) {
        self.layout = layout
        self.settings = settings
        self.defaultScope = defaultScope
        self.store = store
    }

    /// Creates the store at `layout` with the scope `prefix` as its default (`bd init --prefix`, `gt install`):
    /// the WAL with the replica ID and the scope, `config.json`, `metadata.json` and `routes.jsonl`. The parent of
    /// `layout.root` must exist. Refuses an already initialized store. Blocking.
    public static func initialize(
        _ layout: StoreLayout, prefix: String, settings: LedgerDatabaseSettings = LedgerDatabaseSettings()
    ) throws(LedgerDatabaseError) -> LedgerDatabase {
        guard BeadID.isValidPrefix(prefix) else { throw .invalidPrefix(prefix) }
        if let existing = readConfigPrefix(layout) {
            if !hasLog(layout) { throw logMissing(layout, missingLogDetail) }
            throw .alreadyInitialized(path: layout.root, prefix: existing)
        }
        let store: DurableStore<TownLedgerState>
        do { store = try DurableStore<TownLedgerState>.openBlocking(layout, settings: settings.store) } catch {
            throw .store(error)
        }
        do {
            let (replica, hasScope) = store.read { ($0.replicaID, $0.scopes[prefix] != nil) }
            if replica.isEmpty { _ = try store.appendSync(TownLedgerState.replicaRecord(newReplicaID())) }
            if !hasScope { _ = try store.appendSync(TownLedgerState.scopeRecord(prefix)) }
            try AtomicFile.write(indentedObject([("prefix", prefix)]), to: configPath(layout), mode: 0o600)
            try AtomicFile.write(indentedObject([("jsonl_export", "issues.jsonl")]), to: layout.root + "/metadata.json")
            try writeRoutes(layout, prefixes: store.read { $0.scopeNames })
        } catch {
            store.close()
            throw .store(error)
        }
        return LedgerDatabase(layout: layout, settings: settings, defaultScope: prefix, store: store)
    }

    /// Opens an initialized store (lock first, then load): `mode` `.read` for commands that only read (shared lock,
    /// no file changed), `.write` for the rest, `.repair` to accept cutting a damaged tail (`bd doctor --repair`).
    /// Throws `.notInitialized` when there is no store, `.logMissing` (changing nothing) when its `config.json` is
    /// there but its log is not. What the open found is in `recovery`. Blocking.
    ///
    /// `readyView` (with `.read`): load only what `ready` and `blocked` read when the newest snapshot has its ready
    /// closure and no record follows it (`TownLedgerState.init(readyView:)`, `isReadyView`); otherwise in full.
    public static func open(
        _ layout: StoreLayout, settings: LedgerDatabaseSettings = LedgerDatabaseSettings(),
        mode: StoreOpenMode = .write, readyView: Bool = false
    ) throws(LedgerDatabaseError) -> LedgerDatabase {
        guard let prefix = readConfigPrefix(layout) else { throw .notInitialized(path: layout.root) }
        guard hasLog(layout) else { throw logMissing(layout, missingLogDetail) }
        let store: DurableStore<TownLedgerState>
        do {
            store = try DurableStore<TownLedgerState>.openBlocking(
                layout, settings: settings.store, mode: mode,
                readView: readyView ? { bytes in try TownLedgerState(readyView: bytes) } : nil)
        } catch {
            throw .store(error)
        }
        let (hasReplica, hasScope) = store.read { (!$0.replicaID.isEmpty, $0.scopes[prefix] != nil) }
        guard hasReplica && hasScope else {
            store.close()
            throw logMissing(
                layout,
                "its write-ahead log holds no "
                    + (hasReplica ? "scope \"\(prefix)\" (the prefix config.json names)" : "replica ID"))
        }
        return LedgerDatabase(layout: layout, settings: settings, defaultScope: prefix, store: store)
    }

    /// Whether `wal/` holds at least one segment (a store `bd init` made always has one).
    static func hasLog(_ layout: StoreLayout) -> Bool {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: layout.walDirectory)) ?? []
        return names.contains { StoreLayout.number(in: $0, suffix: ".wal") != nil }
    }

    static let missingLogDetail = "no write-ahead log (wal/ is missing or holds no segment file)"

    /// `.logMissing` for `layout`, naming its first configured ledger remote to re-clone from.
    static func logMissing(_ layout: StoreLayout, _ detail: String) -> LedgerDatabaseError {
        .logMissing(
            path: layout.root, detail: detail,
            remote: SyncConfig.remotes(layout).first.map { GitRemoteURL.redacted($0.url) })
    }

    /// Whether this is a ready view (`open(_:settings:mode:readyView:)`): only the beads `ready` and `blocked` read.
    public var isReadyView: Bool { store.isReadView }

    /// What opening found: snapshot used, records replayed, damage at the end of the log (`RecoveryReport.warnings`).
    public var recovery: RecoveryReport { store.recovery }

    /// Adds a scope (a rig's prefix) to the store and to `routes.jsonl`. Blocking.
    public func addScope(_ prefix: String) throws(LedgerDatabaseError) {
        do {
            _ = try store.transactSync { (state: inout TownLedgerState) throws(LedgerDatabaseError) in
                try state.addScope(prefix)
                return (record: TownLedgerState.scopeRecord(prefix), result: ())
            }
            try LedgerDatabase.writeRoutes(layout, prefixes: store.read { $0.scopeNames })
        } catch let error as LedgerDatabaseError {
            throw error
        } catch let error as StoreError {
            throw .store(error)
        } catch {
            throw .badRecord("\(error)")
        }
    }

    public func read<R>(_ body: (TownLedgerState) throws -> R) rethrows -> R { try store.read(body) }

    public func write(
        scope: String?, routing id: String?, _ make: (Ledger, WriteClock) throws(LedgerError) -> LedgerOp
    ) throws(LedgerDatabaseError) -> (op: LedgerOp, bead: Bead?) {
        let (ops, beads) = try transact(scope: scope, routing: id) {
            (ledger, next) throws(LedgerDatabaseError) -> [LedgerOp] in
            let clock = try next()
            do throws(LedgerError) { return [try make(ledger, clock)] } catch { throw .ledger(error) }
        }
        return (ops[0], beads[0])
    }

    public func write(
        scope: String?, routing id: String?, actor: String,
        changes: (Ledger) throws(LedgerError) -> [LedgerChange]
    ) throws(LedgerDatabaseError) -> [Bead?] {
        try transact(scope: scope, routing: id) { (ledger, next) throws(LedgerDatabaseError) -> [LedgerOp] in
            let list: [LedgerChange]
            do throws(LedgerError) { list = try changes(ledger) } catch { throw .ledger(error) }
            var ops: [LedgerOp] = []
            for change in list {
                let clock = try next()
                ops.append(LedgerOp(actor: actor, stamp: clock.stamp, time: clock.time, change: change))
            }
            return ops
        }.beads
    }

    /// One durable write: routes to a scope, lets `build` make ops against its ledger (calling `next` for each
    /// op's stamp, ticked from one wall-clock reading), applies them all or none, and logs them as one record.
    func transact(
        scope: String?, routing id: String?,
        _ build: (Ledger, () throws(LedgerDatabaseError) -> WriteClock) throws(LedgerDatabaseError) -> [LedgerOp]
    ) throws(LedgerDatabaseError) -> (ops: [LedgerOp], beads: [Bead?]) {
        let wall = settings.wallClockNanos()
        do {
            let (result, _) = try store.transactSync {
                (
                    state: inout TownLedgerState
                ) throws(LedgerDatabaseError) -> (
                    record: Data, result: ([LedgerOp], [Bead?])
                ) in
                let name: String
                if let scope {
                    name = scope
                } else if let id {
                    guard let routed = state.scope(forID: id) else { throw .unroutable(id: id) }
                    name = routed
                } else {
                    name = defaultScope
                }
                guard state.scopes[name] != nil else { throw .unknownScope(name) }
                var clock = HybridLogicalClock(node: state.replicaID, last: state.maxStamp)
                let time = Timestamp(unixNanos: wall)
                let next = { () throws(LedgerDatabaseError) -> WriteClock in
                    do throws(HLCError) {
                        return WriteClock(stamp: try clock.tick(wallMillis: wall / 1_000_000), time: time)
                    } catch { throw .clock(error) }
                }
                // Pass the ledger as a temporary, so no copy outlives the call and `apply` mutates it in place.
                let ops = try build(state.scopes[name]!, next)
                guard !ops.isEmpty else { throw .ledger(.invalidOp("nothing to change")) }
                let beads = try state.apply(batch: ops, scope: name)
                let record =
                    ops.count == 1
                    ? TownLedgerState.opRecord(ops[0], scope: name) : TownLedgerState.batchRecord(ops, scope: name)
                return (record: record, result: (ops, beads))
            }
            writes.increment()
            return result
        } catch let error as LedgerDatabaseError {
            throw error
        } catch let error as StoreError {
            throw .store(error)
        } catch {
            throw .badRecord("\(error)")
        }
    }

    public func exportScopes() throws(LedgerDatabaseError) -> [String] {
        let files: [(String, String)] = store.read { state in
            state.scopeNames.flatMap { name -> [(String, String)] in
                let ledger = state.scopes[name]!
                return [
                    (layout.exportedJSONL(scope: name), ledger.exportJSONL()),
                    (layout.exportDirectory + "/\(name)/stamps.jsonl", ledger.exportStampsJSONL()),
                ]
            }
        }
        do {
            for (path, text) in files { try AtomicFile.write(Array(text.utf8), to: path, createDirectory: true) }
        } catch {
            throw .store(error)
        }
        return files.map(\.0)
    }

    /// Counters of the WAL since open (records, fsyncs).
    public var statistics: WALStatistics { store.statistics }

    public func close() { store.close() }

    /// Writes a snapshot of the whole ledger now and drops the WAL segments it covers (the compaction the store
    /// otherwise does every `snapshotEveryRecords`/`snapshotEveryBytes`); returns the position it covers.
    public func compact() async throws(StoreError) -> WALPosition { try await store.snapshot() }

    /// The sequence number the next WAL record will get: it moves with every write (local or from a sync).
    public var nextWALSequence: UInt64 { store.nextSequence }

    /// A new replica ID: 12 base36 characters from the system's random generator.
    static func newReplicaID() -> String {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        return String((0..<12).map { _ in alphabet[Int(generator.next() % 36)] })
    }

    /// The prefix recorded in `config.json`, or nil when there is no readable config.
    public static func readConfigPrefix(_ layout: StoreLayout) -> String? {
        guard let data = FileManager.default.contents(atPath: configPath(layout)),
            let value = try? JSONValue.parse(bytes: [UInt8](data)), let prefix = value["prefix"]?.stringValue
        else { return nil }
        return prefix
    }

    /// The custom issue types of `config.json`'s `"types.custom"` (beads' config key: a comma-separated string or a
    /// list of strings), in addition to the built-in ones; empty when unset or unreadable.
    public static func readConfigCustomTypes(_ layout: StoreLayout) -> [String] {
        guard let data = FileManager.default.contents(atPath: configPath(layout)),
            let value = try? JSONValue.parse(bytes: [UInt8](data)), let types = value["types.custom"]
        else { return [] }
        let names: [String]
        if let text = types.stringValue {
            names = text.split(separator: ",").map(String.init)
        } else if case .array(let items) = types {
            names = items.compactMap(\.stringValue)
        } else {
            names = []
        }
        return names.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// A flat object of strings, indented like Gas Town's config files (`{\n  "key": "value"\n}\n`).
    static func indentedObject(_ pairs: [(String, String)]) -> [UInt8] {
        var out = Array("{\n".utf8)
        for (i, (key, value)) in pairs.enumerated() {
            out += Array("  ".utf8)
            JSONValue.writeString(key, to: &out)
            out += Array(": ".utf8)
            JSONValue.writeString(value, to: &out)
            out += Array((i == pairs.count - 1 ? "\n" : ",\n").utf8)
        }
        return out + Array("}\n".utf8)
    }

    /// Writes `routes.jsonl`: one `{"path":".","prefix":"<p>-"}` line per scope (Gas Town's routing file), keeping
    /// lines already there for other prefixes (such as `hq-cv-`).
    static func writeRoutes(_ layout: StoreLayout, prefixes: [String]) throws(StoreError) {
        let path = layout.root + "/routes.jsonl"
        var lines: [String] = []
        var seen = Set<String>()
        if let data = FileManager.default.contents(atPath: path) {
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                guard let value = try? JSONValue.parse(String(line)), let p = value["prefix"]?.stringValue else {
                    continue
                }
                if seen.insert(p).inserted { lines.append(String(line)) }
            }
        }
        for prefix in prefixes where seen.insert(prefix + "-").inserted {
            lines.append(
                JSONValue.object([JSONMember("path", .string(".")), JSONMember("prefix", .string(prefix + "-"))])
                    .compactText)
        }
        try AtomicFile.write(Array((lines.joined(separator: "\n") + "\n").utf8), to: path)
    }
}

/// A counter read and bumped from any thread.
///
/// `@unchecked Sendable`: `count` is guarded by `lock`.
final class LocalWriteCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count: UInt64 = 0
    var value: UInt64 { lock.withLock { count } }
    func increment() { lock.withLock { count &+= 1 } }
}
