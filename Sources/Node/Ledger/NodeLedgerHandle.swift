import Foundation
import LedgerStore
import Town

/// The town ledger the node holds (`<town>/.beads`, opened once by the `LedgerActor` for the node's life), as
/// the node's other parts reach it: the town workflow, the commands the node runs for the CLI, and the sync
/// component. `database` is nil while the ledger is not open (before the actor's start, after a failure, at
/// shutdown); `waitForDatabase` waits for it, bounded.
///
/// Also the node's one gate for the town workflow's multi-step operations (sling, done, rig add, …): in
/// embedded mode each held the store's lock for its whole run, so two slings never interleaved; in the node
/// they take `serialized` instead. Single `bd` writes do not take the gate (each is one atomic write).
///
/// `@unchecked Sendable`: every mutable field is guarded by `lock`.
public final class NodeLedgerHandle: @unchecked Sendable {
    fileprivate let lock = NSLock()
    private var current: LedgerDatabase?
    private var failure: String?
    private var waiters: [UUID: CheckedContinuation<Void, Never>] = [:]
    private var gateHeld = false
    private var gateQueue: [CheckedContinuation<Void, Never>] = []
    fileprivate var observers: [@Sendable (NodeLedgerChange) -> Void] = []

    /// Whether the current task runs inside `serialized` (a nested operation does not wait for itself).
    @TaskLocal static var insideGate = false

    /// Whether a node holds `town`'s lock (`.gt/node.lock`, taken by the node before the store's and kept for its
    /// life), tested with a non-blocking shared `flock` taken and dropped at once (the node retries its exclusive
    /// lock briefly, so the probe never makes a starting node fail).
    public static func nodeHoldsLock(_ town: TownPaths) -> Bool { TownLayout(root: town.root).nodeHoldsLock }

    /// The handle the node's command executor sets around a command it runs for the CLI, so the command's
    /// ledger code (bd's `withLedger`, the town workflow) uses the held store instead of opening it.
    @TaskLocal public static var current: NodeLedgerHandle?

    public init() {}

    /// The open store, or nil.
    public var database: LedgerDatabase? { lock.withLock { current } }

    /// Why the store is not open (the last open's error), if it failed.
    public var lastError: String? { lock.withLock { failure } }

    /// Sets (or clears) the held store and wakes waiters.
    func set(_ database: LedgerDatabase?, error: String? = nil) {
        let woken: [CheckedContinuation<Void, Never>] = lock.withLock {
            current = database
            failure = error
            guard database != nil else { return [] }
            defer { waiters = [:] }
            return Array(waiters.values)
        }
        for waiter in woken { waiter.resume() }
    }

    /// The held store, waiting up to `timeout` seconds for it to open; nil when it did not.
    public func waitForDatabase(timeout: TimeInterval) async -> LedgerDatabase? {
        if let database { return database }
        let key = UUID()
        // Cancellation (the node stopping while a component starts) ends the wait at once: without it a stopping
        // node waited out the whole timeout in a component whose ledger never opened.
        let drop: @Sendable () -> Void = {
            let waiter = self.lock.withLock { self.waiters.removeValue(forKey: key) }
            waiter?.resume()
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready: Bool = lock.withLock {
                    if current != nil { return true }
                    waiters[key] = continuation
                    return false
                }
                if ready {
                    continuation.resume()
                    return
                }
                // Cancelled before the waiter was registered: the handler found nothing to drop.
                if Task.isCancelled {
                    drop()
                    return
                }
                Task {
                    try? await Task.sleep(nanoseconds: UInt64(max(0, timeout) * 1e9))
                    drop()
                }
            }
        } onCancel: {
            drop()
        }
        return database
    }

    /// Runs `body` as the only workflow operation of the node at a time (FIFO); reentrant within one task tree.
    public func serialized<T>(_ body: () async throws -> T) async rethrows -> T {
        if Self.insideGate { return try await body() }
        await acquireGate()
        defer { releaseGate() }
        return try await Self.$insideGate.withValue(true) { try await body() }
    }

    private func acquireGate() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted: Bool = lock.withLock {
                if !gateHeld {
                    gateHeld = true
                    return true
                }
                gateQueue.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    private func releaseGate() {
        let next: CheckedContinuation<Void, Never>? = lock.withLock {
            if gateQueue.isEmpty {
                gateHeld = false
                return nil
            }
            return gateQueue.removeFirst()
        }
        next?.resume()
    }
}

extension NodeLedgerHandle: HeldTownLedger {
    /// Tells every observer (`observeWork`) that work was filed in `scopes` (a `gt done` run in the node filed a
    /// merge request, `gt mq retry` queued one again).
    public func workFiled(scopes: [String]) { notify(.filed(scopes: scopes)) }
}

/// What changed in the held ledger, for the parts of the node that wake on it (the Refinery). `Sendable`: a plain
/// value.
public enum NodeLedgerChange: Sendable, Equatable {
    /// This node's workflow filed work in these scopes (a merge request).
    case filed(scopes: [String])
    /// A ledger sync merged in beads other nodes changed, in these scopes.
    case synced(scopes: [String])
}

extension NodeLedgerHandle {
    /// Calls `observer` (on whatever thread notifies; keep it short and hand off to a task) for every change
    /// reported from now on, until the node stops.
    public func observeWork(_ observer: @escaping @Sendable (NodeLedgerChange) -> Void) {
        lock.withLock { observers.append(observer) }
    }

    /// A ledger sync merged in beads changed elsewhere, in `scopes`.
    public func synced(scopes: [String]) {
        guard !scopes.isEmpty else { return }
        notify(.synced(scopes: scopes))
    }

    func notify(_ change: NodeLedgerChange) {
        let list = lock.withLock { observers }
        for observer in list { observer(change) }
    }
}

extension NodeLedgerHandle: LedgerDatabaseSource {
    /// The store the ledger actor holds, for the sync loop (nil until it is open).
    public func heldLedgerDatabase() async -> LedgerDatabase? { database }
}
