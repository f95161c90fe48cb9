import Beads
import Foundation

/// Why the town ledger refused something, worded for the person who has to act on it.
///
/// `Sendable`: strings and the `Sendable` errors of the core and the store.
public enum LedgerDatabaseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No store (or no initialized store) at this path.
    case notInitialized(path: String)
    /// `init` on a store that already has its scopes.
    case alreadyInitialized(path: String, prefix: String)
    /// The store has its `config.json` but its write-ahead log is gone (no segment in `wal/`) or holds none of the
    /// records `bd init` wrote: it can be neither opened nor initialized again. `detail` says which; `remote` is the
    /// URL of its configured ledger remote, if any, to re-clone from.
    case logMissing(path: String, detail: String, remote: String?)
    /// A scope name that is not a valid ID prefix.
    case invalidPrefix(String)
    /// No scope of that name in the store.
    case unknownScope(String)
    /// The scope already exists.
    case scopeExists(String)
    /// An ID whose prefix matches no scope in the store.
    case unroutable(id: String)
    /// The ledger core refused the write; nothing was stored.
    case ledger(LedgerError)
    /// The durable store failed.
    case store(StoreError)
    /// The clock refused to stamp the write.
    case clock(HLCError)
    /// A WAL record or snapshot that this version cannot read.
    case badRecord(String)

    public var description: String {
        switch self {
        case .notInitialized(let path):
            return "no beads store found at \(path): run 'bd init' to create one (or pass -C DIR / set BEADS_DIR)"
        case .alreadyInitialized(let path, let prefix):
            return "a beads store already exists at \(path) (prefix \(prefix)); use it, or remove it first"
        case .logMissing(let path, let detail, let remote):
            let url = remote.map { "'\($0)'" } ?? "URL"
            return "the beads store at \(path) has config.json but \(detail), so its beads cannot be read and it "
                + "cannot be initialized again; nothing was changed. Restore \(path) from a backup; or re-clone the "
                + "ledger from its remote (move \(path) aside, then 'bd init --remote \(url)'); or, to start over "
                + "empty, move \(path) aside and run 'bd init'"
        case .invalidPrefix(let p):
            return "invalid prefix \"\(p)\": use letters, digits and dashes, starting with a letter (e.g. bd, hq)"
        case .unknownScope(let s): return "no scope \"\(s)\" in this store: create it with 'bd init --prefix \(s)'"
        case .scopeExists(let s): return "scope \"\(s)\" already exists in this store"
        case .unroutable(let id):
            return "no scope in this store holds IDs like \(id): check the ID (bd list shows them)"
        case .ledger(let e): return e.description
        case .store(let e): return e.description
        case .clock(let e): return e.description
        case .badRecord(let why): return "unreadable ledger record: \(why)"
        }
    }
}

/// The state of a town's ledger store: every scope (one `Ledger` per ID prefix), the replica ID of this store,
/// and the newest HLC stamp seen, rebuilt from a snapshot plus WAL records by `DurableStore`.
///
/// WAL records are compact JSON objects:
/// `{"t":"replica","replica":ID}` (written once at init), `{"t":"scope","scope":P}` (a new scope), and
/// `{"t":"op","scope":P,"op":<LedgerOp JSON>}` (one ledger write), `{"t":"ops","scope":P,"ops":[…]}` (several
/// ops of one command, all or nothing). The snapshot is JSON lines: a header
/// `{"v":2,"replica":…,"max_stamp":…}`, then per scope `{"scope":P,"beads":N,"stamps":M,"ready":K,"ready_stamps":L}`
/// followed by N bead lines (beads' export shape) and M `stamps.jsonl` lines. Version 2 writes first the K beads of
/// `Ledger.readyClosure()` (and their L stamps), each group sorted by ID, so `init(readyView:)` decodes only those;
/// version 1 (no `ready` counts, any order) still loads in full.
///
/// `Sendable`: dictionaries of `Sendable` values.
public struct TownLedgerState: WALReplayable, Sendable {
    /// Snapshot format version.
    public static let snapshotVersion = 2

    /// The stable ID of this store's replica (the HLC node), generated at init.
    public internal(set) var replicaID = ""
    /// Every scope by prefix.
    public internal(set) var scopes: [String: Ledger] = [:]
    /// The newest stamp of any write applied (restored on open, so the clock never goes back).
    public internal(set) var maxStamp: HLCStamp = .zero

    public init() {}

    /// The scope holding `id`: the longest scope prefix `P` with `id` starting `P-` (routes as Gas Town's
    /// `routes.jsonl`) when that scope holds the bead (or an alias of it); otherwise the scope that does hold it
    /// (a bead merged or imported into a scope its ID does not route to: every bead `bd list` shows is reachable by
    /// every command); otherwise the routed scope, or nil.
    public func scope(forID id: String) -> String? {
        var best: String?
        for prefix in scopes.keys where id.hasPrefix(prefix + "-") {
            if best == nil || prefix.count > best!.count { best = prefix }
        }
        if let best, let ledger = scopes[best], ledger.beads[id] != nil || ledger.aliases[id] != nil { return best }
        for name in scopeNames {
            let ledger = scopes[name]!
            if ledger.beads[id] != nil || ledger.aliases[id] != nil { return name }
        }
        return best
    }

    /// The scope names, sorted.
    public var scopeNames: [String] { scopes.keys.sorted() }

    // MARK: Records

    /// The record that sets the replica ID.
    public static func replicaRecord(_ id: String) -> Data {
        record([JSONMember("t", .string("replica")), JSONMember("replica", .string(id))])
    }

    /// The record that creates a scope.
    public static func scopeRecord(_ prefix: String) -> Data {
        record([JSONMember("t", .string("scope")), JSONMember("scope", .string(prefix))])
    }

    /// The record of one ledger op in `scope`.
    public static func opRecord(_ op: LedgerOp, scope: String) -> Data {
        record([JSONMember("t", .string("op")), JSONMember("scope", .string(scope)), JSONMember("op", op.json)])
    }

    /// The record of several ops in `scope` applied together, all or nothing.
    public static func batchRecord(_ ops: [LedgerOp], scope: String) -> Data {
        record([
            JSONMember("t", .string("ops")), JSONMember("scope", .string(scope)),
            JSONMember("ops", .array(ops.map(\.json))),
        ])
    }

    static func record(_ members: [JSONMember]) -> Data {
        var out: [UInt8] = []
        JSONValue.object(members).write(to: &out)
        return Data(out)
    }

    public mutating func apply(record: Data) throws {
        let value: JSONValue
        do { value = try JSONValue.parse(bytes: [UInt8](record)) } catch {
            throw LedgerDatabaseError.badRecord("invalid JSON: \(error)")
        }
        switch value["t"]?.stringValue {
        case "replica":
            guard let id = value["replica"]?.stringValue, !id.isEmpty else {
                throw LedgerDatabaseError.badRecord("replica record without an id")
            }
            replicaID = id
        case "scope":
            guard let prefix = value["scope"]?.stringValue else {
                throw LedgerDatabaseError.badRecord("scope record without a scope")
            }
            try addScope(prefix)
        case "op":
            guard let scope = value["scope"]?.stringValue, let opValue = value["op"] else {
                throw LedgerDatabaseError.badRecord("op record without scope or op")
            }
            let op: LedgerOp
            do { op = try LedgerOp(json: opValue) } catch { throw LedgerDatabaseError.badRecord("\(error)") }
            _ = try apply(op, scope: scope)
        case "merge", "prune":
            try applySyncRecord(value)
        case "ops":
            guard let scope = value["scope"]?.stringValue, let items = value["ops"]?.arrayValue else {
                throw LedgerDatabaseError.badRecord("ops record without scope or ops")
            }
            var ops: [LedgerOp] = []
            for item in items {
                do { ops.append(try LedgerOp(json: item)) } catch { throw LedgerDatabaseError.badRecord("\(error)") }
            }
            _ = try apply(batch: ops, scope: scope)
        default:
            throw LedgerDatabaseError.badRecord("unknown record kind \(value["t"].map(\.compactText) ?? "none")")
        }
    }

    /// Adds an empty scope. Throws when the prefix is invalid or taken.
    public mutating func addScope(_ prefix: String) throws(LedgerDatabaseError) {
        guard BeadID.isValidPrefix(prefix) else { throw .invalidPrefix(prefix) }
        guard scopes[prefix] == nil else { throw .scopeExists(prefix) }
        scopes[prefix] = Ledger(prefix: prefix)
    }

    /// Applies `op` to `scope` in place (unchanged on error) and advances `maxStamp`.
    @discardableResult
    public mutating func apply(_ op: LedgerOp, scope: String) throws(LedgerDatabaseError) -> Bead? {
        guard scopes[scope] != nil else { throw .unknownScope(scope) }
        let bead: Bead?
        do { bead = try scopes[scope]!.apply(op) } catch { throw .ledger(error) }
        if op.stamp > maxStamp { maxStamp = op.stamp }
        return bead
    }

    /// Applies `ops` to `scope` in order, all or nothing: when one is refused, the scope and `maxStamp` are put
    /// back as they were. Returns the bead after each op.
    public mutating func apply(batch ops: [LedgerOp], scope: String) throws(LedgerDatabaseError) -> [Bead?] {
        guard let saved = scopes[scope] else { throw .unknownScope(scope) }
        if ops.count == 1 { return [try apply(ops[0], scope: scope)] }
        let savedStamp = maxStamp
        var out: [Bead?] = []
        do {
            for op in ops { out.append(try apply(op, scope: scope)) }
        } catch {
            scopes[scope] = saved
            maxStamp = savedStamp
            throw error
        }
        return out
    }

    // MARK: Snapshot

    public func snapshot() -> Data {
        var out: [UInt8] = []
        JSONValue.object([
            JSONMember("v", .int(TownLedgerState.snapshotVersion)), JSONMember("replica", .string(replicaID)),
            JSONMember("max_stamp", .string(maxStamp.description)),
        ]).write(to: &out)
        out.append(0x0A)
        for name in scopeNames {
            let ledger = scopes[name]!
            // The lines of `exportJSONL()` and `exportStampsJSONL()`, the ready closure's first, encoded in parallel
            // chunks.
            let closure = ledger.readyClosure()
            let sorted = ledger.sortedBeads
            let beads = sorted.filter { closure.contains($0.id) } + sorted.filter { !closure.contains($0.id) }
            let allStamps = ledger.stamps.values.sorted { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }
            let readyStamps = allStamps.filter { closure.contains($0.id) }
            let stamps = readyStamps + allStamps.filter { !closure.contains($0.id) }
            JSONValue.object([
                JSONMember("scope", .string(name)), JSONMember("beads", .int(ledger.beads.count)),
                JSONMember("stamps", .int(ledger.stamps.count)), JSONMember("ready", .int(closure.count)),
                JSONMember("ready_stamps", .int(readyStamps.count)),
            ]).write(to: &out)
            out.append(0x0A)
            out += SnapshotLineEncoder.encode(beads) { bead, line in BeadCodec.encode(bead).write(to: &line) }
            out += SnapshotLineEncoder.encode(stamps) { stamp, line in stamp.json.write(to: &line) }
        }
        return Data(out)
    }

    public init(snapshot: Data) throws {
        self = try snapshot.withUnsafeBytes { raw throws -> TownLedgerState in
            try TownLedgerState(decoding: raw.bindMemory(to: UInt8.self))
        }
    }

    /// Decodes a snapshot from bytes lent by the store at open (`WALReplayable.init(snapshotBytes:)`), without
    /// copying them.
    public init(snapshotBytes: UnsafeRawBufferPointer) throws {
        try self.init(decoding: snapshotBytes.bindMemory(to: UInt8.self))
    }

    /// Decodes snapshot bytes in place (no copy of the multi-megabyte text): splits the lines, then decodes the bead
    /// and stamp lines of each scope in parallel chunks (`SnapshotLineDecoder`), then builds each ledger once.
    init(decoding bytes: UnsafeBufferPointer<UInt8>) throws {
        guard let state = try TownLedgerState(decoding: bytes, readyViewOnly: false) else {
            throw LedgerDatabaseError.badRecord("snapshot could not be decoded")
        }
        self = state
    }

    /// The ready view of a snapshot: per scope, only the beads of its ready closure (`Ledger.readyClosure()`) and
    /// their stamps, which is all `ready` and `blocked` read. Nil when the snapshot is of version 1 (no closure
    /// written): decode it in full. Throws as `init(snapshot:)` on bad bytes. Not a state to apply records to.
    public init?(readyView snapshotBytes: UnsafeRawBufferPointer) throws {
        guard
            let state = try TownLedgerState(decoding: snapshotBytes.bindMemory(to: UInt8.self), readyViewOnly: true)
        else { return nil }
        self = state
    }

    /// Decodes every scope in full, or (`readyViewOnly`) only the ready closure written first, returning nil when
    /// the snapshot has none (version 1).
    init?(decoding bytes: UnsafeBufferPointer<UInt8>, readyViewOnly: Bool) throws {
        self.init()
        let lines = SnapshotLineDecoder.lineRanges(bytes)
        var index = 0
        func next() throws -> JSONValue {
            guard index < lines.count else { throw LedgerDatabaseError.badRecord("snapshot cut short") }
            defer { index += 1 }
            do { return try JSONValue.parse(bytes: UnsafeBufferPointer(rebasing: bytes[lines[index]])) } catch {
                throw LedgerDatabaseError.badRecord("snapshot line \(index + 1): \(error)")
            }
        }
        let header = try next()
        let version = header["v"]?.intValue
        if let version, version > TownLedgerState.snapshotVersion {
            throw NewerStateFormat(
                detail: "ledger snapshot format version \(version); this build reads 1 and "
                    + "\(TownLedgerState.snapshotVersion)")
        }
        guard version == 1 || version == TownLedgerState.snapshotVersion,
            let replica = header["replica"]?.stringValue,
            let max = header["max_stamp"]?.stringValue.flatMap(HLCStamp.init(text:))
        else { throw LedgerDatabaseError.badRecord("snapshot header \(header.compactText)") }
        replicaID = replica
        maxStamp = max
        if readyViewOnly && version == 1 { return nil }
        while index < lines.count {
            let head = try next()
            guard let name = head["scope"]?.stringValue, let beadCount = head["beads"]?.intValue,
                let stampCount = head["stamps"]?.intValue, beadCount >= 0, stampCount >= 0
            else { throw LedgerDatabaseError.badRecord("snapshot scope header \(head.compactText)") }
            guard lines.count - index >= beadCount, lines.count - index - beadCount >= stampCount else {
                throw LedgerDatabaseError.badRecord("snapshot cut short")
            }
            var beadTake = beadCount
            var stampTake = stampCount
            if version != 1 {
                guard let ready = head["ready"]?.intValue, let readyStamps = head["ready_stamps"]?.intValue,
                    (0...beadCount).contains(ready), (0...stampCount).contains(readyStamps)
                else { throw LedgerDatabaseError.badRecord("snapshot scope header \(head.compactText)") }
                if readyViewOnly { (beadTake, stampTake) = (ready, readyStamps) }
            }
            let beadLines = Array(lines[index..<(index + beadTake)])
            let stampLines = Array(lines[(index + beadCount)..<(index + beadCount + stampTake)])
            let beads = try SnapshotLineDecoder.decode(bytes, beadLines, firstLine: index + 1) {
                value throws(BeadDecodeError) in try BeadCodec.decode(value)
            }
            let stamps = try SnapshotLineDecoder.decode(bytes, stampLines, firstLine: index + beadCount + 1) {
                value throws(BeadDecodeError) in try BeadStamps(json: value)
            }
            index += beadCount + stampCount
            do { scopes[name] = try Ledger(prefix: name, beads: beads, stamps: stamps) } catch {
                throw LedgerDatabaseError.ledger(error)
            }
        }
    }
}

/// Decodes the JSON lines of a snapshot. A namespace; `Sendable` trivially.
enum SnapshotLineDecoder {
    /// Below this many lines a scope is decoded on the calling thread alone.
    static let parallelThreshold = 512

    /// The byte ranges of the non-empty lines of `bytes` (separated by `\n`).
    static func lineRanges(_ bytes: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        guard let base = bytes.baseAddress else { return ranges }
        var start = 0
        // memchr: the newline search is most of the work for lines a ready view then skips.
        while start < bytes.count, let found = memchr(base + start, 0x0A, bytes.count - start) {
            let i = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
            if i > start { ranges.append(start..<i) }
            start = i + 1
        }
        if bytes.count > start { ranges.append(start..<bytes.count) }
        return ranges
    }

    /// Parses and decodes every line of `lines` with `decode`, in order; large inputs are split in chunks decoded
    /// on every core (`DispatchQueue.concurrentPerform`, called from `open`, which runs off the cooperative pool).
    /// The error is that of the first bad line, naming it (1-based, counting from `firstLine`).
    static func decode<T: Sendable>(
        _ bytes: UnsafeBufferPointer<UInt8>, _ lines: [Range<Int>], firstLine: Int,
        _ decode: @escaping @Sendable (JSONValue) throws(BeadDecodeError) -> T
    ) throws(LedgerDatabaseError) -> [T] {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let chunks = lines.count < parallelThreshold || cores < 2 ? 1 : min(cores * 4, lines.count / 128)
        let results = ChunkResults<T>(count: chunks)
        let shared = UncheckedBox(bytes)
        let work = { @Sendable (chunk: Int) in
            let from = lines.count * chunk / chunks
            let to = lines.count * (chunk + 1) / chunks
            var out: [T] = []
            out.reserveCapacity(to - from)
            for i in from..<to {
                do {
                    let value = try JSONValue.parse(bytes: UnsafeBufferPointer(rebasing: shared.value[lines[i]]))
                    out.append(try decode(value))
                } catch {
                    results.store(chunk, .failure(.badRecord("snapshot line \(firstLine + i): \(error)")))
                    return
                }
            }
            results.store(chunk, .success(out))
        }
        if chunks == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: chunks, execute: work) }
        var all: [T] = []
        all.reserveCapacity(lines.count)
        for outcome in results.take() { all += try outcome.get() }
        return all
    }
}

/// Encodes the JSON lines of a snapshot. A namespace; `Sendable` trivially.
enum SnapshotLineEncoder {
    /// Every item written by `write` and followed by `\n`, in order; large inputs are encoded in chunks on every core.
    static func encode<T: Sendable>(_ items: [T], _ write: @escaping @Sendable (T, inout [UInt8]) -> Void) -> [UInt8] {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let chunks =
            items.count < SnapshotLineDecoder.parallelThreshold || cores < 2 ? 1 : min(cores * 4, items.count / 128)
        let results = ChunkResults<UInt8>(count: chunks)
        let work = { @Sendable (chunk: Int) in
            var out: [UInt8] = []
            out.reserveCapacity((items.count / chunks + 1) * 512)
            for i in (items.count * chunk / chunks)..<(items.count * (chunk + 1) / chunks) {
                write(items[i], &out)
                out.append(0x0A)
            }
            results.store(chunk, .success(out))
        }
        if chunks == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: chunks, execute: work) }
        var all: [UInt8] = []
        for outcome in results.take() {
            if case .success(let bytes) = outcome { all += bytes }
        }
        return all
    }
}

/// One result slot per chunk, each written by exactly one `concurrentPerform` iteration.
/// `@unchecked Sendable`: `slots` is guarded by `lock`.
final class ChunkResults<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<[T], LedgerDatabaseError>?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func store(_ chunk: Int, _ result: Result<[T], LedgerDatabaseError>) {
        lock.lock()
        slots[chunk] = result
        lock.unlock()
    }

    func take() -> [Result<[T], LedgerDatabaseError>] {
        lock.lock()
        defer { lock.unlock() }
        return slots.map { $0 ?? .success([]) }
    }
}
