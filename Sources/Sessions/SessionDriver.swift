import Foundation

/// What to start: the session's name, where it runs, its environment and its command line.
///
/// `command` is a shell command line run by `/bin/sh -c` (tmux: as the pane's command; process driver:
/// as the child). `environment` is added to the node's own environment. `Sendable`: plain values.
public struct SessionSpec: Sendable, Equatable {
    /// The session's identity and epoch.
    public var name: SessionName
    /// The directory the command starts in (the polecat's worktree). Must exist.
    public var workingDirectory: String
    /// Variables set for the command, on top of the node's environment.
    public var environment: [String: String]
    /// The shell command line (`/bin/sh -c command`).
    public var command: String
    /// Where output is appended: the process driver's stdout and stderr; for tmux, a copy of the pane's
    /// output (`pipe-pane`) when set. Its directory is created if missing.
    public var logPath: String?

    /// A spec; see the properties.
    public init(
        name: SessionName, workingDirectory: String, environment: [String: String] = [:], command: String,
        logPath: String? = nil
    ) {
        self.name = name
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.command = command
        self.logPath = logPath
    }

    /// Checks what a driver relies on; throws `.invalidSpec` naming the field.
    public func validate() throws(SessionError) {
        if name.rig.isEmpty { throw .invalidSpec("the session's rig name is empty") }
        if name.polecat.isEmpty { throw .invalidSpec("the session's polecat name is empty") }
        if command.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw .invalidSpec("the command of \(name) is empty")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: workingDirectory, isDirectory: &isDirectory),
            isDirectory.boolValue
        else { throw .invalidSpec("working directory \(workingDirectory) of \(name) does not exist") }
        for key in environment.keys where !ShellQuote.isEnvironmentName(key) {
            throw .invalidSpec("environment variable name '\(key)' of \(name) is not a valid name")
        }
    }

    /// The command line both drivers actually run: `command` in its own `/bin/sh`, then its exit status
    /// written atomically to `exitStatusPath` (decimal and a newline).
    func wrappedCommand(exitStatusPath: String) -> String {
        let path = ShellQuote.quote(exitStatusPath)
        let temporary = ShellQuote.quote(exitStatusPath + ".tmp")
        return "/bin/sh -c \(ShellQuote.quote(command)); gt_rc=$?; "
            + "printf '%s\\n' \"$gt_rc\" > \(temporary) && mv -f \(temporary) \(path); exit \"$gt_rc\""
    }
}

/// Where a town's session state lives on disk: `<town>/.gt/sessions/`, holding `<session>.exit` (the exit
/// status written by the session's wrapper when its command ends on its own) for both drivers and
/// `<session>.json` (the process record) for the process driver. Being on disk, it survives a node restart.
/// `Sendable`: plain values.
public struct SessionStateDirectory: Sendable, Equatable {
    /// The directory.
    public let path: String

    /// The state directory of the town rooted at `townRoot`.
    public init(townRoot: String) {
        path = townRoot + "/.gt/sessions"
    }

    /// The exit-status file of `name`.
    public func exitStatusPath(_ name: SessionName) -> String { path + "/" + name.rendered + ".exit" }

    /// The stdin pipe (FIFO) of `name`'s process session.
    public func stdinPath(_ name: SessionName) -> String { path + "/" + name.rendered + ".stdin" }

    /// The process record of `name`.
    public func recordPath(_ name: SessionName) -> String { path + "/" + name.rendered + ".json" }

    /// The exit status `name`'s command recorded, if it ended on its own.
    public func exitStatus(_ name: SessionName) -> Int32? {
        guard let data = FileManager.default.contents(atPath: exitStatusPath(name)) else { return nil }
        return Int32(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Creates the directory (and parents) if missing.
    func create() throws(SessionError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw .recordFailed(path: path, reason: "cannot create the directory: \(error.localizedDescription)")
        }
    }

    /// Removes `name`'s exit-status file (and a leftover temporary one).
    func removeExitStatus(_ name: SessionName) {
        unlink(exitStatusPath(name))
        unlink(exitStatusPath(name) + ".tmp")
    }
}

/// How a session ended, as far as the driver can tell. `Sendable`: a plain enum.
public enum SessionExit: Sendable, Equatable {
    /// The command exited with this status (written by the session's wrapper, or seen by the process
    /// driver for its own children).
    case exited(status: Int32)
    /// The process driver's own child was ended by this signal.
    case signaled(signal: Int32)
    /// The session is gone and its status is unknown (killed, or not our child and no status file).
    case ended
    /// Still running when the wait gave up.
    case stillRunning
}

/// What a session shows now: the visible pane (tmux) or the tail of its log (process driver), and a hash of
/// it. The Witness compares hashes over time as evidence of progress. `Sendable`: plain values.
public struct SessionCapture: Sendable, Equatable {
    /// The captured text.
    public let text: String
    /// FNV-1a of `text`'s UTF-8 bytes, as 16 hex digits.
    public let hash: String

    /// A capture of `text`.
    public init(text: String) {
        self.text = text
        self.hash = FNV1a.hex(text.utf8)
    }
}

/// What `start` learned about the new session. `Sendable`: plain values.
public struct StartedSession: Sendable, Equatable {
    /// The session's name.
    public let name: SessionName
    /// The pid of the session's top process (tmux: the pane's process; process driver: the child).
    public let pid: Int32
    /// Its start time in clock ticks since boot (`/proc/<pid>/stat` field 22), or nil if unreadable.
    public let startTime: UInt64?
}

/// Which kind of driver. `Sendable`: a plain enum.
public enum SessionDriverKind: String, Sendable {
    /// Sessions in tmux (one private server per town).
    case tmux
    /// Plain child processes, recorded on disk.
    case process
}

/// Starts, watches, nudges and stops agent sessions of one town. Both `TmuxDriver` and `ProcessDriver`
/// implement it; `SessionDrivers.select` picks one.
///
/// Every method names the session by `SessionName` (identity and epoch); a name whose epoch is not the
/// running one finds nothing (`isAlive` false, `kill` false, `sendText` throws `.noSuchSession`). Methods
/// never block the cooperative pool: child processes and waits run on other threads or sleep.
public protocol SessionDriver: Sendable {
    /// Which driver this is.
    var kind: SessionDriverKind { get }
    /// The town whose sessions this driver sees.
    var town: TownID { get }
    /// Starts a session. Throws `.sessionExists` if a live session already has this exact name.
    func start(_ spec: SessionSpec) async throws(SessionError) -> StartedSession
    /// The names of this town's live sessions (other towns' and foreign sessions are never listed).
    func list() async throws(SessionError) -> [SessionName]
    /// Whether the session with exactly this name (and epoch) is running.
    func isAlive(_ name: SessionName) async throws(SessionError) -> Bool
    /// The pid of the session's top process, or nil if there is no such session.
    func processID(of name: SessionName) async throws(SessionError) -> Int32?
    /// What the session shows now, or nil if there is no such session.
    func capture(_ name: SessionName) async throws(SessionError) -> SessionCapture?
    /// A nudge: types `text` into the session, then Enter (tmux), or writes it and a newline to the session's
    /// stdin pipe (process driver). One line. Throws `.noSuchSession`.
    func sendText(_ text: String, to name: SessionName) async throws(SessionError)
    /// Stops the session (and its process group). Returns false if there was no such session.
    func kill(_ name: SessionName) async throws(SessionError) -> Bool
    /// Waits until the session ends or `timeout` passes.
    func waitForExit(_ name: SessionName, timeout: Duration) async throws(SessionError) -> SessionExit
    /// Removes what is kept on disk about a session that no longer runs (exit status, process record).
    /// Returns false, removing nothing, while it still runs.
    func forget(_ name: SessionName) async throws(SessionError) -> Bool
}

/// Everything that can go wrong in a session driver, each with what to do about it.
/// `Sendable`: plain values.
public enum SessionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The spec is unusable (empty command, missing directory, bad variable name).
    case invalidSpec(String)
    /// A live session already has this name.
    case sessionExists(String)
    /// No session has this exact name (wrong epoch, already ended, or another town's).
    case noSuchSession(String)
    /// A tmux command failed.
    case tmuxFailed(command: String, status: Int32, stderr: String)
    /// A child command did not finish in time and was killed.
    case timedOut(command: String, seconds: Double)
    /// A program could not be started.
    case launchFailed(command: String, reason: String)
    /// A process record on disk could not be read or written.
    case recordFailed(path: String, reason: String)
    /// The driver cannot do this.
    case unsupported(String)

    public var description: String {
        switch self {
        case .invalidSpec(let detail):
            "invalid session spec: \(detail); fix the caller's spec"
        case .sessionExists(let name):
            "session \(name) already exists; kill it first or start the next epoch"
        case .noSuchSession(let name):
            "no session named \(name) (it ended, or a newer epoch replaced it)"
        case .tmuxFailed(let command, let status, let stderr):
            "tmux failed (exit \(status)) running \(command): \(stderr.trimmingCharacters(in: .whitespacesAndNewlines))"
        case .timedOut(let command, let seconds):
            "\(command) did not finish within \(seconds) s and was killed; is the tmux server stuck?"
        case .launchFailed(let command, let reason):
            "could not start \(command): \(reason)"
        case .recordFailed(let path, let reason):
            "process record \(path): \(reason); remove the file if its process is gone"
        case .unsupported(let detail):
            detail
        }
    }
}

/// Intervals and limits of the session drivers, with their defaults. `Sendable`: plain values.
public struct SessionSettings: Sendable, Equatable {
    /// Longest a single tmux command may take before it is killed. Default 5 s.
    public var commandTimeout: Duration = .seconds(5)
    /// Pane size of new tmux sessions (columns × rows). Default 200 × 50.
    public var paneColumns: Int = 200
    /// See `paneColumns`.
    public var paneRows: Int = 50
    /// Pause between typing a nudge's text and pressing Enter, so TUIs take the paste first. Default 300 ms.
    public var enterDelay: Duration = .milliseconds(300)
    /// After SIGHUP/SIGTERM, how long a session's processes get before SIGKILL. Default 2 s.
    public var killGrace: Duration = .seconds(2)
    /// Poll interval of `waitForExit`, `waitForReady` and kill's grace wait. Default 100 ms.
    public var pollInterval: Duration = .milliseconds(100)
    /// How much of a process session's log `capture` returns (the tail). Default 16 KiB.
    public var logTailBytes: Int = 16 * 1024
    /// tmux socket name (`tmux -L`); nil derives `gt-<town-id>` from the town root. Default nil.
    public var tmuxSocketName: String?
    /// The configuration file the town's tmux server reads when it starts (`tmux -f`). Default `/dev/null`:
    /// a user's `~/.tmux.conf` (say, `remain-on-exit on` or another `default-shell`) must not change how
    /// sessions end or start.
    public var tmuxConfigFile = "/dev/null"
    /// Which driver `SessionDrivers.select` uses: nil picks tmux when usable, else processes. `.tmux` when
    /// tmux is not usable still falls back to processes. Default nil.
    public var driver: SessionDriverKind?

    /// The defaults.
    public init() {}
}

/// Quoting for `/bin/sh` command lines. A namespace; `Sendable` trivially.
public enum ShellQuote {
    /// `text` as one single-quoted shell word (`'` becomes `'\''`); plain words are left as they are.
    public static func quote(_ text: String) -> String {
        if !text.isEmpty, text.utf8.allSatisfy(isSafe) { return text }
        return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Clears `O_NONBLOCK` on `descriptor`.
    static func clearNonBlocking(_ descriptor: Int32) {
        let flags = fcntl(descriptor, F_GETFL)
        if flags >= 0 { _ = fcntl(descriptor, F_SETFL, flags & ~O_NONBLOCK) }
    }

    /// The words joined into one command line, each quoted.
    public static func join(_ words: [String]) -> String { words.map(quote).joined(separator: " ") }

    /// Whether `name` is a POSIX environment variable name (`[A-Za-z_][A-Za-z0-9_]*`).
    public static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(0x30...0x39).contains(first) else { return false }
        return name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || isAlphanumeric($0) }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5a).contains(byte) || (0x61...0x7a).contains(byte)
    }

    private static func isSafe(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || "-_./=:,+@%".utf8.contains(byte)
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}
