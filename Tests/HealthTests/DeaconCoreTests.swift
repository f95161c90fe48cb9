import Testing

@testable import Health

/// The Deacon's pure core with simulated time: restarts with capped backoff, the streak reset by a healthy run,
/// giving up loudly after `giveUpAfter` failures, Dogs on their schedules (never two runs at once), one escalation
/// per failure streak of a Dog, and the staleness test the Node applies to the Deacon.
@Suite struct DeaconCoreTests {
    @Test func failuresBackOffThenGiveUpWithOneEscalation() {
        var settings = DeaconSettings()
        settings.giveUpAfter = 4
        var core = DeaconCore(settings: settings, now: 0)
        core.onActorStarted("mayor", at: 0)
        var delays: [Double] = []
        var now = 0.0
        for _ in 1...3 {
            now += 1
            guard case .restart(let actor, let after) = core.onActorFailed("mayor", error: "boom", at: now) else {
                Issue.record("expected a restart")
                return
            }
            #expect(actor == "mayor")
            delays.append(after)
            now += after
            core.onActorStarted("mayor", at: now)
        }
        #expect(delays == [1, 2, 4])
        guard case .giveUp(let actor, let escalation) = core.onActorFailed("mayor", error: "boom", at: now + 1) else {
            Issue.record("expected give-up")
            return
        }
        #expect(actor == "mayor" && escalation.category == .failed)
        #expect(escalation.evidence.contains(HealthEvidence("last_error", "boom")))
        #expect(core.actors["mayor"]?.gaveUp == true)
        core.onActorReset("mayor", at: 100)
        #expect(core.actors["mayor"]?.consecutiveFailures == 0 && core.actors["mayor"]?.gaveUp == false)
    }

    @Test func aHealthyRunResetsTheStreakAndBackoffIsCapped() {
        var settings = DeaconSettings()
        settings.maxBackoff = 5
        settings.giveUpAfter = 100
        var core = DeaconCore(settings: settings, now: 0)
        core.onActorStarted("witness", at: 0)
        var last = 0.0
        for index in 1...10 {
            if case .restart(_, let after) = core.onActorFailed("witness", error: "e", at: Double(index)) {
                last = after
            }
            core.onActorStarted("witness", at: Double(index))
        }
        #expect(last == 5)
        core.onActorStarted("witness", at: 1000)
        let afterHealthy = core.onActorFailed("witness", error: "e", at: 1000 + settings.resetAfter)
        #expect(afterHealthy == .restart(actor: "witness", after: 1))
    }

    @Test func dogsRunOnTheirSchedulesAndNeverTwiceAtOnce() {
        var settings = DeaconSettings()
        settings.dogs = ["a": 10, "b": 30]
        settings.firstRunFraction = 0
        var core = DeaconCore(settings: settings, now: 0)
        #expect(core.onTick(at: 0) == [.runDog("a"), .runDog("b")])
        #expect(core.onTick(at: 15).isEmpty, "a still running")
        #expect(core.onDogFinished("a", failure: nil, at: 15).isEmpty)
        #expect(core.onTick(at: 15) == [.runDog("a")], "a was due at 10")
        _ = core.onDogFinished("a", failure: nil, at: 16)
        _ = core.onDogFinished("b", failure: nil, at: 16)
        #expect(core.onTick(at: 20).isEmpty)
        #expect(core.onTick(at: 25) == [.runDog("a")])
        _ = core.onDogFinished("a", failure: nil, at: 26)
        #expect(core.onTick(at: 30) == [.runDog("b")])
    }

    @Test func aFailingDogEscalatesOncePerStreak() {
        var settings = DeaconSettings()
        settings.dogs = ["doctor": 1]
        settings.dogEscalateAfter = 3
        var core = DeaconCore(settings: settings, now: 0)
        var escalations = 0
        var now = 0.0
        func round(_ failure: String?) {
            now += 1
            _ = core.onTick(at: now)
            for directive in core.onDogFinished("doctor", failure: failure, at: now) {
                if case .escalate = directive { escalations += 1 }
            }
        }
        for _ in 0..<10 { round("disk full") }
        #expect(escalations == 1)
        round(nil)
        for _ in 0..<2 { round("disk full") }
        #expect(escalations == 1)
        round("disk full")
        #expect(escalations == 2)
    }

    @Test func theDeaconIsStaleAfterItsBound() {
        let core = DeaconCore(now: 0)
        #expect(!core.isStale(lastBeat: 0, now: core.settings.staleAfter))
        #expect(core.isStale(lastBeat: 0, now: core.settings.staleAfter + 0.001))
    }
}
