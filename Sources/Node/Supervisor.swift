import Foundation

/// Restart policy of supervised components: capped exponential backoff, reset after a healthy run.
///
/// `Sendable` because it is a plain value.
public struct SupervisorSettings: Sendable, Equatable {
    /// Delay before the first restart. Default 100 ms.
    public var initialBackoff: TimeInterval = 0.1
    /// Each further consecutive failure multiplies the delay by this. Default 2.
    public var multiplier: Double = 2
    /// The delay never exceeds this. Default 30 s.
    public var maxBackoff: TimeInterval = 30
    /// A run that lasted at least this long before failing counts as healthy: the next restart starts again
    /// from `initialBackoff`. Default 60 s.
    public var resetAfter: TimeInterval = 60

    public init() {}

    /// The delay before restart number `failures` (1 = after the first failure).
    public func delay(afterConsecutiveFailures failures: Int) -> TimeInterval {
        guard failures > 0 else { return 0 }
        return min(maxBackoff, initialBackoff * pow(multiplier, Double(min(failures - 1, 60))))
    }
}

/// Where the supervisor reads time and waits. The daemon uses `MonotonicClock`; tests inject a manual clock so
/// restarts are deterministic.
///
/// Implementations must be `Sendable`: the supervisor calls them from its own isolation.
public protocol SupervisorClock: Sendable {
    /// Seconds on a monotonic scale.
    func now() -> TimeInterval
    /// Returns after `seconds`, or throws `CancellationError` when the calling task is cancelled.
    func sleep(seconds: TimeInterval) async throws
}

/// The real clock: `DispatchTime` uptime and `Task.sleep`.
///
/// `Sendable`: stateless.
public struct MonotonicClock: SupervisorClock {
    public init() {}
    public func now() -> TimeInterval { TimeInterval(DispatchTime.now().uptimeNanoseconds) / 1e9 }
    public func sleep(seconds: TimeInterval) async throws {
        try await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1e9))
    }
}

/// What the supervisor reports about its children (to the node log, the events file, and tests).
///
/// `Sendable` because it is a plain value.
public enum SupervisorEvent: Sendable, Equatable {
    /// Child `name` is being started; `attempt` counts from 1.
    case starting(name: String, attempt: Int, at: TimeInterval)
    /// Child `name` failed with `error`; it restarts after `restartIn` seconds.
    case failed(name: String, error: String, at: TimeInterval, restartIn: TimeInterval)
    /// Child `name` returned on its own: it is done and not restarted.
    case finished(name: String, at: TimeInterval)
    /// Child `name` was stopped by the supervisor.
    case stopped(name: String, at: TimeInterval)
    /// Child `name` failed with `error` and its policy (the Deacon) gave it up: it is not restarted.
    case gaveUp(name: String, error: String, at: TimeInterval)
}

/// What a `SupervisorPolicy` decides about a child that failed.
///
/// `Sendable` because it is a plain value.
public enum SupervisorDecision: Sendable, Equatable {
    /// Start it again after this many seconds.
    case restart(after: TimeInterval)
    /// Do not start it again (the policy reports why, loudly).
    case giveUp
}

/// Who decides restarts when one is set (the node's Deacon, driving `DeaconCore`): told of every start, asked
/// at every failure. Without a policy the supervisor restarts forever with `SupervisorSettings`' backoff.
///
/// Must be `Sendable`: the supervisor calls it from its own isolation. Times are the supervisor clock's.
public protocol SupervisorPolicy: Sendable {
    /// Child `name` (re)started at `at`.
    func childStarted(_ name: String, at: TimeInterval) async
    /// Child `name` failed with `error` at `at`: restart it after a delay, or give it up.
    func childFailed(_ name: String, error: String, at: TimeInterval) async -> SupervisorDecision
}

/// Runs children (the node's components) and restarts each with backoff when it fails.
///
/// A child is a body that runs until cancelled; throwing is a failure, after which `cleanup` runs and the body
/// is started again after `SupervisorSettings.delay`, or, when a `SupervisorPolicy` is set (the Deacon), after
/// the delay it decides, or never when it gives the child up. A body that returns is finished. `stopAll` cancels
/// every child and waits for its cleanup. An actor: the children table is isolated.
public actor Supervisor {
    /// The state of one child.
    public enum ChildState: Sendable, Equatable {
        case running
        case waitingToRestart(until: TimeInterval)
        case finished
        case stopped
        /// Failed too often; the policy gave it up (not restarted).
        case gaveUp
    }

    /// What `status` reports per child.
    public struct ChildStatus: Sendable, Equatable {
        public var name: String
        public var state: ChildState
        /// Failures so far (all time).
        public var failures: Int
        public var lastError: String?
    }

    public nonisolated let settings: SupervisorSettings
    nonisolated let clock: any SupervisorClock
    nonisolated let onEvent: @Sendable (SupervisorEvent) -> Void
    private var tasks: [String: Task<Void, Never>] = [:]
    private var statuses: [String: ChildStatus] = [:]
    private var order: [String] = []
    private var policy: (any SupervisorPolicy)?

    public init(
        settings: SupervisorSettings = SupervisorSettings(), clock: any SupervisorClock = MonotonicClock(),
        onEvent: @escaping @Sendable (SupervisorEvent) -> Void = { _ in }
    ) {
        self.settings = settings
        self.clock = clock
        self.onEvent = onEvent
    }

    /// Starts supervising `body` under `name` (names are unique; a second child of the same name is refused).
    /// `cleanup` runs after each failure and when the child is stopped.
    @discardableResult
    public func supervise(
        _ name: String, body: @escaping @Sendable () async throws -> Void,
        cleanup: @escaping @Sendable () async -> Void = {}
    ) -> Bool {
        guard tasks[name] == nil else { return false }
        order.append(name)
        statuses[name] = ChildStatus(name: name, state: .running, failures: 0, lastError: nil)
        tasks[name] = Task { [weak self] in
            guard let self else { return }
            await self.loop(name, body: body, cleanup: cleanup)
        }
        return true
    }

    /// Sets (or replaces: the Node restarting a stale Deacon) the policy asked at every failure; nil: restart
    /// forever with `settings`' backoff.
    public func setPolicy(_ policy: (any SupervisorPolicy)?) { self.policy = policy }

    /// Every child's status, in the order they were added.
    public func status() -> [ChildStatus] { order.compactMap { statuses[$0] } }

    /// Cancels every child (in reverse order of addition) and waits for each to finish its cleanup.
    public func stopAll() async {
        for name in order.reversed() {
            guard let task = tasks[name] else { continue }
            task.cancel()
            await task.value
        }
    }

    private func set(_ name: String, _ change: (inout ChildStatus) -> Void) {
        if var status = statuses[name] {
            change(&status)
            statuses[name] = status
        }
    }

    private func loop(
        _ name: String, body: @escaping @Sendable () async throws -> Void, cleanup: @escaping @Sendable () async -> Void
    ) async {
        var attempt = 0
        var consecutive = 0
        while !Task.isCancelled {
            attempt += 1
            let started = clock.now()
            set(name) { $0.state = .running }
            onEvent(.starting(name: name, attempt: attempt, at: started))
            await policy?.childStarted(name, at: started)
            do {
                try await body()
                await cleanup()
                if Task.isCancelled { break }
                set(name) { $0.state = .finished }
                onEvent(.finished(name: name, at: clock.now()))
                return
            } catch {
                await cleanup()
                if Task.isCancelled { break }
                let now = clock.now()
                consecutive = now - started >= settings.resetAfter ? 1 : consecutive + 1
                var delay = settings.delay(afterConsecutiveFailures: consecutive)
                let text = String(describing: error)
                if let policy {
                    switch await policy.childFailed(name, error: text, at: now) {
                    case .restart(let after): delay = after
                    case .giveUp:
                        set(name) {
                            $0.failures += 1
                            $0.lastError = text
                            $0.state = .gaveUp
                        }
                        onEvent(.gaveUp(name: name, error: text, at: now))
                        return
                    }
                }
                set(name) {
                    $0.failures += 1
                    $0.lastError = text
                    $0.state = .waitingToRestart(until: now + delay)
                }
                onEvent(.failed(name: name, error: text, at: now, restartIn: delay))
                do { try await clock.sleep(seconds: delay) } catch { break }
            }
        }
        set(name) { $0.state = .stopped }
        onEvent(.stopped(name: name, at: clock.now()))
    }
}
