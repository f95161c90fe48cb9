import Foundation
import GasTownTestKit
import Sessions
import Testing
import Node

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
                .gt, ["feed", "--json"], cwd: cluster.town("solo"), timeout: .seconds(60),
                stopWhen: { $0.contains("\"node_started\"") })
            let events = json.stdout.split(separator: "\n").compactMap { FeedView.eventFields(line: String($0)) }
            #expect(json.stopped && !events.isEmpty, "\(json)")
            #expect(events.contains { $0["type"] == "node_started" }, "\(json.stdout)")
        }
    }

    /// A dashboard bound beyond loopback (HTTPS with the node certificate, the login token): `gt feed` verifies the
    /// certificate against the town's cluster CA and sends the town's token; `--url` + `--ca` + `GT_DASHBOARD_TOKEN`
    /// read it from outside the town; a wrong token, another cluster's CA and no CA at all are refused (exit 1).
    @Test func overTLSWithTheTokenBeyondLoopback() async throws {
        try await DashboardCluster.with(names: ["solo"]) { cluster in
            try cluster.expectOK(try await cluster.gt(["cluster", "init", "--name", "acme"]))
            try cluster.expectOK(
                try await cluster.gt(["up", "--listen", "127.0.0.1:0", "--dashboard", "0.0.0.0:0", "--json"]))
            let town = cluster.town("solo")
            if let text = try? String(contentsOfFile: town + "/.gt/node.pid", encoding: .utf8),
                let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                cluster.nodePIDs.append(pid)
            }
            var info: [String: Any] = [:]
            #expect(
                await eventually(timeout: .seconds(20), every: .milliseconds(200)) {
                    guard let output = try? await cluster.gt(["dashboard", "--json"]), output.status == 0,
                        let object = try? JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any]
                    else { return false }
                    info = object
                    return true
                })
            #expect(info["tls"] as? Bool == true && info["token_required"] as? Bool == true, "\(info)")
            let listen = try #require(info["listen"] as? String)
            let port = try #require(listen.split(separator: ":").last.map(String.init))
            let token = try #require(info["token"] as? String)
            let ca = TownPaths(root: town).pki.caCertificate.path

            // In the town: the node's certificate checked against the town's CA, the town's token sent.
            let once = try await cluster.gt(["feed", "--once"], in: "solo")
            #expect(once.status == 0 && once.stdout.contains("GasTown feed · node solo"), "\(once)")
            #expect(once.stdout.contains("NODES"), "\(once.stdout)")
            let json = try await BuiltBinaries.run(
                .gt, ["feed", "--json"], cwd: town, timeout: .seconds(60), stopWhen: { $0.contains("\"node_started\"") })
            let events = json.stdout.split(separator: "\n").compactMap { FeedView.eventFields(line: String($0)) }
            #expect(json.stopped && events.contains { $0["type"] == "node_started" }, "\(json)")

            let wrong = try await cluster.gt(["feed", "--once", "--token", "nope"], in: "solo")
            #expect(wrong.status == 1 && wrong.stdout.isEmpty, "\(wrong)")
            #expect(wrong.stderr.contains("refused the login token (401)") && wrong.stderr.contains("--token"), "\(wrong)")

            // From outside any town: --url, --ca and the token from the environment.
            let outside = try TempDir(prefix: "gt-feed-outside")
            let url = "https://127.0.0.1:\(port)/"
            let remote = try await BuiltBinaries.run(
                .gt, ["feed", "--once", "--url", url, "--ca", ca], environment: ["GT_DASHBOARD_TOKEN": token],
                cwd: outside.path, timeout: .seconds(30))
            #expect(remote.status == 0 && remote.stdout.contains("GasTown feed · node solo"), "\(remote)")
            let noCA = try await BuiltBinaries.run(
                .gt, ["feed", "--once", "--url", url], environment: ["GT_DASHBOARD_TOKEN": token], cwd: outside.path,
                timeout: .seconds(30))
            #expect(noCA.status == 1 && noCA.stderr.contains("no cluster CA here"), "\(noCA)")
            let noToken = try await BuiltBinaries.run(
                .gt, ["feed", "--once", "--url", url, "--ca", ca], cwd: outside.path, timeout: .seconds(30))
            #expect(noToken.status == 1 && noToken.stderr.contains("needs its login token"), "\(noToken)")

            // Another cluster's CA: the certificate does not verify.
            let other = outside.join("other")
            try cluster.expectOK(try await cluster.gt(["install", other], cwd: outside.path))
            try cluster.expectOK(try await cluster.gt(["cluster", "init", "--name", "other"], cwd: other))
            let foreign = try await BuiltBinaries.run(
                .gt, ["feed", "--once", "--url", url, "--ca", TownPaths(root: other).pki.caCertificate.path],
                environment: ["GT_DASHBOARD_TOKEN": token], cwd: outside.path, timeout: .seconds(30))
            #expect(foreign.status == 1 && foreign.stderr.contains("did not prove it is a node of this cluster"), "\(foreign)")
            let badURL = try await BuiltBinaries.run(.gt, ["feed", "--url", "ftp://x"], cwd: outside.path)
            #expect(badURL.status == 2 && badURL.stderr.contains("--url must be a dashboard URL"), "\(badURL)")
        }
    }
}
