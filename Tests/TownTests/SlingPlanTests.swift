import Beads
import Testing
import Town

/// `gt sling`'s plan as values: no ledger, no git, no sessions.
@Suite struct SlingPlanTests {
    let rigs = [
        "demo": RigConfig(
            name: "demo", gitURL: "/r/demo", defaultBranch: "main", createdAt: "t", prefix: "de", runtime: nil),
        "other": RigConfig(
            name: "other", gitURL: "/r/other", defaultBranch: "main", createdAt: "t", prefix: "ot", runtime: nil),
    ]

    func bead(
        _ id: String = "de-abc", status: BeadStatus = .open, type: IssueType = .task, assignee: String = "",
        epoch: Int = 0
    ) -> Bead {
        var bead = Bead(id: id, title: "work", createdAt: Timestamp(unixNanos: 0))
        bead.status = status
        bead.issueType = type
        bead.assignee = assignee
        bead.leaseEpoch = epoch
        return bead
    }

    func polecat(_ name: String, working: Bool = false, sessions: Int = 0) -> PolecatState {
        var state = PolecatState(rig: "demo", name: name)
        if working {
            state.state = "working"
            state.hookBead = "de-x"
        }
        state.sessionEpoch = sessions
        return state
    }

    @Test func theRigIsTheRequestedOneOrTheOwnerOfThePrefix() throws {
        #expect(try SlingPlan.target(bead: bead(), requested: nil, rigs: rigs, force: false).name == "demo")
        #expect(try SlingPlan.target(bead: bead(), requested: "other", rigs: rigs, force: false).name == "other")
        #expect(throws: TownError.noRigForBead(id: "zz-1", known: ["demo", "other"])) {
            try SlingPlan.target(bead: bead("zz-1"), requested: nil, rigs: rigs, force: false)
        }
        #expect(throws: TownError.noSuchRig(name: "nope", known: ["demo", "other"])) {
            try SlingPlan.target(bead: bead(), requested: "nope", rigs: rigs, force: false)
        }
    }

    @Test func closedInfrastructureAndHeldBeadsAreRefused() throws {
        for status in [BeadStatus.closed, .tombstone] {
            #expect(throws: TownError.beadClosed("de-abc")) {
                try SlingPlan.target(bead: bead(status: status), requested: nil, rigs: rigs, force: true)
            }
        }
        #expect(throws: TownError.notWork(id: "de-abc", type: "agent")) {
            try SlingPlan.target(bead: bead(type: .agent), requested: nil, rigs: rigs, force: false)
        }
        let claimed = bead(status: .inProgress, assignee: "demo/polecats/nux", epoch: 3)
        #expect(throws: TownError.beadClaimed(id: "de-abc", holder: "demo/polecats/nux", epoch: 3)) {
            try SlingPlan.target(bead: claimed, requested: nil, rigs: rigs, force: false)
        }
        let hooked = bead(status: .hooked, assignee: "demo/polecats/nux", epoch: 3)
        #expect(throws: TownError.beadHooked(id: "de-abc", holder: "demo/polecats/nux", epoch: 3)) {
            try SlingPlan.target(bead: hooked, requested: nil, rigs: rigs, force: false)
        }
        // With force, a held bead goes through; the plan names the holder and still raises the epoch by one.
        #expect(try SlingPlan.target(bead: hooked, requested: nil, rigs: rigs, force: true).name == "demo")
        let plan = try SlingPlan.make(
            bead: hooked, rig: rigs["demo"]!, runtime: "claude", polecats: [polecat("a")], removed: [],
            preferred: nil, limit: 4)
        #expect(plan.holder == "demo/polecats/nux")
        #expect(plan.expectedEpoch == 3 && plan.epoch == 4)
    }

    @Test func thePolecatIsThePreferredIdleOneThenTheFirstIdleThenANewName() throws {
        let rig = rigs["demo"]!
        let work = bead(epoch: 7)
        let team = [polecat("a", working: true), polecat("b"), polecat("c")]
        func pick(_ polecats: [PolecatState], removed: Set<String> = [], preferred: String? = nil, limit: Int = 4)
            throws(TownError) -> SlingPlan.Pick
        {
            try SlingPlan.make(
                bead: work, rig: rig, runtime: "claude", polecats: polecats, removed: removed, preferred: preferred,
                limit: limit
            ).pick
        }
        #expect(try pick(team) == .existing(team[1]))
        #expect(try pick(team, preferred: "c") == .existing(team[2]))
        // A preferred polecat that is busy (or unknown) does not block: the first idle one gets the work.
        #expect(try pick(team, preferred: "a") == .existing(team[1]))
        #expect(try pick(team, preferred: "zed") == .existing(team[1]))
        // Removed polecats get no work but keep their names taken.
        #expect(try pick(team, removed: ["b", "c"]) == .create(name: TownNames.polecatPool[0]))
        #expect(try pick(team, removed: ["b"]) == .existing(team[2]))
        let pool = TownNames.polecatPool
        let named = [polecat(pool[0], working: true), polecat(pool[1], working: true)]
        #expect(try pick(named) == .create(name: pool[2]))
        #expect(try pick([]) == .create(name: pool[0]))
        // Full: every active polecat busy and the limit reached; removed ones do not count against it.
        #expect(throws: TownError.rigFull(rig: "demo", limit: 2)) { try pick(named, limit: 2) }
        #expect(try pick(named + [polecat(pool[2])], removed: [pool[2]], limit: 3) == .create(name: pool[3]))
    }

    @Test func theWorkingStateEpochAndBranch() throws {
        let plan = try SlingPlan.make(
            bead: bead(epoch: 2), rig: rigs["demo"]!, runtime: "exec:'true'", polecats: [], removed: [],
            preferred: nil, limit: 4)
        #expect(plan.bead == "de-abc" && plan.rig == "demo" && plan.runtime == "exec:'true'")
        #expect(plan.expectedEpoch == 2 && plan.epoch == 3 && plan.holder.isEmpty)
        var idle = polecat("nux", sessions: 5)
        idle.restarts = 2
        idle.completed = 9
        let working = plan.working(idle)
        #expect(working.state == "working" && !working.isIdle)
        #expect(working.hookBead == "de-abc" && working.hookEpoch == 3)
        #expect(working.sessionEpoch == 6 && working.restarts == 0 && working.runtime == "exec:'true'")
        #expect(working.completed == 9 && working.name == "nux")
        #expect(plan.branch(node: "n1", polecat: "nux") == "polecat/n1/nux/de-abc/e3")
    }
}
