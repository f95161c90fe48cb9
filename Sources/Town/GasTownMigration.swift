import Beads
import Foundation
import Sessions

/// What `gt migrate` read from a Gas Town town, gathered by the shell (`TownWorkflow.migrate`) so the planner
/// does no I/O: the bytes of every file it may carry or must report, by path relative to the town root.
///
/// `Sendable`: plain values.
public struct GasTownSource: Sendable {
    /// The source town's root (for messages only).
    public var root: String
    /// File bytes by relative path (`mayor/town.json`, `gastown/config.json`, `.beads/issues.jsonl`, …).
    public var files: [String: Data] = [:]
    /// Extra beads exports given on the command line (`bd export` of a town that used Dolt), path → bytes.
    public var exports: [String: Data] = [:]
    /// Top-level directories holding a `config.json` (rig candidates).
    public var rigDirectories: [String] = []
    /// A local clone of each rig's repository found in the town (`<rig>/mayor/rig`, `<rig>/refinery/rig`,
    /// `<rig>/.repo.git`), absolute path by rig name.
    public var rigClones: [String: String] = [:]
    /// The polecat worktrees found per rig (`<rig>/polecats/<name>`).
    public var polecats: [String: [String]] = [:]
    /// The crew workspaces found per rig (`<rig>/crew/<name>`).
    public var crew: [String: [String]] = [:]
    /// Database files found without a JSONL export beside them (`.beads/beads.db`, a Dolt directory).
    public var databasesWithoutExport: [String] = []

    public init(root: String) { self.root = root }
}

/// A Gas Town town that cannot be migrated at all: a required file missing or malformed. `file` is relative to
/// the source town.
///
/// `Sendable`: a plain value.
public struct GasTownMigrationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var message: String

    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}

/// What `gt migrate` will do (and, once applied, did): rigs, settings files, beads by scope, hooks and mail carried,
/// and every item it could not carry with the reason. Made by `GasTownMigration.plan`, a pure function.
///
/// `Sendable`: plain values.
public struct GasTownMigrationPlan: Sendable {
    /// A rig to add.
    public struct Rig: Sendable, Equatable, Codable {
        public var name: String
        public var gitURL: String
        public var prefix: String
        public var runtime: String?
        public var maxPolecats: Int?
        /// The local clone it is copied from (its `origin` then set to `gitURL`), or nil: cloned from `gitURL`.
        public var cloneFrom: String?
        /// Settings carried from Gas Town's `<rig>/settings/config.json`, as `gt rig set` keys (`gate`,
        /// `gate_timeout`, `gate_concurrency`, `flaky_retries`, `setup`) with their values.
        public var settings: [String: String] = [:]

        enum CodingKeys: String, CodingKey {
            case name, prefix, runtime, settings
            case gitURL = "git_url"
            case maxPolecats = "max_polecats"
            case cloneFrom = "clone_from"
        }
    }

    /// A hook in flight in Gas Town: the bead is carried as open work, to be slung again.
    public struct Hook: Sendable, Equatable, Codable {
        public var bead: String
        /// Who held it in Gas Town (`gastown/polecats/nux`).
        public var assignee: String
        /// Its rig, when the assignee or the prefix names one.
        public var rig: String?
        /// What to run to give it to an agent again.
        public var next: String
    }

    /// Something not carried, and why.
    public struct Skipped: Sendable, Equatable, Codable {
        /// `rig`, `bead`, `file`, `worktree`, `database`, `setting`.
        public var kind: String
        public var item: String
        public var reason: String
    }

    /// What this town already holds from an earlier run (or its own items of the same name): left as it is.
    public struct AlreadyHere: Sendable, Equatable, Codable {
        public var rigs: [String] = []
        public var settings: [String] = []
        /// Bead IDs this town already has, by scope.
        public var beads: [String: Int] = [:]

        public var isEmpty: Bool { rigs.isEmpty && settings.isEmpty && beads.isEmpty }
    }

    /// The source town's name.
    public var townName: String
    public var rigs: [Rig] = []
    /// Settings files to write into the target at the same relative path (validated by the runtime registry).
    public var settings: [String: Data] = [:]
    /// Beads to import, by scope (`hq` or a rig prefix), in file order.
    public var beads: [String: [Bead]] = [:]
    public var hooks: [Hook] = []
    /// IDs of the messages (mail) carried.
    public var mail: [String] = []
    /// The beads files read, relative paths.
    public var beadFiles: [String] = []
    public var skipped: [Skipped] = []
    public var alreadyHere = AlreadyHere()

    /// Whether applying the plan would change this town.
    public var changesSomething: Bool { !rigs.isEmpty || !settings.isEmpty || beadCount > 0 }

    /// How many beads are carried.
    public var beadCount: Int { beads.values.reduce(0) { $0 + $1.count } }
}

/// Plans moving a Gas Town town into this one. Pure: `GasTownSource` in, `GasTownMigrationPlan` out.
///
/// Choices (docs/migration.md): rigs come from `mayor/rigs.json` and every `<dir>/config.json` of type "rig"; beads
/// from the town's `.beads/issues.jsonl`, each route's `<path>/.beads/issues.jsonl` and any `bd export` file given,
/// each routed to the scope owning its prefix (the longest one); a bead `hooked` (or `in_progress` on a polecat, or
/// on an agent bead's `hook_bead`) is carried as `open`, unassigned, labelled `gt:migrated-hook`, with its Gas Town
/// holder in metadata `migrated_assignee`, since its session and worktree do not move; mail (beads of type message)
/// keeps sender and recipient in metadata `from`/`to`, as `gt mail` reads them.
public enum GasTownMigration {
    /// The label a carried hook gets.
    public static let hookLabel = "gt:migrated-hook"

    /// Top-level files and directories the planner knows; anything else under `mayor/` or `settings/` is reported.
    static let carriedSettings = ["settings/config.json", "settings/agents.json"]

    /// Files Gas Town keeps that have no counterpart here, and why.
    static let knownUncarried: [String: String] = [
        "mayor/daemon.json": "patrol intervals are built into the node (Deacon, Witness, Refinery settings in docs/)",
        "mayor/overseer.json": "the overseer is whoever runs gt here ($USER or --actor)",
        "settings/escalation.json": "escalations go to the Mayor's escalation beads (gt escalations); routes are not read",
        "mayor/.claude/settings.json": "hooks are written into each agent's worktree by the node (docs/sessions.md)",
        ".beads/config.yaml": "the town's ledger settings are its own (docs/ledger-store.md)",
        ".beads/metadata.json": "the ledger store keeps its own metadata",
        ".beads/formulas/.installed.json": "formulas are built in or read from formulas/ (docs/formulas.md)",
    ]

    /// Plans the migration. `existingRigs` are this town's rigs (name → prefix), `existingBeads` the IDs it holds,
    /// `existingSettings` the bytes of this town's settings files (`settings/config.json`, …) that exist.
    public static func plan(
        _ source: GasTownSource, existingRigs: [String: String], existingBeads: Set<String>,
        existingSettings: [String: Data] = [:]
    ) throws(GasTownMigrationError) -> GasTownMigrationPlan {
        let town = try object(source, "mayor/town.json", required: true)!
        guard town["type"] as? String == "town" else {
            throw GasTownMigrationError(
                file: "mayor/town.json", "has no \"type\": \"town\"; is \(source.root) a Gas Town town root?")
        }
        var plan = GasTownMigrationPlan(townName: town["name"] as? String ?? "")
        let registry = try object(source, "mayor/rigs.json", required: true)!
        guard let registered = (registry["rigs"] ?? [String: Any]()) as? [String: Any] else {
            throw GasTownMigrationError(file: "mayor/rigs.json", "\"rigs\" must be an object of rigs by name")
        }
        try planRigs(source, registered: registered, existingRigs: existingRigs, &plan)
        try planSettings(source, existing: existingSettings, &plan)

        // Scopes by prefix: hq, this town's rigs, the rigs being added.
        var scopes: [String: String] = ["hq": "hq"]
        for (_, prefix) in existingRigs { scopes[prefix] = prefix }
        for rig in plan.rigs { scopes[rig.prefix] = rig.prefix }
        let rigOfPrefix = Dictionary(
            (existingRigs.map { ($0.value, $0.key) } + plan.rigs.map { ($0.prefix, $0.name) }), uniquingKeysWith: { a, _ in a })
        try planBeads(source, scopes: scopes, rigOfPrefix: rigOfPrefix, existingBeads: existingBeads, &plan)

        for (rig, names) in source.polecats.sorted(by: { $0.key < $1.key }) {
            for name in names.sorted() {
                plan.skipped.append(
                    .init(
                        kind: "worktree", item: "\(rig)/polecats/\(name)",
                        reason: "worktrees and sessions are not moved; its branches are in the rig's repository, and "
                            + "its hooked bead is re-slung (see hooks)"))
            }
        }
        for (rig, names) in source.crew.sorted(by: { $0.key < $1.key }) {
            for name in names.sorted() {
                plan.skipped.append(
                    .init(
                        kind: "worktree", item: "\(rig)/crew/\(name)",
                        reason: "crew workspaces are not moved; push their branches, then 'gt crew add \(rig) \(name)'"))
            }
        }
        for database in source.databasesWithoutExport.sorted() {
            plan.skipped.append(
                .init(
                    kind: "database", item: database,
                    reason: "the database is not read: run 'bd export -o FILE' in the old town and pass --beads FILE"))
        }
        for path in source.files.keys.sorted() where knownUncarried[path] != nil {
            plan.skipped.append(.init(kind: "file", item: path, reason: knownUncarried[path]!))
        }
        for directory in source.rigDirectories {
            for path in source.files.keys.sorted()
            where path.hasPrefix("\(directory)/settings/") && path != "\(directory)/settings/config.json" {
                plan.skipped.append(.init(kind: "file", item: path, reason: "not a file this project reads"))
            }
        }
        for path in source.files.keys.sorted()
        where (path.hasPrefix("settings/") || path.hasPrefix("mayor/")) && knownUncarried[path] == nil
            && !carriedSettings.contains(path) && !["mayor/town.json", "mayor/rigs.json"].contains(path)
        {
            plan.skipped.append(.init(kind: "file", item: path, reason: "not a file this project reads"))
        }
        return plan
    }

    static func object(
        _ source: GasTownSource, _ path: String, required: Bool
    ) throws(GasTownMigrationError) -> [String: Any]? {
        guard let data = source.files[path] else {
            if required { throw GasTownMigrationError(file: path, "is missing; is \(source.root) a Gas Town town root?") }
            return nil
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw GasTownMigrationError(file: path, "is not a JSON object; fix it or restore it, then migrate again")
        }
        return object
    }

    static func planRigs(
        _ source: GasTownSource, registered: [String: Any], existingRigs: [String: String],
        _ plan: inout GasTownMigrationPlan
    ) throws(GasTownMigrationError) {
        // A rig is named by mayor/rigs.json or by a top-level directory whose config.json says "type": "rig".
        var candidates: [String: (config: [String: Any]?, entry: [String: Any]?, directory: String?)] = [:]
        for (name, value) in registered {
            guard let entry = value as? [String: Any] else {
                throw GasTownMigrationError(file: "mayor/rigs.json", "rigs.\(name) must be an object")
            }
            candidates[name, default: (nil, nil, nil)].entry = entry
        }
        for directory in source.rigDirectories {
            let path = "\(directory)/config.json"
            guard let config = try object(source, path, required: false), config["type"] as? String == "rig" else {
                continue
            }
            let name = config["name"] as? String ?? directory
            candidates[name, default: (nil, nil, nil)].config = config
            candidates[name]!.directory = directory
        }
        let takenPrefixes = Dictionary(existingRigs.map { ($0.value, $0.key) }, uniquingKeysWith: { a, _ in a })
        var planned: [String: String] = [:]
        for name in candidates.keys.sorted() {
            let (config, entry, directory) = candidates[name]!
            let gitURL = (config?["git_url"] as? String) ?? (entry?["git_url"] as? String) ?? ""
            let prefix =
                ((config?["beads"] as? [String: Any])?["prefix"] as? String)
                ?? ((entry?["beads"] as? [String: Any])?["prefix"] as? String) ?? TownWorkflow.defaultPrefix(rig: name)
            if let existing = existingRigs[name] {
                if existing == prefix {
                    plan.alreadyHere.rigs.append(name)
                } else {
                    plan.skipped.append(
                        .init(
                            kind: "rig", item: name,
                            reason: "this town already has a rig of that name with prefix \(existing), not \(prefix)"))
                }
                continue
            }
            guard TownNames.isValid(name), !["mayor", "deacon", "settings"].contains(name) else {
                plan.skipped.append(.init(kind: "rig", item: name, reason: "'\(name)' is not a usable rig name here"))
                continue
            }
            guard !gitURL.isEmpty else {
                plan.skipped.append(
                    .init(
                        kind: "rig", item: name,
                        reason: "it has no git_url (in \(directory.map { "\($0)/config.json" } ?? "mayor/rigs.json")); "
                            + "add it with 'gt rig add \(name) URL --prefix \(prefix)', then migrate again"))
                continue
            }
            guard BeadID.isValidPrefix(prefix), prefix != "hq" else {
                plan.skipped.append(.init(kind: "rig", item: name, reason: "its bead prefix '\(prefix)' is not usable"))
                continue
            }
            if let owner = takenPrefixes[prefix] ?? planned[prefix] {
                plan.skipped.append(
                    .init(kind: "rig", item: name, reason: "its prefix \(prefix) is already the rig \(owner)'s"))
                continue
            }
            planned[prefix] = name
            var rig = GasTownMigrationPlan.Rig(
                name: name, gitURL: gitURL, prefix: prefix, runtime: config?["runtime"] as? String,
                maxPolecats: config?["max_polecats"] as? Int,
                cloneFrom: source.rigClones[directory ?? name])
            try planRigSettings(source, directory: directory ?? name, &rig, &plan)
            plan.rigs.append(rig)
        }
    }

    /// Why each key of Gas Town's rig settings that has no counterpart here is not carried.
    static let uncarriedRigSettings: [String: String] = [
        "agents": "agent definitions are town-wide here: add them to settings/agents.json",
        "theme": "tmux themes are not built here",
        "namepool": "polecat names come from this node's own name pool",
        "crew": "crew workspaces start when someone runs 'gt crew at'",
        "workflow": "no default formula: sling one by name ('gt sling FORMULA --on BEAD')",
        "merge_queue.integration_branch_polecat_enabled": "integration branches are not built here; requests land on the rig's default branch",
        "merge_queue.integration_branch_refinery_enabled": "integration branches are not built here; requests land on the rig's default branch",
        "merge_queue.integration_branch_template": "integration branches are not built here; requests land on the rig's default branch",
        "merge_queue.integration_branch_auto_land": "integration branches are not built here; requests land on the rig's default branch",
        "merge_queue.on_conflict": "a request that does not rebase cleanly goes back to its polecat as rework (docs/merge-queue.md)",
        "merge_queue.delete_merged_branches": "work branches are kept in the rig's remote",
        "merge_queue.poll_interval": "the Refinery runs when requests are filed; there is no poll interval",
        "merge_queue.stale_claim_timeout": "leases are fenced by epoch; a dead node's work moves after placement.failover_grace_seconds",
    ]

    /// Gas Town's rig-level settings (`<rig>/settings/config.json`, type "rig-settings": they override the town's
    /// for that rig) carried onto the rig being added: the polecat agent (`role_agents.polecat`, else `agent`) as its
    /// runtime unless its config.json names one; the merge queue's gates (or its build, typecheck, lint and test
    /// commands) as the gate, run one after another (`&&`), their timeouts summed; `setup_command`, `max_concurrent`
    /// and `retry_flaky_tests` as `setup`, `gate_concurrency` and `flaky_retries`. Every other key is reported with
    /// the reason. A file that is not a JSON object, or of another type, refuses the migration naming it.
    static func planRigSettings(
        _ source: GasTownSource, directory: String, _ rig: inout GasTownMigrationPlan.Rig,
        _ plan: inout GasTownMigrationPlan
    ) throws(GasTownMigrationError) {
        let path = "\(directory)/settings/config.json"
        guard let settings = try object(source, path, required: false) else { return }
        if let type = settings["type"], type as? String != "rig-settings" {
            throw GasTownMigrationError(
                file: path, "has \"type\": \(type), not \"rig-settings\"; fix it or move it away, then migrate again")
        }
        func skip(_ key: String, _ reason: String) {
            plan.skipped.append(.init(kind: "setting", item: "\(path) \(key)", reason: reason))
        }
        func text(_ value: Any?) -> String? {
            guard let string = value as? String else { return nil }
            let trimmed = string.trimmingCharacters(in: .whitespacesAndNewlines)
            return trimmed.isEmpty ? nil : trimmed
        }
        // The polecat's agent: the runtime of the rig's polecats.
        let roles = settings["role_agents"] as? [String: Any] ?? [:]
        if settings["role_agents"] != nil && settings["role_agents"] as? [String: Any] == nil {
            skip("role_agents", "is not an object of agents by role")
        }
        let agentKey = text(roles["polecat"]) != nil ? "role_agents.polecat" : "agent"
        if let agent = text(roles["polecat"]) ?? text(settings["agent"]) {
            if let runtime = rig.runtime {
                skip(agentKey, "the rig's config.json names its runtime (\(runtime)); \(agent) is not used")
            } else {
                rig.runtime = agent
            }
            if agentKey == "role_agents.polecat", settings["agent"] != nil {
                skip("agent", "role_agents.polecat names the polecats' agent")
            }
        } else if settings["agent"] != nil {
            skip("agent", "is not an agent name")
        }
        for role in roles.keys.sorted() where role != "polecat" {
            skip("role_agents.\(role)", "only polecats run agents here; the Witness and Refinery are the node's own")
        }
        if let queue = settings["merge_queue"] {
            if let queue = queue as? [String: Any] {
                planRigMergeQueue(queue, &rig, skip)
            } else {
                skip("merge_queue", "is not an object")
            }
        }
        for key in settings.keys.sorted()
        where !key.hasPrefix("_") && !["type", "version", "agent", "role_agents", "merge_queue"].contains(key) {
            skip(key, uncarriedRigSettings[key] ?? "not a setting this project has")
        }
    }

    static func planRigMergeQueue(
        _ queue: [String: Any], _ rig: inout GasTownMigrationPlan.Rig, _ skip: (String, String) -> Void
    ) {
        func text(_ key: String) -> String? {
            guard let string = queue[key] as? String else { return nil }
            let trimmed = string.trimmingCharacters(in: .whitespacesAndNewlines)
            return trimmed.isEmpty ? nil : trimmed
        }
        var used: Set<String> = ["enabled"]
        if queue["enabled"] as? Bool == false {
            skip(
                "merge_queue.enabled",
                "false, but here every merge request goes through the rig's Refinery; no gate was set from it")
            used.formUnion(["gates", "build_command", "typecheck_command", "lint_command", "test_command", "run_tests"])
        } else if let gates = queue["gates"] as? [String: Any], !gates.isEmpty {
            used.insert("gates")
            var commands: [(phase: Int, name: String, command: String)] = []
            var timeout = 0
            var timeoutKnown = true
            for name in gates.keys.sorted() {
                guard let gate = gates[name] as? [String: Any],
                    let command = (gate["cmd"] as? String)?.trimmingCharacters(in: .whitespacesAndNewlines),
                    !command.isEmpty
                else {
                    skip("merge_queue.gates.\(name)", "has no \"cmd\"")
                    continue
                }
                commands.append((gate["phase"] as? String == "post-squash" ? 1 : 0, name, command))
                if let limit = gate["timeout"] {
                    if let seconds = (limit as? String).flatMap(seconds) { timeout += seconds } else {
                        timeoutKnown = false
                        skip("merge_queue.gates.\(name).timeout", "'\(limit)' is not a duration like 90s, 5m or 1h")
                    }
                }
            }
            commands.sort { ($0.phase, $0.name) < ($1.phase, $1.name) }
            if !commands.isEmpty { rig.settings["gate"] = commands.map(\.command).joined(separator: " && ") }
            if timeoutKnown, timeout > 0 { rig.settings["gate_timeout"] = "\(timeout)" }
            for key in ["build_command", "typecheck_command", "lint_command", "test_command", "run_tests"]
            where queue[key] != nil {
                used.insert(key)
                if key != "run_tests", text(key) != nil { skip("merge_queue.\(key)", "the gates are the rig's gate") }
            }
        } else {
            var commands: [String] = []
            for key in ["build_command", "typecheck_command", "lint_command", "test_command"] {
                used.insert(key)
                if key == "test_command", queue["run_tests"] as? Bool == false { continue }
                if let command = text(key) { commands.append(command) }
            }
            used.insert("run_tests")
            if !commands.isEmpty { rig.settings["gate"] = commands.joined(separator: " && ") }
        }
        if let setup = text("setup_command") { rig.settings["setup"] = setup }
        used.insert("setup_command")
        for (from, to) in [("max_concurrent", "gate_concurrency"), ("retry_flaky_tests", "flaky_retries")] {
            guard let value = queue[from] else { continue }
            used.insert(from)
            if let number = value as? Int { rig.settings[to] = "\(number)" } else {
                skip("merge_queue.\(from)", "'\(value)' is not a whole number")
            }
        }
        for key in queue.keys.sorted() where !used.contains(key) && !key.hasPrefix("_") {
            skip("merge_queue.\(key)", uncarriedRigSettings["merge_queue.\(key)"] ?? "not a setting this project has")
        }
    }

    /// Seconds of a Gas Town duration: `90`, `90s`, `5m`, `2h`.
    static func seconds(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600]
        if let unit = trimmed.last.flatMap({ units[$0] }) {
            guard let number = Int(trimmed.dropLast()), number > 0 else { return nil }
            return number * unit
        }
        guard let number = Int(trimmed), number > 0 else { return nil }
        return number
    }

    static func planSettings(
        _ source: GasTownSource, existing: [String: Data], _ plan: inout GasTownMigrationPlan
    ) throws(GasTownMigrationError) {
        // Validated by the one reader of these files (the runtime registry), as this town would read them.
        var registry = RuntimeRegistry()
        for path in ["settings/agents.json", "settings/config.json"] {
            guard let data = source.files[path] else { continue }
            do throws(PresetError) {
                if path.hasSuffix("agents.json") {
                    try registry.mergeAgentRegistry(data, file: path)
                } else {
                    try registry.mergeSettings(data, file: path)
                }
            } catch {
                throw GasTownMigrationError(file: path, "cannot be read as Gas Town settings: \(error)")
            }
            switch existing[path] {
            case nil: plan.settings[path] = data
            case data: plan.alreadyHere.settings.append(path)
            default:
                plan.skipped.append(
                    .init(
                        kind: "setting", item: path,
                        reason: "this town has its own \(path), which differs; merge the two by hand"))
            }
        }
    }

    /// The beads directories `.beads/routes.jsonl` names (`.` is the town's own), in file order. Routes leaving the
    /// town (absolute, or through `..`) are returned in `outside`.
    public static func routePaths(_ data: Data) throws(GasTownMigrationError) -> (inside: [String], outside: [String]) {
        var inside: [String] = []
        var outside: [String] = []
        for (index, line) in String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated() {
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
            guard let route = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                let path = route["path"] as? String
            else {
                throw GasTownMigrationError(
                    file: ".beads/routes.jsonl", "line \(index + 1) is not {\"prefix\": …, \"path\": …}")
            }
            if path.hasPrefix("/") || path.split(separator: "/").contains("..") || path.isEmpty {
                if !outside.contains(path) { outside.append(path) }
            } else if !inside.contains(path) {
                inside.append(path)
            }
        }
        return (inside, outside)
    }

    /// The JSONL export of a beads directory (`.` → `.beads/issues.jsonl`).
    public static func exportPath(route: String) -> String {
        route == "." ? ".beads/issues.jsonl" : "\(route)/.beads/issues.jsonl"
    }

    /// The reason Gas Town's machinery beads are not carried, or nil for work, mail and everything else.
    static func machineryReason(_ bead: Bead) -> String? {
        if bead.issueType == .agent {
            return "an agent bead is Gas Town's record of one of its running agents; this town writes its own for "
                + "the agents it starts (what it had on its hook is carried, see hooks)"
        }
        if bead.labels.contains("gt:role") {
            return "a role definition of Gas Town; roles are built into this project (docs/town.md)"
        }
        return nil
    }

    static func planBeads(
        _ source: GasTownSource, scopes: [String: String], rigOfPrefix: [String: String],
        existingBeads: Set<String>, _ plan: inout GasTownMigrationPlan
    ) throws(GasTownMigrationError) {
        var paths = [".beads/issues.jsonl"]
        if let routes = source.files[".beads/routes.jsonl"] {
            let (inside, outside) = try routePaths(routes)
            for route in inside where !paths.contains(exportPath(route: route)) { paths.append(exportPath(route: route)) }
            for route in outside {
                plan.skipped.append(
                    .init(
                        kind: "file", item: exportPath(route: route),
                        reason: "its route leaves the town; pass it with --beads FILE to carry its beads"))
            }
        }
        var files: [(String, Data)] = paths.compactMap { path in source.files[path].map { (path, $0) } }
        for path in source.exports.keys.sorted() { files.append((path, source.exports[path]!)) }

        // Every bead of every file, one per ID: the most recently updated (a later file wins a tie).
        var order: [String] = []
        var newest: [String: (file: String, bead: Bead)] = [:]
        var agentHooks: [String: String] = [:]  // hooked bead → the agent holding it
        for (path, data) in files {
            plan.beadFiles.append(path)
            guard let text = String(data: data, encoding: .utf8) else {
                throw GasTownMigrationError(file: path, "is not UTF-8 text")
            }
            let beads: [Bead]
            do { beads = try BeadCodec.decodeJSONL(text) } catch {
                throw GasTownMigrationError(file: path, "is not a beads JSONL export: \(error)")
            }
            for bead in beads {
                if let kept = newest[bead.id] {
                    if bead.updatedAt >= kept.bead.updatedAt { newest[bead.id] = (path, bead) }
                } else {
                    order.append(bead.id)
                    newest[bead.id] = (path, bead)
                }
                guard bead.issueType == .agent else { continue }
                if !bead.hookBead.isEmpty { agentHooks[bead.hookBead] = bead.title }
                // Agent beads of older towns keep the hook in their description (`hook_bead: gt-abc`).
                for line in bead.description.split(separator: "\n") where line.hasPrefix("hook_bead: ") {
                    let id = String(line.dropFirst("hook_bead: ".count)).trimmingCharacters(in: .whitespaces)
                    if id != "null" && !id.isEmpty { agentHooks[id] = bead.id }
                }
            }
        }
        var ledgers: [String: Ledger] = [:]
        for id in order {
            let (path, original) = newest[id]!
            var bead = original
            if let reason = machineryReason(bead) {
                plan.skipped.append(.init(kind: "bead", item: id, reason: reason))
                continue
            }
            guard let scope = scope(of: id, scopes) else {
                let prefix = BeadID.prefix(of: id) ?? "?"
                plan.skipped.append(
                    .init(
                        kind: "bead", item: id,
                        reason: "no rig here has its prefix \(prefix) (from \(path)); add one with "
                            + "'gt rig add NAME URL --prefix \(prefix)', then migrate again"))
                continue
            }
            if existingBeads.contains(id) {
                plan.alreadyHere.beads[scope, default: 0] += 1
                continue
            }
            let polecat = bead.assignee.contains("/polecats/")
            let hooked =
                bead.status == .hooked || (bead.status == .inProgress && polecat)
                || (agentHooks[id] != nil && bead.status != .closed && bead.status != .tombstone)
            if hooked {
                let holder = bead.assignee.isEmpty ? (agentHooks[id] ?? "") : bead.assignee
                bead.status = .open
                bead.assignee = ""
                if !bead.labels.contains(hookLabel) { bead.labels.append(hookLabel) }
                bead.setMetadataValue("migrated_assignee", .string(holder))
                let holderRig = holder.split(separator: "/").first.map(String.init)
                let rig =
                    holderRig.flatMap { rigOfPrefix.values.contains($0) ? $0 : nil }
                    ?? BeadID.prefix(of: id).flatMap { rigOfPrefix[$0] }
                plan.hooks.append(
                    .init(bead: id, assignee: holder, rig: rig, next: "gt sling \(id)\(rig.map { " \($0)" } ?? "")"))
            }
            if bead.issueType == .message {
                if bead.metadataString("from") == nil {
                    bead.setMetadataValue("from", .string(bead.sender.isEmpty ? bead.createdBy : bead.sender))
                }
                if bead.metadataString("to") == nil, !bead.assignee.isEmpty {
                    bead.setMetadataValue("to", .string(bead.assignee))
                }
            }
            // The checks the ledger makes of every imported record, made now so a bad one is reported and the
            // import itself cannot refuse.
            let ledger = ledgers[scope] ?? Ledger(prefix: scope)
            ledgers[scope] = ledger
            do throws(LedgerError) { try ledger.validateRecord(bead) } catch {
                plan.hooks.removeAll { $0.bead == id }
                plan.skipped.append(.init(kind: "bead", item: id, reason: "the ledger refuses it: \(error) (\(path))"))
                continue
            }
            if bead.issueType == .message { plan.mail.append(id) }
            plan.beads[scope, default: []].append(bead)
        }
    }

    /// The scope owning `id`: the longest prefix `P` such that `id` starts with `P-`.
    static func scope(of id: String, _ scopes: [String: String]) -> String? {
        scopes.keys.filter { id.hasPrefix($0 + "-") }.max { $0.count < $1.count }.flatMap { scopes[$0] }
    }
}
