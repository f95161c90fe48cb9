import Foundation
import GasTownTestKit
import LedgerStore
import Node
import Testing

typealias Loop = LedgerSyncLoop

private let origin = SyncRemote(name: "origin", url: "/srv/ledger.git")
private let backup = SyncRemote(name: "backup", url: "ssh://host/ledger.git")
private let c1 = String(repeating: "1", count: 40)
private let c2 = String(repeating: "2", count: 40)
private let c3 = String(repeating: "3", count: 40)

private func ms(_ n: Int) -> Duration { .milliseconds(n) }

/// The syncs among `directives`.
private func syncs(_ directives: [Loop.Directive]) -> [(remote: String, id: Int, reasons: Loop.Reasons)] {
    directives.compactMap {
        if case .sync(let remote, let id, let reasons) = $0 { return (remote.name, id, reasons) }
        return nil
    }
}

private func ok(_ commits: [String: String] = [:], pushed: [String: String] = [:]) -> Loop.Outcome {
    .succeeded(commits: commits, pushed: pushed)
}

/// A loop with `origin` whose first sync ran and succeeded at 0 (with `hq` at c1).
private func settled(_ settings: LedgerSyncLoopSettings = LedgerSyncLoopSettings()) -> Loop {
    var loop = Loop(settings: settings)
    let first = syncs(loop.onRemotes([origin], now: .zero))
    #expect(first.count == 1 && first[0].reasons == .initial)
    _ = loop.onSyncFinished(remote: "origin", id: first[0].id, outcome: ok(["hq": c1]), now: .zero)
    return loop
}

struct LedgerSyncLoopTests {
    @Test func firstSyncAtOnceThenPeriodic() {
        var loop = settled()
        #expect(loop.nextWake() == .seconds(1))
        #expect(syncs(loop.onTick(now: ms(999))).isEmpty)
        let periodic = syncs(loop.onTick(now: .seconds(1)))
        #expect(periodic.map(\.reasons) == [.periodic])
        #expect(loop.nextWake() == nil)  // running: its end wakes the loop
        _ = loop.onSyncFinished(remote: "origin", id: periodic[0].id, outcome: ok(), now: ms(1300))
        // The interval counts from the end of the last sync.
        #expect(loop.nextWake() == ms(2300))
        // A network remote gets the network interval.
        #expect(syncs(loop.onRemotes([origin, backup], now: ms(1400))).map(\.remote) == ["backup"])
        #expect(loop.remote(named: "backup")?.interval == .seconds(5))
    }

    @Test func localWritesAreDebouncedAndBatched() {
        var loop = settled()
        #expect(syncs(loop.onLocalWrite(now: ms(100))).isEmpty)
        #expect(syncs(loop.onLocalWrite(now: ms(150))).isEmpty)
        #expect(loop.nextWake() == ms(250))
        #expect(syncs(loop.onTick(now: ms(249))).isEmpty)
        let batch = syncs(loop.onTick(now: ms(250)))
        #expect(batch.map(\.reasons) == [.writes])
        _ = loop.onSyncFinished(remote: "origin", id: batch[0].id, outcome: ok(), now: ms(300))

        // A steady stream of writes (never 100 ms quiet) is still synced once per interval from the first one.
        var started: [Duration] = []
        var now = ms(400)
        var running: Int?
        while now < ms(4400) {
            for s in syncs(loop.onLocalWrite(now: now)) {
                started.append(now)
                running = s.id
            }
            now += ms(50)
            for s in syncs(loop.onTick(now: now)) {
                started.append(now)
                running = s.id
            }
            if let id = running, started.last! + ms(200) <= now {
                _ = loop.onSyncFinished(remote: "origin", id: id, outcome: ok(), now: now)
                running = nil
            }
        }
        #expect(started.count >= 3)
        for (a, b) in zip(started, started.dropFirst()) { #expect(b - a <= ms(1300), "\(a) → \(b)") }
    }

    @Test func atMostOneSyncPerRemoteAndNoticesCoalesce() {
        var loop = settled()
        let first = syncs(loop.onNotice(scope: "hq", commit: c2, remote: "origin", alreadyHave: false, now: ms(10)))
        #expect(first.map(\.reasons) == [.notice])
        // While it runs: more notices, writes, ticks, even past the interval: nothing starts.
        for (i, commit) in [c2, c3, c3, c2].enumerated() {
            #expect(
                syncs(loop.onNotice(scope: "hq", commit: commit, remote: nil, alreadyHave: false, now: ms(20 + i)))
                    .isEmpty)
        }
        #expect(syncs(loop.onLocalWrite(now: ms(30))).isEmpty)
        #expect(syncs(loop.onTick(now: .seconds(5))).isEmpty)
        // It ends at c2: the notices that came in meanwhile make exactly one follow-up (c3 is still unseen).
        let follow = syncs(
            loop.onSyncFinished(remote: "origin", id: first[0].id, outcome: ok(["hq": c2]), now: .seconds(5)))
        #expect(follow.count == 1)
        #expect(follow[0].reasons.contains(.notice) && follow[0].reasons.contains(.writes))
        #expect(syncs(loop.onTick(now: .seconds(5))).isEmpty)
        _ = loop.onSyncFinished(remote: "origin", id: follow[0].id, outcome: ok(["hq": c3]), now: .seconds(6))
        #expect(loop.remote(named: "origin")?.pendingNotices == [:])
        #expect(loop.remote(named: "origin")?.noticeSyncs == 2)
    }

    @Test func aSyncThatReachedTheNoticedCommitNeedsNoFollowUp() {
        var loop = settled()
        let run = syncs(loop.onTick(now: .seconds(1)))
        #expect(
            syncs(loop.onNotice(scope: "hq", commit: c2, remote: "origin", alreadyHave: false, now: ms(1010)))
                .isEmpty)
        let after = syncs(loop.onSyncFinished(remote: "origin", id: run[0].id, outcome: ok(["hq": c2]), now: ms(1100)))
        #expect(after.isEmpty)
        #expect(loop.nextWake() == ms(2100))
    }

    @Test func noticesForCommitsAtOrBehindOursDoNotFetch() {
        var loop = settled()
        // At: our last sync left hq at c1.
        #expect(
            syncs(loop.onNotice(scope: "hq", commit: c1, remote: "origin", alreadyHave: false, now: ms(10)))
                .isEmpty)
        // Behind: the shell found c0 in our history of hq (an older commit, or a late notice).
        #expect(syncs(loop.onNotice(scope: "hq", commit: c3, remote: nil, alreadyHave: true, now: ms(20))).isEmpty)
        #expect(loop.remote(named: "origin")?.noticesIgnored == 2)
        #expect(loop.remote(named: "origin")?.pendingNotices == [:])
        #expect(loop.nextWake() == .seconds(1))
        // Another scope at c1 is news.
        #expect(
            syncs(loop.onNotice(scope: "gt", commit: c1, remote: "origin", alreadyHave: false, now: ms(30)))
                .count == 1)
    }

    @Test func noticeMatchedToOneRemoteSyncsOnlyThatOne() {
        var loop = Loop()
        for s in syncs(loop.onRemotes([origin, backup], now: .zero)) {
            _ = loop.onSyncFinished(remote: s.remote, id: s.id, outcome: ok(), now: .zero)
        }
        #expect(
            syncs(loop.onNotice(scope: "hq", commit: c2, remote: "backup", alreadyHave: false, now: ms(5)))
                .map(\.remote) == ["backup"])
        #expect(
            syncs(loop.onNotice(scope: "hq", commit: c3, remote: nil, alreadyHave: false, now: ms(6)))
                .map(\.remote) == ["origin"])
    }

    @Test func pushesAreAnnouncedUnlessNoticesAreOff() {
        var loop = settled()
        let run = syncs(loop.onLocalWrite(now: ms(10)) + loop.onTick(now: ms(110)))
        let out = loop.onSyncFinished(
            remote: "origin", id: run[0].id, outcome: ok(["hq": c2, "gt": c3], pushed: ["hq": c2]), now: ms(200))
        #expect(out == [.notify(scope: "hq", commit: c2, remote: origin)])
        #expect(loop.remote(named: "origin")?.noticesSent == 1)

        var off = LedgerSyncLoopSettings()
        off.notices = false
        var quiet = settled(off)
        let run2 = syncs(quiet.onLocalWrite(now: ms(10)) + quiet.onTick(now: ms(110)))
        #expect(
            quiet.onSyncFinished(
                remote: "origin", id: run2[0].id, outcome: ok(["hq": c2], pushed: ["hq": c2]), now: ms(200)
            ).isEmpty)
        #expect(syncs(quiet.onNotice(scope: "hq", commit: c3, remote: nil, alreadyHave: false, now: ms(300))).isEmpty)
    }

    @Test func aFailingRemoteBacksOffAndRecovers() {
        var loop = Loop()
        var id = syncs(loop.onRemotes([origin], now: .zero))[0].id
        var now = Duration.zero
        var retries: [Duration] = []
        for failure in 1...9 {
            _ = loop.onSyncFinished(
                remote: "origin", id: id, outcome: .failed(message: "unreachable", jitter: 0), now: now)
            let r = loop.remote(named: "origin")!
            #expect(r.failures == failure && r.lastError == "unreachable")
            let wake = loop.nextWake()!
            retries.append(wake - now)
            // Nothing before the retry time, not even a notice or a write.
            #expect(syncs(loop.onNotice(scope: "hq", commit: c2, remote: nil, alreadyHave: false, now: now)).isEmpty)
            #expect(syncs(loop.onLocalWrite(now: now) + loop.onTick(now: wake - ms(1))).isEmpty)
            let retry = syncs(loop.onTick(now: wake))
            #expect(retry.count == 1 && retry[0].reasons.contains(.retry) && retry[0].reasons.contains(.notice))
            id = retry[0].id
            now = wake + ms(10)
        }
        #expect(retries == [1, 2, 4, 8, 16, 32, 60, 60, 60].map { Duration.seconds($0) })
        #expect(loop.remote(named: "origin")?.failedSyncs == 9)
        // Jitter spreads a retry by up to 50 %, still capped.
        #expect(LedgerSyncLoopSettings().retryDelay(failures: 2, jitter: 0.5) == ms(2500))
        #expect(LedgerSyncLoopSettings().retryDelay(failures: 30, jitter: 0.99) == .seconds(60))
        // bd sync does not wait for the backoff.
        _ = loop.onSyncFinished(remote: "origin", id: id, outcome: .failed(message: "down", jitter: 0), now: now)
        let asked = syncs(loop.onSyncRequested(remote: nil, tickets: [7], now: now + ms(1)))
        #expect(asked.count == 1 && asked[0].reasons.contains(.requested))
        let answer = loop.onSyncFinished(remote: "origin", id: asked[0].id, outcome: ok(["hq": c2]), now: now + ms(2))
        #expect(answer.contains(.answer(tickets: [7], syncID: asked[0].id)))
        let r = loop.remote(named: "origin")!
        #expect(r.failures == 0 && r.lastError == nil && r.retryAt == nil && r.pendingNotices == [:])
        #expect(loop.nextWake() == now + ms(2) + .seconds(1))
    }

    @Test func aFailedSyncKeepsItsWritesToDo() {
        var loop = settled()
        let run = syncs(loop.onLocalWrite(now: ms(10)) + loop.onTick(now: ms(110)))
        _ = loop.onSyncFinished(
            remote: "origin", id: run[0].id, outcome: .failed(message: "x", jitter: 0), now: ms(200))
        let retry = syncs(loop.onTick(now: ms(1200)))
        #expect(retry.count == 1 && retry[0].reasons.contains(.writes))
    }

    @Test func syncRequestsAreAnsweredByASyncStartedAfterThem() {
        var loop = settled()
        let running = syncs(loop.onTick(now: .seconds(1)))
        // Asked while a sync runs: that one may not carry the caller's writes, so the next one answers.
        #expect(syncs(loop.onSyncRequested(remote: "origin", tickets: [1], now: ms(1010))).isEmpty)
        let out = loop.onSyncFinished(remote: "origin", id: running[0].id, outcome: ok(), now: ms(1020))
        #expect(!out.contains { if case .answer = $0 { return true } else { return false } })
        let next = syncs(out)
        #expect(next.count == 1 && next[0].reasons.contains(.requested))
        #expect(
            loop.onSyncFinished(remote: "origin", id: next[0].id, outcome: ok(), now: ms(1030))
                == [.answer(tickets: [1], syncID: next[0].id)])
        // Unknown remote, and a remote removed while asked: answered with no sync.
        #expect(
            loop.onSyncRequested(remote: "nope", tickets: [2], now: ms(1040)) == [.answer(tickets: [2], syncID: nil)])
        let s = syncs(loop.onSyncRequested(remote: nil, tickets: [3], now: ms(1050)))
        #expect(s.count == 1)
        #expect(loop.onRemotes([], now: ms(1060)) == [.answer(tickets: [3], syncID: nil)])
        // Its late end is ignored.
        #expect(loop.onSyncFinished(remote: "origin", id: s[0].id, outcome: ok(), now: ms(1070)).isEmpty)
    }

    @Test func remotesComeAndGoAndChangeURL() {
        var loop = settled()
        // Listed twice: one scheduler.
        #expect(syncs(loop.onRemotes([origin, origin], now: ms(10))).isEmpty)
        #expect(loop.remotes.count == 1)
        // A new URL for the same name is a new remote: a first sync at once, failures forgotten.
        let moved = SyncRemote(name: "origin", url: "/srv/moved.git")
        let again = syncs(loop.onRemotes([moved], now: ms(20)))
        #expect(again.map(\.reasons) == [.initial])
        _ = loop.onSyncFinished(remote: "origin", id: again[0].id, outcome: ok(), now: ms(30))
        // Removed: nothing scheduled any more.
        #expect(loop.onRemotes([], now: ms(40)).isEmpty)
        #expect(loop.nextWake() == nil)
        #expect(loop.onLocalWrite(now: ms(50)).isEmpty)
        #expect(loop.onNotice(scope: "hq", commit: c2, remote: nil, alreadyHave: false, now: ms(60)).isEmpty)
    }

    /// Random events on simulated time against several remotes; checks the loop's promises on every step.
    @Test(arguments: [1, 2, 3, 42, 2026] as [UInt64])
    func randomScheduleKeepsItsPromises(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var settings = LedgerSyncLoopSettings()
        settings.pathInterval = ms(1000)
        settings.networkInterval = ms(3000)
        var loop = Loop(settings: settings)
        let remotes = [origin, backup, SyncRemote(name: "third", url: "/srv/third.git")]
        var now = Duration.zero
        /// Per running sync id: remote, when it ends, and what it reaches.
        var running: [Int: (remote: String, ends: Duration, failing: Bool)] = [:]
        var ticketsOut: Set<Int> = []
        var answered: Set<Int> = []
        var nextTicket = 1
        var unsynced: [String: Duration] = [:]  // remote → first write not yet carried by a started sync
        var unseenNotice: [String: Duration] = [:]  // remote → first notice not yet carried by a started sync
        var failingRemote: String?

        func take(_ directives: [Loop.Directive]) {
            for d in directives {
                switch d {
                case .sync(let remote, let id, _):
                    #expect(!running.values.contains { $0.remote == remote.name }, "two syncs of \(remote.name)")
                    let failing = remote.name == failingRemote
                    running[id] = (remote.name, now + ms(Int(rng.next() % 400) + 5), failing)
                    unsynced[remote.name] = nil
                    unseenNotice[remote.name] = nil
                case .answer(let tickets, _):
                    for t in tickets {
                        #expect(ticketsOut.contains(t) && !answered.contains(t), "ticket \(t) answered twice")
                        answered.insert(t)
                    }
                case .notify: break
                }
            }
        }

        take(loop.onRemotes(remotes, now: now))
        for _ in 0..<3000 {
            now += ms(Int(rng.next() % 120) + 1)
            for (id, run) in running.sorted(by: { $0.key < $1.key }) where run.ends <= now {
                running[id] = nil
                let outcome: Loop.Outcome =
                    run.failing
                    ? .failed(message: "down", jitter: Double(rng.next() % 100) / 100)
                    : ok(
                        ["hq": String(format: "%040x", id)],
                        pushed: rng.next() % 2 == 0 ? ["hq": String(format: "%040x", id)] : [:])
                take(loop.onSyncFinished(remote: run.remote, id: id, outcome: outcome, now: now))
            }
            switch rng.next() % 10 {
            case 0, 1, 2:
                for r in remotes where unsynced[r.name] == nil { unsynced[r.name] = now }
                take(loop.onLocalWrite(now: now))
            case 3, 4:
                let target = rng.next() % 2 == 0 ? nil : remotes[Int(rng.next() % 3)].name
                for r in remotes where target == nil || target == r.name {
                    if unseenNotice[r.name] == nil { unseenNotice[r.name] = now }
                }
                let commit = String(format: "%040x", rng.next())
                take(loop.onNotice(scope: "hq", commit: commit, remote: target, alreadyHave: false, now: now))
            case 5:
                let ticket = nextTicket
                nextTicket += 1
                ticketsOut.insert(ticket)
                take(loop.onSyncRequested(remote: remotes[Int(rng.next() % 3)].name, tickets: [ticket], now: now))
            case 6:
                if rng.next() % 20 == 0 { failingRemote = failingRemote == nil ? "third" : nil }
            default:
                break
            }
            take(loop.onTick(now: now))
            // Nothing is overdue after a tick.
            if let wake = loop.nextWake() { #expect(wake > now, "wake \(wake) ≤ now \(now)") }
            // Healthy remotes: a write is carried by a sync within interval + the longest sync; a notice is
            // carried by the first sync after it (at once when idle, else when the running one ends).
            for r in remotes where r.name != failingRemote && loop.remote(named: r.name)!.failures == 0 {
                let idle = !running.values.contains { $0.remote == r.name }
                if let since = unsynced[r.name] {
                    #expect(now - since <= loop.remote(named: r.name)!.interval + ms(420), "\(r.name) write waits")
                }
                if idle {
                    #expect(
                        unseenNotice[r.name] == nil,
                        "\(r.name) idle with a notice pending at \(now): \(loop.remote(named: r.name)!) \(loop.nextWake()!)"
                    )
                }
            }
        }
        // Let everything finish: every ticket is answered.
        failingRemote = nil
        for _ in 0..<200 {
            now += ms(100)
            for (id, run) in running.sorted(by: { $0.key < $1.key }) where run.ends <= now {
                running[id] = nil
                take(loop.onSyncFinished(remote: run.remote, id: id, outcome: ok(), now: now))
            }
            take(loop.onTick(now: now))
        }
        #expect(answered == ticketsOut)
    }
}
