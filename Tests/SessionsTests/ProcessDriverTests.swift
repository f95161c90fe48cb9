import Foundation
import GasTownTestKit
import Testing

@testable import Sessions

@Suite struct ProcessDriverTests {
    @Test func startRecordRestartFindAndReap() async throws {
        try await withProcessTown { driver, town in
            let worktree = try makeWorktree(town)
            let name = sessionName(town)
            let log = town.join("gastown/polecats/nux/.session.log")
            let started = try await driver.start(
                SessionSpec(
                    name: name, workingDirectory: worktree, environment: ["GT_POLECAT": "nux"],
                    command: "echo started > marker; echo \"hello from $GT_POLECAT\"; pwd; "
                        + "read line; echo \"got:$line\" > reply; sleep 30",
                    logPath: log))
            #expect(await eventually { FileManager.default.fileExists(atPath: worktree + "/marker") })
            #expect(try await driver.isAlive(name))
            #expect(try await driver.list() == [name])
            #expect(try await driver.processID(of: name) == started.pid)

            let record = try #require(try await driver.record(name))
            #expect(record.process.pid == started.pid)
            #expect(record.process.startTime == ProcessStat.read(pid: started.pid)?.startTime)
            #expect(record.logPath == log)
            #expect(ProcessStat.read(pid: started.pid)?.processGroup == started.pid, "leads its own group")

            #expect(try await eventually { try await driver.capture(name)?.text.contains("hello from nux") == true })
            #expect(try await driver.capture(name)?.text.contains(worktree) == true, "runs in its worktree")
            await #expect(throws: SessionError.self) { try await driver.sendText("two\nlines", to: name) }

            // A restarted node: a new driver instance that knows only the files.
            let restarted = ProcessDriver(townRoot: town.path, settings: fastSettings)
            #expect(try await restarted.list() == [name])
            #expect(try await restarted.isAlive(name))
            #expect(try await restarted.waitForExit(name, timeout: .milliseconds(50)) == .stillRunning)
            // A nudge from the restarted node reaches the script's `read`.
            try await restarted.sendText("ping", to: name)
            #expect(await eventually { town.read("gastown/polecats/nux/reply") == "got:ping\n" })
            #expect(try await restarted.reap(name))
            #expect(try await !restarted.isAlive(name))
            #expect(ProcessStat.read(pid: started.pid)?.isRunning != true)
            #expect(try await restarted.record(name) == nil)
            #expect(!FileManager.default.fileExists(atPath: restarted.state.stdinPath(name)))
            #expect(try await restarted.list().isEmpty)
            #expect(try await driver.list().isEmpty)
        }
    }

    @Test func aRecordWhosePidWasReusedIsNotOurs() async throws {
        try await withProcessTown { driver, town in
            let name = sessionName(town)
            // The pid is live (this test process) but the start time is not the one recorded.
            let me = try #require(ProcessIdentity.current(pid: getpid()))
            let stranger = ProcessIdentity(pid: me.pid, startTime: me.startTime + 1, bootID: me.bootID)
            let record = ProcessRecord(
                version: 1, session: name.rendered, process: stranger, command: "sleep 30",
                workingDirectory: town.path, logPath: town.join("x.log"), startedAt: "2026-01-01T00:00:00Z")
            try FileManager.default.createDirectory(atPath: driver.state.path, withIntermediateDirectories: true)
            try JSONEncoder().encode(record).write(to: URL(fileURLWithPath: driver.state.recordPath(name)))

            #expect(try await !driver.isAlive(name))
            #expect(try await driver.list().isEmpty)
            #expect(try await driver.processID(of: name) == nil)
            #expect(try await driver.kill(name) == false)
            #expect(!stranger.signalGroup(0), "a reused pid is never signalled")
            #expect(!stranger.groupExists)
            // Another boot: not ours either, even with the right start time.
            let otherBoot = ProcessIdentity(pid: me.pid, startTime: me.startTime, bootID: "another-boot")
            #expect(!otherBoot.isAlive)
            #expect(me.isAlive)
            #expect(try await driver.forget(name))
        }
    }

    @Test func exitStatusOfOwnChildAndAfterRestart() async throws {
        try await withProcessTown { driver, town in
            let name = sessionName(town)
            _ = try await driver.start(
                SessionSpec(name: name, workingDirectory: try makeWorktree(town), command: "sleep 0.1; exit 3"))
            #expect(try await driver.waitForExit(name, timeout: .seconds(10)) == .exited(status: 3))
            let restarted = ProcessDriver(townRoot: town.path, settings: fastSettings)
            #expect(try await restarted.waitForExit(name, timeout: .seconds(1)) == .exited(status: 3))
            #expect(try await restarted.forget(name))
            #expect(try await restarted.waitForExit(name, timeout: .seconds(1)) == .ended)
        }
    }

    @Test func killEndsTheWholeGroupAndAnOldEpochFindsNothing() async throws {
        try await withProcessTown { driver, town in
            let name = sessionName(town, epoch: 12)
            let started = try await driver.start(
                SessionSpec(
                    name: name, workingDirectory: try makeWorktree(town),
                    command: "trap '' TERM; sleep 60 & sleep 60; wait"))
            let leader = try #require(ProcessIdentity.current(pid: started.pid))
            let old = name.withEpoch(1)
            #expect(try await !driver.isAlive(old))
            #expect(try await driver.kill(old) == false)
            #expect(try await driver.capture(old) == nil)
            await #expect(throws: SessionError.noSuchSession(old.rendered)) { try await driver.sendText("x", to: old) }
            #expect(try await driver.isAlive(name))
            await #expect(throws: SessionError.sessionExists(name.rendered)) {
                try await driver.start(SessionSpec(name: name, workingDirectory: town.path, command: "true"))
            }

            #expect(try await driver.kill(name))
            #expect(!leader.groupExists, "SIGKILL after the grace period reaches processes that ignore SIGTERM")
            // The wrapper shell (the leader) died of the SIGTERM; the inner shell ignoring it, of the SIGKILL.
            #expect(try await driver.waitForExit(name, timeout: .seconds(5)) == .signaled(signal: SIGTERM))
        }
    }

    @Test func aCorruptRecordIsAClearError() async throws {
        try await withProcessTown { driver, town in
            let name = sessionName(town)
            try FileManager.default.createDirectory(atPath: driver.state.path, withIntermediateDirectories: true)
            try Data("{not json".utf8).write(to: URL(fileURLWithPath: driver.state.recordPath(name)))
            do {
                _ = try await driver.isAlive(name)
                Issue.record("a corrupt record must be reported")
            } catch {
                #expect("\(error)".contains(driver.state.recordPath(name)))
            }
            // One bad file does not hide the other sessions.
            let other = name.withEpoch(2)
            _ = try await driver.start(SessionSpec(name: other, workingDirectory: town.path, command: "sleep 30"))
            #expect(try await driver.list() == [other])
            #expect(try await driver.kill(other))
            unlink(driver.state.recordPath(name))
        }
    }
}
