import Testing
@testable import GasTownCLI

@Suite struct DiscoveryTests {
    /// A fake file system holding exactly `paths`.
    func exists(_ paths: Set<String>) -> (String) -> Bool { { paths.contains($0) } }

    @Test func townFlagBeatsEnvironmentBeatsSearch() throws {
        let files = exists(["/t/mayor/town.json"])
        let env = ["GT_TOWN": "/env-town"]
        #expect(try Discovery.townRoot(flag: "/flag", environment: env, cwd: "/t/x", fileExists: files).path == "/flag")
        let fromFlag = try Discovery.townRoot(flag: "rel/../town", environment: env, cwd: "/w", fileExists: files)
        #expect(fromFlag == Discovery.Location(path: "/w/town", source: .flag))
        let fromEnv = try Discovery.townRoot(flag: nil, environment: env, cwd: "/t/x", fileExists: files)
        #expect(fromEnv == Discovery.Location(path: "/env-town", source: .environment))
        let found = try Discovery.townRoot(flag: nil, environment: [:], cwd: "/t/a/b/c", fileExists: files)
        #expect(found == Discovery.Location(path: "/t", source: .search))
        let empty = try Discovery.townRoot(flag: "", environment: ["GT_TOWN": ""], cwd: "/t", fileExists: files)
        #expect(empty.path == "/t")
    }

    @Test func nearestTownWins() throws {
        let files = exists(["/a/mayor/town.json", "/a/b/mayor/town.json", "/mayor/town.json"])
        #expect(try Discovery.townRoot(flag: nil, environment: [:], cwd: "/a/b/c", fileExists: files).path == "/a/b")
        #expect(try Discovery.townRoot(flag: nil, environment: [:], cwd: "/a/b", fileExists: files).path == "/a/b")
        #expect(try Discovery.townRoot(flag: nil, environment: [:], cwd: "/x", fileExists: files).path == "/")
    }

    @Test func noTownIsAClearError() {
        #expect(throws: CLIError.self) {
            try Discovery.townRoot(flag: nil, environment: [:], cwd: "/a/b", fileExists: { _ in false })
        }
        do {
            _ = try Discovery.townRoot(flag: nil, environment: [:], cwd: "/a/b", fileExists: { _ in false })
        } catch {
            #expect(error.message == "not inside a Gas Town (no mayor/town.json in /a/b or any parent)")
            #expect(error.hint == "run 'gt install <dir>' to create one, or pass --town DIR or set GT_TOWN")
            #expect(error.code == "no_town")
        }
    }

    @Test func beadsStoreRules() throws {
        let files = exists(["/r/.beads", "/r/sub/.beads"])
        let env = ["BEADS_DIR": "/custom/.beads"]
        #expect(try Discovery.beadsStore(flag: "/x", environment: env, cwd: "/", fileExists: files).path == "/x/.beads")
        #expect(try Discovery.beadsStore(flag: "/x/.beads", environment: env, cwd: "/", fileExists: files).path
            == "/x/.beads")
        #expect(try Discovery.beadsStore(flag: "..", environment: env, cwd: "/r/sub", fileExists: files).path
            == "/r/.beads")
        let fromEnv = try Discovery.beadsStore(flag: nil, environment: env, cwd: "/r", fileExists: files)
        #expect(fromEnv == Discovery.Location(path: "/custom/.beads", source: .environment))
        #expect(try Discovery.beadsStore(flag: nil, environment: [:], cwd: "/r/sub/deep", fileExists: files).path
            == "/r/sub/.beads")
        #expect(try Discovery.beadsStore(flag: nil, environment: [:], cwd: "/r/other", fileExists: files).path
            == "/r/.beads")
        #expect(throws: CLIError.self) {
            try Discovery.beadsStore(flag: nil, environment: [:], cwd: "/q", fileExists: files)
        }
    }

    @Test func actorRule() {
        let all = ["BEADS_ACTOR": "b", "BD_ACTOR": "d", "USER": "u"]
        #expect(Discovery.actor(flag: "f", environment: all, gitUserName: "g") == "f")
        #expect(Discovery.actor(flag: nil, environment: all, gitUserName: "g") == "b")
        // beads' order: BEADS_ACTOR, then its older name BD_ACTOR (what Gas Town's sessions set), then git, then USER.
        #expect(Discovery.actor(flag: nil, environment: ["BD_ACTOR": "d", "USER": "u"], gitUserName: "g") == "d")
        #expect(Discovery.actor(flag: "", environment: ["BEADS_ACTOR": "", "USER": "u"], gitUserName: "g") == "g")
        #expect(Discovery.actor(flag: "", environment: ["BEADS_ACTOR": "", "USER": "u"], gitUserName: nil) == "u")
        #expect(Discovery.actor(flag: nil, environment: [:], gitUserName: "") == "unknown")
        #expect(Discovery.explicitActor(flag: nil, environment: ["USER": "u"]) == nil)
    }

    @Test func pathNormalization() {
        #expect(Discovery.absolute("a/./b/../c//d", cwd: "/w") == "/w/a/c/d")
        #expect(Discovery.absolute("../../..", cwd: "/w") == "/")
        #expect(Discovery.ancestors(of: "/a/b") == ["/a/b", "/a", "/"])
        #expect(Discovery.ancestors(of: "/") == ["/"])
    }
}
