import Foundation

/// Runs blocking work (fsync, file trees, process waits) on a dedicated thread so the cooperative pool
/// (2 threads on this machine) is never blocked. One short-lived `Thread` per call: CLI commands do few
/// such calls, and a thread costs far less than a stalled pool.
public enum BlockingWork {
    /// Runs `work` on a new thread and returns its result (or rethrows its error).
    public static func run<T: Sendable, E: Error>(
        _ work: @escaping @Sendable () throws(E) -> T
    ) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            let thread = Thread {
                do throws(E) {
                    continuation.resume(returning: .success(try work()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            thread.name = "gt-blocking"
            thread.start()
        }
        return try result.get()
    }
}
