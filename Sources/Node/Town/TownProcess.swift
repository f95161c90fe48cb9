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

    /// Spawns with `posix_spawn` and waits with `waitpid` on the exact pid: a daemon the child forks (the tmux
    /// server) may inherit descriptors, which must not delay noticing that the child itself has exited.
    static func runBlocking(
        _ executable: String, _ arguments: [String], _ environment: [String: String]?, _ timeout: Duration
    ) throws(TownError) -> Output {
        let base = NSTemporaryDirectory() + "gt-child-\(getpid())-\(UUID().uuidString.prefix(8))"
        let outPath = base + ".out"
        let errPath = base + ".err"
        defer {
            unlink(outPath)
            unlink(errPath)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        // Nothing else is inherited: a descriptor of ours kept open by the tmux server for its whole life would make
        // whoever waits for our own exit through a pipe (a parent's Process) wait for the server instead.
        markDescriptorsCloseOnExec()
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let variables = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in variables { free(pointer) } }
        // The calling thread may block or ignore signals (runtime threads do); the child (and the tmux server it may
        // start, and every agent under it) must get the defaults, or SIGHUP/SIGTERM would never stop them.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGTERM, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let code = posix_spawn(&pid, executable, &actions, &attributes, argv, variables)
        guard code == 0 else { throw .io("cannot run \(executable): \(String(cString: strerror(code)))") }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let deadline = Date().addingTimeInterval(seconds)
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            if result < 0 && errno != EINTR { throw .io("waitpid(\(pid)) failed: \(String(cString: strerror(errno)))") }
            if Date() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw .io("\(executable) \(arguments.joined(separator: " ")) did not finish within \(seconds) s")
            }
            usleep(1_000)
        }
        let exited = (status & 0x7f) == 0
        let out = FileManager.default.contents(atPath: outPath) ?? Data()
        let err = FileManager.default.contents(atPath: errPath) ?? Data()
        return Output(
            status: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), stdout: String(decoding: out, as: UTF8.self),
            stderr: String(decoding: err, as: UTF8.self))
    }

    /// Sets close-on-exec on every descriptor above stderr (listed from `/proc/self/fd`).
    static func markDescriptorsCloseOnExec() {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return }
        for entry in entries {
            guard let fd = Int32(entry), fd > 2 else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 && flags & FD_CLOEXEC == 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
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
