import Beads
import Foundation
import GasTownTestKit
import Health
import Node
import Sessions
import Testing
import Town

/// The Witness's health rules against real tmux sessions running scripts, in a town whose node (`gt up`) runs
/// with short thresholds (`settings/health.json`): a script that dies (restarted, then a crash loop escalated once
/// and its bead released), one that hangs silently (nudged, then restarted), one that stops at Claude Code's
/// permission prompt (answered; it continues), one that loops (nudged, then restarted), one that prints a rate-limit
/// message (its account marked), and a healthy one that runs silently calling `gt heartbeat` (never touched).
@Suite(.serialized) struct WitnessHealthTests {
    static let thresholds = """
        {"confirmations": 2, "hung_after": 4, "heartbeat_validity": 6, "action_interval": 2, "nudge_limit": 1,
         "restart_limit": 1, "crash_loop_limit": 3, "idle_after": 1000, "done_stuck_after": 1000,
         "patrol_interval": 0.5}
        """

    static let scripts: [String: String] = [
        "dies": """
            echo "about to fail"
            exit 3
            """,
        "hangs": """
            echo "working on it"
            exec sleep 600
            """,
        "prompt": """
            echo "● Bash(make test)"
            echo "╭──────────────────────────────────────────────────────────────────╮"
            echo "│ Bash command                                                     │"
            echo "│                                                                  │"
            echo "│   make test                                                      │"
            echo "│   Run the test suite                                             │"
            echo "│                                                                  │"
            echo "│ Do you want to proceed?                                          │"
            echo "│ ❯ 1. Yes                                                         │"
            echo "│   2. Yes, and don't ask again for make test commands in $PWD     │"
            echo "│   3. No, and tell Claude what to do differently (esc)            │"
            echo "╰──────────────────────────────────────────────────────────────────╯"
            read answer
            printf '\\033[2J\\033[H'
            echo "approved; running make test"
            touch approved
            while true; do gt heartbeat -m "make test" >/dev/null 2>&1; sleep 1; done
            """,
        "loops": """
            while true; do echo "Error: connection refused (retrying)"; sleep 0.2; done
            """,
        "limited": """
            echo "Claude usage limit reached. Try again in 30 minutes."
            exec sleep 600
            """,
        "healthy": """
            echo "running the gate (a long silent test run)"
            while true; do gt heartbeat -m "gate" >/dev/null 2>&1 || echo "heartbeat failed"; sleep 1; done
            """,
    ]

    /// The Witness events of `agent`.
    static func actions(_ town: TownFixture, _ agent: String) -> [[String: String]] {
        TownEvents.read(town.layout.eventsFile).filter { $0["type"] == "witness" && $0["agent"] == agent }
    }

    @Test func scriptedAgentsAreDetectedAndActedOnAndTheHealthyOneIsLeftAlone() async throws {
        try await TownFixture.with { town in
            try expectOK(try await town.gt(["cluster", "init", "--name", "health"]))
            try town.directory.write("town/settings/health.json", Self.thresholds)
            try await town.up()
            try expectOK(
                try await town.gt(["rig", "add", "demo", town.source, "--runtime", "exec:'true'", "--max-polecats", "8"]))
            var agents: [String: String] = [:]
            var worktrees: [String: String] = [:]
            var beads: [String: String] = [:]
            for name in Self.scripts.keys.sorted() {
                try town.directory.write("\(name).sh", Self.scripts[name]!)
                let bead = try await town.createBead("Scenario \(name)", scope: "demo")
                let output = try await town.gt([
                    "sling", bead, "demo", "--runtime", "exec:'sh \(town.directory.join("\(name).sh"))'", "--json",
                ])
                try expectOK(output)
                let result = try JSONDecoder().decode(SlingResult.self, from: Data(output.stdout.utf8))
                agents[name] =
                    result.polecat.contains("/")
                    ? AgentAddress.canonical(result.polecat) : AgentAddress.canonical("demo/\(result.polecat)")
                worktrees[name] = result.worktree
                beads[name] = bead
            }

            // The permission prompt is answered and the script goes on.
            let approved = await eventually(60) {
                FileManager.default.fileExists(atPath: worktrees["prompt"]! + "/approved")
            }
            #expect(approved, "the Witness did not answer the permission prompt")
            // The event is written once the keys are sent, which may be just after the script moved on.
            _ = await eventually(20) { Self.actions(town, agents["prompt"]!).contains { $0["action"] == "dismiss-dialog" } }
            let answer = Self.actions(town, agents["prompt"]!).first { $0["action"] == "dismiss-dialog" }
            #expect(answer?["state"] == "stalled-at-prompt")
            #expect(answer?["outcome"] == "done")
            #expect(answer?["evidence"]?.contains("dialog=claude-permission") == true)
            #expect(answer?["pane_tail"]?.contains("Do you want to proceed?") == true)

            // The silent hang is nudged, then its session restarted.
            let hungRestarted = await eventually(60) {
                Self.actions(town, agents["hangs"]!).contains { $0["action"] == "restart-session" && $0["outcome"] == "done" }
            }
            #expect(hungRestarted, "the hung session was not restarted")
            let hung = Self.actions(town, agents["hangs"]!)
            #expect(hung.first?["state"] == "hung")
            #expect(hung.first?["action"] == "nudge")
            #expect(hung.first?["pane_tail"]?.contains("working on it") == true)

            // The loop is nudged, then restarted.
            let loopRestarted = await eventually(60) {
                Self.actions(town, agents["loops"]!).contains { $0["action"] == "restart-session" }
            }
            #expect(loopRestarted, "the looping session was not restarted: \(Self.actions(town, agents["loops"]!))")
            #expect(Self.actions(town, agents["loops"]!).first?["state"] == "looping")
            #expect(Self.actions(town, agents["loops"]!).first?["action"] == "nudge")

            // The dying one: restarted twice, then the crash loop escalates once and respawning stops.
            let escalated = await eventually(60) {
                TownEvents.read(town.layout.eventsFile).contains {
                    $0["type"] == "escalation" && $0["cause"]?.hasPrefix("crash-loop:\(agents["dies"]!)") == true
                }
            }
            #expect(escalated, "the crash loop was not escalated")
            let died = Self.actions(town, agents["dies"]!)
            #expect(died.filter { $0["action"] == "restart-session" }.count == 2)
            #expect(died.last?["action"] == "escalate")
            #expect(died.allSatisfy { $0["state"] == "dead" })
            let inbox = try await town.gt(["mail", "inbox", "--from", "mayor/", "--json"])
            try expectOK(inbox)
            let mails = try JSONDecoder().decode([MailView].self, from: Data(inbox.stdout.utf8))
            #expect(mails.filter { $0.subject.contains("crash loop") }.count == 1)
            let released = try await town.beads(scope: "demo").first { $0.id == beads["dies"] }
            #expect(released?.status == .open, "the crash-looping bead goes back to the town")
            #expect(released?.assignee.isEmpty == true)

            // The rate-limited account is marked until its stated reset.
            let limited = await eventually(30) {
                (try? WitnessReport.read(town.layout))??.rateLimits.contains { $0.account == "exec" } == true
            }
            #expect(limited, "the rate limit was not recorded")
            let report = try #require(try WitnessReport.read(town.layout))
            let limit = try #require(report.rateLimits.first { $0.account == "exec" })
            #expect(limit.until - limit.seenAt > 1700 && limit.until - limit.seenAt <= 1800)
            #expect(report.polecats.first { $0.agent == agents["limited"] }?.state == "rate-limited")

            // Actions are on the polecats' agent beads too.
            let agentBeads = try await town.beads(scope: "demo").filter { $0.issueType == .agent }
            let hangsBead = agentBeads.first { PolecatState(bead: $0)?.address == agents["hangs"] }
            let commented = await eventually(20) {
                let beads = (try? await town.beads(scope: "demo")) ?? []
                return beads.first { $0.id == hangsBead?.id }?.comments.contains { $0.text.hasPrefix("Witness: hung") }
                    == true
            }
            #expect(commented, "the nudge is not commented on the polecat's bead")

            // The healthy one was never touched, and gt health says it works.
            #expect(Self.actions(town, agents["healthy"]!).isEmpty)
            let health = try await town.gt(["health", "--json"])
            try expectOK(health)
            #expect(health.stdout.contains(agents["healthy"]!))
            let current = try #require(try WitnessReport.read(town.layout))
            #expect(current.polecats.first { $0.agent == agents["healthy"] }?.state == "working")
            let text = try await town.gt(["health"])
            #expect(text.stdout.contains("\(agents["healthy"]!)  working"))
            let history = try await town.gt(["witness", "history", agents["hangs"]!, "--json"])
            try expectOK(history)
            #expect(history.stdout.contains("restart-session"))
            let escalations = try await town.gt(["escalations", "--json"])
            try expectOK(escalations)
            #expect(escalations.stdout.contains("crash-loop:"))
            let status = try await town.gt(["witness", "status", agents["healthy"]!])
            try expectOK(status)
            #expect(status.stdout.contains("working"))
        }
    }

    /// An action aimed at an old session epoch is refused and the newer session is untouched; no node (embedded).
    @Test func staleActionAtAnOldSessionEpochIsRefused() async throws {
        try await TownFixture.with { town in
            try town.directory.write("sleeper.sh", "echo sleeping\nexec sleep 600\n")
            try expectOK(
                try await town.gt([
                    "rig", "add", "demo", town.source, "--runtime", "exec:'sh \(town.directory.join("sleeper.sh"))'",
                ]))
            let bead = try await town.createBead("Sleep", scope: "demo")
            let output = try await town.gt(["sling", bead, "demo", "--json"])
            try expectOK(output)
            let slung = try JSONDecoder().decode(SlingResult.self, from: Data(output.stdout.utf8))
            let address = AgentAddress.canonical(
                slung.polecat.contains("/") ? slung.polecat : "demo/\(slung.polecat)")
            let workflow = try await TownWorkflow(
                layout: town.layout, actor: "witness", gtExecutable: "/bin/true", sessions: town.tmux)
            let state = try #require(
                try await town.beads(scope: "demo").compactMap(PolecatState.init(bead:)).first { $0.address == address })
            let old = state.sessionEpoch
            let fresh = try await workflow.restartSession(address, epoch: old, bead: bead)
            #expect(try await town.tmux.isAlive(fresh))

            await #expect(throws: TownError.self) {
                _ = try await workflow.restartSession(address, epoch: old, bead: bead)
            }
            await #expect(throws: TownError.self) {
                try await workflow.fencedNudge(address, epoch: old, bead: bead, text: "late")
            }
            await #expect(throws: TownError.self) {
                try await workflow.fencedKeys(address, epoch: old, bead: bead, keys: ["Enter"])
            }
            await #expect(throws: TownError.self) {
                _ = try await workflow.giveUp(address, epoch: old, bead: bead, reason: "late")
            }
            // The newer session still runs, its pane never got the late nudge, and the bead is still held.
            #expect(try await town.tmux.isAlive(fresh))
            #expect(try await town.tmux.capture(fresh)?.text.contains("late") == false)
            let after = try #require(
                try await town.beads(scope: "demo").compactMap(PolecatState.init(bead:)).first { $0.address == address })
            #expect(after.sessionEpoch == old + 1)
            #expect(after.hookBead == bead)
            // And the driver itself finds no target for the old epoch's name.
            let oldName = SessionName(town: fresh.town, rig: fresh.rig, polecat: fresh.polecat, epoch: UInt64(old))
            await #expect(throws: SessionError.self) { try await town.tmux.sendText("late", to: oldName) }
        }
    }

    /// The Witness watches only this node's polecats: one whose bead is claimed by another node and that has no
    /// hook here (its worktree lives there) is not a target (it used to be, and was "restarted" here, refused and
    /// noisy), while this node's own polecat without a hook still is (its orphaned claim is released).
    @Test func anotherNodesPolecatWithoutAHookHereIsNotWatched() async throws {
        try await TownFixture.with { town in
            try town.directory.write("sleeper.sh", "echo sleeping\nexec sleep 600\n")
            try expectOK(
                try await town.gt([
                    "rig", "add", "demo", town.source, "--runtime", "exec:'sh \(town.directory.join("sleeper.sh"))'",
                ]))
            let bead = try await town.createBead("Sleep", scope: "demo")
            let output = try await town.gt(["sling", bead, "demo", "--json"])
            try expectOK(output)
            let slung = try JSONDecoder().decode(SlingResult.self, from: Data(output.stdout.utf8))
            let address = AgentAddress.canonical(
                slung.polecat.contains("/") ? slung.polecat : "demo/\(slung.polecat)")
            let name = String(address.split(separator: "/").last!)
            let hookFile = town.layout.polecatWorktree("demo", name) + "/.gt/hook.json"
            try FileManager.default.removeItem(atPath: hookFile)
            func targets() async throws -> [String] {
                let workflow = try await TownWorkflow(
                    layout: town.layout, actor: "witness", gtExecutable: "/bin/true", sessions: town.tmux)
                return try await workflow.healthTargets().map(\.polecat.address)
            }
            #expect(try await targets() == [address], "this node's own hookless polecat is watched")
            // The same ledger seen from a node of another name: the bead's claim names this one.
            let url = URL(fileURLWithPath: town.layout.townFile)
            var file = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
            var node = file["node"] as? [String: Any] ?? [:]
            node["name"] = "elsewhere"
            file["node"] = node
            try JSONSerialization.data(withJSONObject: file).write(to: url)
            #expect(town.layout.nodeName() == "elsewhere")
            #expect(try await targets().isEmpty, "another node's polecat is watched by its own Witness")
        }
    }

    /// A burst of 20 identical failures yields one escalation mail to the Mayor, also across a reload of the book.
    @Test func twentyIdenticalFailuresYieldOneEscalationMail() async throws {
        try await TownFixture.with { town in
            try expectOK(try await town.gt(["rig", "add", "demo", town.source, "--runtime", "exec:'true'"]))
            let workflow = try await TownWorkflow(
                layout: town.layout, actor: "witness", gtExecutable: "/bin/true", sessions: town.tmux)
            let failure = Escalation(
                cause: "crash-loop:demo/polecats/nux:demo-1:e1:work", category: .failed, polecat: "demo/polecats/nux",
                subject: "demo/polecats/nux crash loop on demo-1", evidence: [HealthEvidence("exit", "exit status 3")])
            var mailer = EscalationMailer(layout: town.layout, settings: HealthSettings())
            var sent = 0
            for index in 0..<20 {
                if case .send = await mailer.raise(failure, at: 1000 + Double(index), workflow: workflow) { sent += 1 }
            }
            var reloaded = EscalationMailer(layout: town.layout, settings: HealthSettings())
            if case .send = await reloaded.raise(failure, at: 1100, workflow: workflow) { sent += 1 }
            #expect(sent == 1)
            let inbox = try await workflow.inbox(for: "mayor/", all: true)
            #expect(inbox.count == 1)
            #expect(inbox.first?.subject == "[failed] demo/polecats/nux crash loop on demo-1")
            #expect(inbox.first?.body.contains("exit: exit status 3") == true)
            #expect(reloaded.book.records[failure.cause]?.count == 21)
        }
    }
}
