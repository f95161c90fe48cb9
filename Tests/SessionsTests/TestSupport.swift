import Foundation
import GasTownTestKit
import Testing

@testable import Sessions

/// Settings that keep the tests quick.
let fastSettings: SessionSettings = {
    var settings = SessionSettings()
    settings.enterDelay = .milliseconds(50)
    settings.killGrace = .milliseconds(500)
    settings.pollInterval = .milliseconds(20)
    return settings
}()

let tmuxPath = "/usr/bin/tmux"

/// Runs `body` with a fresh town directory and a tmux driver on its own private server; afterwards, whatever
/// happened, kills each remaining session (SIGKILL to its process group if SIGHUP is not enough), then that
/// server (`tmux -L <name> kill-server`), and removes its socket and the directory.
func withTmuxTown<T>(
    _ settings: SessionSettings = fastSettings, _ body: (TmuxDriver, TempDir) async throws -> T
) async throws -> T {
    let town = try TempDir(prefix: "gt-sessions")
    let driver = TmuxDriver(townRoot: town.path, tmuxPath: tmuxPath, settings: settings)
    func cleanUp() async throws {
        for name in (try? await driver.list()) ?? [] { _ = try? await driver.kill(name) }
        try await driver.killServer()
    }
    do {
        let result = try await body(driver, town)
        try await cleanUp()
        return result
    } catch {
        try? await cleanUp()
        throw error
    }
}

/// Runs `body` with a fresh town directory and a process driver; afterwards, whatever happened, kills every
/// process the town's records name (by pid, start time checked) and removes the directory.
func withProcessTown<T>(
    _ settings: SessionSettings = fastSettings, _ body: (ProcessDriver, TempDir) async throws -> T
) async throws -> T {
    let town = try TempDir(prefix: "gt-sessions")
    let driver = ProcessDriver(townRoot: town.path, settings: settings)
    func cleanUp() async {
        // Every record file, one by one, so a corrupt one cannot stop the others from being reaped.
        let files = (try? FileManager.default.contentsOfDirectory(atPath: driver.state.path)) ?? []
        for file in files where file.hasSuffix(".json") {
            if let name = SessionName.parse(String(file.dropLast(5))) { _ = try? await driver.reap(name) }
        }
    }
    do {
        let result = try await body(driver, town)
        await cleanUp()
        return result
    } catch {
        await cleanUp()
        throw error
    }
}

/// A session name in `town`.
func sessionName(_ town: TempDir, rig: String = "gastown", polecat: String = "nux", epoch: UInt64 = 1)
    -> SessionName
{
    SessionName(town: TownID(townRoot: town.path), rig: rig, polecat: polecat, epoch: epoch)
}

/// A worktree directory inside the town.
func makeWorktree(_ town: TempDir, _ name: String = "nux") throws -> String {
    let path = town.join("gastown/polecats/\(name)")
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The script the session tests run: marks that it started, says hello, waits for a line, records it,
/// then sleeps.
let interactiveScript = """
    echo started > marker; echo "hello from $GT_POLECAT"; read line; echo "got:$line" > reply; sleep 30
    """
