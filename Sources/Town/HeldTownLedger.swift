import Foundation
import LedgerStore

/// The town ledger as a running node holds it, as the workflow reaches it: the node opens `<town>/.beads` once
/// for its life and hands the workflow this access instead of letting it open the store (`NodeLedgerHandle` in
/// the Node module conforms). With none, the workflow opens the store itself in embedded mode (`TownLedger.open`).
///
/// `Sendable`: conformers guard their own state.
public protocol HeldTownLedger: AnyObject, Sendable {
    /// The open store, waiting up to `timeout` seconds for it to open; nil when it did not.
    func waitForDatabase(timeout: TimeInterval) async -> LedgerDatabase?
    /// Why the store is not open (the last open's error), if it failed.
    var lastError: String? { get }
    /// Runs `body` as the only multi-step workflow operation at a time (FIFO); reentrant within one task tree.
    func serialized<T>(_ body: () async throws -> T) async rethrows -> T
    /// Told that the workflow filed or requeued work in `scopes` that a part of the node waits for (a merge
    /// request for the Refinery), so that part wakes at once instead of at its next poll. Default: nothing.
    func workFiled(scopes: [String])
}

extension HeldTownLedger {
    public func workFiled(scopes: [String]) {}
}

/// The held ledger of the command the node is running for the CLI (set by the node's command executor), so the
/// workflow built by that command uses the node's store; nil outside the node.
public enum HeldTownLedgers {
    @TaskLocal public static var current: (any HeldTownLedger)?
}

extension TownLayout {
    /// Whether a node holds this town's lock (`.gt/node.lock`, taken by the node before the store's and kept for
    /// its life), tested with a non-blocking shared `flock` taken and dropped at once (the node retries its
    /// exclusive lock briefly, so the probe never makes a starting node fail).
    public var nodeHoldsLock: Bool {
        let fd = open(stateDirectory + "/node.lock", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }
}
