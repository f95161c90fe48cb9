import CShims
import Foundation

/// An exclusive `flock` on a sidecar lock file, held around one read-modify-write of a file under `.gt/`
/// (join tokens, issued certificates, revocations) or the town's config (`mayor/town.json`, `mayor/rigs.json`),
/// so concurrent `gt` processes and the node never lose each other's changes. The file changed is still
/// replaced atomically (temporary file, fsync, rename); the lock only orders the writers.
///
/// `flock` locks belong to an open file description, so two threads of one process that each call `withLock`
/// exclude each other too. Blocking: call off the cooperative pool. A caseless namespace.
public enum FileLock {
    /// How long `withLock` waits for another holder before it gives up. Default 30 s.
    public static let defaultTimeout: TimeInterval = 30

    /// Runs `body` holding the exclusive lock on `path` (created 0600, its directory too). Throws `.pki` naming
    /// the lock file when it cannot be opened or is held for longer than `timeout`.
    public static func withLock<T>(
        _ path: String, timeout: TimeInterval = defaultTimeout, _ body: () throws(TransportError) -> T
    ) throws(TransportError) -> T {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty && !FileManager.default.fileExists(atPath: directory) {
            try? FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let fd = gtshim_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .system(operation: "open lock file \(path)", errno: gtshim_errno()) }
        defer { close(fd) }
        let deadline = Date().addingTimeInterval(timeout)
        while gtshim_flock_exclusive(fd, 1) != 0 {
            let code = gtshim_errno()
            guard code == EWOULDBLOCK || code == EINTR else {
                throw .system(operation: "flock \(path)", errno: code)
            }
            guard Date() < deadline else {
                throw .pki("\(path) has been locked by another process for over \(Int(timeout)) s; retry")
            }
            usleep(2_000)
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}
