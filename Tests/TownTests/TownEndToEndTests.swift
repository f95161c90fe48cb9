import Beads
import Foundation
import GasTownTestKit
import Node
import Testing
import Town

/// The town's workflow with the built `gt`, real git, real tmux and scripted `exec` agents.
@Suite(.serialized) struct TownEndToEndTests {
    /// 6 beads slung to 3 polecats (the rig allows 3; a 4th sling waits for a free one): each agent edits a file,
    /// commits and runs `gt done`; 6 merge requests with the right branches and commits; polecats idle.
    @Test func sixBeadsThroughThreePolecats() async throws {
        try await TownFixture.with { town in
            let agent = try town.writeAgent(delay: 0.3)
            try expectOK(
                try await town.gt([
                    "rig", "add", "demo", town.source, "--runtime", "exec:'sh \(agent)'", "--max-polecats", "3",
                ]))
            for name in ["ace", "dag", "max"] { try expectOK(try await town.gt(["polecat", "add", "demo", name])) }
            var beads: [String] = []
            for index in 1...6 { beads.append(try await town.createBead("Task \(index)", scope: "demo")) }
            for bead in beads {
                var slung = false
                let ok = try await town.waitUntil(timeout: .seconds(60)) {
                    let output = try await town.gt(["sling", bead, "demo"])
                    if output.status == 0 {
                        slung = true
                        return true
                    }
                    #expect(output.stderr.contains("busy polecats"), "unexpected sling failure: \(output)")
                    return false
                }
                #expect(ok && slung, "could not sling \(bead)")
            }
            let finished = try await town.waitUntil(timeout: .seconds(90)) {
                let all = try await town.beads(scope: "demo")
                return all.filter { $0.issueType == .mergeRequest }.count == 6
                    && all.filter { $0.issueType == .agent }.allSatisfy { PolecatState(bead: $0)?.isIdle == true }
            }
            #expect(finished, "not all 6 beads finished")
            try await TownEndToEndTests.checkMergeRequests(town, beads: beads)
            let polecats = try await town.beads(scope: "demo").compactMap(PolecatState.init(bead:))
            #expect(
                Set(polecats.map(\.name)) == ["ace", "dag", "max"], "the rig allows 3 polecats: no sling made a 4th")
            #expect(polecats.map(\.completed).reduce(0, +) == 6)
            #expect(polecats.allSatisfy { $0.isIdle })
            let queue = try await town.gt(["refinery", "queue", "demo", "--json"])
            try expectOK(queue)
            #expect(queue.stdout.components(separatedBy: "\"source_bead\"").count - 1 == 6, "\(queue)")
            let events = TownEvents.read(town.layout.eventsFile)
            #expect(events.filter { $0["type"] == "sling" }.count == 6)
            #expect(events.filter { $0["type"] == "done" }.count == 6)
        }
    }

    /// Every bead has exactly one merge request, on its own epoch's branch, whose commit is that branch's tip in
    /// the rig's remote and holds the agent's file and no workflow file.
    static func checkMergeRequests(_ town: TownFixture, beads: [String]) async throws {
        let all = try await town.beads(scope: "demo")
        let requests = all.filter { $0.issueType == .mergeRequest }
        for bead in beads {
            let mine = requests.filter { $0.metadataString("source_bead") == bead }
            #expect(mine.count == 1, "\(bead) has \(mine.count) merge requests")
            guard let request = mine.first, let work = all.first(where: { $0.id == bead }) else { continue }
            let branch = request.metadataString("branch") ?? ""
            let epoch = request.metadataInt("lease_epoch")
            #expect(epoch == work.leaseEpoch)
            #expect(branch.hasPrefix("polecat/town/") && branch.hasSuffix("/\(bead)/e\(epoch)"), "branch \(branch)")
            let tip = try await TownFixture.gitOutput(["rev-parse", "refs/heads/\(branch)"], cwd: town.source)
            #expect(tip.trimmingCharacters(in: .whitespacesAndNewlines) == request.metadataString("commit"))
            let files = try await TownFixture.gitOutput(["show", "--name-only", "--format=", branch], cwd: town.source)
            #expect(files.contains("work-\(bead).txt"))
            #expect(!files.contains(".gt/"))
            #expect(
                request.id
                    == DoneProgress.mergeRequestID(
                        prefix: "demo", bead: bead, epoch: epoch, commit: request.metadataString("commit") ?? ""))
            #expect(work.assignee.isEmpty, "\(bead) still claimed by \(work.assignee)")
        }
    }
}

/// The same work with sessions as plain processes (the driver used where tmux is absent): pid and start time
/// recorded, agents finish and file their merge requests, nothing left running.
@Suite(.serialized) struct TownProcessDriverTests {
    @Test func beadsDoneByPlainProcessSessions() async throws {
        try await TownFixture.with { town in
            try "process\n".write(toFile: town.layout.sessionDriverFile, atomically: false, encoding: .utf8)
            let agent = try town.writeAgent(delay: 0.2)
            try expectOK(try await town.gt(["rig", "add", "demo", town.source, "--runtime", "exec:'sh \(agent)'"]))
            var beads: [String] = []
            for index in 1...3 {
                let bead = try await town.createBead("Process task \(index)", scope: "demo")
                beads.append(bead)
                let slung = try await town.gt(["sling", bead, "demo", "--json"])
                try expectOK(slung)
            }
            let records = try FileManager.default.contentsOfDirectory(atPath: town.town + "/.gt/sessions")
            #expect(records.contains { $0.hasSuffix(".json") }, "process records: \(records)")
            #expect(await town.sessions().isEmpty, "no tmux session may be used")
            let finished = try await town.waitUntil(timeout: .seconds(60)) {
                try await town.beads(scope: "demo").filter { $0.issueType == .mergeRequest }.count == 3
            }
            #expect(finished)
            try await TownEndToEndTests.checkMergeRequests(town, beads: beads)
        }
    }
}
