import Beads
import Foundation
import GasTownTestKit
import LedgerStore
import Node
import Testing
import Town

#if canImport(Glibc)
    import Glibc
#endif

/// What a new user tripped on in a town (issue 10), through the built `gt` and `bd`: agents' mail identity,
/// mail to nobody, `bd create --rig <rig name>`, sling refusals that name the way past them, `gt release`,
/// taking a claim over (`gt sling --force`, `bd update --claim --force`) with the old holder fenced out,
/// merge-request priority, the node's advertised slots, and a node that does not answer.
@Suite(.serialized) struct TownNewUserTests {
    /// The messages of the town scope.
    func mail(_ town: TownFixture) async throws -> [Bead] {
        try await town.beads(scope: "hq").filter { $0.issueType == .message }
    }

    @Test func agentMailIsSentFromItsAddressAndRepliesReachIt() async throws {
        try await TownFixture.with { town in
            // The agent writes down its GT_ROLE and mails the overseer from inside its session.
            let agent =
                "exec:'echo \"$GT_ROLE\" > role.txt; gt mail send overseer -s \"question\" -m \"what next?\"; sleep 60'"
            try expectOK(try await town.gt(["rig", "add", "demo", town.source, "--runtime", agent]))
            let bead = try await town.createBead("Ask something", scope: "demo")
            try expectOK(try await town.gt(["sling", bead]))
            let arrived = try await town.waitUntil(timeout: .seconds(20)) { try await !mail(town).isEmpty }
            #expect(arrived, "the agent's mail did not arrive")
            let question = try #require(try await mail(town).first)
            #expect(question.metadataString("from") == "demo/polecats/furiosa", "\(question.metadata)")
            let role = try String(
                contentsOfFile: town.layout.polecatWorktree("demo", "furiosa") + "/role.txt", encoding: .utf8)
            #expect(role == "demo/polecats/furiosa\n")
            let inbox = try await town.gt(["mail", "inbox"])
            #expect(inbox.stdout.contains("from demo/polecats/furiosa  question"), "\(inbox)")

            let reply = try await town.gt(["mail", "reply", question.id, "-m", "finish it", "-s", "Answer"])
            try expectOK(reply)
            #expect(reply.stdout.contains("to demo/polecats/furiosa"), "\(reply)")
            let theirs = try await town.gt(["mail", "inbox", "--identity", "demo/polecats/furiosa"])
            #expect(theirs.stdout.contains("from overseer  Answer"), "\(theirs)")

            // A bare GT_ROLE (as some Gas Town sessions set it) is completed from GT_RIG and GT_POLECAT.
            let bare = try await town.gt(
                ["mail", "send", "overseer", "-s", "bare role", "--body", "hi", "--json"],
                environment: ["GT_ROLE": "polecat", "GT_RIG": "demo", "GT_POLECAT": "furiosa"])
            try expectOK(bare)
            #expect(bare.stdout.contains("\"from\": \"demo/polecats/furiosa\""), "\(bare)")
        }
    }

    @Test func mailToAnAddressNobodyReadsIsRefused() async throws {
        try await TownFixture.with { town in
            try expectOK(try await town.gt(["rig", "add", "demo", town.source]))
            try expectOK(try await town.gt(["polecat", "add", "demo", "nux"]))
            try expectOK(try await town.gt(["crew", "add", "demo", "alice"]))
            let events = TownEvents.read(town.layout.eventsFile).count
            for (address, reason) in [
                ("nobody/x", "there is no rig 'nobody'"), ("demo/zed", "rig demo has no polecat 'zed'"),
                ("demo/crew/bob", "rig demo has no crew member 'bob'"), ("nobody", "'nobody' is not an address"),
                ("demo/refinery/x", "'demo/refinery/x' is not an address of rig demo"),
            ] {
                let refused = try await town.gt(["mail", "send", address, "-s", "hello"])
                #expect(refused.status == 1, "\(address): \(refused)")
                #expect(refused.stderr.contains("no mailbox '\(address)': \(reason)"), "\(refused)")
                #expect(
                    refused.stderr.contains(
                        "overseer, mayor/, demo/witness, demo/refinery, demo/polecats/nux, demo/crew/alice"),
                    "\(refused)")
            }
            #expect(try await mail(town).isEmpty)
            #expect(TownEvents.read(town.layout.eventsFile).count == events)
            for address in [
                "mayor/", "mayor", "overseer", "demo/witness", "demo/refinery", "demo/nux", "demo/polecats/nux",
                "demo/crew/alice",
            ] {
                let sent = try await town.gt(["mail", "send", address, "-s", "hello"])
                #expect(sent.status == 0 && sent.stdout.hasPrefix("Sent "), "\(address): \(sent)")
            }
        }
    }

    @Test func bdCreateTakesARigNameAndListsScopesAndRigs() async throws {
        try await TownFixture.with { town in
            try expectOK(try await town.gt(["rig", "add", "myrig", town.source]))
            let byName = try await town.createBead("By rig name", scope: "myrig")
            #expect(byName.hasPrefix("myri-"), "\(byName)")
            let byPrefix = try await town.createBead("By prefix", scope: "myri")
            #expect(byPrefix.hasPrefix("myri-"), "\(byPrefix)")
            let unknown = try await town.bd(["create", "Nowhere", "--rig", "nope"])
            #expect(unknown.status == 1, "\(unknown)")
            #expect(
                unknown.stderr.contains("no scope or rig named 'nope'")
                    && unknown.stderr.contains("scopes hq, myri; rigs myrig (myri)"), "\(unknown)")
            #expect(!unknown.stderr.contains("bd init"), "\(unknown)")
            #expect(try await town.beads(scope: "myri").filter { $0.issueType == .task }.count == 2)
        }
    }

    @Test func slingRefusalsNameTheWayPast() async throws {
        try await TownFixture.with { town in
            try expectOK(try await town.gt(["rig", "add", "demo", town.source, "--runtime", "exec:'sleep 60'"]))
            let sent = try await town.gt(["mail", "send", "overseer", "-s", "a message", "--json"])
            let message = try #require(try await mail(town).first?.id, "\(sent)")
            let notWork = try await town.gt(["sling", message, "demo"])
            #expect(notWork.status == 1, "\(notWork)")
            #expect(
                notWork.stderr.contains("bead \(message) is a message, not work")
                    && notWork.stderr.contains("'gt mail read \(message)'"), "\(notWork)")
            let code = try await town.gt(["sling", message, "demo", "--json"])
            #expect(code.stderr.contains("\"code\": \"not_work\""), "\(code)")

            let bead = try await town.createBead("Hooked once", scope: "demo")
            try expectOK(try await town.gt(["sling", bead]))
            let again = try await town.gt(["sling", bead])
            #expect(
                again.status == 1 && again.stderr.contains("already hooked by demo/polecats/furiosa")
                    && again.stderr.contains("'gt release \(bead)'")
                    && again.stderr.contains("'gt sling \(bead) --force'"), "\(again)")

            let claimed = try await town.createBead("Claimed by a person", scope: "demo")
            try expectOK(try await town.bd(["update", claimed, "--claim", "--actor", "alice"]))
            let taken = try await town.gt(["sling", claimed])
            #expect(
                taken.status == 1 && taken.stderr.contains("is claimed by alice (lease epoch 1)")
                    && taken.stderr.contains("'gt release \(claimed)'"), "\(taken)")

            let townWide = try await town.createBead("Town-wide", scope: "hq")
            let noRig = try await town.gt(["sling", townWide])
            #expect(
                noRig.status == 1 && noRig.stderr.contains("name the rig: 'gt sling \(townWide) <rig>' (rigs: demo)"),
                "\(noRig)")
        }
    }

    @Test func releaseAndForcedSlingFenceOutTheOldHolder() async throws {
        try await TownFixture.with { town in
            try expectOK(try await town.gt(["rig", "add", "demo", town.source, "--runtime", "exec:'sleep 60'"]))
            let bead = try await town.createBead("Stuck work", scope: "demo")
            try expectOK(try await town.gt(["sling", bead]))
            let first = town.layout.polecatWorktree("demo", "furiosa")
            try town.directory.write("town/demo/polecats/furiosa/first.txt", "first\n")
            try await TownFixture.git(["add", "first.txt"], cwd: first)
            try await TownFixture.git(["-c", "user.name=p", "-c", "user.email=p@p", "commit", "-qm", "w"], cwd: first)

            let forced = try await town.gt(["sling", bead, "--force", "--actor", "mayor"])
            try expectOK(forced)
            #expect(forced.stdout.contains("Took \(bead) over from demo/polecats/furiosa"), "\(forced)")
            #expect(forced.stdout.contains("demo/polecats/nux (lease epoch 2)"), "\(forced)")
            var current = try #require(try await town.beads(scope: "demo").first { $0.id == bead })
            #expect(current.assignee == "demo/polecats/nux" && current.leaseEpoch == 2 && current.status == .hooked)
            #expect(current.comments.last?.text.contains("Taken over from demo/polecats/furiosa") == true)
            #expect(current.comments.last?.author == "mayor")
            let polecats = try await town.gt(["polecat", "list", "demo", "--json"])
            #expect(polecats.stdout.contains("\"state\": \"idle\""), "\(polecats)")
            #expect(
                TownEvents.read(town.layout.eventsFile).contains {
                    $0["type"] == "sling-force" && $0["from"] == "demo/polecats/furiosa" && $0["by"] == "mayor"
                })
            let sessions = try await town.waitUntil(timeout: .seconds(10)) { await town.sessions().count == 1 }
            let live = await town.sessions()
            #expect(sessions, "\(live)")
            // The old holder's worktree has no hook any more: its 'gt done' finishes nothing.
            let oldDone = try await town.gt(["done"], cwd: first)
            #expect(oldDone.status == 1, "\(oldDone)")

            let released = try await town.gt(["release", bead, "-r", "stuck for an hour"])
            try expectOK(released)
            #expect(
                released.stdout.contains("✓ Released \(bead) from demo/polecats/nux → open (lease epoch 3)")
                    && released.stdout.contains("demo/polecats/nux unhooked"), "\(released)")
            current = try #require(try await town.beads(scope: "demo").first { $0.id == bead })
            #expect(current.assignee == "" && current.leaseEpoch == 3 && current.status == .open)
            #expect(current.comments.last?.text.hasSuffix(": stuck for an hour") == true)
            let gone = try await town.waitUntil(timeout: .seconds(10)) { await town.sessions().isEmpty }
            let left = await town.sessions()
            #expect(gone, "\(left)")
            let twice = try await town.gt(["release", bead])
            #expect(twice.status == 1 && twice.stderr.contains("nothing to release: bead \(bead) is open"), "\(twice)")
            let missing = try await town.gt(["release", "demo-nope", bead])
            #expect(missing.status == 1 && missing.stderr.contains("2 of 2 beads not released"), "\(missing)")
        }
    }

    @Test func aForcedClaimBumpsTheEpochSoTheOldHoldersDoneIsRefused() async throws {
        try await TownFixture.with { town in
            try expectOK(try await town.gt(["rig", "add", "demo", town.source, "--runtime", "exec:'sleep 60'"]))
            let bead = try await town.createBead("Taken from under it", scope: "demo")
            try expectOK(try await town.gt(["sling", bead]))
            let worktree = town.layout.polecatWorktree("demo", "furiosa")
            try town.directory.write("town/demo/polecats/furiosa/work.txt", "work\n")
            try await TownFixture.git(["add", "work.txt"], cwd: worktree)
            try await TownFixture.git(
                ["-c", "user.name=p", "-c", "user.email=p@p", "commit", "-qm", "w"], cwd: worktree)

            let refused = try await town.bd(["update", bead, "--claim", "--actor", "alice"])
            #expect(refused.status == 1, "\(refused)")
            #expect(
                refused.stderr.contains("already claimed by demo/polecats/furiosa")
                    && refused.stderr.contains("'bd update \(bead) --claim --force'"), "\(refused)")
            try expectOK(try await town.bd(["update", bead, "--claim", "--force", "--actor", "alice"]))
            let current = try #require(try await town.beads(scope: "demo").first { $0.id == bead })
            #expect(current.assignee == "alice" && current.leaseEpoch == 2)
            #expect(
                current.comments.last?.text
                    == "Claim forced by alice over demo/polecats/furiosa on town (lease epoch 1 → 2)",
                "\(current.comments)")

            let done = try await town.gt(["done"], cwd: worktree)
            #expect(done.status == 1 && done.stderr.contains("moved on to lease epoch 2"), "\(done)")
            #expect(try await town.beads(scope: "demo").allSatisfy { $0.issueType != .mergeRequest })
        }
    }

    @Test func aMergeRequestTakesItsBeadsPriority() async throws {
        try await TownFixture.with { town in
            let agent = try town.writeAgent()
            try expectOK(try await town.gt(["rig", "add", "demo", town.source, "--runtime", "exec:'sh \(agent)'"]))
            let urgent = try await town.bd(["create", "Urgent", "--rig", "demo", "-p", "0", "--silent"])
            try expectOK(urgent)
            let bead = urgent.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            try expectOK(try await town.gt(["sling", bead]))
            let filed = try await town.waitUntil(timeout: .seconds(30)) {
                try await town.beads(scope: "demo").contains { $0.issueType == .mergeRequest }
            }
            #expect(filed, "no merge request was filed")
            let request = try #require(try await town.beads(scope: "demo").first { $0.issueType == .mergeRequest })
            #expect(request.priority == 0)
            let queue = try await town.gt(["refinery", "queue", "--json"])
            #expect(queue.stdout.contains("\"priority\": 0"), "\(queue)")
        }
    }

    /// Without `node.slots` the node advertises what its rigs allow; a node that holds the lock but does not
    /// answer (SIGSTOP) is "not answering", exit 1, not "not running".
    @Test func slotsFromTheRigsAndANodeThatDoesNotAnswer() async throws {
        try await TownFixture.with { town in
            try expectOK(try await town.gt(["rig", "add", "demo", town.source, "--max-polecats", "3"]))
            try expectOK(try await town.gt(["rig", "add", "other", town.source]))
            try expectOK(try await town.gt(["cluster", "init", "--name", "slots"]))
            try await town.up()
            let pid = try #require(town.nodePID())
            let info = try await town.gt(["node", "info", "--json"])
            try expectOK(info)
            #expect(info.stdout.contains("\"free_slots\": 33"), "\(info)")
            let list = try await town.gt(["node", "list"])
            #expect(list.stdout.contains(" 33 "), "\(list)")

            kill(pid, SIGSTOP)
            defer { kill(pid, SIGCONT) }
            let stopped = try await town.gt(["status"])
            #expect(stopped.status == 1, "\(stopped)")
            #expect(stopped.stdout.contains("node: not answering (pid \(pid))"), "\(stopped)")
            let json = try await town.gt(["status", "--json"])
            #expect(json.status == 1, "\(json)")
            #expect(
                json.stdout.contains("\"answering\": false") && json.stdout.contains("\"pid\": \(pid)")
                    && json.stdout.contains("\"running\": true"), "\(json)")
            kill(pid, SIGCONT)
            let resumed = try await town.gt(["status"])
            #expect(resumed.status == 0 && resumed.stdout.contains("running (pid \(pid)"), "\(resumed)")
            try expectOK(try await town.gt(["down"]))
            let down = try await town.gt(["status", "--json"])
            #expect(down.status == 0 && down.stdout.contains("\"running\": false"), "\(down)")
        }
    }
}
