import Beads
import Foundation
import Scheduling
import Testing
import Town

/// The convoy's pure core as values: each tracked bead's state (every state, from the bead and its merge
/// requests), its node and polecat, progress, landability and the refusal naming what is not done, the landing
/// mail, the launch's wave items, the progress bar and the name rules.
struct ConvoyCoreTests {
    static func bead(_ id: String, _ status: BeadStatus = .open, type: IssueType = .task, at nanos: Int64 = 1) -> Bead {
        var bead = Bead(id: id, title: "Title of \(id)", createdAt: Timestamp(unixNanos: nanos))
        bead.status = status
        bead.issueType = type
        if status == .closed { bead.closedAt = Timestamp(unixNanos: nanos + 1) }
        return bead
    }

    static func request(
        _ id: String, for source: String, status: String?, closed: Bool = false, at nanos: Int64 = 10,
        branch: String = "polecat/beta/nux/gt-a/e1"
    ) -> Bead {
        var bead = bead(id, closed ? .closed : .open, type: .mergeRequest, at: nanos)
        bead.metadata = [JSONMember("source_bead", .string(source)), JSONMember("branch", .string(branch))]
        if let status { bead.metadata.append(JSONMember("mq_status", .string(status))) }
        if status == "merged" { bead.metadata.append(JSONMember("merge_commit", .string("abc123def456789"))) }
        return bead
    }

    static func convoy(_ tracked: [String], status: BeadStatus = .open, metadata: [JSONMember] = []) -> Bead {
        var bead = bead("hq-cv-one", status, type: .convoy)
        bead.title = "Feature X"
        bead.dependencies = tracked.enumerated().map { index, id in
            Dependency(
                issueID: "hq-cv-one", dependsOnID: id, type: .tracks, createdAt: Timestamp(unixNanos: Int64(index)))
        }
        bead.metadata = metadata
        return bead
    }

    @Test func everyStateFromTheLedger() {
        func state(_ facts: TrackedFacts, aside: String? = nil) -> TrackedState {
            ConvoyCore.track(facts, asideMessage: aside).state
        }
        #expect(state(TrackedFacts(id: "gt-a", bead: nil)) == .missing)
        #expect(state(TrackedFacts(id: "gt-a", bead: Self.bead("gt-a", .tombstone))) == .missing)
        #expect(state(TrackedFacts(id: "gt-a", bead: Self.bead("gt-a"))) == .ready)
        #expect(state(TrackedFacts(id: "gt-a", bead: Self.bead("gt-a"), openBlockers: ["gt-b"])) == .blocked)
        var hooked = Self.bead("gt-a", .hooked)
        hooked.assignee = "demo/polecats/nux"
        hooked.claimNode = "beta"
        #expect(state(TrackedFacts(id: "gt-a", bead: hooked)) == .working)
        let inProgress = Self.bead("gt-a", .inProgress)
        for status in ["queued", "testing", nil] {
            let facts = TrackedFacts(
                id: "gt-a", bead: inProgress, mergeRequests: [Self.request("gt-mr-1", for: "gt-a", status: status)])
            #expect(state(facts) == .review, "\(String(describing: status))")
        }
        for status in ["rework", "conflict"] {
            let facts = TrackedFacts(
                id: "gt-a", bead: inProgress,
                mergeRequests: [Self.request("gt-mr-1", for: "gt-a", status: status, closed: true)])
            #expect(state(facts) == .rework)
        }
        // Rejected and closed: the bead is free again, slung anew.
        let rejected = TrackedFacts(
            id: "gt-a", bead: inProgress,
            mergeRequests: [Self.request("gt-mr-1", for: "gt-a", status: "rejected", closed: true)])
        #expect(state(rejected) == .ready)
        let closed = Self.bead("gt-a", .closed)
        #expect(
            state(
                TrackedFacts(
                    id: "gt-a", bead: closed,
                    mergeRequests: [Self.request("gt-mr-1", for: "gt-a", status: "merged", closed: true)])) == .merged)
        #expect(state(TrackedFacts(id: "gt-a", bead: closed)) == .closedUnmerged)
        var closedWithCommit = closed
        closedWithCommit.metadata = [JSONMember("merge_commit", .string("abc"))]
        #expect(state(TrackedFacts(id: "gt-a", bead: closedWithCommit)) == .merged)
        #expect(
            state(
                TrackedFacts(
                    id: "gt-a", bead: closed,
                    mergeRequests: [Self.request("gt-mr-1", for: "gt-a", status: "rejected", closed: true)]))
                == .closedUnmerged)
        #expect(state(TrackedFacts(id: "gt-a", bead: Self.bead("gt-a")), aside: "failed") == .setAside)
        // A merged bead stays merged even if it was set aside before.
        #expect(
            state(TrackedFacts(id: "gt-a", bead: closedWithCommit), aside: "failed") == .merged)
        #expect(state(TrackedFacts(id: "gt-a", bead: Self.bead("gt-a", .deferred))) == .blocked)
    }

    @Test func nodeAndPolecatFromTheClaimThenFromTheWorkBranch() {
        var hooked = Self.bead("gt-a", .hooked)
        hooked.assignee = "demo/polecats/nux"
        hooked.claimNode = "alpha"
        let working = ConvoyCore.track(TrackedFacts(id: "gt-a", bead: hooked, rig: "demo"))
        #expect(working.node == "alpha" && working.polecat == "demo/polecats/nux")
        // After gt done the claim is released: the merge request's branch names the node and polecat.
        let review = ConvoyCore.track(
            TrackedFacts(
                id: "gt-a", bead: Self.bead("gt-a", .inProgress),
                mergeRequests: [Self.request("gt-mr-1", for: "gt-a", status: "testing")], rig: "demo"))
        #expect(review.node == "beta" && review.polecat == "demo/polecats/nux")
        #expect(review.mergeRequest == "gt-mr-1" && review.mergeStatus == "testing")
        // The merged request speaks for the bead even when a newer one exists; otherwise the newest.
        let two = ConvoyCore.track(
            TrackedFacts(
                id: "gt-a", bead: Self.bead("gt-a", .closed),
                mergeRequests: [
                    Self.request("gt-mr-2", for: "gt-a", status: "queued", at: 30),
                    Self.request("gt-mr-1", for: "gt-a", status: "merged", closed: true, at: 20),
                ]))
        #expect(two.mergeRequest == "gt-mr-1" && two.state == .merged && two.mergeCommit == "abc123def456789")
        let newest = ConvoyCore.track(
            TrackedFacts(
                id: "gt-a", bead: Self.bead("gt-a", .inProgress),
                mergeRequests: [
                    Self.request("gt-mr-1", for: "gt-a", status: "rework", closed: true, at: 20),
                    Self.request("gt-mr-2", for: "gt-a", status: "queued", at: 30),
                ]))
        #expect(newest.mergeRequest == "gt-mr-2" && newest.state == .review && newest.failures == 1)
        // A branch of another shape names nobody.
        let odd = ConvoyCore.track(
            TrackedFacts(
                id: "gt-a", bead: Self.bead("gt-a", .inProgress),
                mergeRequests: [Self.request("gt-mr-1", for: "gt-a", status: "queued", branch: "feature/x")]))
        #expect(odd.node == "" && odd.polecat == "")
    }

    @Test func progressLandabilityAndTheRefusal() {
        let merged = TrackedFacts(
            id: "gt-a", bead: Self.bead("gt-a", .closed),
            mergeRequests: [Self.request("gt-mr-1", for: "gt-a", status: "merged", closed: true)])
        let open = TrackedFacts(id: "gt-b", bead: Self.bead("gt-b"), openBlockers: ["gt-a"])
        let convoy = Self.convoy(["gt-a", "gt-b", "gt-c"])
        let view = ConvoyCore.view(convoy, facts: [open, merged])
        #expect(view.tracked.map(\.id) == ["gt-a", "gt-b", "gt-c"])
        #expect(view.tracked.map(\.state) == [.merged, .blocked, .missing])
        #expect(view.done == 1 && view.total == 3 && !view.landable && view.status == "open")
        let refusal = ConvoyCore.refusal(view) ?? ""
        #expect(refusal.contains("2 of 3") && refusal.contains("gt-b (blocked)") && refusal.contains("gt-c (missing)"))
        #expect(!refusal.contains("gt-a"))

        let complete = ConvoyCore.view(Self.convoy(["gt-a"]), facts: [merged])
        #expect(complete.landable && ConvoyCore.refusal(complete) == nil)
        let empty = ConvoyCore.view(Self.convoy([]), facts: [])
        #expect(!empty.landable && ConvoyCore.refusal(empty)?.contains("tracks no bead") == true)
        var landedBead = Self.convoy(["gt-a"], status: .closed, metadata: [JSONMember("landed_by", .string("beta"))])
        landedBead.closedAt = Timestamp(unixNanos: 5)
        let landed = ConvoyCore.view(landedBead, facts: [merged])
        #expect(landed.status == "landed" && !landed.landable && landed.landedBy == "beta")
        #expect(ConvoyCore.refusal(landed)?.contains("already landed") == true)
        // Duplicated edges count once.
        var doubled = Self.convoy(["gt-a", "gt-a"])
        doubled.dependencies.append(
            Dependency(issueID: "hq-cv-one", dependsOnID: "gt-z", type: .blocks, createdAt: Timestamp(unixNanos: 9)))
        #expect(ConvoyCore.trackedIDs(doubled) == ["gt-a"])
    }

    @Test func metadataSubscriptionsFailuresAndSetAside() {
        let convoy = Self.convoy(
            ["gt-a", "gt-b"],
            metadata: [
                JSONMember("convoy_notify", .array([.string("overseer"), .string("mayor/")])),
                JSONMember("convoy_failures", .object([JSONMember("gt-a", .int(2))])),
                JSONMember("convoy_set_aside", .object([JSONMember("gt-b", .string("failed 3 times"))])),
                JSONMember("convoy_launched", .bool(true)),
            ])
        let view = ConvoyCore.view(
            convoy,
            facts: [
                TrackedFacts(
                    id: "gt-a", bead: Self.bead("gt-a"),
                    mergeRequests: [Self.request("gt-mr-1", for: "gt-a", status: "rejected", closed: true)],
                    rig: "demo"),
                TrackedFacts(id: "gt-b", bead: Self.bead("gt-b"), rig: "web"),
            ])
        #expect(view.notify == ["overseer", "mayor/"] && view.launched)
        #expect(view.tracked[0].failures == 3 && view.tracked[0].state == .ready)
        #expect(view.tracked[1].state == .setAside && view.tracked[1].setAside == "failed 3 times")
        let items = ConvoyCore.waveItems(view, priorities: ["gt-a": 0])
        #expect(items[0] == ConvoyWaves.Item(id: "gt-a", rig: "demo", phase: .pending, failures: 3, priority: 0))
        #expect(items[1].phase == .setAside)
        // The planner then sets gt-a aside (3 failures) and slings nothing.
        let plan = ConvoyWaves.plan(items, capacity: ["demo": 5, "web": 5])
        #expect(plan.sling.isEmpty && plan.setAside.map(\.id) == ["gt-a"] && plan.finished)
        // Bad metadata shapes read as nothing.
        let odd = Self.convoy(["gt-a"], metadata: [JSONMember("convoy_notify", .string("overseer"))])
        #expect(ConvoyCore.notify(odd).isEmpty && ConvoyCore.failures(odd).isEmpty && !ConvoyCore.isLaunched(odd))
    }

    @Test func waveItemsForEveryState() {
        let states: [(TrackedState, ConvoyWaves.Phase)] = [
            (.ready, .pending), (.blocked, .pending), (.working, .inFlight), (.review, .inFlight),
            (.rework, .inFlight), (.merged, .done), (.closedUnmerged, .done), (.setAside, .setAside),
            (.missing, .pending),
        ]
        for (state, phase) in states {
            let bead = TrackedBeadView(
                id: "gt-a", title: "", rig: "demo", status: "open", state: state, node: "", polecat: "",
                mergeRequest: "", mergeStatus: "", mergeCommit: "", blockers: [], failures: 0, setAside: nil)
            let view = ConvoyView(
                id: "hq-cv-one", name: "x", status: "open", tracked: [bead], done: 0, total: 1, landable: false,
                launched: true, notify: [], landedBy: "", landedAt: "")
            let item = ConvoyCore.waveItems(view)[0]
            #expect(item.phase == phase, "\(state)")
            // A missing bead is never slung: it waits on itself.
            if state == .missing { #expect(item.openBlockers == ["gt-a"]) }
        }
    }

    @Test func landingMailBarAndNames() {
        let view = ConvoyCore.view(
            Self.convoy(["gt-a"]),
            facts: [
                TrackedFacts(
                    id: "gt-a", bead: Self.bead("gt-a", .closed),
                    mergeRequests: [Self.request("gt-mr-1", for: "gt-a", status: "merged", closed: true)])
            ])
        let mail = ConvoyCore.landingMail(view, node: "beta")
        #expect(mail.subject == "Convoy landed: Feature X")
        #expect(
            mail.body.contains("landed on beta") && mail.body.contains("gt-a Title of gt-a (merged in abc123def456)"))
        #expect(ConvoyCore.landingReason(view, node: "beta") == "landed by beta: all 1 tracked beads merged")
        #expect(ConvoyCore.progressBar(done: 0, total: 4, width: 4) == "[░░░░] 0/4")
        #expect(ConvoyCore.progressBar(done: 2, total: 4, width: 4) == "[██░░] 2/4")
        #expect(ConvoyCore.progressBar(done: 4, total: 4, width: 4) == "[████] 4/4")
        #expect(ConvoyCore.progressBar(done: 0, total: 0, width: 2) == "[░░] 0/0")
        #expect(ConvoyCore.nameProblem("Feature X") == nil)
        #expect(ConvoyCore.nameProblem("  ") != nil)
        #expect(ConvoyCore.nameProblem("a\nb") != nil)
        #expect(ConvoyCore.nameProblem(String(repeating: "x", count: 201)) != nil)
    }

    /// The view's JSON round-trips and carries `done` per bead.
    @Test func viewJSONRoundTrips() throws {
        let view = ConvoyCore.view(
            Self.convoy(["gt-a", "gt-b"]),
            facts: [TrackedFacts(id: "gt-a", bead: Self.bead("gt-a"), rig: "demo")])
        let data = try JSONEncoder().encode(view)
        #expect(try JSONDecoder().decode(ConvoyView.self, from: data) == view)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let tracked = try #require(object["tracked"] as? [[String: Any]])
        #expect(tracked.map { $0["done"] as? Bool } == [false, false])
        #expect(tracked.map { $0["state"] as? String } == ["ready", "missing"])
    }
}
