import Foundation

/// The runtime presets a town knows: the built-ins, overlaid by the user's JSON files, in Gas Town's two
/// shapes:
/// - the agent registry `<town>/settings/agents.json` (and `<rig>/settings/agents.json`):
///   `{"version": 1, "agents": {"<name>": {flat preset fields: command, args, process_names, resume_flag, …}}}`;
/// - the `agents` object of town settings `<town>/settings/config.json` (and rig settings
///   `<rig>/settings/config.json`): `{"<name>": {command, args, env, provider, prompt_mode,
///   hooks: {provider, dir, settings_file, informational}, tmux: {process_names, ready_prompt_prefix,
///   ready_delay_ms}, session: {session_id_env, config_dir_env}, instructions: {file}}}`.
///
/// An entry overlays the preset of the same name field by field (only the keys it has), as Gas Town does;
/// a settings entry with no preset of its name starts from its `provider`'s preset, else from the preset
/// whose command is its command, else from an empty one. Values are taken as written (a user's
/// `"resume_flag": "--session-d"` stays exactly that). Unknown keys (`_comment`, fields we do not model)
/// are ignored. A wrong type or value is a `PresetError` naming the file and the field.
/// `Sendable`: a dictionary of values.
public struct RuntimeRegistry: Sendable, Equatable {
    /// The presets by name.
    public private(set) var presets: [String: RuntimePreset]
    /// `default_agent` of town settings (or `agent` of rig settings), if a loaded file set it.
    public private(set) var defaultAgent: String?

    /// A registry holding `presets` (the built-ins by default).
    public init(presets: [String: RuntimePreset] = RuntimePreset.builtIns) {
        self.presets = presets
    }

    /// The preset called `name`.
    public func preset(named name: String) -> RuntimePreset? { presets[name] }

    /// Loads a town's registry: built-ins, then `<town>/settings/agents.json`, then the `agents` of
    /// `<town>/settings/config.json`, then, when `rigDirectory` is given, the rig's `settings/agents.json`
    /// and `settings/config.json`. Missing files are skipped.
    public static func load(townRoot: String, rigDirectory: String? = nil) throws(PresetError) -> RuntimeRegistry {
        var registry = RuntimeRegistry()
        for directory in [townRoot] + (rigDirectory.map { [$0] } ?? []) {
            let agents = directory + "/settings/agents.json"
            if let data = try read(agents) { try registry.mergeAgentRegistry(data, file: agents) }
            let config = directory + "/settings/config.json"
            if let data = try read(config) { try registry.mergeSettings(data, file: config) }
        }
        return registry
    }

    /// Overlays an agent registry file (flat shape). `file` is used in errors. All or nothing: on an error
    /// the registry is unchanged.
    public mutating func mergeAgentRegistry(_ data: Data, file: String) throws(PresetError) {
        var updated = self
        try updated.applyAgentRegistry(data, file: file)
        self = updated
    }

    /// Overlays the `agents` (and reads `default_agent` / `agent`) of a town or rig settings file. All or
    /// nothing: on an error the registry is unchanged.
    public mutating func mergeSettings(_ data: Data, file: String) throws(PresetError) {
        var updated = self
        try updated.applySettings(data, file: file)
        self = updated
    }

    private mutating func applyAgentRegistry(_ data: Data, file: String) throws(PresetError) {
        let root = try JSONValue.parse(data, file: file)
        let reader = FieldReader(file: file)
        let object = try reader.object(root, "")
        if let version = object["version"] {
            let number = try reader.integer(version, "version")
            if number != 1 {
                throw .invalidField(
                    file: file, field: "version", problem: "version \(number) is not supported (only 1)")
            }
        }
        guard let agents = object["agents"] else { return }
        for (name, entry) in try reader.object(agents, "agents").sorted(by: { $0.key < $1.key }) {
            let path = "agents.\(name)"
            try reader.checkName(name, path)
            var preset = presets[name] ?? RuntimePreset(name: name, command: "")
            try reader.applyFlat(try reader.object(entry, path), to: &preset, path: path)
            preset.name = name
            try reader.requireCommand(preset, path)
            presets[name] = preset
        }
    }

    private mutating func applySettings(_ data: Data, file: String) throws(PresetError) {
        let root = try JSONValue.parse(data, file: file)
        let reader = FieldReader(file: file)
        let object = try reader.object(root, "")
        for key in ["default_agent", "agent"] {
            if let value = object[key] {
                let name = try reader.string(value, key)
                if !name.isEmpty { defaultAgent = name }
            }
        }
        guard let agents = object["agents"] else { return }
        for (name, entry) in try reader.object(agents, "agents").sorted(by: { $0.key < $1.key }) {
            let path = "agents.\(name)"
            try reader.checkName(name, path)
            let fields = try reader.object(entry, path)
            var base: RuntimePreset
            if let provider = fields["provider"] {
                let providerName = try reader.string(provider, path + ".provider")
                base = presets[providerName] ?? RuntimePreset(name: name, command: "")
            } else if let existing = presets[name] {
                base = existing
            } else if let command = fields["command"] {
                let program = (try reader.string(command, path + ".command") as NSString).lastPathComponent
                base =
                    presets.values.sorted { $0.name < $1.name }.first { $0.command == program }
                    ?? RuntimePreset(name: name, command: "")
            } else {
                base = RuntimePreset(name: name, command: "")
            }
            try reader.applySettings(fields, to: &base, path: path)
            base.name = name
            if base.processNames.isEmpty, !base.command.isEmpty {
                base.processNames = [(base.command as NSString).lastPathComponent]
            }
            try reader.requireCommand(base, path)
            presets[name] = base
        }
    }

    /// Resolves a runtime choice: a preset name, or `exec:<command>` (one pair of quotes around the command
    /// is removed, so `exec:'./agent.sh'` works however the shell passed it on).
    public func resolve(_ choice: String) throws(PresetError) -> Runtime {
        let trimmed = choice.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("exec:") {
            var command = String(trimmed.dropFirst(5)).trimmingCharacters(in: .whitespaces)
            if command.count >= 2, let first = command.first, first == "'" || first == "\"", command.last == first {
                command = String(command.dropFirst().dropLast())
            }
            guard !command.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw .invalidRuntime(choice, problem: "exec: needs a command, as in exec:'./agent.sh'")
            }
            return .exec(command: command)
        }
        guard let preset = presets[trimmed] else {
            throw .invalidRuntime(
                choice,
                problem:
                    "no such runtime; known: \(presets.keys.sorted().joined(separator: ", ")), or exec:'<command>'")
        }
        return .preset(preset)
    }

    private static func read(_ path: String) throws(PresetError) -> Data? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadable(file: path, reason: "it exists but cannot be read (permissions?)")
        }
        return data
    }
}

/// What runs in a session: a preset, or a script (`exec`). `Sendable`: plain values.
public enum Runtime: Sendable, Equatable {
    /// An agent runtime preset.
    case preset(RuntimePreset)
    /// `exec:<command>`: any shell command, run by `/bin/sh -c` in the worktree.
    case exec(command: String)

    /// The name shown to users (`claude`, `exec`).
    public var name: String {
        switch self {
        case .preset(let preset): preset.name
        case .exec: "exec"
        }
    }
}

/// A runtime preset file or choice that cannot be used, saying where and what to fix.
/// `Sendable`: plain values.
public enum PresetError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file exists but could not be read.
    case unreadable(file: String, reason: String)
    /// The file is not JSON.
    case malformedJSON(file: String, reason: String)
    /// A field has the wrong type or value. `field` is a path such as `agents.claude.args[1]`.
    case invalidField(file: String, field: String, problem: String)
    /// A `--runtime` choice names no preset or is a malformed `exec:`.
    case invalidRuntime(String, problem: String)

    public var description: String {
        switch self {
        case .unreadable(let file, let reason): "\(file): \(reason)"
        case .malformedJSON(let file, let reason): "\(file) is not valid JSON: \(reason); fix the file"
        case .invalidField(let file, let field, let problem):
            "\(file): field \(field.isEmpty ? "(top level)" : field): \(problem); fix the file"
        case .invalidRuntime(let choice, let problem): "runtime '\(choice)': \(problem)"
        }
    }
}
