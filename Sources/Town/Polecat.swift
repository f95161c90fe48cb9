import Beads
import Foundation
import Scheduling
import Sessions

/// A polecat's persistent identity and state, kept in its agent bead (`<prefix>-<rig>-polecat-<name>`, type
/// agent, label `gt:agent`) under the metadata key `polecat` as one JSON object, so every change of it is one
/// atomic ledger write: the state (idle or working), the hooked bead and its lease epoch, the session epoch, and
/// the CV (beads completed, merges, failures, rework, and the same per bead label and runtime: `record`).
/// `Sendable`: a plain value.
public struct PolecatState: Sendable, Equatable, Codable {
    public var rig: String
    public var name: String
    /// `idle` or `working`.
    public var state: String
    /// The hooked bead, empty when idle.
    public var hookBead: String
    /// The lease epoch of the hooked bead's claim.
    public var hookEpoch: Int
    /// The epoch of the polecat's newest session (0 before the first).
    public var sessionEpoch: Int
    /// The runtime of the current assignment.
    public var runtime: String
    /// Session restarts during the current assignment.
    public var restarts: Int
    /// CV: beads finished with `gt done`.
    public var completed: Int
    /// CV: merge requests merged (counted by the Refinery).
    public var merges: Int
    /// CV: assignments given up (session kept dying).
    public var failures: Int
    /// CV: merge requests sent back (the gate failed, or a conflict), counted by the Refinery.
    public var rework: Int
    /// CV: compared runs (`gt sling --compare`) closed unmerged because another run of the bead merged first.
    public var superseded: Int
    /// CV per kind of work: merges, failures and rework per bead label (`skill:swift`; `*`: every bead) and
    /// runtime name, sorted by label then runtime. What capability routing reads (docs/scheduling.md).
    public var record: [PolecatCVEntry]

    enum CodingKeys: String, CodingKey {
        case rig, name, state, runtime, restarts, completed, merges, failures, rework, superseded, record
        case hookBead = "hook_bead"
        case hookEpoch = "hook_epoch"
        case sessionEpoch = "session_epoch"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(rig: try c.decode(String.self, forKey: .rig), name: try c.decode(String.self, forKey: .name))
        state = try c.decodeIfPresent(String.self, forKey: .state) ?? "idle"
        hookBead = try c.decodeIfPresent(String.self, forKey: .hookBead) ?? ""
        hookEpoch = try c.decodeIfPresent(Int.self, forKey: .hookEpoch) ?? 0
        sessionEpoch = try c.decodeIfPresent(Int.self, forKey: .sessionEpoch) ?? 0
        runtime = try c.decodeIfPresent(String.self, forKey: .runtime) ?? ""
        restarts = try c.decodeIfPresent(Int.self, forKey: .restarts) ?? 0
        completed = try c.decodeIfPresent(Int.self, forKey: .completed) ?? 0
        merges = try c.decodeIfPresent(Int.self, forKey: .merges) ?? 0
        failures = try c.decodeIfPresent(Int.self, forKey: .failures) ?? 0
        rework = try c.decodeIfPresent(Int.self, forKey: .rework) ?? 0
        superseded = try c.decodeIfPresent(Int.self, forKey: .superseded) ?? 0
        record = try c.decodeIfPresent([PolecatCVEntry].self, forKey: .record) ?? []
    }

    /// One outcome for the CV.
    public enum Outcome: Sendable {
        case merge, failure, rework, superseded
    }

    /// The label every outcome is counted under besides the bead's own (the runtime's record for any work).
    public static let anyLabel = "*"

    /// The name a runtime choice is recorded under: `exec:<command>` → `exec`, a name or preset as it is.
    public static func runtimeName(_ choice: String) -> String {
        choice.split(separator: ":", maxSplits: 1).first.map(String.init) ?? choice
    }

    /// Counts `outcome` of a bead with `labels` worked on `runtime` (a runtime choice): the total, and the entry
    /// of each of its skill labels (`Placement.skillLabels`) and of `*` on that runtime.
    public mutating func count(_ outcome: Outcome, labels: [String], runtime: String) {
        let name = PolecatState.runtimeName(runtime)
        switch outcome {
        case .merge: merges += 1
        case .failure: failures += 1
        case .rework: rework += 1
        case .superseded: superseded += 1
        }
        for label in [PolecatState.anyLabel] + Placement.skillLabels(labels) {
            var entry =
                record.first { $0.label == label && $0.runtime == name }
                ?? PolecatCVEntry(label: label, runtime: name)
            switch outcome {
            case .merge: entry.merges += 1
            case .failure: entry.failures += 1
            case .rework: entry.rework += 1
            case .superseded: entry.superseded += 1
            }
            record.removeAll { $0.label == label && $0.runtime == name }
            record.append(entry)
        }
        record.sort { ($0.label, $0.runtime) < ($1.label, $1.runtime) }
    }

    /// The record of one runtime for any work (`*`), or nil when there is none.
    public func entry(label: String = PolecatState.anyLabel, runtime: String) -> PolecatCVEntry? {
        record.first { $0.label == label && $0.runtime == runtime }
    }

    /// A new, idle polecat.
    public init(rig: String, name: String) {
        self.rig = rig
        self.name = name
        state = "idle"
        hookBead = ""
        hookEpoch = 0
        sessionEpoch = 0
        runtime = ""
        restarts = 0
        completed = 0
        merges = 0
        failures = 0
        rework = 0
        superseded = 0
        record = []
    }

    /// The metadata key holding the state (the assignment, and the CV as it stood before `cvMetadataKey`).
    public static let metadataKey = "polecat"
    /// The metadata key holding the CV alone. The ledger merges metadata key by key, so a CV count written on
    /// another node (the Refinery counts merges wherever it runs) never overwrites the assignment (hook, epochs)
    /// that the polecat's own node wrote meanwhile; it used to, and the polecat's Witness then released the
    /// "orphaned" claim of a bead whose session was running. When present it wins over the CV in `metadataKey`.
    public static let cvMetadataKey = "polecat-cv"
    /// The label every agent bead carries.
    public static let agentLabel = "gt:agent"

    public var isIdle: Bool { state == "idle" }
    /// `<rig>/polecats/<name>`.
    public var address: String { "\(rig)/polecats/\(name)" }

    /// The agent bead ID of polecat `name` in `rig` whose ledger scope is `prefix`.
    public static func beadID(prefix: String, rig: String, name: String) -> String {
        "\(prefix)-\(rig)-polecat-\(name)"
    }

    /// The state as a JSON value for the ledger.
    public var json: JSONValue {
        .object([
            JSONMember("rig", .string(rig)), JSONMember("name", .string(name)), JSONMember("state", .string(state)),
            JSONMember("hook_bead", .string(hookBead)), JSONMember("hook_epoch", .int(hookEpoch)),
            JSONMember("session_epoch", .int(sessionEpoch)), JSONMember("runtime", .string(runtime)),
            JSONMember("restarts", .int(restarts)), JSONMember("completed", .int(completed)),
            JSONMember("merges", .int(merges)), JSONMember("failures", .int(failures)),
            JSONMember("rework", .int(rework)), JSONMember("superseded", .int(superseded)),
            JSONMember("record", .array(record.map(\.json))),
        ])
    }

    /// The CV alone, for `cvMetadataKey`.
    public var cvJSON: JSONValue {
        .object([
            JSONMember("merges", .int(merges)), JSONMember("failures", .int(failures)),
            JSONMember("rework", .int(rework)), JSONMember("superseded", .int(superseded)),
            JSONMember("record", .array(record.map(\.json))),
        ])
    }

    /// Reads the state from an agent bead; nil when it is not a polecat's.
    public init?(bead: Bead) {
        guard let value = bead.metadata.first(where: { $0.key == PolecatState.metadataKey })?.value,
            let rig = value["rig"]?.stringValue, let name = value["name"]?.stringValue
        else { return nil }
        self.init(rig: rig, name: name)
        state = value["state"]?.stringValue ?? "idle"
        hookBead = value["hook_bead"]?.stringValue ?? ""
        hookEpoch = value["hook_epoch"]?.intValue ?? 0
        sessionEpoch = value["session_epoch"]?.intValue ?? 0
        runtime = value["runtime"]?.stringValue ?? ""
        restarts = value["restarts"]?.intValue ?? 0
        completed = value["completed"]?.intValue ?? 0
        // A CV written before per-label records has none (its totals still count); one written before
        // `cvMetadataKey` sits in the state.
        let cv = bead.metadata.first(where: { $0.key == PolecatState.cvMetadataKey })?.value ?? value
        merges = cv["merges"]?.intValue ?? 0
        failures = cv["failures"]?.intValue ?? 0
        rework = cv["rework"]?.intValue ?? 0
        superseded = cv["superseded"]?.intValue ?? 0
        record = (cv["record"]?.arrayValue ?? []).compactMap(PolecatCVEntry.init(json:))
    }

    /// The session name of the current session epoch in the town rooted at `townRoot`.
    public func sessionName(townRoot: String) -> SessionName {
        SessionName(town: TownID(townRoot: townRoot), rig: rig, polecat: name, epoch: UInt64(sessionEpoch))
    }
}

/// One line of a polecat's CV: what it did with beads of one label on one runtime. `Sendable`: a plain value.
public struct PolecatCVEntry: Sendable, Equatable, Codable {
    /// A bead label (`skill:swift`), or `*` for every bead.
    public var label: String
    /// The runtime's name (`claude`, `codex`, `exec`, a preset's name).
    public var runtime: String
    public var merges: Int
    public var failures: Int
    public var rework: Int
    /// Compared runs closed because another run merged first (not counted against the record).
    public var superseded: Int

    public init(
        label: String, runtime: String, merges: Int = 0, failures: Int = 0, rework: Int = 0, superseded: Int = 0
    ) {
        self.label = label
        self.runtime = runtime
        self.merges = merges
        self.failures = failures
        self.rework = rework
        self.superseded = superseded
    }

    /// As placement counts it (a superseded run is neither a success nor a failure).
    public var placementRecord: Placement.Record {
        Placement.Record(merges: merges, failures: failures, rework: rework)
    }

    var json: JSONValue {
        .object([
            JSONMember("label", .string(label)), JSONMember("runtime", .string(runtime)),
            JSONMember("merges", .int(merges)), JSONMember("failures", .int(failures)),
            JSONMember("rework", .int(rework)), JSONMember("superseded", .int(superseded)),
        ])
    }

    init?(json: JSONValue) {
        guard let label = json["label"]?.stringValue, let runtime = json["runtime"]?.stringValue else { return nil }
        self.init(
            label: label, runtime: runtime, merges: json["merges"]?.intValue ?? 0,
            failures: json["failures"]?.intValue ?? 0, rework: json["rework"]?.intValue ?? 0,
            superseded: json["superseded"]?.intValue ?? 0)
    }
}

/// An agent address (`<rig>/polecats/<name>`, or the short `<rig>/<name>`; `<rig>/crew/<name>`, `<rig>/witness`,
/// `<rig>/refinery`, `mayor/`, `overseer`), parsed. A caseless namespace.
public enum AgentAddress {
    /// The person at the keyboard.
    public static let overseer = "overseer"
    /// The town's Mayor.
    public static let mayor = "mayor/"

    /// The (rig, polecat) an address names, or nil when it is not a polecat's.
    public static func polecat(_ text: String) -> (rig: String, name: String)? {
        let parts = text.split(separator: "/").map(String.init)
        if parts.count == 3, parts[1] == "polecats" { return (parts[0], parts[2]) }
        if parts.count == 2, !["witness", "refinery", "crew", "polecats"].contains(parts[1]), parts[0] != "mayor" {
            return (parts[0], parts[1])
        }
        return nil
    }

    /// The canonical spelling: polecats as `<rig>/polecats/<name>`, the Mayor as `mayor/`, anything else as given.
    public static func canonical(_ text: String) -> String {
        if text == "mayor" { return mayor }
        if let (rig, name) = polecat(text) { return "\(rig)/polecats/\(name)" }
        return text
    }

    /// The address an agent session speaks as, from its environment (Gas Town's `detectSenderFromRole`):
    /// `GT_ROLE` when it is a full address (what our sessions set: `<rig>/polecats/<name>`); a bare role completed
    /// from `GT_RIG` and `GT_POLECAT` (`polecat`), `GT_CREW` (`crew`) or `GT_RIG` alone (`witness`, `refinery`);
    /// `mayor` → `mayor/`. Nil when there is no `GT_ROLE` or a bare one lacks what completes it.
    public static func fromEnvironment(_ environment: [String: String]) -> String? {
        func value(_ key: String) -> String? { environment[key].flatMap { $0.isEmpty ? nil : $0 } }
        guard let role = value("GT_ROLE") else { return nil }
        if role.contains("/") { return canonical(role) }
        switch role {
        case "mayor": return mayor
        case "polecat":
            guard let rig = value("GT_RIG"), let name = value("GT_POLECAT") else { return nil }
            return "\(rig)/polecats/\(name)"
        case "crew":
            guard let rig = value("GT_RIG"), let name = value("GT_CREW") else { return nil }
            return "\(rig)/crew/\(name)"
        case "witness", "refinery":
            guard let rig = value("GT_RIG") else { return nil }
            return "\(rig)/\(role)"
        case overseer: return overseer
        default: return nil
        }
    }
}
