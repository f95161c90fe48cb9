extension MergeQueue {
    /// One rig's merge queue: a value type driven by events, returning the ``Directive``s to carry out in order.
    ///
    /// Requests are ranked (``Ordering``), taken in batches of up to `batchSize` into the *train*: a line of
    /// candidates, each rebased on the one before it, the first on the target tip. The head of the train is gated;
    /// up to `speculationDepth` more batches are built behind it and gated when a slot is free. The furthest
    /// candidate that passed lands with one compare-and-swap push. A failing candidate is split in halves, the
    /// first half tested on its base; the request that turns a passing base into a failing one is run again
    /// (`flakyRetries`) and sent back for rework if it fails again; the ones before it land, the ones after it go
    /// back to the queue. Conflicts and stale epochs get their verdicts without a gate.
    ///
    /// Every fact the queue decides from is persistent (the requests in the ledger, the target tip); everything
    /// else is work in flight that a new queue simply does again. So after a crash the shell builds a new queue
    /// from the ledger's open requests and the target tip: nothing is lost, and the landing record written before
    /// each push (``Request/landing``) keeps a request from landing twice.
    ///
    /// The shell MUST: call ``start(now:)`` once; carry out directives in order; report every rebase, gate, push
    /// and landed check it was asked for, once, with the ID it was given; record a push's landing in the ledger
    /// before pushing; record each verdict in the ledger; report the target moving when someone else moves it, and
    /// the ledger's changes to requests and bead epochs. The shell MUST NOT: run two pushes at once (the queue
    /// never asks), or push anything but the commit asked for, compare-and-swap against the expected tip.
    /// Late results for cancelled gates or discarded candidates are ignored. Sendable: plain value.
    public struct Queue: Sendable {
        public typealias Commit = MergeQueue.Commit
        public typealias RequestID = MergeQueue.RequestID
        public typealias BeadID = MergeQueue.BeadID
        public typealias CandidateID = MergeQueue.CandidateID
        public typealias GateID = MergeQueue.GateID

        /// The settings, normalized.
        public let settings: Settings
        /// The target tip as the queue knows it.
        public internal(set) var tip: Commit
        /// The latest time an event carried.
        public internal(set) var now: Instant

        var entries: [RequestID: Entry] = [:]
        var landedBeads: Set<BeadID> = []
        var workingBranches: [WorkingBranch] = []
        var train: [Segment] = []
        var rebasing: CandidateID?
        var rebasingRequests: [RequestID] = []
        var liveCandidates: Set<CandidateID> = []
        var gates: [GateID: GateRun] = [:]
        var pushing: Pushing?
        var deferred: [Deferred] = []
        var checking: Set<Commit> = []
        var reportedOverlaps: [Overlap] = []
        var counter: UInt64 = 0
        var started = false
        var out: [Directive] = []

        /// Makes a queue over the target at `tip` holding `requests` (the ledger's open merge requests, landing
        /// records included). Nothing happens until ``start(now:)``.
        public init(settings: Settings = Settings(), tip: Commit, requests: [Request] = [], now: Instant) {
            self.settings = settings.normalized
            self.tip = tip
            self.now = now
            for request in requests { admit(request) }
        }

        // MARK: Reading the state

        /// Where one request stands. Sendable: plain value.
        public enum Status: Hashable, Sendable {
            /// Waiting for a batch.
            case queued
            /// Waiting for these blocking beads to land first.
            case blocked(by: [BeadID])
            /// In the train: rebased (or being rebased) into a candidate.
            case inTrain
            /// Its rebase conflicted behind requests that have not landed yet; the verdict waits for them.
            case conflictPending(files: [String])
            /// After a restart: waiting to learn whether its recorded landing happened.
            case checkingLanding(Commit)
            /// Done.
            case finished(Verdict.Outcome)
        }

        /// The status of one request, nil if unknown.
        public func status(of id: RequestID) -> Status? {
            guard let entry = entries[id] else { return nil }
            switch entry.state {
            case .queued:
                let missing = entry.request.blockedBy.subtracting(landedBeads)
                return missing.isEmpty ? .queued : .blocked(by: missing.sorted())
            case .inTrain: return .inTrain
            case .conflictPending(let files, _): return .conflictPending(files: files)
            case .checking(let commit): return .checkingLanding(commit)
            case .finished(let outcome): return .finished(outcome)
            }
        }

        /// The request with this ID, as last given (retries counted), nil if unknown.
        public func request(_ id: RequestID) -> Request? { entries[id]?.request }

        /// Requests not finished, in queue order: the train first (in its order), then the waiting ones by rank.
        public var order: [RequestID] {
            let inTrain = train.flatMap { $0.cars.map(\.request) }
            return inTrain + ranked().map(\.id)
        }

        /// Every pair of unfinished requests and working branches that touch common files.
        public var overlaps: [Overlap] { computeOverlaps() }

        /// Gate runs in flight.
        public var runningGates: Int { gates.count }

        /// True when nothing is in flight and nothing can start: every request is finished or waits for a blocker.
        public var isIdle: Bool {
            train.isEmpty && rebasing == nil && gates.isEmpty && pushing == nil && checking.isEmpty
                && entries.values.allSatisfy { entry in
                    switch entry.state {
                    case .finished: true
                    case .queued: !entry.request.blockedBy.isSubset(of: landedBeads)
                    default: false
                    }
                }
        }

        // MARK: Events

        /// Starts the queue: asks whether recorded landings happened, then builds the first batches.
        public mutating func start(now: Instant) -> [Directive] {
            guard !started else { return [] }
            started = true
            self.now = max(self.now, now)
            for commit in Set(entries.values.compactMap(\.checkingCommit)).sorted() {
                checking.insert(commit)
                out.append(.checkLanded(commit))
            }
            return step()
        }

        /// A request was filed, or its ledger record changed (same ID: priority, files, blocks, epochs). A request
        /// filed under an epoch older than its bead's is rejected at once. A finished request is not reopened here
        /// (see ``onRequestRetried(_:head:now:)``).
        public mutating func onRequestAdded(_ request: Request, now: Instant) -> [Directive] {
            self.now = max(self.now, now)
            apply(request)
            return step()
        }

        /// The request was withdrawn (its bead closed or deleted elsewhere): it leaves the queue without a verdict.
        public mutating func onRequestRemoved(_ id: RequestID, now: Instant) -> [Directive] {
            self.now = max(self.now, now)
            if isHeld(id) {
                deferred.append(.removed(id))
            } else if entries[id] != nil {
                withdraw(id, outcome: nil)
                entries[id] = nil
            }
            return step()
        }

        /// An operator rejected the request: it leaves with a ``Rejection/byOperator(_:)`` verdict.
        public mutating func onRequestRejected(_ id: RequestID, reason: String, now: Instant) -> [Directive] {
            self.now = max(self.now, now)
            if isHeld(id) {
                deferred.append(.rejected(id, reason))
            } else if let entry = entries[id], !entry.isFinished {
                withdraw(id, outcome: .rejected(.byOperator(reason)))
            }
            return step()
        }

        /// A request that was sent back (rework, conflict) or rejected is queued again, one retry more (the shell
        /// records `retry_count` and reopens the bead), with its branch at `head` when that moved.
        public mutating func onRequestRetried(_ id: RequestID, head: Commit? = nil, now: Instant) -> [Directive] {
            self.now = max(self.now, now)
            guard var entry = entries[id], case .finished(let outcome) = entry.state else { return step() }
            if case .merged = outcome { return step() }
            entry.request.retries += 1
            if let head { entry.request.head = head }
            entry.request.landing = nil
            entry.state = .queued
            entries[id] = entry
            if entry.request.leaseEpoch < entry.request.beadEpoch { reject(id, stale: entry.request) }
            return step()
        }

        /// The bead's lease epoch is now `epoch`: its requests filed under an older one are rejected (and taken
        /// out of the train, whose later candidates go back to the queue).
        public mutating func onBeadEpoch(_ bead: BeadID, epoch: Int, now: Instant) -> [Directive] {
            self.now = max(self.now, now)
            for id in entries.keys.sorted() {
                guard var entry = entries[id], entry.request.bead == bead, !entry.isFinished else { continue }
                entry.request.beadEpoch = max(entry.request.beadEpoch, epoch)
                entries[id] = entry
                guard entry.request.leaseEpoch < entry.request.beadEpoch else { continue }
                if isHeld(id) {
                    deferred.append(.stale(id))
                } else {
                    reject(id, stale: entry.request)
                }
            }
            return step()
        }

        /// The branches being worked on now (the whole set), for overlap reports and ordering.
        public mutating func onWorkingBranches(_ branches: [WorkingBranch], now: Instant) -> [Directive] {
            self.now = max(self.now, now)
            workingBranches = branches.sorted { $0.name < $1.name }
            return step()
        }

        /// A rebase finished. Results for candidates no longer wanted are ignored.
        public mutating func onRebased(_ candidate: CandidateID, _ result: RebaseResult, now: Instant) -> [Directive] {
            self.now = max(self.now, now)
            if rebasing == candidate {
                rebasing = nil
                absorb(candidate, result)
            }
            return step()
        }

        /// A gate run finished. Results for cancelled runs are ignored.
        public mutating func onGateResult(_ gate: GateID, _ result: GateResult, now: Instant) -> [Directive] {
            self.now = max(self.now, now)
            if let run = gates.removeValue(forKey: gate) { judge(run, gate: gate, result) }
            return step()
        }

        /// The push of `commit` finished.
        public mutating func onPushResult(_ commit: Commit, _ result: PushResult, now: Instant) -> [Directive] {
            self.now = max(self.now, now)
            guard let push = pushing, push.commit == commit else { return step() }
            pushing = nil
            switch result {
            case .pushed: land(push)
            case .rejected(let actual): moveTarget(to: actual)
            case .aborted: break
            }
            replayDeferred()
            return step()
        }

        /// Someone else moved the target to `tip`: every candidate is rebuilt on it.
        public mutating func onTargetMoved(to tip: Commit, now: Instant) -> [Directive] {
            self.now = max(self.now, now)
            if pushing != nil {
                deferred.append(.targetMoved(tip))
            } else {
                moveTarget(to: tip)
            }
            return step()
        }

        /// The answer to ``Directive/checkLanded(_:)``: whether the target holds `commit`. Requests recorded as
        /// landing in it get their merged verdict, or go back to the queue.
        public mutating func onLandedCheck(_ commit: Commit, landed: Bool, now: Instant) -> [Directive] {
            self.now = max(self.now, now)
            guard checking.remove(commit) != nil else { return step() }
            for id in entries.keys.sorted() {
                guard let entry = entries[id], entry.checkingCommit == commit else { continue }
                if landed {
                    landedBeads.insert(entry.request.bead)
                    finish(id, .merged(commit: commit, flaky: false))
                } else {
                    entries[id]?.state = .queued
                    entries[id]?.request.landing = nil
                    if entry.request.leaseEpoch < entry.request.beadEpoch { reject(id, stale: entry.request) }
                }
            }
            replayDeferred()
            return step()
        }

        /// Time passed: ranks change with age. Nothing is timed by the queue itself.
        public mutating func onTick(now: Instant) -> [Directive] {
            self.now = max(self.now, now)
            return step()
        }
    }
}
