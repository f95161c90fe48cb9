import Beads
import Foundation
import GasTownTestKit
import LedgerStore
import Node
import Sessions
import Testing
import Town

#if canImport(Glibc)
    import Glibc
#endif

/// A temporary town for end-to-end tests of the built `gt`: a source repository made with git, a town, and
/// cleanup of everything it started (this town's tmux server, a node it launched, by pid) and the directory,
/// even when the test fails.
final class TownFixture: @unchecked Sendable {
    let directory: TempDir
    let town: String
    let source: String
    let layout: TownLayout
    var nodePIDs: [Int32] = []
    /// This town's private tmux server.
    var tmux: TmuxDriver { TmuxDriver(townRoot: town, tmuxPath: "/usr/bin/tmux") }

    init(name: String = "town") async throws {
        directory = try TempDir(prefix: "gt-town")
        town = directory.join(name)
        source = directory.join("src")
        layout = TownLayout(root: town)
        try await TownFixture.git(["init", "-q", "-b", "main", source], cwd: directory.path)
        try directory.write("src/README.md", "hello\n")
        try await TownFixture.git(["add", "-A"], cwd: source)
        try await TownFixture.git(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], cwd: source)
        try await expectOK(gt(["install", town], cwd: directory.path))
    }

    /// Stops what the fixture started; the directory goes with `directory`.
    func cleanUp() async {
        for pid in nodePIDs { kill(pid, SIGKILL) }
        try? await tmux.killServer()
    }

    /// Runs the body, then `cleanUp` whatever happens.
    static func with(name: String = "town", _ body: (TownFixture) async throws -> Void) async throws {
        let fixture = try await TownFixture(name: name)
        do {
            try await body(fixture)
        } catch {
            await fixture.cleanUp()
            throw error
        }
        await fixture.cleanUp()
    }

    /// Runs the built `gt` in `cwd` (default: the town).
    func gt(_ arguments: [String], cwd: String? = nil, environment: [String: String] = [:]) async throws
        -> BuiltBinaries.Output
    {
        try await BuiltBinaries.run(.gt, arguments, environment: environment, cwd: cwd ?? town, timeout: .seconds(60))
    }

    /// `gt up` on a free port; remembers the node's pid for cleanup.
    func up() async throws {
        try expectOK(try await gt(["up", "--listen", "127.0.0.1:0"]))
        if let pid = nodePID() { nodePIDs.append(pid) }
    }

    /// The pid `gt up` recorded.
    func nodePID() -> Int32? {
        guard
            let text = directory.read("town/.gt/node.pid")
                ?? (try? String(contentsOfFile: town + "/.gt/node.pid", encoding: .utf8))
        else { return nil }
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Runs the built `bd` against the town's ledger.
    func bd(_ arguments: [String]) async throws -> BuiltBinaries.Output {
        try await BuiltBinaries.run(
            .bd, arguments, environment: ["BEADS_DIR": layout.beadsDirectory], cwd: town, timeout: .seconds(60))
    }

    /// Creates a bead in `scope` and returns its ID.
    func createBead(_ title: String, scope: String) async throws -> String {
        let output = try await bd(["create", title, "--rig", scope, "--silent"])
        try expectOK(output)
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A scripted agent: writes a file named after its bead, commits it (a rerun finds nothing new to commit)
    /// and calls `gt done`. `delay` seconds of pause first, so a test can act while agents work.
    func writeAgent(delay: Double = 0) throws -> String {
        let script = """
            #!/bin/sh
            sleep \(delay)
            echo "work on $GT_BEAD ($GT_BEAD_TITLE) by $GT_POLECAT" > "work-$GT_BEAD.txt"
            git add -A
            git -c user.name="$GT_POLECAT" -c user.email=polecat@gt commit -qm "work on $GT_BEAD" || true
            gt done
            """
        try directory.write("agent.sh", script)
        return directory.join("agent.sh")
    }

    /// Reads the ledger (briefly taking its lock).
    func readLedger<T>(_ body: (TownLedgerState) -> T) throws -> T {
        var settings = LedgerDatabaseSettings()
        settings.store.lockWaitTimeout = .seconds(30)
        let database = try LedgerDatabase.open(StoreLayout(beadsDirectory: layout.beadsDirectory), settings: settings)
        defer { database.close() }
        return database.read(body)
    }

    /// Every bead of `scope`, read with `bd export`: through the node when it runs (it holds the store), else
    /// embedded.
    func beads(scope: String) async throws -> [Bead] {
        let output = try await bd(["export"])
        try expectOK(output)
        return try BeadCodec.decodeJSONL(output.stdout).filter {
            $0.id.hasPrefix(scope + "-") && $0.status != .tombstone
        }.sorted { $0.id < $1.id }
    }

    /// Waits (polling) until `condition` holds or `timeout` passes; returns whether it held.
    func waitUntil(timeout: Duration, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return try await condition()
    }

    /// The live tmux sessions of this town's server.
    func sessions() async -> [String] {
        ((try? await tmux.list()) ?? []).map(\.rendered)
    }

    static func git(_ arguments: [String], cwd: String) async throws {
        let output = try await BuiltBinaries.run(executable: "/usr/bin/git", arguments, cwd: cwd, timeout: .seconds(30))
        guard output.status == 0 else { throw FixtureError(message: "git \(arguments): \(output)") }
    }

    static func gitOutput(_ arguments: [String], cwd: String) async throws -> String {
        let output = try await BuiltBinaries.run(executable: "/usr/bin/git", arguments, cwd: cwd, timeout: .seconds(30))
        guard output.status == 0 else { throw FixtureError(message: "git \(arguments): \(output)") }
        return output.stdout
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Throws with the output when a run failed.
func expectOK(_ output: BuiltBinaries.Output) throws {
    guard output.status == 0 else { throw FixtureError(message: "command failed: \(output)") }
}

extension TownFixture {
    /// `gt up --listen 127.0.0.1:0 --json` on this town, its pid kept for the clean-up; the address it listens on.
    func upWithAddress() async throws -> String {
        let output = try await gt(["up", "--listen", "127.0.0.1:0", "--json"])
        try expectOK(output)
        if let pid = nodePID() { nodePIDs.append(pid) }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any])
        return try #require(object["listen"] as? String, "\(output.stdout)")
    }

    /// `gt node list --json` on this town: name → member report (empty when it fails).
    func members() async throws -> [String: [String: Any]] {
        let output = try await gt(["node", "list", "--json"])
        guard output.status == 0,
            let list = try? JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [[String: Any]]
        else { return [:] }
        return Dictionary(list.map { ($0["name"] as? String ?? "", $0) }, uniquingKeysWith: { a, _ in a })
    }
}
