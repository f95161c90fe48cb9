import CShims
import Foundation

/// A `SerialExecutor` backed by one dedicated `Thread`, so that the jobs it runs (every libgit2 call, including
/// blocking network and disk work) never occupy a thread of Swift's cooperative pool.
///
/// Jobs run one at a time, in the order they were enqueued, on the executor's own thread. The thread lives as long
/// as the executor: when the last reference to the executor goes away the thread drains its queue and exits.
///
/// Sendable: yes. The only mutable state is the job queue, guarded by an `NSCondition`.
public final class GitThreadExecutor: SerialExecutor, @unchecked Sendable {
    /// The shared state between the executor and its thread. The thread holds this, not the executor, so the
    /// executor can be released (and the thread told to stop) while the thread is still running.
    private enum Work {
        case job(UnownedJob)
        case closure(() -> Void)
    }

    private final class Queue: @unchecked Sendable {
        let condition = NSCondition()
        var jobs: [Work] = []
        var stopping = false
        var thread: Thread?
    }

    private let queue = Queue()
    /// The name given to the backing thread (its first 15 bytes show in debuggers, crash reports and `ps -L`).
    public let name: String

    /// Starts the backing thread.
    /// - Parameters:
    ///   - name: the thread's name, e.g. `"gt.git open /srv/ledger/repo"`.
    ///   - stackSize: the thread's stack size in bytes (see `GitSettings.threadStackSize`).
    public init(name: String = "gt.git", stackSize: Int = GitSettings().threadStackSize) {
        self.name = name
        let queue = self.queue
        let unownedSelf = UnownedSerialExecutor(ordinary: self)
        let thread = Thread { [queue] in
            GitThreadExecutor.runLoop(queue, unownedSelf, name)
        }
        thread.name = name
        thread.stackSize = stackSize
        queue.thread = thread
        thread.start()
    }

    deinit {
        queue.condition.lock()
        queue.stopping = true
        queue.condition.signal()
        queue.condition.unlock()
    }

    /// Queues a job; it runs on the executor's thread after the jobs queued before it.
    public func enqueue(_ job: consuming ExecutorJob) {
        submit(.job(UnownedJob(job)))
    }

    private func submit(_ work: Work) {
        queue.condition.lock()
        queue.jobs.append(work)
        queue.condition.signal()
        queue.condition.unlock()
    }

    /// Runs `body` on the executor's thread (after the work queued before it) and returns its result to the
    /// awaiting caller, whose own thread is free meanwhile. Use it for work that is not tied to an actor, such as
    /// opening a repository before its actor exists.
    public func perform<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            submit(
                .closure {
                    do throws(E) {
                        continuation.resume(returning: .success(try body()))
                    } catch {
                        continuation.resume(returning: .failure(error))
                    }
                })
        }
        return try result.get()
    }

    /// Whether the calling code runs on this executor's thread.
    public var isCurrent: Bool {
        queue.condition.lock()
        defer { queue.condition.unlock() }
        return queue.thread === Thread.current
    }

    /// Crashes (as Swift requires) when called off this executor's thread; lets `assumeIsolated` work.
    public func checkIsolated() {
        precondition(isCurrent, "not on the git executor thread \(name)")
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Names the calling thread for the system (debuggers, crash reports, `ps -L`; the kernel keeps 15 bytes).
    /// Foundation's `Thread.name` is not applied on Linux to a name longer than that: the thread would keep the name
    /// of the pool thread that created it (`com.apple.root.default-qos`), hiding git threads in crash reports.
    private static func setSystemThreadName(_ name: String) {
        _ = gtshim_set_thread_name(name)
    }

    /// The thread's loop. It holds the executor only as an unowned reference: jobs for an actor keep that actor
    /// (and so its executor) alive until they have run, and once the executor is released `stopping` ends the loop.
    private static func runLoop(_ queue: Queue, _ executor: UnownedSerialExecutor, _ name: String) {
        setSystemThreadName(name)
        while true {
            queue.condition.lock()
            while queue.jobs.isEmpty && !queue.stopping {
                queue.condition.wait()
            }
            if queue.jobs.isEmpty && queue.stopping {
                queue.condition.unlock()
                return
            }
            let batch = queue.jobs
            queue.jobs.removeAll(keepingCapacity: true)
            queue.condition.unlock()
            for work in batch {
                switch work {
                case .job(let job): job.runSynchronously(on: executor)
                case .closure(let body): body()
                }
            }
        }
    }
}
