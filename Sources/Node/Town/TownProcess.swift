import Foundation
import LedgerStore

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a short child program (tmux, git's helpers) to completion on a dedicated thread, with its output
/// captured through temporary files (a daemon it forks, such as the tmux server, may keep inherited pipes open
/// forever; files never block), and kills it by pid after a timeout. A caseless namespace.
public enum TownProcess {
    /// What a run produced.
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `executable` with `arguments`; never on the cooperative pool.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, timeout: Duration
    ) async throws(TownError) -> Output {
        let result: Result<Output, TownError> = await DedicatedThread.run(name: "gt-child") {
            do throws(TownError) { return .success(try runBlocking(executable, arguments, environment, timeout)) } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    static func runBlocking(
        _ executable: String, _ arguments: [String], _ environment: [String: String]?, _ timeout: Duration
    ) throws(TownError) -> Output {
        let directory = NSTemporaryDirectory() + "gt-child-\(getpid())-\(UUID().uuidString.prefix(8))"
        let outPath = directory + ".out"
        let errPath = directory + ".err"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        defer {
            unlink(outPath)
            unlink(errPath)
        }
        let process = Process()
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        do {
            process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
            try process.run()
        } catch {
            throw .io("cannot run \(executable): \(error)")
        }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        if done.wait(timeout: .now() + seconds) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            done.wait()
            throw .io("\(executable) \(arguments.joined(separator: " ")) did not finish within \(seconds) s")
        }
        let out = FileManager.default.contents(atPath: outPath) ?? Data()
        let err = FileManager.default.contents(atPath: errPath) ?? Data()
        return Output(
            status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
            stderr: String(decoding: err, as: UTF8.self))
    }

    /// The first executable named `name` on `PATH` (or in the usual system directories), or nil.
    public static func which(_ name: String, path: String? = ProcessInfo.processInfo.environment["PATH"]) -> String? {
        let directories = (path ?? "").split(separator: ":").map(String.init) + ["/usr/bin", "/bin", "/usr/local/bin"]
        for directory in directories where FileManager.default.isExecutableFile(atPath: directory + "/" + name) {
            return directory + "/" + name
        }
        return nil
    }
}
