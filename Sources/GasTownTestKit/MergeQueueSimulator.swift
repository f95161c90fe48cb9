import MergeQueue

/// A deterministic world for ``MergeQueue/Queue``, in simulated time: a target branch made of simulated commits,
/// requests filed at given times, rebases that conflict when files overlap, gates that fail for culprits (and flake
/// when told), a compare-and-swap push, and a ledger holding each request's recorded status. It plays the shell:
/// carries out directives, and can crash at any step (every piece of work in flight is lost, the queue is rebuilt
/// from the ledger and the target tip), so tests can check that nothing is lost or landed twice.
///
/// Sendable: plain value.
public struct MergeQueueSimulator: Sendable {
    public typealias Instant = MergeQueue.Instant
    public typealias RequestID = MergeQueue.RequestID

    /// How long things take, what fails, and what happens from outside. Sendable: plain value.
    public struct World: Sendable {
        /// Requests and when they are filed (the request's `enqueuedAt` should match).
        public var arrivals: [MergeQueue.Request] = []
        /// Requests that make every gate run holding them fail.
        public var culprits: Set<RequestID> = []
        /// Gate runs (numbered from 1, in the order they start, over the whole run) that fail whatever they hold.
        public var flakyRuns: Set<Int> = []
        /// Requests whose branch cannot be read.
        public var unavailable: Set<RequestID> = []
        /// Conflicts follow files: a request rebased onto a base holding another request that touches one of its
        /// files conflicts in those files. Default true.
        public var conflictsFollowFiles = true
        public var gateDuration: Duration = .seconds(600)
        public var rebasePerRequest: Duration = .seconds(5)
        public var pushDuration: Duration = .seconds(5)
        public var checkDuration: Duration = .seconds(1)
        /// Other people's pushes to the target: at this time, a commit touching these files lands.
        public var externalPushes: [(at: Instant, files: Set<String>)] = []
        /// Lease takeovers: at this time, the bead's epoch becomes this.
        public var epochChanges: [(at: Instant, bead: MergeQueue.BeadID, epoch: Int)] = []
        /// Withdrawals of requests.
        public var removals: [(at: Instant, request: RequestID)] = []

        public init() {}
    }

    /// What the ledger says about a request. Sendable: plain value.
    public enum Recorded: Hashable, Sendable {
        case open
        case landing(MergeQueue.Commit)
        case finished(MergeQueue.Verdict.Outcome)
    }

    /// One decision of the queue to take requests into a batch: who was taken, and who was left waiting
    /// (queued, not blocked) at that moment. Sendable: plain value.
    public struct Selection: Sendable {
        public var at: Instant
        public var chosen: [RequestID]
        public var passedOver: [RequestID]
    }

    public let settings: MergeQueue.Settings
    public var world: World
    public private(set) var queue: MergeQueue.Queue
    public private(set) var now: Instant = .zero
    /// The ledger: every filed request's recorded status.
    public private(set) var ledger: [RequestID: Recorded] = [:]
    /// The target branch's tip.
    public private(set) var remote: MergeQueue.Commit = "root"
    /// Gate runs started (cancelled ones included) and cancelled.
    public private(set) var gateRuns = 0
    public private(set) var cancelledGates = 0
    public private(set) var rebases = 0
    public private(set) var pushes = 0
    public private(set) var flakes: [MergeQueue.Flake] = []
    public private(set) var overlaps: [MergeQueue.Overlap] = []
    /// When each request landed in the target (the push's compare-and-swap).
    public private(set) var landedAt: [RequestID: Instant] = [:]
    /// When each request got its verdict.
    public private(set) var finishedAt: [RequestID: Instant] = [:]
    public private(set) var selections: [Selection] = []
    /// Broken rules seen along the way (a gate over the concurrency limit, a request applied twice, a second
    /// verdict), for tests to assert empty.
    public private(set) var violations: [String] = []
    /// Every directive carried out, with when.
    public private(set) var log: [(at: Instant, directive: MergeQueue.Directive)] = []
    /// Events processed so far (the unit of "crash at step k").
    public private(set) var steps = 0
    public private(set) var crashes = 0

    var commits: [MergeQueue.Commit: (parent: MergeQueue.Commit, request: RequestID)] = [:]
    var files: [RequestID: Set<String>] = [:]
    var epochs: [MergeQueue.BeadID: Int] = [:]
    var events: [Scheduled] = []
    var sequence: UInt64 = 0
    var running: Set<MergeQueue.GateID> = []
    var requests: [RequestID: MergeQueue.Request] = [:]

    struct Scheduled: Sendable {
        var at: Instant
        var sequence: UInt64
        var event: Event
        /// Lost in a crash (work in flight), as opposed to things that happen in the world anyway.
        var inFlight: Bool
    }

    enum Event: Sendable {
        case arrive(MergeQueue.Request)
        case rebased(MergeQueue.CandidateID, MergeQueue.RebaseResult)
        case gated(MergeQueue.GateID, MergeQueue.GateResult)
        case recordLanding(MergeQueue.Push)
        case casPush(MergeQueue.Push)
        case pushReported(MergeQueue.Commit, MergeQueue.PushResult)
        case checked(MergeQueue.Commit, Bool)
        case externalPush(Set<String>)
        case epoch(MergeQueue.BeadID, Int)
        case remove(RequestID)
    }

    /// A world ready to run from time zero.
    public init(settings: MergeQueue.Settings = MergeQueue.Settings(), world: World) {
        self.settings = settings
        self.world = world
        queue = MergeQueue.Queue(settings: settings, tip: "root", now: .zero)
        for request in world.arrivals {
            schedule(.arrive(request), at: request.enqueuedAt, inFlight: false)
            epochs[request.bead] = max(epochs[request.bead] ?? 0, request.beadEpoch)
        }
        for push in world.externalPushes { schedule(.externalPush(push.files), at: push.at, inFlight: false) }
        for change in world.epochChanges { schedule(.epoch(change.bead, change.epoch), at: change.at, inFlight: false) }
        for removal in world.removals { schedule(.remove(removal.request), at: removal.at, inFlight: false) }
        perform(queue.start(now: .zero))
    }

    // MARK: Running

    /// True when every filed request has a final status in the ledger and nothing else is due.
    public var isDone: Bool {
        ledger.count == world.arrivals.count
            && ledger.values.allSatisfy { if case .finished = $0 { true } else { false } }
            && !events.contains { !$0.inFlight }
    }

    /// Runs until done, or `limit` simulated time, or `maxSteps` more events; crashes before the events numbered
    /// in `crashAt` (global step numbers). Returns true when done.
    @discardableResult
    public mutating func run(
        upTo limit: Instant = Instant(seconds: 30 * 86_400), maxSteps: Int = 1_000_000, crashAt: Set<Int> = []
    ) -> Bool {
        var budget = maxSteps
        while !isDone, budget > 0, let next = events.first, next.at <= limit {
            budget -= 1
            if crashAt.contains(steps) { crash() }
            guard let event = events.first else { break }
            events.removeFirst()
            now = event.at
            steps += 1
            process(event.event)
        }
        return isDone
    }

    /// Loses everything in flight (rebases, gates, pushes not yet made, unreported outcomes) and rebuilds the queue
    /// from the ledger and the target tip, as a restarted node would.
    public mutating func crash() {
        crashes += 1
        events.removeAll { $0.inFlight }
        running.removeAll()
        var open: [MergeQueue.Request] = []
        for (id, recorded) in ledger {
            guard var request = requests[id] else { continue }
            request.beadEpoch = epochs[request.bead] ?? request.beadEpoch
            switch recorded {
            case .open: open.append(request)
            case .landing(let commit):
                request.landing = commit
                open.append(request)
            case .finished: continue
            }
        }
        open.sort { $0.id < $1.id }
        queue = MergeQueue.Queue(settings: settings, tip: remote, requests: open, now: now)
        perform(queue.start(now: now))
    }

    /// The requests the target holds, oldest first (external commits left out).
    public var landed: [RequestID] { content(of: remote).filter { !$0.hasPrefix("external-") } }

    /// The requests whose recorded verdict is merged.
    public var merged: Set<RequestID> {
        Set(
            ledger.compactMap { id, recorded in
                if case .finished(.merged) = recorded { id } else { nil }
            })
    }

    /// Every request that ended with this kind of verdict.
    public func finished(_ matches: (MergeQueue.Verdict.Outcome) -> Bool) -> Set<RequestID> {
        Set(
            ledger.compactMap { id, recorded in
                if case .finished(let outcome) = recorded, matches(outcome) { id } else { nil }
            })
    }

    /// What must hold at the end of any run, however often it crashed: no request lost, none landed twice, the
    /// ledger's merged set is exactly what the target holds, and the rules seen along the way.
    public func endViolations() -> [String] {
        var problems = violations
        for request in world.arrivals {
            switch ledger[request.id] {
            case .finished: break
            case let other: problems.append("\(request.id) lost: \(String(describing: other))")
            }
        }
        let landed = self.landed
        if Set(landed).count != landed.count { problems.append("a request landed twice: \(landed)") }
        if Set(landed) != merged {
            problems.append("target holds \(landed.sorted()) but the ledger says merged \(merged.sorted())")
        }
        return problems
    }

    // MARK: The world

    mutating func schedule(_ event: Event, at: Instant, inFlight: Bool = true) {
        sequence += 1
        let item = Scheduled(at: at, sequence: sequence, event: event, inFlight: inFlight)
        let index = events.firstIndex { ($0.at, $0.sequence) > (at, sequence) } ?? events.count
        events.insert(item, at: index)
    }

    /// The requests applied in `commit`, oldest first.
    public func content(of commit: MergeQueue.Commit) -> [RequestID] {
        var list: [RequestID] = []
        var cursor = commit
        while let entry = commits[cursor] {
            list.append(entry.request)
            cursor = entry.parent
        }
        return list.reversed()
    }

    func contains(_ tip: MergeQueue.Commit, _ commit: MergeQueue.Commit) -> Bool {
        var cursor: MergeQueue.Commit? = tip
        while let c = cursor {
            if c == commit { return true }
            cursor = commits[c]?.parent
        }
        return false
    }

    mutating func commit(_ request: RequestID, onto parent: MergeQueue.Commit) -> MergeQueue.Commit {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(parent.hex)/\(request)".utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let commit = MergeQueue.Commit("k" + String(hash, radix: 16))
        commits[commit] = (parent, request)
        return commit
    }

    mutating func rebase(_ job: MergeQueue.Rebase) -> MergeQueue.RebaseResult {
        var base = job.onto
        var held = content(of: base)
        var made: [MergeQueue.Commit] = []
        for item in job.requests {
            if held.contains(item.request) { violations.append("\(item.request) rebased onto a base holding it") }
            if world.unavailable.contains(item.request) {
                return MergeQueue.RebaseResult(commits: made, stop: .unavailable("no branch \(item.request)"))
            }
            if world.conflictsFollowFiles {
                let mine = files[item.request] ?? []
                let clash = held.reduce(into: Set<String>()) { $0.formUnion(mine.intersection(files[$1] ?? [])) }
                if !clash.isEmpty {
                    return MergeQueue.RebaseResult(commits: made, stop: .conflict(files: clash.sorted()))
                }
            }
            base = commit(item.request, onto: base)
            held.append(item.request)
            made.append(base)
        }
        return MergeQueue.RebaseResult(commits: made)
    }

    mutating func process(_ event: Event) {
        switch event {
        case .arrive(let request):
            requests[request.id] = request
            files[request.id] = request.files
            ledger[request.id] = .open
            var current = request
            current.beadEpoch = epochs[request.bead] ?? request.beadEpoch
            perform(queue.onRequestAdded(current, now: now))
        case .rebased(let candidate, let result):
            perform(queue.onRebased(candidate, result, now: now))
        case .gated(let gate, let result):
            running.remove(gate)
            perform(queue.onGateResult(gate, result, now: now))
        case .recordLanding(let push):
            let stale = push.requests.first { id in
                guard let request = requests[id] else { return false }
                return request.leaseEpoch < (epochs[request.bead] ?? 0)
            }
            if let stale, let request = requests[stale] {
                perform(queue.onBeadEpoch(request.bead, epoch: epochs[request.bead] ?? 0, now: now))
                perform(queue.onPushResult(push.commit, .aborted, now: now))
                return
            }
            for id in push.requests where ledger[id] == .open || isLanding(id) { ledger[id] = .landing(push.commit) }
            schedule(.casPush(push), at: now + world.pushDuration)
        case .casPush(let push):
            pushes += 1
            if remote == push.expectedTip {
                remote = push.commit
                for id in push.requests where landedAt[id] == nil { landedAt[id] = now }
                schedule(.pushReported(push.commit, .pushed), at: now)
            } else {
                schedule(.pushReported(push.commit, .rejected(tip: remote)), at: now)
            }
        case .pushReported(let commit, let result):
            perform(queue.onPushResult(commit, result, now: now))
        case .checked(let commit, let landed):
            perform(queue.onLandedCheck(commit, landed: landed, now: now))
        case .externalPush(let touched):
            let id = "external-\(sequence)"
            files[id] = touched
            remote = commit(id, onto: remote)
            perform(queue.onTargetMoved(to: remote, now: now))
        case .epoch(let bead, let epoch):
            epochs[bead] = epoch
            perform(queue.onBeadEpoch(bead, epoch: epoch, now: now))
        case .remove(let id):
            if ledger[id] == .open || isLanding(id) { ledger[id] = .finished(.rejected(.byOperator("withdrawn"))) }
            perform(queue.onRequestRemoved(id, now: now))
        }
    }

    func isLanding(_ id: RequestID) -> Bool {
        if case .landing = ledger[id] { true } else { false }
    }

    mutating func perform(_ directives: [MergeQueue.Directive]) {
        for directive in directives {
            log.append((now, directive))
            switch directive {
            case .rebase(let job):
                rebases += 1
                let waiting = world.arrivals.map(\.id).filter { queue.status(of: $0) == .queued }
                selections.append(Selection(at: now, chosen: job.requests.map(\.request), passedOver: waiting))
                let result = rebase(job)
                let took = world.rebasePerRequest * max(1, job.requests.count)
                schedule(.rebased(job.candidate, result), at: now + took)
            case .gate(let gate):
                gateRuns += 1
                running.insert(gate.id)
                if running.count > settings.gateConcurrency {
                    violations.append("\(running.count) gates at once at \(now), limit \(settings.gateConcurrency)")
                }
                let holds = content(of: gate.commit)
                let culprits = holds.filter { world.culprits.contains($0) }
                let result: MergeQueue.GateResult =
                    world.flakyRuns.contains(gateRuns)
                    ? .failed(output: "flake in run \(gateRuns)")
                    : culprits.isEmpty ? .passed : .failed(output: "broken by \(culprits.joined(separator: ", "))")
                schedule(.gated(gate.id, result), at: now + world.gateDuration)
            case .cancelGate(let id):
                if running.remove(id) != nil {
                    cancelledGates += 1
                    events.removeAll {
                        if case .gated(id, _) = $0.event { true } else { false }
                    }
                }
            case .push(let push):
                schedule(.recordLanding(push), at: now)
            case .verdict(let verdict):
                record(verdict)
            case .discard:
                break
            case .checkLanded(let commit):
                schedule(.checked(commit, contains(remote, commit)), at: now + world.checkDuration)
            case .flaky(let flake):
                flakes.append(flake)
            case .overlaps(let list):
                overlaps = list
            }
        }
    }

    mutating func record(_ verdict: MergeQueue.Verdict) {
        if case .finished(let before) = ledger[verdict.request] {
            if case .rejected(.byOperator("withdrawn")) = before { return }
            violations.append("\(verdict.request) got a second verdict \(verdict.outcome) after \(before)")
            return
        }
        if case .merged(let commit, _) = verdict.outcome, !contains(remote, commit) {
            violations.append("\(verdict.request) reported merged in \(commit), which the target does not hold")
        }
        ledger[verdict.request] = .finished(verdict.outcome)
        finishedAt[verdict.request] = now
    }
}
