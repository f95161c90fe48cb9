import Foundation
import GasTownTestKit
import Sessions
import Testing

@testable import Dashboard

/// `FeedView` (pure): problems first, then each section; and `gt feed` itself, in a real tmux pane on a running node,
/// showing a slung bead go from a working polecat to a merged merge request, and `gt feed --json` streaming events.
@Suite("gt feed", .serialized)
struct FeedTests {
    @Test func problemsComeFirstAndEverySectionIsShown() {
        let snapshot = FeedSnapshot(
            node: "alpha",
            members: [
                .init(name: "alpha", status: "alive", freeSlots: 3, runningAgents: 1, draining: false, isSelf: true),
                .init(name: "beta", status: "dead", freeSlots: 0, runningAgents: 0, draining: false, isSelf: false),
            ],
            polecats: [
                .init(
                    agent: "demo/polecats/ace", state: "working", hookBead: "de-1", hookTitle: "Paint", health: "hung",
                    reason: "no output for 300 s"),
                .init(
                    agent: "demo/polecats/bo", state: "idle", hookBead: "", hookTitle: "", health: "idle", reason: ""),
            ],
            convoys: [.init(id: "hq-cv-1", name: "Bridge", status: "open", done: 1, total: 2)],
            mergeRequests: [
                .init(id: "de-mr-1", rig: "demo", sourceBead: "de-2", status: "conflict", reason: "README")
            ],
            events: [["ts": "2026-12-04T17:00:00Z", "node": "alpha", "type": "sling", "bead": "de-1"]])
        let lines = FeedView.render(snapshot, width: 200, height: 100)
        let text = lines.joined(separator: "\n")
        #expect(lines[2] == "PROBLEMS (3)", "\(text)")
        #expect(lines[3] == "  ! node beta is dead", "\(text)")
        #expect(lines[4] == "  ! polecat demo/polecats/ace is hung: no output for 300 s", "\(text)")
        #expect(lines[5] == "  ! merge request de-mr-1 (de-2) is conflict: README", "\(text)")
        #expect(text.contains("alpha *") && text.contains("agents 1, free slots 3"), "\(text)")
        #expect(text.contains("[#####.....] 1/2 open"), "\(text)")
        #expect(text.contains("2026-12-04 17:00:00 alpha sling bead=de-1"), "\(text)")
        #expect(FeedView.render(snapshot, width: 20, height: 4).count == 4)
        #expect(FeedView.render(snapshot, width: 20, height: 100).allSatisfy { $0.count <= 20 })
        let calm = FeedSnapshot(node: "alpha", members: [snapshot.members[0]])
        #expect(FeedView.render(calm)[2] == "PROBLEMS: none")
    }

    /// Bad input and no node: a clear error, non-zero exit, nothing on stdout.
    @Test func withoutANodeOrWithABadIntervalItSaysWhatToDo() async throws {
        let directory = try TempDir(prefix: "gt-feed-bad")
        let town = directory.join("idle")
        let install = try await BuiltBinaries.run(.gt, ["install", town], cwd: directory.path, timeout: .seconds(30))
        #expect(install.status == 0, "\(install)")
        let down = try await BuiltBinaries.run(.gt, ["feed", "--once"], cwd: town, timeout: .seconds(30))
        #expect(down.status == 1 && down.stdout.isEmpty, "\(down)")
        #expect(down.stderr.contains("no node (or no dashboard) runs") && down.stderr.contains("gt up"), "\(down)")
        let bad = try await BuiltBinaries.run(.gt, ["feed", "--interval", "0"], cwd: town, timeout: .seconds(30))
        #expect(bad.status == 2 && bad.stderr.contains("--interval must be a number of seconds"), "\(bad)")
    }

    @Test func aSlungBeadMovesThroughItsStatesInTheFeed() async throws {
        try await DashboardCluster.with(names: ["solo"]) { cluster in
            _ = try await cluster.up("solo")
            try cluster.expectOK(
                try await cluster.gt([
                    "rig", "add", "demo", cluster.rigRemote, "--runtime", "exec:'sh \(cluster.agent)'",
                ]))
            // A tmux server of its own (not the node's), a shell in it, and `gt feed` typed into that shell.
            var settings = SessionSettings()
            settings.tmuxSocketName = "gt-feed-test-\(getpid())"
            settings.paneColumns = 160
            settings.paneRows = 60
            let town = cluster.town("solo")
            let tmux = TmuxDriver(townRoot: town, tmuxPath: "/usr/bin/tmux", settings: settings)
            let name = SessionName(town: TownID(townRoot: town), rig: "feed", polecat: "watch", epoch: 1)
            let gt = try BuiltBinaries.path(of: .gt)
            do {
                _ = try await tmux.start(SessionSpec(name: name, workingDirectory: town, command: "exec sh"))
                try await tmux.sendText("\(gt) feed --interval 0.3", to: name)
                func screen() async -> String { (try? await tmux.capture(name))?.text ?? "" }
                let started = await eventually(timeout: .seconds(15), every: .milliseconds(200)) {
                    await screen().contains("GasTown feed · node solo")
                }
                let first = await screen()
                #expect(started, "\(first)")
                let created = try await cluster.bd(
                    ["create", "Quick sign repaint", "--rig", "demo", "--silent"], in: "solo")
                try cluster.expectOK(created)
                let bead = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                try cluster.expectOK(try await cluster.gt(["sling", bead]))
                // The polecat works on it (hooked, working), then it is done: its merge request is merged.
                var seen: [String] = []
                _ = await eventually(timeout: .seconds(40), every: .milliseconds(200)) {
                    let lines = await screen().split(separator: "\n").map {
                        String($0).trimmingCharacters(in: .whitespaces)
                    }
                    if !seen.contains("working"),
                        lines.contains(where: { $0.contains(" working ") && $0.contains(bead) })
                    {
                        seen.append("working")
                    }
                    for status in ["queued", "testing", "merged"] where !seen.contains(status) {
                        if lines.contains(where: { $0.contains(bead) && $0.hasSuffix(" " + status) }) {
                            seen.append(status)
                        }
                    }
                    return seen.contains("merged")
                }
                let last = await screen()
                #expect(seen.first == "working" && seen.last == "merged", "states seen: \(seen)\n\(last)")
                if let directory = ProcessInfo.processInfo.environment["GT_SCREENSHOTS_DIR"], !directory.isEmpty {
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                    try await Task.sleep(for: .seconds(1))  // the events of the merge too
                    try await screen().write(toFile: directory + "/feed.txt", atomically: true, encoding: .utf8)
                }
                try await tmux.sendKeys(["C-c"], to: name)
            } catch {
                try? await tmux.killServer()
                throw error
            }
            try? await tmux.killServer()

            // --json: the last events, then new ones, as JSON lines, until stopped.
            let json = try await BuiltBinaries.run(
                .gt, ["feed", "--json"], cwd: cluster.town("solo"), timeout: .seconds(3))
            let events = json.stdout.split(separator: "\n").compactMap { FeedView.eventFields(line: String($0)) }
            #expect(json.timedOut && !events.isEmpty, "\(json)")
            #expect(events.contains { $0["type"] == "node_started" }, "\(json.stdout)")
        }
    }
}
