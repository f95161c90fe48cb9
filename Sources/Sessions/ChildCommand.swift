import Foundation

/// The outcome of a finished child command. `Sendable`: plain values.
struct ChildCommandResult: Sendable {
    /// Exit status (or the signal number, when `signaled`).
    let status: Int32
    /// Whether the child was ended by a signal.
    let signaled: Bool
    /// Everything it wrote to stdout.
    let stdout: Data
    /// Everything it wrote to stderr.
    let stderr: Data

    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

/// Runs a short-lived child program (tmux commands) without blocking the cooperative pool: `posix_spawn`,
/// a dedicated thread that reaps it and resumes a continuation, and a timer that kills it when it overruns.
///
/// Output goes to unlinked temporary files, not pipes, read back once the child has exited: the first
/// `tmux new-session` forks the tmux server, which inherits the client's stdout and stderr and keeps them
/// open for its whole life, so a pipe would never reach end of file. A namespace; `Sendable` trivially.
enum ChildCommand {
    /// Runs `executable arguments…` with `environment` (the whole environment) and stdin from /dev/null.
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String], timeout: Duration
    ) async throws(SessionError) -> ChildCommandResult {
        let display = ([executable] + arguments).joined(separator: " ")
        let stdout = try scratchFile(for: display)
        defer { close(stdout) }
        let stderr = try scratchFile(for: display)
        defer { close(stderr) }
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard null >= 0 else { throw .launchFailed(command: display, reason: "cannot open /dev/null") }
        defer { close(null) }
        let pid = try Spawn.start(
            executable, arguments, environment: environment, stdin: null, stdout: stdout, stderr: stderr,
            newProcessGroup: false)
        let watch = Watch()
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout.seconds) {
            watch.killIfRunning(pid)
        }
        let termination = await Spawn.termination(of: pid, beforeReaping: { watch.markEnded() })
        if watch.wasKilled {
            throw .timedOut(command: display, seconds: timeout.seconds)
        }
        return ChildCommandResult(
            status: termination.status, signaled: termination.signaled, stdout: readAll(stdout),
            stderr: readAll(stderr))
    }

    /// An unlinked temporary file opened for reading and writing.
    private static func scratchFile(for command: String) throws(SessionError) -> Int32 {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/gt-tmux-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw .launchFailed(command: command, reason: "cannot create a temporary file in \(base)")
        }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        return descriptor
    }

    /// The whole file behind `descriptor` (small: tmux output).
    private static func readAll(_ descriptor: Int32) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var offset: off_t = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, offset) }
            if count <= 0 { break }
            data.append(contentsOf: buffer[0..<count])
            offset += off_t(count)
        }
        return data
    }

    /// Whether the timer fired before the child ended. `@unchecked Sendable`: fields under `lock`.
    private final class Watch: @unchecked Sendable {
        private let lock = NSLock()
        private var ended = false
        private var killed = false

        /// The timer: kills the child unless it has already been reaped.
        func killIfRunning(_ pid: pid_t) {
            lock.withLock {
                guard !ended else { return }
                killed = true
                _ = kill(pid, SIGKILL)
            }
        }

        /// Marks the child ended (called after it exited, before its pid is reaped, so the timer can never
        /// signal a reused pid).
        func markEnded() { lock.withLock { ended = true } }

        /// Whether the timer killed the child.
        var wasKilled: Bool { lock.withLock { killed } }
    }
}
