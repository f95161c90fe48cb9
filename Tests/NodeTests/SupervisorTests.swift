import Foundation
import Node
import Testing

/// A clock the test moves by hand: `sleep` suspends until `advance` passes its deadline.
final class ManualClock: SupervisorClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: TimeInterval = 0
    private var nextID = 0
    private var sleepers: [Int: (deadline: TimeInterval, continuation: CheckedContinuation<Void, Error>)] = [:]

    func now() -> TimeInterval { lock.withLock { current } }

    var sleeping: Int { lock.withLock { sleepers.count } }

    func sleep(seconds: TimeInterval) async throws {
        let id: Int = lock.withLock {
            nextID += 1
            return nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                let cancelled: Bool = lock.withLock {
                    if Task.isCancelled { return true }
                    sleepers[id] = (current + seconds, continuation)
                    return false
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            let sleeper = lock.withLock { sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward (with 1 ns of slack for rounding) and wakes every sleeper whose deadline passed.
    func advance(by seconds: TimeInterval) {
        let due: [CheckedContinuation<Void, Error>] = lock.withLock {
            current += seconds
            let ready = sleepers.filter { $0.value.deadline <= current + 1e-9 }
            for id in ready.keys { sleepers[id] = nil }
            return ready.values.map(\.continuation)
        }
        for continuation in due { continuation.resume() }
    }
}

/// Collects supervisor events.
final class EventSink: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [SupervisorEvent] = []
    func add(_ event: SupervisorEvent) { lock.withLock { events.append(event) } }
    var all: [SupervisorEvent] { lock.withLock { events } }
    var failures: [SupervisorEvent] { all.filter { if case .failed = $0 { true } else { false } } }
}

/// Counts calls and fails a scripted number of times.
final class Flaky: @unchecked Sendable {
    struct Boom: Error, CustomStringConvertible { var description: String { "boom" } }
    private let lock = NSLock()
    private var runs = 0
    private var cleanups = 0
    let failFirst: Int
    init(failFirst: Int) { self.failFirst = failFirst }
    func run() throws -> Int {
        try lock.withLock {
            runs += 1
            if runs <= failFirst { throw Boom() }
            return runs
        }
    }
    func cleanup() { lock.withLock { cleanups += 1 } }
    var counts: (runs: Int, cleanups: Int) { lock.withLock { (runs, cleanups) } }
}

func settle(_ condition: () async -> Bool) async -> Bool {
    for _ in 0..<2000 {
        if await condition() { return true }
        await Task.yield()
        try? await Task.sleep(nanoseconds: 1_000_000)
    }
    return await condition()
}

struct SupervisorTests {
    @Test func backoffDoublesUpToTheCap() {
        var settings = SupervisorSettings()
        settings.initialBackoff = 0.1
        settings.multiplier = 2
        settings.maxBackoff = 1
        #expect(settings.delay(afterConsecutiveFailures: 0) == 0)
        #expect(settings.delay(afterConsecutiveFailures: 1) == 0.1)
        #expect(abs(settings.delay(afterConsecutiveFailures: 3) - 0.4) < 1e-9)
        #expect(settings.delay(afterConsecutiveFailures: 5) == 1)
        #expect(settings.delay(afterConsecutiveFailures: 10_000) == 1)
    }

    @Test func failingChildIsRestartedWithBackoff() async throws {
        let clock = ManualClock()
        let sink = EventSink()
        let flaky = Flaky(failFirst: 3)
        let supervisor = Supervisor(clock: clock, onEvent: sink.add)
        await supervisor.supervise(
            "flaky",
            body: {
                _ = try flaky.run()
                try await clock.sleep(seconds: 1_000_000)
            }, cleanup: { flaky.cleanup() })

        // Each failure waits for the backoff on the injected clock before the next start.
        var expectedDelays: [TimeInterval] = []
        for failure in 1...3 {
            #expect(await settle { sink.failures.count == failure && clock.sleeping == 1 })
            #expect(flaky.counts.runs == failure)
            let status = await supervisor.status()[0]
            #expect(status.failures == failure)
            #expect(status.lastError == "boom")
            let delay = SupervisorSettings().delay(afterConsecutiveFailures: failure)
            expectedDelays.append(delay)
            clock.advance(by: delay / 2)
            #expect(flaky.counts.runs == failure, "not restarted before its backoff")
            clock.advance(by: delay / 2)
        }
        #expect(await settle { flaky.counts.runs == 4 && clock.sleeping == 1 })
        let delays = sink.failures.compactMap { event -> TimeInterval? in
            if case .failed(_, _, _, let restartIn) = event { return restartIn }
            return nil
        }
        #expect(delays == expectedDelays)
        #expect(expectedDelays == [0.1, 0.2, 0.4])
        #expect(await supervisor.status()[0].state == .running)
        #expect(flaky.counts.cleanups == 3)

        await supervisor.stopAll()
        #expect(flaky.counts.cleanups == 4)
        #expect(await supervisor.status()[0].state == .stopped)
        #expect(sink.failures.count == 3, "a stop is not a failure")
    }

    @Test func aHealthyRunResetsTheBackoff() async throws {
        let clock = ManualClock()
        let sink = EventSink()
        var settings = SupervisorSettings()
        settings.resetAfter = 60
        let supervisor = Supervisor(settings: settings, clock: clock, onEvent: sink.add)
        let runs = Flaky(failFirst: 0)
        await supervisor.supervise("worker") {
            let run = try runs.run()
            // Runs 1 and 2 fail at once; run 3 fails after 100 s (healthy); run 4 fails at once.
            if run == 3 { try await clock.sleep(seconds: 100) }
            if run <= 4 { throw Flaky.Boom() }
            try await clock.sleep(seconds: 1_000_000)
        }
        func delays() -> [TimeInterval] {
            sink.failures.compactMap { if case .failed(_, _, _, let delay) = $0 { delay } else { nil } }
        }
        #expect(await settle { delays().count == 1 && clock.sleeping == 1 })
        clock.advance(by: 0.1)
        #expect(await settle { delays().count == 2 && clock.sleeping == 1 })
        clock.advance(by: 0.2)
        #expect(await settle { runs.counts.runs == 3 && clock.sleeping == 1 })
        clock.advance(by: 100)
        #expect(await settle { delays().count == 3 && clock.sleeping == 1 })
        clock.advance(by: 0.1)
        #expect(await settle { delays().count == 4 && clock.sleeping == 1 })
        #expect(delays() == [0.1, 0.2, 0.1, 0.2])
        await supervisor.stopAll()
        #expect(await supervisor.status()[0].state == .stopped)
    }

    @Test func aChildThatReturnsIsFinishedNotRestarted() async throws {
        let sink = EventSink()
        let supervisor = Supervisor(clock: ManualClock(), onEvent: sink.add)
        let runs = Flaky(failFirst: 0)
        #expect(await supervisor.supervise("once") { _ = try runs.run() })
        #expect(await !supervisor.supervise("once") {})
        #expect(await settle { await supervisor.status().first?.state == .finished })
        #expect(runs.counts.runs == 1)
        await supervisor.stopAll()
        #expect(!sink.all.contains { if case .failed = $0 { true } else { false } })
    }
}

/// The benchmark functions run (small counts) and return a positive figure; no timing is asserted.
struct NodeBenchmarkSmokeTests {
    @Test func benchmarksRun() async throws {
        #expect(try await NodeBenchmarks.localStatusRoundTrips(count: 20) > 0)
        #expect(try await NodeBenchmarks.startMilliseconds(runs: 2) > 0)
    }
}
