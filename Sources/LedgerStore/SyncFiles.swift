import Beads
import Foundation

/// The files of one scope's ledger branch as lines keyed by bead ID: `issues.jsonl` (beads' export shape) and
/// `stamps.jsonl`, each sorted by ID as byte strings, one line per bead. Kept per scope by the sync engine so a
/// sync re-encodes only the beads that changed and parses only the remote lines that differ.
///
/// `Sendable`: dictionaries of strings.
struct ScopeLines: Sendable, Equatable {
    var issues: [String: String] = [:]
    var stamps: [String: String] = [:]

    /// `issues.jsonl` as written to the branch.
    var issuesText: String { ScopeLines.join(issues) }
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

    /// Every line of `ledger` encoded.
    init(ledger: Ledger) {
        issues.reserveCapacity(ledger.beads.count)
        stamps.reserveCapacity(ledger.beads.count)
        for (id, bead) in ledger.beads { issues[id] = BeadCodec.encodeLine(bead) }
        for (id, s) in ledger.stamps { stamps[id] = s.json.compactText }
    }

    init() {}

    /// The lines of `ledger`, re-encoding only the beads that differ from `previous` (whose lines are `self`).
    /// Returns the new lines and how many beads changed. Stamps are compared first (cheap, and a write always
    /// changes them), then the beads themselves: a merge can change a bead without changing its stamps (the order
    /// of a set, `updated_at`).
    func updated(from previous: Ledger, to ledger: Ledger) -> (ScopeLines, Int) {
        var out = self
        var changed = 0
        for (id, s) in ledger.stamps {
            guard let bead = ledger.beads[id] else { continue }
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

    /// Splits a JSONL file into lines keyed by their `"id"`, found by a byte scan (no JSON parse): the first
    /// `"id":"…"` member of the line, which is the first key of an issue line and the first string-valued `id`
    /// key of a stamps line (its keys are sorted and the ones before `id` hold no string-valued `id`). Lines
    /// without one are returned as `unreadable` (1-based line numbers); duplicate IDs keep the first line and
    /// report the others.
    static func split(_ data: Data) -> (lines: [String: String], unreadable: [Int]) {
        var lines: [String: String] = [:]
        var unreadable: [Int] = []
        let bytes = [UInt8](data)
        var number = 0
        for raw in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
            number += 1
            if raw.isEmpty || raw.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { continue }
            guard let id = idOf(raw), lines[id] == nil else {
                unreadable.append(number)
                continue
            }
            lines[id] = String(decoding: raw, as: UTF8.self)
        }
        return (lines, unreadable)
    }

    static let idKey: [UInt8] = Array("\"id\":\"".utf8)

    static func idOf(_ line: ArraySlice<UInt8>) -> String? {
        let key = idKey
        var i = line.startIndex
        let end = line.endIndex
        while i + key.count <= end {
            if line[i] == key[0] && line[i..<(i + key.count)].elementsEqual(key) {
                var j = i + key.count
                let start = j
                while j < end && line[j] != UInt8(ascii: "\"") {
                    if line[j] == UInt8(ascii: "\\") { return nil }
                    j += 1
                }
                guard j < end, j > start else { return nil }
                return String(decoding: line[start..<j], as: UTF8.self)
            }
            i += 1
        }
        return nil
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
