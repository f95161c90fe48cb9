import Foundation
import Testing

@testable import Git

/// A counter shared between threads (the git threads and the pool).
final class SharedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func add(_ delta: Int) { lock.withLock { value += delta } }
    var current: Int { lock.withLock { value } }
}

@Suite struct GitExecutorTests {
    /// Three repositories block their git threads at once (more than the 2 threads of the cooperative pool); a task
    /// on the pool must keep running meanwhile. Were git work run on the pool, the pool would be starved and the
    /// counter would see no iteration while all three block.
    @Test func blockingGitWorkLeavesTheCooperativePoolFree() async throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        var repositories: [GitRepository] = []
        for index in 0..<3 {
            repositories.append(try await GitRepository.create(at: temp.sub("r\(index)"), bare: true))
        }
        let blocking = SharedCounter()
        let finished = SharedCounter()
        let iterationsWhileBlocked = SharedCounter()
        let counter = Task {
            while finished.current < 3 {
                if blocking.current == 3 { iterationsWhileBlocked.add(1) }
                await Task.yield()
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for repository in repositories {
                group.addTask {
                    await repository.runOnGitThread {
                        blocking.add(1)
                        // Block the git thread until the pool task has demonstrably run, or give up after 10 s.
                        let deadline = Date().addingTimeInterval(10)
                        while iterationsWhileBlocked.current < 1_000 && Date() < deadline { usleep(1_000) }
                        blocking.add(-1)
                    }
                    finished.add(1)
                }
            }
        }
        await counter.value
        #expect(iterationsWhileBlocked.current >= 1_000)
    }

    @Test func actorMethodsRunOnTheRepositoryThread() async throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let repository = try await GitRepository.create(at: temp.sub("r"), bare: true)
        let executor = repository.executor
        let onThread = await repository.runOnGitThread { executor.isCurrent }
        #expect(onThread)
        #expect(executor.isCurrent == false)
        let other = try await GitRepository.open(at: temp.sub("r"))
        #expect(other.executor !== repository.executor)
        let value = try await executor.perform { () throws(GitError) -> Int in
            guard executor.isCurrent else {
                throw GitError(.other, operation: "perform", repository: "-", message: "not on the git thread")
            }
            return 42
        }
        #expect(value == 42)
    }
}
