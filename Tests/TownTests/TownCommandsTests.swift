import Beads
import Foundation
import GasTownTestKit
import LedgerStore
import Node
import Testing
import Town

/// The other town commands through the built `gt`: polecats, crew, hook and prime, mail, nudge, handoff.
@Suite(.serialized) struct TownCommandsTests {
    @Test func polecatsCrewHookPrimeNudgeAndHandoff() async throws {
        try await TownFixture.with { town in
            // An agent that waits for a line on its terminal and writes it down: the nudge reaches it.
            try expectOK(
                try await town.gt([
                    "rig", "add", "demo", town.source, "--runtime",
                    "exec:'read line; echo \"$line\" > nudged.txt; sleep 60'",
                ]))
            try expectOK(try await town.gt(["polecat", "add", "demo", "ace"]))
            let duplicate = try await town.gt(["polecat", "add", "demo", "ace"])
            #expect(duplicate.status == 1 && duplicate.stderr.contains("already exists"), "\(duplicate)")
            let bead = try await town.createBead("Nudge me", scope: "demo")
            try expectOK(try await town.bd(["update", bead, "-d", "Write down what you are told."]))
            try expectOK(try await town.gt(["sling", bead]))
            let worktree = town.layout.polecatWorktree("demo", "ace")

            let hook = try await town.gt(["hook"], cwd: worktree)
            #expect(hook.stdout.contains("demo/polecats/ace: \(bead) Nudge me"), "\(hook)")
            let prime = try await town.gt(["prime"], cwd: worktree)
            #expect(prime.stdout.contains("you are polecat ace of rig demo"), "\(prime)")
            #expect(prime.stdout.contains("Write down what you are told.") && prime.stdout.contains("gt done"))
            let status = try await town.gt(["polecat", "status", "demo/ace"])
            #expect(status.stdout.contains("working") && status.stdout.contains("(running)"), "\(status)")

            try expectOK(try await town.gt(["nudge", "demo/ace", "hello", "polecat"]))
            let nudged = try await town.waitUntil(timeout: .seconds(10)) {
                (try? String(contentsOfFile: worktree + "/nudged.txt", encoding: .utf8)) == "hello polecat\n"
            }
            #expect(nudged, "the nudge did not reach the session")

            let handoff = try await town.gt(["handoff", "-m", "context is full"], cwd: worktree)
            try expectOK(handoff)
            #expect(handoff.stdout.contains("-ace-e2"), "\(handoff)")
            let sessions = try await town.waitUntil(timeout: .seconds(10)) { await town.sessions().count == 1 }
            let live = await town.sessions()
            #expect(sessions && live.first?.hasSuffix("-ace-e2") == true, "\(live)")
            let inbox = try await town.gt(["mail", "inbox", "--from", "demo/ace"])
            #expect(inbox.stdout.contains("Handoff"), "\(inbox)")

            let busy = try await town.gt(["polecat", "remove", "demo", "ace"])
            #expect(busy.status == 1 && busy.stderr.contains("is working on \(bead)"), "\(busy)")
            try expectOK(try await town.gt(["polecat", "remove", "demo", "ace", "--force"]))
            #expect(try await town.beads(scope: "demo").first { $0.id == bead }?.assignee == "")
            #expect(!FileManager.default.fileExists(atPath: worktree))

            try expectOK(try await town.gt(["crew", "add", "demo", "alice"]))
            let at = try await town.gt(["crew", "at", "demo", "alice"])
            #expect(at.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == town.layout.crewClone("demo", "alice"))
            #expect(FileManager.default.fileExists(atPath: town.layout.crewClone("demo", "alice") + "/README.md"))
            let crew = try await town.gt(["crew", "list"])
            #expect(crew.stdout.contains("demo/crew/alice"))
        }
    }

    @Test func mailSendInboxReadReply() async throws {
        try await TownFixture.with { town in
            try expectOK(try await town.gt(["rig", "add", "demo", town.source]))
            try expectOK(try await town.gt(["polecat", "add", "demo", "nux"]))
            let sent = try await town.gt([
                "mail", "send", "demo/nux", "-s", "Status?", "-m", "How is it going?", "--json",
            ])
            try expectOK(sent)
            let id = try #require(
                sent.stdout.split(separator: "\"").dropFirst().first { $0.hasPrefix("hq-") }.map(String.init))
            let inbox = try await town.gt(["mail", "inbox"], environment: ["GT_ROLE": "demo/polecats/nux"])
            #expect(
                inbox.stdout.contains(id) && inbox.stdout.contains("from overseer") && inbox.stdout.contains("Status?"))
            let read = try await town.gt(["mail", "read", id])
            #expect(read.stdout.contains("How is it going?"), "\(read)")
            let unread = try await town.gt(["mail", "inbox", "--from", "demo/nux"])
            #expect(unread.stdout.contains("No unread mail"), "\(unread)")
            let all = try await town.gt(["mail", "inbox", "--all", "--from", "demo/polecats/nux"])
            #expect(all.stdout.contains(id))
            try expectOK(try await town.gt(["mail", "reply", id, "-m", "Almost done", "--from", "demo/nux"]))
            let answer = try await town.gt(["mail", "inbox", "--json"])
            #expect(
                answer.stdout.contains("Re: Status?") && answer.stdout.contains("\"reply_to\": \"\(id)\""), "\(answer)")
            let missing = try await town.gt(["mail", "read", "hq-nope"])
            #expect(missing.status == 1 && missing.stderr.contains("no message hq-nope"))
            #expect(TownEvents.read(town.layout.eventsFile).filter { $0["type"] == "mail" }.count == 2)
        }
    }
}

/// A command that finds the town ledger held by another writer says so, waits, and then runs.
@Suite(.serialized) struct TownLedgerWaitTests {
    @Test func aHeldLedgerIsWaitedForAndSaidSo() async throws {
        try await TownFixture.with { town in
            try expectOK(try await town.gt(["rig", "add", "demo", town.source]))
            var settings = LedgerDatabaseSettings()
            settings.store.lockWaitTimeout = .seconds(10)
            let database = try LedgerDatabase.open(
                StoreLayout(beadsDirectory: town.layout.beadsDirectory), settings: settings)
            let command = Task { try await town.gt(["polecat", "add", "demo", "ace"]) }
            try await Task.sleep(for: .seconds(1.5))
            database.close()
            let output = try await command.value
            try expectOK(output)
            #expect(output.stderr.contains("waiting up to") && output.stderr.contains("held by pid="), "\(output)")
            #expect(output.stdout.contains("Added polecat demo/polecats/ace"))
        }
    }
}

/// A bead of the town scope (hq) slung to a rig, and a claim left without a hooked polecat (a crash between the
/// two writes of such a sling) released by the Witness's pass.
@Suite(.serialized) struct TownCrossScopeTests {
    @Test func hqBeadSlungToARigAndAnOrphanClaimReleased() async throws {
        try await TownFixture.with { town in
            let agent = try town.writeAgent()
            try expectOK(try await town.gt(["rig", "add", "demo", town.source, "--runtime", "exec:'sh \(agent)'"]))
            let work = try await town.createBead("Town-wide work", scope: "hq")
            try expectOK(try await town.gt(["sling", work, "demo"]))
            let done = try await town.waitUntil(timeout: .seconds(30)) {
                try await town.beads(scope: "demo").contains {
                    $0.issueType == .mergeRequest && $0.metadataString("source_bead") == work
                }
            }
            #expect(done, "the hq bead was not finished")

            let orphan = try await town.createBead("Claimed, never hooked", scope: "hq")
            var settings = LedgerDatabaseSettings()
            settings.store.lockWaitTimeout = .seconds(10)
            let database = try LedgerDatabase.open(
                StoreLayout(beadsDirectory: town.layout.beadsDirectory), settings: settings)
            _ = try database.write(scope: nil, routing: orphan, actor: "test") { _ in
                [.claim(id: orphan, assignee: "demo/polecats/zed", node: "town", expectedEpoch: 0)]
            }
            database.close()
            let patrol = try await town.gt(["witness", "patrol", "--json"])
            try expectOK(patrol)
            #expect(patrol.stdout.contains("demo/polecats/zed"), "\(patrol)")
            let released = try await town.beads(scope: "hq").first { $0.id == orphan }
            #expect(released?.assignee == "" && released?.status == .open && released?.leaseEpoch == 1)
            #expect(
                TownEvents.read(town.layout.eventsFile).contains { $0["type"] == "stale-claim" && $0["bead"] == orphan }
            )
        }
    }
}
