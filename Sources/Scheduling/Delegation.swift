/// Delegation of a bead to another organization (DESIGN §9, docs/federation.md): `gt delegate <bead> --to <org>
/// --gate '<command>' [--budget HOURS] [--deadline DURATION]`.
///
/// Two pure state machines, one per side, and the receiver's admission rule:
///
/// * ``Delegation/Requester``: the organization handing work out. It sends the request, waits for an answer and
///   for the branch, runs the acceptance gate on the branch (sandboxed, by the shell), merges on a pass, and
///   releases its bead back to its own nodes on a refusal, a failed gate, an exhausted budget or a passed deadline.
/// * ``Delegation/Receiver``: the organization doing the work. It records a linked bead in its own ledger,
///   schedules it on its own nodes, returns the branch when done, and stops when the deadline passes, the budget is
///   spent or the requester withdraws.
/// * ``Delegation/admit(_:allowance:now:)``: whether the receiver takes a request at all (policy, budgets, deadline).
///
/// Times are wall-clock Unix seconds (`Int64`) carried by the events: a deadline is agreed between two
/// organizations, so it must mean the same instant on both sides. Nothing here reads a clock, does I/O or draws a
/// random number; the shell (the node's federation component) carries out the directives in order and feeds the
/// results back as events. Every `on<Event>` that does not apply in the current state returns no directive and
/// changes nothing, so duplicated or late messages from the other organization are harmless.
///
/// A caseless namespace.
public enum Delegation {
    /// Where one delegation stands, on either side. `Sendable`: a plain value.
    public enum State: String, Sendable, Hashable, Codable, CaseIterable {
        /// Sent, not yet answered (requester only).
        case requested
        /// The receiver took it: a linked bead is in its ledger and scheduled on its nodes.
        case accepted
        /// The branch came back; the requester runs the acceptance gate.
        case returned
        /// The gate passed and the requester merged it. Final.
        case merged
        /// The gate failed; the work went back with the gate's output. Final.
        case rejected
        /// The receiver would not take it (policy, budget, deadline). Final.
        case refused
        /// The deadline passed before a branch came back; the bead went back to the requester. Final.
        case expired
        /// The agent-hours budget was spent before a branch came back; the bead went back to the requester. Final.
        case budgetExhausted = "budget_exhausted"

        /// Whether nothing more happens to a delegation in this state.
        public var isFinal: Bool {
            switch self {
            case .requested, .accepted, .returned: return false
            case .merged, .rejected, .refused, .expired, .budgetExhausted: return true
            }
        }
    }

    /// Why a receiver refused a request. `Sendable`: a plain value.
    public enum Refusal: Sendable, Hashable, CustomStringConvertible {
        /// The receiver's policy for the requester does not have `delegate: true`.
        case notAllowed
        /// The requester already has `limit` delegated beads in progress here (`budgets.concurrent_beads`).
        case concurrentBeads(limit: Int)
        /// The request asks for more agent-hours than the requester has left here (`budgets.agent_hours`).
        case agentHours(asked: Double, left: Double)
        /// The deadline is already past when the request arrives.
        case deadlinePassed
        /// The request is malformed (no gate command, a negative budget…); `reason` says what.
        case badRequest(String)

        public var description: String {
            switch self {
            case .notAllowed:
                return "the policy does not let this organization delegate work (add it with --allow-delegate)"
            case .concurrentBeads(let limit):
                return "budget exhausted: \(limit) delegated bead(s) already in progress (budgets.concurrent_beads)"
            case .agentHours(let asked, let left):
                return "budget exhausted: \(asked) agent-hours asked, \(left) left (budgets.agent_hours)"
            case .deadlinePassed: return "the deadline has already passed"
            case .badRequest(let reason): return "bad delegation request: \(reason)"
            }
        }
    }

    /// What a request asks. `Sendable`: a plain value.
    public struct Request: Sendable, Hashable {
        /// The requester's bead, as `hop://<requester>/<rig>/<id>`: the receiver's linked bead points back to it.
        public var origin: String
        /// The acceptance gate command the requester will run on the returned branch (recorded on both sides).
        public var gate: String
        /// Agent-hours the requester allows (nil: no limit beyond the receiver's budget).
        public var budgetHours: Double?
        /// Unix seconds after which the work is no longer wanted (nil: none).
        public var deadline: Int64?

        public init(origin: String, gate: String, budgetHours: Double? = nil, deadline: Int64? = nil) {
            self.origin = origin
            self.gate = gate
            self.budgetHours = budgetHours
            self.deadline = deadline
        }
    }

    /// What the receiver's policy grants the requester, and what the requester uses of it now.
    /// `Sendable`: a plain value.
    public struct Allowance: Sendable, Hashable {
        /// Policy `delegate`.
        public var mayDelegate: Bool
        /// Policy `budgets.concurrent_beads` (nil: no limit).
        public var concurrentBeads: Int?
        /// Policy `budgets.agent_hours` (nil: no limit).
        public var agentHours: Double?
        /// Delegations of this requester in progress here (not final).
        public var inProgress: Int
        /// Agent-hours this requester's delegations have used here so far.
        public var hoursUsed: Double

        public init(
            mayDelegate: Bool, concurrentBeads: Int? = nil, agentHours: Double? = nil, inProgress: Int = 0,
            hoursUsed: Double = 0
        ) {
            self.mayDelegate = mayDelegate
            self.concurrentBeads = concurrentBeads
            self.agentHours = agentHours
            self.inProgress = inProgress
            self.hoursUsed = hoursUsed
        }
    }

    /// The receiver's answer to `request` from a requester granted `allowance`, at `now`: nil to accept, else why
    /// not. Checked in this order: well-formed, policy, deadline, concurrent beads, agent-hours.
    public static func admit(_ request: Request, allowance: Allowance, now: Int64) -> Refusal? {
        if request.gate.allSatisfy(\.isWhitespace) {
            return .badRequest("no acceptance gate command")
        }
        if let hours = request.budgetHours, !(hours > 0) {
            return .badRequest("the budget must be a positive number of hours")
        }
        guard allowance.mayDelegate else { return .notAllowed }
        if let deadline = request.deadline, deadline <= now { return .deadlinePassed }
        if let limit = allowance.concurrentBeads, allowance.inProgress >= limit {
            return .concurrentBeads(limit: limit)
        }
        if let total = allowance.agentHours {
            let left = max(0, total - allowance.hoursUsed)
            let asked = request.budgetHours ?? 0
            if left <= 0 || asked > left { return .agentHours(asked: asked, left: left) }
        }
        return nil
    }

    /// One bump of a peer's reputation, kept per peer organization (shown by `gt federation show`).
    public enum Count: String, Sendable, Hashable, Codable, CaseIterable {
        /// A delegation was sent to (requester) or taken from (receiver) the peer.
        case delegated
        /// Its branch passed the gate and was merged.
        case accepted
        /// Its branch failed the gate.
        case rejected
        /// The deadline passed before its branch came back (also counted when a branch comes back late).
        case late
    }

    /// How a delegation ended, as the requester tells the receiver. `Sendable`: a plain value.
    public enum Verdict: Sendable, Hashable {
        /// The gate passed; merged.
        case accepted
        /// The gate failed; its output (bounded by the shell) goes back with the work.
        case rejected(gateOutput: String)
        /// The requester no longer wants it (deadline passed, budget spent): stop.
        case withdrawn(State)
    }

    // MARK: Requester

    /// The requesting organization's side of one delegation. `Sendable`: a plain value owned by the shell.
    public struct Requester: Sendable, Hashable {
        /// What the shell must do, in order.
        public enum Directive: Sendable, Hashable {
            /// Send the request to the receiver over the federation link.
            case send(Request)
            /// Record `state` on the local bead (label and metadata), so `bd show` tells where it stands.
            case record(State)
            /// Give the local bead back to our own nodes (open, unassigned): nobody else is working on it.
            case releaseBead
            /// Run the acceptance gate on `branch` in a sandbox (a scratch checkout outside the town, an
            /// environment without credentials) and report `onGateFinished`.
            case runGate(command: String, branch: String)
            /// Hand `branch` to the Refinery to merge.
            case merge(branch: String)
            /// Keep the gate's output on the local bead (a comment), so the reason for a rejection is visible.
            case recordGateOutput(String)
            /// Bump the receiver's reputation here.
            case count(Count)
            /// Tell the receiver how it ended.
            case tell(Verdict)
        }

        public let request: Request
        /// The receiving organization.
        public let peer: String
        public private(set) var state: State
        /// The receiver's linked bead, once accepted.
        public private(set) var remoteBead: String?
        /// The returned branch, once returned.
        public private(set) var branch: String?
        /// The refusal, when refused.
        public private(set) var refusal: Refusal?
        /// The gate's output, once it ran.
        public private(set) var gateOutput: String?
        /// Whether the work came back after the deadline, or not at all by then.
        public private(set) var late = false

        /// A delegation of `request` to `peer`, not sent yet; `start()` gives the first directives.
        public init(request: Request, peer: String) {
            self.request = request
            self.peer = peer
            self.state = .requested
        }

        /// The first directives: send the request, record it, count it.
        public func start() -> [Directive] { [.send(request), .record(.requested), .count(.delegated)] }

        /// The receiver accepted and recorded `remoteBead`.
        public mutating func onAccepted(remoteBead: String) -> [Directive] {
            guard state == .requested else { return [] }
            state = .accepted
            self.remoteBead = remoteBead
            return [.record(.accepted)]
        }

        /// The receiver refused: final; the bead is ours again.
        public mutating func onRefused(_ refusal: Refusal) -> [Directive] {
            guard state == .requested else { return [] }
            state = .refused
            self.refusal = refusal
            return [.record(.refused), .releaseBead]
        }

        /// The receiver says the budget ran out before the work was done: final; the bead is ours again.
        public mutating func onBudgetExhausted() -> [Directive] {
            guard state == .requested || state == .accepted else { return [] }
            state = .budgetExhausted
            return [.record(.budgetExhausted), .releaseBead]
        }

        /// The receiver returned `branch` at `now`. Before the deadline: run the gate. After it (the delegation
        /// already expired, or it expires now): the work is not taken; the receiver is told it was withdrawn.
        public mutating func onBranchReturned(_ branch: String, now: Int64) -> [Directive] {
            switch state {
            case .requested, .accepted:
                if let deadline = request.deadline, now >= deadline {
                    var directives = expire()
                    directives.append(.tell(.withdrawn(.expired)))
                    return directives
                }
                state = .returned
                self.branch = branch
                return [.record(.returned), .runGate(command: request.gate, branch: branch)]
            case .expired, .budgetExhausted:
                return [.tell(.withdrawn(state))]
            default:
                return []
            }
        }

        /// The gate finished on the returned branch: merge on a pass; on a failure the work goes back with the
        /// output and the bead is ours again.
        public mutating func onGateFinished(passed: Bool, output: String) -> [Directive] {
            guard state == .returned, let branch else { return [] }
            gateOutput = output
            if passed {
                state = .merged
                return [.merge(branch: branch), .record(.merged), .count(.accepted), .tell(.accepted)]
            }
            state = .rejected
            return [
                .recordGateOutput(output), .record(.rejected), .count(.rejected), .releaseBead,
                .tell(.rejected(gateOutput: output)),
            ]
        }

        /// Time passes: at the deadline, a delegation still waiting for its branch expires.
        public mutating func onTick(now: Int64) -> [Directive] {
            guard state == .requested || state == .accepted, let deadline = request.deadline, now >= deadline else {
                return []
            }
            var directives = expire()
            directives.append(.tell(.withdrawn(.expired)))
            return directives
        }

        private mutating func expire() -> [Directive] {
            state = .expired
            late = true
            return [.record(.expired), .count(.late), .releaseBead]
        }
    }

    // MARK: Receiver

    /// The receiving organization's side of one accepted delegation. `Sendable`: a plain value owned by the shell.
    public struct Receiver: Sendable, Hashable {
        /// What the shell must do, in order.
        public enum Directive: Sendable, Hashable {
            /// Create the linked bead in our ledger (label `delegated`, `external_ref` = the request's origin).
            case createLinkedBead(origin: String)
            /// Schedule the linked bead on our own nodes (the normal sling path).
            case sling(bead: String)
            /// Send `branch` back to the requester.
            case returnBranch(String)
            /// Tell the requester the budget ran out.
            case tellBudgetExhausted
            /// Stop the agent working on the linked bead, if any.
            case stopWork
            /// Close the linked bead with `reason` (it records the outcome on our side).
            case closeLinkedBead(reason: String)
            /// Bump the requester's reputation here.
            case count(Count)
        }

        public let request: Request
        /// The requesting organization.
        public let peer: String
        public private(set) var state: State
        /// Our linked bead, once created.
        public private(set) var linkedBead: String?
        /// Agent-hours spent so far.
        public private(set) var hoursUsed: Double = 0

        /// An admitted request (see ``Delegation/admit(_:allowance:now:)``); `start()` gives the first directives.
        public init(request: Request, peer: String) {
            self.request = request
            self.peer = peer
            self.state = .accepted
        }

        public func start() -> [Directive] { [.createLinkedBead(origin: request.origin), .count(.delegated)] }

        /// The linked bead is in our ledger: schedule it.
        public mutating func onLinkedBeadCreated(_ id: String) -> [Directive] {
            guard state == .accepted, linkedBead == nil else { return [] }
            linkedBead = id
            return [.sling(bead: id)]
        }

        /// The agent finished with `branch` at `now`: return it, unless the deadline has passed.
        public mutating func onWorkDone(branch: String, now: Int64) -> [Directive] {
            guard state == .accepted else { return [] }
            if let deadline = request.deadline, now >= deadline { return expire() }
            state = .returned
            return [.returnBranch(branch)]
        }

        /// `hours` more agent-hours were spent: past the request's budget, stop and say so.
        public mutating func onHoursUsed(_ hours: Double) -> [Directive] {
            guard state == .accepted, hours > 0 else { return [] }
            hoursUsed += hours
            guard let budget = request.budgetHours, hoursUsed >= budget else { return [] }
            state = .budgetExhausted
            return [
                .stopWork, .tellBudgetExhausted, .closeLinkedBead(reason: "budget exhausted (\(budget) agent-hours)"),
            ]
        }

        /// Time passes: at the deadline, work still in progress stops.
        public mutating func onTick(now: Int64) -> [Directive] {
            guard state == .accepted, let deadline = request.deadline, now >= deadline else { return [] }
            return expire()
        }

        /// The requester's verdict.
        public mutating func onVerdict(_ verdict: Verdict) -> [Directive] {
            // The requester's verdict is final whether or not our own return was recorded yet (it found the branch on
            // its remote first): work still in progress here stops.
            guard state == .accepted || state == .returned else { return [] }
            let stop: [Directive] = state == .accepted ? [.stopWork] : []
            switch verdict {
            case .accepted:
                state = .merged
                return stop + [.count(.accepted), .closeLinkedBead(reason: "merged by \(peer)")]
            case .rejected(let output):
                state = .rejected
                return stop + [
                    .count(.rejected), .closeLinkedBead(reason: "rejected by \(peer)'s gate: \(output.prefix(200))"),
                ]
            case .withdrawn(let why):
                state = why == .budgetExhausted ? .budgetExhausted : .expired
                return stop + [.count(.late), .closeLinkedBead(reason: "withdrawn by \(peer) (\(why.rawValue))")]
            }
        }

        private mutating func expire() -> [Directive] {
            state = .expired
            return [.stopWork, .count(.late), .closeLinkedBead(reason: "deadline passed; released back to \(peer)")]
        }
    }
}
