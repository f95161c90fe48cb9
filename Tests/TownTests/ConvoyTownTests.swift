import Beads
import Foundation
import GasTownTestKit
import Testing
import Town

/// Convoys with the built `gt` against real town ledgers: bad input changes nothing; a launched convoy's beads are
/// slung in waves by `gt convoy launch`, merged by the Refinery, and the convoy lands once with mail to its
/// subscribers; two towns sharing a ledger remote both land one convoy at once and exactly one does; the node
/// slings the next waves and lands the convoy by itself.
@Suite(.serialized) struct ConvoyTownTests {
    /// `gt … --json` parsed as a JSON object.
    func object(_ town: TownFixture, _ arguments: [String]) async throws -> [String: Any] {
        let output = try await town.gt(arguments + ["--json"])
        try expectOK(output)
        return try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any])
    }

    /// The tracked beads' states of `convoy`, by bead.
    func states(_ town: TownFixture, _ convoy: String) async throws -> [String: String] {
        let view = try await object(town, ["convoy", "status", convoy])
        let tracked = try #require(view["tracked"] as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: tracked.map { ($0["id"] as! String, $0["state"] as! String) })
    }

    /// The whole ledger as `bd export` writes it (to check that a refused command changed nothing).
    func export(_ town: TownFixture) async throws -> String {
        let output = try await town.bd(["export"])
        try expectOK(output)
        return output.stdout
    }

    /// Events of `type` in the town's event log.
    func events(_ town: TownFixture, _ type: String) -> [[String: String]] {
        TownEvents.read(town.layout.eventsFile).filter { $0["type"] == type }
    }

    /// Creates a bead in rig demo closed with a merge commit (as the Refinery leaves a merged bead).
    func mergedBead(_ town: TownFixture, _ title: String) async throws -> String {
        let id = try await town.createBead(title, scope: "demo")
        try expectOK(try await town.bd(["update", id, "--set-metadata", "merge_commit=abc123"]))
        try expectOK(try await town.bd(["close", id, "-r", "merged"]))
        return id
    }

    @Test func badInputIsRefusedClearlyAndChangesNothing() async throws {
        try await TownFixture.with { town in
            try expectOK(try await town.gt(["rig", "add", "demo", town.source, "--runtime", "exec:'true'"]))
            let a = try await town.createBead("Alpha", scope: "demo")
            let b = try await town.createBead("Bravo", scope: "demo")
            let created = try await object(town, ["convoy", "create", "Feature X", a, "--human"])
            let convoy = try #require(created["id"] as? String)
            #expect(convoy.hasPrefix("hq-cv-"))
            #expect(created["notify"] as? [String] == ["overseer"])
            let mail = try await town.gt(["mail", "send", "overseer", "-s", "hello"])
            try expectOK(mail)
            let message = String(mail.stdout.split(separator: " ")[1])

            let before = try await export(town)
            let cases: [([String], String, String)] = [
                (["convoy", "create", "Feature X", b], "exists already", "exists"),
                (["convoy", "create", "Other", a, "demo-nosuch"], "no bead demo-nosuch", "not_found"),
                (["convoy", "create", "Other", message], "not work a convoy can track", "refused"),
                (["convoy", "create", "Other", a, "--notify", "demo/polecats/ghost"], "no such mailbox", "refused"),
                (["convoy", "add", "No such", b], "no convoy 'No such'", "not_found"),
                (["convoy", "add", convoy, b, "demo-nosuch"], "no bead demo-nosuch", "not_found"),
                (["convoy", "status", "hq-cv-nope"], "no convoy 'hq-cv-nope'", "not_found"),
                (["convoy", "status", a], "not a convoy", "refused"),
                (["convoy", "land", convoy], "is not done: 1 of 1 tracked beads", "refused"),
                (["convoy", "launch", "nope"], "no convoy 'nope'", "not_found"),
            ]
            for (arguments, text, code) in cases {
                let output = try await town.gt(arguments)
                #expect(output.status != 0, "\(arguments) succeeded: \(output)")
                #expect(output.stderr.contains(text), "\(arguments): \(output.stderr)")
                #expect(output.stderr.contains("nothing was changed"), "\(arguments): \(output.stderr)")
                let json = try await town.gt(arguments + ["--json"])
                #expect(json.stderr.contains("\"code\": \"\(code)\""), "\(arguments): \(json.stderr)")
            }
            // The refusal of an incomplete convoy names the beads that are not done, with their state.
            let land = try await town.gt(["convoy", "land", "Feature X"])
            #expect(land.stderr.contains("\(a) (ready)"), "\(land)")
            let after = try await export(town)
            #expect(after == before)
            #expect(events(town, "convoy_landed").isEmpty)
            // A bad name is a usage error.
            let blank = try await town.gt(["convoy", "create", " ", a])
            #expect(blank.status == 2 && blank.stderr.contains("the convoy name is empty"), "\(blank)")
            // Adding is idempotent for tracked beads and adds the new ones.
            let added = try await object(town, ["convoy", "add", convoy, a, b])
            #expect(added["total"] as? Int == 2)
            let list = try await town.gt(["convoy", "list"])
            #expect(list.stdout.contains("Feature X") && list.stdout.contains("0/2"), "\(list)")
            // Tracked beads list in the order they were named.
            let c = try await town.createBead("Charlie", scope: "demo")
            let ordered = try await object(town, ["convoy", "create", "Order", b, a])
            #expect((ordered["tracked"] as? [[String: Any]])?.map { $0["id"] as? String } == [b, a])
            let grown = try await object(town, ["convoy", "add", "Order", c, a])
            #expect((grown["tracked"] as? [[String: Any]])?.map { $0["id"] as? String } == [b, a, c])
        }
    }

    /// `gt convoy launch` slings the first wave only (the second bead waits for the first); after the Refinery
    /// merges it, launching again slings the second; then the convoy lands once, mailing its subscribers.
    @Test func launchInWavesThenLandOnceWithMail() async throws {
        try await TownFixture.with { town in
            let agent = try town.writeAgent()
            let remote = town.directory.join("remote.git")
            try await TownFixture.git(["clone", "-q", "--bare", town.source, remote], cwd: town.directory.path)
            try expectOK(try await town.gt(["rig", "add", "demo", remote, "--runtime", "exec:'sh \(agent)'"]))
            let first = try await town.createBead("First", scope: "demo")
            let second = try await town.createBead("Second", scope: "demo")
            try expectOK(try await town.bd(["dep", "add", second, first]))
            try expectOK(
                try await town.gt(["convoy", "create", "Train", first, second, "--human", "--notify", "mayor/"]))

            let wave1 = try await object(town, ["convoy", "launch", "Train"])
            #expect((wave1["slung"] as? [[String: Any]])?.map { $0["bead"] as? String } == [first])
            #expect((wave1["waiting"] as? [[String: Any]])?.map { $0["id"] as? String } == [second])
            let reviewed = try await town.waitUntil(timeout: .seconds(60)) {
                try await states(town, "Train")[first] == "review"
            }
            let afterWave1 = try await states(town, "Train")
            #expect(reviewed, "\(afterWave1)")
            let status = try await town.gt(["convoy", "status", "Train"])
            #expect(status.stdout.contains("[░░░░░░░░░░░░░░░░░░░░] 0/2"), "\(status)")
            #expect(status.stdout.contains("demo/polecats/") && status.stdout.contains(" on town"), "\(status)")
            try expectOK(try await town.gt(["refinery", "run", "demo", "--once"]))
            let afterMerge = try await states(town, "Train")
            #expect(afterMerge == [first: "merged", second: "ready"])

            let wave2 = try await object(town, ["convoy", "launch", "Train"])
            #expect((wave2["slung"] as? [[String: Any]])?.map { $0["bead"] as? String } == [second])
            let filed = try await town.waitUntil(timeout: .seconds(60)) {
                try await states(town, "Train")[second] == "review"
            }
            #expect(filed)
            try expectOK(try await town.gt(["refinery", "run", "demo", "--once"]))
            let done = try await object(town, ["convoy", "status", "Train"])
            #expect(done["landable"] as? Bool == true && done["done"] as? Int == 2)

            let landed = try await object(town, ["convoy", "land", "Train"])
            #expect(landed["outcome"] as? String == "landed" && landed["node"] as? String == "town")
            #expect(Set(landed["mailed"] as? [String] ?? []) == ["overseer", "mayor/"])
            let again = try await object(town, ["convoy", "land", "Train"])
            #expect(again["outcome"] as? String == "already_landed")
            #expect(events(town, "convoy_landed").count == 1)
            let inbox = try await town.gt(["mail", "inbox", "--from", "overseer"])
            #expect(inbox.stdout.contains("Convoy landed: Train"), "\(inbox)")
            let list = try await town.gt(["convoy", "list", "--all"])
            #expect(list.stdout.contains("landed by town"), "\(list)")
            let open = try await town.gt(["convoy", "list"])
            #expect(open.stdout.contains("No open convoys"), "\(open)")
            // A landed convoy takes no more beads and launches nothing.
            let late = try await town.gt(["convoy", "add", "Train", first])
            #expect(late.status != 0 && late.stderr.contains("already landed"), "\(late)")
        }
    }

    /// A bead whose sling fails is counted each time and, at the third failure, set aside with a message while
    /// the rest of the convoy goes on; the failed slings leave the bead unclaimed.
    @Test func aBeadThatFailsThreeTimesIsSetAside() async throws {
        try await TownFixture.with { town in
            try expectOK(try await town.gt(["rig", "add", "demo", town.source, "--runtime", "exec:'true'"]))
            let bead = try await town.createBead("Doomed", scope: "demo")
            try expectOK(try await town.gt(["convoy", "create", "Doom", bead]))
            for attempt in 1...3 {
                let wave = try await object(town, ["convoy", "launch", "Doom", "--runtime", "nosuch-runtime"])
                let failed = try #require(wave["failed"] as? [[String: Any]])
                #expect(failed.map { $0["bead"] as? String } == [bead] && failed[0]["failures"] as? Int == attempt)
                #expect((failed[0]["error"] as? String)?.contains("nosuch-runtime") == true, "\(failed)")
                #expect((wave["set_aside"] as? [Any])?.isEmpty == true)
            }
            let claimed = try await town.beads(scope: "demo").first { $0.id == bead }
            #expect(claimed?.assignee == "" && claimed?.status == .open)
            let text = try await town.gt(["convoy", "launch", "Doom"])
            try expectOK(text)
            #expect(text.stderr.contains("set aside: \(bead) failed 3 times"), "\(text)")
            #expect(try await states(town, "Doom") == [bead: "set_aside"])
            let again = try await object(town, ["convoy", "launch", "Doom"])
            #expect((again["slung"] as? [Any])?.isEmpty == true && again["finished"] as? Bool == true)
            #expect(events(town, "convoy_set_aside").count == 1)
            #expect(events(town, "convoy_sling_failed").count == 3)
        }
    }

    /// Two towns share a ledger remote and see the same complete convoy; both run `gt convoy land` at once: the
    /// landing claim lets exactly one land it (one close, one convoy_landed event, one message per subscriber).
    @Test func twoTownsSharingALedgerRemoteLandAConvoyExactlyOnce() async throws {
        try await TownFixture.with(name: "alpha") { alpha in
            try await TownFixture.with(name: "beta") { beta in
                let ledgerRemote = alpha.directory.join("ledger.git")
                try await TownFixture.git(["init", "-q", "--bare", ledgerRemote], cwd: alpha.directory.path)
                for town in [alpha, beta] {
                    try expectOK(try await town.gt(["rig", "add", "demo", alpha.source, "--runtime", "exec:'true'"]))
                    try expectOK(try await town.bd(["remote", "add", "origin", ledgerRemote]))
                }
                let a = try await mergedBead(alpha, "Alpha")
                let b = try await mergedBead(alpha, "Bravo")
                let created = try await object(alpha, ["convoy", "create", "Shared", a, b, "--human"])
                let convoy = try #require(created["id"] as? String)
                try expectOK(try await alpha.bd(["sync"]))
                try expectOK(try await beta.bd(["sync"]))
                let seen = try await object(beta, ["convoy", "status", convoy])
                #expect(seen["landable"] as? Bool == true, "\(seen)")

                async let first = alpha.gt(["convoy", "land", convoy, "--json"])
                async let second = beta.gt(["convoy", "land", convoy, "--json"])
                let outputs = try await [first, second]
                for output in outputs { try expectOK(output) }
                let outcomes = try outputs.map { output in
                    try #require(
                        try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any])["outcome"]
                        as? String
                }
                #expect(outcomes.filter { $0 == "landed" }.count == 1, "\(outcomes)")
                #expect(
                    outcomes.allSatisfy { ["landed", "landed_elsewhere", "already_landed"].contains($0 ?? "") },
                    "\(outcomes)")
                let winner = outcomes[0] == "landed" ? "alpha" : "beta"

                for town in [alpha, beta, alpha, beta] { try expectOK(try await town.bd(["sync"])) }
                for town in [alpha, beta] {
                    let view = try await object(town, ["convoy", "status", convoy])
                    #expect(view["status"] as? String == "landed" && view["landed_by"] as? String == winner, "\(view)")
                    let messages = try await town.beads(scope: "hq").filter {
                        $0.issueType == .message && $0.title == "Convoy landed: Shared"
                    }
                    #expect(messages.count == 1, "\(messages.map(\.id))")
                }
                #expect(events(alpha, "convoy_landed").count + events(beta, "convoy_landed").count == 1)
                // Landing again anywhere says it already landed.
                let again = try await object(beta, ["convoy", "land", convoy])
                #expect(again["outcome"] as? String == "already_landed" && again["node"] as? String == winner)
            }
        }
    }

    /// A node that won the landing claim and died before its landing write: another town's node, sharing the
    /// ledger remote, sees the claim unchanged on a complete convoy for the grace period, takes it over at the next
    /// epoch and lands the convoy. (It once failed intermittently under load: beta's first `gt convoy status` ran
    /// before its node's first pull had brought the convoy, and said not_found; the test now waits for the pull.)
    @Test func aLandingClaimLeftByADeadNodeIsTakenOverAfterTheGrace() async throws {
        try await TownFixture.with(name: "alpha") { alpha in
            try await TownFixture.with(name: "beta") { beta in
                let ledgerRemote = alpha.directory.join("ledger.git")
                try await TownFixture.git(["init", "-q", "--bare", ledgerRemote], cwd: alpha.directory.path)
                for town in [alpha, beta] {
                    try expectOK(try await town.gt(["rig", "add", "demo", alpha.source, "--runtime", "exec:'true'"]))
                    try expectOK(try await town.bd(["remote", "add", "origin", ledgerRemote]))
                }
                let a = try await mergedBead(alpha, "Alpha")
                let convoy = try #require(try await object(alpha, ["convoy", "create", "Orphan", a])["id"] as? String)
                // alpha's landing claim lands on the remote, and alpha dies before closing the convoy.
                try expectOK(try await alpha.bd(["--actor", "convoy-lander", "update", convoy, "--claim"]))
                try expectOK(try await alpha.bd(["sync"]))
                let path = beta.layout.townFile
                var config = try #require(
                    try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
                        as? [String: Any])
                config["convoy"] = ["poll_seconds": 0.5, "landing_grace_seconds": 2]
                try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]).write(
                    to: URL(fileURLWithPath: path))
                try await beta.up()
                // beta's ledger has the convoy only after its node's first pull from the remote (later under load):
                // until then `gt convoy status` says not_found, which is no failure of the takeover.
                let pulled = try await beta.waitUntil(timeout: .seconds(60)) {
                    (try? await beta.beads(scope: "hq"))?.contains { $0.id == convoy } ?? false
                }
                #expect(pulled, "beta's node did not pull the convoy from the ledger remote")
                var view: [String: Any] = [:]
                let landed = try await beta.waitUntil(timeout: .seconds(60)) {
                    view = try await object(beta, ["convoy", "status", convoy])
                    return view["status"] as? String == "landed"
                }
                #expect(landed, "\(view)")
                #expect(view["landed_by"] as? String == "beta", "\(view)")
                let bead = try await beta.beads(scope: "hq").first { $0.id == convoy }
                #expect(bead?.leaseEpoch == 2 && bead?.assignee == "", "\(String(describing: bead))")
                #expect(events(beta, "convoy_landed").count == 1)
                try expectOK(try await beta.gt(["down"]))
            }
        }
    }

    /// With the node running: `gt convoy launch` slings the first wave, the node's Refinery merges it, the node's
    /// convoy patrol slings the next wave once its blocker closed, and lands the convoy by itself.
    @Test func theNodeSlingsTheNextWavesAndLandsTheConvoy() async throws {
        try await TownFixture.with { town in
            try RefineryNodeTests.fastRefinery(town)
            let path = town.layout.townFile
            var config = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
            config["convoy"] = ["poll_seconds": 1]
            try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]).write(
                to: URL(fileURLWithPath: path))
            let agent = try town.writeAgent()
            let remote = town.directory.join("remote.git")
            try await TownFixture.git(["clone", "-q", "--bare", town.source, remote], cwd: town.directory.path)
            try expectOK(try await town.gt(["rig", "add", "demo", remote, "--runtime", "exec:'sh \(agent)'"]))
            try await town.up()
            let first = try await town.createBead("First", scope: "demo")
            let second = try await town.createBead("Second", scope: "demo")
            let third = try await town.createBead("Third", scope: "demo")
            try expectOK(try await town.bd(["dep", "add", second, first]))
            try expectOK(try await town.bd(["dep", "add", third, second]))
            try expectOK(try await town.gt(["convoy", "create", "Chain", first, second, third, "--human"]))
            let wave = try await object(town, ["convoy", "launch", "Chain"])
            #expect((wave["slung"] as? [[String: Any]])?.count == 1)
            var view: [String: Any] = [:]
            let landed = try await town.waitUntil(timeout: .seconds(150)) {
                view = try await object(town, ["convoy", "status", "Chain"])
                return view["status"] as? String == "landed"
            }
            #expect(landed, "\(view)")
            #expect(view["landed_by"] as? String == "town" && view["done"] as? Int == 3)
            let slung = events(town, "sling").compactMap { $0["bead"] }
            #expect(slung.sorted() == [first, second, third].sorted(), "\(slung)")
            #expect(events(town, "convoy_landed").count == 1)
            let inbox = try await town.gt(["mail", "inbox", "--from", "overseer"])
            #expect(inbox.stdout.contains("Convoy landed: Chain"), "\(inbox)")
            try expectOK(try await town.gt(["down"]))
        }
    }
}
