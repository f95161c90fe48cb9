import Beads
import Foundation
import GasTownTestKit
import Testing
import Town

/// `gt migrate` with the built `gt` on a town built from shared/samples/gastown/town-pr820 (plus a rig with a real
/// repository and work in flight): every bead, rig and hook of the input files is carried or reported, a second run
/// changes nothing and says so, the source is never changed, a directory that is not a Gas Town town (or one with a
/// broken file) is refused with nothing written, and the planner's decoders survive seeded mutated input.
@Suite(.serialized)
struct GasTownMigrationTests {
    /// What the source town's own files hold, read here independently of the planner.
    struct Expected {
        var beadIDs: [String] = []
        var rigs: Set<String> = []
        var hooks: Set<String> = []
    }

    static func lines(_ path: String) -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    static func expected(_ old: String) throws -> Expected {
        var result = Expected()
        let registry = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: old + "/mayor/rigs.json")))
                as? [String: Any])
        result.rigs.formUnion(((registry["rigs"] as? [String: Any]) ?? [:]).keys)
        for entry in try FileManager.default.contentsOfDirectory(atPath: old) {
            let config = old + "/" + entry + "/config.json"
            if let data = FileManager.default.contents(atPath: config),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                object["type"] as? String == "rig"
            {
                result.rigs.insert(object["name"] as? String ?? entry)
            }
        }
        var files = [old + "/.beads/issues.jsonl"]
        for route in lines(old + "/.beads/routes.jsonl") {
            if let path = route["path"] as? String, path != "." { files.append(old + "/" + path + "/.beads/issues.jsonl") }
        }
        for file in files {
            for bead in lines(file) {
                let id = bead["id"] as! String
                if !result.beadIDs.contains(id) { result.beadIDs.append(id) }
                let status = bead["status"] as? String
                if status == "hooked"
                    || (status == "in_progress" && (bead["assignee"] as? String ?? "").contains("/polecats/"))
                {
                    result.hooks.insert(id)
                }
                for line in (bead["description"] as? String ?? "").split(separator: "\n")
                where line.hasPrefix("hook_bead: ") && line != "hook_bead: null" {
                    result.hooks.insert(String(line.dropFirst("hook_bead: ".count)))
                }
            }
        }
        return result
    }

    static func json(_ output: BuiltBinaries.Output) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any], "\(output)")
    }

    static func listBeads(_ town: String) async throws -> [[String: Any]] {
        let listed = try await BuiltBinaries.run(
            .bd, ["list", "--all", "--json"], environment: ["BEADS_DIR": town + "/.beads"], cwd: town)
        try #require(listed.status == 0, "\(listed)")
        return try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
    }

    @Test func everyBeadRigAndHookIsCarriedOrReported() async throws {
        let temp = try TempDir(prefix: "gt-migrate")
        let old = temp.join("old")
        try await GasTownSampleTown.build(at: old)
        let expected = try Self.expected(old)
        #expect(expected.beadIDs.count > 9 && expected.rigs.count == 1 && expected.hooks.count == 2, "\(expected)")
        let before = FileTreeDigest(old)
        let town = temp.join("new")
        let installed = try await BuiltBinaries.run(.gt, ["install", town])
        try #require(installed.status == 0, "\(installed)")

        // A dry run plans the same and writes nothing.
        let installedTown = FileTreeDigest(town)
        let dry = try await BuiltBinaries.run(.gt, ["--town", town, "migrate", old, "--dry-run", "--json"], cwd: town)
        try #require(dry.status == 0, "\(dry)")
        let planned = try Self.json(dry)
        #expect(planned["dry_run"] as? Bool == true && planned["changed"] as? Bool == true)
        #expect(FileTreeDigest(town).differences(from: installedTown) == [], "the dry run wrote")

        let output = try await BuiltBinaries.run(.gt, ["--town", town, "migrate", old, "--json"], cwd: town)
        try #require(output.status == 0, "\(output)")
        let report = try Self.json(output)
        #expect(report["changed"] as? Bool == true)
        let skipped = report["skipped"] as? [[String: Any]] ?? []
        func skippedItems(_ kind: String) -> [String] {
            skipped.filter { $0["kind"] as? String == kind }.compactMap { $0["item"] as? String }
        }
        for item in skipped { #expect(!(item["reason"] as? String ?? "").isEmpty, "\(item)") }

        // Rigs: each carried (and really added) or reported.
        let rigs = (report["rigs"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(Set(rigs).union(skippedItems("rig")) == expected.rigs && Set(rigs).isDisjoint(with: skippedItems("rig")))
        #expect(rigs == ["gastown"], "\(report)")
        for rig in rigs {
            #expect(FileManager.default.fileExists(atPath: town + "/\(rig)/.repo.git/HEAD"))
            #expect(FileManager.default.fileExists(atPath: town + "/\(rig)/refinery/rig/README.md"))
        }

        // Rig-level settings (gastown/settings/config.json, Gas Town's example): the polecats' agent, the merge
        // queue's gates (in one gate, timeouts summed), concurrency and retries carried onto the rig; every other
        // key reported, naming the file and the key.
        let rigSettings = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: old + "/gastown/settings/config.json"))) as? [String: Any])
        let oldQueue = try #require(rigSettings["merge_queue"] as? [String: Any])
        let rigConfig = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: town + "/gastown/config.json")))
                as? [String: Any])
        let queue = rigConfig["merge_queue"] as? [String: Any] ?? [:]
        #expect(rigConfig["runtime"] as? String == "pi", "\(rigConfig)")
        #expect(queue["gate"] as? String == "golangci-lint run ./... && go test ./... && go build ./...", "\(rigConfig)")
        #expect(queue["gate_timeout"] as? Int == 540 && queue["flaky_retries"] as? Int == 1)
        #expect(queue["gate_concurrency"] as? Int == 1)
        let reportedRig = try #require((report["rigs"] as? [[String: Any]])?.first)
        #expect((reportedRig["settings"] as? [String: String])?["gate"] == queue["gate"] as? String)
        let settingItems = Set(skippedItems("setting"))
        let file = "gastown/settings/config.json"
        for key in rigSettings.keys
        where !key.hasPrefix("_") && !["type", "version", "merge_queue", "agent", "role_agents"].contains(key) {
            #expect(settingItems.contains("\(file) \(key)"), "\(key) neither carried nor reported")
        }
        let carriedQueueKeys: Set = ["enabled", "gates", "max_concurrent", "retry_flaky_tests", "run_tests"]
        for (key, value) in oldQueue where !carriedQueueKeys.contains(key) && (value as? String) != "" {
            #expect(settingItems.contains("\(file) merge_queue.\(key)"), "merge_queue.\(key) neither carried nor reported")
        }
        for role in ["witness", "refinery"] { #expect(settingItems.contains("\(file) role_agents.\(role)")) }
        #expect(settingItems.contains("\(file) agent"))

        // Beads: each in the new town or reported, never both; the counts add up to the input files'.
        let beads = try await Self.listBeads(town)
        let carried = Set(beads.compactMap { $0["id"] as? String })
        let skippedBeads = skippedItems("bead")
        #expect(Set(skippedBeads).count == skippedBeads.count)
        for id in expected.beadIDs { #expect(carried.contains(id) != skippedBeads.contains(id), "\(id)") }
        let importedCount = (report["beads"] as? [String: Int] ?? [:]).values.reduce(0, +)
        #expect(importedCount + skippedBeads.count == expected.beadIDs.count)
        #expect(importedCount == expected.beadIDs.filter(carried.contains).count)
        #expect(skippedBeads.contains(GasTownSampleTown.orphanBead))
        #expect(skippedBeads.contains(GasTownSampleTown.polecatAgentBead))
        #expect(!skippedBeads.contains(GasTownSampleTown.openRigBead))

        // Hooks: each bead held in Gas Town comes over as open work to sling again, its holder kept.
        let hooks = report["hooks"] as? [[String: Any]] ?? []
        #expect(Set(hooks.compactMap { $0["bead"] as? String }) == expected.hooks, "\(hooks)")
        for hook in hooks {
            let id = hook["bead"] as! String
            let bead = try #require(beads.first { $0["id"] as? String == id })
            #expect(bead["status"] as? String == "open" && (bead["assignee"] as? String ?? "").isEmpty, "\(bead)")
            #expect((bead["labels"] as? [String])?.contains(GasTownMigration.hookLabel) == true)
            #expect(((bead["metadata"] as? [String: Any])?["migrated_assignee"] as? String)?.contains("/polecats/") == true)
            #expect(hook["next"] as? String == "gt sling \(id) gastown")
        }

        // Mail, settings, worktrees.
        #expect(report["mail"] as? [String] == [GasTownSampleTown.mailBead])
        let mail = try await BuiltBinaries.run(
            .gt, ["--town", town, "mail", "inbox", "--from", "gastown/polecats/nux", "--json"], cwd: town)
        #expect(mail.stdout.contains(GasTownSampleTown.mailBead), "\(mail)")
        #expect(Set(report["settings"] as? [String] ?? []) == ["settings/config.json", "settings/agents.json"])
        #expect(
            FileManager.default.contents(atPath: town + "/settings/agents.json")
                == FileManager.default.contents(atPath: old + "/settings/agents.json"))
        #expect(Set(skippedItems("worktree")) == ["gastown/polecats/nux", "gastown/polecats/furiosa", "gastown/crew/max"])
        #expect(skippedItems("file").contains("mayor/daemon.json"))
        #expect(FileTreeDigest(old).differences(from: before) == [], "the source town was changed")

        // Again: nothing changes, and it says so.
        let afterFirst = FileTreeDigest(town)
        let again = try await BuiltBinaries.run(.gt, ["--town", town, "migrate", old, "--json"], cwd: town)
        try #require(again.status == 0, "\(again)")
        let second = try Self.json(again)
        #expect(second["changed"] as? Bool == false && (second["rigs"] as? [Any])?.isEmpty == true, "\(second)")
        let already = second["already_here"] as? [String: Any] ?? [:]
        #expect((already["beads"] as? [String: Int] ?? [:]).values.reduce(0, +) == importedCount)
        #expect(already["rigs"] as? [String] == rigs)
        let secondSkipped = (second["skipped"] as? [[String: Any]] ?? []).compactMap { $0["item"] as? String }
        #expect(Set(secondSkipped).isSuperset(of: skippedBeads))
        let text = try await BuiltBinaries.run(.gt, ["--town", town, "migrate", old], cwd: town)
        #expect(text.status == 0 && text.stdout.contains("Nothing to migrate"), "\(text)")
        #expect(FileTreeDigest(town).differences(from: afterFirst) == [], "the second run changed the town")
        #expect(try await Self.listBeads(town).count == beads.count)
    }

    @Test func aNonGasTownDirOrABrokenFileIsRefusedWithNothingWritten() async throws {
        let temp = try TempDir(prefix: "gt-migrate-bad")
        let town = temp.join("new")
        let installed = try await BuiltBinaries.run(.gt, ["install", town])
        try #require(installed.status == 0, "\(installed)")
        let pristine = FileTreeDigest(town)

        func refused(_ source: String, naming text: String, _ comment: String) async throws {
            let bad = try await BuiltBinaries.run(.gt, ["--town", town, "migrate", source], cwd: town)
            #expect(bad.status != 0 && bad.stderr.contains(text), "\(comment): \(bad)")
            #expect(FileTreeDigest(town).differences(from: pristine) == [], "\(comment) wrote into the town")
        }
        try await refused(temp.join("nowhere"), naming: "is not a directory", "a missing directory")
        try FileManager.default.createDirectory(atPath: temp.join("empty"), withIntermediateDirectories: true)
        try await refused(temp.join("empty"), naming: "mayor/town.json: is missing", "an empty directory")
        try temp.write("project/mayor/town.json", #"{"name": "x", "type": "project"}"#)
        try await refused(temp.join("project"), naming: "has no \"type\": \"town\"", "another tool's mayor/town.json")
        try await refused(town, naming: "is this town", "this town itself")

        let old = temp.join("old")
        try await GasTownSampleTown.build(at: old)
        let rigs = try Data(contentsOf: URL(fileURLWithPath: old + "/mayor/rigs.json"))
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: old + "/mayor/rigs.json"))
        try await refused(old, naming: "mayor/rigs.json: is not a JSON object", "a broken rigs.json")
        try rigs.write(to: URL(fileURLWithPath: old + "/mayor/rigs.json"))
        let rigBeads = old + "/gastown/mayor/rig/.beads/issues.jsonl"
        let goodBeads = try Data(contentsOf: URL(fileURLWithPath: rigBeads))
        try Data(goodBeads + Data("{\"id\": 3}\n".utf8)).write(to: URL(fileURLWithPath: rigBeads))
        try await refused(old, naming: "gastown/mayor/rig/.beads/issues.jsonl", "a broken beads line")
        try goodBeads.write(to: URL(fileURLWithPath: rigBeads))
        // The rig's own settings: another type of settings file, or not an object, is refused naming it.
        let rigSettings = old + "/gastown/settings/config.json"
        let goodRigSettings = try Data(contentsOf: URL(fileURLWithPath: rigSettings))
        try Data(#"{"type": "town-settings", "version": 1}"#.utf8).write(to: URL(fileURLWithPath: rigSettings))
        try await refused(old, naming: "gastown/settings/config.json: has \"type\": town-settings", "another settings type")
        try Data("[1, 2]".utf8).write(to: URL(fileURLWithPath: rigSettings))
        try await refused(old, naming: "gastown/settings/config.json: is not a JSON object", "rig settings not an object")
        try goodRigSettings.write(to: URL(fileURLWithPath: rigSettings))
        try Data(#"{"version": 1, "agents": {"x": {"command": 5}}}"#.utf8)
            .write(to: URL(fileURLWithPath: old + "/settings/agents.json"))
        try await refused(old, naming: "settings/agents.json", "broken agent settings")
        #expect(!FileManager.default.fileExists(atPath: town + "/gastown"))
    }

    /// The planner's decoders (town.json, rigs.json, rig configs, routes, settings, beads JSONL) on seeded mutations
    /// of a real source: each run either plans, with every bead of the files it read carried, reported or already
    /// here, or refuses naming a file of the source.
    @Test func mutatedSourcesArePlannedOrRefusedNamingTheFile() async throws {
        let temp = try TempDir(prefix: "gt-migrate-fuzz")
        let old = temp.join("old")
        try await GasTownSampleTown.build(at: old)
        try temp.write("export.jsonl", try String(contentsOfFile: old + "/.beads/issues.jsonl", encoding: .utf8))
        let source = try TownWorkflow.readGasTown(old, exports: [temp.join("export.jsonl")])
        let clean = try GasTownMigration.plan(source, existingRigs: [:], existingBeads: [])
        #expect(clean.beadCount > 0 && !clean.hooks.isEmpty && clean.rigs.count == 1)

        let targets = source.files.keys.sorted().filter { $0.hasSuffix(".json") || $0.hasSuffix(".jsonl") }
        var random = SeededGenerator(seed: 0x6d_6967)
        var planned = 0
        var refused = 0
        for round in 0..<600 {
            var mutated = source
            let target = targets.randomElement(using: &random)!
            var bytes = Array(mutated.files[target]!)
            if Bool.random(using: &random), let newline = bytes.firstIndex(of: 0x0A) {
                // Whole lines: duplicate or drop the first one.
                let line = Array(bytes[...newline])
                if Bool.random(using: &random) { bytes += line } else { bytes.removeFirst(line.count) }
            }
            for _ in 0..<Int.random(in: 0...3, using: &random) where !bytes.isEmpty {
                let index = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[index] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes.remove(at: index)
                default: bytes.insert(Array("{}[]\":,-0a\n".utf8).randomElement(using: &random)!, at: index)
                }
            }
            mutated.files[target] = Data(bytes)
            let existing = Set(clean.beads.values.joined().map(\.id).filter { _ in round % 3 == 0 && Bool.random(using: &random) })
            do {
                let plan = try GasTownMigration.plan(mutated, existingRigs: [:], existingBeads: existing)
                planned += 1
                var ids = Set<String>()
                for file in plan.beadFiles {
                    let data = mutated.files[file] ?? mutated.exports[file]!
                    for bead in try BeadCodec.decodeJSONL(String(decoding: data, as: UTF8.self)) { ids.insert(bead.id) }
                }
                let carried = plan.beads.values.joined().map(\.id)
                let skipped = plan.skipped.filter { $0.kind == "bead" }.map(\.item)
                let already = plan.alreadyHere.beads.values.reduce(0, +)
                #expect(Set(carried).count == carried.count && Set(carried).isDisjoint(with: skipped))
                #expect(carried.count + skipped.count + already == ids.count, "round \(round) \(target)")
                #expect(Set(carried).union(skipped).isSubset(of: ids))
                for hook in plan.hooks { #expect(carried.contains(hook.bead)) }
                #expect(Set(plan.rigs.map(\.prefix)).count == plan.rigs.count)
                for rig in plan.rigs { #expect(TownNames.isValid(rig.name) && BeadID.isValidPrefix(rig.prefix)) }
            } catch let error as GasTownMigrationError {
                refused += 1
                #expect(
                    mutated.files[error.file] != nil || mutated.exports[error.file] != nil
                        || ["mayor/town.json", "mayor/rigs.json"].contains(error.file),
                    "round \(round): \(error)")
                #expect(!error.message.isEmpty)
            }
        }
        #expect(planned > 0 && refused > 0, "planned \(planned), refused \(refused)")
    }
}
