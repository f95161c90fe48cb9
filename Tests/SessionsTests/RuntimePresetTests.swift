import Foundation
import GasTownTestKit
import Testing

@testable import Sessions

let gastownSamples =
    ProcessInfo.processInfo.environment["GT_SAMPLES"].map { $0 + "/gastown" }
    ?? "/work/shared/samples/gastown"

func sampleData(_ relative: String) throws -> Data {
    try #require(FileManager.default.contents(atPath: gastownSamples + "/" + relative), "missing sample \(relative)")
}

@Suite struct RuntimePresetTests {
    @Test func builtInsCoverGasTownsRuntimes() throws {
        let names = Set(RuntimePreset.builtIns.keys)
        for name in [
            "claude", "codex", "gemini", "cursor", "amp", "opencode", "auggie", "copilot", "pi", "omp", "vibe",
            "groq-compound",
        ] {
            #expect(names.contains(name), "\(name)")
        }
        let presets = RuntimePreset.builtIns
        #expect(presets["claude"]?.instructionsFile == "CLAUDE.md")
        #expect(presets["gemini"]?.instructionsFile == "GEMINI.md")
        #expect(presets["codex"]?.instructionsFile == "AGENTS.md")
        #expect(presets["claude"]?.readiness == RuntimeReadiness(promptPrefix: "❯ ", delay: .seconds(10)))
        #expect(presets["codex"]?.promptMode == RuntimePreset.PromptMode.none)
        #expect(presets["codex"]?.resumeStyle == .subcommand)
        #expect(presets["cursor"]?.command == "cursor-agent")
        #expect(presets["opencode"]?.env["OPENCODE_PERMISSION"] == #"{"*":"allow"}"#)
        for preset in presets.values {
            #expect(!preset.command.isEmpty && !preset.processNames.isEmpty, "\(preset.name)")
        }
    }

    @Test func theRealTownFilesLoadAndKeepTheirTypo() throws {
        let registry = try RuntimeRegistry.load(townRoot: gastownSamples + "/town-pr820")
        let claude = try #require(registry.preset(named: "claude"))
        #expect(claude.resumeFlag == "--session-d", "the user's file is taken as written")
        #expect(claude.processNames == ["claude"])
        #expect(claude.args == [])
        #expect(claude.sessionIDEnv == nil)
        #expect(claude.instructionsFile == "CLAUDE.md", "fields the file lacks keep the built-in value")
        #expect(claude.hooks?.provider == "claude")
        #expect(registry.preset(named: "opencode")?.resumeFlag == "--session")
        #expect(registry.preset(named: "opencode")?.processNames == ["node"])
        #expect(registry.defaultAgent == "opencode")
        #expect(registry.preset(named: "codex") == RuntimePreset.builtIns["codex"])
    }

    @Test func theTownSettingsExampleLoads() throws {
        var registry = RuntimeRegistry()
        try registry.mergeSettings(try sampleData("examples/town-settings.example.json"), file: "config.json")
        #expect(registry.defaultAgent == "claude")
        let opus = try #require(registry.preset(named: "opus-46"))
        #expect(opus.command == "claude")
        #expect(opus.args == ["--model", "opus", "--dangerously-skip-permissions"])
        #expect(opus.env["CLAUDECODE"] == "")
        #expect(opus.hooks?.provider == "claude", "a custom agent on the claude binary gets claude's hooks")
        let pi = try #require(registry.preset(named: "pi"))
        #expect(pi.args == ["-e", "/path/to/gastown-hooks.js"])
        #expect(pi.processNames == ["pi", "node", "bun"])
        #expect(pi.readyDelayMs == 3000)
        #expect(pi.sessionIDEnv == "PI_SESSION_ID")
        #expect(
            pi.hooks
                == RuntimePreset.HookSettings(
                    provider: "pi", directory: ".pi/extensions", settingsFile: "gastown-hooks.js"))
        let kimi = try #require(registry.preset(named: "kimi-k2.5"))
        #expect(kimi.promptMode == RuntimePreset.PromptMode.none)
        #expect(kimi.processNames == ["opencode", "node", "bun"])
        let capped = try #require(registry.preset(named: "opus-46-capped"))
        #expect(capped.command == "cgroup-wrap")
        #expect(capped.processNames == ["cgroup-wrap"])
        #expect(capped.hooks == nil)
    }

    @Test func rigSettingsOverlayTheTown() throws {
        let rig = try TempDir(prefix: "gt-sessions")
        let example = try sampleData("examples/rig-settings.example.json")
        try rig.write("settings/config.json", String(decoding: example, as: UTF8.self))
        let registry = try RuntimeRegistry.load(townRoot: gastownSamples + "/town-pr820", rigDirectory: rig.path)
        #expect(registry.defaultAgent == "pi")
        #expect(
            registry.preset(named: "rig-specific-agent")?.args
                == ["--model", "sonnet", "--dangerously-skip-permissions"])
        #expect(registry.preset(named: "claude")?.resumeFlag == "--session-d")
    }

    @Test func everySampleSettingsFileParsesOrFailsClearly() throws {
        for file in [
            "town-pr820/settings/agents.json", "town-pr820/settings/config.json", "town-pr820/settings/escalation.json",
            "town-pr820/gastown/config.json", "examples/town-settings.example.json",
            "examples/rig-settings.example.json", "agent-templates/opencode-models.json",
        ] {
            var registry = RuntimeRegistry()
            try registry.mergeSettings(try sampleData(file), file: file)
            var flat = RuntimeRegistry()
            if file.hasSuffix("agents.json") { try flat.mergeAgentRegistry(try sampleData(file), file: file) }
        }
        // A Go template is not JSON until rendered: a clear error naming the file.
        var registry = RuntimeRegistry()
        let template = try sampleData("agent-templates/opencode.json.tmpl")
        do {
            try registry.mergeAgentRegistry(template, file: "opencode.json.tmpl")
            Issue.record("an unrendered template must not load")
        } catch {
            guard case .malformedJSON(let file, _) = error else { throw error }
            #expect(file == "opencode.json.tmpl")
        }
    }

    @Test(arguments: [
        (#"{"agents": {"x": {"command": "x", "args": ["a", 3]}}}"#, "agents.x.args[1]"),
        (#"{"agents": {"claude": {"resume_style": "sideways"}}}"#, "agents.claude.resume_style"),
        (#"{"agents": {"claude": {"ready_delay_ms": -1}}}"#, "agents.claude.ready_delay_ms"),
        (#"{"agents": {"a": {"command": "a"}, "b": {"command": 1}}}"#, "agents.b.command"),
        (#"{"agents": {"claude": {"supports_hooks": "yes"}}}"#, "agents.claude.supports_hooks"),
        (#"{"agents": {"claude": {"env": {"1BAD": "v"}}}}"#, "agents.claude.env.1BAD"),
        (#"{"agents": {"claude": {"prompt_mode": "stdin"}}}"#, "agents.claude.prompt_mode"),
        (#"{"agents": {"newbie": {"args": []}}}"#, "agents.newbie.command"),
        (#"{"agents": {"exec:x": {"command": "x"}}}"#, "agents.exec:x"),
        (#"{"agents": ["claude"]}"#, "agents"),
        (#"{"version": 2, "agents": {}}"#, "version"),
        (#"[1, 2]"#, ""),
    ])
    func badRegistryFieldsNameTheFileAndField(json: String, field: String) throws {
        var registry = RuntimeRegistry()
        do {
            try registry.mergeAgentRegistry(Data(json.utf8), file: "/t/settings/agents.json")
            Issue.record("must fail: \(json)")
        } catch {
            #expect(error == .invalidField(file: "/t/settings/agents.json", field: field, problem: problem(of: error)))
            #expect(error.description.contains("/t/settings/agents.json"))
        }
        #expect(registry == RuntimeRegistry(), "a failed merge leaves the registry unchanged")
    }

    @Test func badSettingsFieldsNameTheField() throws {
        var registry = RuntimeRegistry()
        let json = #"{"agents": {"pi": {"tmux": {"ready_delay_ms": "soon"}}}}"#
        #expect(throws: PresetError.self) { try registry.mergeSettings(Data(json.utf8), file: "c.json") }
        do {
            try registry.mergeSettings(Data(json.utf8), file: "c.json")
        } catch {
            guard case .invalidField(_, let field, _) = error else { throw error }
            #expect(field == "agents.pi.tmux.ready_delay_ms")
        }
        do {
            try registry.mergeSettings(Data("{\"agents\": {".utf8), file: "c.json")
            Issue.record("truncated JSON must fail")
        } catch {
            guard case .malformedJSON(let file, _) = error else { throw error }
            #expect(file == "c.json")
        }
    }

    @Test func loaderSurvivesMutatedSampleFiles() throws {
        var random = SeededRandom(seed: 0xa6e7_75)
        let seeds = try [
            "town-pr820/settings/agents.json", "examples/town-settings.example.json", "town-pr820/settings/config.json",
        ].map { Array(try sampleData($0)) }
        let interesting = Array("{}[]\":,0-1e.tfn\\u ".utf8) + [0, 0xff, 0xc3]
        var accepted = 0
        for round in 0..<3000 {
            var bytes = seeds[round % seeds.count]
            for _ in 0..<(1 + Int(random.next() % 6)) {
                let position = Int(random.next() % UInt64(bytes.count + 1))
                switch random.next() % 4 {
                case 0: bytes.insert(interesting[Int(random.next() % UInt64(interesting.count))], at: position)
                case 1: if position < bytes.count { bytes.remove(at: position) }
                case 2: if position < bytes.count { bytes[position] = UInt8(truncatingIfNeeded: random.next()) }
                default: bytes = Array(bytes.prefix(position))
                }
            }
            var registry = RuntimeRegistry()
            do {
                if round % 2 == 0 {
                    try registry.mergeAgentRegistry(Data(bytes), file: "fuzz.json")
                } else {
                    try registry.mergeSettings(Data(bytes), file: "fuzz.json")
                }
                accepted += 1
            } catch {
                #expect(!error.description.isEmpty)
            }
        }
        #expect(accepted > 0 && accepted < 3000, "mutations both pass and fail: accepted \(accepted)")
    }

    @Test func runtimeChoicesResolve() throws {
        let registry = RuntimeRegistry()
        #expect(try registry.resolve("claude") == .preset(RuntimePreset.builtIns["claude"]!))
        #expect(try registry.resolve("exec:'./agent.sh --fast'") == .exec(command: "./agent.sh --fast"))
        #expect(try registry.resolve("exec:./agent.sh") == .exec(command: "./agent.sh"))
        #expect(try registry.resolve("exec:\"echo hi\"") == .exec(command: "echo hi"))
        #expect(throws: PresetError.self) { try registry.resolve("exec:") }
        #expect(throws: PresetError.self) { try registry.resolve("exec:''") }
        do {
            _ = try registry.resolve("clade")
            Issue.record("unknown runtime must fail")
        } catch {
            #expect(error.description.contains("claude") && error.description.contains("exec:"))
        }
    }
}

private func problem(of error: PresetError) -> String {
    if case .invalidField(_, _, let problem) = error { return problem }
    return ""
}
