import CShims
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The one-writer lock: an exclusive `flock` on `.beads/LOCK`, held from before the store is loaded until it is
/// closed. The lock file's content names the holder (pid, command, start time) for other openers' messages.
/// Readers take the same lock shared (`acquire(…, shared: true)`): any number of them at once, never while the
/// writer holds it, and without writing anything (not even their name: several readers share the file).
///
/// `@unchecked Sendable`: the descriptor is set once in `acquire` and only closed by `release`, which is guarded
/// by a lock; nothing else mutates.
public final class StoreLock: @unchecked Sendable {
    /// The lock file's path.
    public let path: String
    /// Whether this is a reader's shared lock (nothing is written into the file).
    public let isShared: Bool
    private var fd: Int32
    private let guardLock = NSLock()

    private init(path: String, fd: Int32, shared: Bool) {
        self.path = path
        self.fd = fd
        isShared = shared
    }

    /// The text written into the lock file for this process: `pid=<pid> command=<argv> since=<ISO time>`.
    public static func describeCurrentProcess() -> String {
        let command = CommandLine.arguments.joined(separator: " ")
        let since = ISO8601DateFormatter().string(from: Date())
        return "pid=\(getpid()) command=\(command) since=\(since)"
    }

    /// Takes the lock, waiting up to `timeout` (polling every `pollInterval`) while another process holds it.
    /// Blocking: call off the cooperative pool. Throws `StoreError.locked` naming the holder when the wait ends.
    ///
    /// `shared` (a reader): `LOCK_SH` on the file opened read-only; the file is neither created nor written. A store
    /// without a lock file has never been opened by a writer in place (or the file was removed by hand): the reader
    /// then reads without a lock, since creating the file would change the store.
    public static func acquire(
        path: String, holder: String = describeCurrentProcess(), timeout: Duration, pollInterval: Duration,
        shared: Bool = false
    ) throws(StoreError) -> StoreLock {
        let fd: Int32
        if shared {
            let opened = gtshim_open(path, O_RDONLY | O_CLOEXEC, 0)
            if opened < 0 {
                if gtshim_errno() == ENOENT { return StoreLock(path: path, fd: -1, shared: true) }
                throw FileIO.fail("open", path)
            }
            fd = opened
        } else {
            fd = try FileIO.open(path, flags: O_RDWR | O_CREAT, mode: 0o644)
        }
        let clock = ContinuousClock()
        let start = clock.now
        while (shared ? flock(fd, LOCK_SH | LOCK_NB) : gtshim_flock_exclusive(fd, 1)) != 0 {
            let code = gtshim_errno()
            if code == EINTR { continue }
            guard code == EWOULDBLOCK else {
                let error = FileIO.fail("flock", path)
                close(fd)
                throw error
            }
            let waited = clock.now - start
            if waited >= timeout {
                let holderText = (try? FileIO.readFile(path)).map { String(decoding: $0, as: UTF8.self) } ?? ""
                close(fd)
                throw .locked(
                    path: path, holder: holderText.trimmingCharacters(in: .whitespacesAndNewlines), waited: waited)
            }
            let pause = min(pollInterval, timeout - waited)
            let (seconds, attoseconds) = pause.components
            var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
            nanosleep(&request, nil)
        }
        if shared { return StoreLock(path: path, fd: fd, shared: true) }
        do {
            try FileIO.truncate(fd, to: 0, path: path)
            try FileIO.writeAll(fd, Array((holder + "\n").utf8), at: 0, path: path)
        } catch {
            close(fd)
            throw error
        }
        return StoreLock(path: path, fd: fd, shared: false)
    }

    /// Releases the lock (idempotent). A writer clears its holder text first, so a stale name is never shown.
    public func release() {
        guardLock.lock()
        defer { guardLock.unlock() }
        guard fd >= 0 else { return }
        if !isShared { _ = ftruncate(fd, 0) }
        // Unlock explicitly: a child being spawned at this moment shares the open file description until its
        // exec, and a bare close would leave the lock held through that copy.
        _ = flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { release() }
}
