import Beads
import Foundation
import Git
import MergeQueue
import Sessions
import Town

/// What one Refinery pass did. `Sendable`: a plain value.
public struct RefineryReport: Sendable, Codable, Equatable {
    public var rig: String
    /// Merged requests, in landing order.
    public var merged: [String] = []
    public var rework: [String] = []
    public var conflict: [String] = []
    public var rejected: [String] = []
    /// Gate runs started (cancelled ones included).
    public var gateRuns = 0
    /// Gate runs cancelled (a speculative candidate thrown away, or landed by a later one).
    public var gatesCancelled = 0
    /// Compare-and-swap pushes to the rig's remote that landed, and that lost to another writer.
    public var pushes = 0
    public var pushesRejected = 0
    /// Inputs whose gate failed once and then passed.
    public var flakes = 0
    /// Rework beads filed, and to whom they went.
    public var reworkBeads: [String] = []
    /// The target's tip after the pass.
    public var tip = ""
    /// Whether a gate was configured (false: requests merged after a clean rebase).
    public var gated = true

    enum CodingKeys: String, CodingKey {
        case rig, merged, rework, conflict, rejected, pushes, flakes, tip, gated
        case gateRuns = "gate_runs"
        case gatesCancelled = "gates_cancelled"
        case pushesRejected = "pushes_rejected"
        case reworkBeads = "rework_beads"
    }
}

/// The live state a running Refinery shares with `gt mq status`, in `<rig>/refinery/queue-status.json`.
/// `Sendable`: a plain value.
public struct RefineryLiveStatus: Sendable, Codable, Equatable {
    public var pid: Int32
    public var node: String
    public var updatedAt: String
    /// Requests in the train (rebased into a candidate, or being gated).
    public var testing: [String]
    /// Gate runs in flight.
    public var runningGates: Int
    /// Pairs of work items touching common files, as the queue last reported them.
    public var overlaps: [String]
    /// False once the pass ended.
    public var running: Bool

    enum CodingKeys: String, CodingKey {
        case pid, node, testing, overlaps, running
        case updatedAt = "updated_at"
        case runningGates = "running_gates"
    }
}

/// The Refinery of one rig: the shell that carries out the `MergeQueue` core's directives with real git (libgit2,
/// through `GitRepository`, whose calls run on its own thread) and real gate processes (`LoggedCommand`), keeping
/// the ledger's merge requests in step.
///
/// A pass (`runUntilIdle`) fetches the rig's remote into the Refinery's clone (`<rig>/refinery/rig`), removes the
/// scratch state an earlier pass left, builds the queue from the ledger's open merge requests and the target tip,
/// and runs it until nothing is left to do:
/// - **rebase**: each request's commits are replayed onto the base in memory (`GitRepository.rebase`, authors
///   kept, committer the Refinery), onto refs `refs/heads/gt-refinery/c<candidate>-<n>`; a conflict stops with
///   its files;
/// - **gate**: a worktree of the candidate at `<rig>/refinery/gates/g<id>`, the rig's gate command with `/bin/sh -c`
///   there, output in `<rig>/refinery/logs/`, killed after the rig's gate timeout; several at once up to
///   `gate_concurrency`;
/// - **push**: `landing` recorded on each request (refused when a work bead's epoch moved), then the
///   compare-and-swap push to the rig's remote (`GitRepository.push(…, expecting:)`); a lost race rebuilds on the
///   new tip; the rig's bare repository follows, so new polecats start from what landed;
/// - **verdicts**: recorded in the ledger (`recordVerdict`); rework goes back to the polecat as a rework bead.
///
/// The node will hold one per rig as a claim (DESIGN §7): `run()` is its main loop (a pass whenever the ledger may
/// have new requests, every `pollInterval`), `stop()` cancels gate runs. See docs/merge-queue.md.
/// `Sendable`: an actor.
public actor RigRefinery {
    public nonisolated let rigName: String
    let workflow: TownWorkflow
    /// How long `run()` waits between passes.
    public nonisolated let pollInterval: Duration

    private var rig: RigConfig
    private var settings = RigMergeQueueSettings()
    private var repository: GitRepository?
    private var queue: MergeQueue.Queue?
    private var inbox: [Event] = []
    private var waiter: CheckedContinuation<Void, Never>?
    private var gates: [MergeQueue.GateID: LoggedCommand.Handle] = [:]
    private var outstandingGates = 0
    private var candidateRefs: [MergeQueue.CandidateID: [String]] = [:]
    private var failureLogs: [String: String] = [:]
    private var overlaps: [String] = []
    /// The overlaps last written to the events log (a pass reports them again; the log says it once per change).
    private var loggedOverlaps: [String]?
    /// A wake that came while no nap was running: the next nap ends at once.
    private var wakePending = false
    private var nap: (id: Int, continuation: CheckedContinuation<Void, Never>, timer: Task<Void, Never>)?
    private var naps = 0
    /// The open requests (ID, commit, retries) the last pass built its queue from: a sync bringing in anything
    /// else wakes the Refinery (`wakeIfNewRequests`).
    private var known: Set<String> = []
    /// Wakes received (for tests and the node's log).
    public private(set) var wakes = 0
    private var report: RefineryReport
    private var reworks: [PendingRework] = []
    /// Asked before every push (and every pass): false when this node no longer holds the rig's Refinery lease
    /// (`TownRefineries`); the pass then stops without touching the target.
    private var fence: (@Sendable () async -> Bool)?

    enum Event: Sendable {
        case rebased(MergeQueue.CandidateID, MergeQueue.RebaseResult)
        case gated(MergeQueue.GateID, MergeQueue.GateResult)
        case pushed(MergeQueue.Commit, MergeQueue.PushResult)
        case epoch(String, Int)
        case landed(MergeQueue.Commit, Bool)
        case rejected(String, String)
    }

    /// The Refinery of rig `rig` of `workflow`'s town.
    public init(workflow: TownWorkflow, rig: String, pollInterval: Duration = .seconds(5)) throws(TownError) {
        self.workflow = workflow
        self.rigName = rig
        self.pollInterval = pollInterval
        self.rig = try workflow.rig(rig)
        report = RefineryReport(rig: rig)
    }

    // MARK: Running

    /// Passes until cancelled: the node's main loop for this rig's claim. Between passes it naps for
    /// `pollInterval`, or until `wake()`.
    public func run() async throws {
        while !Task.isCancelled {
            _ = try await runUntilIdle()
            await napUntilWoken(upTo: pollInterval)
        }
    }

    /// A new request is there (`gt done` filed one here, a sync brought one in): the nap between passes ends now,
    /// or, when a pass runs, the next pass starts as soon as it ends instead of after the poll interval.
    public func wake() {
        wakes += 1
        if let nap {
            self.nap = nil
            nap.timer.cancel()
            nap.continuation.resume()
        } else {
            wakePending = true
        }
    }

    /// Wakes the Refinery when the ledger holds an open request of this rig that the last pass did not build its
    /// queue from (new, or with a new commit or retry count). Returns whether it woke it. Cheap: one read of the
    /// held ledger, no git.
    @discardableResult
    public func wakeIfNewRequests() async -> Bool {
        guard let current = try? await openRequestKeys(), !current.isSubset(of: known) else { return false }
        wake()
        return true
    }

    /// Waits up to `duration`, or until `wake()` (at once when a wake came since the last nap), or cancellation.
    public func napUntilWoken(upTo duration: Duration) async {
        if wakePending || Task.isCancelled {
            wakePending = false
            return
        }
        naps += 1
        let id = naps
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let timer = Task { [weak self] in
                    try? await Task.sleep(for: duration)
                    await self?.endNap(id)
                }
                nap = (id, continuation, timer)
            }
        } onCancel: {
            Task { await self.endNap(id) }
        }
    }

    private func endNap(_ id: Int) {
        guard let nap, nap.id == id else { return }
        self.nap = nil
        nap.timer.cancel()
        nap.continuation.resume()
    }

    private func openRequestKeys() async throws(TownError) -> Set<String> {
        let rig = self.rig
        return try await workflow.withLedger(mode: .read) { ledger throws(TownError) in
            Set(workflow.queueRequests(rig: rig, in: ledger).map(Self.key))
        }
    }

    static func key(_ request: MergeQueue.Request) -> String { "\(request.id)@\(request.head.hex)#\(request.retries)" }

    /// Sets the fence asked before every pass and push.
    public func setFence(_ fence: (@Sendable () async -> Bool)?) { self.fence = fence }

    private func checkFence() async throws(TownError) {
        if let fence, !(await fence()) {
            throw .io("this node no longer holds the Refinery lease of rig \(rigName); the pass stops")
        }
    }

    /// Cancels every gate still running (their processes are killed).
    public func stop() async { cancelGates() }

    private func cancelGates() {
        for handle in gates.values { handle.cancel() }
    }

    /// One pass: processes the rig's queue until every request has a verdict (or waits for a blocker), then
    /// hands rework to polecats. Throws when git or the ledger fails in a way the queue cannot route around (the
    /// landing records written before pushes keep the next pass from landing anything twice).
    public func runUntilIdle() async throws(TownError) -> RefineryReport {
        rig = try workflow.rig(rigName)
        settings = rig.mergeQueue ?? RigMergeQueueSettings()
        report = RefineryReport(rig: rigName)
        report.gated = settings.gateCommand != nil
        inbox = []
        reworks = []
        failureLogs = [:]
        overlaps = []
        try await checkFence()
        let lock = try RigRefinery.lock(workflow.layout, rig: rigName)
        defer {
            writeStatus(running: false)
            close(lock)
        }
        let repository = try await prepareRepository()
        self.repository = repository
        let tip = try await targetTip()
        _ = try await workflow.supersedeCompared(rig: rig)
        var requests = try await workflow.withLedger(mode: .read) { ledger throws(TownError) in
            workflow.queueRequests(rig: rig, in: ledger)
        }
        known = Set(requests.map(Self.key))
        for index in requests.indices {
            requests[index].files = await changedFiles(requests[index], tip: tip, in: repository)
        }
        let working = await workingBranches(tip: tip, in: repository)
        if loggedOverlaps == nil {
            loggedOverlaps = (try? TownJSON.read(RefineryLiveStatus.self, from: Self.statusFile(workflow.layout, rig: rigName)))?.overlaps ?? []
        }
        var queue = MergeQueue.Queue(
            settings: settings.queueSettings, tip: MergeQueue.Commit(tip.hex), requests: requests,
            now: Self.now())
        // Known before anything is decided: the first batch already prefers requests overlapping fewer others.
        _ = queue.onWorkingBranches(working, now: Self.now())
        var directives = queue.start(now: Self.now())
        self.queue = queue
        do {
            while true {
                for directive in directives { try await perform(directive) }
                directives = []
                writeStatus(running: true)
                if !inbox.isEmpty {
                    directives = feed(inbox.removeFirst())
                    continue
                }
                if gates.isEmpty { break }
                await waitForEvent()
            }
        } catch {
            cancelGates()
            await drainGates()
            throw error
        }
        await drainGates()
        report.tip = self.queue?.tip.hex ?? tip.hex
        let pending = reworks
        for rework in pending {
            await workflow.slingRework(rework, rig: rig)
            report.reworkBeads.append(rework.bead)
        }
        return report
    }

    /// Feeds one event to the queue.
    private func feed(_ event: Event) -> [MergeQueue.Directive] {
        guard var queue else { return [] }
        let now = Self.now()
        let directives: [MergeQueue.Directive]
        switch event {
        case .rebased(let candidate, let result): directives = queue.onRebased(candidate, result, now: now)
        case .gated(let gate, let result): directives = queue.onGateResult(gate, result, now: now)
        case .pushed(let commit, let result): directives = queue.onPushResult(commit, result, now: now)
        case .epoch(let bead, let epoch): directives = queue.onBeadEpoch(bead, epoch: epoch, now: now)
        case .landed(let commit, let landed): directives = queue.onLandedCheck(commit, landed: landed, now: now)
        case .rejected(let id, let reason): directives = queue.onRequestRejected(id, reason: reason, now: now)
        }
        self.queue = queue
        return directives
    }

    private func post(_ event: Event) {
        inbox.append(event)
        waiter?.resume()
        waiter = nil
    }

    private func waitForEvent() async {
        guard inbox.isEmpty else { return }
        await withCheckedContinuation { waiter = $0 }
    }

    /// Waits for cancelled gate runs to end (their worktrees are removed as they do).
    private func drainGates() async {
        inbox.removeAll()
        while outstandingGates > 0 {
            await waitForEvent()
            inbox.removeAll()
        }
    }

    // MARK: Directives

    private func perform(_ directive: MergeQueue.Directive) async throws(TownError) {
        switch directive {
        case .rebase(let job):
            post(.rebased(job.candidate, try await rebase(job)))
        case .gate(let gate):
            startGate(gate)
        case .cancelGate(let id):
            if let handle = gates.removeValue(forKey: id) {
                handle.cancel()
                report.gatesCancelled += 1
            }
        case .push(let push):
            try await land(push)
        case .verdict(let verdict):
            try await record(verdict)
        case .discard(let candidate):
            for ref in candidateRefs.removeValue(forKey: candidate) ?? [] {
                try? await repository?.deleteReference(ref)
            }
        case .checkLanded(let commit):
            let tip = try await targetTip()
            var landed = tip.hex == commit.hex
            if !landed, let id = GitOID(hex: commit.hex), let repository, await repository.contains(id) {
                landed = (try? await repository.isDescendant(tip, of: id)) ?? false
            }
            post(.landed(commit, landed))
        case .flaky(let flake):
            report.flakes += 1
            workflow.events.record(
                "mq-flaky",
                [
                    "rig": rigName, "commit": flake.commit.hex, "requests": flake.requests.joined(separator: ","),
                    "output": String(flake.output.suffix(500)),
                ])
        case .overlaps(let list):
            overlaps = list.map { "\($0.first) ~ \($0.second): \($0.files.joined(separator: ", "))" }
            // Said once per change: a pass rebuilds the queue, which reports the same set again.
            if !list.isEmpty, overlaps != loggedOverlaps {
                workflow.events.record("mq-overlaps", ["rig": rigName, "overlaps": overlaps.joined(separator: " | ")])
            }
            loggedOverlaps = overlaps
        }
    }

    /// Replays each request's commits onto the base, one after another.
    private func rebase(_ job: MergeQueue.Rebase) async throws(TownError) -> MergeQueue.RebaseResult {
        guard let repository else { return MergeQueue.RebaseResult(commits: []) }
        var base = job.onto.hex
        var commits: [MergeQueue.Commit] = []
        var refs: [String] = []
        defer { candidateRefs[job.candidate, default: []].append(contentsOf: refs) }
        let committer = GitSignature(name: "Refinery (\(rigName))", email: "refinery@gastown", date: Date())
        var fetched = false
        if let onto = GitOID(hex: job.onto.hex), !(await repository.contains(onto)) {
            // A tip someone else pushed: its objects come with a fetch (a missing base is not the requests' fault).
            fetched = true
            _ = try? await repository.fetch(from: "origin", refspecs: ["+refs/heads/*:refs/remotes/origin/*"])
        }
        for (index, item) in job.requests.enumerated() {
            guard let head = GitOID(hex: item.head.hex) else {
                return MergeQueue.RebaseResult(commits: commits, stop: .unavailable("\(item.head) is not a commit ID"))
            }
            if !(await repository.contains(head)), !fetched {
                fetched = true
                _ = try? await repository.fetch(from: "origin", refspecs: ["+refs/heads/*:refs/remotes/origin/*"])
            }
            guard await repository.contains(head) else {
                return MergeQueue.RebaseResult(
                    commits: commits,
                    stop: .unavailable("commit \(item.head) of \(item.branch) is not on the rig's remote"))
            }
            let ref = "refs/heads/gt-refinery/\(job.candidate)-\(index)"
            do {
                try await repository.createBranch(String(ref.dropFirst("refs/heads/".count)), at: head, force: true)
                refs.append(ref)
                switch try await repository.rebase(ref, onto: base, committer: committer) {
                case .upToDate(let new), .rebased(let new, _):
                    base = new.hex
                    commits.append(MergeQueue.Commit(new.hex))
                case .conflicts(_, let files):
                    return MergeQueue.RebaseResult(commits: commits, stop: .conflict(files: files))
                }
            } catch {
                return MergeQueue.RebaseResult(commits: commits, stop: .unavailable(error.message))
            }
        }
        return MergeQueue.RebaseResult(commits: commits)
    }

    /// Starts a gate run in its own task; its result comes back as an event.
    private func startGate(_ gate: MergeQueue.Gate) {
        guard let command = settings.gateCommand else {
            post(.gated(gate.id, .passed))
            return
        }
        let handle = LoggedCommand.Handle()
        gates[gate.id] = handle
        outstandingGates += 1
        report.gateRuns += 1
        Task { await self.runGate(gate, command: command, handle: handle) }
    }

    private func runGate(_ gate: MergeQueue.Gate, command: String, handle: LoggedCommand.Handle) async {
        let layout = workflow.layout
        let name = "gate-\(gate.id)"
        let path = layout.rigDirectory(rigName) + "/refinery/gates/\(gate.id)"
        let stamp = TownEvents.timestamp(Date()).replacingOccurrences(of: ":", with: "")
        let log =
            RigRefinery.logDirectory(layout, rig: rigName) + "/\(stamp)-\(gate.id)-\(gate.commit.hex.prefix(12)).log"
        let result: MergeQueue.GateResult
        do {
            guard let repository, let commit = GitOID(hex: gate.commit.hex) else {
                throw TownError.git("no repository")
            }
            await NodeBlocking.run { try? FileManager.default.removeItem(atPath: path) }
            try? await repository.deleteReference("refs/heads/gt-refinery/\(name)")
            try? FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            do {
                try await repository.addWorktree(name: name, path: path, newBranch: "gt-refinery/\(name)", at: commit)
            } catch {
                // A half-made worktree's administrative directory would make every later add fail (libgit2 counts
                // the worktree it cannot open as one that has the branch checked out).
                try? FileManager.default.removeItem(atPath: await repository.gitDirectory + "worktrees/\(name)")
                try? await repository.deleteReference("refs/heads/gt-refinery/\(name)")
                throw error
            }
            let header =
                "# gate \(gate.id)\(gate.isRetry ? " (retry)" : ""): \(command)\n# commit \(gate.commit.hex)\n"
                + "# requests \(gate.requests.joined(separator: " "))\n"
            try? FileManager.default.createDirectory(
                atPath: (log as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: log, contents: Data(header.utf8))
            let outcome = try await LoggedCommand.run(
                command, in: path,
                environment: [
                    "GT_RIG": rigName, "GT_MQ_COMMIT": gate.commit.hex,
                    "GT_MQ_REQUESTS": gate.requests.joined(separator: " "), "GT_MQ_RETRY": gate.isRetry ? "1" : "0",
                ], logPath: log, timeout: settings.timeout, handle: handle)
            if outcome.succeeded {
                result = .passed
            } else {
                let why =
                    outcome.timedOut
                    ? "timed out after \(settings.gateTimeout ?? RigMergeQueueSettings.defaultGateTimeout) s"
                    : outcome.signaled ? "killed by signal \(outcome.status)" : "exit status \(outcome.status)"
                result = .failed(output: "gate \(why)\n" + LoggedCommand.tail(of: log))
            }
            _ = try? await repository.removeWorktree(name, force: true)
            try? await repository.deleteReference("refs/heads/gt-refinery/\(name)")
        } catch {
            result = .failed(output: "the gate could not run: \(error)")
        }
        if case .failed = result { for request in gate.requests { failureLogs[request] = log } }
        outstandingGates -= 1
        if gates.removeValue(forKey: gate.id) != nil {
            post(.gated(gate.id, result))
        } else {
            waiter?.resume()
            waiter = nil
        }
    }

    /// Records the landing, then pushes it as a compare-and-swap.
    private func land(_ push: MergeQueue.Push) async throws(TownError) {
        guard let repository, let commit = GitOID(hex: push.commit.hex),
            let expected = GitOID(hex: push.expectedTip.hex)
        else {
            post(.pushed(push.commit, .aborted))
            return
        }
        try await checkFence()
        let (moved, closed) = try await workflow.recordLanding(push, rig: rig)
        guard moved.isEmpty, closed.isEmpty else {
            for (bead, epoch) in moved { post(.epoch(bead, epoch)) }
            for (id, reason) in closed { post(.rejected(id, reason)) }
            post(.pushed(push.commit, .aborted))
            return
        }
        let target = rig.defaultBranch
        do {
            switch try await repository.push(commit, to: "origin", branch: target, expecting: expected) {
            case .pushed:
                report.pushes += 1
                let tracking = "refs/remotes/origin/\(target)"
                let old = try? await repository.referenceTarget(tracking)
                _ = try? await repository.updateReference(tracking, to: commit, expecting: old ?? nil)
                await followInBareRepository(commit)
                workflow.events.record(
                    "mq-push",
                    ["rig": rigName, "commit": commit.hex, "requests": push.requests.joined(separator: ",")])
                post(.pushed(push.commit, .pushed))
            case .rejected:
                // Fetched, not taken from the rejection: the next candidates are rebased onto the new tip, whose
                // objects the clone must have.
                report.pushesRejected += 1
                let tip = try await targetTip()
                post(.pushed(push.commit, .rejected(tip: MergeQueue.Commit(tip.hex))))
            }
        } catch let error as TownError {
            throw error
        } catch {
            // The outcome is unknown (the connection dropped): the remote tells.
            let tip = try await targetTip()
            if tip == commit {
                report.pushes += 1
                post(.pushed(push.commit, .pushed))
            } else {
                throw .git(
                    "cannot push \(commit.hex.prefix(12)) to \(rig.gitURL) \(target): \((error as? GitError)?.message ?? "\(error)")"
                )
            }
        }
    }

    /// Moves the rig's bare repository's target branch to what landed (objects copied, compare-and-swap), so
    /// polecats slung from now on start there. Best effort: the remote is the record.
    private func followInBareRepository(_ commit: GitOID) async {
        guard let repository else { return }
        let bare = workflow.layout.bareRepository(rigName)
        guard let bareRepository = try? await GitRepository.open(at: bare) else { return }
        let current = try? await bareRepository.resolve("refs/heads/\(rig.defaultBranch)")
        _ = try? await repository.push(
            commit, to: bare, branch: rig.defaultBranch, expecting: current ?? nil, requireFastForward: false)
    }

    private func record(_ verdict: MergeQueue.Verdict) async throws(TownError) {
        let log = failureLogs[verdict.request]
        if let rework = try await workflow.recordVerdict(verdict, rig: rig, gateLog: log) { reworks.append(rework) }
        switch verdict.outcome {
        case .merged: report.merged.append(verdict.request)
        case .rework: report.rework.append(verdict.request)
        case .conflict: report.conflict.append(verdict.request)
        case .rejected: report.rejected.append(verdict.request)
        }
    }

    // MARK: Git

    /// Opens the Refinery's clone (cloning it again when it is missing), fetches, and removes the gate worktrees
    /// and candidate branches an earlier pass left.
    private func prepareRepository() async throws(TownError) -> GitRepository {
        let path = workflow.layout.refineryClone(rigName)
        let repository: GitRepository
        do {
            if FileManager.default.fileExists(atPath: path) {
                repository = try await GitRepository.open(at: path)
            } else {
                repository = try await GitRepository.clone(from: rig.gitURL, to: path, bare: false)
            }
            _ = try await repository.fetch(from: "origin", refspecs: ["+refs/heads/*:refs/remotes/origin/*"])
            for worktree in try await repository.worktrees() where worktree.name.hasPrefix("gate-") {
                try? await repository.removeWorktree(worktree.name, force: true)
            }
            _ = try? await repository.pruneWorktrees()
            let gates = workflow.layout.rigDirectory(rigName) + "/refinery/gates"
            await NodeBlocking.run { try? FileManager.default.removeItem(atPath: gates) }
            for branch in try await repository.branches(.local) where branch.name.hasPrefix("gt-refinery/") {
                try? await repository.deleteReference(branch.reference)
            }
        } catch {
            throw .git("the Refinery of \(rigName) cannot use its clone \(path): \(error.message)")
        }
        return repository
    }

    /// The files a request's branch changes since it left the target (its diff against the merge base), for the
    /// queue's early conflict reports and its overlap preference; empty when they cannot be read.
    private func changedFiles(
        _ request: MergeQueue.Request, tip: GitOID, in repository: GitRepository
    ) async
        -> Set<String>
    {
        guard let head = GitOID(hex: request.head.hex), await repository.contains(head),
            let base = try? await repository.mergeBase(head, tip),
            let files = try? await repository.changedFiles(from: base, to: head)
        else { return [] }
        return Set(files)
    }

    /// The pushed branches of polecats still working (fetched with the remote's heads): work branches
    /// `polecat/<node>/<name>/<bead>/e<epoch>` whose bead is open and hooked at that epoch with no merge request
    /// filed for the branch, each with the files it changes since it left the target. The queue reports their
    /// overlaps with each other and with queued requests before anything merges, and lands the request that
    /// overlaps fewer others first.
    private func workingBranches(tip: GitOID, in repository: GitRepository) async -> [MergeQueue.WorkingBranch] {
        let prefix = "origin/"
        guard let branches = try? await repository.branches(.remote) else { return [] }
        let pushed = branches.compactMap { branch -> (String, GitOID)? in
            guard branch.name.hasPrefix(prefix + "polecat/") else { return nil }
            return (String(branch.name.dropFirst(prefix.count)), branch.target)
        }
        guard !pushed.isEmpty else { return [] }
        let rig = self.rig
        let names = Set(pushed.map(\.0))
        guard
            let working = try? await workflow.withLedger(mode: .read, { ledger throws(TownError) in
                workflow.workingBranches(names, rig: rig, in: ledger)
            })
        else { return [] }
        var result: [MergeQueue.WorkingBranch] = []
        for (name, head) in pushed where working.contains(name) {
            guard let base = try? await repository.mergeBase(head, tip),
                let files = try? await repository.changedFiles(from: base, to: head), !files.isEmpty
            else { continue }
            result.append(MergeQueue.WorkingBranch(name: name, files: Set(files)))
        }
        return result
    }

    /// The target branch's tip on the rig's remote (fetched).
    private func targetTip() async throws(TownError) -> GitOID {
        guard let repository else { throw .git("the Refinery's clone is not open") }
        do {
            _ = try await repository.fetch(
                from: "origin", refspecs: ["+refs/heads/\(rig.defaultBranch):refs/remotes/origin/\(rig.defaultBranch)"])
            guard let tip = try await repository.referenceTarget("refs/remotes/origin/\(rig.defaultBranch)") else {
                throw TownError.git("the rig's remote has no branch \(rig.defaultBranch)")
            }
            return tip
        } catch let error as TownError {
            throw error
        } catch let error as GitError {
            throw .git("cannot read \(rig.defaultBranch) of \(rig.gitURL): \(error.message)")
        } catch {
            throw .git("\(error)")
        }
    }

    // MARK: Status

    private func writeStatus(running: Bool) {
        let testing =
            queue.map { queue in
                queue.order.filter {
                    if case .inTrain = queue.status(of: $0) { true } else { false }
                }
            } ?? []
        let status = RefineryLiveStatus(
            pid: getpid(), node: workflow.node, updatedAt: TownEvents.timestamp(Date()),
            testing: running ? testing : [],
            runningGates: gates.count, overlaps: overlaps, running: running)
        // Ephemeral (read only while its pid lives): replaced atomically, never fsynced, so the pool never waits.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(status) else { return }
        try? data.write(
            to: URL(fileURLWithPath: RigRefinery.statusFile(workflow.layout, rig: rigName)), options: .atomic)
    }

    /// Takes `<rig>/refinery/refinery.lock` (an exclusive `flock`, never waiting; the kernel drops it when the
    /// process dies), so one Refinery at a time works a rig's clone and queue on this machine. Returns the
    /// descriptor holding it; `.io` naming the holder when another pass runs.
    static func lock(_ layout: TownLayout, rig: String) throws(TownError) -> Int32 {
        let path = layout.rigDirectory(rig) + "/refinery/refinery.lock"
        try? FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 64)
            let count = pread(fd, &buffer, buffer.count, 0)
            let holder = String(decoding: buffer.prefix(max(0, count)), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            close(fd)
            throw .io(
                "another Refinery is running for rig \(rig) (pid \(holder.isEmpty ? "?" : holder)); "
                    + "let it finish, or stop it first")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        return fd
    }

    /// `<rig>/refinery/queue-status.json`.
    public static func statusFile(_ layout: TownLayout, rig: String) -> String {
        layout.rigDirectory(rig) + "/refinery/queue-status.json"
    }

    /// `<rig>/refinery/logs`: one file per gate run.
    public static func logDirectory(_ layout: TownLayout, rig: String) -> String {
        layout.rigDirectory(rig) + "/refinery/logs"
    }

    static func now() -> MergeQueue.Instant {
        MergeQueue.Instant(nanoseconds: Int64(Date().timeIntervalSince1970 * 1e9))
    }
}

/// The node can hold a Refinery as one of its components: `start` does nothing (the queue is rebuilt on every
/// pass), `run` passes until cancelled, `stop` kills running gates. It handles no messages yet; the node will
/// start one for each rig whose Refinery claim it holds (docs/merge-queue.md, "Plugging into the node").
extension RigRefinery: NodeComponent {
    public nonisolated var name: String { "refinery-\(rigName)" }

    public func start(in context: NodeContext) async throws {}
}
