import Foundation
import GasTownTestKit
import Testing
@testable import GasTownCLI

/// The built `gt` and `bd` run as child processes.
@Suite struct BinaryEndToEndTests {
    @Test func versionAndHelp() async throws {
        let version = try await BuiltBinaries.run(.gt, ["--version"])
        #expect(version.status == 0)
        #expect(version.stdout == "gt version \(GasTownVersion.current)\n")
        let bdVersion = try await BuiltBinaries.run(.bd, ["--version"])
        #expect(bdVersion.stdout == "bd version \(GasTownVersion.current)\n")
        let bare = try await BuiltBinaries.run(.gt, [])
        #expect(bare.status == 0)
        #expect(bare.stdout.contains("Available Commands:"))
        #expect(bare.stdout.contains("install"))
        let help = try await BuiltBinaries.run(.gt, ["help", "install"])
        #expect(help.stdout.contains("Usage:\n  gt install [flags] <dir>\n"))
        let bdHelp = try await BuiltBinaries.run(.bd, ["help"])
        #expect(bdHelp.status == 0)
        #expect(bdHelp.stdout.contains("-C, --directory DIR"))
        let json = try await BuiltBinaries.run(.bd, ["version", "--json"])
        #expect(json.stdout.contains("\"schema_version\": 1"))
    }

    @Test func usageErrorExitsTwo() async throws {
        let result = try await BuiltBinaries.run(.gt, ["install", "--nmae", "x"])
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == "gt install: unknown flag --nmae; run 'gt install --help' for the flags\n")
    }

    @Test func installCreatesATownAndRefusesASecond() async throws {
        try await TempDir.with { temp in
            let result = try await BuiltBinaries.run(.gt, ["install", "hq", "--name", "alpha"], cwd: temp.path)
            #expect(result.status == 0, "\(result)")
            #expect(result.stdout.contains("Created town 'alpha' at \(temp.join("hq"))"))

            let data = try #require(FileManager.default.contents(atPath: temp.join("hq/mayor/town.json")))
            let town = try TownConfig.decode(data, path: "town.json")
            #expect(town.name == "alpha")
            #expect(town.version == 2)
            #expect(town.type == "town")
            #expect(ISO8601DateFormatter.withFraction.date(from: town.createdAt) != nil)
            #expect(temp.read("hq/mayor/rigs.json") == "{\n  \"rigs\": {},\n  \"version\": 1\n}\n")
            #expect(temp.read("hq/.beads/routes.jsonl")
                == "{\"path\":\".\",\"prefix\":\"hq-\"}\n{\"path\":\".\",\"prefix\":\"hq-cv-\"}\n")
            #expect(temp.read("hq/.beads/config.json") == "{\n  \"prefix\": \"hq\"\n}\n")
            #expect(temp.exists("hq/.beads/metadata.json"))
            for directory in ["hq/.gt/pki", "hq/.gt/wal", "hq/.gt/logs"] { #expect(temp.exists(directory)) }
            let pki = try FileManager.default.attributesOfItem(atPath: temp.join("hq/.gt/pki"))
            #expect((pki[.posixPermissions] as? Int) == 0o700)
            #expect(temp.listing().filter { $0.contains("gt-install") }.isEmpty)

            let before = temp.listing()
            let beforeTown = temp.read("hq/mayor/town.json")
            let again = try await BuiltBinaries.run(.gt, ["install", temp.join("hq")], cwd: "/")
            #expect(again.status == 1)
            #expect(again.stderr.contains("is already a Gas Town"))
            #expect(temp.listing() == before)
            #expect(temp.read("hq/mayor/town.json") == beforeTown)

            let json = try await BuiltBinaries.run(.gt, ["--json", "install", "hq"], cwd: temp.path)
            #expect(json.status == 1)
            #expect(json.stdout.isEmpty)
            let object = try JSONSerialization.jsonObject(with: Data(json.stderr.utf8)) as? [String: Any]
            #expect(object?["code"] as? String == "exists")
            #expect(object?["schema_version"] as? Int == 1)
        }
    }

    @Test func installJSONOutputAndDiscoveryFromInside() async throws {
        try await TempDir.with { temp in
            let result = try await BuiltBinaries.run(.gt, ["install", "t", "--json"], cwd: temp.path)
            #expect(result.status == 0, "\(result)")
            let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            #expect(object?["name"] as? String == "t")
            #expect(object?["path"] as? String == temp.join("t"))
            #expect(object?["prefix"] as? String == "hq")
            #expect(object?["schema_version"] as? Int == 1)
            let envelope = try await BuiltBinaries.run(
                .gt, ["install", "u", "--json"], environment: ["BD_JSON_ENVELOPE": "1"], cwd: temp.path)
            let wrapped = try JSONSerialization.jsonObject(with: Data(envelope.stdout.utf8)) as? [String: Any]
            #expect((wrapped?["data"] as? [String: Any])?["name"] as? String == "u")
        }
    }

    @Test func badNameIsAUsageError() async throws {
        try await TempDir.with { temp in
            let result = try await BuiltBinaries.run(.gt, ["install", "x", "--name", "a b"], cwd: temp.path)
            #expect(result.status == 2)
            #expect(result.stderr == "gt install: invalid town name 'a b': use letters, digits, '.', '_' or '-'\n")
            #expect(temp.listing().isEmpty)
        }
    }
}

extension ISO8601DateFormatter {
    static var withFraction: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}

/// DESIGN §10's discovery rules through the built binaries (`gt where`, `bd where`).
@Suite struct DiscoveryEndToEndTests {
    @Test func gtFindsItsTownByEveryRule() async throws {
        try await TempDir.with { temp in
            #expect(try await BuiltBinaries.run(.gt, ["install", "a"], cwd: temp.path).status == 0)
            #expect(try await BuiltBinaries.run(.gt, ["install", "b"], cwd: temp.path).status == 0)
            try TempDir.makeDirectory(temp.join("a/deep"))
            try TempDir.makeDirectory(temp.join("a/deep/er"))

            let search = try await BuiltBinaries.run(.gt, ["where"], cwd: temp.join("a/deep/er"))
            #expect(search.status == 0, "\(search)")
            #expect(search.stdout == "\(temp.join("a"))\n  name: a\n  found by: search from the working directory\n")

            let env = try await BuiltBinaries.run(
                .gt, ["where", "--json"], environment: ["GT_TOWN": temp.join("b")], cwd: temp.join("a/deep"))
            let envObject = try JSONSerialization.jsonObject(with: Data(env.stdout.utf8)) as? [String: Any]
            #expect(envObject?["path"] as? String == temp.join("b"))
            #expect(envObject?["source"] as? String == "environment")

            let flag = try await BuiltBinaries.run(
                .gt, ["where", "--town", "../../b", "--json"], environment: ["GT_TOWN": temp.join("a")],
                cwd: temp.join("a/deep"))
            let flagObject = try JSONSerialization.jsonObject(with: Data(flag.stdout.utf8)) as? [String: Any]
            #expect(flagObject?["path"] as? String == temp.join("b"))
            #expect(flagObject?["name"] as? String == "b")

            let outside = try await BuiltBinaries.run(.gt, ["where"], cwd: temp.path)
            #expect(outside.status == 1)
            #expect(outside.stderr
                == "Error: not inside a Gas Town (no mayor/town.json in \(temp.path) or any parent); "
                + "run 'gt install <dir>' to create one, or pass --town DIR or set GT_TOWN\n")
        }
    }

    @Test func bdFindsItsStoreByEveryRule() async throws {
        try await TempDir.with { temp in
            #expect(try await BuiltBinaries.run(.gt, ["install", "t"], cwd: temp.path).status == 0)
            try TempDir.makeDirectory(temp.join("t/sub"))
            let search = try await BuiltBinaries.run(.bd, ["where"], cwd: temp.join("t/sub"))
            #expect(search.stdout == "\(temp.join("t/.beads"))\n  prefix: hq\n"
                + "  found by: search from the working directory\n")
            let flag = try await BuiltBinaries.run(.bd, ["-C", temp.join("t"), "where", "--json"], cwd: "/")
            let object = try JSONSerialization.jsonObject(with: Data(flag.stdout.utf8)) as? [String: Any]
            #expect(object?["path"] as? String == temp.join("t/.beads"))
            #expect(object?["prefix"] as? String == "hq")
            #expect(object?["source"] as? String == "flag")
            let env = try await BuiltBinaries.run(
                .bd, ["where"], environment: ["BEADS_DIR": temp.join("nowhere/.beads")], cwd: temp.join("t"))
            #expect(env.status == 1)
            let missing = temp.join("nowhere/.beads")
            #expect(env.stderr == "Error: no beads store at \(missing); run 'bd init' to create one\n")
            let none = try await BuiltBinaries.run(.bd, ["where", "--json"], cwd: temp.path)
            #expect(none.status == 1)
            #expect(none.stderr.contains("\"code\": \"no_store\""))
        }
    }
}
