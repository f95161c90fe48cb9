import Beads
import Foundation
import GasTownTestKit
import Testing
import Town

/// `gt sling <bead> <rig> --compare fast,slow`: the same bead on two runtimes (two scripted presets) in two
/// polecats; the Refinery merges the first filed that passes and closes the other as superseded, unmerged; both
/// outcomes go on the CVs per runtime and show in `gt polecat status`. Bad input changes nothing.
@Suite(.serialized) struct CompareTests {
    /// Presets `fast` (at once; with `fastBreaks`, leaving a marker the gate refuses) and `slow` (after 3 s), rig
    /// demo on them, optionally gated. Returns the rig's remote.
    func makeRig(_ town: TownFixture, fastBreaks: Bool = false, gate: String? = nil) async throws -> String {
        let agent = """
            [ -n "$DELAY" ] && sleep "$DELAY"
            [ -n "$BREAK" ] && echo broken > "broken-$GT_POLECAT.marker"
            echo "work on $GT_BEAD by $GT_POLECAT" > "work-$GT_POLECAT.txt"
            git add -A
            git -c user.name="$GT_POLECAT" -c user.email="$GT_POLECAT@polecats.gt" \
                commit -qm "$GT_BEAD_TITLE by $GT_POLECAT"
            gt done
            """
        try town.directory.write("fast.sh", (fastBreaks ? "BREAK=1\n" : "") + agent)
        try town.directory.write("slow.sh", "DELAY=3\n" + agent)
        let presets: [String: Any] = [
            "version": 1,
            "agents": [
                "fast": ["command": "sh", "args": [town.directory.join("fast.sh")]],
                "slow": ["command": "sh", "args": [town.directory.join("slow.sh")]],
            ],
        ]
        try FileManager.default.createDirectory(atPath: town.town + "/settings", withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: presets).write(
            to: URL(fileURLWithPath: town.town + "/settings/agents.json"))
        let remote = town.directory.join("remote.git")
        try await TownFixture.git(["clone", "-q", "--bare", town.source, remote], cwd: town.directory.path)
        try expectOK(
            try await town.gt(
                ["rig", "add", "demo", remote, "--runtime", "fast", "--max-polecats", "4"]
                    + (gate.map { ["--gate", $0] } ?? [])))
        return remote
    }

    /// `gt sling <bead> demo --compare fast,slow --json`: the runs (bead, polecat, runtime).
    func compare(_ town: TownFixture, _ id: String) async throws -> [[String: Any]] {
        let output = try await town.gt(["sling", id, "demo", "--compare", "fast,slow", "--json"])
        try expectOK(output)
        let reply = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any])
        return try #require(reply["runs"] as? [[String: Any]])
    }

    @Test func theFirstRunThatPassesIsMergedTheOtherSuperseded() async throws {
        try await TownFixture.with { town in
            let remote = try await makeRig(town)
            let id = try await town.createBead("Parse the config", scope: "demo")
            try expectOK(try await town.bd(["label", "add", id, "skill:swift"]))

            // Bad input: nothing changes.
            for (arguments, message) in [
                (["--compare", "fast"], "two or more runtimes"),
                (["--compare", "fast,fast"], "names a runtime twice"),
                (["--compare", "fast,slow", "--runtime", "fast"], "leave out --runtime"),
                (["--compare", "fast,nosuch"], "no such runtime"),
            ] {
                let output = try await town.gt(["sling", id, "demo"] + arguments)
                #expect(output.status != 0 && output.stderr.contains(message), "\(arguments): \(output)")
            }
            let untouched = try await town.beads(scope: "demo")
            #expect(untouched.filter { $0.id.contains("-cmp-") }.isEmpty, "no twin filed")
            #expect(untouched.first { $0.id == id }.map { $0.assignee.isEmpty && $0.leaseEpoch == 0 } == true)

            let runs = try await compare(town, id)
            #expect(runs.map { $0["runtime"] as? String } == ["fast", "slow"], "\(runs)")
            let polecats = runs.compactMap { $0["polecat"] as? String }
            #expect(Set(polecats).count == 2, "two polecats: \(polecats)")
            let twin = try #require(runs.last?["bead"] as? String)
            #expect(runs.first?["bead"] as? String == id && twin.hasPrefix("demo-cmp-"))
            let twinBead = try #require(try await town.beads(scope: "demo").first { $0.id == twin })
            #expect(twinBead.labels.contains("skill:swift") && twinBead.labels.contains("gt:compare"))
            #expect(twinBead.metadataString("compare_of") == id && twinBead.title == "Parse the config")

            // Both file their merge requests (fast first), then a pass merges fast's; the next supersedes slow's.
            let filed = try await town.waitUntil(timeout: .seconds(60)) {
                let requests = try await town.beads(scope: "demo").filter { $0.issueType == .mergeRequest }
                return Set(requests.compactMap { $0.metadataString("source_bead") }) == [id, twin]
            }
            #expect(filed, "both runs file a merge request")
            let idle = try await town.waitUntil(timeout: .seconds(30)) {
                try await town.beads(scope: "demo").compactMap(PolecatState.init(bead:)).allSatisfy(\.isIdle)
            }
            #expect(idle)
            try expectOK(try await town.gt(["refinery", "run", "demo", "--once"]))
            try expectOK(try await town.gt(["refinery", "run", "demo", "--once"]))
            let ledger = try await town.beads(scope: "demo")
            let requests = ledger.filter { $0.issueType == .mergeRequest }
            let fastMR = try #require(requests.first { $0.metadataString("source_bead") == id })
            let slowMR = try #require(requests.first { $0.metadataString("source_bead") == twin })
            #expect(fastMR.metadataString("mq_status") == "merged", "\(fastMR.metadata)")
            #expect(slowMR.metadataString("mq_status") == "superseded", "\(slowMR.metadata)")
            #expect(slowMR.status == .closed && slowMR.metadataString("merge_commit") == nil)
            #expect(ledger.first { $0.id == id }?.status == .closed)
            #expect(ledger.first { $0.id == twin }?.status == .closed)
            let landed = try await TownFixture.gitOutput(["--git-dir", remote, "log", "--format=%s", "main"], cwd: "/")
            #expect(landed.split(separator: "\n").count == 2, "one run landed: \(landed)")
            #expect(landed.contains("by \(polecats[0])") && !landed.contains("by \(polecats[1])"), "\(landed)")

            // Both outcomes on the CVs, per label and runtime, and in gt polecat status.
            let cvs = Dictionary(
                uniqueKeysWithValues: ledger.compactMap(PolecatState.init(bead:)).map { ($0.name, $0) })
            #expect(cvs[polecats[0]]?.entry(label: "skill:swift", runtime: "fast")?.merges == 1)
            #expect(cvs[polecats[1]]?.entry(label: "skill:swift", runtime: "slow")?.superseded == 1)
            #expect(cvs[polecats[1]]?.merges == 0 && cvs[polecats[1]]?.superseded == 1)
            let fastStatus = try await town.gt(["polecat", "status", "demo/\(polecats[0])"])
            #expect(fastStatus.stdout.contains("skill:swift on fast: 1 merged, 0 failed, 0 rework"), "\(fastStatus)")
            let slowStatus = try await town.gt(["polecat", "status", "demo/\(polecats[1])"])
            #expect(
                slowStatus.stdout.contains("skill:swift on slow: 0 merged, 0 failed, 0 rework, 1 superseded"),
                "\(slowStatus)")
        }
    }

    /// The first filed fails the gate: it goes back as rework on its own runtime, the other run's request is tested
    /// and merged, and the rework's request, when it comes, is superseded.
    @Test func aRunThatFailsTheGateLetsTheOtherMerge() async throws {
        try await TownFixture.with { town in
            try town.directory.write(
                "gate.sh", "if ls broken-*.marker >/dev/null 2>&1; then echo \"FAIL: marker\"; exit 1; fi\n")
            let remote = try await makeRig(town, fastBreaks: true, gate: "sh \(town.directory.join("gate.sh"))")
            let id = try await town.createBead("Parse the config", scope: "demo")
            try expectOK(try await town.bd(["label", "add", id, "skill:swift"]))
            let runs = try await compare(town, id)
            let polecats = runs.compactMap { $0["polecat"] as? String }
            let twin = try #require(runs.last?["bead"] as? String)
            func requests() async throws -> [Bead] {
                try await town.beads(scope: "demo").filter { $0.issueType == .mergeRequest }
            }
            let filed = try await town.waitUntil(timeout: .seconds(60)) {
                Set(try await requests().compactMap { $0.metadataString("source_bead") }).isSuperset(of: [id, twin])
            }
            #expect(filed, "both runs file a merge request")
            // Pass 1: fast's request (the first filed) fails the gate; its rework goes back to fast's polecat.
            try expectOK(try await town.gt(["refinery", "run", "demo", "--once"]))
            let first = try await requests()
            let fastMR = try #require(first.first { $0.metadataString("source_bead") == id })
            #expect(fastMR.metadataString("mq_status") == "rework", "\(fastMR.metadata)")
            let reworkBead = try #require(fastMR.metadataString("rework_bead"))
            #expect(first.first { $0.metadataString("source_bead") == twin }?.status != .closed, "slow's waits")
            // The rework is worked on fast again and filed; pass 2 tests slow's (filed first) and merges it.
            let reworked = try await town.waitUntil(timeout: .seconds(60)) {
                try await requests().contains { $0.metadataString("source_bead") == reworkBead }
            }
            #expect(reworked, "the rework is filed")
            try expectOK(try await town.gt(["refinery", "run", "demo", "--once"]))
            try expectOK(try await town.gt(["refinery", "run", "demo", "--once"]))
            let last = try await requests()
            let slowMR = try #require(last.first { $0.metadataString("source_bead") == twin })
            let reworkMR = try #require(last.first { $0.metadataString("source_bead") == reworkBead })
            #expect(slowMR.metadataString("mq_status") == "merged", "\(slowMR.metadata)")
            #expect(reworkMR.metadataString("mq_status") == "superseded", "\(reworkMR.metadata)")
            #expect(reworkMR.metadataString("runtime") == "fast", "the rework ran on its own runtime")
            let ledger = try await town.beads(scope: "demo")
            for bead in [id, twin, reworkBead] {
                #expect(ledger.first { $0.id == bead }?.status == .closed, "\(bead) closed")
            }
            let landed = try await TownFixture.gitOutput(["--git-dir", remote, "log", "--format=%s", "main"], cwd: "/")
            #expect(landed.contains("by \(polecats[1])") && !landed.contains("by \(polecats[0])"), "\(landed)")
            let cvs = Dictionary(
                uniqueKeysWithValues: ledger.compactMap(PolecatState.init(bead:)).map { ($0.name, $0) })
            let fast = cvs[polecats[0]]?.entry(label: "skill:swift", runtime: "fast")
            #expect(fast?.rework == 1 && fast?.superseded == 1 && fast?.merges == 0, "\(String(describing: fast))")
            #expect(cvs[polecats[1]]?.entry(label: "skill:swift", runtime: "slow")?.merges == 1)
        }
    }
}
