import Beads
import Foundation
import GasTownTestKit
import Node
import Testing
import Town

/// The Refinery with the built `gt`: real repositories (a bare rig remote), real gate scripts run as child
/// processes, scripted `exec` agents that commit and call `gt done`, and `gt refinery run --once`.
@Suite(.serialized) struct RefineryTests {
    /// The scripted agent: plain work writes `work-<bead>.txt` (and a `broken-<bead>.marker` the gate refuses
    /// when the title has `[break]`); `[conflict…]` beads write one shared file with their own content; a rework
    /// of a broken bead removes its marker; a rework of a conflict starts over from the landed target. `[wip]`
    /// beads write `wip.txt`, push their branch and keep working (until `release-wip` appears in the town);
    /// `[touch-wip]` beads write `wip.txt` and are done at once.
    static let agent = """
        #!/bin/sh
        set -e
        case "$GT_BEAD_TITLE" in
          Rework:*\\[conflict*)
            git fetch -q origin main
            git reset -q --hard FETCH_HEAD
            echo "resolved $GT_BEAD" > "resolved-$GT_BEAD.txt" ;;
          Rework:*)
            git rm -q broken-*.marker
            echo "fixed $GT_BEAD" > "fixed-$GT_BEAD.txt" ;;
          *\\[conflict*)
            echo "$GT_BEAD_TITLE" > shared.txt ;;
          *\\[wip\\]*)
            echo "$GT_BEAD_TITLE" > wip.txt
            git add -A
            git -c user.name="$GT_POLECAT" -c user.email="$GT_POLECAT@polecats.gt" commit -qm "$GT_BEAD_TITLE"
            git push -q origin "HEAD:refs/heads/$(git rev-parse --abbrev-ref HEAD)"
            while [ ! -e "$GT_TOWN/release-wip" ]; do sleep 0.2; done
            gt done
            exit 0 ;;
          *\\[touch-wip\\]*)
            echo "$GT_BEAD_TITLE" > wip.txt ;;
          *)
            echo "work on $GT_BEAD" > "work-$GT_BEAD.txt"
            case "$GT_BEAD_TITLE" in *\\[break\\]*) echo broken > "broken-$GT_BEAD.marker" ;; esac ;;
        esac
        git add -A
        git -c user.name="$GT_POLECAT" -c user.email="$GT_POLECAT@polecats.gt" commit -qm "$GT_BEAD_TITLE"
        gt done
        """

    /// A town with rig `demo` whose remote is a bare clone of the fixture's source, agents running `agent`.
    func makeRig(_ town: TownFixture, gate: String?, extra: [String] = []) async throws -> String {
        try town.directory.write("agent.sh", RefineryTests.agent)
        let remote = town.directory.join("remote.git")
        try await TownFixture.git(["clone", "-q", "--bare", town.source, remote], cwd: town.directory.path)
        var arguments = [
            "rig", "add", "demo", remote, "--runtime", "exec:'sh \(town.directory.join("agent.sh"))'",
            "--max-polecats", "16",
        ]
        if let gate { arguments += ["--gate", gate] }
        try expectOK(try await town.gt(arguments + extra))
        return remote
    }

    /// Creates beads (title, priority), slings each, and waits until each has filed a merge request.
    func work(_ town: TownFixture, _ beads: [(String, Int)]) async throws -> [String: String] {
        var ids: [String: String] = [:]
        for (title, priority) in beads {
            let output = try await town.bd(["create", title, "--rig", "demo", "-p", String(priority), "--silent"])
            try expectOK(output)
            ids[title] = output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        for (title, _) in beads { try expectOK(try await town.gt(["sling", ids[title]!, "demo"])) }
        let filed = try await town.waitUntil(timeout: .seconds(90)) {
            let requests = try await town.beads(scope: "demo").filter { $0.issueType == .mergeRequest }
            return Set(ids.values).isSubset(of: Set(requests.compactMap { $0.metadataString("source_bead") }))
        }
        #expect(filed, "not every bead filed a merge request")
        let idle = try await town.waitUntil(timeout: .seconds(60)) {
            try await town.beads(scope: "demo").compactMap(PolecatState.init(bead:)).allSatisfy(\.isIdle)
        }
        #expect(idle, "the polecats did not finish gt done")
        return ids
    }

    /// `gt … --json` parsed as JSON.
    func json(_ town: TownFixture, _ arguments: [String]) async throws -> Any {
        let output = try await town.gt(arguments + ["--json"])
        try expectOK(output)
        return try JSONSerialization.jsonObject(with: Data(output.stdout.utf8))
    }

    /// `gt mq list demo --all --json`, by MR ID.
    func requests(_ town: TownFixture) async throws -> [String: [String: Any]] {
        let list = try #require(try await json(town, ["mq", "list", "demo", "--all"]) as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: list.map { ($0["id"] as! String, $0) })
    }

    /// The remote's main, oldest first: (subject, author, parent count).
    func history(_ remote: String) async throws -> [(subject: String, author: String, parents: Int)] {
        let text = try await TownFixture.gitOutput(
            ["--git-dir", remote, "log", "--reverse", "--format=%s%x09%an%x09%P", "main"], cwd: "/")
        return text.split(separator: "\n").map { line in
            let parts = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            return (parts[0], parts[1], parts[2].split(separator: " ").count)
        }
    }

    /// The issue's acceptance test: 16 requests from scripted agents, 2 of which break the gate (a marker file the
    /// gate script refuses) and 1 of which conflicts with another: the other 13 land on the rig's remote in
    /// priority order, linear, with their authors; the 3 come back with the right status and reason; gate runs
    /// (counted by the script) stay within the bisection bound. Then the rework beads go back to the polecats, the
    /// scripted agents fix them and call `gt done`, and a second pass lands them. The gate script is a one-liner,
    /// so the test's time goes to slinging and `gt done`, not to gates.
    @Test func culpritsAndAConflictComeBackTheRestLandInOrder() async throws {
        try await TownFixture.with { town in
            let counter = town.directory.join("gate-runs")
            try town.directory.write(
                "gate.sh",
                """
                echo run >> \(counter)
                if ls broken-*.marker >/dev/null 2>&1; then echo "FAIL: marker present: $(ls broken-*.marker)"; exit 1; fi
                echo "gate ok on $GT_MQ_COMMIT"
                """)
            let remote = try await makeRig(town, gate: "sh \(town.directory.join("gate.sh"))")
            let beads: [(String, Int)] = [
                ("Alpha", 1), ("Bravo [break]", 1), ("Charlie [conflict-a]", 0), ("Delta", 2),
                ("Echo [conflict-b]", 2), ("Foxtrot [break]", 3), ("Golf", 3), ("Hotel", 0),
                ("India", 2), ("Juliett", 0), ("Kilo", 3), ("Lima", 1),
                ("Mike", 2), ("November", 1), ("Oscar", 0), ("Papa", 3),
            ]
            let ids = try await work(town, beads)
            let status = try #require(try await json(town, ["mq", "status", "demo"]) as? [[String: Any]]).first
            #expect(
                status?["gate_mode"] as? String == "gate" && status?["queued"] as? Int == 16,
                "\(String(describing: status))")
            #expect(status?["oldest"] is String && status?["oldest_wait_seconds"] is Int)

            let report = try #require(
                try await json(town, ["refinery", "run", "demo", "--once"]) as? [String: Any])
            let before = try await requests(town)
            let byTitle = Dictionary(
                uniqueKeysWithValues: before.values.compactMap { entry -> (String, [String: Any])? in
                    guard let bead = entry["source_bead"] as? String,
                        let title = ids.first(where: { $0.value == bead })?.key
                    else { return nil }
                    return (title, entry)
                })
            let bad: Set = ["Bravo [break]", "Foxtrot [break]", "Echo [conflict-b]"]
            for (title, entry) in byTitle {
                let status = entry["status"] as? String
                switch title {
                case "Bravo [break]", "Foxtrot [break]":
                    #expect(status == "rework", "\(title): \(entry)")
                    #expect(
                        (entry["reason"] as? String)?.hasPrefix("the gate failed (exit status 1): FAIL: marker present")
                            == true, "\(entry)")
                    let log = try #require(entry["gate_log"] as? String)
                    #expect((try? String(contentsOfFile: log, encoding: .utf8))?.contains("marker present") == true)
                case "Echo [conflict-b]":
                    #expect(status == "conflict", "\(title): \(entry)")
                    #expect((entry["reason"] as? String)?.contains("shared.txt") == true, "\(entry)")
                    #expect(entry["conflict_files"] as? [String] == ["shared.txt"])
                default:
                    #expect(status == "merged", "\(title): \(entry)")
                    #expect((entry["merge_commit"] as? String)?.count == 40)
                    #expect(entry["reason"] == nil)
                }
            }
            // Landed: the good ones, in queue order (priority; among equals the one overlapping fewer others, so
            // Hotel before Charlie, whose shared.txt Echo touches too; then filing time), each one commit, linear.
            func overlaps(_ title: String) -> Int { title.contains("[conflict") ? 1 : 0 }
            func filed(_ entry: [String: Any]) -> Int64 {
                Timestamp(entry["created_at"] as? String ?? "")?.unixNanos ?? 0
            }
            let expected = byTitle.filter { !bad.contains($0.key) }.sorted {
                let a = ($0.value["priority"] as! Int, overlaps($0.key), filed($0.value), $0.value["id"] as! String)
                let b = ($1.value["priority"] as! Int, overlaps($1.key), filed($1.value), $1.value["id"] as! String)
                return a < b
            }.map(\.key)
            let landed = try await history(remote).dropFirst()
            #expect(landed.map(\.subject) == expected, "landed \(landed.map(\.subject)), expected \(expected)")
            #expect(landed.allSatisfy { $0.parents == 1 }, "the target's history is linear")
            let workers = Dictionary(
                uniqueKeysWithValues: byTitle.map {
                    ($0.key, String(($0.value["worker"] as! String).split(separator: "/").last!))
                })
            for commit in landed { #expect(commit.author == workers[commit.subject], "author of \(commit.subject)") }
            // Gate runs: counted by the script itself and bounded by bisection (docs/merge-queue.md, "Bound"):
            // ⌈16 / 4⌉ batches, and for each of the 2 culprits ⌈log₂ 4⌉ halvings, 1 retry and 1 batch for the
            // requests behind it: 4 + 2 × (2 + 1 + 1) = 12. At least: the 13 that land need ⌈13 / 4⌉ passing runs,
            // and each culprit at least the failing retry of the input that blames it.
            let runs = report["gate_runs"] as? Int ?? 0
            let scriptRuns = (try? String(contentsOfFile: counter, encoding: .utf8))?.split(separator: "\n").count ?? 0
            #expect(expected.count == 13)
            #expect(runs >= 4 + 2 && runs <= 12, "gate runs \(runs)")
            #expect(scriptRuns <= runs && scriptRuns >= runs - (report["gates_cancelled"] as? Int ?? 0))
            // The ledger: sources of merged requests closed with the merge commit; CVs count the merges.
            let ledger = try await town.beads(scope: "demo")
            for title in expected {
                let bead = try #require(ledger.first { $0.id == ids[title] })
                #expect(bead.status == .closed && bead.metadataString("merge_commit")?.count == 40, "\(title)")
            }
            let cvs = ledger.compactMap(PolecatState.init(bead:))
            let merges = cvs.map(\.merges).reduce(0, +)
            #expect(merges == expected.count)
            // The two gate failures and the conflict count as rework, and per runtime (`exec`) in the record.
            #expect(cvs.map(\.rework).reduce(0, +) == 3)
            let anyExec = cvs.compactMap { $0.entry(runtime: "exec") }
            #expect(anyExec.map(\.merges).reduce(0, +) == expected.count && anyExec.map(\.rework).reduce(0, +) == 3)
            let events = TownEvents.read(town.layout.eventsFile)
            #expect(events.filter { $0["type"] == "mq-merged" }.count == expected.count)
            // The conflict was seen early: the overlap on shared.txt was reported before anything merged.
            let overlapAt = events.firstIndex {
                $0["type"] == "mq-overlaps" && $0["overlaps"]?.contains("shared.txt") == true
            }
            let mergedAt = events.firstIndex { $0["type"] == "mq-merged" }
            #expect(overlapAt != nil && mergedAt != nil && overlapAt! < mergedAt!, "\(events)")

            // The rework beads went back to the polecats with the output; the agents fix and call gt done again.
            let reworkIDs = bad.compactMap { byTitle[$0]?["rework_bead"] as? String }
            #expect(reworkIDs.count == 3)
            for id in reworkIDs {
                let rework = try #require(ledger.first { $0.id == id })
                #expect(rework.metadataString("rework_of") != nil && rework.title.hasPrefix("Rework: "))
            }
            let broken = try #require(ledger.first { $0.id == byTitle["Bravo [break]"]?["rework_bead"] as? String })
            #expect(broken.description.contains("marker present"), "\(broken.description)")
            let refiled = try await town.waitUntil(timeout: .seconds(90)) {
                let sources = try await town.beads(scope: "demo").filter { $0.issueType == .mergeRequest }.compactMap {
                    $0.metadataString("source_bead")
                }
                return Set(reworkIDs).isSubset(of: Set(sources))
            }
            #expect(refiled, "the rework beads were not done again")
            // Each went back to the polecat that made it (all were idle). When one polecat made two of them, its
            // second goes to the first idle polecat by name, which may be another maker: then only count them.
            let redone = try await town.beads(scope: "demo").filter { $0.issueType == .mergeRequest }
            let makers = bad.compactMap { byTitle[$0]?["worker"] as? String }
            let takers = bad.compactMap { title in
                redone.first { $0.metadataString("source_bead") == byTitle[title]?["rework_bead"] as? String }?
                    .metadataString("worker")
            }
            if Set(makers).count == makers.count {
                #expect(takers == makers, "reworks went to \(takers), made by \(makers)")
            } else {
                #expect(takers.count == makers.count && Set(takers).isSuperset(of: Set(makers)), "\(takers) \(makers)")
            }
            let second = try #require(try await json(town, ["refinery", "run", "demo", "--once"]) as? [String: Any])
            #expect((second["merged"] as? [String])?.count == 3, "\(second)")
            let after = try await town.beads(scope: "demo")
            for title in bad {
                #expect(after.first { $0.id == ids[title] }?.status == .closed, "\(title) closed by its rework")
            }
            let final = try await history(remote)
            // A broken bead's rework starts from its own branch (its commit, then the fix); the conflict's rework
            // starts over from the target (the fix alone).
            #expect(final.count == 1 + expected.count + 5 && final.allSatisfy { $0.parents <= 1 }, "\(final)")
            #expect(
                Set(final.map(\.subject)).isSuperset(of: bad.map { "Rework: \($0)" }), "\(final.map(\.subject))")
            let files = try await TownFixture.gitOutput(
                ["--git-dir", remote, "ls-tree", "--name-only", "main"], cwd: "/")
            #expect(!files.contains(".marker"), "\(files)")
        }
    }

    /// Conflicts seen early: two polecats still working have pushed branches touching `wip.txt`, and a queued
    /// request touches it too. A pass reports the overlaps (request ~ branch, branch ~ branch) in the events log
    /// before anything merges, and `gt mq status` (text and `--json`) still names the two working branches after
    /// it; among equals the queue lands the request overlapping nobody first, though it was filed later.
    @Test func workingBranchesOverlapsAreReportedEarlyAndTheFreerRequestLandsFirst() async throws {
        try await TownFixture.with { town in
            let remote = try await makeRig(town, gate: "true")
            var ids: [String: String] = [:]
            for (title, priority) in [("Kilo [wip]", 2), ("November [wip]", 2), ("Lima [touch-wip]", 2), ("Mike", 2)]
            {
                let output = try await town.bd(["create", title, "--rig", "demo", "-p", String(priority), "--silent"])
                try expectOK(output)
                ids[title] = output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            // Lima is filed before Mike: slung first, and Mike only once Lima's request is there.
            func filed(_ title: String) async throws -> Bool {
                try await town.beads(scope: "demo").contains {
                    $0.issueType == .mergeRequest && $0.metadataString("source_bead") == ids[title]
                }
            }
            for title in ["Kilo [wip]", "November [wip]", "Lima [touch-wip]"] {
                try expectOK(try await town.gt(["sling", ids[title]!, "demo"]))
            }
            let limaFiled = try await town.waitUntil(timeout: .seconds(60)) { try await filed("Lima [touch-wip]") }
            #expect(limaFiled)
            try expectOK(try await town.gt(["sling", ids["Mike"]!, "demo"]))
            let mikeFiled = try await town.waitUntil(timeout: .seconds(60)) { try await filed("Mike") }
            #expect(mikeFiled)
            // Both working polecats pushed their branches (and have filed nothing).
            func pushed() async throws -> [String] {
                try await TownFixture.gitOutput(
                    ["--git-dir", remote, "for-each-ref", "--format=%(refname:short)", "refs/heads/polecat"], cwd: "/"
                ).split(separator: "\n").map(String.init).filter { name in
                    ["Kilo [wip]", "November [wip]"].contains { name.contains("/\(ids[$0]!)/") }
                }
            }
            let bothPushed = try await town.waitUntil(timeout: .seconds(60)) { try await pushed().count == 2 }
            #expect(bothPushed)
            let branches = try await pushed().sorted()
            let kiloFiled = try await filed("Kilo [wip]")
            let novemberFiled = try await filed("November [wip]")
            let wipFiled = kiloFiled || novemberFiled
            #expect(!wipFiled, "the working polecats filed nothing")

            let report = try #require(try await json(town, ["refinery", "run", "demo", "--once"]) as? [String: Any])
            #expect((report["merged"] as? [String])?.count == 2, "\(report)")
            // Mike (no overlap) landed before Lima (which overlaps both working branches), though filed later.
            let landed = try await history(remote).dropFirst().map(\.subject)
            #expect(landed == ["Mike", "Lima [touch-wip]"], "\(landed)")
            // The events log said which, before anything merged.
            let events = TownEvents.read(town.layout.eventsFile)
            let overlapAt = events.firstIndex { $0["type"] == "mq-overlaps" }
            let mergedAt = events.firstIndex { $0["type"] == "mq-merged" }
            #expect(overlapAt != nil && mergedAt != nil && overlapAt! < mergedAt!, "\(events)")
            let said = overlapAt.flatMap { events[$0]["overlaps"] } ?? ""
            let lima = try #require(
                try await requests(town).values.first { $0["source_bead"] as? String == ids["Lima [touch-wip]"] })
            for branch in branches {
                #expect(said.contains("\(lima["id"] as! String) ~ branch \(branch): wip.txt"), "\(said)")
            }
            #expect(said.contains("branch \(branches[0]) ~ branch \(branches[1]): wip.txt"), "\(said)")
            // gt mq status still names the two working branches (Lima is merged, so only their pair remains).
            let status = try #require(try await json(town, ["mq", "status", "demo"]) as? [[String: Any]]).first
            let overlaps = status?["overlaps"] as? [String] ?? []
            #expect(overlaps == ["branch \(branches[0]) ~ branch \(branches[1]): wip.txt"], "\(String(describing: status))")
            #expect(status?["overlaps_at"] is String)
            let text = try await town.gt(["mq", "status", "demo"])
            #expect(text.stdout.contains("overlap:  branch \(branches[0]) ~ branch \(branches[1])"), "\(text.stdout)")
            // A second pass that sees the same overlaps does not log them again.
            let logged = TownEvents.read(town.layout.eventsFile).filter { $0["type"] == "mq-overlaps" }.count
            _ = try await json(town, ["refinery", "run", "demo", "--once"])
            #expect(TownEvents.read(town.layout.eventsFile).filter { $0["type"] == "mq-overlaps" }.count == logged)
        }
    }

    /// A gate that fails once on every input, with two requests gated together and two gate slots: both land,
    /// marked flaky; nothing goes to rework.
    @Test func aFlakyGateDoesNotRejectGoodRequests() async throws {
        try await TownFixture.with { town in
            let state = town.directory.join("seen")
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
            try town.directory.write(
                "flaky.sh",
                """
                if [ -e \(state)/$GT_MQ_COMMIT ]; then echo "passes on $GT_MQ_COMMIT"; exit 0; fi
                touch \(state)/$GT_MQ_COMMIT
                echo "flake on $GT_MQ_COMMIT"; exit 1
                """)
            _ = try await makeRig(town, gate: "sh \(town.directory.join("flaky.sh"))")
            try expectOK(try await town.gt(["rig", "set", "demo", "gate_concurrency", "2"]))
            let ids = try await work(town, [("One", 1), ("Two", 2)])
            let report = try #require(try await json(town, ["refinery", "run", "demo", "--once"]) as? [String: Any])
            #expect((report["merged"] as? [String])?.count == 2, "\(report)")
            #expect((report["rework"] as? [String])?.isEmpty == true)
            #expect(report["flakes"] as? Int ?? 0 >= 1, "\(report)")
            let entries = try await requests(town)
            #expect(entries.values.allSatisfy { $0["status"] as? String == "merged" }, "\(entries)")
            let ledger = try await town.beads(scope: "demo")
            #expect(ledger.contains { $0.issueType == .mergeRequest && $0.metadata.contains { $0.key == "flaky" } })
            for id in ids.values { #expect(ledger.first { $0.id == id }?.status == .closed) }
        }
    }

    /// No gate: `gt mq status` says so and requests merge after a clean rebase, with no gate run. A request whose
    /// lease epoch is older than its bead's is refused; `gt mq reject` rejects with the reason and `gt mq retry`
    /// queues it again. Bad settings are refused and change nothing.
    @Test func noGateStaleEpochRejectAndRetry() async throws {
        try await TownFixture.with { town in
            let remote = try await makeRig(town, gate: nil)
            let status = try await town.gt(["mq", "status", "demo"])
            #expect(status.stdout.contains("none configured: requests merge after a clean rebase"), "\(status)")
            for bad in [["batch_size", "0"], ["bogus", "1"], ["gate_timeout", "soon"]] {
                let output = try await town.gt(["rig", "set", "demo"] + bad)
                #expect(output.status != 0 && output.stderr.contains("nothing was changed"), "\(output)")
            }
            let config = try #require(town.directory.read("town/demo/config.json"))
            #expect(!config.contains("merge_queue"), "\(config)")

            let ids = try await work(town, [("Kept", 1), ("Stale", 1), ("Refused", 2)])
            let entries = try await requests(town)
            func mr(_ title: String) -> String {
                entries.values.first { $0["source_bead"] as? String == ids[title] }!["id"] as! String
            }
            // Another lease takes "Stale" over: its request is now of an old epoch.
            let claim = try await town.bd(["update", ids["Stale"]!, "--claim"])
            try expectOK(claim)
            let reject = try await town.gt(["mq", "reject", mr("Refused"), "-r", "not wanted", "--json"])
            try expectOK(reject)
            let noReason = try await town.gt(["mq", "reject", mr("Kept")])
            #expect(noReason.status != 0 && noReason.stderr.contains("-r REASON"), "\(noReason)")

            let report = try #require(try await json(town, ["refinery", "run", "demo", "--once"]) as? [String: Any])
            #expect(report["gate_runs"] as? Int == 0 && report["gated"] as? Bool == false, "\(report)")
            #expect(report["merged"] as? [String] == [mr("Kept")], "\(report)")
            let after = try await requests(town)
            #expect(after[mr("Kept")]?["status"] as? String == "merged")
            #expect(after[mr("Stale")]?["status"] as? String == "rejected")
            #expect((after[mr("Stale")]?["reason"] as? String)?.contains("stale lease epoch") == true, "\(after)")
            #expect(after[mr("Refused")]?["status"] as? String == "rejected")
            #expect((after[mr("Refused")]?["reason"] as? String)?.contains("not wanted") == true)
            let show = try await town.gt(["mq", "show", mr("Stale")])
            #expect(show.stdout.contains("stale lease epoch"), "\(show)")
            #expect(try await history(remote).map(\.subject).dropFirst() == ["Kept"])

            // The stale one cannot be retried (its lease is gone); the rejected one can, and then lands.
            let staleRetry = try await town.gt(["mq", "retry", mr("Stale")])
            #expect(staleRetry.status != 0, "\(staleRetry)")
            try expectOK(try await town.gt(["mq", "retry", mr("Refused")]))
            let retried = try await requests(town)
            #expect(retried[mr("Refused")]?["status"] as? String == "queued")
            #expect(retried[mr("Refused")]?["retry_count"] as? Int == 1)
            let again = try #require(try await json(town, ["refinery", "run", "demo", "--once"]) as? [String: Any])
            #expect(again["merged"] as? [String] == [mr("Refused")], "\(again)")
            #expect(try await history(remote).map(\.subject).dropFirst() == ["Kept", "Refused"])
            // One Refinery per rig at a time: a pass while another holds the rig's lock is refused.
            let lockPath = town.layout.rigDirectory("demo") + "/refinery/refinery.lock"
            let held = open(lockPath, O_RDWR | O_CREAT, 0o644)
            #expect(flock(held, LOCK_EX | LOCK_NB) == 0)
            _ = pwrite(held, "4242\n", 5, 0)
            let refused = try await town.gt(["refinery", "run", "demo", "--once"])
            close(held)
            #expect(refused.status != 0 && refused.stderr.contains("another Refinery is running"), "\(refused)")
            #expect(refused.stderr.contains("4242"), "\(refused)")
            let queue = try await town.gt(["refinery", "queue", "demo"])
            #expect(queue.status == 0 && queue.stdout.contains("No open merge requests"), "\(queue)")
        }
    }

    /// A gate that runs past the rig's gate timeout is killed (its whole process group) and counts as a failure:
    /// the request comes back as rework saying it timed out, after the one retry. Its polecat is gone by then, so
    /// the rework bead is slung to another.
    @Test func aGateThatRunsTooLongIsKilled() async throws {
        try await TownFixture.with { town in
            let pids = town.directory.join("gate-pids")
            try town.directory.write("slow.sh", "echo $$ >> \(pids)\nsleep 60 & wait\n")
            _ = try await makeRig(town, gate: "sh \(town.directory.join("slow.sh"))")
            try expectOK(try await town.gt(["rig", "set", "demo", "gate-timeout", "1"]))
            _ = try await work(town, [("Slow", 2)])
            let maker = try #require(try await town.beads(scope: "demo").compactMap(PolecatState.init(bead:)).first)
            try expectOK(try await town.gt(["polecat", "remove", "demo", maker.name]))
            let report = try #require(try await json(town, ["refinery", "run", "demo", "--once"]) as? [String: Any])
            #expect((report["rework"] as? [String])?.count == 1 && report["gate_runs"] as? Int == 2, "\(report)")
            let entry = try #require(try await requests(town).values.first)
            #expect((entry["reason"] as? String)?.contains("timed out after 1 s") == true, "\(entry)")
            for pid in (town.directory.read("gate-pids") ?? "").split(separator: "\n").compactMap({ Int32($0) }) {
                // Gone, or a zombie waiting for a reaper that is not ours (killed, exited).
                let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
                let state = stat.split(separator: ")").last?.split(separator: " ").first ?? "X"
                #expect(kill(pid, 0) != 0 || state == "Z", "gate process \(pid) still runs: \(stat)")
            }
            let rework = try #require(try await town.beads(scope: "demo").first { $0.id == entry["rework_bead"] as? String })
            #expect(!rework.assignee.isEmpty && !rework.assignee.hasSuffix("/\(maker.name)"), "\(rework.assignee)")
        }
    }

    /// Someone else pushes to the rig's remote while the gate runs: the Refinery's compare-and-swap push loses, the
    /// queue rebuilds on the new tip, and the request lands on top of the outside commit; nothing is lost.
    @Test func aPushRacingAnOutsidePushIsRetriedOnTheNewTip() async throws {
        try await TownFixture.with { town in
            let outside = town.directory.join("outside")
            let flag = town.directory.join("pushed")
            try town.directory.write(
                "racing.sh",
                """
                if [ ! -e \(flag) ]; then
                  touch \(flag)
                  cd \(outside) && echo outside > outside.txt && git add outside.txt
                  git -c user.name=someone -c user.email=someone@else commit -qm "Outside" && git push -q origin HEAD:main
                fi
                echo "gate ok"
                """)
            let remote = try await makeRig(town, gate: "sh \(town.directory.join("racing.sh"))")
            try await TownFixture.git(["clone", "-q", remote, outside], cwd: town.directory.path)
            _ = try await work(town, [("Raced", 2)])
            let report = try #require(try await json(town, ["refinery", "run", "demo", "--once"]) as? [String: Any])
            #expect(report["pushes_rejected"] as? Int == 1 && report["pushes"] as? Int == 1, "\(report)")
            #expect(report["merged"] as? [String] == (try await requests(town)).keys.sorted(), "\(report)")
            let landed = try await history(remote)
            #expect(landed.map(\.subject).dropFirst() == ["Outside", "Raced"], "\(landed)")
            #expect(landed.allSatisfy { $0.parents <= 1 })
        }
    }
}

/// The rig's merge-queue settings as config.json holds them and `gt rig set` changes them.
struct RefinerySettingsTests {
    @Test func settingsRoundTripAndMapOntoTheCore() throws {
        var settings = RigMergeQueueSettings()
        #expect(settings.gateCommand == nil && !settings.queueSettings.gateConfigured)
        try settings.set("gate", to: "make test")
        try settings.set("batch-size", to: "6")
        try settings.set("speculation_depth", to: "0")
        try settings.set("gate_concurrency", to: "2")
        try settings.set("gate_timeout", to: "90")
        let core = settings.queueSettings
        #expect(core.gateConfigured && core.batchSize == 6 && core.speculationDepth == 0 && core.gateConcurrency == 2)
        #expect(settings.timeout == .seconds(90))
        try settings.set("gate", to: "  ")
        #expect(settings.gateCommand == nil)
        var config = RigConfig(
            name: "demo", gitURL: "/x", defaultBranch: "main", createdAt: "", prefix: "demo", runtime: nil)
        config.mergeQueue = settings
        let data = try JSONEncoder().encode(config)
        #expect(String(decoding: data, as: UTF8.self).contains("\"batch_size\":6"))
        #expect(try JSONDecoder().decode(RigConfig.self, from: data) == config)
        let before = settings
        for (key, value) in [("batch_size", "0"), ("batch_size", "x"), ("nope", "1"), ("gate_timeout", "-1")] {
            #expect(throws: TownError.self) { try settings.set(key, to: value) }
            #expect(settings == before, "a refused \(key)=\(value) changed nothing")
        }
    }

    /// Damaged config.json bytes (a `merge_queue` object mutated at random): reading either decodes or says the
    /// file is not a valid config; it never crashes.
    @Test func damagedConfigsAreRefusedCleanly() throws {
        let valid = Array(
            """
            {"type":"rig","version":1,"name":"demo","git_url":"/r","default_branch":"main","created_at":"",
             "beads":{"prefix":"demo"},"merge_queue":{"gate":"sh gate.sh","gate_timeout":60,"batch_size":4,
             "speculation_depth":1,"gate_concurrency":2,"flaky_retries":1}}
            """.utf8)
        let directory = try TempDir(prefix: "gt-mq-fuzz")
        let path = directory.join("config.json")
        var random = SplitMix64(seed: 0x5EED_12)
        var decoded = 0
        for _ in 0..<400 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let index = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[index] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes.remove(at: index)
                default: bytes.insert(Array("{}[]\":,0-9a".utf8).randomElement(using: &random)!, at: index)
                }
            }
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            do {
                if try TownJSON.read(RigConfig.self, from: path) != nil { decoded += 1 }
            } catch {
                guard case .io(let message) = error else {
                    Issue.record("unexpected \(error)")
                    continue
                }
                #expect(message.contains("does not hold a valid RigConfig"))
            }
        }
        #expect(decoded > 0 && decoded < 400, "both outcomes were exercised (\(decoded) decoded)")
    }
}
