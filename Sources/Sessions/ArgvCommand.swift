import Foundation

/// Runs a user's command given as an argv (a notification rule's command: `notify-send`, `curl`, a script), with
/// bytes on its stdin, this process's environment plus `environment`, and its output appended to a log file. No
/// shell: the first word is looked up in `PATH` unless it contains a `/`. Started with `posix_spawn` in its own
/// process group and reaped on a dedicated thread (never blocking the cooperative pool); after `timeout` the whole
/// group is killed, by pid. A caseless namespace.
public enum ArgvCommand {
    /// Runs `argv`; returns how it ended. Throws when it cannot start (no such program, no log file).
    public static func run(
        _ argv: [String], stdin input: [UInt8], environment: [String: String], logPath: String, timeout: Duration
    ) async throws(SessionError) -> LoggedCommandOutcome {
        guard let first = argv.first, !first.isEmpty else {
            throw .launchFailed(command: "", reason: "the command is empty")
        }
        let display = argv.joined(separator: " ")
        let full = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        guard let executable = resolve(first, path: full["PATH"] ?? "/usr/local/bin:/usr/bin:/bin") else {
            throw .launchFailed(command: display, reason: "no program '\(first)' (not found in PATH)")
        }
        try? FileManager.default.createDirectory(
            atPath: (logPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard log >= 0 else {
            throw .launchFailed(command: display, reason: "cannot open \(logPath): \(String(cString: strerror(errno)))")
        }
        defer { close(log) }
        // stdin from an unlinked file, not a pipe: writing a pipe could block, and a child that never reads
        // must not hold us up.
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/gt-argv-XXXXXX".utf8CString)
        let stdinFD = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard stdinFD >= 0 else { throw .launchFailed(command: display, reason: "cannot create a file in \(base)") }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        defer { close(stdinFD) }
        _ = fcntl(stdinFD, F_SETFD, FD_CLOEXEC)
        var written = 0
        while written < input.count {
            let count = input.withUnsafeBytes { write(stdinFD, $0.baseAddress! + written, $0.count - written) }
            guard count > 0 else { break }
            written += count
        }
        _ = lseek(stdinFD, 0, SEEK_SET)
        let handle = LoggedCommand.Handle()
        let pid = try Spawn.start(
            executable, Array(argv.dropFirst()), environment: full, stdin: stdinFD, stdout: log, stderr: log,
            newProcessGroup: true)
        _ = handle.started(pid)
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout.seconds) { [handle] in handle.stop(.timeout) }
        let termination = await Spawn.termination(of: pid, beforeReaping: { handle.markEnded() })
        let why = handle.stoppedBy
        return LoggedCommandOutcome(
            status: termination.status, signaled: termination.signaled, timedOut: why == .timeout,
            cancelled: why == .cancel)
    }

    /// `word` as an executable path: itself when it holds a `/`, else the first executable in `path`.
    public static func resolve(_ word: String, path: String) -> String? {
        if word.contains("/") { return access(word, X_OK) == 0 ? word : nil }
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(word)"
            var info = stat()
            if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }
}
