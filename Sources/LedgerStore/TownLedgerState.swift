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
/// `{"v":1,"replica":…,"max_stamp":…}`, then per scope `{"scope":P,"beads":N,"stamps":M}` followed by N bead
/// lines (beads' export shape) and M `stamps.jsonl` lines.
///
/// `Sendable`: dictionaries of `Sendable` values.
public struct TownLedgerState: WALReplayable, Sendable {
    /// Snapshot format version.
    public static let snapshotVersion = 1

    /// The stable ID of this store's replica (the HLC node), generated at init.
    public internal(set) var replicaID = ""
    /// Every scope by prefix.
    public internal(set) var scopes: [String: Ledger] = [:]
    /// The newest stamp of any write applied (restored on open, so the clock never goes back).
    public internal(set) var maxStamp: HLCStamp = .zero

    public init() {}

    /// The scope holding `id`: the longest scope prefix `P` with `id` starting `P-` (routes as Gas Town's
    /// `routes.jsonl`), or nil.
    public func scope(forID id: String) -> String? {
        var best: String?
        for prefix in scopes.keys where id.hasPrefix(prefix + "-") {
            if best == nil || prefix.count > best!.count { best = prefix }
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
            JSONValue.object([
                JSONMember("scope", .string(name)), JSONMember("beads", .int(ledger.beads.count)),
                JSONMember("stamps", .int(ledger.stamps.count)),
            ]).write(to: &out)
            out.append(0x0A)
            out += Array(ledger.exportJSONL().utf8)
            out += Array(ledger.exportStampsJSONL().utf8)
        }
        return Data(out)
    }

    public init(snapshot: Data) throws {
        let lines = [UInt8](snapshot).split(separator: 0x0A, omittingEmptySubsequences: true)
        var index = 0
        func next() throws -> JSONValue {
            guard index < lines.count else { throw LedgerDatabaseError.badRecord("snapshot cut short") }
            defer { index += 1 }
            do { return try JSONValue.parse(bytes: lines[index]) } catch {
                throw LedgerDatabaseError.badRecord("snapshot line \(index + 1): \(error)")
            }
        }
        let header = try next()
        guard header["v"]?.intValue == TownLedgerState.snapshotVersion,
            let replica = header["replica"]?.stringValue,
            let max = header["max_stamp"]?.stringValue.flatMap(HLCStamp.init(text:))
        else { throw LedgerDatabaseError.badRecord("snapshot header \(header.compactText)") }
        replicaID = replica
        maxStamp = max
        while index < lines.count {
            let head = try next()
            guard let name = head["scope"]?.stringValue, let beadCount = head["beads"]?.intValue,
                let stampCount = head["stamps"]?.intValue
            else { throw LedgerDatabaseError.badRecord("snapshot scope header \(head.compactText)") }
            var beads: [Bead] = []
            var stamps: [BeadStamps] = []
            beads.reserveCapacity(beadCount)
            for _ in 0..<beadCount { beads.append(try BeadCodec.decode(try next())) }
            for _ in 0..<stampCount { stamps.append(try BeadStamps(json: try next())) }
            do { scopes[name] = try Ledger(prefix: name, beads: beads, stamps: stamps) } catch {
                throw LedgerDatabaseError.ledger(error)
            }
        }
    }
}
