import Foundation

/// Who a session works for and on what: the values every session gets in its environment, whatever the
/// runtime (the "hook" as environment). `Sendable`: plain values.
public struct AgentContext: Sendable, Equatable {
    /// The town root.
    public var townRoot: String
    /// The rig.
    public var rig: String
    /// The polecat's name.
    public var polecat: String
    /// The hooked bead's id, if any.
    public var bead: String?
    /// The hooked bead's title, if any.
    public var beadTitle: String?
    /// The town's ledger directory (`<town>/.beads`), so a project's own `.beads/` is never used instead.
    public var beadsDir: String
    /// The directory holding the `gt` binary, put first on `PATH`.
    public var gtBinDirectory: String
    /// The agent's role. Default `polecat`.
    public var role: String = "polecat"

    /// The agent's address, what `GT_ROLE` and `BD_ACTOR` carry (Gas Town's compound form): `<rig>/polecats/<name>`
    /// for a polecat, `<rig>/<role>` for a rig's witness or refinery, `<rig>/crew/<name>` for crew, else the role.
    public var address: String {
        switch role {
        case "polecat": "\(rig)/polecats/\(polecat)"
        case "crew": "\(rig)/crew/\(polecat)"
        case "witness", "refinery": "\(rig)/\(role)"
        default: role
        }
    }

    /// A context; `beadsDir` defaults to `<town>/.beads`.
    public init(
        townRoot: String, rig: String, polecat: String, bead: String? = nil, beadTitle: String? = nil,
        beadsDir: String? = nil, gtBinDirectory: String, role: String = "polecat"
    ) {
        self.townRoot = townRoot
        self.rig = rig
        self.polecat = polecat
        self.bead = bead
        self.beadTitle = beadTitle
        self.beadsDir = beadsDir ?? townRoot + "/.beads"
        self.gtBinDirectory = gtBinDirectory
        self.role = role
    }

    /// The `gt` binary's path.
    public var gtBinary: String { gtBinDirectory + "/gt" }

    /// The session environment: `GT_TOWN`, `GT_ROOT`, `GT_RIG`, `GT_POLECAT`, `GT_ROLE` (the agent's full address,
    /// `<rig>/polecats/<name>`, as Gas Town sets it), `GT_BEAD`, `GT_BEAD_TITLE`, `BEADS_DIR`, `BD_ACTOR` (the
    /// address too), `GT_SESSION`, and `PATH` with `gtBinDirectory` first (`basePath` is the rest of `PATH`, the
    /// node's by default).
    public func environment(session: SessionName, basePath: String? = nil) -> [String: String] {
        let path = basePath ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        var environment = [
            "GT_TOWN": townRoot, "GT_ROOT": townRoot, "GT_RIG": rig, "GT_POLECAT": polecat, "GT_ROLE": address,
            "BEADS_DIR": beadsDir, "BD_ACTOR": address, "GT_SESSION": session.rendered,
            "PATH": path.isEmpty ? gtBinDirectory : gtBinDirectory + ":" + path,
        ]
        if let bead { environment["GT_BEAD"] = bead }
        if let beadTitle { environment["GT_BEAD_TITLE"] = beadTitle }
        return environment
    }
}

/// How to start one agent: the command line, its environment, and what to type once it is ready.
/// `Sendable`: plain values.
public struct AgentLaunch: Sendable, Equatable {
    /// The shell command line.
    public var command: String
    /// The session's environment (runtime env, then the context's).
    public var environment: [String: String]
    /// With `PromptMode.none`: the prompt to type (send-keys) once `readiness` says the agent is ready.
    public var promptAfterReady: String?
    /// How to tell the agent is ready.
    public var readiness: RuntimeReadiness
    /// Hook settings file to install in the worktree before starting, if any.
    public var hookFile: HookFile?
    /// The context file the agent reads (`CLAUDE.md`, …), nil for `exec`.
    public var contextFile: String?
}

extension Runtime {
    /// How to start this runtime for `context` in session `session`.
    /// - `prompt`: the first prompt (the startup beacon); on the command line for `PromptMode.arg`, typed in
    ///   after ready for `.none`; ignored by `exec` (the bead is in `GT_BEAD`).
    /// - `resumeSessionID`: the runtime's own session to resume, when it supports resuming.
    public func launch(
        context: AgentContext, session: SessionName, prompt: String? = nil, resumeSessionID: String? = nil
    ) throws(PresetError) -> AgentLaunch {
        let contextEnvironment = context.environment(session: session)
        switch self {
        case .exec(let command):
            return AgentLaunch(
                command: command, environment: contextEnvironment, promptAfterReady: nil,
                readiness: RuntimeReadiness(promptPrefix: nil, delay: .zero), hookFile: nil, contextFile: nil)
        case .preset(let preset):
            var words = [preset.command]
            if let resumeSessionID, let flag = preset.resumeFlag {
                let flagWords = flag.split(separator: " ").map(String.init)
                if preset.resumeStyle == .subcommand {
                    words += flagWords + [resumeSessionID] + preset.args
                } else {
                    words += preset.args + flagWords + [resumeSessionID]
                }
            } else {
                words += preset.args
            }
            var typed: String?
            if let prompt, !prompt.isEmpty {
                switch preset.promptMode {
                case .arg: words += (preset.promptFlag.map { [$0] } ?? []) + [prompt]
                case .none: typed = prompt
                }
            }
            var environment = preset.env.mapValues { value -> String in
                guard value.hasPrefix("$"), ShellQuote.isEnvironmentName(String(value.dropFirst())) else {
                    return value
                }
                return ProcessInfo.processInfo.environment[String(value.dropFirst())] ?? ""
            }
            environment.merge(contextEnvironment) { $1 }
            environment["GT_AGENT"] = preset.name
            return AgentLaunch(
                command: ShellQuote.join(words), environment: environment, promptAfterReady: typed,
                readiness: preset.readiness, hookFile: try preset.hookFile(gtBinary: context.gtBinary),
                contextFile: preset.instructionsFile)
        }
    }
}

extension SessionSpec {
    /// The spec that runs `launch` in `worktree` as session `name`, logging to `logPath`.
    public init(name: SessionName, worktree: String, launch: AgentLaunch, logPath: String? = nil) {
        self.init(
            name: name, workingDirectory: worktree, environment: launch.environment, command: launch.command,
            logPath: logPath)
    }
}

extension SessionDriver {
    /// Starts `launch` as session `name` in `worktree`: installs its hook file, starts it, and, when the
    /// runtime takes its first prompt by typing (`PromptMode.none`), waits until it is ready (tmux: its ready
    /// prompt or delay; a process session: at once, the prompt goes into its stdin pipe) and types it.
    /// Returns the started session and whether the typed prompt was delivered (true when none was needed).
    public func start(
        _ launch: AgentLaunch, name: SessionName, worktree: String, logPath: String? = nil, readyTimeout: Duration
    ) async throws(SessionError) -> (session: StartedSession, promptDelivered: Bool) {
        try launch.hookFile?.install(in: worktree)
        let session = try await start(SessionSpec(name: name, worktree: worktree, launch: launch, logPath: logPath))
        guard let prompt = launch.promptAfterReady else { return (session, true) }
        if let tmux = self as? TmuxDriver {
            guard try await tmux.waitForReady(name, readiness: launch.readiness, timeout: readyTimeout) else {
                return (session, false)
            }
        }
        try await sendText(prompt, to: name)
        return (session, true)
    }
}
