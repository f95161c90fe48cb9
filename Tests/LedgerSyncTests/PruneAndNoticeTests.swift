import Beads
import Foundation
import GasTownTestKit
import Git
import LedgerStore
import Testing

/// Boxes for values set from `@Sendable` hooks. `@unchecked Sendable`: guarded by `lock`.
final class Recorder<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []
    func append(_ item: T) {
        lock.lock()
        items.append(item)
        lock.unlock()
    }
    var all: [T] {
        lock.lock()
        defer { lock.unlock() }
        return items
    }
}

@Suite struct SyncPruneTests {
    static func future(days: Int64) -> SyncSettings {
        var s = TestReplica.fastSettings
        let offset = days * 24 * 3_600 * 1_000_000_000
        s.wallClockNanos = { LedgerDatabaseSettings.systemWallClock() + offset }
        return s
    }

    /// A tombstone is pruned only once every live replica has merged past it; a replica silent for longer than
    /// the horizon no longer holds pruning back.
    @Test func tombstonesArePrunedOnlyBehindTheOldestLiveReplica() async throws {
        let remote = try await TestRemote()
        let a = try TestReplica(name: "a", remote: remote.path)
        let b = try TestReplica(name: "b", remote: remote.path)
        let c = try TestReplica(name: "c", remote: remote.path)
        defer { for r in [a, b, c] { r.close() } }
        let later = SyncPruneTests.future(days: 15)
        let (a2, b2, c2) = (
            LedgerSync(layout: a.layout, settings: later), LedgerSync(layout: b.layout, settings: later),
            LedgerSync(layout: c.layout, settings: later)
        )
        let x = try await a.create("to delete")
        let y = try await a.create("kept")
        try await a.sync()
        // c merges before the delete and says so (live: its line is fresh on the later clock).
        _ = try await c2.sync(c.db)
        _ = try await c.create("c was here")
        _ = try await c2.sync(c.db)
        _ = try await a.change(.delete(id: x, reason: "obsolete")).get()
        _ = try await a.change(.update(id: y, fields: [.notes("after the delete")])).get()
        try await a.sync()
        _ = try await b2.sync(b.db)
        _ = try await b.create("b was here")
        _ = try await b2.sync(b.db)
        _ = try await a.create("a again")
        let held = try await a2.sync(a.db)
        #expect(held.scopes.first?.pruned == 0)
        #expect(a.ledger.beads[x]?.status == .tombstone, "c has not merged the delete: kept")
        _ = try await c2.sync(c.db)
        _ = try await c.create("c merged the delete")
        _ = try await c2.sync(c.db)
        _ = try await a.create("a once more")
        let pruned = try await a2.sync(a.db)
        #expect(pruned.scopes.first?.pruned == 1)
        #expect(a.ledger.beads[x] == nil)
        #expect(!(try await remote.file("issues.jsonl")).contains(x))
        // The others prune it too when they merge, and all converge.
        _ = try await b2.sync(b.db)
        _ = try await c2.sync(c.db)
        _ = try await a2.sync(a.db)
        #expect(b.ledger.beads[x] == nil && c.ledger.beads[x] == nil)
        #expect(a.exported.issues == b.exported.issues && b.exported.issues == c.exported.issues)
    }
}

@Suite struct NoticeTests {
    /// After a push the hook hears "scope S at commit X"; a peer receiving it fetches at once, and many notices
    /// coalesce into one fetch per interval.
    @Test func pushHookAndCoalescedNotices() async throws {
        let remote = try await TestRemote()
        var slow = TestReplica.fastSettings
        slow.noticeCoalescing = .seconds(30)
        let a = try TestReplica(name: "a", remote: remote.path)
        let b = try TestReplica(name: "b", remote: remote.path, settings: slow)
        defer {
            a.close()
            b.close()
        }
        let heard = Recorder<(String, GitOID)>()
        await a.engine.setPushHook { scope, commit in heard.append((scope, commit)) }
        let x = try await a.create("announced")
        let report = try await a.sync()
        #expect(heard.all.map(\.0) == ["t"])
        #expect(heard.all.first?.1 == report.scopes.first?.commit)
        let commit = try #require(heard.all.first?.1)
        #expect(await b.engine.receiveNotice(scope: "t", commit: commit, database: b.db))
        await b.engine.settleNotices()
        #expect(b.ledger.bead(x) != nil)
        // Known commit: nothing scheduled. Then a burst: one sync scheduled (30 s later), the rest coalesced.
        #expect(await b.engine.receiveNotice(scope: "t", commit: commit, database: b.db) == false)
        _ = try await a.create("second")
        try await a.sync()
        let second = try #require(heard.all.last?.1)
        #expect(await b.engine.receiveNotice(scope: "t", commit: second, database: b.db))
        for _ in 0..<10 { #expect(await b.engine.receiveNotice(scope: "t", commit: second, database: b.db) == false) }
        await b.engine.cancelNotices()
    }
}

@Suite struct SyncCommandTests {
    /// `bd remote add/list/remove`, `bd sync`, `bd sync --status`, and `bd sync --watch` stopping on SIGTERM.
    @Test func commandsAndTheWatchLoop() async throws {
        let bd = try BuiltBinaries.path(of: .bd)
        let remote = try await TestRemote()
        let a = try TempDir(prefix: "gt-sync-cmd")
        #expect(try await BuiltBinaries.run(.bd, ["-C", a.path, "init", "--prefix", "t"]).status == 0)
        let none = try await BuiltBinaries.run(.bd, ["-C", a.path, "sync"])
        #expect(none.status != 0 && none.stderr.contains("bd remote add"), "\(none)")
        #expect(try await BuiltBinaries.run(.bd, ["-C", a.path, "remote", "add", "origin", remote.path]).status == 0)
        let dup = try await BuiltBinaries.run(.bd, ["-C", a.path, "remote", "add", "origin", remote.path])
        #expect(dup.status != 0 && dup.stderr.contains("already exists"), "\(dup)")
        let list = try await BuiltBinaries.run(.bd, ["-C", a.path, "remote", "list"])
        #expect(list.stdout.contains("origin\t\(remote.path)"), "\(list)")
        _ = try await BuiltBinaries.run(.bd, ["-C", a.path, "create", "one", "--silent"])
        let synced = try await BuiltBinaries.run(.bd, ["-C", a.path, "sync"])
        #expect(synced.status == 0 && synced.stdout.contains("sent 1"), "\(synced)")
        let status = try await BuiltBinaries.run(.bd, ["-C", a.path, "sync", "--status"])
        #expect(status.stdout.contains("no local changes"), "\(status)")
        _ = try await BuiltBinaries.run(.bd, ["-C", a.path, "create", "two", "--silent"])
        let dirty = try await BuiltBinaries.run(.bd, ["-C", a.path, "sync", "--status"])
        #expect(dirty.stdout.contains("1 bead(s) changed"), "\(dirty)")
        // The watch loop pushes the change, then stops cleanly on SIGTERM.
        let pids = Recorder<pid_t>()
        async let watched = KillableProcess.run(
            executable: bd, ["-C", a.path, "sync", "--watch", "--interval", "200ms"], output: a.join("watch.out"),
            killAfterMillis: nil, started: { pids.append($0) })
        var pushed = false
        for _ in 0..<100 where !pushed {
            try await Task.sleep(for: .milliseconds(100))
            pushed = (try? await remote.file("issues.jsonl"))?.contains("\"two\"") ?? false
        }
        #expect(pushed)
        let pid = try #require(pids.all.first)
        kill(pid, SIGTERM)
        let result = try await watched
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("Stopped."), "\(result.output)")
        // init --remote with an unreachable remote fails and leaves no store behind.
        let fresh = try TempDir(prefix: "gt-sync-cmd-init")
        let failed = try await BuiltBinaries.run(
            .bd, ["-C", fresh.path, "init", "--remote", "https://127.0.0.1:1/x.git"])
        #expect(failed.status != 0 && failed.stderr.contains("cannot reach remote origin"), "\(failed)")
        #expect(!FileManager.default.fileExists(atPath: fresh.path + "/.beads"))
        #expect(try await BuiltBinaries.run(.bd, ["-C", a.path, "remote", "remove", "origin"]).status == 0)
        let gone = try await BuiltBinaries.run(.bd, ["-C", a.path, "remote", "list"])
        #expect(gone.stdout.contains("No remotes"), "\(gone)")
    }
}
