import Foundation

/// How a `LoggedCommand` ended. `Sendable`: plain values.
public struct LoggedCommandOutcome: Sendable, Equatable {
    /// Exit status, or the signal number when `signaled`.
    public var status: Int32
    /// Whether a signal ended it.
    public var signaled: Bool
    /// Killed because it ran longer than its timeout.
    public var timedOut: Bool
    /// Killed because `LoggedCommand.Handle.cancel()` was called.
    public var cancelled: Bool

    /// Exited with status 0, on its own.
    public var succeeded: Bool { status == 0 && !signaled && !timedOut && !cancelled }
}

/// Runs a shell command line to completion as a real child process (the Refinery's gate): `/bin/sh -c` in a
/// directory, stdin from /dev/null, stdout and stderr appended to a log file, in its own process group so a
/// timeout or a cancel kills everything it started. Started with `posix_spawn` and reaped on a dedicated thread
/// (never blocking the cooperative pool). A caseless namespace.
public enum LoggedCommand {
    /// Lets another task cancel a run. `@unchecked Sendable`: fields under `lock`.
    public final class Handle: @unchecked Sendable {
        private let lock = NSLock()
        private var pid: pid_t = 0
        private var ended = false
        private var reason: Reason?

        enum Reason { case timeout, cancel }

        public init() {}

        /// Kills the run's process group if it still runs (and keeps a run not started yet from starting).
        public func cancel() { stop(.cancel) }

        func stop(_ why: Reason) {
            lock.withLock {
                guard !ended, reason == nil else { return }
                reason = why
                if pid > 0 { _ = kill(-pid, SIGKILL) }
            }
        }

        /// Records the pid; false when cancelled before it started (the caller kills it at once).
        func started(_ pid: pid_t) -> Bool {
            lock.withLock {
                self.pid = pid
                if reason != nil { _ = kill(-pid, SIGKILL) }
                return true
            }
        }

        /// The child exited (not reaped yet, so its pid and group cannot be reused): whatever it left running in
        /// its group is killed, and no timer or cancel signals it afterwards.
        func markEnded() {
            lock.withLock {
                ended = true
                if pid > 0 { _ = kill(-pid, SIGKILL) }
            }
        }

        var stoppedBy: Reason? { lock.withLock { reason } }
    }

    /// Runs `command` with `/bin/sh -c` in `directory`, with this process's environment plus `environment`,
    /// appending its output to `logPath` (created with its directory). Killed (the whole process group) after
    /// `timeout` or on `handle.cancel()`. With `inheritEnvironment` false the command gets exactly `environment`
    /// (a sandboxed gate: nothing of this process's environment, no credentials, no town).
    public static func run(
        _ command: String, in directory: String, environment: [String: String] = [:], logPath: String,
        timeout: Duration, handle: Handle = Handle(), inheritEnvironment: Bool = true
    ) async throws(SessionError) -> LoggedCommandOutcome {
        try? FileManager.default.createDirectory(
            atPath: (logPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard log >= 0 else {
            throw .launchFailed(command: command, reason: "cannot open \(logPath): \(String(cString: strerror(errno)))")
        }
        defer { close(log) }
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard null >= 0 else { throw .launchFailed(command: command, reason: "cannot open /dev/null") }
        defer { close(null) }
        let full =
            inheritEnvironment ? ProcessInfo.processInfo.environment.merging(environment) { _, new in new } : environment
        let pid = try Spawn.start(
            "/bin/sh", ["-c", "cd \"$1\" || exit 126; exec /bin/sh -c \"$2\"", "sh", directory, command],
            environment: full, stdin: null, stdout: log, stderr: log, newProcessGroup: true)
        _ = handle.started(pid)
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout.seconds) { [handle] in handle.stop(.timeout) }
        let termination = await Spawn.termination(of: pid, beforeReaping: { handle.markEnded() })
        let why = handle.stoppedBy
        return LoggedCommandOutcome(
            status: termination.status, signaled: termination.signaled, timedOut: why == .timeout,
            cancelled: why == .cancel)
    }

    /// The last `limit` bytes of the file at `path` (whole lines where it can), as text.
    public static func tail(of path: String, limit: Int = 4000) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "" }
        guard data.count > limit else { return String(decoding: data, as: UTF8.self) }
        var slice = data.suffix(limit)
        if let newline = slice.firstIndex(of: 0x0A) { slice = slice[slice.index(after: newline)...] }
        return "…\n" + String(decoding: slice, as: UTF8.self)
    }
}
