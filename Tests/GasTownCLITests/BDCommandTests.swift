import Foundation
import GasTownTestKit
import Testing

@testable import GasTownCLI

/// The `bd` verbs in-process: behavior, beads' JSON shapes, and help on every command.
@Suite struct BDCommandTests {
    func withStore(_ body: (BDHarness) async throws -> Void) async throws {
        try await TempDir.with(prefix: "bd-cmd") { temp in
            let bd = BDHarness(temp: temp)
            let initialized = await bd.run(["init", "--prefix", "bd"])
            #expect(initialized.code == .success, "\(initialized)")
            try await body(bd)
        }
    }

    func json(_ text: String) throws -> Any { try JSONSerialization.jsonObject(with: Data(text.utf8)) }

    func id(_ run: BDHarness.Run) -> String { run.stdout.trimmingCharacters(in: .whitespacesAndNewlines) }

    @Test func createShowAndListJSONShapes() async throws {
        try await withStore { bd in
            let created = await bd.run([
                "create", "Parent", "-t", "epic", "-p", "P1", "-d", "why", "-l", "x,y", "--json",
            ])
            #expect(created.code == .success, "\(created)")
            let object = try #require(try json(created.stdout) as? [String: Any])
            let parent = try #require(object["id"] as? String)
            #expect(object["issue_type"] as? String == "epic" && object["priority"] as? Int == 1)
            #expect(object["labels"] as? [String] == ["x", "y"] && object["created_by"] as? String == "tester")
            #expect(object["schema_version"] as? Int == 1)
            // Go's key order: id first, then title, …, schema_version last.
            #expect(created.stdout.hasPrefix("{\n  \"id\": \"\(parent)\",\n  \"title\": \"Parent\",\n"))

            let child = id(await bd.run(["create", "Child", "--parent", parent, "--silent"]))
            #expect(child.hasPrefix(parent + "."))
            let other = id(await bd.run(["q", "Other", "thing"]))
            #expect(await bd.run(["dep", "add", other, child, "-t", "related"]).code == .success)

            let shown = try #require(try json(await bd.run(["show", child, "--json"]).stdout) as? [[String: Any]])
            #expect(shown.count == 1)
            let deps = try #require(shown[0]["dependencies"] as? [[String: Any]])
            #expect(
                deps.first?["id"] as? String == parent && deps.first?["dependency_type"] as? String == "parent-child")
            let dependents = try #require(shown[0]["dependents"] as? [[String: Any]])
            #expect(
                dependents.first?["id"] as? String == other
                    && dependents.first?["dependency_type"] as? String == "related")
            #expect(shown[0]["parent"] as? String == parent)

            let listed = try #require(try json(await bd.run(["list", "--json"]).stdout) as? [[String: Any]])
            #expect(listed.count == 3)
            let parentRow = try #require(listed.first { $0["id"] as? String == parent })
            #expect(parentRow["dependent_count"] as? Int == 1 && parentRow["dependency_count"] as? Int == 0)
            #expect(listed.first?["id"] as? String == parent, "priority 1 sorts first")
            let text = await bd.run(["list"])
            #expect(text.stdout.contains("\(parent) [P1] [epic] open [x y] - Parent"), "\(text)")

            let envelope = BDHarness(temp: bd.temp, environment: ["BD_JSON_ENVELOPE": "1", "BEADS_ACTOR": "tester"])
            let wrapped = try #require(
                try json(await envelope.run(["show", parent, "--json"]).stdout) as? [String: Any])
            #expect(wrapped["schema_version"] as? Int == 1 && (wrapped["data"] as? [Any])?.count == 1)
        }
    }

    @Test func claimCloseReopenAndDelete() async throws {
        try await withStore { bd in
            let a = id(await bd.run(["q", "work"]))
            let claimed = await bd.run(["--actor", "alice", "update", a, "--claim", "--json"])
            let row = try #require((try json(claimed.stdout) as? [[String: Any]])?.first)
            #expect(row["assignee"] as? String == "alice" && row["status"] as? String == "in_progress")
            let again = await bd.run(["--actor", "alice", "update", a, "--claim"])
            #expect(again.code == .success, "the holder may claim again")
            let stolen = await bd.run(["--actor", "bob", "update", a, "--claim"])
            #expect(stolen.code == .failure)
            #expect(stolen.stderr.contains("already claimed by alice"), "\(stolen)")

            #expect(
                await bd.run(["update", a, "--add-label", "l1", "--add-label", "l2", "--set-metadata", "k=v"]).code
                    == .success)
            #expect(await bd.run(["label", "remove", a, "l1"]).code == .success)
            #expect(try json(await bd.run(["label", "list", a, "--json"]).stdout) as? [String] == ["l2"])
            #expect(await bd.run(["comment", a, "looks", "good"]).code == .success)
            let comments = try #require(
                try json(await bd.run(["comments", "list", a, "--json"]).stdout) as? [[String: Any]])
            #expect(
                comments.first?["text"] as? String == "looks good" && comments.first?["author"] as? String == "tester")

            let closed = await bd.run(["close", a, "-r", "finished"])
            #expect(closed.stdout == "✓ Closed \(a): finished\n")
            #expect(
                try (json(await bd.run(["list", "--json"]).stdout) as? [Any])?.count == 0, "closed hidden by default")
            #expect(try (json(await bd.run(["list", "--all", "--json"]).stdout) as? [Any])?.count == 1)
            #expect(await bd.run(["reopen", a, "-r", "not yet"]).code == .success)
            let shown = try #require((try json(await bd.run(["show", a, "--json"]).stdout) as? [[String: Any]])?.first)
            #expect(shown["status"] as? String == "open" && shown["closed_at"] == nil)
            #expect((shown["metadata"] as? [String: Any])?["k"] as? String == "v")

            let preview = await bd.run(["delete", a])
            #expect(preview.stdout.contains("DELETE PREVIEW"))
            #expect(await bd.run(["count"]).stdout == "1\n")
            #expect(await bd.run(["delete", a, "--force"]).code == .success)
            #expect(await bd.run(["count"]).stdout == "0\n")
            let tombstone = await bd.run(["export"])
            #expect(tombstone.stdout.contains("\"status\":\"tombstone\""), "the tombstone is kept: \(tombstone)")
            let edit = await bd.run(["update", a, "--title", "zombie"])
            #expect(edit.code == .failure && edit.stderr.contains("deleted"))
        }
    }

    @Test func readyBlockedCountAndTree() async throws {
        try await withStore { bd in
            var ids: [String] = []
            for i in 0..<12 { ids.append(id(await bd.run(["q", "task \(i)", "-p", "\(i % 5)"]))) }
            #expect(await bd.run(["dep", "add", ids[0], ids[1]]).code == .success)
            let ready = try #require(try json(await bd.run(["ready", "--json"]).stdout) as? [[String: Any]])
            #expect(ready.count == 10, "ready shows 10 by default")
            let all = try #require(
                try json(await bd.run(["ready", "-n", "0", "--json", "-s", "priority"]).stdout)
                    as? [[String: Any]])
            #expect(all.count == 11 && !all.contains { $0["id"] as? String == ids[0] })
            let priorities = all.compactMap { $0["priority"] as? Int }
            #expect(priorities == priorities.sorted())
            let blocked = try #require(try json(await bd.run(["blocked", "--json"]).stdout) as? [[String: Any]])
            #expect(blocked.count == 1 && blocked[0]["blocked_by"] as? [String] == [ids[1]])
            let grouped = try #require(
                try json(await bd.run(["count", "--by-priority", "--json"]).stdout) as? [String: Any])
            #expect(grouped["total"] as? Int == 12 && (grouped["groups"] as? [Any])?.count == 5)
            let tree = await bd.run(["dep", "tree", ids[0]])
            #expect(tree.stdout.contains("└── ○ \(ids[1]): task 1"), "\(tree)")
            let found = try #require(try json(await bd.run(["search", "task 1", "--json"]).stdout) as? [[String: Any]])
            #expect(Set(found.compactMap { $0["title"] as? String }) == ["task 1", "task 10", "task 11"])
            let stats = try #require(try json(await bd.run(["stats", "--json"]).stdout) as? [String: Any])
            #expect(stats["total_issues"] as? Int == 12 && stats["blocked_issues"] as? Int == 1)
        }
    }

    @Test func everyCommandHasHelp() async throws {
        try await TempDir.with(prefix: "bd-help") { temp in
            let bd = BDHarness(temp: temp)
            var paths: [[String]] = []
            func walk(_ command: any CLICommand.Type, _ prefix: [String]) {
                for sub in command.configuration.subcommands {
                    let path = prefix + [sub.configuration.name]
                    paths.append(path)
                    walk(sub, path)
                }
            }
            walk(BD.Root.self, [])
            #expect(paths.count >= 28)
            for path in paths {
                let help = await bd.runRaw(path + ["--help"])
                #expect(help.code == .success, "\(path)")
                #expect(help.stdout.contains("Usage:"), "\(path): \(help)")
            }
        }
    }
}
