import Beads
import Foundation
import GasTownTestKit
import Git
import LedgerStore
import Node
import Testing
import Transport
import Wire

typealias SyncTown = LoopbackLedgerTown

struct LedgerSyncNodeTests {
    /// Two towns of one cluster, sharing a path remote, with the given loop settings; both synced once and seeing
    /// each other alive.
    func pair(
        _ directory: TempDir, settings: LedgerSyncLoopSettings
    ) async throws -> (a: SyncTown, b: SyncTown) {
        try #require(try await SyncTown.pair(directory, settings: settings), "the two nodes did not join and sync")
    }

    @Test func aBeadWrittenOnOneNodeShowsOnTheOther() async throws {
        let directory = try TempDir(prefix: "gt-syncloop")
        let (a, b) = try await pair(directory, settings: LedgerSyncLoopSettings())
        do {
            let id = try await a.create("written on a")
            #expect(await eventually(15) { b.has(id) }, "the bead never reached b")
            let back = try await b.create("written on b")
            #expect(await eventually(15) { a.has(back) }, "the bead never reached a")
        }
        await b.stop()
        await a.stop()
    }

    @Test func theNoticeCarriesAWriteLongBeforeTheInterval() async throws {
        let directory = try TempDir(prefix: "gt-syncloop-notice")
        var settings = LedgerSyncLoopSettings()
        settings.pathInterval = .seconds(60)
        settings.networkInterval = .seconds(60)
        let (a, b) = try await pair(directory, settings: settings)
        do {
            let noticeSyncsBefore = (await b.status)?.noticeSyncs ?? 0
            let id = try await a.create("noticed")
            // Without the notice b would fetch only after 60 s.
            #expect(await eventually(8) { b.has(id) }, "the bead did not arrive through the notice")
            #expect((await a.status)?.noticesSent ?? 0 >= 1)
            #expect((await b.status)?.noticeSyncs ?? 0 > noticeSyncsBefore)
            // bd sync through the node: a sync that carries a fresh write, answered with its report.
            let second = try await b.create("asked for")
            let reply = try await b.sync.syncNow()
            #expect(reply.errors.isEmpty)
            #expect(reply.scopes.contains { $0.scope == "hq" && $0.remote == "origin" && $0.sent == 1 })
            #expect(await eventually(8) { a.has(second) }, "bd sync's push was not noticed")
            await #expect(throws: ErrorReply.self) { try await b.sync.syncNow(remote: "nope") }
        }
        await b.stop()
        await a.stop()
    }

    @Test func noticesOfCommitsWeHaveDoNotFetch() async throws {
        let directory = try TempDir(prefix: "gt-syncloop-old")
        var settings = LedgerSyncLoopSettings()
        settings.pathInterval = .seconds(60)
        settings.networkInterval = .seconds(60)
        let (a, b) = try await pair(directory, settings: settings)
        do {
            let first = try await a.create("first")
            #expect(await eventually(8) { b.has(first) })
            let older = try #require(await a.status?.commits["hq"])
            let second = try await a.create("second")
            #expect(await eventually(8) { b.has(second) })
            let newest = try #require(await a.status?.commits["hq"])
            #expect(older != newest)
            #expect(await eventually(8) { await b.status?.commits["hq"] == newest })
            let before = try #require(await b.status)
            // An older commit (b's branch is past it) and the current one: ignored, no sync.
            for commit in [older, newest] {
                try await b.sync.receiveNotice(LedgerNotice(scope: "hq", commit: commit, url: "/elsewhere"), from: "a")
            }
            try await Task.sleep(for: .milliseconds(300))
            let after = try #require(await b.status)
            #expect(after.noticesIgnored == before.noticesIgnored + 2)
            #expect(after.syncs == before.syncs && after.noticeSyncs == before.noticeSyncs)
            // A commit b has never seen does fetch.
            let unknown = String(repeating: "5", count: 40)
            try await b.sync.receiveNotice(LedgerNotice(scope: "hq", commit: unknown, url: "/elsewhere"), from: "a")
            #expect(await eventually(8) { (await b.status?.syncs ?? 0) > after.syncs })
            #expect(await b.status?.noticeSyncs == after.noticeSyncs + 1)
        }
        await b.stop()
        await a.stop()
    }

    @Test func bdSyncReachesTheLoopOverTheNodeSocket() async throws {
        let directory = try TempDir(prefix: "gt-syncloop-socket")
        let remote = try await SyncTown.bareRemote(directory)
        var settings = LedgerSyncLoopSettings()
        settings.pathInterval = .seconds(60)
        let a = try await SyncTown(directory, name: "a", remote: remote, settings: settings)
        do {
            let client = try await NodeClient.connect(a.town)
            defer { client.close() }
            #expect(await eventually(10) { (await a.status)?.syncs ?? 0 >= 1 })
            _ = try await a.create("over the socket")
            let reply = try await client.request(
                LedgerSyncMessageType.syncNow, LedgerSyncRequest(), as: LedgerSyncReply.self, timeout: 30)
            #expect(reply.scopes.map(\.sent) == [1])
            let status = try await client.request(
                LedgerSyncMessageType.status, EmptyBody(), as: LedgerSyncStatus.self, timeout: 10)
            #expect(status.ledgerOpen && status.remotes.map(\.name) == ["origin"])
            #expect(status.remotes.first?.commits["hq"] == reply.scopes.first?.commit)
            #expect(status.remotes.first?.intervalSeconds == 60)
            // In-process callers (bd sync run inside the node) find the loop by store, and share its engine.
            #expect(LedgerSyncComponent.running(store: a.layout.root) === a.sync)
            #expect(LedgerSyncComponent.running(store: a.town.root + "/other/.beads") == nil)
            #expect(LedgerSyncComponent.running(store: a.town.root + "/./.beads") === a.sync)
            let engine = try #require(await a.sync.engine())
            #expect(engine.layout.root == a.layout.root)
            // Notices come from peers only; an unknown remote is a clear refusal.
            let notice = NodeJSON.encode(LedgerNotice(scope: "hq", commit: String(repeating: "1", count: 40), url: "x"))
            await #expect(throws: TransportError.self) {
                try await client.requestRaw(LedgerSyncMessageType.notice, body: notice, timeout: 10)
            }
            do {
                _ = try await client.request(
                    LedgerSyncMessageType.syncNow, LedgerSyncRequest(remote: "nope"), as: LedgerSyncReply.self)
                Issue.record("a sync with an unknown remote was accepted")
            } catch {
                #expect("\(error)".contains("no remote named nope"), "\(error)")
            }
            #expect(status.scopes.map(\.scope) == ["hq"] && status.scopes.first?.dirty == false)
            #expect(status.scopes.first?.absorbed == reply.scopes.first?.commit)
            #expect(status.scopes.first?.remotes.map(\.fetched) == [reply.scopes.first?.commit])
        }
        await a.stop()
        #expect(LedgerSyncComponent.running(store: a.layout.root) == nil)
    }

    @Test func aFailingRemoteIsRetriedWithBackoffAndReported() async throws {
        let directory = try TempDir(prefix: "gt-syncloop-fail")
        var settings = LedgerSyncLoopSettings()
        settings.retryBase = .milliseconds(200)
        settings.retryCap = .milliseconds(800)
        let missing = directory.join("not-yet.git")
        let a = try await SyncTown(directory, name: "a", remote: missing, settings: settings)
        do {
            #expect(
                await eventually(10) {
                    let s = await a.status
                    return s?.failures ?? 0 >= 2 && s?.state == "backoff"
                })
            let failing = try #require(await a.status)
            #expect(failing.lastError?.contains("origin") == true, "\(failing.lastError ?? "")")
            #expect(failing.nextRetryAt != nil)
            // Backoff, not a crash loop: the component keeps running, and the retries are spaced.
            try await Task.sleep(for: .seconds(2))
            let later = try #require(await a.status)
            #expect(later.failedSyncs - failing.failedSyncs <= 5, "\(later.failedSyncs) failures in 2 s")
            let client = try await NodeClient.connect(a.town)
            defer { client.close() }
            let node = try await client.request(NodeMessageType.status, EmptyBody(), as: NodeStatus.self)
            #expect(node.components.first { $0.name == "ledger-sync" }?.state == "running")
            #expect(node.components.first { $0.name == "ledger-sync" }?.failures == 0)
            // The remote appears: the next retry succeeds and the status clears.
            _ = try await GitRepository.create(at: missing, bare: true)
            #expect(
                await eventually(10) {
                    let s = await a.status
                    return s?.failures == 0 && s?.lastError == nil && s?.state == "idle" && s?.syncs ?? 0 >= 1
                })
        }
        await a.stop()
    }

    /// The loop finds work through `localWriteCount`: local writes count, refused writes and sync's merges do not.
    @Test func localWriteCountCountsOnlyLocalWrites() async throws {
        let directory = try TempDir(prefix: "gt-syncloop-count")
        let remote = try await SyncTown.bareRemote(directory)
        for name in ["one", "two"] {
            try FileManager.default.createDirectory(atPath: directory.join(name), withIntermediateDirectories: true)
        }
        let (one, two) = try await DedicatedThread.run { () throws(LedgerDatabaseError) in
            (
                try LedgerDatabase.initialize(StoreLayout(directory: directory.join("one")), prefix: "hq"),
                try LedgerDatabase.initialize(StoreLayout(directory: directory.join("two")), prefix: "hq")
            )
        }
        for db in [one, two] { try SyncConfig.add(SyncRemote(name: "origin", url: remote), to: db.layout) }
        #expect(one.localWriteCount == 0)
        let write = { @Sendable (scope: String) async -> Bool in
            await DedicatedThread.run {
                (try? one.write(scope: scope, routing: nil) { ledger, clock throws(LedgerError) in
                    try ledger.prepareCreate(NewBead(title: "x"), actor: "t", stamp: clock.stamp, time: clock.time)
                }) != nil
            }
        }
        #expect(await write("hq"))
        #expect(one.localWriteCount == 1)
        #expect(await write("nope") == false)
        #expect(one.localWriteCount == 1)
        _ = try await LedgerSync(layout: one.layout).sync(one)
        _ = try await LedgerSync(layout: two.layout).sync(two)
        #expect(two.read { $0.scopes["hq"]?.beads.count } == 1)
        #expect(two.localWriteCount == 0 && one.localWriteCount == 1)
        await DedicatedThread.run {
            one.close()
            two.close()
        }
    }

    @Test func noticeDecoderRejectsBadBodiesAndSurvivesRandomInput() throws {
        let good = LedgerNotice(scope: "hq", commit: String(repeating: "ab", count: 20), url: "/srv/ledger.git")
        let bytes = NodeJSON.encode(good)
        #expect(try LedgerNotice.decode(bytes) == good)
        let upper = NodeJSON.encode(LedgerNotice(scope: "hq", commit: String(repeating: "AB", count: 20), url: "x"))
        #expect(try LedgerNotice.decode(upper).commit == String(repeating: "ab", count: 20))
        for bad in [
            LedgerNotice(scope: "", commit: good.commit, url: "x"),
            LedgerNotice(scope: "hq/../x", commit: good.commit, url: "x"),
            LedgerNotice(scope: "hq", commit: "abc", url: "x"),
            LedgerNotice(scope: "hq", commit: String(repeating: "zz", count: 20), url: "x"),
            LedgerNotice(scope: "hq", commit: good.commit, url: ""),
            LedgerNotice(scope: "hq", commit: good.commit, url: String(repeating: "u", count: 5000)),
        ] {
            #expect(throws: ErrorReply.self) { try LedgerNotice.decode(NodeJSON.encode(bad)) }
        }
        #expect(throws: ErrorReply.self) { try LedgerNotice.decode(Array("[]".utf8)) }
        #expect(throws: ErrorReply.self) { try LedgerNotice.decode([]) }
        var rng = SplitMix64(seed: 241)
        for round in 0..<3000 {
            var input = bytes
            if round % 3 == 0 {
                input = (0..<Int(rng.next() % 200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                for _ in 0..<Int(rng.next() % 6) + 1 {
                    let i = Int(rng.next() % UInt64(input.count))
                    switch rng.next() % 3 {
                    case 0: input[i] = UInt8(truncatingIfNeeded: rng.next())
                    case 1: input.remove(at: i)
                    default: input.insert(UInt8(truncatingIfNeeded: rng.next()), at: i)
                    }
                    if input.isEmpty { break }
                }
            }
            _ = try? NodeJSON.decode(LedgerSyncRequest.self, from: input)
            // Either a clear refusal or a notice that passes every check.
            do {
                let notice = try LedgerNotice.decode(input)
                #expect(BeadID.isValidPrefix(notice.scope) && GitOID(hex: notice.commit) != nil && !notice.url.isEmpty)
            } catch {
                #expect(error.code == .badRequest && !error.message.isEmpty)
            }
        }
    }
}
