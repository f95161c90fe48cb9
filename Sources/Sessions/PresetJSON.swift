import Foundation

/// A parsed JSON value, for reading preset files field by field with precise errors.
/// `Sendable`: plain values.
enum JSONValue: Sendable, Equatable, Decodable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Parses `data`; a `PresetError.malformedJSON` naming `file` if it is not JSON.
    static func parse(_ data: Data, file: String) throws(PresetError) -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: data)
        } catch let DecodingError.dataCorrupted(context) {
            let underlying = (context.underlyingError as? NSError)?.userInfo[NSDebugDescriptionErrorKey] as? String
            throw .malformedJSON(file: file, reason: underlying ?? context.debugDescription)
        } catch {
            throw .malformedJSON(file: file, reason: "\(error)")
        }
    }

    /// The JSON type's name, for error messages.
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// Reads preset fields out of `JSONValue`s, throwing `PresetError.invalidField` with the file and the field's
/// path. `Sendable`: holds a file name.
struct FieldReader: Sendable {
    let file: String

    func fail(_ path: String, _ problem: String) -> PresetError {
        .invalidField(file: file, field: path, problem: problem)
    }

    func object(_ value: JSONValue, _ path: String) throws(PresetError) -> [String: JSONValue] {
        guard case .object(let object) = value else { throw fail(path, "expected an object, found \(value.typeName)") }
        return object
    }

    func string(_ value: JSONValue, _ path: String) throws(PresetError) -> String {
        guard case .string(let text) = value else { throw fail(path, "expected a string, found \(value.typeName)") }
        return text
    }

    func bool(_ value: JSONValue, _ path: String) throws(PresetError) -> Bool {
        guard case .bool(let flag) = value else { throw fail(path, "expected true or false, found \(value.typeName)") }
        return flag
    }

    func integer(_ value: JSONValue, _ path: String) throws(PresetError) -> Int {
        guard case .number(let number) = value else { throw fail(path, "expected a number, found \(value.typeName)") }
        guard number.rounded() == number, number >= 0, number <= 86_400_000 else {
            throw fail(path, "expected a whole number from 0 to 86400000, found \(number)")
        }
        return Int(number)
    }

    func strings(_ value: JSONValue, _ path: String) throws(PresetError) -> [String] {
        guard case .array(let items) = value else {
            throw fail(path, "expected an array of strings, found \(value.typeName)")
        }
        var result: [String] = []
        for (index, item) in items.enumerated() { result.append(try string(item, "\(path)[\(index)]")) }
        return result
    }

    func environment(_ value: JSONValue, _ path: String) throws(PresetError) -> [String: String] {
        var result: [String: String] = [:]
        for (key, item) in try object(value, path) {
            guard ShellQuote.isEnvironmentName(key) else {
                throw fail("\(path).\(key)", "'\(key)' is not a valid environment variable name")
            }
            result[key] = try string(item, "\(path).\(key)")
        }
        return result
    }

    /// nil and "" mean "not set".
    func optionalString(_ value: JSONValue, _ path: String) throws(PresetError) -> String? {
        let text = try string(value, path)
        return text.isEmpty ? nil : text
    }

    func checkName(_ name: String, _ path: String) throws(PresetError) {
        if name.isEmpty || name.hasPrefix("exec:") || name.contains(where: { $0.isWhitespace || $0 == "/" }) {
            throw fail(path, "'\(name)' cannot name a runtime (no spaces, slashes, or exec: prefix)")
        }
    }

    func requireCommand(_ preset: RuntimePreset, _ path: String) throws(PresetError) {
        if preset.command.trimmingCharacters(in: .whitespaces).isEmpty {
            throw fail(path + ".command", "a custom agent needs a command")
        }
    }

    func promptMode(_ value: JSONValue, _ path: String) throws(PresetError) -> RuntimePreset.PromptMode? {
        let text = try string(value, path)
        if text.isEmpty { return nil }
        guard let mode = RuntimePreset.PromptMode(rawValue: text) else {
            throw fail(path, "'\(text)' is not a prompt mode (arg or none)")
        }
        return mode
    }

    /// Applies the flat registry fields in `fields` to `preset`. JSON null leaves a field as it was.
    func applyFlat(_ fields: [String: JSONValue], to preset: inout RuntimePreset, path: String) throws(PresetError) {
        var hookProvider: String?? = .none
        var hookDirectory: String?
        var hookFile: String?
        var hookInformational: Bool?
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) where value != .null {
            let field = "\(path).\(key)"
            switch key {
            case "name": _ = try string(value, field)
            case "command": preset.command = try string(value, field)
            case "args": preset.args = try strings(value, field)
            case "env": preset.env = try environment(value, field)
            case "process_names": preset.processNames = try strings(value, field)
            case "session_id_env": preset.sessionIDEnv = try optionalString(value, field)
            case "resume_flag": preset.resumeFlag = try optionalString(value, field)
            case "continue_flag": preset.continueFlag = try optionalString(value, field)
            case "resume_style":
                let text = try string(value, field)
                if text.isEmpty {
                    preset.resumeStyle = nil
                } else if let style = RuntimePreset.ResumeStyle(rawValue: text) {
                    preset.resumeStyle = style
                } else {
                    throw fail(field, "'\(text)' is not a resume style (flag or subcommand)")
                }
            case "supports_hooks": preset.supportsHooks = try bool(value, field)
            case "supports_fork_session": preset.supportsForkSession = try bool(value, field)
            case "prompt_mode": if let mode = try promptMode(value, field) { preset.promptMode = mode }
            case "prompt_flag": preset.promptFlag = try optionalString(value, field)
            case "config_dir_env": preset.configDirEnv = try optionalString(value, field)
            case "config_dir": preset.configDir = try optionalString(value, field)
            case "hooks_provider": hookProvider = .some(try optionalString(value, field))
            case "hooks_dir": hookDirectory = try string(value, field)
            case "hooks_settings_file": hookFile = try string(value, field)
            case "hooks_informational": hookInformational = try bool(value, field)
            case "ready_prompt_prefix": preset.readyPromptPrefix = try optionalString(value, field)
            case "ready_delay_ms": preset.readyDelayMs = try integer(value, field)
            case "instructions_file": if let file = try optionalString(value, field) { preset.instructionsFile = file }
            case "emits_permission_warning": preset.emitsPermissionWarning = try bool(value, field)
            case "has_turn_boundary_drain": preset.hasTurnBoundaryDrain = try bool(value, field)
            case "escape_cancels_request": preset.escapeCancelsRequest = try bool(value, field)
            case "non_interactive": preset.nonInteractive = try nonInteractive(value, field)
            default: continue  // unknown keys (acp, hooks_use_settings_dir, _comment…) are ignored
            }
        }
        try applyHooks(
            to: &preset, provider: hookProvider, directory: hookDirectory, file: hookFile,
            informational: hookInformational)
    }

    /// Applies the town/rig settings fields in `fields` to `preset`.
    func applySettings(_ fields: [String: JSONValue], to preset: inout RuntimePreset, path: String)
        throws(PresetError)
    {
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) where value != .null {
            let field = "\(path).\(key)"
            switch key {
            case "provider": _ = try string(value, field)
            case "command": preset.command = try string(value, field)
            case "args": preset.args = try strings(value, field)
            case "env": preset.env.merge(try environment(value, field)) { $1 }
            case "prompt_mode": if let mode = try promptMode(value, field) { preset.promptMode = mode }
            case "hooks":
                let hooks = try object(value, field)
                var provider: String?? = .none
                if let given = hooks["provider"] { provider = .some(try optionalString(given, field + ".provider")) }
                var directory: String?
                if let given = hooks["dir"] { directory = try string(given, field + ".dir") }
                var file: String?
                if let given = hooks["settings_file"] { file = try string(given, field + ".settings_file") }
                var informational: Bool?
                if let given = hooks["informational"] { informational = try bool(given, field + ".informational") }
                try applyHooks(
                    to: &preset, provider: provider, directory: directory, file: file, informational: informational)
            case "tmux":
                let tmux = try object(value, field)
                if let names = tmux["process_names"] {
                    preset.processNames = try strings(names, field + ".process_names")
                }
                if let prefix = tmux["ready_prompt_prefix"] {
                    preset.readyPromptPrefix = try optionalString(prefix, field + ".ready_prompt_prefix")
                }
                if let delay = tmux["ready_delay_ms"] {
                    preset.readyDelayMs = try integer(delay, field + ".ready_delay_ms")
                }
            case "session":
                let session = try object(value, field)
                if let name = session["session_id_env"] {
                    preset.sessionIDEnv = try optionalString(name, field + ".session_id_env")
                }
                if let name = session["config_dir_env"] {
                    preset.configDirEnv = try optionalString(name, field + ".config_dir_env")
                }
            case "instructions":
                let instructions = try object(value, field)
                if let file = instructions["file"], let name = try optionalString(file, field + ".file") {
                    preset.instructionsFile = name
                }
            default: continue
            }
        }
    }

    private func nonInteractive(_ value: JSONValue, _ path: String) throws(PresetError)
        -> RuntimePreset.NonInteractive
    {
        let fields = try object(value, path)
        func text(_ key: String) throws(PresetError) -> String? {
            guard let value = fields[key], value != .null else { return nil }
            return try optionalString(value, "\(path).\(key)")
        }
        return RuntimePreset.NonInteractive(
            subcommand: try text("subcommand"), promptFlag: try text("prompt_flag"),
            outputFlag: try text("output_flag"))
    }

    /// `provider` nil: not given; `.some(nil)`: given as "" (no hooks); "none" also means no hooks.
    private func applyHooks(
        to preset: inout RuntimePreset, provider: String??, directory: String?, file: String?, informational: Bool?
    ) throws(PresetError) {
        if case .some(let given) = provider, given == nil || given == "none" {
            preset.hooks = nil
            return
        }
        guard provider != nil || directory != nil || file != nil || informational != nil else { return }
        var hooks = preset.hooks ?? RuntimePreset.HookSettings(provider: preset.name, directory: "", settingsFile: "")
        if case .some(.some(let name)) = provider { hooks.provider = name }
        if let directory { hooks.directory = directory }
        if let file { hooks.settingsFile = file }
        if let informational { hooks.informational = informational }
        preset.hooks = hooks
    }
}
