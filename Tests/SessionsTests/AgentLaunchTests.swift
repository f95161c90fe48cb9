import Foundation
import GasTownTestKit
import Testing

@testable import Sessions

@Suite struct AgentLaunchTests {
    let town = "/home/me/gt"
    var context: AgentContext {
        AgentContext(
            townRoot: town, rig: "gastown", polecat: "nux", bead: "gt-abc", beadTitle: "Fix the thing",
            gtBinDirectory: "/opt/gt/bin")
    }
    var name: SessionName { SessionName(town: TownID(townRoot: town), rig: "gastown", polecat: "nux", epoch: 2) }

    @Test func presetCommandLinesDeliverThePromptAsTheRuntimeExpects() throws {
        let registry = RuntimeRegistry()
        let claude = try registry.resolve("claude").launch(context: context, session: name, prompt: "[GAS TOWN] go")
        #expect(claude.command == "claude --dangerously-skip-permissions '[GAS TOWN] go'")
        #expect(claude.promptAfterReady == nil)
        #expect(claude.contextFile == "CLAUDE.md")
        #expect(claude.hookFile?.relativePath == ".claude/settings.json")

        let codex = try registry.resolve("codex").launch(context: context, session: name, prompt: "[GAS TOWN] go")
        #expect(codex.command == "codex --dangerously-bypass-approvals-and-sandbox")
        #expect(codex.promptAfterReady == "[GAS TOWN] go")
        #expect(codex.readiness.promptPrefix == "› ")

        let opencode = try registry.resolve("opencode").launch(context: context, session: name, prompt: "go")
        #expect(opencode.command == "opencode --prompt go")
        #expect(opencode.environment["OPENCODE_PERMISSION"] == #"{"*":"allow"}"#)

        let resumed = try registry.resolve("claude").launch(context: context, session: name, resumeSessionID: "s1")
        #expect(resumed.command == "claude --dangerously-skip-permissions --resume s1")
        let codexResumed = try registry.resolve("codex").launch(context: context, session: name, resumeSessionID: "s1")
        #expect(codexResumed.command == "codex resume s1 --dangerously-bypass-approvals-and-sandbox")
        let ampResumed = try registry.resolve("amp").launch(context: context, session: name, resumeSessionID: "t9")
        #expect(ampResumed.command == "amp threads continue t9 --dangerously-allow-all --no-ide")
    }

    @Test func everySessionGetsTheHookEnvironment() throws {
        for choice in ["claude", "exec:./agent.sh"] {
            let launch = try RuntimeRegistry().resolve(choice).launch(context: context, session: name)
            let environment = launch.environment
            #expect(environment["GT_TOWN"] == town)
            #expect(environment["GT_RIG"] == "gastown")
            #expect(environment["GT_POLECAT"] == "nux")
            // Gas Town's compound GT_ROLE: the full address an agent's mail is sent from.
            #expect(environment["GT_ROLE"] == "gastown/polecats/nux")
            #expect(environment["BD_ACTOR"] == "gastown/polecats/nux")
            #expect(environment["GT_BEAD"] == "gt-abc")
            #expect(environment["GT_BEAD_TITLE"] == "Fix the thing")
            #expect(environment["BEADS_DIR"] == town + "/.beads")
            #expect(environment["GT_SESSION"] == name.rendered)
            #expect(environment["PATH"]?.hasPrefix("/opt/gt/bin:") == true)
        }
        let exec = try RuntimeRegistry().resolve("exec:./agent.sh").launch(context: context, session: name, prompt: "x")
        #expect(exec.command == "./agent.sh")
        #expect(exec.hookFile == nil && exec.promptAfterReady == nil)
    }

    @Test func hookTemplatesRenderToValidFilesThatCallGtPrime() throws {
        let binary = "/opt/my tools/gt"
        for provider in ["claude", "gemini", "codex", "cursor", "copilot", "opencode"] {
            let template = try #require(HookTemplates.template(provider: provider))
            let isJSON = provider != "opencode"
            let rendered = HookTemplates.render(template, gtBinary: binary, json: isJSON)
            #expect(!rendered.contains("{{GT_BIN}}"))
            #expect(rendered.contains("prime --hook"))
            if isJSON {
                let object = try JSONSerialization.jsonObject(with: Data(rendered.utf8)) as? [String: Any]
                let hooks = try #require(object?["hooks"] as? [String: Any])
                #expect(!hooks.isEmpty)
                #expect(rendered.contains(#"'/opt/my tools/gt' prime --hook"#))
            }
        }
        #expect(HookTemplates.template(provider: "vibe") == nil)
    }

    @Test func gasTownsOwnTemplatesRenderToValidJSON() throws {
        let directory = gastownSamples + "/hook-templates"
        let runtimes = try FileManager.default.contentsOfDirectory(atPath: directory)
        var rendered = 0
        for runtime in runtimes {
            for file in try FileManager.default.contentsOfDirectory(atPath: directory + "/" + runtime)
            where file.hasSuffix(".json") {
                let text = String(decoding: try sampleData("hook-templates/\(runtime)/\(file)"), as: UTF8.self)
                let output = HookTemplates.render(text, gtBinary: "/usr/local/bin/gt", json: true)
                #expect(!output.contains("{{GT_BIN}}"))
                #expect(output.contains("/usr/local/bin/gt prime --hook"))
                _ = try JSONSerialization.jsonObject(with: Data(output.utf8))
                // Our own template for this runtime uses only event names Gas Town uses.
                if let ours = HookTemplates.template(provider: runtime) {
                    let ourEvents = try events(of: ours)
                    #expect(ourEvents.isSubset(of: try events(of: text)), "\(runtime): \(ourEvents)")
                }
                rendered += 1
            }
        }
        #expect(rendered >= 10)
    }

    @Test func hookFilesInstallWithoutClobberingTheProjectsOwn() throws {
        let worktree = try TempDir(prefix: "gt-sessions")
        let file = try #require(try RuntimePreset.builtIns["claude"]!.hookFile(gtBinary: "/bin/gt"))
        #expect(try file.install(in: worktree.path))
        #expect(worktree.read(".claude/settings.json") == file.contents)
        #expect(try file.install(in: worktree.path), "installing again is a no-op")
        try worktree.write(".gemini/settings.json", "{\"project\": true}")
        let gemini = try #require(try RuntimePreset.builtIns["gemini"]!.hookFile(gtBinary: "/bin/gt"))
        #expect(try gemini.install(in: worktree.path) == false)
        #expect(worktree.read(".gemini/settings.json") == "{\"project\": true}")

        var escaping = RuntimePreset.builtIns["claude"]!
        escaping.hooks?.directory = "../../etc"
        #expect(throws: PresetError.self) { try escaping.hookFile(gtBinary: "/bin/gt") }
    }

    private func events(of json: String) throws -> Set<String> {
        let rendered = HookTemplates.render(json, gtBinary: "gt", json: true)
        let object = try JSONSerialization.jsonObject(with: Data(rendered.utf8)) as? [String: Any]
        return Set((object?["hooks"] as? [String: Any])?.keys.map { $0 } ?? [])
    }
}

/// The `exec` runtime for real, in both drivers: the script runs in the worktree with the hook in its
/// environment and `gt` on its PATH.
@Suite struct ExecRuntimeTests {
    static let agentScript = """
        printf '%s|%s|%s|%s|%s|%s\\n' "$GT_TOWN" "$GT_RIG" "$GT_POLECAT" "$GT_BEAD" "$GT_BEAD_TITLE" \\
            "$BEADS_DIR" > env.txt
        pwd > pwd.txt
        gt done --from-agent
        """

    func run(_ driver: any SessionDriver, town: TempDir) async throws {
        let bin = town.join("bin")
        try town.write("bin/gt", "#!/bin/sh\necho \"gt $*\" > \"$PWD/gt-called.txt\"\n")
        chmod(bin + "/gt", 0o755)
        let worktree = try makeWorktree(town)
        try town.write("gastown/polecats/nux/agent.sh", Self.agentScript)
        let context = AgentContext(
            townRoot: town.path, rig: "gastown", polecat: "nux", bead: "gt-abc", beadTitle: "Fix it's \"quoted\"",
            gtBinDirectory: bin)
        let name = sessionName(town, epoch: 3)
        let launch = try RuntimeRegistry().resolve("exec:'sh ./agent.sh'").launch(context: context, session: name)
        _ = try await driver.start(SessionSpec(name: name, worktree: worktree, launch: launch))
        #expect(try await driver.waitForExit(name, timeout: .seconds(20)) == .exited(status: 0))
        #expect(
            town.read("gastown/polecats/nux/env.txt")
                == "\(town.path)|gastown|nux|gt-abc|Fix it's \"quoted\"|\(town.path)/.beads\n")
        #expect(town.read("gastown/polecats/nux/pwd.txt") == worktree + "\n")
        #expect(town.read("gastown/polecats/nux/gt-called.txt") == "gt done --from-agent\n")
    }

    @Test func execRuntimeInTmux() async throws {
        try await withTmuxTown { driver, town in try await run(driver, town: town) }
    }

    @Test func execRuntimeAsAPlainProcess() async throws {
        try await withProcessTown { driver, town in try await run(driver, town: town) }
    }
}

@Suite struct SessionBenchmarkTests {
    @Test(arguments: [SessionDriverKind.tmux, .process])
    func startLatencyBenchmarkRunsAndCleansUp(kind: SessionDriverKind) async throws {
        let result = try await SessionBenchmarks.startLatency(kind: kind, sessions: 2)
        #expect(result.millisecondsToOutput.count == 2)
        #expect(result.description.contains(kind.rawValue))
    }
}

/// A runtime that takes its prompt by typing (like codex), for real in tmux and as a process.
@Suite struct TypedPromptTests {
    func run(_ driver: any SessionDriver, town: TempDir) async throws {
        let worktree = try makeWorktree(town)
        try town.write(
            "gastown/polecats/nux/fake-agent.sh",
            "printf '› '; read prompt; echo \"$prompt\" > prompt.txt; sleep 30\n")
        var preset = RuntimePreset(name: "fake", command: "sh")
        preset.args = ["./fake-agent.sh"]
        preset.promptMode = .none
        preset.readyPromptPrefix = "› "
        preset.readyDelayMs = 10_000
        var registry = RuntimeRegistry()
        let json =
            #"{"agents": {"fake": {"command": "sh", "args": ["./fake-agent.sh"], "#
            + #""prompt_mode": "none", "ready_prompt_prefix": "› "}}}"#
        try registry.mergeAgentRegistry(Data(json.utf8), file: "agents.json")
        #expect(registry.preset(named: "fake")?.readiness == preset.readiness.withDelay(.zero))
        let context = AgentContext(townRoot: town.path, rig: "gastown", polecat: "nux", gtBinDirectory: town.path)
        let name = sessionName(town)
        let launch = try Runtime.preset(preset).launch(
            context: context, session: name, prompt: "[GAS TOWN] nux <- mayor")
        #expect(launch.command == "sh ./fake-agent.sh")
        let (_, delivered) = try await driver.start(launch, name: name, worktree: worktree, readyTimeout: .seconds(10))
        #expect(delivered)
        #expect(await eventually { town.read("gastown/polecats/nux/prompt.txt") == "[GAS TOWN] nux <- mayor\n" })
    }

    @Test func typedPromptInTmux() async throws {
        try await withTmuxTown { driver, town in try await run(driver, town: town) }
    }

    @Test func typedPromptToAProcess() async throws {
        try await withProcessTown { driver, town in try await run(driver, town: town) }
    }
}

extension RuntimeReadiness {
    func withDelay(_ delay: Duration) -> RuntimeReadiness { RuntimeReadiness(promptPrefix: promptPrefix, delay: delay) }
}
