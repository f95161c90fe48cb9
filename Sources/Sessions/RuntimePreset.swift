/// How an agent runtime (claude, codex, gemini, …) is started and recognised: Gas Town's agent preset,
/// field for field, so users' `settings/agents.json` files keep working.
///
/// Built-in presets are `RuntimePreset.builtIns`; users extend or override them in JSON (see
/// `RuntimeRegistry`). `Sendable`: plain values.
public struct RuntimePreset: Sendable, Equatable {
    /// The preset's name (`claude`, or a custom agent's name).
    public var name: String
    /// The program to run.
    public var command: String
    /// Arguments for autonomous mode (`--dangerously-skip-permissions`, …).
    public var args: [String] = []
    /// Extra environment. A value of the form `$NAME` is taken from the node's environment at launch.
    public var env: [String: String] = [:]
    /// Process names that mean the runtime is running (liveness checks).
    public var processNames: [String] = []
    /// Variable holding the runtime's own session id, if it has one.
    public var sessionIDEnv: String?
    /// Flag or subcommand that resumes a session (`--resume`; codex `resume`).
    public var resumeFlag: String?
    /// Flag that continues the most recent session (`--continue`).
    public var continueFlag: String?
    /// Whether `resumeFlag` is a flag or a subcommand.
    public var resumeStyle: ResumeStyle?
    /// Whether the runtime runs lifecycle hooks (so `gt prime` runs by itself at session start).
    public var supportsHooks = false
    /// Whether it can fork a session.
    public var supportsForkSession = false
    /// How the first prompt is delivered.
    public var promptMode: PromptMode = .arg
    /// With `promptMode == .arg`: a flag put before the prompt (opencode `--prompt`), else positional.
    public var promptFlag: String?
    /// Environment variable naming its config directory (`CLAUDE_CONFIG_DIR`).
    public var configDirEnv: String?
    /// Its config directory in a worktree (`.claude`).
    public var configDir: String?
    /// Where its hook settings go, if it has hooks.
    public var hooks: HookSettings?
    /// Pane text that shows it is ready for input (`❯ ` for claude), if any.
    public var readyPromptPrefix: String?
    /// Without a prompt prefix: how long after start it is ready, in milliseconds.
    public var readyDelayMs: Int = 0
    /// The context file it reads (`CLAUDE.md`, `AGENTS.md`, `GEMINI.md`).
    public var instructionsFile = "AGENTS.md"
    /// Whether it shows a permissions warning at start that must be acknowledged.
    public var emitsPermissionWarning = false
    /// Whether a hook drains queued nudges at every turn.
    public var hasTurnBoundaryDrain = false
    /// Whether Escape cancels its running request (nudges must not send Escape).
    public var escapeCancelsRequest = false
    /// How to run it non-interactively, if it can.
    public var nonInteractive: NonInteractive?

    /// A preset with the given name and command and every other field at its default.
    public init(name: String, command: String) {
        self.name = name
        self.command = command
    }

    /// How it is recognised as ready for typed input.
    public var readiness: RuntimeReadiness {
        RuntimeReadiness(
            promptPrefix: readyPromptPrefix.flatMap { $0.isEmpty ? nil : $0 }, delay: .milliseconds(readyDelayMs))
    }

    /// How a session is resumed. `Sendable`: a plain enum.
    public enum ResumeStyle: String, Sendable, Equatable, CaseIterable {
        /// `command args… <flag> <id>`.
        case flag
        /// `command <subcommand…> <id> args…`.
        case subcommand
    }

    /// How the first prompt reaches the agent. `Sendable`: a plain enum.
    public enum PromptMode: String, Sendable, Equatable, CaseIterable {
        /// As a command-line argument.
        case arg
        /// Not on the command line: typed into the session (tmux send-keys) once it is ready.
        case none
    }

    /// Where the runtime's hook settings file is installed. `Sendable`: plain values.
    public struct HookSettings: Sendable, Equatable {
        /// Which template family (`claude`, `gemini`, `codex`, `cursor`, `copilot`, `opencode`, …).
        public var provider: String
        /// Directory relative to the worktree (`.claude`).
        public var directory: String
        /// File name in it (`settings.json`).
        public var settingsFile: String
        /// Whether the "hooks" are instructions only, so `gt prime` must be sent by nudge.
        public var informational = false

        /// Hook settings.
        public init(provider: String, directory: String, settingsFile: String, informational: Bool = false) {
            self.provider = provider
            self.directory = directory
            self.settingsFile = settingsFile
            self.informational = informational
        }

        /// `directory/settingsFile`.
        public var relativePath: String { directory.isEmpty ? settingsFile : directory + "/" + settingsFile }
    }

    /// Non-interactive invocation. `Sendable`: plain values.
    public struct NonInteractive: Sendable, Equatable {
        /// Subcommand (`exec` for codex), if any.
        public var subcommand: String?
        /// Prompt flag (`-p`), if any.
        public var promptFlag: String?
        /// Structured-output flag (`--output-format json`), if any.
        public var outputFlag: String?

        /// A non-interactive mode.
        public init(subcommand: String? = nil, promptFlag: String? = nil, outputFlag: String? = nil) {
            self.subcommand = subcommand
            self.promptFlag = promptFlag
            self.outputFlag = outputFlag
        }
    }
}

extension RuntimePreset {
    /// The built-in presets, after Gas Town's registry (internal/config/agents.go): claude, gemini, codex,
    /// cursor, auggie, amp, opencode, copilot, pi, omp, vibe, groq-compound.
    public static let builtIns: [String: RuntimePreset] = {
        var claude = RuntimePreset(name: "claude", command: "claude")
        claude.args = ["--dangerously-skip-permissions"]
        claude.processNames = ["node", "claude"]
        claude.sessionIDEnv = "CLAUDE_SESSION_ID"
        claude.resumeFlag = "--resume"
        claude.continueFlag = "--continue"
        claude.resumeStyle = .flag
        claude.supportsHooks = true
        claude.supportsForkSession = true
        claude.configDirEnv = "CLAUDE_CONFIG_DIR"
        claude.configDir = ".claude"
        claude.hooks = HookSettings(provider: "claude", directory: ".claude", settingsFile: "settings.json")
        claude.readyPromptPrefix = "❯ "
        claude.readyDelayMs = 10_000
        claude.instructionsFile = "CLAUDE.md"
        claude.emitsPermissionWarning = true
        claude.hasTurnBoundaryDrain = true
        claude.escapeCancelsRequest = true

        var gemini = RuntimePreset(name: "gemini", command: "gemini")
        gemini.args = ["--approval-mode", "yolo"]
        gemini.processNames = ["gemini"]
        gemini.sessionIDEnv = "GEMINI_SESSION_ID"
        gemini.resumeFlag = "--resume"
        gemini.resumeStyle = .flag
        gemini.supportsHooks = true
        gemini.configDir = ".gemini"
        gemini.hooks = HookSettings(provider: "gemini", directory: ".gemini", settingsFile: "settings.json")
        gemini.readyDelayMs = 5000
        gemini.instructionsFile = "GEMINI.md"
        gemini.escapeCancelsRequest = true
        gemini.nonInteractive = NonInteractive(promptFlag: "-p", outputFlag: "--output-format json")

        var codex = RuntimePreset(name: "codex", command: "codex")
        codex.args = ["--dangerously-bypass-approvals-and-sandbox"]
        codex.processNames = ["codex"]
        codex.resumeFlag = "resume"
        codex.resumeStyle = .subcommand
        codex.promptMode = .none
        codex.hooks = HookSettings(provider: "codex", directory: ".codex", settingsFile: "hooks.json")
        codex.readyPromptPrefix = "› "
        codex.readyDelayMs = 3000
        codex.nonInteractive = NonInteractive(subcommand: "exec", outputFlag: "--json")

        var cursor = RuntimePreset(name: "cursor", command: "cursor-agent")
        cursor.args = ["-f"]
        cursor.processNames = ["cursor-agent", "agent"]
        cursor.resumeFlag = "--resume"
        cursor.resumeStyle = .flag
        cursor.supportsHooks = true
        cursor.configDir = ".cursor"
        cursor.hooks = HookSettings(provider: "cursor", directory: ".cursor", settingsFile: "hooks.json")
        cursor.readyDelayMs = 5000
        cursor.nonInteractive = NonInteractive(promptFlag: "-p", outputFlag: "--output-format json")

        var auggie = RuntimePreset(name: "auggie", command: "auggie")
        auggie.args = ["--allow-indexing"]
        auggie.processNames = ["auggie"]
        auggie.resumeFlag = "--resume"
        auggie.resumeStyle = .flag

        var amp = RuntimePreset(name: "amp", command: "amp")
        amp.args = ["--dangerously-allow-all", "--no-ide"]
        amp.processNames = ["amp"]
        amp.resumeFlag = "threads continue"
        amp.resumeStyle = .subcommand

        var opencode = RuntimePreset(name: "opencode", command: "opencode")
        opencode.env = ["OPENCODE_PERMISSION": #"{"*":"allow"}"#]
        opencode.processNames = ["opencode", "node", "bun"]
        opencode.supportsHooks = true
        opencode.promptFlag = "--prompt"
        opencode.configDir = ".opencode"
        opencode.hooks = HookSettings(provider: "opencode", directory: ".opencode/plugins", settingsFile: "gastown.js")
        opencode.readyDelayMs = 8000
        opencode.nonInteractive = NonInteractive(subcommand: "run", outputFlag: "--format json")

        var copilot = RuntimePreset(name: "copilot", command: "copilot")
        copilot.args = ["--yolo"]
        copilot.processNames = ["copilot"]
        copilot.resumeFlag = "--resume"
        copilot.continueFlag = "--continue"
        copilot.resumeStyle = .flag
        copilot.supportsHooks = true
        copilot.configDirEnv = "COPILOT_HOME"
        copilot.configDir = ".copilot"
        copilot.hooks = HookSettings(provider: "copilot", directory: ".github/hooks", settingsFile: "gastown.json")
        copilot.readyDelayMs = 5000
        copilot.escapeCancelsRequest = true
        copilot.nonInteractive = NonInteractive(promptFlag: "-p")

        var pi = RuntimePreset(name: "pi", command: "pi")
        pi.args = ["-e", ".pi/extensions/gastown-hooks.js"]
        pi.processNames = ["pi", "node", "bun"]
        pi.sessionIDEnv = "PI_SESSION_ID"
        pi.supportsHooks = true
        pi.hooks = HookSettings(provider: "pi", directory: ".pi/extensions", settingsFile: "gastown-hooks.js")
        pi.readyDelayMs = 8000
        pi.nonInteractive = NonInteractive(promptFlag: "-p", outputFlag: "--no-session")

        var omp = RuntimePreset(name: "omp", command: "omp")
        omp.args = ["--hook", ".omp/hooks/gastown-hook.ts"]
        omp.processNames = ["omp", "node", "bun"]
        omp.sessionIDEnv = "OMP_SESSION_ID"
        omp.supportsHooks = true
        omp.hooks = HookSettings(provider: "omp", directory: ".omp/hooks", settingsFile: "gastown-hook.ts")
        omp.nonInteractive = NonInteractive(promptFlag: "--prompt")

        var vibe = RuntimePreset(name: "vibe", command: "vibe")
        vibe.args = ["--agent", "auto-approve"]
        vibe.processNames = ["vibe"]
        vibe.sessionIDEnv = "VIBE_SESSION_ID"
        vibe.resumeFlag = "--resume"
        vibe.continueFlag = "--continue"
        vibe.resumeStyle = .flag
        vibe.supportsHooks = true
        vibe.configDir = ".vibe"
        vibe.hooks = HookSettings(provider: "vibe", directory: ".vibe", settingsFile: "config.toml")
        vibe.readyPromptPrefix = "❯ "
        vibe.readyDelayMs = 5000
        vibe.nonInteractive = NonInteractive(promptFlag: "-p", outputFlag: "json")

        var groq = claude
        groq.name = "groq-compound"
        groq.env = [
            "ANTHROPIC_BASE_URL": "https://api.groq.com/openai/v1", "ANTHROPIC_MODEL": "compound-beta",
            "ANTHROPIC_API_KEY": "$GROQ_API_KEY",
        ]
        groq.supportsForkSession = false
        groq.emitsPermissionWarning = false

        let all = [claude, gemini, codex, cursor, auggie, amp, opencode, copilot, pi, omp, vibe, groq]
        return Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
    }()
}
