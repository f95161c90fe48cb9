import Foundation
import GasTownTestKit
import Testing

@testable import Sessions

@Suite struct TmuxDriverTests {
    @Test func sessionLifecycleWithRealTmux() async throws {
        try await withTmuxTown { driver, town in
            let worktree = try makeWorktree(town)
            let name = sessionName(town)
            let spec = SessionSpec(
                name: name, workingDirectory: worktree, environment: ["GT_POLECAT": "nux"],
                command: interactiveScript, logPath: town.join("gastown/polecats/nux.log"))
            let started = try await driver.start(spec)
            #expect(started.pid > 0)
            #expect(started.startTime != nil)
            #expect(await eventually { FileManager.default.fileExists(atPath: worktree + "/marker") })
            #expect(try await driver.isAlive(name))
            #expect(try await driver.list() == [name])
            #expect(try await driver.processID(of: name) == started.pid)
            #expect(try await ["sh", "dash", "bash"].contains(driver.foregroundCommand(of: name) ?? ""))
            #expect(try await driver.foregroundCommand(of: name.withEpoch(9)) == nil)
            #expect(try await driver.waitForOutput(name, timeout: .seconds(10)) { $0.contains("hello from nux") })
            let first = try #require(try await driver.capture(name))
            #expect(first.text.contains("hello from nux"))
            #expect(try await driver.capture(name, scrollback: 100)?.text.contains("hello from nux") == true)

            try await driver.sendText("ping", to: name)
            #expect(await eventually { FileManager.default.fileExists(atPath: worktree + "/reply") })
            #expect(town.read("gastown/polecats/nux/reply") == "got:ping\n")
            let second = try #require(try await driver.capture(name))
            #expect(second.hash != first.hash, "the pane changed, so its hash must change")
            // The log copies the pane from when pipe-pane attached: the typed (echoed) nudge is in it.
            #expect(await eventually { town.read("gastown/polecats/nux.log")?.contains("ping") == true })

            #expect(try await driver.waitForExit(name, timeout: .milliseconds(100)) == .stillRunning)
            #expect(try await driver.kill(name))
            #expect(try await !driver.isAlive(name))
            #expect(ProcessStat.read(pid: started.pid)?.isRunning != true)
            #expect(try await driver.kill(name) == false)
            #expect(try await driver.list().isEmpty)
            #expect(try await driver.capture(name) == nil)
            #expect(try await driver.waitForExit(name, timeout: .seconds(1)) == .ended)
        }
    }

    @Test func exitStatusIsRecordedAndReadAfterTheSessionEnds() async throws {
        try await withTmuxTown { driver, town in
            let name = sessionName(town)
            _ = try await driver.start(
                SessionSpec(name: name, workingDirectory: try makeWorktree(town), command: "sleep 0.2; exit 7"))
            #expect(try await driver.waitForExit(name, timeout: .seconds(10)) == .exited(status: 7))
            #expect(driver.state.exitStatus(name) == 7)
            #expect(try await driver.forget(name))
            #expect(driver.state.exitStatus(name) == nil)
        }
    }

    @Test func twoTownsWithTheSamePolecatNeverCollide() async throws {
        try await withTmuxTown { townA, dirA in
            try await withTmuxTown { townB, dirB in
                #expect(townA.socketName != townB.socketName)
                let nameA = sessionName(dirA)
                let nameB = sessionName(dirB)
                #expect(nameA.rendered != nameB.rendered)
                _ = try await townA.start(
                    SessionSpec(name: nameA, workingDirectory: try makeWorktree(dirA), command: "sleep 30"))
                _ = try await townB.start(
                    SessionSpec(name: nameB, workingDirectory: try makeWorktree(dirB), command: "sleep 30"))
                #expect(try await townA.list() == [nameA])
                #expect(try await townB.list() == [nameB])
                // A town never acts on another town's name, even if handed one.
                #expect(try await !townA.isAlive(nameB))
                #expect(try await townA.kill(nameB) == false)
                #expect(try await townA.kill(nameA))
                #expect(try await townB.isAlive(nameB))
                #expect(try await townB.list() == [nameB])
            }
        }
    }

    @Test func lateActionOnAnOldEpochFindsNoTarget() async throws {
        try await withTmuxTown { driver, town in
            let current = sessionName(town, epoch: 12)
            let old = current.withEpoch(1)
            _ = try await driver.start(
                SessionSpec(name: current, workingDirectory: try makeWorktree(town), command: interactiveScript))
            // "e1" is a prefix of "e12": tmux would match it without the exact-target form.
            #expect(try await !driver.isAlive(old))
            #expect(try await driver.processID(of: old) == nil)
            #expect(try await driver.capture(old) == nil)
            await #expect(throws: SessionError.noSuchSession(old.rendered)) {
                try await driver.sendText("late", to: old)
            }
            #expect(try await driver.kill(old) == false)
            #expect(try await driver.isAlive(current))
            #expect(!FileManager.default.fileExists(atPath: town.join("gastown/polecats/nux/reply")))
        }
    }

    @Test func startingAnExistingNameIsRefused() async throws {
        try await withTmuxTown { driver, town in
            let spec = SessionSpec(
                name: sessionName(town), workingDirectory: try makeWorktree(town), command: "sleep 30")
            _ = try await driver.start(spec)
            await #expect(throws: SessionError.sessionExists(spec.name.rendered)) { try await driver.start(spec) }
            var bad = spec
            bad.workingDirectory = town.join("missing")
            await #expect(throws: SessionError.self) { try await driver.start(bad.withEpoch(2)) }
        }
    }

    @Test func killReachesAnAgentThatIgnoresHangup() async throws {
        try await withTmuxTown { driver, town in
            let name = sessionName(town)
            let started = try await driver.start(
                SessionSpec(name: name, workingDirectory: try makeWorktree(town), command: "trap '' HUP; sleep 60"))
            let pane = try #require(ProcessIdentity.current(pid: started.pid))
            #expect(try await eventually { try await driver.capture(name) != nil })
            try await Task.sleep(for: .milliseconds(200))  // let the inner shell set its trap
            #expect(try await driver.kill(name))
            #expect(!pane.isAlive)
            #expect(!pane.groupExists, "the shell that ignores SIGHUP must be gone too")
        }
    }

    @Test func waitForReadySeesThePromptPrefix() async throws {
        try await withTmuxTown { driver, town in
            let name = sessionName(town)
            _ = try await driver.start(
                SessionSpec(
                    name: name, workingDirectory: try makeWorktree(town),
                    command: "sleep 0.3; printf '❯ '; read line; echo \"$line\" > typed; sleep 30"))
            let readiness = RuntimeReadiness(promptPrefix: "❯ ", delay: .seconds(10))
            #expect(try await driver.waitForReady(name, readiness: readiness, timeout: .seconds(10)))
            try await driver.sendText("[GAS TOWN] nux <- mayor", to: name)
            #expect(await eventually { town.read("gastown/polecats/nux/typed") == "[GAS TOWN] nux <- mayor\n" })
        }
    }

    @Test func selectionPicksTmuxWhenPresentAndProcessesOtherwise() async throws {
        let town = try TempDir(prefix: "gt-sessions")
        let withTmux = await SessionDrivers.select(townRoot: town.path, path: "/nonexistent:/usr/bin")
        #expect(withTmux.kind == .tmux)
        let without = await SessionDrivers.select(townRoot: town.path, path: "/nonexistent")
        #expect(without.kind == .process)
        var forced = SessionSettings()
        forced.driver = .process
        #expect(await SessionDrivers.select(townRoot: town.path, settings: forced, path: "/usr/bin").kind == .process)
        #expect(TmuxDriver(townRoot: town.path, tmuxPath: tmuxPath).socketName == "gt-\(TownID(townRoot: town.path))")
        #expect(await TmuxDriver.version(tmuxPath: tmuxPath).map { $0.0 >= 3 } == true)
    }
}

extension SessionSpec {
    func withEpoch(_ epoch: UInt64) -> SessionSpec {
        var copy = self
        copy.name = name.withEpoch(epoch)
        return copy
    }
}
