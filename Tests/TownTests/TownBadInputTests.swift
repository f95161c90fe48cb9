import Beads
import Foundation
import GasTownTestKit
import Node
import Testing
import Town

/// Bad input through the built `gt`: a clear error, exit 1, and nothing changed (ledger, events, files).
@Suite(.serialized) struct TownBadInputTests {
    /// What a refused command must leave untouched.
    struct Snapshot: Equatable {
        var ledger: String
        var events: String
        var rigs: String
        var routes: String
        var listing: [String]
    }

    static func snapshot(_ town: TownFixture) throws -> Snapshot {
        let ledger = try town.readLedger { state in
            state.scopeNames.map { "\($0):\n" + (state.scopes[$0]?.exportJSONL() ?? "") }.joined()
        }
        let read = { (path: String) in
            FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        let listing = town.directory.listing().filter { !$0.contains(".beads/") && !$0.hasPrefix("town/.gt/") }
        return Snapshot(
            ledger: ledger, events: read(town.layout.eventsFile), rigs: read(town.layout.rigsFile),
            routes: read(town.layout.beadsDirectory + "/routes.jsonl"), listing: listing)
    }

    @Test func slingOfMissingBeadMissingRigAndClosedBead() async throws {
        try await TownFixture.with { town in
            try expectOK(try await town.gt(["rig", "add", "demo", town.source, "--runtime", "exec:'true'"]))
            let open = try await town.createBead("Open work", scope: "demo")
            let closed = try await town.createBead("Finished work", scope: "demo")
            try expectOK(try await town.bd(["close", closed]))
            let before = try TownBadInputTests.snapshot(town)

            let missing = try await town.gt(["sling", "demo-zzzz", "demo"])
            #expect(missing.status == 1)
            #expect(missing.stderr.contains("no bead demo-zzzz"), "\(missing)")

            let noRig = try await town.gt(["sling", open, "nowhere"])
            #expect(noRig.status == 1)
            #expect(noRig.stderr.contains("no rig named 'nowhere'") && noRig.stderr.contains("demo"), "\(noRig)")

            let done = try await town.gt(["sling", closed, "demo"])
            #expect(done.status == 1)
            #expect(done.stderr.contains("is closed") && done.stderr.contains("bd reopen"), "\(done)")

            let json = try await town.gt(["sling", "demo-zzzz", "demo", "--json"])
            #expect(json.status == 1 && json.stdout.isEmpty)
            #expect(json.stderr.contains("\"code\": \"not_found\""), "\(json)")

            #expect(try TownBadInputTests.snapshot(town) == before)
            #expect(await town.sessions().isEmpty)
        }
    }

    @Test func doneWithDirtyWorktreeAndOutsideWorktree() async throws {
        try await TownFixture.with { town in
            try expectOK(try await town.gt(["rig", "add", "demo", town.source, "--runtime", "exec:'sleep 30'"]))
            let bead = try await town.createBead("Dirty work", scope: "demo")
            try expectOK(try await town.gt(["sling", bead, "demo"]))
            let worktree = town.layout.polecatWorktree("demo", "furiosa")
            try "changed\n".write(toFile: worktree + "/README.md", atomically: false, encoding: .utf8)
            try "new\n".write(toFile: worktree + "/notes.txt", atomically: false, encoding: .utf8)
            let before = try TownBadInputTests.snapshot(town)

            let dirty = try await town.gt(["done"], cwd: worktree)
            #expect(dirty.status == 1)
            #expect(dirty.stderr.contains("uncommitted changes"), "\(dirty)")
            #expect(dirty.stderr.contains("README.md") && dirty.stderr.contains("notes.txt"))
            #expect(!FileManager.default.fileExists(atPath: TownLayout.doneFile(worktree: worktree)))
            #expect(FileManager.default.fileExists(atPath: TownLayout.hookFile(worktree: worktree)))

            let outside = try await town.gt(["done"], cwd: town.town)
            #expect(outside.status == 1)
            #expect(outside.stderr.contains("not inside a polecat worktree"), "\(outside)")
            let elsewhere = try await town.gt(["done"], cwd: town.directory.path)
            #expect(elsewhere.status == 1)
            #expect(elsewhere.stderr.contains("not inside a polecat worktree"), "\(elsewhere)")

            #expect(try TownBadInputTests.snapshot(town) == before)
            let hooked = try await town.beads(scope: "demo").first { $0.id == bead }
            #expect(hooked?.status == .hooked && hooked?.assignee == "demo/polecats/furiosa")
        }
    }

    @Test func rigAddOfSomethingThatIsNotARepository() async throws {
        try await TownFixture.with { town in
            try town.directory.write("plain/file.txt", "not a repository\n")
            let before = try TownBadInputTests.snapshot(town)
            for url in [town.directory.join("plain"), town.directory.join("missing"), "file:///nonexistent/repo.git"] {
                let output = try await town.gt(["rig", "add", "web", url])
                #expect(output.status == 1, "\(url): \(output)")
                #expect(output.stderr.contains("is not a git repository"), "\(output)")
                #expect(try TownBadInputTests.snapshot(town) == before)
            }
            let badName = try await town.gt(["rig", "add", "Bad Name", town.source])
            #expect(badName.status == 2)
            #expect(try TownBadInputTests.snapshot(town) == before)
            let twice = try await town.gt(["rig", "add", "web", town.source])
            try expectOK(twice)
            let again = try await town.gt(["rig", "add", "web", town.source])
            #expect(again.status == 1 && again.stderr.contains("already exists"), "\(again)")
        }
    }
}
