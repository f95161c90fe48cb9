import Foundation
import LedgerStore

/// Runs blocking work (fsync, file trees, process waits) on a dedicated thread so the cooperative pool
/// (2 threads on this machine) is never blocked. One short-lived `Thread` per call (`LedgerStore`'s
/// `DedicatedThread`): CLI commands do few such calls, and a thread costs far less than a stalled pool.
public enum BlockingWork {
    /// Runs `work` on a new thread and returns its result (or rethrows its error).
    public static func run<T: Sendable, E: Error>(
        _ work: @escaping @Sendable () throws(E) -> T
    ) async throws(E) -> T {
        try await DedicatedThread.run(name: "gt-blocking", work)
    }
}
