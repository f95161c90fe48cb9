import Beads
import Foundation
import GasTownTestKit
import Testing

@testable import Town

/// `gt done` interrupted at every step, in the worst place (the step's effect made, not yet recorded), then run
/// again: it finishes, with one merge request, one release, one CV count.
@Suite(.serialized) struct TownDoneRecoveryTests {
    @Test(arguments: DoneProgress.Step.allCases)
    func doneResumesAfterACrashAtEveryStep(step: DoneProgress.Step) async throws {
        try await TownFixture.with { town in
            // The agent commits and waits: the test plays its `gt done`.
            let script = """
                echo "work on $GT_BEAD" > "work-$GT_BEAD.txt"
                git add -A
                git -c user.name=p -c user.email=p@gt commit -qm "work on $GT_BEAD"
                touch .gt/committed
                sleep 60
                """
            try town.directory.write("agent.sh", script)
            try expectOK(
                try await town.gt([
                    "rig", "add", "demo", town.source, "--runtime", "exec:'sh \(town.directory.join("agent.sh"))'",
                ]))
            let bead = try await town.createBead("Interrupted", scope: "demo")
            try expectOK(try await town.gt(["sling", bead, "demo"]))
            let worktree = town.layout.polecatWorktree("demo", "furiosa")
            #expect(
                try await town.waitUntil(timeout: .seconds(20)) {
                    FileManager.default.fileExists(atPath: worktree + "/.gt/committed")
                })

            var workflow = try await TownWorkflow(
                layout: town.layout, actor: "test", gtExecutable: try BuiltBinaries.path(of: .gt))
            workflow.crashBeforeRecording = step
            await #expect(throws: TownError.self) { try await workflow.done(from: worktree) }
            let saved = try #require(
                try TownJSON.read(DoneProgress.self, from: TownLayout.doneFile(worktree: worktree)))
            #expect(saved.next == step, "the interrupted step is not recorded")

            let again = try await town.gt(["done", "--json"], cwd: worktree)
            try expectOK(again)
            #expect(again.stdout.contains("\"\(step.rawValue)\""), "the interrupted step runs again: \(again)")
            let finished = try #require(
                try TownJSON.read(DoneProgress.self, from: TownLayout.doneFile(worktree: worktree)))
            #expect(finished.isFinished)
            let third = try await town.gt(["done"], cwd: worktree)
            #expect(third.stdout.contains("Already done"), "\(third)")

            let beads = try await town.beads(scope: "demo")
            #expect(beads.filter { $0.issueType == .mergeRequest }.count == 1)
            let work = try #require(beads.first { $0.id == bead })
            #expect(work.assignee.isEmpty && work.metadataString("merge_request") == finished.mergeRequest)
            let polecat = try #require(beads.compactMap(PolecatState.init(bead:)).first)
            #expect(polecat.isIdle && polecat.completed == 1)
            let remote = try await TownFixture.gitOutput(
                ["rev-parse", "refs/heads/\(finished.branch)"], cwd: town.source)
            #expect(remote.trimmingCharacters(in: .whitespacesAndNewlines) == finished.commit)
        }
    }
}
