import CShims
import Foundation

/// What the process driver keeps on disk about one session, at `<town>/.gt/sessions/<session>.json`, so a
/// restarted node can find its sessions again (same pid, start time and boot = still ours) or reap them.
/// `Sendable`: plain values.
public struct ProcessRecord: Codable, Sendable, Equatable {
    /// Format version; 1.
    public var version: Int
    /// The rendered session name.
    public var session: String
    /// The child's pid, start time and boot.
    public var process: ProcessIdentity
    /// The command line it runs.
    public var command: String
    /// Its working directory.
    public var workingDirectory: String
    /// Where its stdout and stderr go.
    public var logPath: String
    /// When it was started (ISO 8601), for people reading the file.
    public var startedAt: String
}

/// Agent sessions as plain child processes, for hosts without tmux.
///
/// Each session is `/bin/sh -c <command>` (started with `posix_spawn`, reaped on a dedicated thread) in its
/// own process group, stdout and stderr appended to the log file, stdin a named pipe
/// (`<town>/.gt/sessions/<session>.stdin`, which `sendText` writes to, as tmux types), recorded with pid and
/// start time in a `ProcessRecord`. It is not killed when the node exits. A new driver instance
/// (a restarted node) sees every recorded session that still runs; a record whose pid now belongs to
/// another process (different start time or boot) is not ours and is treated as ended. Killing signals the
/// whole process group, SIGTERM then SIGKILL after `settings.killGrace`. Exit statuses come from the
/// session's wrapper (`<session>.exit`), or from the kernel for this instance's own children.
/// There is no terminal: a nudge is a line written to the stdin pipe. `Sendable`: an actor.
public actor ProcessDriver: SessionDriver {
    public nonisolated var kind: SessionDriverKind { .process }
    public nonisolated let town: TownID
    /// Where records and exit statuses live.
    public nonisolated let state: SessionStateDirectory
    /// Intervals and limits.
    public nonisolated let settings: SessionSettings
    /// Exit outcomes of children started by this instance, by rendered name.
    private let children = ChildExits()

    /// A driver for the town rooted at `townRoot`.
    public init(townRoot: String, settings: SessionSettings = SessionSettings()) {
        self.town = TownID(townRoot: townRoot)
        self.state = SessionStateDirectory(townRoot: townRoot)
        self.settings = settings
    }

    public func start(_ spec: SessionSpec) async throws(SessionError) -> StartedSession {
        try spec.validate()
        guard spec.name.town == town else {
            throw .invalidSpec("session \(spec.name) belongs to town \(spec.name.town), not \(town)")
        }
        try state.create()
        if try record(spec.name)?.process.isAlive == true { throw .sessionExists(spec.name.rendered) }
        let logPath = spec.logPath ?? state.path + "/" + spec.name.rendered + ".log"
        let log = try ProcessDriver.prepareLog(logPath)
        state.removeExitStatus(spec.name)

        let rendered = spec.name.rendered
        let exits = children
        // The child holds the pipe open for reading and writing, so its reads block until a nudge arrives
        // (as on a terminal) instead of seeing end of file, and the pipe outlives a node restart.
        let stdinPath = state.stdinPath(spec.name)
        unlink(stdinPath)
        guard mkfifo(stdinPath, 0o600) == 0 else {
            throw .launchFailed(
                command: spec.command, reason: "cannot create \(stdinPath): \(String(cString: strerror(errno)))")
        }
        let input = gtshim_open(stdinPath, O_RDWR | O_CLOEXEC | O_NONBLOCK, 0)
        guard input >= 0 else {
            throw .launchFailed(
                command: spec.command, reason: "cannot open \(stdinPath): \(String(cString: strerror(errno)))")
        }
        defer { close(input) }
        ShellQuote.clearNonBlocking(input)
        let shellLine =
            "cd -- \(ShellQuote.quote(spec.workingDirectory)) || exit 126; "
            + spec.wrappedCommand(exitStatusPath: state.exitStatusPath(spec.name))
        exits.set(rendered, nil)
        let pid: pid_t
        do {
            pid = try Spawn.start(
                "/bin/sh", ["-c", shellLine],
                environment: ProcessInfo.processInfo.environment.merging(spec.environment) { $1 },
                stdin: input, stdout: log.fileDescriptor, stderr: log.fileDescriptor, newProcessGroup: true)
        } catch {
            try? log.close()
            exits.remove(rendered)
            throw error
        }
        try? log.close()
        Spawn.reap(pid) { termination in
            exits.set(
                rendered,
                termination.signaled ? .signaled(signal: termination.status) : .exited(status: termination.status))
        }
        // If it already ended, its start time is unknown: record 0, which never matches a live process.
        let identity =
            ProcessIdentity.current(pid: pid) ?? ProcessIdentity(pid: pid, startTime: 0, bootID: ProcessIdentity.bootID)
        let record = ProcessRecord(
            version: 1, session: rendered, process: identity, command: spec.command,
            workingDirectory: spec.workingDirectory, logPath: logPath,
            startedAt: ISO8601DateFormatter().string(from: Date()))
        try write(record, to: state.recordPath(spec.name))
        return StartedSession(name: spec.name, pid: pid, startTime: identity.startTime == 0 ? nil : identity.startTime)
    }

    /// The town's running sessions. A record that cannot be read is skipped here (one bad file must not hide
    /// every other session); `records()` and `isAlive` report it.
    public func list() async throws(SessionError) -> [SessionName] {
        recordNames().filter { (try? record($0))??.process.isAlive == true }
    }

    /// Every record of this town, alive or not (for a restarted node deciding what to adopt or reap).
    /// Throws `.recordFailed` for the first record that cannot be read.
    public func records() throws(SessionError) -> [(name: SessionName, record: ProcessRecord)] {
        var found: [(SessionName, ProcessRecord)] = []
        for name in recordNames() {
            if let record = try record(name) { found.append((name, record)) }
        }
        return found
    }

    /// Names of the town's record files.
    private func recordNames() -> [SessionName] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: state.path)) ?? []
        return files.sorted().filter { $0.hasSuffix(".json") }.compactMap { SessionName.parse(String($0.dropLast(5))) }
            .filter { $0.town == town }
    }

    /// The record of `name`, or nil if there is none. Throws `.recordFailed` for a file that is not a record.
    public func record(_ name: SessionName) throws(SessionError) -> ProcessRecord? {
        let path = state.recordPath(name)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do {
            let record = try JSONDecoder().decode(ProcessRecord.self, from: data)
            guard record.session == name.rendered else {
                throw SessionError.recordFailed(path: path, reason: "it names session \(record.session)")
            }
            return record
        } catch let error as SessionError {
            throw error
        } catch {
            throw .recordFailed(path: path, reason: "not a process record (\(error))")
        }
    }

    public func isAlive(_ name: SessionName) async throws(SessionError) -> Bool {
        guard name.town == town else { return false }
        return try record(name)?.process.isAlive == true
    }

    public func processID(of name: SessionName) async throws(SessionError) -> Int32? {
        guard name.town == town, let record = try record(name), record.process.isAlive else { return nil }
        return record.process.pid
    }

    /// The last `settings.logTailBytes` of the session's log, while it runs.
    public func capture(_ name: SessionName) async throws(SessionError) -> SessionCapture? {
        guard name.town == town, let record = try record(name), record.process.isAlive else { return nil }
        guard let handle = FileHandle(forReadingAtPath: record.logPath) else { return SessionCapture(text: "") }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > UInt64(settings.logTailBytes) ? size - UInt64(settings.logTailBytes) : 0)
        let data = (try? handle.readToEnd()) ?? Data()
        return SessionCapture(text: String(decoding: data, as: UTF8.self))
    }

    /// Writes `text` and a newline to the session's stdin pipe (a nudge). Throws `.noSuchSession` when the
    /// session is not running, `.unsupported` for text with a newline in it (it would be two lines).
    public func sendText(_ text: String, to name: SessionName) async throws(SessionError) {
        guard try await isAlive(name) else { throw .noSuchSession(name.rendered) }
        guard !text.contains(where: \.isNewline) else {
            throw .unsupported("a nudge to \(name) must be one line; send several nudges, or mail")
        }
        let path = state.stdinPath(name)
        let line = Array((text + "\n").utf8)
        let written: Int32 = await withCheckedContinuation { continuation in
            // A full pipe blocks the writer: write on a dedicated thread, never on the pool.
            let thread = Thread {
                let descriptor = gtshim_open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK, 0)
                guard descriptor >= 0 else { return continuation.resume(returning: gtshim_errno()) }
                defer { close(descriptor) }
                ShellQuote.clearNonBlocking(descriptor)
                var offset = 0
                while offset < line.count {
                    let count = line[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
                    if count < 0 {
                        if gtshim_errno() == EINTR { continue }
                        return continuation.resume(returning: gtshim_errno())
                    }
                    offset += count
                }
                continuation.resume(returning: 0)
            }
            thread.name = "gt-nudge"
            thread.start()
        }
        guard written == 0 else {
            if written == ENXIO || written == ENOENT { throw .noSuchSession(name.rendered) }
            throw .launchFailed(command: "nudge \(name)", reason: String(cString: strerror(written)))
        }
    }

    /// SIGTERM to the session's process group, SIGKILL after `settings.killGrace` if any of it still runs.
    /// The record stays (for `waitForExit`) until `forget`. Returns false if the session was not running.
    public func kill(_ name: SessionName) async throws(SessionError) -> Bool {
        guard name.town == town, let record = try record(name), record.process.isAlive else { return false }
        await ProcessDriver.endGroup(record.process, settings: settings, firstSignal: SIGTERM)
        return true
    }

    /// Ends the process group `leader` leads: `firstSignal` (if any), up to `settings.killGrace` for it to
    /// go, then SIGKILL to whatever is left, and up to another grace period for that to take effect.
    nonisolated static func endGroup(_ leader: ProcessIdentity, settings: SessionSettings, firstSignal: Int32?) async {
        if let firstSignal { leader.signalGroup(firstSignal) }
        let deadline = ContinuousClock.now + settings.killGrace
        while leader.groupExists, ContinuousClock.now < deadline {
            try? await Task.sleep(for: settings.pollInterval)
        }
        guard leader.signalGroup(SIGKILL) else { return }
        while leader.groupExists, ContinuousClock.now < deadline + settings.killGrace {
            try? await Task.sleep(for: settings.pollInterval)
        }
    }

    public func waitForExit(_ name: SessionName, timeout: Duration) async throws(SessionError) -> SessionExit {
        let deadline = ContinuousClock.now + timeout
        while try await isAlive(name) {
            if ContinuousClock.now >= deadline { return .stillRunning }
            try? await Task.sleep(for: settings.pollInterval)
        }
        if let status = state.exitStatus(name) { return .exited(status: status) }
        // Our own child: the kernel's word, once Foundation has reaped it.
        while case .some(.none) = children.get(name.rendered), ContinuousClock.now < deadline {
            try? await Task.sleep(for: settings.pollInterval)
        }
        return children.get(name.rendered).flatMap { $0 } ?? .ended
    }

    public func forget(_ name: SessionName) async throws(SessionError) -> Bool {
        if try await isAlive(name) { return false }
        unlink(state.recordPath(name))
        unlink(state.stdinPath(name))
        state.removeExitStatus(name)
        children.remove(name.rendered)
        return true
    }

    /// Kills the session if it still runs and forgets it: what a restarted node does with a session it
    /// will not adopt. Returns whether it was running.
    public func reap(_ name: SessionName) async throws(SessionError) -> Bool {
        let wasRunning = try await kill(name)
        _ = try await forget(name)
        return wasRunning
    }

    /// Creates the log's directory and opens it for appending.
    nonisolated static func prepareLog(_ path: String) throws(SessionError) -> FileHandle {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .invalidSpec("cannot create log directory \(directory): \(error.localizedDescription)")
        }
        let descriptor = gtshim_open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw .invalidSpec("cannot open log file \(path): \(String(cString: strerror(gtshim_errno())))")
        }
        return FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }

    private func write(_ record: ProcessRecord, to path: String) throws(SessionError) {
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try FileReplace.write(try encoder.encode(record), to: path)
        } catch {
            throw .recordFailed(path: path, reason: "cannot write it: \(error.localizedDescription)")
        }
    }
}

/// Exit outcomes of the children one `ProcessDriver` started, set by their reaper threads. A key mapped to
/// nil means "started, not yet ended". `@unchecked Sendable`: the
/// dictionary is only touched under `lock`.
private final class ChildExits: @unchecked Sendable {
    private let lock = NSLock()
    private var outcomes: [String: SessionExit?] = [:]

    func set(_ name: String, _ outcome: SessionExit?) { lock.withLock { outcomes[name] = .some(outcome) } }
    func get(_ name: String) -> SessionExit?? { lock.withLock { outcomes[name] } }
    func remove(_ name: String) { _ = lock.withLock { outcomes.removeValue(forKey: name) } }
}
