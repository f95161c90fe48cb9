import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Finds the built `gt`/`bd` executables (beside the test binary in the build directory) and runs them
/// as child processes, capturing stdout, stderr and the exit status. The wait is done by `Process`'s
/// termination handler resuming a continuation, so no cooperative-pool thread blocks.
public enum BuiltBinaries {
    /// A program built by this package.
    public enum Tool: String, Sendable {
        case gt, bd
    }

    /// What a run produced.
    public struct Output: Sendable, CustomStringConvertible {
        /// The exit status (or 128 + signal when killed).
        public var status: Int32
        /// Everything written to stdout.
        public var stdout: String
        /// Everything written to stderr.
        public var stderr: String
        /// Whether the run was killed for exceeding its time limit.
        public var timedOut: Bool
        /// Whether the run was killed because its output showed what the caller awaited (`stopWhen`).
        public var stopped: Bool = false
        /// The command that ran (executable, then arguments) and where, so a failure names what failed.
        public var command: [String] = []
        public var cwd: String? = nil

        public var description: String {
            let ran = command.isEmpty ? "" : "command: \(command.joined(separator: " "))\(cwd.map { " (in \($0))" } ?? "")\n"
            let why = timedOut ? " (timed out)" : stopped ? " (stopped: its output showed what was awaited)" : ""
            return "\(ran)status \(status)\(why)\nstdout:\n\(stdout)\nstderr:\n\(stderr)"
        }
    }

    /// Why a binary could not be run.
    public struct NotFound: Error, CustomStringConvertible {
        /// The path that was looked for.
        public var path: String
        public var description: String { "\(path) not found: build the package first (swift build)" }
    }

    /// Environment variables removed from the inherited environment so the host's settings cannot
    /// leak into a test (discovery, identity and output shape).
    public static let isolatedVariables = [
        "GT_TOWN", "BEADS_DIR", "BEADS_ACTOR", "BD_ACTOR", "BD_JSON_ENVELOPE", "GT_ROLE", "GT_RIG", "GT_POLECAT",
        "GT_CREW",
    ]

    /// The build directory: `$GT_BIN_DIR` if set, else the directory of the running test executable
    /// (`.build/<triple>/debug` for `swift test`).
    public static var directory: String {
        if let override = ProcessInfo.processInfo.environment["GT_BIN_DIR"], !override.isEmpty { return override }
        let executable = Bundle.main.executablePath ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        // On platforms where the tests are a bundle (`.xctest/Contents/MacOS/…`), climb out of it.
        while url.path.contains(".xctest") { url.deleteLastPathComponent() }
        return url.path
    }

    /// The absolute path of `tool`; throws `NotFound` when it has not been built.
    public static func path(of tool: Tool) throws -> String {
        let path = directory + "/" + tool.rawValue
        guard FileManager.default.isExecutableFile(atPath: path) else { throw NotFound(path: path) }
        return path
    }

    /// Runs `tool` with `arguments` in `cwd`, with the inherited environment minus `isolatedVariables`,
    /// plus `environment`. stdin is the file `stdinPath`, else /dev/null. Killed (SIGKILL, by pid) after `timeout`,
    /// or as soon as its stdout so far satisfies `stopWhen` (checked every 100 ms; for commands that follow a stream).
    public static func run(
        _ tool: Tool, _ arguments: [String], environment: [String: String] = [:], cwd: String? = nil,
        stdinPath: String? = nil, timeout: Duration = .seconds(120), stopWhen: (@Sendable (String) -> Bool)? = nil
    ) async throws -> Output {
        try await run(
            executable: try path(of: tool), arguments, environment: environment, cwd: cwd, stdinPath: stdinPath,
            timeout: timeout, stopWhen: stopWhen)
    }

    /// Runs any executable the same way.
    public static func run(
        executable: String, _ arguments: [String], environment: [String: String] = [:], cwd: String? = nil,
        stdinPath: String? = nil, timeout: Duration = .seconds(120), stopWhen: (@Sendable (String) -> Bool)? = nil
    ) async throws -> Output {
        let capture = try TempDir(prefix: "gt-run")
        let stdoutPath = capture.join("stdout")
        let stderrPath = capture.join("stderr")
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let stdoutHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        let stderrHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        defer {
            try? stdoutHandle.close()
            try? stderrHandle.close()
        }

        var env = ProcessInfo.processInfo.environment
        for name in isolatedVariables { env[name] = nil }
        env.merge(environment) { _, new in new }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = env
        if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        let stdinHandle = try stdinPath.map { try FileHandle(forReadingFrom: URL(fileURLWithPath: $0)) }
        defer { try? stdinHandle?.close() }
        process.standardInput = stdinHandle ?? FileHandle.nullDevice
        process.standardOutput = stdoutHandle
        process.standardError = stderrHandle

        let exited = ExitSignal()
        process.terminationHandler = { _ in exited.fire() }
        try process.run()
        let pid = process.processIdentifier
        let watchdog = Task {
            try await Task.sleep(for: timeout)
            exited.markTimedOut()
            kill(pid, SIGKILL)
        }
        let watcher = stopWhen.map { awaited in
            Task {
                while !Task.isCancelled {
                    try await Task.sleep(for: .milliseconds(100))
                    if awaited(capture.read("stdout") ?? "") {
                        exited.markStopped()
                        kill(pid, SIGKILL)
                        return
                    }
                }
            }
        }
        await exited.wait()
        watchdog.cancel()
        watcher?.cancel()

        let status: Int32 = process.terminationReason == .uncaughtSignal
            ? 128 + process.terminationStatus : process.terminationStatus
        return Output(
            status: status, stdout: capture.read("stdout") ?? "", stderr: capture.read("stderr") ?? "",
            timedOut: exited.timedOut, stopped: exited.stopped, command: [executable] + arguments, cwd: cwd)
    }
}

/// A one-shot signal: `fire()` from any thread, `wait()` from async code (resumes at once if already fired).
/// `@unchecked Sendable`: all state is guarded by `lock`.
final class ExitSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var fired = false
    private var waiter: CheckedContinuation<Void, Never>?
    private var killed = false
    private var awaitedSeen = false

    func fire() {
        lock.lock()
        fired = true
        let continuation = waiter
        waiter = nil
        lock.unlock()
        continuation?.resume()
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            lock.lock()
            if fired {
                lock.unlock()
                continuation.resume()
            } else {
                waiter = continuation
                lock.unlock()
            }
        }
    }

    func markTimedOut() {
        lock.lock()
        killed = true
        lock.unlock()
    }

    var timedOut: Bool {
        lock.lock()
        defer { lock.unlock() }
        return killed
    }

    func markStopped() {
        lock.lock()
        awaitedSeen = true
        lock.unlock()
    }

    var stopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return awaitedSeen
    }
}
