import Foundation
import Testing

@testable import LedgerStore

#if canImport(Glibc)
    import Glibc
#endif

/// Tests with real child processes (`gt-testhelper`): the one-writer lock across processes, and kill -9 while
/// appending. Children are always killed by pid in a `defer`.
@Suite(.serialized) struct MultiProcessTests {
    @Test func helperIsBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: Child.helperPath), "build gt-testhelper first")
    }

    @Test func secondProcessIsRefusedWhileTheLockIsHeld() async throws {
        try await withTemporaryDirectory { dir in
            let holder = try Child(["hold", dir])
            defer { holder.kill() }
            let locked = try await holder.waitForLine(prefix: "locked ")
            #expect(locked == "locked \(holder.pid)")

            // In this process: refused at once, naming the holder's pid and command.
            do throws(StoreError) {
                _ = try await DurableStore<OpaqueRecordLog>.open(StoreLayout(directory: dir), settings: settings())
                Issue.record("opened a store another process holds")
            } catch {
                guard case .locked(_, let holderText, _) = error else {
                    Issue.record("expected .locked, got \(error)")
                    return
                }
                #expect(holderText.hasPrefix("pid=\(holder.pid) command="))
                #expect(holderText.contains("gt-testhelper hold"))
            }

            // In another process: the same clear error and a failing exit status.
            let second = try Child(["open", dir, "100"])
            defer { second.kill() }
            #expect(await second.waitForExit() == 3)
            try await second.drain()
            let message = second.lines.first ?? ""
            #expect(message.hasPrefix("error: the ledger store lock"))
            #expect(message.contains("pid=\(holder.pid)"))

            // Once the holder exits, a new opener gets the store.
            holder.closeStdin()
            #expect(await holder.waitForExit() == 0)
            let third = try Child(["open", dir, "0"])
            defer { third.kill() }
            #expect(await third.waitForExit() == 0)
            try await third.drain()
            #expect(third.lines == ["opened 0"])
        }
    }

    @Test func openerWaitsForTheHolderWithinItsBound() async throws {
        try await withTemporaryDirectory { dir in
            let holder = try Child(["hold", dir])
            defer { holder.kill() }
            #expect(try await holder.waitForLine(prefix: "locked ") != nil)
            let opened = OpenFlag()
            let opener = Task {
                let store = try await DurableStore<OpaqueRecordLog>.open(
                    StoreLayout(directory: dir), settings: settings(lockWait: .seconds(30)))
                opened.set()
                await store.closeAsync()
            }
            try await Task.sleep(for: .milliseconds(300))
            #expect(!opened.isSet, "opened while another process held the lock")
            holder.kill()
            _ = await holder.waitForExit()
            try await opener.value
            #expect(opened.isSet)
        }
    }

    /// kill -9 a child appending in a loop at seeded random moments: every record it printed (printed only after
    /// its append returned) is in the store afterwards, in order, and the store opens cleanly each time.
    @Test(arguments: [("append-loop", 101), ("append-loop", 202), ("append-tasks", 303), ("append-tasks", 404)])
    func killDuringAppendsLosesNoAcknowledgedRecord(mode: String, seed: UInt64) async throws {
        try await withTemporaryDirectory { dir in
            var random = SeededGenerator(seed: seed)
            let layout = StoreLayout(directory: dir)
            var acknowledged: [String] = []
            for round in 0..<6 {
                let child = try Child([mode, dir, "s\(seed)r\(round)"])
                defer { child.kill() }
                #expect(try await child.waitForLine(prefix: "s\(seed)r\(round)-") != nil)
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...250, using: &random)))
                child.kill()
                #expect(
                    await child.waitForExit() == 128 + SIGKILL || child.process.terminationReason == .uncaughtSignal)
                try await child.drain()
                let printed = child.lines
                #expect(!printed.contains { $0.hasPrefix("error") }, "\(printed.filter { $0.hasPrefix("error") })")
                acknowledged += printed

                let store = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
                let stored = store.read(texts)
                await store.closeAsync()
                let storedSet = Set(stored)
                let missing = acknowledged.filter { !storedSet.contains($0) }
                #expect(missing.isEmpty, "acknowledged records missing after kill -9 (seed \(seed)): \(missing)")
                // Each writer's own records are in the order it wrote them.
                let byWriter = Dictionary(grouping: stored) {
                    $0.split(separator: "-").dropLast().joined(separator: "-")
                }
                for (_, names) in byWriter {
                    let numbers = names.compactMap { Int($0.split(separator: "-").last ?? "") }
                    #expect(numbers == numbers.sorted())
                }
                #expect(Set(stored).count == stored.count, "a record was stored twice")
            }
            #expect(acknowledged.count >= 6)
        }
    }
}

/// A flag set from one task and read from another. `@unchecked Sendable`: guarded by `lock`.
final class OpenFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
