import Testing

@testable import Health

/// A simulated polecat: observations at chosen times, fed to one monitor.
struct Sim {
    var monitor: HealthMonitor
    var now: Double = 1_000_000
    var base: HealthObservation

    init(settings: HealthSettings = HealthSettings(), runtime: String = "exec") {
        monitor = HealthMonitor(settings: settings)
        base = HealthObservation(
            polecat: "demo/polecats/nux", sessionEpoch: 1, runtime: runtime, at: 0, bead: "gt-1", leaseEpoch: 1,
            sessionAlive: true, paneText: "starting")
    }

    /// Advances time by `seconds` and observes with `change` applied to the running observation.
    mutating func step(_ seconds: Double = 2, _ change: (inout HealthObservation) -> Void = { _ in }) -> HealthVerdict {
        now += seconds
        base.at = now
        change(&base)
        return monitor.onObservation(base)
    }

    /// Steps until `predicate` holds on a verdict, at most `limit` steps; returns the verdicts seen.
    mutating func run(_ seconds: Double = 2, limit: Int, until predicate: (HealthVerdict) -> Bool) -> [HealthVerdict] {
        var seen: [HealthVerdict] = []
        for _ in 0..<limit {
            let v = step(seconds)
            seen.append(v)
            if predicate(v) { break }
        }
        return seen
    }
}

let claudePermission = """
    ● Bash(npm test)

    ╭──────────────────────────────────────────────────────────────────╮
    │ Bash command                                                     │
    │                                                                  │
    │   npm test                                                       │
    │   Run the test suite                                             │
    │                                                                  │
    │ Do you want to proceed?                                          │
    │ ❯ 1. Yes                                                         │
    │   2. Yes, and don't ask again for npm test commands in /work/x   │
    │   3. No, and tell Claude what to do differently (esc)            │
    ╰──────────────────────────────────────────────────────────────────╯
    """

@Suite struct HealthMonitorTests {
    @Test func healthyOutputIsWorkingAndNeverActedOn() {
        var sim = Sim()
        for index in 0..<2000 {
            let v = sim.step(2) { $0.paneText = "line \(index)" }
            #expect(v.state == .working)
            #expect(v.action == .wait)
        }
    }

    @Test func silentRunWithHeartbeatsIsNeverHung() {
        var settings = HealthSettings()
        settings.hungAfter = 60
        settings.heartbeatValidity = 30
        var sim = Sim(settings: settings)
        sim.base.paneText = "running the gate (this takes an hour)"
        // 3 hours of silence, a heartbeat every 20 s.
        for index in 0..<5400 {
            let v = sim.step(2) { o in if index % 10 == 0 { o.lastHeartbeat = o.at } }
            #expect(v.state == .working, "at step \(index): \(v.reason)")
            #expect(!v.action.acts)
        }
    }

    @Test func hungIsNeverFlaggedBeforeTheThreshold() {
        var settings = HealthSettings()
        settings.hungAfter = 100
        var sim = Sim(settings: settings)
        _ = sim.step(0) { $0.paneText = "silent" }
        let start = sim.now
        let verdicts = sim.run(1, limit: 500) { $0.state == .hung }
        let first = verdicts.last!
        #expect(first.state == .hung)
        #expect(first.at - start >= 100)
        #expect(first.action == .wait)  // one observation: confirm first
        #expect(verdicts.dropLast().allSatisfy { $0.state == .working })
        let second = sim.step(1)
        #expect(second.state == .hung)
        #expect(second.action.name == "nudge")
    }

    @Test func gtCallsKeepASilentPaneWorking() {
        var settings = HealthSettings()
        settings.hungAfter = 50
        var sim = Sim(settings: settings)
        for _ in 0..<300 {
            let v = sim.step(5) { $0.lastGTCall = $0.at - 10 }
            #expect(v.state == .working)
        }
    }

    @Test func hungLadderNudgesThenRestartsThenReslingsOnce() {
        var settings = HealthSettings()
        settings.hungAfter = 10
        settings.actionInterval = 20
        settings.nudgeLimit = 2
        settings.restartLimit = 1
        var sim = Sim(settings: settings)
        var actions: [String] = []
        var escalations: [Escalation] = []
        for _ in 0..<200 {
            let v = sim.step(2)
            if v.action.acts { actions.append(v.action.name) }
            if let e = v.escalation { escalations.append(e) }
            if v.action == .restartSession {
                // The shell starts the next session epoch; it is silent too.
                sim.base.sessionEpoch += 1
            }
        }
        #expect(actions == ["nudge", "nudge", "restart-session", "nudge", "nudge", "resling"])
        #expect(escalations.count == 1)
        #expect(escalations.first?.category == .lifecycle)
    }

    @Test func actionsAreSpacedByTheActionInterval() {
        var settings = HealthSettings()
        settings.hungAfter = 10
        settings.actionInterval = 30
        var sim = Sim(settings: settings)
        var times: [Double] = []
        for _ in 0..<100 {
            let v = sim.step(1)
            if v.action.acts { times.append(v.at) }
        }
        #expect(times.count >= 2)
        for (a, b) in zip(times, times.dropFirst()) { #expect(b - a >= 30) }
    }

    @Test func deadSessionIsRestartedOnlyAfterConfirmation() {
        var sim = Sim()
        #expect(sim.step().state == .working)
        let first = sim.step { $0.sessionAlive = false; $0.exitStatus = 1 }
        #expect(first.state == .dead)
        #expect(first.action == .wait)
        let second = sim.step()
        #expect(second.action == .restartSession)
        #expect(second.evidence.contains(HealthEvidence("exit", "exit status 1")))
        // Not repeated while the restart is under way on the same epoch.
        #expect(sim.step().action == .wait)
    }

    @Test func crashLoopStopsRespawningAndEscalatesOnce() {
        var sim = Sim()
        var restarts = 0
        var escalations: [Escalation] = []
        for _ in 0..<100 {
            let v = sim.step { $0.sessionAlive = false }
            if v.action == .restartSession {
                restarts += 1
                sim.base.sessionEpoch += 1
            }
            if let e = v.escalation { escalations.append(e) }
        }
        #expect(restarts == 2)
        #expect(escalations.count == 1)
        #expect(escalations.first?.category == .failed)
        #expect(escalations.first?.cause.hasPrefix("crash-loop:demo/polecats/nux:gt-1:e1:work") == true)
    }

    @Test func crashesCountPerStepAndResetWithANewAssignment() {
        var sim = Sim()
        for _ in 0..<2 {
            _ = sim.step { $0.sessionAlive = false }
            let v = sim.step()
            #expect(v.action == .restartSession)
            sim.base.sessionEpoch += 1
            _ = sim.step { $0.sessionAlive = true }
        }
        // A new assignment starts from zero crashes.
        sim.base.bead = "gt-2"
        for _ in 0..<2 {
            _ = sim.step { $0.sessionAlive = false }
            #expect(sim.step().action == .restartSession)
            sim.base.sessionEpoch += 1
            _ = sim.step { $0.sessionAlive = true }
        }
    }

    @Test func zombieIsRestarted() {
        var sim = Sim(runtime: "claude")
        _ = sim.step { $0.processAlive = false }
        let v = sim.step()
        #expect(v.state == .zombie)
        #expect(v.action == .restartSession)
    }

    @Test func permissionPromptIsAnsweredAfterConfirmation() {
        var sim = Sim()
        let first = sim.step { $0.paneText = claudePermission }
        #expect(first.state == .stalledAtPrompt)
        #expect(first.action == .wait)
        let second = sim.step()
        #expect(second.action == .dismissDialog(keys: ["Enter"]))
        #expect(second.evidence.contains(HealthEvidence("dialog", "claude-permission")))
        // The answer took: the pane moved on.
        let after = sim.step { $0.paneText = "● Bash(npm test)\n  ⎿ 42 tests passed" }
        #expect(after.state == .working)
    }

    @Test func aDialogThatDoesNotGoAwayEscalatesOnce() {
        var settings = HealthSettings()
        settings.actionInterval = 10
        var sim = Sim(settings: settings)
        var answers = 0
        var escalations = 0
        for _ in 0..<200 {
            let v = sim.step(2) { $0.paneText = claudePermission }
            if case .dismissDialog = v.action { answers += 1 }
            if v.escalation != nil { escalations += 1 }
        }
        #expect(answers == 1 + settings.nudgeLimit)
        #expect(escalations == 1)
    }

    @Test func everyRuntimeDialogIsRecognised() {
        let screens: [(String, String, String)] = [
            ("claude", "claude-trust", "Do you trust the files in this folder?\n\n ❯ 1. Yes, proceed\n   2. No, exit"),
            (
                "claude", "claude-bypass-warning",
                "WARNING: Claude Code running in Bypass Permissions mode\n ❯ 1. No, exit\n   2. Yes, I accept"
            ),
            ("claude", "claude-edit", "Do you want to make this edit to main.swift?\n ❯ 1. Yes\n   2. No"),
            ("codex", "codex-approval", "Would you like to run the following command?\n  $ make test\n› 1. Yes"),
            ("gemini", "gemini-permission", "Allow execution of: 'npm test'?\n ● 1. Yes, allow once"),
            ("gemini", "gemini-trust", "Do you trust this folder?\n ● 1. Trust folder"),
        ]
        for (runtime, name, screen) in screens {
            let lines = PaneReading.lines(screen)
            #expect(PaneReading.dialog(in: lines, patterns: .forRuntime(runtime), tail: 14)?.name == name)
            // exec scripts get every runtime's dialogs.
            #expect(PaneReading.dialog(in: lines, patterns: .forRuntime("exec"), tail: 14)?.name == name)
        }
    }

    @Test func aDialogScrolledOutOfTheTailIsNotShowing() {
        let lines = PaneReading.lines(claudePermission + "\n" + (0..<20).map { "output \($0)" }.joined(separator: "\n"))
        #expect(PaneReading.dialog(in: lines, patterns: .forRuntime("claude"), tail: 14) == nil)
    }

    @Test func loopIsDetectedNudgedThenRestarted() {
        var settings = HealthSettings()
        settings.actionInterval = 4
        var sim = Sim(settings: settings)
        let loop = Array(repeating: "Error: cannot find module 'x'\nRetrying…", count: 6).joined(separator: "\n")
        var actions: [String] = []
        for _ in 0..<20 {
            let v = sim.step(2) { $0.paneText = loop }
            #expect(v.state == .looping)
            if v.action.acts { actions.append(v.action.name) }
            if v.action == .restartSession { break }
        }
        #expect(actions == ["nudge", "nudge", "restart-session"])
    }

    /// The nudge's own echo breaks up the loop for a moment (one "working" observation right after each nudge):
    /// that is no progress, so the ladder still reaches the restart. (The count used to reset on that blip, and
    /// WitnessHealthTests' looping agent was sometimes nudged forever.)
    @Test func aNudgeEchoBreakingTheLoopForAMomentDoesNotResetTheLadder() {
        var settings = HealthSettings()
        settings.actionInterval = 4
        var sim = Sim(settings: settings)
        let loop = Array(repeating: "Error: connection refused (retrying)", count: 8).joined(separator: "\n")
        var actions: [String] = []
        var echo = false
        for index in 0..<40 {
            let v = sim.step(1) {
                $0.paneText = echo ? loop + "\nYou seem to be repeating the same output. \(index)" : loop
            }
            echo = false
            if v.action.acts { actions.append(v.action.name) }
            if case .nudge = v.action { echo = true }
            if v.action == .restartSession { break }
        }
        #expect(actions == ["nudge", "nudge", "restart-session"])
    }

    /// A hung agent whose pane changes once after each nudge (the typed text) is still restarted; one that
    /// really resumes (its pane keeps changing past the action interval) starts a fresh ladder.
    @Test func onlyProgressAfterTheNudgeEndsTheEpisode() {
        var settings = HealthSettings()
        settings.hungAfter = 10
        settings.actionInterval = 20
        settings.nudgeLimit = 2
        var hung = Sim(settings: settings)
        var actions: [String] = []
        for index in 0..<200 {
            let v = hung.step(2)
            if v.action.acts { actions.append(v.action.name) }
            if case .nudge = v.action { hung.base.paneText = "starting\nnudge \(index)" }
            if v.action == .restartSession { break }
        }
        #expect(actions == ["nudge", "nudge", "restart-session"])

        var resumes = Sim(settings: settings)
        actions = []
        var resumedUntil = -1.0
        for index in 0..<300 {
            let v = resumes.step(2) {
                if $0.at < resumedUntil { $0.paneText = "output \(index)" }
            }
            if v.action.acts { actions.append(v.action.name) }
            // After the first nudge it works for 60 s, then hangs again.
            if case .nudge = v.action, actions.count == 1 { resumedUntil = v.at + 60 }
            if v.action == .restartSession { break }
        }
        #expect(actions == ["nudge", "nudge", "nudge", "restart-session"])
    }

    /// The flake of WitnessHealthTests' looping agent: the nudge typed into the pane breaks the repeated block
    /// for an observation, which read as `working` and reset the nudges, so the loop was nudged forever.
    @Test func theNudgesOwnEchoIsNotRecoveryAndTheLoopIsStillRestarted() {
        var settings = HealthSettings()
        settings.actionInterval = 2
        settings.nudgeLimit = 1
        settings.restartLimit = 1
        var sim = Sim(settings: settings)
        let loop = Array(repeating: "Error: connection refused (retrying)", count: 8).joined(separator: "\n")
        let echoed = loop + "\nYou seem to be repeating the same output. Stop, re-read your hook (gt prime)"
        var actions: [String] = []
        for _ in 0..<20 {
            let v = sim.step(0.5) { $0.paneText = loop }
            if v.action.acts { actions.append(v.action.name) }
            if v.action == .restartSession { break }
            if v.action.name == "nudge" {
                // The echo of the nudge: one observation that is not a loop.
                let blip = sim.step(0.5) { $0.paneText = echoed }
                #expect(blip.state == .working)
            }
        }
        #expect(actions == ["nudge", "restart-session"])

        // Real recovery still ends the episode: a gt call after the nudge, then a loop later is nudged again.
        var again = Sim(settings: settings)
        var nudges = 0
        for _ in 0..<6 where nudges == 0 {
            if again.step(0.5, { $0.paneText = loop }).action.name == "nudge" { nudges += 1 }
        }
        #expect(nudges == 1)
        let back = again.step(0.5) { $0.paneText = "compiling"; $0.lastGTCall = $0.at }
        #expect(back.state == .working)
        var next: [String] = []
        for _ in 0..<10 where next.isEmpty {
            let v = again.step(0.5) { $0.paneText = loop }
            if v.action.acts { next.append(v.action.name) }
        }
        #expect(next == ["nudge"], "a new episode after real progress starts with a nudge")
    }

    @Test func loopDetectorFindsShortestBlockAndIgnoresBlankAndVariedOutput() {
        #expect(PaneReading.loop(in: ["a", "b", "a", "b", "a", "b", "a", "b"], repeats: 4, maxPeriod: 8)?.period == 2)
        #expect(PaneReading.loop(in: ["x", "x", "x", "x"], repeats: 4, maxPeriod: 8)?.period == 1)
        #expect(PaneReading.loop(in: ["x", "x", "x"], repeats: 4, maxPeriod: 8) == nil)
        #expect(PaneReading.loop(in: ["", "", "", "", ""], repeats: 4, maxPeriod: 8) == nil)
        #expect(PaneReading.loop(in: (0..<50).map { "test \($0) ok" }, repeats: 4, maxPeriod: 8) == nil)
        #expect(PaneReading.loop(in: [], repeats: 4, maxPeriod: 8) == nil)
    }

    @Test func idleAtReadyPromptIsNudged() {
        var settings = HealthSettings()
        settings.idleAfter = 20
        var sim = Sim(settings: settings, runtime: "claude")
        let verdicts = sim.run(2, limit: 30) { $0.action.acts } 
        _ = verdicts
        var sim2 = Sim(settings: settings, runtime: "claude")
        _ = sim2.step(0) { $0.paneText = "Done thinking.\n\n❯ " }
        let seen = sim2.run(2, limit: 30) { $0.action.acts }
        #expect(seen.last?.state == .idle)
        #expect(seen.last?.action.name == "nudge")
        #expect(seen.last!.at - (seen.first!.at - 2) >= 20)
    }

    @Test func doneInterruptedWithSessionGoneIsFinished() {
        var sim = Sim()
        _ = sim.step { $0.sessionAlive = false; $0.doneStepsCompleted = 1; $0.doneChangedAt = $0.at }
        let v = sim.step()
        #expect(v.state == .doneStuck)
        #expect(v.action == .finishDone)
    }

    @Test func doneStuckWhileAliveWaitsForItsThresholdThenEscalatesAfterRetries() {
        var settings = HealthSettings()
        settings.doneStuckAfter = 30
        settings.actionInterval = 10
        var sim = Sim(settings: settings)
        let start = sim.now
        _ = sim.step(0) { $0.doneStepsCompleted = 2; $0.doneChangedAt = start }
        var finishes = 0
        var escalations = 0
        for index in 0..<200 {
            let v = sim.step(1) { $0.paneText = "pushing \(index)" }
            if v.at - start < 30 { #expect(v.state == .working) }
            if v.action == .finishDone { finishes += 1 }
            if v.escalation != nil { escalations += 1 }
        }
        #expect(finishes == settings.crashLoopLimit)
        #expect(escalations == 1)
    }

    @Test func rateLimitMarksTheAccountUntilItsResetThenNudges() {
        var sim = Sim(runtime: "claude")
        let now = sim.now + 2
        let v1 = sim.step { $0.paneText = "⎿ Claude usage limit reached. Try again in 30 minutes." }
        #expect(v1.state == .rateLimited)
        #expect(sim.monitor.rateLimits.isLimited("claude", at: now + 10))
        #expect(!sim.monitor.rateLimits.isLimited("claude", at: now + 1801))
        // Waits through the limit without acting, then nudges once it has reset.
        var actions: [(Double, HealthAction)] = []
        for _ in 0..<1000 {
            let v = sim.step(2)
            if v.action.acts { actions.append((v.at, v.action)) }
        }
        #expect(actions.first.map { $0.0 >= now + 1800 } == true)
        #expect(actions.first?.1.name == "nudge")
    }

    @Test func unconfirmedBadStatesNeverAct() {
        // Alternating good and bad observations never reach confirmation.
        var sim = Sim()
        for index in 0..<500 {
            let v = sim.step { o in
                o.sessionAlive = index % 2 == 0
                o.paneText = index % 2 == 0 ? "ok \(index)" : claudePermission
            }
            #expect(!v.action.acts)
        }
    }

    @Test func newSessionEpochResetsTheEpisode() {
        var sim = Sim()
        _ = sim.step { $0.paneText = claudePermission }
        #expect(sim.step().action.name == "dismiss-dialog")
        sim.base.sessionEpoch = 2
        // The new epoch needs its own confirmation.
        #expect(sim.step().action == .wait)
        #expect(sim.step().action.name == "dismiss-dialog")
    }

    @Test func verdictsAreDeterministic() {
        func replay() -> [HealthVerdict] {
            var settings = HealthSettings()
            settings.hungAfter = 30
            var sim = Sim(settings: settings)
            var rng: UInt64 = 42
            var out: [HealthVerdict] = []
            for _ in 0..<3000 {
                rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let pick = Int(rng >> 60)
                out.append(
                    sim.step(Double(rng >> 61) + 1) { o in
                        switch pick {
                        case 0: o.sessionAlive = false
                        case 1: o.sessionAlive = true
                        case 2: o.paneText = claudePermission
                        case 3: o.paneText = "out \(rng >> 40)"
                        case 4: o.lastHeartbeat = o.at
                        case 5: o.sessionEpoch += 1
                        default: break
                        }
                    })
            }
            return out
        }
        let a = replay()
        let b = replay()
        #expect(a == b)
        // Whatever happens, every action names the epoch it was decided for.
        #expect(a.allSatisfy { $0.sessionEpoch >= 1 })
    }

    @Test func fenceRefusesStaleEpochsAndOtherBeads() {
        let v = HealthVerdict(
            polecat: "r/polecats/a", sessionEpoch: 3, state: .dead, action: .restartSession, reason: "", evidence: [],
            seen: 2, at: 0)
        #expect(HealthFence.refusal(v, currentPolecat: "r/polecats/a", currentEpoch: 3, currentBead: "b", expectedBead: "b") == nil)
        #expect(HealthFence.refusal(v, currentPolecat: "r/polecats/a", currentEpoch: 4, currentBead: "b", expectedBead: "b")?.contains("epoch 3") == true)
        #expect(HealthFence.refusal(v, currentPolecat: "r/polecats/b", currentEpoch: 3, currentBead: "b", expectedBead: "b") != nil)
        #expect(HealthFence.refusal(v, currentPolecat: "r/polecats/a", currentEpoch: 3, currentBead: "c", expectedBead: "b") != nil)
    }
}
