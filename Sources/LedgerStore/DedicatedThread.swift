import Foundation

/// Runs blocking work (file opens, lock waits, fsync) on a fresh thread, never on Swift's cooperative pool.
///
/// A namespace; `Sendable` trivially.
public enum DedicatedThread {
    /// Runs `body` on a new thread and resumes the caller with its result.
    public static func run<T: Sendable, E: Error>(
        name: String = "gt-blocking", _ body: @escaping @Sendable () throws(E) -> T
    ) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            let thread = Thread {
                do throws(E) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            thread.name = name
            thread.start()
        }
        return try result.get()
    }
}
