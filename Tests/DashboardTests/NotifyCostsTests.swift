import Foundation
import GasTownTestKit
import Testing
import Town

/// `gt notify` and `gt costs` on a real node (`gt up`, a rig, scripted `exec` agents): a rule's command (a shell
/// script writing to a file) runs on the node's real `done` event with the event on stdin, a duplicate of that
/// event is suppressed, and bad rules or a bad rule file are refused with the stored file unchanged; a scripted
/// agent writes a Claude Code transcript, the node's collector reads it into the ledger, `gt costs` shows it, and
/// the rig's budget, now spent, refuses the next sling.
@Suite("Notifications and costs on a running node", .serialized)
struct NotifyCostsTests {
    @Test func rulesRunOnRealEventsAndASpentBudgetRefusesTheNextSling() async throws {
        try await DashboardCluster.with(names: ["solo"]) { cluster in
            let town = cluster.town("solo")
            let notified = cluster.directory.join("notified.txt")
            let claudeDir = cluster.directory.join("claude")
            // The rule's command: one line per run with its variables, then the event JSON from stdin.
            try cluster.directory.write(
                "notify.sh",
                """
                { printf '%s %s %s ' "$GT_NOTIFY_RULE" "$GT_NOTIFY_KIND" "$GT_NOTIFY_KEY"; cat; } >> '\(notified)'

                """)
            // A Claude Code transcript line (one call, written as two lines: Claude Code repeats a call's usage on
            // each content block's line).
            let call =
                #"{"type":"assistant","sessionId":"s1","message":{"id":"msg_01","model":"claude-sonnet-4-5-20250929","role":"assistant","content":[],"usage":{"input_tokens":1000,"cache_creation_input_tokens":500,"cache_read_input_tokens":10000,"output_tokens":2000}},"requestId":"req_01"}"#
            try cluster.directory.write(
                "agent-costs.sh",
                """
                case "$GT_BEAD_TITLE" in
                Quick*)
                  echo "work on $GT_BEAD" > "work-$GT_BEAD.txt"
                  git add -A
                  git -c user.name="$GT_POLECAT" -c user.email=polecat@gt commit -qm "work on $GT_BEAD"
                  gt done ;;
                *)
                  dir='\(claudeDir)'/projects/$(pwd | sed 's/[^A-Za-z0-9]/-/g')
                  mkdir -p "$dir"
                  printf '%s\\n%s\\n' '\(call)' '\(call)' >> "$dir/s1.jsonl"
                  sleep 300 ;;
                esac

                """)
            let rules = town + "/settings/notify.json"

            // Bad rules: refused (exit 2 / 1), nothing written.
            let unknown = try await cluster.gt(["notify", "add", "bad", "--on", "finished", "--dashboard"])
            #expect(unknown.status == 2 && unknown.stderr.contains("unknown event 'finished'"), "\(unknown)")
            let idle = try await cluster.gt(["notify", "add", "idle", "--on", "done"])
            #expect(idle.status == 2 && idle.stderr.contains("does nothing"), "\(idle)")
            #expect(!FileManager.default.fileExists(atPath: rules))

            try cluster.expectOK(
                try await cluster.gt([
                    "notify", "add", "desk", "--on", "done,convoy-landed", "--dashboard", "--", "sh",
                    cluster.directory.join("notify.sh"),
                ]))
            let good = try #require(FileManager.default.contents(atPath: rules))
            let again = try await cluster.gt(["notify", "add", "desk", "--on", "merged", "--dashboard"])
            #expect(again.status == 1 && again.stderr.contains("exists already"), "\(again)")
            #expect(FileManager.default.contents(atPath: rules) == good)
            let listed = try await cluster.gt(["notify", "list", "--json"])
            try cluster.expectOK(listed)
            let list = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]]
            #expect(list?.first?["name"] as? String == "desk" && (list?.first?["run"] as? [String])?.first == "sh")

            // A damaged rule file: every command says what is wrong and leaves it as it is.
            let broken = Data(#"{"rules": [{"name": "desk", "on": ["done"]"#.utf8)
            try broken.write(to: URL(fileURLWithPath: rules))
            let onBroken = try await cluster.gt(["notify", "add", "other", "--on", "merged", "--dashboard"])
            #expect(
                onBroken.status == 1 && onBroken.stderr.contains("notification rules unusable")
                    && onBroken.stderr.contains("notify.json: is not a JSON object"), "\(onBroken)")
            #expect(FileManager.default.contents(atPath: rules) == broken)
            let removeBroken = try await cluster.gt(["notify", "remove", "desk"])
            #expect(removeBroken.status == 1 && FileManager.default.contents(atPath: rules) == broken)
            try good.write(to: URL(fileURLWithPath: rules))

            try cluster.directory.write(
                "solo/settings/costs.json",
                """
                {"runtime_logs": {"exec": "claude"}, "claude_dir": "\(claudeDir)", "collect_interval": 0.3,
                 "budgets": {"rigs": {"demo": {"usd": 0.03}}}}

                """)
            _ = try await cluster.up("solo")
            try cluster.expectOK(
                try await cluster.gt([
                    "rig", "add", "demo", cluster.rigRemote, "--runtime",
                    "exec:'sh \(cluster.directory.join("agent-costs.sh"))'",
                ]))

            // A real `done` from the scripted agent runs the rule's command once, and shows on the dashboard.
            let quick = try await cluster.bd(["create", "Quick sign repaint", "--rig", "demo", "--silent"], in: "solo")
            try cluster.expectOK(quick)
            let quickID = quick.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            try cluster.expectOK(try await cluster.gt(["sling", quickID]))
            func lines() -> [String] {
                ((try? String(contentsOfFile: notified, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            }
            let ran = await eventually(timeout: .seconds(40), every: .milliseconds(200)) { lines().count >= 1 }
            #expect(
                ran, "the rule's command did not run; events: \(TownEvents.read(town + "/.gt/events.jsonl").suffix(15))"
            )
            let first = try #require(lines().first)
            #expect(first.hasPrefix("desk done \(quickID):"), "\(first)")
            let json = try #require(first.firstIndex(of: "{").map { String(first[$0...]) })
            let payload = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
            #expect(payload?["kind"] as? String == "done")
            #expect((payload?["event"] as? [String: String])?["bead"] == quickID, "\(json)")
            let events = town + "/.gt/events.jsonl"
            #expect(
                await eventually(timeout: .seconds(5)) {
                    TownEvents.read(events).contains { $0["type"] == "notification" && $0["rule"] == "desk" }
                })

            // The same event again (a second writer recording it): suppressed, the command does not run again.
            let text = try String(contentsOfFile: events, encoding: .utf8)
            let doneLine = try #require(
                text.split(separator: "\n").first { $0.contains(#""type":"done""#) && $0.contains(quickID) })
            TownEvents.append(Array(doneLine.utf8) + [0x0A], to: events)
            #expect(
                await eventually(timeout: .seconds(10)) {
                    TownEvents.read(events).contains { $0["type"] == "notify_suppressed" && $0["rule"] == "desk" }
                }, "no notify_suppressed event")
            try await Task.sleep(for: .milliseconds(700))
            #expect(lines().count == 1, "\(lines())")
            // `gt notify test` reaches that rule alone, as the kind asked for.
            try cluster.expectOK(try await cluster.gt(["notify", "test", "desk", "--kind", "convoy-landed"]))
            #expect(await eventually(timeout: .seconds(10)) { lines().count == 2 }, "\(lines())")
            #expect(lines().last?.hasPrefix("desk convoy-landed test:") == true, "\(lines())")
            let nosuch = try await cluster.gt(["notify", "test", "nosuch"])
            #expect(nosuch.status == 1 && nosuch.stderr.contains("no notification rule named 'nosuch'"), "\(nosuch)")

            // Costs: the agent's transcript is read into the ledger; `gt costs` shows the call once (its two lines
            // are one call): 1000 in, 2000 out, 10000 cache reads, 500 cache writes on claude-sonnet-4 prices.
            let costly = try await cluster.bd(["create", "Costly survey", "--rig", "demo", "--silent"], in: "solo")
            try cluster.expectOK(costly)
            let costlyID = costly.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            try cluster.expectOK(try await cluster.gt(["sling", costlyID]))
            var rows: [[String: Any]] = []
            let recorded = await eventually(timeout: .seconds(30), every: .milliseconds(300)) {
                guard let output = try? await cluster.gt(["costs", "--by", "bead", "--json"]), output.status == 0,
                    let object = try? JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any]
                else { return false }
                rows = object["rows"] as? [[String: Any]] ?? []
                return !rows.isEmpty
            }
            #expect(recorded, "gt costs shows no usage")
            let row = try #require(rows.first)
            #expect(row["key"] as? String == costlyID && row["total_tokens"] as? Int == 13500, "\(row)")
            #expect(abs((row["usd"] as? Double ?? 0) - 0.037875) < 1e-9, "\(row)")
            let byAgent = try await cluster.gt(["costs"])
            try cluster.expectOK(byAgent)
            #expect(byAgent.stdout.contains("demo/polecats/") && byAgent.stdout.contains("0.0379"), "\(byAgent)")
            #expect(byAgent.stdout.contains("budget rig demo") && byAgent.stdout.contains("SPENT"), "\(byAgent)")

            // The rig's budget is spent: the next sling is refused, saying which budget and how to raise it.
            let next = try await cluster.bd(["create", "Paint the fence", "--rig", "demo", "--silent"], in: "solo")
            try cluster.expectOK(next)
            let nextID = next.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let refused = try await cluster.gt(["sling", nextID])
            #expect(refused.status != 0, "\(refused)")
            #expect(
                refused.stderr.contains("the budget of rig demo is spent ($0.04 of its $0.03)")
                    && refused.stderr.contains("raise budgets.rigs.demo.usd in \(town)/settings/costs.json"),
                "\(refused)")
            let shown = try await cluster.bd(["show", nextID, "--json"], in: "solo")
            try cluster.expectOK(shown)
            let value = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8))
            let bead = (value as? [[String: Any]])?.first ?? (value as? [String: Any])
            #expect(
                bead?["status"] as? String == "open" && (bead?["assignee"] as? String ?? "").isEmpty, "\(shown.stdout)")
        }
    }
}
