extension MergeQueue.Queue {
    typealias Outcome = MergeQueue.Verdict.Outcome

    /// One request and where it stands.
    struct Entry: Sendable {
        var request: MergeQueue.Request
        var state: State
        /// A gate flaked on a candidate holding it (reported in its merged verdict).
        var flaky = false

        var isFinished: Bool {
            if case .finished = state { true } else { false }
        }

        var checkingCommit: Commit? {
            if case .checking(let commit) = state { commit } else { nil }
        }
    }

    enum State: Sendable {
        case queued
        case checking(Commit)
        case inTrain
        /// Conflicted behind `after` (requests in the train when it was rebased); decided once they all land.
        case conflictPending([String], after: Set<RequestID>)
        case finished(Outcome)
    }

    /// A request in the train: which candidate holds it and the commit after it (nil while rebasing).
    struct Car: Sendable {
        var request: RequestID
        var candidate: CandidateID
        var commit: Commit?
    }

    /// What the gate said about a segment's end commit (everything up to and including it, on the tip).
    enum Knowledge: Sendable {
        case unknown
        /// Failed `times` times (given that the segments before it pass).
        case failed(times: Int, output: String)
        case passed(flaky: Bool)
    }

    /// A run of cars tested as one: a batch, or a piece of one being bisected.
    struct Segment: Sendable {
        var id: UInt64
        var batch: UInt64
        var cars: [Car]
        /// No more cars will be added (its rebase finished without a stop, or nothing was left to add).
        var sealed: Bool
        var knowledge: Knowledge = .unknown
        var gate: GateID?

        var end: Commit? { cars.last?.commit }
        var isFailed: Bool {
            if case .failed = knowledge { true } else { false }
        }
        var isPassed: Bool {
            if case .passed = knowledge { true } else { false }
        }
    }

    struct GateRun: Sendable {
        var segment: UInt64
        var commit: Commit
    }

    struct Pushing: Sendable {
        var commit: Commit
        var requests: [RequestID]
        var through: UInt64
    }

    /// Events about requests being pushed, held until the push's outcome is known.
    enum Deferred: Sendable {
        case added(MergeQueue.Request)
        case removed(RequestID)
        case rejected(RequestID, String)
        case stale(RequestID)
        case targetMoved(Commit)
    }

    // MARK: Requests in and out

    mutating func admit(_ request: MergeQueue.Request) {
        var request = request
        request.blockedBy.remove(request.bead)
        if let landing = request.landing {
            entries[request.id] = Entry(request: request, state: .checking(landing))
            if started, checking.insert(landing).inserted { out.append(.checkLanded(landing)) }
            return
        }
        entries[request.id] = Entry(request: request, state: .queued)
        if request.leaseEpoch < request.beadEpoch { reject(request.id, stale: request) }
    }

    mutating func reject(_ id: RequestID, stale request: MergeQueue.Request) {
        withdraw(id, outcome: .rejected(.staleEpoch(filed: request.leaseEpoch, current: request.beadEpoch)))
    }

    /// Takes a request out of wherever it is; gives it `outcome` (a verdict) unless nil.
    mutating func withdraw(_ id: RequestID, outcome: Outcome?) {
        guard let entry = entries[id] else { return }
        if case .inTrain = entry.state, let (i, j) = locate(id) {
            cut(segment: i, at: j)
        }
        entries[id]?.state = .queued
        if let outcome { finish(id, outcome) }
        lose([id])
        tidy()
    }

    mutating func finish(_ id: RequestID, _ outcome: Outcome) {
        guard let entry = entries[id] else { return }
        entries[id]?.state = .finished(outcome)
        out.append(.verdict(MergeQueue.Verdict(request: id, bead: entry.request.bead, outcome: outcome)))
    }

    /// Requests that conflicted behind any of `ids` go back to the queue: what they conflicted with is not landing.
    mutating func lose(_ ids: Set<RequestID>) {
        guard !ids.isEmpty else { return }
        for (id, entry) in entries {
            if case .conflictPending(_, let after) = entry.state, !after.isDisjoint(with: ids) {
                entries[id]?.state = .queued
            }
        }
    }

    /// A request in a push in flight, or whose recorded landing is being checked: events that would take it out
    /// wait until the outcome is known (it may have landed).
    func isHeld(_ id: RequestID) -> Bool {
        (pushing?.requests.contains(id) ?? false) || entries[id]?.checkingCommit != nil
    }

    /// A request filed, or its record changed. A new input (head, epoch, bead) voids what was built from the old.
    mutating func apply(_ request: MergeQueue.Request) {
        guard let entry = entries[request.id] else {
            admit(request)
            return
        }
        if case .finished = entry.state { return }
        if entry.request.head != request.head || entry.request.leaseEpoch != request.leaseEpoch
            || entry.request.bead != request.bead
        {
            if isHeld(request.id) {
                deferred.append(.added(request))
                return
            }
            withdraw(request.id, outcome: nil)
            entries[request.id] = nil
            admit(request)
            return
        }
        var updated = request
        updated.blockedBy.remove(updated.bead)
        updated.landing = entry.request.landing
        updated.beadEpoch = max(updated.beadEpoch, entry.request.beadEpoch)
        entries[request.id]?.request = updated
        guard updated.leaseEpoch < updated.beadEpoch else { return }
        if isHeld(request.id) { deferred.append(.stale(request.id)) } else { reject(request.id, stale: updated) }
    }

    // MARK: Train surgery

    func locate(_ id: RequestID) -> (Int, Int)? {
        for (i, segment) in train.enumerated() {
            if let j = segment.cars.firstIndex(where: { $0.request == id }) { return (i, j) }
        }
        return nil
    }

    func index(ofSegment id: UInt64) -> Int? { train.firstIndex { $0.id == id } }

    /// Sends every car after segment `i` back to the queue (all of them when `i` is -1).
    mutating func requeue(after i: Int) {
        guard i + 1 < train.count else { return }
        var ids: Set<RequestID> = []
        for segment in train[(i + 1)...] {
            cancelGate(of: segment)
            for car in segment.cars {
                entries[car.request]?.state = .queued
                ids.insert(car.request)
            }
        }
        train.removeSubrange((i + 1)...)
        lose(ids)
    }

    /// Removes car `j` of segment `i`: the cars after it go back to the queue, the ones before it stay as an
    /// untested segment open for more.
    mutating func cut(segment i: Int, at j: Int) {
        requeue(after: i)
        var segment = train[i]
        cancelGate(of: segment)
        var ids: Set<RequestID> = []
        for car in segment.cars[(j + 1)...] {
            entries[car.request]?.state = .queued
            ids.insert(car.request)
        }
        segment.cars.removeSubrange(j...)
        segment.gate = nil
        segment.knowledge = .unknown
        segment.sealed = false
        if segment.cars.isEmpty { train.remove(at: i) } else { train[i] = segment }
        lose(ids)
    }

    mutating func cancelGate(of segment: Segment) {
        guard let gate = segment.gate else { return }
        gates[gate] = nil
        out.append(.cancelGate(gate))
    }

    /// Drops a rebase whose cars left the train, and discards candidates no car uses any more.
    mutating func tidy() {
        if let candidate = rebasing {
            let cars = train.flatMap(\.cars).filter { $0.candidate == candidate }
            if cars.map(\.request) != rebasingRequests {
                if let (i, j) = cars.first.flatMap({ locate($0.request) }) { cut(segment: i, at: j) }
                for car in cars { entries[car.request]?.state = .queued }
                lose(Set(cars.map(\.request)))
                rebasing = nil
            }
        }
        var used = Set(train.flatMap { $0.cars.map(\.candidate) })
        if let rebasing { used.insert(rebasing) }
        for candidate in liveCandidates.subtracting(used).sorted() {
            out.append(.discard(candidate))
        }
        liveCandidates.formIntersection(used)
    }

    mutating func moveTarget(to newTip: Commit) {
        guard newTip != tip else { return }
        tip = newTip
        requeue(after: -1)
        tidy()
    }

    /// Applies the held events whose requests are no longer held, in the order they came; keeps the rest.
    mutating func replayDeferred() {
        let items = deferred
        deferred = []
        for item in items {
            switch item {
            case .added(let request):
                if isHeld(request.id) { deferred.append(item) } else { apply(request) }
            case .removed(let id):
                if isHeld(id) {
                    deferred.append(item)
                } else if entries[id] != nil {
                    withdraw(id, outcome: nil)
                    entries[id] = nil
                }
            case .rejected(let id, let reason):
                if isHeld(id) {
                    deferred.append(item)
                } else if let entry = entries[id], !entry.isFinished {
                    withdraw(id, outcome: .rejected(.byOperator(reason)))
                }
            case .stale(let id):
                if isHeld(id) {
                    deferred.append(item)
                } else if let entry = entries[id], !entry.isFinished,
                    entry.request.leaseEpoch < entry.request.beadEpoch
                {
                    reject(id, stale: entry.request)
                }
            case .targetMoved(let newTip):
                if pushing != nil { deferred.append(item) } else { moveTarget(to: newTip) }
            }
        }
    }

    // MARK: Results

    /// Takes in a rebase's commits; a stop takes that request out (verdict, or pending verdict) and sends the
    /// rest back to the queue, leaving the batch open to be topped up.
    mutating func absorb(_ candidate: CandidateID, _ result: MergeQueue.RebaseResult) {
        let requests = rebasingRequests
        rebasingRequests = []
        guard let last = train.indices.last, train[last].cars.contains(where: { $0.candidate == candidate }) else {
            tidy()
            return
        }
        var segment = train[last]
        let first = segment.cars.firstIndex { $0.candidate == candidate } ?? segment.cars.count
        let applied = min(result.commits.count, requests.count)
        for k in 0..<applied { segment.cars[first + k].commit = result.commits[k] }
        if applied < requests.count {
            let stopped = segment.cars[first + applied].request
            let rest = segment.cars[(first + applied + 1)...].map(\.request)
            segment.cars.removeSubrange((first + applied)...)
            for id in rest { entries[id]?.state = .queued }
            entries[stopped]?.state = .queued
            let ahead = Set(train[..<last].flatMap { $0.cars.map(\.request) } + segment.cars.map(\.request))
            switch result.stop {
            case .conflict(let files):
                let files = Array(Set(files)).sorted()
                if ahead.isEmpty {
                    finish(stopped, .conflict(files: files))
                } else {
                    entries[stopped]?.state = .conflictPending(files, after: ahead)
                }
            case .unavailable(let why):
                finish(stopped, .rejected(.unavailable(why)))
            case nil:
                break  // fewer commits than asked and no reason: the rest is simply tried again
            }
            lose(Set(rest + [stopped]))
            segment.sealed = false
        } else {
            segment.sealed = true
            if !settings.gateConfigured { segment.knowledge = .passed(flaky: false) }
        }
        if segment.cars.isEmpty { train.remove(at: last) } else { train[last] = segment }
        tidy()
    }

    /// Takes in a gate result: a pass marks the segment; a failure sends everything behind it back to the queue
    /// and splits it, or, for one request, counts the failure.
    mutating func judge(_ run: GateRun, gate: GateID, _ result: MergeQueue.GateResult) {
        guard let i = index(ofSegment: run.segment), train[i].gate == gate, train[i].end == run.commit else { return }
        train[i].gate = nil
        if let pushing, let through = index(ofSegment: pushing.through), i <= through { return }
        switch result {
        case .passed:
            if case .failed(_, let output) = train[i].knowledge {
                train[i].knowledge = .passed(flaky: true)
                for car in train[i].cars { entries[car.request]?.flaky = true }
                let requests = train[...i].flatMap { $0.cars.map(\.request) }
                out.append(.flaky(MergeQueue.Flake(commit: run.commit, requests: requests, output: output)))
            } else {
                train[i].knowledge = .passed(flaky: false)
            }
        case .failed(let output):
            requeue(after: i)
            var times = 1
            if case .failed(let before, _) = train[i].knowledge { times = before + 1 }
            train[i].knowledge = .failed(times: times, output: output)
            split(i)
            tidy()
        }
    }

    /// Splits a failed segment of several cars into halves: the first untested, the second failed (if the first
    /// passes, the second holds the cause), itself split again until its last piece is one car.
    mutating func split(_ i: Int) {
        var i = i
        while train[i].cars.count > 1 {
            let segment = train[i]
            let half = (segment.cars.count + 1) / 2
            let first = Segment(
                id: mint(), batch: segment.batch, cars: Array(segment.cars[..<half]), sealed: true)
            var second = Segment(
                id: mint(), batch: segment.batch, cars: Array(segment.cars[half...]), sealed: true)
            second.knowledge = segment.knowledge
            train.replaceSubrange(i...i, with: [first, second])
            i += 1
        }
    }

    /// The push landed: its requests are merged, the train behind it now stands on the new tip.
    mutating func land(_ push: Pushing) {
        guard let through = index(ofSegment: push.through) else { return }
        var landed: Set<RequestID> = []
        for segment in train[...through] {
            cancelGate(of: segment)
            for car in segment.cars {
                guard let entry = entries[car.request] else { continue }
                landedBeads.insert(entry.request.bead)
                landed.insert(car.request)
                finish(car.request, .merged(commit: push.commit, flaky: entry.flaky))
            }
        }
        train.removeSubrange(...through)
        tip = push.commit
        for (id, entry) in entries {
            guard case .conflictPending(let files, let after) = entry.state else { continue }
            let rest = after.subtracting(landed)
            entries[id]?.state = rest.isEmpty ? .queued : .conflictPending(files, after: rest)
            if rest.isEmpty { finish(id, .conflict(files: files)) }
        }
        tidy()
    }

    // MARK: Moving on

    /// Does whatever can be done now, and returns it.
    mutating func step() -> [MergeQueue.Directive] {
        // Before `start`, what events decided (a stale epoch refused at filing) waits in `out` for it.
        guard started else { return [] }
        resolveHead()
        advancePush()
        build()
        fillGates()
        reportOverlaps()
        defer { out = [] }
        return out
    }

    /// A single request at the head that failed past its retries is the culprit: back to its polecat.
    mutating func resolveHead() {
        while let head = train.first, head.cars.count == 1, head.gate == nil,
            case .failed(let times, let output) = head.knowledge, times > settings.flakyRetries
        {
            requeue(after: 0)
            train.removeFirst()
            let id = head.cars[0].request
            finish(id, .rework(output: output))
            lose([id])
            tidy()
        }
    }

    /// Pushes the furthest passed segment that no failed one stands before.
    mutating func advancePush() {
        guard pushing == nil else { return }
        var through: Int?
        for (i, segment) in train.enumerated() {
            if segment.isFailed { break }
            if segment.isPassed, segment.end != nil { through = i }
        }
        guard let through, let commit = train[through].end else { return }
        let requests = train[...through].flatMap { $0.cars.map(\.request) }
        pushing = Pushing(commit: commit, requests: requests, through: train[through].id)
        out.append(.push(MergeQueue.Push(commit: commit, expectedTip: tip, requests: requests)))
    }

    /// Tops up an open batch, or starts a new one when speculation allows.
    mutating func build() {
        guard rebasing == nil else { return }
        if let last = train.indices.last, !train[last].sealed {
            let chosen = select(limit: settings.batchSize - train[last].cars.count)
            if !chosen.isEmpty {
                let base = train[last].end ?? (last > 0 ? train[last - 1].end : tip) ?? tip
                rebase(chosen, onto: base, into: last)
                return
            }
            train[last].sealed = true
            if !settings.gateConfigured { train[last].knowledge = .passed(flaky: false) }
            advancePush()
        }
        if let last = train.indices.last, canTopUp(last), let base = train[last].end {
            let chosen = select(limit: settings.batchSize - train[last].cars.count)
            if !chosen.isEmpty {
                train[last].sealed = false
                rebase(chosen, onto: base, into: last)
                return
            }
        }
        let batches = Set(train.map(\.batch)).count
        guard batches < 1 + settings.speculationDepth else { return }
        if let last = train.last, last.isFailed || last.end == nil { return }
        let chosen = select(limit: settings.batchSize)
        guard !chosen.isEmpty else { return }
        train.append(Segment(id: mint(), batch: mint(), cars: [], sealed: false))
        rebase(chosen, onto: train.dropLast().last?.end ?? tip, into: train.count - 1)
    }

    /// A whole batch at the end of the train whose gate has not started (no slot yet) keeps taking requests, up to
    /// the batch size: a fuller batch costs a rebase, not a gate run.
    func canTopUp(_ i: Int) -> Bool {
        let segment = train[i]
        guard settings.gateConfigured, i == train.count - 1, segment.sealed, segment.gate == nil,
            case .unknown = segment.knowledge, segment.cars.count < settings.batchSize,
            !train.contains(where: { $0.batch == segment.batch && $0.id != segment.id })
        else { return false }
        if let pushing, let through = index(ofSegment: pushing.through), i <= through { return false }
        return true
    }

    mutating func rebase(_ ids: [RequestID], onto base: Commit, into i: Int) {
        let candidate = CandidateID(mint())
        rebasing = candidate
        rebasingRequests = ids
        liveCandidates.insert(candidate)
        var items: [MergeQueue.Rebase.Item] = []
        for id in ids {
            guard let request = entries[id]?.request else { continue }
            entries[id]?.state = .inTrain
            train[i].cars.append(Car(request: id, candidate: candidate, commit: nil))
            items.append(MergeQueue.Rebase.Item(request: id, branch: request.branch, head: request.head))
        }
        out.append(.rebase(MergeQueue.Rebase(candidate: candidate, onto: base, requests: items)))
    }

    /// Starts gate runs in train order while slots are free: untested segments, and retries of failed single
    /// requests; nothing behind a failed segment (it would fail too) or inside a push in flight.
    mutating func fillGates() {
        guard settings.gateConfigured else { return }
        let pushedThrough = pushing.flatMap { index(ofSegment: $0.through) } ?? -1
        var i = pushedThrough + 1
        while gates.count < settings.gateConcurrency, i < train.count {
            let segment = train[i]
            guard segment.sealed, let commit = segment.end else { return }
            switch segment.knowledge {
            case .passed:
                break
            case .unknown:
                if segment.gate == nil { startGate(i, commit: commit, retry: false) }
            case .failed(let times, _):
                if segment.gate == nil, segment.cars.count == 1, times <= settings.flakyRetries {
                    startGate(i, commit: commit, retry: true)
                }
                return
            }
            i += 1
        }
    }

    mutating func startGate(_ i: Int, commit: Commit, retry: Bool) {
        let id = GateID(mint())
        gates[id] = GateRun(segment: train[i].id, commit: commit)
        train[i].gate = id
        let requests = train[...i].flatMap { $0.cars.map(\.request) }
        out.append(.gate(MergeQueue.Gate(id: id, commit: commit, requests: requests, isRetry: retry)))
    }

    mutating func reportOverlaps() {
        let current = computeOverlaps()
        guard current != reportedOverlaps else { return }
        reportedOverlaps = current
        out.append(.overlaps(current))
    }

    mutating func mint() -> UInt64 {
        counter += 1
        return counter
    }
}
