import Testing

@testable import Scheduling

/// The delegation cores (docs/federation.md §Delegation): admission, the requester's and the receiver's state
/// machines, driven through every path and every event in every state.
@Suite struct DelegationTests {
    typealias R = Delegation.Requester
    typealias V = Delegation.Receiver
    let request = Delegation.Request(origin: "hop://alpha/app/al-1", gate: "make test", budgetHours: 2, deadline: 1_000)
    let open = Delegation.Allowance(mayDelegate: true)

    // MARK: Admission

    @Test func admissionFollowsPolicyDeadlineAndBudgetsInOrder() {
        #expect(Delegation.admit(request, allowance: open, now: 0) == nil)
        #expect(Delegation.admit(request, allowance: Delegation.Allowance(mayDelegate: false), now: 0) == .notAllowed)
        // The deadline: refused at and after it.
        #expect(Delegation.admit(request, allowance: open, now: 999) == nil)
        #expect(Delegation.admit(request, allowance: open, now: 1_000) == .deadlinePassed)
        // Concurrent beads: the limit-th in progress blocks the next one.
        let two = Delegation.Allowance(mayDelegate: true, concurrentBeads: 2, inProgress: 1)
        #expect(Delegation.admit(request, allowance: two, now: 0) == nil)
        var full = two
        full.inProgress = 2
        #expect(Delegation.admit(request, allowance: full, now: 0) == .concurrentBeads(limit: 2))
        let none = Delegation.Allowance(mayDelegate: true, concurrentBeads: 0)
        #expect(Delegation.admit(request, allowance: none, now: 0) == .concurrentBeads(limit: 0))
        // Agent-hours: what is left must cover what is asked; nothing left refuses even an unbudgeted request.
        let hours = Delegation.Allowance(mayDelegate: true, agentHours: 10, hoursUsed: 7)
        #expect(Delegation.admit(request, allowance: hours, now: 0) == nil)
        var spent = hours
        spent.hoursUsed = 9
        #expect(Delegation.admit(request, allowance: spent, now: 0) == .agentHours(asked: 2, left: 1))
        spent.hoursUsed = 12
        var unbudgeted = request
        unbudgeted.budgetHours = nil
        #expect(Delegation.admit(unbudgeted, allowance: spent, now: 0) == .agentHours(asked: 0, left: 0))
        // Malformed first: even a peer that may not delegate learns its request was malformed.
        var noGate = request
        noGate.gate = "  "
        #expect(
            Delegation.admit(noGate, allowance: Delegation.Allowance(mayDelegate: false), now: 0)
                == .badRequest("no acceptance gate command"))
        var negative = request
        negative.budgetHours = -1
        #expect(
            Delegation.admit(negative, allowance: open, now: 0)
                == .badRequest("the budget must be a positive number of hours"))
        // The policy is checked before the budget: a denied peer is told it is denied, not that it is over budget.
        #expect(
            Delegation.admit(request, allowance: Delegation.Allowance(mayDelegate: false, concurrentBeads: 0), now: 0)
                == .notAllowed)
        for refusal: Delegation.Refusal in [
            .notAllowed, .concurrentBeads(limit: 1), .agentHours(asked: 1, left: 0), .deadlinePassed,
        ] {
            #expect(!refusal.description.isEmpty)
        }
        #expect(Delegation.Refusal.notAllowed.description.contains("--allow-delegate"))
        #expect(Delegation.Refusal.concurrentBeads(limit: 3).description.contains("budget exhausted"))
    }

    // MARK: Requester paths

    @Test func aPassingGateMerges() {
        var r = R(request: request, peer: "beta")
        #expect(r.start() == [.send(request), .record(.requested), .count(.delegated)])
        #expect(r.onAccepted(remoteBead: "ap-9") == [.record(.accepted)])
        #expect(r.remoteBead == "ap-9")
        #expect(
            r.onBranchReturned("delegated/al-1", now: 500) == [
                .record(.returned), .runGate(command: "make test", branch: "delegated/al-1"),
            ])
        #expect(
            r.onGateFinished(passed: true, output: "ok") == [
                .merge(branch: "delegated/al-1"), .record(.merged), .count(.accepted), .tell(.accepted),
            ])
        #expect(r.state == .merged && r.state.isFinal && !r.late && r.gateOutput == "ok")
    }

    @Test func aFailingGateReturnsTheWorkWithItsOutput() {
        var r = R(request: request, peer: "beta")
        _ = r.onAccepted(remoteBead: "ap-9")
        _ = r.onBranchReturned("b", now: 10)
        #expect(
            r.onGateFinished(passed: false, output: "FAIL: 1 test") == [
                .recordGateOutput("FAIL: 1 test"), .record(.rejected), .count(.rejected), .releaseBead,
                .tell(.rejected(gateOutput: "FAIL: 1 test")),
            ])
        #expect(r.state == .rejected && r.gateOutput == "FAIL: 1 test")
        // A second gate result (a duplicate) changes nothing.
        #expect(r.onGateFinished(passed: true, output: "") == [])
        #expect(r.state == .rejected)
    }

    @Test func aDeadlinePassingReleasesTheBeadBackToTheRequester() {
        for accepted in [false, true] {
            var r = R(request: request, peer: "beta")
            if accepted { _ = r.onAccepted(remoteBead: "ap-9") }
            #expect(r.onTick(now: 999) == [])
            #expect(
                r.onTick(now: 1_000) == [.record(.expired), .count(.late), .releaseBead, .tell(.withdrawn(.expired))])
            #expect(r.state == .expired && r.late)
            #expect(r.onTick(now: 2_000) == [])
            // The branch arriving after that is not taken; the receiver is told again to stop.
            #expect(r.onBranchReturned("b", now: 1_500) == [.tell(.withdrawn(.expired))])
            #expect(r.state == .expired && r.branch == nil)
            // Nor does a late acceptance revive it.
            #expect(r.onAccepted(remoteBead: "ap-10") == [])
        }
        // A branch arriving at the deadline, before any tick saw it: expired, not gated.
        var r = R(request: request, peer: "beta")
        _ = r.onAccepted(remoteBead: "ap-9")
        #expect(
            r.onBranchReturned("b", now: 1_000) == [
                .record(.expired), .count(.late), .releaseBead, .tell(.withdrawn(.expired)),
            ])
        // No deadline: time never expires it.
        var forever = R(request: Delegation.Request(origin: "o", gate: "true"), peer: "beta")
        #expect(forever.onTick(now: .max) == [])
        #expect(forever.state == .requested)
    }

    @Test func refusalAndBudgetExhaustionAreFinalAndReleaseTheBead() {
        var r = R(request: request, peer: "beta")
        #expect(r.onRefused(.concurrentBeads(limit: 1)) == [.record(.refused), .releaseBead])
        #expect(r.state == .refused && r.refusal == .concurrentBeads(limit: 1))
        #expect(r.onAccepted(remoteBead: "x") == [] && r.onTick(now: 5_000) == [] && r.onBudgetExhausted() == [])
        var b = R(request: request, peer: "beta")
        _ = b.onAccepted(remoteBead: "ap-9")
        #expect(b.onBudgetExhausted() == [.record(.budgetExhausted), .releaseBead])
        #expect(b.state == .budgetExhausted)
        #expect(b.onBranchReturned("b", now: 1) == [.tell(.withdrawn(.budgetExhausted))])
        #expect(b.onTick(now: 5_000) == [])
        // Refused only while unanswered: an accepted delegation is not refused afterwards.
        var a = R(request: request, peer: "beta")
        _ = a.onAccepted(remoteBead: "ap-9")
        #expect(a.onRefused(.notAllowed) == [])
        #expect(a.state == .accepted)
    }

    /// Every event in every state reachable on the requester: final states ignore everything except a returned
    /// branch (answered with a withdrawal when expired or out of budget), and no event leaves a final state.
    @Test func everyRequesterEventInEveryState() {
        func reach(_ state: Delegation.State) -> R? {
            var r = R(request: request, peer: "beta")
            switch state {
            case .requested: break
            case .accepted: _ = r.onAccepted(remoteBead: "x")
            case .returned:
                _ = r.onAccepted(remoteBead: "x")
                _ = r.onBranchReturned("b", now: 1)
            case .merged:
                _ = r.onBranchReturned("b", now: 1)
                _ = r.onGateFinished(passed: true, output: "")
            case .rejected:
                _ = r.onBranchReturned("b", now: 1)
                _ = r.onGateFinished(passed: false, output: "")
            case .refused: _ = r.onRefused(.notAllowed)
            case .expired: _ = r.onTick(now: 1_000)
            case .budgetExhausted: _ = r.onBudgetExhausted()
            }
            return r.state == state ? r : nil
        }
        let events: [(String, (inout R) -> [R.Directive])] = [
            ("accepted", { $0.onAccepted(remoteBead: "y") }),
            ("refused", { $0.onRefused(.notAllowed) }),
            ("budget", { $0.onBudgetExhausted() }),
            ("branch", { $0.onBranchReturned("c", now: 2) }),
            ("gate pass", { $0.onGateFinished(passed: true, output: "") }),
            ("gate fail", { $0.onGateFinished(passed: false, output: "") }),
            ("tick", { $0.onTick(now: 1_000) }),
        ]
        for state in Delegation.State.allCases {
            guard let start = reach(state) else {
                Issue.record("state \(state) not reachable")
                continue
            }
            for (name, event) in events {
                var r = start
                let directives = event(&r)
                if state.isFinal {
                    #expect(r == start, "\(state) changed on \(name)")
                    let allowed: [R.Directive] =
                        name == "branch" && (state == .expired || state == .budgetExhausted)
                        ? [.tell(.withdrawn(state))] : []
                    #expect(directives == allowed, "\(state) on \(name): \(directives)")
                } else if directives.isEmpty {
                    #expect(r == start, "\(state) changed on \(name) without a directive")
                } else {
                    #expect(r.state != state || r.remoteBead != start.remoteBead, "\(state) on \(name)")
                    // Every move that frees the bead records a final state first.
                    if directives.contains(.releaseBead) { #expect(r.state.isFinal, "\(state) on \(name)") }
                }
            }
        }
    }

    // MARK: Receiver paths

    @Test func theReceiverRecordsSchedulesAndReturnsTheBranch() {
        var v = V(request: request, peer: "alpha")
        #expect(v.start() == [.createLinkedBead(origin: "hop://alpha/app/al-1"), .count(.delegated)])
        #expect(v.onLinkedBeadCreated("ap-9") == [.sling(bead: "ap-9")])
        #expect(v.onLinkedBeadCreated("ap-10") == [])
        #expect(v.onWorkDone(branch: "polecat/ap-9", now: 900) == [.returnBranch("polecat/ap-9")])
        #expect(v.state == .returned)
        #expect(v.onTick(now: 5_000) == [])  // returned in time: the deadline no longer applies here
        #expect(v.onVerdict(.accepted) == [.count(.accepted), .closeLinkedBead(reason: "merged by alpha")])
        #expect(v.state == .merged)
        var w = V(request: request, peer: "alpha")
        _ = w.onLinkedBeadCreated("ap-9")
        _ = w.onWorkDone(branch: "b", now: 1)
        #expect(
            w.onVerdict(.rejected(gateOutput: "FAIL")) == [
                .count(.rejected), .closeLinkedBead(reason: "rejected by alpha's gate: FAIL"),
            ])
        #expect(w.state == .rejected)
        #expect(w.onVerdict(.accepted) == [])
        // A verdict while still working here (the requester found the branch first): final, and the work stops.
        var early = V(request: request, peer: "alpha")
        _ = early.onLinkedBeadCreated("ap-9")
        #expect(
            early.onVerdict(.rejected(gateOutput: "FAIL"))
                == [.stopWork, .count(.rejected), .closeLinkedBead(reason: "rejected by alpha's gate: FAIL")])
        #expect(early.state == .rejected)
        var merged = V(request: request, peer: "alpha")
        #expect(merged.onVerdict(.accepted) == [.stopWork, .count(.accepted), .closeLinkedBead(reason: "merged by alpha")])
        #expect(merged.onVerdict(.rejected(gateOutput: "late")) == [] && merged.state == .merged)
    }

    @Test func theReceiverStopsAtTheDeadlineTheBudgetOrAWithdrawal() {
        var v = V(request: request, peer: "alpha")
        _ = v.onLinkedBeadCreated("ap-9")
        #expect(v.onTick(now: 999) == [])
        #expect(
            v.onTick(now: 1_000) == [
                .stopWork, .count(.late), .closeLinkedBead(reason: "deadline passed; released back to alpha"),
            ])
        #expect(v.state == .expired)
        #expect(v.onWorkDone(branch: "b", now: 1_001) == [])
        // Done after the deadline, before a tick: not returned.
        var late = V(request: request, peer: "alpha")
        #expect(
            late.onWorkDone(branch: "b", now: 1_000) == [
                .stopWork, .count(.late), .closeLinkedBead(reason: "deadline passed; released back to alpha"),
            ])
        // The budget: hours add up; reaching it stops the work.
        var b = V(request: request, peer: "alpha")
        #expect(b.onHoursUsed(1.5) == [])
        #expect(b.onHoursUsed(-3) == [])
        #expect(
            b.onHoursUsed(0.5) == [
                .stopWork, .tellBudgetExhausted, .closeLinkedBead(reason: "budget exhausted (2.0 agent-hours)"),
            ])
        #expect(b.state == .budgetExhausted && b.hoursUsed == 2)
        #expect(b.onHoursUsed(1) == [])
        // A withdrawal while working stops the agent; after returning, there is nothing to stop.
        var x = V(request: request, peer: "alpha")
        #expect(
            x.onVerdict(.withdrawn(.expired)) == [
                .stopWork, .count(.late), .closeLinkedBead(reason: "withdrawn by alpha (expired)"),
            ])
        var y = V(request: request, peer: "alpha")
        _ = y.onWorkDone(branch: "b", now: 1)
        #expect(
            y.onVerdict(.withdrawn(.expired)) == [
                .count(.late), .closeLinkedBead(reason: "withdrawn by alpha (expired)"),
            ])
        #expect(y.state == .expired)
        // No budget, no deadline: neither stops it.
        var free = V(request: Delegation.Request(origin: "o", gate: "true"), peer: "alpha")
        #expect(free.onHoursUsed(1_000) == [] && free.onTick(now: .max) == [])
        #expect(free.state == .accepted)
    }

    /// Requester and receiver driven together through a message loop: their final states agree on every path.
    @Test func bothSidesAgreeOnEveryOutcome() {
        enum Path: CaseIterable { case pass, fail, deadlineBeforeReturn, budget }
        for path in Path.allCases {
            var r = R(request: request, peer: "beta")
            var v = V(request: request, peer: "alpha")
            _ = r.start()
            _ = v.start()
            _ = v.onLinkedBeadCreated("ap-9")
            _ = r.onAccepted(remoteBead: "ap-9")
            func deliver(_ directives: [R.Directive]) {
                for case .tell(let verdict) in directives { _ = v.onVerdict(verdict) }
            }
            switch path {
            case .pass, .fail:
                let back = v.onWorkDone(branch: "b", now: 100)
                for case .returnBranch(let branch) in back { _ = r.onBranchReturned(branch, now: 101) }
                deliver(r.onGateFinished(passed: path == .pass, output: "out"))
            case .deadlineBeforeReturn:
                deliver(r.onTick(now: 1_000))
                #expect(v.onWorkDone(branch: "b", now: 1_001) == [])
            case .budget:
                let stop = v.onHoursUsed(5)
                if stop.contains(.tellBudgetExhausted) { _ = r.onBudgetExhausted() }
            }
            #expect(r.state == v.state, "\(path): requester \(r.state), receiver \(v.state)")
            #expect(r.state.isFinal)
        }
    }
}
