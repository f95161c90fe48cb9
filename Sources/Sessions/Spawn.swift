import Foundation

/// Starts child programs with `posix_spawn` and reaps them on dedicated threads.
///
/// Not Foundation's `Process`: on Linux it learns that a child exited through a socket the child inherits,
/// so when the child leaves a daemon behind holding that socket (the first `tmux` call forks the tmux
/// server) it never notices the exit. Here the child gets exactly stdin, stdout and stderr: every other
/// descriptor is closed in the child, so a tmux server or an agent never holds the node's sockets or files
/// open. A namespace; `Sendable` trivially.
enum Spawn {
    /// How a child ended. `Sendable`: plain values.
    struct Termination: Sendable, Equatable {
        /// Exit status, or the signal number when `signaled`.
        let status: Int32
        /// Whether a signal ended it.
        let signaled: Bool

        /// Decodes a `waitpid` status (the `WIFEXITED`/`WTERMSIG` macros do not import).
        init(waitStatus: Int32) {
            if waitStatus & 0x7f == 0 {
                status = (waitStatus >> 8) & 0xff
                signaled = false
            } else {
                status = waitStatus & 0x7f
                signaled = true
            }
        }
    }

    /// Starts `executable` with `arguments` (argv[0] is the executable) and exactly `environment`, with the
    /// given descriptors as its stdin, stdout and stderr. `newProcessGroup` makes it lead its own process
    /// group, so the whole group can be signalled and a terminal's hangup does not reach it.
    static func start(
        _ executable: String, _ arguments: [String], environment: [String: String],
        stdin: Int32, stdout: Int32, stderr: Int32, newProcessGroup: Bool
    ) throws(SessionError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        // glibc ignores a close action for a descriptor that was closed meanwhile (in range, not open).
        for descriptor in openDescriptors() where descriptor > 2 {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if newProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGHUP, SIGINT, SIGTERM, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.sorted(by: { $0.key < $1.key }).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw .launchFailed(
                command: ([executable] + arguments).joined(separator: " "), reason: String(cString: strerror(result)))
        }
        return pid
    }

    /// Waits for the child `pid` to end, on a dedicated thread (a blocking wait, never on the pool), and
    /// calls `done` there. `beforeReaping` runs once the child has exited but while its pid is still held
    /// (a zombie), so whoever might signal the pid can stop before the pid can be reused.
    static func reap(
        _ pid: pid_t, beforeReaping: @escaping @Sendable () -> Void = {},
        done: @escaping @Sendable (Termination) -> Void
    ) {
        let thread = Thread {
            var info = siginfo_t()
            while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0, errno == EINTR {}
            beforeReaping()
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 {
                if errno != EINTR {
                    // Not our child any more (someone else reaped it): report it as killed.
                    done(Termination(waitStatus: SIGKILL))
                    return
                }
            }
            done(Termination(waitStatus: status))
        }
        thread.name = "gt-reaper-\(pid)"
        thread.stackSize = 64 * 1024
        thread.start()
    }

    /// Waits for the child `pid` to end without blocking the caller's thread.
    static func termination(
        of pid: pid_t, beforeReaping: @escaping @Sendable () -> Void = {}
    ) async -> Termination {
        await withCheckedContinuation { continuation in
            reap(pid, beforeReaping: beforeReaping) { continuation.resume(returning: $0) }
        }
    }

    /// The descriptors open in this process now.
    private static func openDescriptors() -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else {
            return Array(3..<256)
        }
        return entries.compactMap { Int32($0) }
    }
}
