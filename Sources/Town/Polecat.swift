import Beads
import Foundation
import Sessions

/// A polecat's persistent identity and state, kept in its agent bead (`<prefix>-<rig>-polecat-<name>`, type
/// agent, label `gt:agent`) under the metadata key `polecat` as one JSON object, so every change of it is one
/// atomic ledger write: the state (idle or working), the hooked bead and its lease epoch, the session epoch, and
/// the CV (beads completed, merges, failures).
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

    enum CodingKeys: String, CodingKey {
        case rig, name, state, runtime, restarts, completed, merges, failures
        case hookBead = "hook_bead"
        case hookEpoch = "hook_epoch"
        case sessionEpoch = "session_epoch"
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
    }

    /// The metadata key holding the state.
    public static let metadataKey = "polecat"
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
        merges = value["merges"]?.intValue ?? 0
        failures = value["failures"]?.intValue ?? 0
    }

    /// The session name of the current session epoch in the town rooted at `townRoot`.
    public func sessionName(townRoot: String) -> SessionName {
        SessionName(town: TownID(townRoot: townRoot), rig: rig, polecat: name, epoch: UInt64(sessionEpoch))
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
