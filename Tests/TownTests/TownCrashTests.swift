import Beads
import Foundation
import GasTownTestKit
import Node
import Sessions
import Testing
import Town

#if canImport(Glibc)
    import Glibc
#endif

/// GUPP across a node crash: `kill -9` of the node while agents work, one agent's session lost too; `gt up`
/// again finds the live sessions, restarts the dead one from its hook, and all 6 beads complete exactly once.
@Suite(.serialized) struct TownCrashTests {
    @Test func killNineWhileAgentsWorkThenUpAgain() async throws {
        try await TownFixture.with { town in
            try expectOK(try await town.gt(["cluster", "init", "--name", "crash"]))
            try await town.up()
            let agent = try town.writeAgent(delay: 3)
            try expectOK(
                try await town.gt([
                    "rig", "add", "demo", town.source, "--runtime", "exec:'sh \(agent)'", "--max-polecats", "3",
                ]))
            var beads: [String] = []
            for index in 1...6 { beads.append(try await town.createBead("Task \(index)", scope: "demo")) }
            for bead in beads.prefix(3) { try expectOK(try await town.gt(["sling", bead, "demo"])) }

            let nodePID = try #require(town.nodePID())
            #expect(kill(nodePID, SIGKILL) == 0)
            let lost = try #require(
                try await town.beads(scope: "demo").compactMap(PolecatState.init(bead:)).first { !$0.isIdle })
            let lostSession = lost.sessionName(townRoot: town.town)
            #expect(try await town.tmux.kill(lostSession))
            let hookedBefore = try await town.beads(scope: "demo").filter { beads.contains($0.id) && !$0.assignee.isEmpty }
            #expect(hookedBefore.contains { $0.id == lost.hookBead }, "the lost session's bead must still be hooked")

            try await town.up()
            let restarted = try await town.waitUntil(timeout: .seconds(20)) {
                TownEvents.read(town.layout.eventsFile).contains {
                    $0["type"] == "restart"
                        && ($0["agent"] == lost.address || $0["restarted"]?.contains(lost.address) == true)
                }
            }
            #expect(restarted, "the dead session of \(lost.address) was not restarted")
            let reprimed = try await town.waitUntil(timeout: .seconds(20)) {
                TownEvents.read(town.layout.eventsFile).filter { $0["type"] == "restart" && $0["found"] != nil }.count
                    == 2
            }
            #expect(reprimed, "the node records one re-prime pass per start")

            for bead in beads.suffix(3) {
                let slung = try await town.waitUntil(timeout: .seconds(60)) {
                    try await town.gt(["sling", bead, "demo"]).status == 0
                }
                #expect(slung, "could not sling \(bead)")
            }
            let finished = try await town.waitUntil(timeout: .seconds(90)) {
                let all = try await town.beads(scope: "demo")
                return all.filter { $0.issueType == .mergeRequest }.count >= 6
                    && all.compactMap(PolecatState.init(bead:)).allSatisfy { $0.isIdle }
            }
            #expect(finished, "not all 6 beads finished after the crash")
            try await TownEndToEndTests.checkMergeRequests(town, beads: beads)
            let polecats = try await town.beads(scope: "demo").compactMap(PolecatState.init(bead:))
            #expect(polecats.map(\.completed).reduce(0, +) == 6, "no bead is done twice")
            let dones = TownEvents.read(town.layout.eventsFile).filter { $0["type"] == "done" }
            #expect(Set(dones.compactMap { $0["bead"] }) == Set(beads) && dones.count == 6)
            try expectOK(try await town.gt(["down"]))
        }
    }
}

/// With a node, agent-facing commands go through it; while it is down they wait for it, saying so, and go on
/// once it is back (they never write around it).
@Suite(.serialized) struct TownNodeChannelTests {
    @Test func agentCommandsWaitForTheNodeAndSaySo() async throws {
        try await TownFixture.with { town in
            try expectOK(try await town.gt(["rig", "add", "demo", town.source]))
            try expectOK(try await town.gt(["polecat", "add", "demo", "nux"]))
            try expectOK(try await town.gt(["cluster", "init", "--name", "channel"]))
            try await town.up()
            let nobody = try await town.gt(["mail", "send", "nobody/x", "-s", "lost"])
            #expect(nobody.status == 1 && nobody.stderr.contains("no mailbox 'nobody/x'"), "\(nobody)")
            let sent = try await town.gt(["mail", "send", "demo/nux", "-s", "through the node"])
            try expectOK(sent)
            #expect(sent.stderr.isEmpty, "\(sent)")
            try expectOK(try await town.gt(["down"]))
            let waiting = Task { try await town.gt(["mail", "inbox", "--from", "demo/nux"]) }
            try await Task.sleep(for: .seconds(2))
            try await town.up()
            let output = try await waiting.value
            try expectOK(output)
            #expect(output.stderr.contains("the town's node is not answering"), "\(output)")
            #expect(output.stdout.contains("through the node"), "\(output)")
            let refused = try await town.gt(["mail", "read", "hq-nope"])
            #expect(refused.status == 1 && refused.stderr.contains("no message hq-nope"), "\(refused)")
            let outside = try await town.gt(["done"])
            #expect(outside.status == 1 && outside.stderr.contains("not inside a polecat worktree"), "\(outside)")
            try expectOK(try await town.gt(["down"]))
        }
    }
}
