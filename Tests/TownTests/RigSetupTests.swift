import Beads
import Foundation
import GasTownTestKit
import Testing

/// A rig's setup command (`gt rig add --setup`, `gt rig set <rig> setup CMD`): run in each new polecat worktree
/// before the session starts, its output in the worktree's `.gt/setup.log`; a failing one releases the bead.
@Suite(.serialized) struct RigSetupTests {
    @Test func setupRunsBeforeTheSessionAndAFailingSetupReleasesTheBead() async throws {
        try await TownFixture.with { town in
            let setup = town.directory.join("setup.sh")
            try town.directory.write(
                "setup.sh",
                """
                #!/bin/sh
                echo "setting up $GT_BEAD in $(pwd)"
                echo "$GT_BEAD" > .gt/setup-ready
                """)
            let seen = town.directory.join("seen.log")
            try town.directory.write(
                "agent.sh",
                """
                #!/bin/sh
                if test "$(cat .gt/setup-ready)" = "$GT_BEAD"; then echo "$GT_BEAD" >> \(seen); fi
                gt done
                """)
            let agent = town.directory.join("agent.sh")
            try expectOK(
                try await town.gt([
                    "rig", "add", "demo", town.source, "--runtime", "exec:'sh \(agent)'", "--setup", "sh \(setup)",
                ]))
            let id = try await town.createBead("Set up first", scope: "demo")
            let slung = try await town.gt(["sling", id, "--json"])
            try expectOK(slung)
            let worktree = try #require(
                (try JSONSerialization.jsonObject(with: Data(slung.stdout.utf8)) as? [String: Any])?["worktree"]
                    as? String)
            let log = town.directory.read(
                String(worktree.dropFirst(town.directory.path.count + 1)) + "/.gt/setup.log") ?? ""
            #expect(log.contains("setting up \(id) in \(worktree)"), "the setup's output is kept: \(log)")
            let agentSaw = try await town.waitUntil(timeout: .seconds(60)) {
                (town.directory.read("seen.log") ?? "").contains(id)
            }
            #expect(agentSaw, "the agent did not see the setup's file")

            // A failing setup: the sling fails saying why, and the bead is not left hooked.
            let set = try await town.gt(["rig", "set", "demo", "setup", "echo broken-setup >&2; exit 3"])
            try expectOK(set)
            let broken = try await town.createBead("Broken setup", scope: "demo")
            let failed = try await town.gt(["sling", broken])
            #expect(failed.status != 0, "\(failed)")
            #expect(failed.stderr.contains("setup command of rig demo failed (exit 3)"), "\(failed)")
            #expect(failed.stderr.contains("broken-setup") && failed.stderr.contains("setup.log"), "\(failed)")
            let bead = try await town.beads(scope: "demo").first { $0.id == broken }
            #expect(bead?.status == .open && bead?.assignee == "", "\(String(describing: bead))")
            #expect(!(town.directory.read("seen.log") ?? "").contains(broken), "no session started")
            // Cleared: the next sling needs no setup.
            try expectOK(try await town.gt(["rig", "set", "demo", "setup", ""]))
            try expectOK(try await town.gt(["sling", broken]))
        }
    }
}
