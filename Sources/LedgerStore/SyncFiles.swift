import Beads
import Foundation

/// The files of one scope's ledger branch as lines keyed by bead ID: `issues.jsonl` (beads' export shape) and
/// `stamps.jsonl`, each sorted by ID as byte strings, one line per bead. Kept per scope by the sync engine so a
/// sync re-encodes only the beads that changed and parses only the remote lines that differ.
///
/// `carried` holds the `issues.jsonl` lines of the branch that have no readable bead ID (not JSON, invalid UTF-8,
/// a second line for one ID), byte for byte: they are written back after the keyed lines, so a sync never erases
/// a line it cannot read from the remote (docs/sync.md "Lines a sync cannot take in").
///
/// `Sendable`: dictionaries of strings and byte arrays.
struct ScopeLines: Sendable, Equatable {
    var issues: [String: String] = [:]
    var stamps: [String: String] = [:]
    var carried: [[UInt8]] = []

    /// `issues.jsonl` as written to the branch.
    var issuesText: String { String(decoding: issuesData, as: UTF8.self) }
    /// `issues.jsonl` as written to the branch, byte for byte (carried lines may not be UTF-8).
    var issuesData: Data {
        var out = Data(ScopeLines.join(issues).utf8)
        for line in carried {
            out.append(contentsOf: line)
            out.append(0x0A)
        }
        return out
    }
    /// `stamps.jsonl` as written to the branch.
    var stampsText: String { ScopeLines.join(stamps) }

    static func join(_ lines: [String: String]) -> String {
        guard !lines.isEmpty else { return "" }
        let ids = lines.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var out = ""
        out.reserveCapacity(lines.values.reduce(0) { $0 + $1.utf8.count + 1 })
        for id in ids {
            out += lines[id]!
            out += "\n"
        }
        return out
    }

    /// Every line of `ledger` encoded, ephemeral beads left out.
    init(ledger: Ledger) {
        issues.reserveCapacity(ledger.beads.count)
        stamps.reserveCapacity(ledger.beads.count)
        // Ephemeral beads (a wisp's) are never synced through git (beads: "JSONL export skips ephemeral issues").
        for (id, bead) in ledger.beads where !bead.ephemeral { issues[id] = BeadCodec.encodeLine(bead) }
        for (id, s) in ledger.stamps where issues[id] != nil { stamps[id] = s.json.compactText }
    }

    init() {}

    /// The lines of `ledger`, re-encoding only the beads that differ from `previous` (whose lines are `self`).
    /// Returns the new lines and how many beads changed. Stamps are compared first (cheap, and a write always
    /// changes them), then the beads themselves: a merge can change a bead without changing its stamps (the order
    /// of a set, `updated_at`). Lines of IDs `previous` does not hold (held lines, see `LedgerSync.render`) and
    /// carried lines are kept.
    func updated(from previous: Ledger, to ledger: Ledger) -> (ScopeLines, Int) {
        var out = self
        var changed = 0
        for (id, s) in ledger.stamps {
            guard let bead = ledger.beads[id] else { continue }
            if bead.ephemeral {
                if out.issues[id] != nil || out.stamps[id] != nil { changed += 1 }
                out.issues[id] = nil
                out.stamps[id] = nil
                continue
            }
            if let old = previous.stamps[id], old == s, out.issues[id] != nil, previous.beads[id] == bead { continue }
            changed += 1
            out.issues[id] = BeadCodec.encodeLine(bead)
            out.stamps[id] = s.json.compactText
        }
        for id in previous.beads.keys where ledger.beads[id] == nil {
            changed += 1
            out.issues[id] = nil
            out.stamps[id] = nil
        }
        return (out, changed)
    }

    /// One line of a JSONL file that could not be keyed by a bead ID: its 1-based number and its bytes.
    struct Unreadable: Sendable, Equatable {
        var number: Int
        var bytes: [UInt8]
        /// Why: "not valid UTF-8", "no bead id", "a second line for ID x".
        var why: String
    }

    /// Splits a JSONL file into lines keyed by their top-level `"id"` string, whatever the spacing of the JSON
    /// (`KeyScanner`; a line whose ID holds escapes is parsed with the JSON parser). Lines that are not UTF-8,
    /// have no top-level string `id`, or repeat an ID already seen are returned as `unreadable`, in order, with
    /// their bytes (the first line of an ID is kept).
    static func split(_ data: Data) -> (lines: [String: String], unreadable: [Unreadable]) {
        var lines: [String: String] = [:]
        var unreadable: [Unreadable] = []
        let bytes = [UInt8](data)
        var number = 0
        for raw in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
            number += 1
            if raw.isEmpty || raw.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { continue }
            guard let text = String(validating: raw, as: UTF8.self) else {
                unreadable.append(Unreadable(number: number, bytes: Array(raw), why: "not valid UTF-8"))
                continue
            }
            guard let id = idOf(raw) else {
                unreadable.append(Unreadable(number: number, bytes: Array(raw), why: "no bead id"))
                continue
            }
            guard lines[id] == nil else {
                unreadable.append(Unreadable(number: number, bytes: Array(raw), why: "a second line for ID \(id)"))
                continue
            }
            lines[id] = text
        }
        return (lines, unreadable)
    }

    /// The 1-based number of the line keyed `id` in `data` (for warnings), or nil.
    static func lineNumber(of id: String, in data: Data) -> Int? {
        var number = 0
        for raw in [UInt8](data).split(separator: 0x0A, omittingEmptySubsequences: false) {
            number += 1
            if idOf(raw) == id { return number }
        }
        return nil
    }

    /// The value of the top-level `"id"` member of a JSON object line when it is a non-empty string, whatever
    /// the spacing. A byte scan that tracks strings and nesting (no parse, so a sync of a large scope stays
    /// cheap); an ID holding escapes, or a line the scan cannot follow, is read with the JSON parser.
    static func idOf(_ line: ArraySlice<UInt8>) -> String? {
        var scanner = KeyScanner(line)
        switch scanner.topLevelString("id") {
        case .found(let id): return id.isEmpty ? nil : id
        case .absent: return nil
        case .needsParse:
            guard let value = try? JSONValue.parse(bytes: Array(line)), let id = value["id"]?.stringValue, !id.isEmpty
            else { return nil }
            return id
        }
    }
}

/// Finds a top-level member of a one-line JSON object by scanning bytes. `Sendable`: a value.
struct KeyScanner {
    enum Outcome: Equatable {
        case found(String)
        case absent
        /// The value holds escapes, or the line is not an object the scan can follow: parse it.
        case needsParse
    }

    let bytes: ArraySlice<UInt8>
    var i: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        i = bytes.startIndex
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D || b == 0x0A }

    mutating func skipSpaces() { while i < bytes.endIndex && KeyScanner.isSpace(bytes[i]) { i += 1 } }

    /// Skips a string starting at `i` (a quote); returns its content range and whether it holds escapes.
    mutating func string() -> (Range<Int>, escaped: Bool)? {
        guard i < bytes.endIndex, bytes[i] == UInt8(ascii: "\"") else { return nil }
        i += 1
        let start = i
        var escaped = false
        while i < bytes.endIndex {
            switch bytes[i] {
            case UInt8(ascii: "\""):
                let range = start..<i
                i += 1
                return (range, escaped)
            case UInt8(ascii: "\\"):
                escaped = true
                i += 2
            default:
                i += 1
            }
        }
        return nil
    }

    /// Skips any value starting at `i` (nested objects and arrays by depth, strings by quotes).
    mutating func skipValue() -> Bool {
        skipSpaces()
        guard i < bytes.endIndex else { return false }
        if bytes[i] == UInt8(ascii: "\"") { return string() != nil }
        var depth = 0
        while i < bytes.endIndex {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                guard string() != nil else { return false }
                continue
            }
            if b == UInt8(ascii: "{") || b == UInt8(ascii: "[") {
                depth += 1
            } else if b == UInt8(ascii: "}") || b == UInt8(ascii: "]") {
                if depth == 0 { return true }
                depth -= 1
                if depth == 0 {
                    i += 1
                    return true
                }
            } else if b == UInt8(ascii: ",") && depth == 0 {
                return true
            }
            i += 1
        }
        return depth == 0
    }

    /// The string value of top-level member `key`.
    mutating func topLevelString(_ key: String) -> Outcome {
        let want = Array(key.utf8)
        skipSpaces()
        guard i < bytes.endIndex, bytes[i] == UInt8(ascii: "{") else { return .absent }
        i += 1
        while true {
            skipSpaces()
            guard let (name, nameEscaped) = string() else {
                return i < bytes.endIndex && bytes[i] == UInt8(ascii: "}") ? .absent : .needsParse
            }
            skipSpaces()
            guard i < bytes.endIndex, bytes[i] == UInt8(ascii: ":") else { return .needsParse }
            i += 1
            skipSpaces()
            if nameEscaped { return .needsParse }
            if bytes[name].elementsEqual(want) {
                guard i < bytes.endIndex, bytes[i] == UInt8(ascii: "\"") else { return .absent }
                guard let (value, escaped) = string() else { return .needsParse }
                if escaped { return .needsParse }
                return .found(String(decoding: bytes[value], as: UTF8.self))
            }
            guard skipValue() else { return .needsParse }
            skipSpaces()
            guard i < bytes.endIndex else { return .needsParse }
            if bytes[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            return .absent
        }
    }
}

/// One replica's line in a scope branch's `replicas.jsonl`: the last remote commit it merged, the newest stamp of
/// the state it committed then, and when (its wall clock). Tombstones are pruned only behind the oldest live
/// replica's `stamp` (DESIGN §3). `Sendable`: plain value.
public struct ReplicaEntry: Sendable, Hashable {
    /// The replica (store) ID.
    public var replica: String
    /// The last remote commit it merged (hex), or "" when it never merged one.
    public var merged: String
    /// The newest stamp of the state it committed.
    public var stamp: HLCStamp
    /// Its wall clock then, Unix milliseconds.
    public var wallMillis: Int64

    var json: JSONValue {
        .object([
            JSONMember("replica", .string(replica)), JSONMember("merged", .string(merged)),
            JSONMember("stamp", .string(stamp.description)), JSONMember("wall", .int(Int(wallMillis))),
        ])
    }

    init(replica: String, merged: String, stamp: HLCStamp, wallMillis: Int64) {
        self.replica = replica
        self.merged = merged
        self.stamp = stamp
        self.wallMillis = wallMillis
    }

    init?(json: JSONValue) {
        guard let replica = json["replica"]?.stringValue, !replica.isEmpty,
            let stamp = json["stamp"]?.stringValue.flatMap(HLCStamp.init(text:)),
            let wall = json["wall"]?.intValue
        else { return nil }
        self.init(replica: replica, merged: json["merged"]?.stringValue ?? "", stamp: stamp, wallMillis: Int64(wall))
    }

    /// Parses `replicas.jsonl`; unreadable lines are skipped and counted.
    static func decode(_ data: Data?) -> (entries: [String: ReplicaEntry], unreadable: Int) {
        guard let data else { return ([:], 0) }
        var out: [String: ReplicaEntry] = [:]
        var bad = 0
        for line in [UInt8](data).split(separator: 0x0A) {
            guard let value = try? JSONValue.parse(bytes: Array(line)), let entry = ReplicaEntry(json: value) else {
                bad += 1
                continue
            }
            out[entry.replica] = out[entry.replica].map { $0.newer(entry) } ?? entry
        }
        return (out, bad)
    }

    static func encode(_ entries: [String: ReplicaEntry]) -> String {
        entries.keys.sorted().map { entries[$0]!.json.compactText + "\n" }.joined()
    }

    /// The newer of two entries of one replica (by stamp, then wall time, then commit), so merging is symmetric.
    func newer(_ other: ReplicaEntry) -> ReplicaEntry {
        (stamp, wallMillis, merged) >= (other.stamp, other.wallMillis, other.merged) ? self : other
    }

    /// Both maps merged entry by entry.
    static func merge(_ a: [String: ReplicaEntry], _ b: [String: ReplicaEntry]) -> [String: ReplicaEntry] {
        var out = a
        for (k, v) in b { out[k] = out[k].map { $0.newer(v) } ?? v }
        return out
    }
}
