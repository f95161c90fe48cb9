import Foundation

/// Agent sessions in tmux, on a private tmux server per town (`tmux -L gt-<town-id>`), so two towns on one
/// host, and tests, never touch each other's sessions or the user's own tmux.
///
/// Every tmux call is a child process run off the cooperative pool with a timeout
/// (`SessionSettings.commandTimeout`). Targets are always exact (`=name`): tmux would otherwise match a
/// session name by prefix, and an action for epoch 1 could hit epoch 12. `Sendable`: immutable values.
public struct TmuxDriver: SessionDriver {
    public var kind: SessionDriverKind { .tmux }
    public let town: TownID
    /// The tmux socket name (`-L`): `settings.tmuxSocketName`, else `gt-<town-id>`.
    public let socketName: String
    /// The tmux binary.
    public let tmuxPath: String
    /// Where exit statuses are written.
    public let state: SessionStateDirectory
    /// Intervals and limits.
    public let settings: SessionSettings

    /// A driver for the town rooted at `townRoot`, using the tmux binary at `tmuxPath`.
    public init(townRoot: String, tmuxPath: String, settings: SessionSettings = SessionSettings()) {
        let town = TownID(townRoot: townRoot)
        self.town = town
        self.socketName = settings.tmuxSocketName ?? "gt-\(town.rawValue)"
        self.tmuxPath = tmuxPath
        self.state = SessionStateDirectory(townRoot: townRoot)
        self.settings = settings
    }

    /// The tmux version as (major, minor), e.g. (3, 3) for "tmux 3.3a"; nil if it cannot be read.
    public static func version(tmuxPath: String, timeout: Duration = .seconds(5)) async -> (Int, Int)? {
        guard let result = try? await ChildCommand.run(tmuxPath, ["-V"], environment: [:], timeout: timeout),
            result.status == 0
        else { return nil }
        let text = result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let versionWord = text.split(separator: " ").last else { return nil }
        let numbers = versionWord.split(separator: ".").map { Int($0.prefix(while: \.isNumber)) }
        guard numbers.count >= 2, let major = numbers[0], let minor = numbers[1] else { return nil }
        return (major, minor)
    }

    public func start(_ spec: SessionSpec) async throws(SessionError) -> StartedSession {
        try spec.validate()
        try state.create()
        if let logPath = spec.logPath {
            let handle = try ProcessDriver.prepareLog(logPath)
            try? handle.close()
        }
        state.removeExitStatus(spec.name)
        var arguments = [
            "new-session", "-d", "-s", spec.name.rendered, "-c", spec.workingDirectory,
            "-x", String(settings.paneColumns), "-y", String(settings.paneRows), "-P", "-F", "#{pane_pid}",
        ]
        for (key, value) in spec.environment.sorted(by: { $0.key < $1.key }) {
            arguments += ["-e", "\(key)=\(value)"]
        }
        arguments += ["--", "/bin/sh", "-c", spec.wrappedCommand(exitStatusPath: state.exitStatusPath(spec.name))]
        // tmux gives a new pane the PATH of the client that asked for it, whatever `-e PATH=` says.
        let result = try await tmux(arguments, clientPath: spec.environment["PATH"])
        guard result.status == 0 else {
            if result.stderrText.contains("duplicate session") { throw .sessionExists(spec.name.rendered) }
            throw failure(arguments, result)
        }
        guard let pid = Int32(result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw .tmuxFailed(command: "new-session", status: 0, stderr: "no pane pid in '\(result.stdoutText)'")
        }
        if let logPath = spec.logPath {
            let pipe = try await tmux([
                "pipe-pane", "-o", "-t", target(spec.name), "cat >> \(ShellQuote.quote(logPath))",
            ])
            if pipe.status != 0, try await isAlive(spec.name) {
                throw failure(["pipe-pane"], pipe)
            }
        }
        return StartedSession(name: spec.name, pid: pid, startTime: ProcessStat.read(pid: pid)?.startTime)
    }

    public func list() async throws(SessionError) -> [SessionName] {
        let result = try await tmux(["list-sessions", "-F", "#{session_name}"])
        guard result.status == 0 else {
            if serverAbsent(result) { return [] }
            throw failure(["list-sessions"], result)
        }
        return result.stdoutText.split(separator: "\n").compactMap { SessionName.parse(String($0)) }
            .filter { $0.town == town }
    }

    public func isAlive(_ name: SessionName) async throws(SessionError) -> Bool {
        guard name.town == town else { return false }
        return try await tmux(["has-session", "-t", "=" + name.rendered]).status == 0
    }

    public func processID(of name: SessionName) async throws(SessionError) -> Int32? {
        guard name.town == town else { return nil }
        guard let text = try await paneFormat(name, "#{pane_pid}") else { return nil }
        return Int32(text)
    }

    /// The name of the pane's foreground command (`#{pane_current_command}`, e.g. `node` while claude runs,
    /// `sh` once it has returned to a shell), to compare with a preset's `processNames`; nil if no session.
    public func foregroundCommand(of name: SessionName) async throws(SessionError) -> String? {
        guard name.town == town else { return nil }
        return try await paneFormat(name, "#{pane_current_command}")
    }

    /// `format` expanded for the session's first pane; nil if there is no such session. (`list-panes`, not
    /// `display-message`: the latter exits 0 with empty output for a missing target.)
    private func paneFormat(_ name: SessionName, _ format: String) async throws(SessionError) -> String? {
        let result = try await tmux(["list-panes", "-t", target(name), "-F", format])
        guard result.status == 0,
            let first = result.stdoutText.split(separator: "\n").first.map(String.init)
        else { return nil }
        return first.trimmingCharacters(in: .whitespaces)
    }

    /// The visible pane (wrapped lines joined), trailing blank lines removed.
    public func capture(_ name: SessionName) async throws(SessionError) -> SessionCapture? {
        try await capture(name, scrollback: 0)
    }

    /// The visible pane plus up to `scrollback` lines of history above it (for loop detection).
    public func capture(_ name: SessionName, scrollback: Int) async throws(SessionError) -> SessionCapture? {
        guard name.town == town else { return nil }
        let result = try await tmux(["capture-pane", "-p", "-J", "-S", String(-max(0, scrollback)), "-t", target(name)])
        guard result.status == 0 else { return nil }
        var lines = result.stdoutText.split(separator: "\n", omittingEmptySubsequences: false).map {
            String($0.reversed().drop(while: { $0 == " " }).reversed())
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        return SessionCapture(text: lines.joined(separator: "\n"))
    }

    /// Types `text` literally (`send-keys -l`), waits `settings.enterDelay`, then presses Enter.
    public func sendText(_ text: String, to name: SessionName) async throws(SessionError) {
        guard name.town == town else { throw .noSuchSession(name.rendered) }
        if !text.isEmpty {
            let typed = try await tmux(["send-keys", "-t", target(name), "-l", "--", text])
            guard typed.status == 0 else { throw try await sendFailure(name, typed) }
            try? await Task.sleep(for: settings.enterDelay)
        }
        let entered = try await tmux(["send-keys", "-t", target(name), "Enter"])
        guard entered.status == 0 else { throw try await sendFailure(name, entered) }
    }

    /// Sends tmux key names (`Enter`, `Down`, `Escape`, `2`, …) to the session, one `send-keys` each, pausing
    /// `settings.enterDelay` between them (a dialog's answer). Throws `.noSuchSession` for a name whose epoch is not
    /// the running one.
    public func sendKeys(_ keys: [String], to name: SessionName) async throws(SessionError) {
        guard name.town == town else { throw .noSuchSession(name.rendered) }
        for (index, key) in keys.enumerated() {
            if index > 0 { try? await Task.sleep(for: settings.enterDelay) }
            let sent = try await tmux(["send-keys", "-t", target(name), key])
            guard sent.status == 0 else { throw try await sendFailure(name, sent) }
        }
    }

    /// `kill-session` (tmux sends SIGHUP to the pane's processes), then SIGKILL to the pane's process group
    /// if any of it still runs after `settings.killGrace`, so an agent that ignores SIGHUP is not left behind.
    public func kill(_ name: SessionName) async throws(SessionError) -> Bool {
        guard name.town == town else { return false }
        let pane = try await processID(of: name).flatMap { ProcessIdentity.current(pid: $0) }
        let result = try await tmux(["kill-session", "-t", "=" + name.rendered])
        guard result.status == 0 else {
            if serverAbsent(result) || result.stderrText.contains("can't find session") { return false }
            throw failure(["kill-session"], result)
        }
        if let pane { await ProcessDriver.endGroup(pane, settings: settings, firstSignal: nil) }
        return true
    }

    public func waitForExit(_ name: SessionName, timeout: Duration) async throws(SessionError) -> SessionExit {
        let deadline = ContinuousClock.now + timeout
        while try await isAlive(name) {
            if ContinuousClock.now >= deadline { return .stillRunning }
            try? await Task.sleep(for: settings.pollInterval)
        }
        return state.exitStatus(name).map { .exited(status: $0) } ?? .ended
    }

    public func forget(_ name: SessionName) async throws(SessionError) -> Bool {
        if try await isAlive(name) { return false }
        state.removeExitStatus(name)
        return true
    }

    /// Waits until the pane's text satisfies `ready` (checked every `settings.pollInterval`). Returns false
    /// when `timeout` passes or the session ends first.
    public func waitForOutput(
        _ name: SessionName, timeout: Duration, until ready: (String) -> Bool
    ) async throws(SessionError) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            guard let capture = try await capture(name) else { return false }
            if ready(capture.text) { return true }
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: settings.pollInterval)
        }
    }

    /// Waits until the runtime is ready for input: a pane line starting with `readiness.promptPrefix`, or,
    /// when the preset has no prefix, `readiness.delay` after the call while the session lives.
    public func waitForReady(
        _ name: SessionName, readiness: RuntimeReadiness, timeout: Duration
    ) async throws(SessionError) -> Bool {
        guard let prefix = readiness.promptPrefix, !prefix.isEmpty else {
            try? await Task.sleep(for: min(readiness.delay, timeout))
            return try await isAlive(name)
        }
        let trimmedPrefix = prefix.trimmingCharacters(in: .whitespaces)
        return try await waitForOutput(name, timeout: timeout) { text in
            text.split(separator: "\n").contains {
                $0.trimmingCharacters(in: .whitespaces).hasPrefix(trimmedPrefix)
            }
        }
    }

    /// Stops this town's whole tmux server (every session of the town). For `gt down --all` and tests.
    public func killServer() async throws(SessionError) {
        let result = try await tmux(["kill-server"])
        if result.status != 0, !serverAbsent(result) { throw failure(["kill-server"], result) }
        unlink(socketPath)
    }

    /// Where tmux puts this server's socket: `$TMUX_TMPDIR` (or /tmp) `/tmux-<uid>/<socket name>`.
    public var socketPath: String {
        let base = ProcessInfo.processInfo.environment["TMUX_TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        return "\(base)/tmux-\(getuid())/\(socketName)"
    }

    // MARK: - Running tmux

    private func target(_ name: SessionName) -> String { "=" + name.rendered + ":" }

    private func tmux(_ arguments: [String], clientPath: String? = nil) async throws(SessionError)
        -> ChildCommandResult
    {
        var environment = ProcessInfo.processInfo.environment
        environment["TMUX"] = nil
        environment["TMUX_PANE"] = nil
        if let clientPath { environment["PATH"] = clientPath }
        return try await ChildCommand.run(
            tmuxPath, ["-L", socketName, "-f", settings.tmuxConfigFile] + arguments, environment: environment,
            timeout: settings.commandTimeout)
    }

    private func serverAbsent(_ result: ChildCommandResult) -> Bool {
        let text = result.stderrText
        return text.contains("no server running") || text.contains("error connecting")
            || text.contains("No such file or directory")
    }

    private func failure(_ arguments: [String], _ result: ChildCommandResult) -> SessionError {
        .tmuxFailed(
            command: "tmux -L \(socketName) \(arguments.first ?? "")", status: result.status,
            stderr: result.stderrText)
    }

    private func sendFailure(_ name: SessionName, _ result: ChildCommandResult) async throws(SessionError)
        -> SessionError
    {
        if try await !isAlive(name) { return .noSuchSession(name.rendered) }
        return failure(["send-keys"], result)
    }
}

/// How to tell that a runtime is ready for typed input. `Sendable`: plain values.
public struct RuntimeReadiness: Sendable, Equatable {
    /// A prompt prefix that appears at the start of a pane line when ready (claude `❯ `), or nil.
    public var promptPrefix: String?
    /// Without a prefix: how long after start to assume it is ready.
    public var delay: Duration

    /// A readiness rule.
    public init(promptPrefix: String?, delay: Duration) {
        self.promptPrefix = promptPrefix
        self.delay = delay
    }
}
