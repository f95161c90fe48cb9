import Foundation
import GasTownTestKit
import Node
import Sessions
import Testing
import Town

/// Two towns on one host, both with a rig named alike and a polecat named alike: their tmux servers and
/// session names never collide, and stopping one town's sessions leaves the other's running.
@Suite(.serialized) struct TownTwoTownsTests {
    @Test func namesNeverCollideAndStoppingOneLeavesTheOther() async throws {
        try await TownFixture.with(name: "town") { first in
            try await TownFixture.with(name: "town") { second in
                for town in [first, second] {
                    try expectOK(
                        try await town.gt(["rig", "add", "demo", town.source, "--runtime", "exec:'sleep 60'"]))
                    let bead = try await town.createBead("Long work", scope: "demo")
                    try expectOK(try await town.gt(["sling", bead, "demo"]))
                }
                #expect(first.layout.hostID != second.layout.hostID)
                let firstSessions = await first.sessions()
                let secondSessions = await second.sessions()
                #expect(firstSessions.count == 1 && secondSessions.count == 1)
                #expect(Set(firstSessions).isDisjoint(with: secondSessions))
                #expect(firstSessions.allSatisfy { $0.hasPrefix("gt-\(first.layout.hostID)-demo-furiosa-e") })
                #expect(secondSessions.allSatisfy { $0.hasPrefix("gt-\(second.layout.hostID)-demo-furiosa-e") })

                let workflow = try await TownWorkflow(
                    layout: first.layout, actor: "test", gtExecutable: try BuiltBinaries.path(of: .gt))
                try await (workflow.sessions as! TmuxDriver).killServer()
                #expect(try await first.waitUntil(timeout: .seconds(10)) { await first.sessions().isEmpty })
                #expect(await second.sessions() == secondSessions)
                let status = try await second.gt(["polecat", "status", "demo/furiosa", "--json"])
                #expect(status.stdout.contains("\"session_alive\": true"), "\(status)")
            }
        }
    }
}
