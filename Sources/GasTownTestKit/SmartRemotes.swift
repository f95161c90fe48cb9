import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A real smart-protocol git server on loopback for tests: `git daemon --enable=receive-pack` (git://), started
/// as a child process of the test, in its own temporary directory, stopped by its pid (never by name).
///
/// `Sendable`: immutable after `start()`; `stop()` is idempotent and guarded by a lock.
public final class GitDaemonServer: Sendable {
    /// The directory served (`--base-path`): repositories made by `makeRepository(_:)` live here.
    public let directory: TempDir
    /// The loopback port it listens on.
    public let port: UInt16
    private let process: ManagedChild

    private init(directory: TempDir, port: UInt16, process: ManagedChild) {
        self.directory = directory
        self.port = port
        self.process = process
    }

    /// Starts `git daemon` on a free loopback port and returns once it accepts connections.
    /// - Throws: `SmartRemoteError` when git is missing or the daemon does not come up (its output is in the
    ///   message); nothing is left running.
    public static func start() async throws -> GitDaemonServer {
        let directory = try TempDir(prefix: "gt-gitdaemon")
        var lastError: Error?
        for _ in 0..<3 {  // a free port can be taken between the probe and the daemon's bind: try another
            let port = try LoopbackPort.free()
            let child = try ManagedChild(
                executable: daemonExecutable.path,
                arguments: daemonExecutable.leading + [
                    "--reuseaddr", "--base-path=\(directory.path)", "--export-all",
                    "--enable=receive-pack", "--informative-errors", "--listen=127.0.0.1", "--port=\(port)",
                    directory.path,
                ],
                environment: SmartRemoteEnvironment.git(home: directory.path), log: directory.join("daemon.log"))
            do {
                try await LoopbackPort.waitUntilAccepting(port, while: child)
                return GitDaemonServer(directory: directory, port: port, process: child)
            } catch {
                await child.stop()
                lastError = error
            }
        }
        throw lastError ?? SmartRemoteError("git daemon did not start")
    }

    /// `git-daemon` itself when found (so the pid stopped is the daemon's), else `git daemon`.
    private static var daemonExecutable: (path: String, leading: [String]) {
        let direct = "/usr/lib/git-core/git-daemon"
        return FileManager.default.isExecutableFile(atPath: direct) ? (direct, []) : ("/usr/bin/git", ["daemon"])
    }

    /// Creates a bare repository `<name>.git` in the served directory and returns its `git://` URL.
    public func makeRepository(_ name: String) async throws -> String {
        try await SmartRemoteEnvironment.initBare(directory.join("\(name).git"), home: directory.path)
        return "git://127.0.0.1:\(port)/\(name).git"
    }

    /// The path of a repository made by `makeRepository(_:)` (to inspect it directly).
    public func path(of name: String) -> String { directory.join("\(name).git") }

    /// Stops the daemon (SIGTERM, then SIGKILL after 2 s) by its pid and waits for it to end.
    public func stop() async { await process.stop() }

    deinit { process.killNow() }
}

/// A private `sshd` on a free loopback port for tests (ssh://): its own host key, configuration and
/// `authorized_keys` holding a generated client key, which an `ssh-agent` started for the test holds. The process's
/// `SSH_AUTH_SOCK` points at that agent while the server runs (libgit2's agent credentials read it), and the
/// host's public key is written as a `known_hosts` line for `[127.0.0.1]:port`.
///
/// Both children are stopped by their pids; the directory is removed. Needs `/usr/sbin/sshd` (openssh-server) and
/// the ssh client tools; run as root in CI (sshd then needs `/run/sshd`, created when missing).
///
/// `Sendable`: immutable after `start()`; `stop()` is idempotent.
public final class SSHServer: Sendable {
    /// The server's directory (keys, configuration, repositories under `repos/`).
    public let directory: TempDir
    /// The loopback port sshd listens on.
    public let port: UInt16
    /// The login user in URLs (the user running the tests).
    public let user: String
    /// The agent's socket (`SSH_AUTH_SOCK`).
    public let agentSocket: String
    /// A `known_hosts` file holding the server's host key for `[127.0.0.1]:port`.
    public let knownHostsPath: String
    /// The client key pair's paths (private; public is `+ ".pub"`).
    public let clientKeyPath: String
    private let sshd: ManagedChild
    private let agent: ManagedChild
    private let previousAuthSock: String?

    private init(
        directory: TempDir, port: UInt16, user: String, agentSocket: String, sshd: ManagedChild,
        agent: ManagedChild, previousAuthSock: String?
    ) {
        self.directory = directory
        self.port = port
        self.user = user
        self.agentSocket = agentSocket
        self.knownHostsPath = directory.join("known_hosts")
        self.clientKeyPath = directory.join("client_key")
        self.sshd = sshd
        self.agent = agent
        self.previousAuthSock = previousAuthSock
    }

    /// Whether the tools an `SSHServer` needs are installed.
    public static var isAvailable: Bool {
        ["/usr/sbin/sshd", "/usr/bin/ssh-keygen", "/usr/bin/ssh-agent", "/usr/bin/ssh-add"].allSatisfy {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    /// Generates the keys, starts the agent (holding the client key) and sshd, and returns once sshd accepts.
    /// Sets `SSH_AUTH_SOCK` for this process to the agent until `stop()`.
    /// - Throws: `SmartRemoteError` when a tool is missing or a step fails (with its output); nothing is left
    ///   running.
    public static func start() async throws -> SSHServer {
        guard isAvailable else {
            throw SmartRemoteError(
                "sshd or the ssh client tools are missing: install openssh-server and openssh-client "
                    + "(scripts/bootstrap does)")
        }
        let directory = try TempDir(prefix: "gt-sshd")
        // sshd refuses group/world-writable parents of its files with StrictModes; it is off, but keep 0700.
        chmod(directory.path, 0o700)
        try TempDir.makeDirectory(directory.join("repos"))
        for key in ["host_key", "client_key"] {
            try await SmartRemoteEnvironment.run(
                "/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "gt-test", "-f", directory.join(key)],
                environment: ProcessInfo.processInfo.environment)
        }
        let user = SmartRemoteEnvironment.userName
        try FileManager.default.copyItem(
            atPath: directory.join("client_key.pub"), toPath: directory.join("authorized_keys"))
        if getuid() == 0, !FileManager.default.fileExists(atPath: "/run/sshd") {
            try? FileManager.default.createDirectory(
                atPath: "/run/sshd", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        }
        let socket = directory.join("agent.sock")
        let agent = try ManagedChild(
            executable: "/usr/bin/ssh-agent", arguments: ["-D", "-a", socket],
            environment: ProcessInfo.processInfo.environment, log: directory.join("agent.log"))
        do {
            try await SmartRemoteEnvironment.waitForFile(socket, while: agent)
            var env = ProcessInfo.processInfo.environment
            env["SSH_AUTH_SOCK"] = socket
            try await SmartRemoteEnvironment.run("/usr/bin/ssh-add", ["-q", directory.join("client_key")], environment: env)
        } catch {
            await agent.stop()
            throw error
        }
        let hostKey = try String(contentsOfFile: directory.join("host_key.pub"), encoding: .utf8)
            .split(separator: " ").prefix(2).joined(separator: " ")
        var lastError: Error?
        for _ in 0..<3 {
            let port = try LoopbackPort.free()
            let config = """
                Port \(port)
                ListenAddress 127.0.0.1
                HostKey \(directory.join("host_key"))
                PidFile \(directory.join("sshd.pid"))
                AuthorizedKeysFile \(directory.join("authorized_keys"))
                AllowUsers \(user)
                PubkeyAuthentication yes
                PasswordAuthentication no
                KbdInteractiveAuthentication no
                UsePAM no
                StrictModes no
                PermitRootLogin prohibit-password
                LogLevel VERBOSE

                """
            try Data(config.utf8).write(to: URL(fileURLWithPath: directory.join("sshd_config")))
            try Data("[127.0.0.1]:\(port) \(hostKey)\n".utf8).write(
                to: URL(fileURLWithPath: directory.join("known_hosts")))
            let sshd = try ManagedChild(
                executable: "/usr/sbin/sshd", arguments: ["-D", "-e", "-f", directory.join("sshd_config")],
                environment: ["PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"], log: directory.join("sshd.log"))
            do {
                try await LoopbackPort.waitUntilAccepting(port, while: sshd)
                let previous = ProcessInfo.processInfo.environment["SSH_AUTH_SOCK"]
                setenv("SSH_AUTH_SOCK", socket, 1)
                return SSHServer(
                    directory: directory, port: port, user: user, agentSocket: socket, sshd: sshd, agent: agent,
                    previousAuthSock: previous)
            } catch {
                await sshd.stop()
                lastError = error
            }
        }
        await agent.stop()
        throw lastError ?? SmartRemoteError("sshd did not start")
    }

    /// Creates a bare repository `repos/<name>.git` and returns its `ssh://user@127.0.0.1:port/…` URL.
    public func makeRepository(_ name: String) async throws -> String {
        try await SmartRemoteEnvironment.initBare(path(of: name), home: directory.path)
        return "ssh://\(user)@127.0.0.1:\(port)\(path(of: name))"
    }

    /// The path of a repository made by `makeRepository(_:)`.
    public func path(of name: String) -> String { directory.join("repos/\(name).git") }

    /// The `known_hosts` line for this server (`[127.0.0.1]:port ssh-ed25519 AAAA…`), as written to
    /// `knownHostsPath`.
    public var knownHostsLine: String {
        ((try? String(contentsOfFile: knownHostsPath, encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs `ssh-keygen` with `arguments` (to hash a known_hosts file with `-H -f`, make another key with
    /// `-q -t ed25519 -N "" -f`); throws with its output when it fails.
    public static func sshKeygen(_ arguments: [String]) async throws {
        try await SmartRemoteEnvironment.run(
            "/usr/bin/ssh-keygen", arguments, environment: ProcessInfo.processInfo.environment)
    }

    /// What sshd logged so far (for failure messages).
    public var log: String { (try? String(contentsOfFile: directory.join("sshd.log"), encoding: .utf8)) ?? "" }

    /// Stops sshd and the agent by their pids, and restores `SSH_AUTH_SOCK`.
    public func stop() async {
        await sshd.stop()
        await agent.stop()
        if let previousAuthSock { setenv("SSH_AUTH_SOCK", previousAuthSock, 1) } else { unsetenv("SSH_AUTH_SOCK") }
    }

    deinit {
        sshd.killNow()
        agent.killNow()
    }
}

/// A test server could not be set up.
public struct SmartRemoteError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A child process started by a test server with `posix_spawn`, output to a log file, stopped only by its own pid
/// and reaped with `waitpid(pid, WNOHANG)` polls from async code (no thread blocks).
///
/// Not Foundation's `Process`: on Linux it learns of an exit when a pipe it gave the child reaches end-of-file and
/// then blocks its one monitoring thread in `waitpid`; a daemon that closes every descriptor at start (sshd) looks
/// exited and stalls the termination of every other `Process` in the test run.
final class ManagedChild: @unchecked Sendable {
    private let lock = NSLock()
    private var status: Int32?
    let logPath: String
    let pid: pid_t

    init(executable: String, arguments: [String], environment: [String: String], log: String) throws {
        logPath = log
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var child: pid_t = 0
        let code = posix_spawn(&child, executable, &actions, nil, argv, envp)
        guard code == 0 else { throw SmartRemoteError("cannot start \(executable): errno \(code)") }
        pid = child
    }

    /// Whether it is still running (reaps it when it has ended).
    var isRunning: Bool {
        lock.withLock {
            if status != nil { return false }
            var raw: Int32 = 0
            let result = waitpid(pid, &raw, WNOHANG)
            if result == pid || (result < 0 && errno == ECHILD) {
                status = result == pid ? raw : -1
                return false
            }
            return true
        }
    }

    /// The exit status (0 for success) once it has ended; -1 when unknown.
    var terminationStatus: Int32 {
        lock.withLock {
            guard let status else { return -1 }
            return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        }
    }

    var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// SIGTERM, then SIGKILL after 2 s if still running; returns once it has ended (polling every 10 ms).
    func stop() async {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        for tick in 0..<500 {
            if !isRunning { return }
            if tick == 200 { kill(pid, SIGKILL) }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// SIGKILL now if still running (a server dropped without `stop()`, e.g. after a failed expectation), and
    /// reap it.
    func killNow() {
        guard isRunning else { return }
        kill(pid, SIGKILL)
        var raw: Int32 = 0
        _ = waitpid(pid, &raw, 0)
    }
}

/// Loopback ports for test servers.
enum LoopbackPort {
    /// A port the kernel just handed out for 127.0.0.1 (bound to port 0, then closed).
    static func free() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SmartRemoteError("socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw SmartRemoteError("bind to 127.0.0.1:0 failed: errno \(errno)") }
        return UInt16(bigEndian: address.sin_port)
    }

    /// Whether something accepts a TCP connection on 127.0.0.1:`port` now (a loopback connect does not block).
    static func accepts(_ port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// Polls until `port` accepts, for up to 10 s; fails at once if `child` exits.
    static func waitUntilAccepting(_ port: UInt16, while child: ManagedChild) async throws {
        for _ in 0..<1_000 {
            if accepts(port) { return }
            guard child.isRunning else {
                throw SmartRemoteError("the server exited before listening on port \(port): \(child.output)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw SmartRemoteError("nothing accepted on 127.0.0.1:\(port) within 10 s: \(child.output)")
    }
}

/// Environment and short commands for the test servers.
enum SmartRemoteEnvironment {
    /// An environment for the git CLI that ignores the user's and system's configuration.
    static func git(home: String) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = home
        env["GIT_CONFIG_NOSYSTEM"] = "1"
        return env
    }

    static var userName: String {
        if let entry = getpwuid(getuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return ProcessInfo.processInfo.environment["USER"] ?? "root"
    }

    /// `git init --bare path` with the system git (the server side of the test; our code never runs git).
    static func initBare(_ path: String, home: String) async throws {
        try await run("/usr/bin/git", ["init", "--quiet", "--bare", path], environment: git(home: home))
    }

    /// Runs a short command to its end (awaiting its termination handler); throws with its output on failure.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]) async throws {
        let log = NSTemporaryDirectory() + "/gt-smartremote-\(UInt64.random(in: 0...UInt64.max)).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let child = try ManagedChild(executable: executable, arguments: arguments, environment: environment, log: log)
        for _ in 0..<3_000 where child.isRunning { try await Task.sleep(for: .milliseconds(5)) }
        guard !child.isRunning else {
            await child.stop()
            throw SmartRemoteError("\(executable) \(arguments.joined(separator: " ")) did not finish in 15 s")
        }
        let status = child.terminationStatus
        guard status == 0 else {
            throw SmartRemoteError(
                "\(executable) \(arguments.joined(separator: " ")) failed (\(status)): \(child.output)")
        }
    }

    /// Polls until `path` exists, for up to 10 s; fails at once if `child` exits.
    static func waitForFile(_ path: String, while child: ManagedChild) async throws {
        for _ in 0..<1_000 {
            if FileManager.default.fileExists(atPath: path) { return }
            guard child.isRunning else { throw SmartRemoteError("exited before creating \(path): \(child.output)") }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw SmartRemoteError("\(path) did not appear within 10 s: \(child.output)")
    }
}

