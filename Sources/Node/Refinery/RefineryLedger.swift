import Beads
import Foundation
import MergeQueue
import Scheduling
import Town

/// The merge-request bead's metadata keys the Refinery reads and writes (besides `gt done`'s `branch`, `commit`,
/// `lease_epoch`, `source_bead`, `target`, `worker`). A caseless namespace.
public enum MQKey {
    /// queued, testing, merged, rework, conflict, rejected or superseded (absent: queued).
    public static let status = "mq_status"
    /// Why it is not merged (rework, conflict, rejected).
    public static let reason = "mq_reason"
    /// The target commit that holds it, once merged.
    public static let mergeCommit = "merge_commit"
    /// Written before a push: the commit it lands in (cleared with the verdict).
    public static let landing = "landing"
    /// Times it was queued again (`gt mq retry`).
    public static let retryCount = "retry_count"
    /// The gate's log of the run that sent it back.
    public static let gateLog = "gate_log"
    /// The files its rebase conflicted in.
    public static let conflictFiles = "conflict_files"
    /// The rework bead filed for it.
    public static let reworkBead = "rework_bead"
    /// True when a gate flaked on it before it merged.
    public static let flaky = "flaky"
    /// On a rework bead: the work bead it reworks (the first of the chain).
    public static let reworkOf = "rework_of"
}

/// A rework the Refinery still has to hand to a polecat once the ledger is closed (slinging opens it itself).
/// `Sendable`: a plain value.
struct PendingRework: Sendable {
    var bead: String
    var polecat: String?
    var base: String?
    /// The runtime to work it on: a compared run's own (nil: the rig's).
    var runtime: String? = nil
}

extension TownWorkflow {
    /// The rig's open merge requests as the queue core takes them: the MR bead's fields, the work bead's priority,
    /// current lease epoch and open blockers.
    func queueRequests(rig: RigConfig, in ledger: TownLedger) -> [MergeQueue.Request] {
        let requests = ledger.beads(scope: rig.beads.prefix) {
            $0.issueType == .mergeRequest && $0.status != .closed && $0.status != .tombstone
                && ($0.metadataString("target") ?? rig.defaultBranch) == rig.defaultBranch
        }
        // Compared runs (gt sling --compare): one request of a bead's runs at a time, the first filed, so the first
        // that passes is the one merged (the others are then superseded, `supersedeCompared`).
        var firstOfGroup: [String: Bead] = [:]
        for bead in requests {
            guard let source = bead.metadataString("source_bead"), let work = ledger.bead(source),
                let root = TownWorkflow.compareRoot(of: work, in: ledger)
            else { continue }
            if let first = firstOfGroup[root],
                (first.createdAt.unixNanos, first.id) < (bead.createdAt.unixNanos, bead.id)
            {
                continue
            }
            firstOfGroup[root] = bead
        }
        return requests.compactMap { bead in
            guard let source = bead.metadataString("source_bead"), let commit = bead.metadataString("commit") else {
                return nil
            }
            let work = ledger.bead(source)
            if let work, let root = TownWorkflow.compareRoot(of: work, in: ledger), firstOfGroup[root]?.id != bead.id {
                return nil
            }
            let blockers = Set(
                (work?.dependencies ?? []).filter { $0.type.affectsReadyWork && $0.type != .parentChild }.compactMap {
                    dependency -> String? in
                    guard let blocker = ledger.bead(dependency.dependsOnID), blocker.status != .closed,
                        blocker.status != .tombstone
                    else { return nil }
                    return blocker.id
                })
            let epoch = bead.metadataInt("lease_epoch")
            return MergeQueue.Request(
                id: bead.id, bead: source, priority: work?.priority ?? bead.priority,
                enqueuedAt: MergeQueue.Instant(nanoseconds: bead.createdAt.unixNanos), leaseEpoch: epoch,
                beadEpoch: max(epoch, work?.leaseEpoch ?? epoch), branch: bead.metadataString("branch") ?? "",
                head: MergeQueue.Commit(commit), blockedBy: blockers, retries: bead.metadataInt(MQKey.retryCount),
                landing: bead.metadataString(MQKey.landing).flatMap { $0.isEmpty ? nil : MergeQueue.Commit($0) })
        }
    }

    /// Of the work branches `names` (`polecat/<node>/<name>/<bead>/e<epoch>`), those still being worked on: the
    /// bead is in rig `rig`'s scope, open, hooked (assigned) at that epoch, and no merge request names the branch.
    func workingBranches(_ names: Set<String>, rig: RigConfig, in ledger: TownLedger) -> Set<String> {
        let filed = Set(
            ledger.beads(scope: rig.beads.prefix) { $0.issueType == .mergeRequest }.compactMap {
                $0.metadataString("branch")
            })
        return names.filter { name in
            let parts = name.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 5, parts[0] == "polecat", parts[4].hasPrefix("e"),
                let epoch = Int(parts[4].dropFirst()), !filed.contains(name), ledger.scope(of: String(parts[3])) == rig.beads.prefix,
                let bead = ledger.bead(String(parts[3]))
            else { return false }
            return bead.status != .closed && bead.status != .tombstone && !bead.assignee.isEmpty
                && bead.leaseEpoch == epoch
        }
    }

    /// Before a push: records `landing = commit` on every request, unless a work bead's epoch moved past its
    /// request's, or a request was closed meanwhile (`gt mq reject`): then nothing is written and those are
    /// returned.
    func recordLanding(
        _ push: MergeQueue.Push, rig: RigConfig
    ) async throws(TownError)
        -> (moved: [(String, Int)], closed: [(String, String)])
    {
        try await withLedger { ledger throws(TownError) in
            var moved: [(String, Int)] = []
            var closed: [(String, String)] = []
            for id in push.requests {
                guard let request = ledger.bead(id), let source = request.metadataString("source_bead") else {
                    continue
                }
                if request.status == .closed {
                    closed.append((id, request.metadataString(MQKey.reason) ?? request.closeReason))
                }
                let current = ledger.bead(source)?.leaseEpoch ?? 0
                if current > request.metadataInt("lease_epoch") { moved.append((source, current)) }
            }
            guard moved.isEmpty, closed.isEmpty else { return (moved, closed) }
            let ids = push.requests
            let commit = push.commit.hex
            try await ledger.batch(scope: rig.beads.prefix) { _ throws(LedgerError) in
                ids.map { .setMetadata(id: $0, key: MQKey.landing, value: .string(commit)) }
            }
            return ([], [])
        }
    }

    /// Records one verdict: the MR closes with its status and reason; a merge closes the work bead (and the bead a
    /// rework was for) with the merge commit and counts on the polecat's CV; rework and conflict file a rework
    /// bead (returned, to be slung once the ledger is closed). Idempotent: a closed MR is left alone.
    func recordVerdict(
        _ verdict: MergeQueue.Verdict, rig: RigConfig, gateLog: String?
    ) async throws(TownError)
        -> PendingRework?
    {
        try await withLedger { ledger throws(TownError) -> PendingRework? in
            guard let request = ledger.bead(verdict.request), request.status != .closed else { return nil }
            let id = request.id
            let source = request.metadataString("source_bead") ?? verdict.bead
            let worker = request.metadataString("worker") ?? ""
            switch verdict.outcome {
            case .merged(let commit, let flaky):
                let hex = commit.hex
                try await ledger.batch(routing: id) { _ throws(LedgerError) in
                    [
                        .setMetadata(id: id, key: MQKey.status, value: .string("merged")),
                        .setMetadata(id: id, key: MQKey.mergeCommit, value: .string(hex)),
                        .setMetadata(id: id, key: MQKey.landing, value: nil),
                        .setMetadata(id: id, key: MQKey.reason, value: nil),
                    ] + (flaky ? [.setMetadata(id: id, key: MQKey.flaky, value: .bool(true))] : [])
                        + [.close(id: id, reason: "merged in \(hex)")]
                }
                var closing: [String] = []
                if let work = ledger.bead(source), work.status != .closed,
                    work.leaseEpoch <= request.metadataInt("lease_epoch")
                {
                    closing.append(source)
                    if let root = work.metadataString(MQKey.reworkOf), let original = ledger.bead(root),
                        original.status != .closed
                    {
                        closing.append(root)
                    }
                    // A compared run that merges closes the bead compared (its other runs are superseded).
                    if let root = TownWorkflow.compareRoot(of: work, in: ledger), !closing.contains(root),
                        let original = ledger.bead(root), original.status != .closed
                    {
                        closing.append(root)
                    }
                }
                for bead in closing {
                    try await ledger.batch(routing: bead) { _ throws(LedgerError) in
                        [
                            .setMetadata(id: bead, key: MQKey.mergeCommit, value: .string(hex)),
                            .close(id: bead, reason: "merged in \(hex) (\(id))"),
                        ]
                    }
                }
                try await countOnCV(.merge, request: request, rig: rig, ledger: ledger)
                events.record(
                    "mq-merged",
                    [
                        "rig": rig.name, "merge_request": id, "bead": source, "commit": hex, "worker": worker,
                        "flaky": flaky ? "true" : "false",
                    ])
                return nil
            case .rejected(let rejection):
                let reason = rejection.description
                try await close(id, status: "rejected", reason: reason, extra: [], ledger: ledger)
                events.record("mq-rejected", ["rig": rig.name, "merge_request": id, "bead": source, "reason": reason])
                return nil
            case .rework(let output):
                // "gate exit status 1" then the log's tail: the reason is the status and the last line printed.
                let lines = output.split(separator: "\n").map(String.init)
                let status = lines.first.map { $0.hasPrefix("gate ") ? String($0.dropFirst(5)) : $0 } ?? ""
                let last = lines.dropFirst().last { !$0.hasPrefix("#") && !$0.hasPrefix("…") && !$0.isEmpty }
                let reason =
                    "the gate failed (\(status))" + (last.map { ": \(String($0.prefix(200)))" } ?? "")
                let rework = try await fileRework(
                    request, rig: rig, status: "rework", reason: reason, details: output, gateLog: gateLog,
                    ledger: ledger)
                events.record(
                    "mq-rework",
                    [
                        "rig": rig.name, "merge_request": id, "bead": source, "reason": reason,
                        "rework_bead": rework.bead, "gate_log": gateLog ?? "",
                    ])
                return rework
            case .conflict(let files):
                let reason = "conflicts with \(rig.defaultBranch) in \(files.joined(separator: ", "))"
                let rework = try await fileRework(
                    request, rig: rig, status: "conflict", reason: reason,
                    details: files.map { "conflict: \($0)" }.joined(separator: "\n"), gateLog: nil, ledger: ledger,
                    files: files)
                events.record(
                    "mq-conflict",
                    [
                        "rig": rig.name, "merge_request": id, "bead": source, "files": files.joined(separator: ","),
                        "rework_bead": rework.bead,
                    ])
                return rework
            }
        }
    }

    /// Closes the open merge requests of compared runs (gt sling --compare) whose bead another run already merged:
    /// status `superseded` (not merged), the run's bead closed too, `superseded` counted on the polecat's CV, event
    /// `mq-superseded`. Returns the requests closed.
    func supersedeCompared(rig: RigConfig) async throws(TownError) -> [String] {
        try await withLedger { ledger throws(TownError) -> [String] in
            var closed: [String] = []
            let open = ledger.beads(scope: rig.beads.prefix) {
                $0.issueType == .mergeRequest && $0.status != .closed && $0.status != .tombstone
            }
            for request in open {
                guard let source = request.metadataString("source_bead"), let work = ledger.bead(source),
                    let rootID = TownWorkflow.compareRoot(of: work, in: ledger), let root = ledger.bead(rootID),
                    root.status == .closed, let commit = root.metadataString(MQKey.mergeCommit)
                else { continue }
                let reason = "\(rootID) was merged in \(commit) by another compared run"
                try await close(request.id, status: "superseded", reason: reason, extra: [], ledger: ledger)
                if work.status != .closed {
                    try await ledger.batch(routing: work.id) { _ throws(LedgerError) in
                        [.close(id: work.id, reason: "superseded: \(reason)")]
                    }
                }
                try await countOnCV(.superseded, request: request, rig: rig, ledger: ledger)
                events.record(
                    "mq-superseded",
                    ["rig": rig.name, "merge_request": request.id, "bead": source, "root": rootID, "commit": commit])
                closed.append(request.id)
            }
            return closed
        }
    }

    /// Closes an MR with a status other than merged.
    func close(
        _ id: String, status: String, reason: String, extra: [LedgerChange], ledger: TownLedger
    )
        async throws(TownError)
    {
        try await ledger.batch(routing: id) { _ throws(LedgerError) in
            [
                .setMetadata(id: id, key: MQKey.status, value: .string(status)),
                .setMetadata(id: id, key: MQKey.reason, value: .string(reason)),
                .setMetadata(id: id, key: MQKey.landing, value: nil),
            ] + extra + [.close(id: id, reason: "\(status): \(reason)")]
        }
    }

    /// Closes the MR as rework or conflict and files the rework bead (ID derived from the MR's, so a retried
    /// verdict files one): the work bead's title and priority, the reason and the gate's output in its description,
    /// `rework_of` naming the first bead of the chain.
    func fileRework(
        _ request: Bead, rig: RigConfig, status: String, reason: String, details: String, gateLog: String?,
        ledger: TownLedger, files: [String] = []
    ) async throws(TownError) -> PendingRework {
        let id = request.id
        let source = request.metadataString("source_bead") ?? ""
        let work = ledger.bead(source)
        let root = work?.metadataString(MQKey.reworkOf) ?? source
        let reworkID = "\(rig.beads.prefix)-rw-" + String(SHA256.hexDigest(Array(id.utf8)).prefix(10))
        let branch = request.metadataString("branch") ?? ""
        let commit = request.metadataString("commit") ?? ""
        let baseTitle = (work?.title ?? source).replacingOccurrences(of: "Rework: ", with: "")
        var extra: [LedgerChange] = [.setMetadata(id: id, key: MQKey.reworkBead, value: .string(reworkID))]
        if let gateLog { extra.append(.setMetadata(id: id, key: MQKey.gateLog, value: .string(gateLog))) }
        if !files.isEmpty {
            extra.append(.setMetadata(id: id, key: MQKey.conflictFiles, value: .array(files.map { .string($0) })))
        }
        try await close(id, status: status, reason: reason, extra: extra, ledger: ledger)
        try await countOnCV(.rework, request: request, rig: rig, ledger: ledger)
        if ledger.bead(reworkID) == nil {
            let description = """
                The Refinery sent \(id) back (\(status)): \(reason).
                Your previous work is on branch \(branch) (commit \(commit)) of the rig's remote; this worktree starts \
                there. Fix it, commit, and run `gt done`.

                \(status == "conflict" ? "Conflicting files" : "Gate output (tail)"):
                ```
                \(details.suffix(6000))
                ```
                \(gateLog.map { "Full log: \($0)" } ?? "")
                """
            let priority = work?.priority ?? request.priority
            let type = work?.issueType ?? .task
            try await ledger.write(scope: rig.beads.prefix) { ledger, clock, actor throws(LedgerError) in
                var spec = NewBead(title: String("Rework: \(baseTitle)".prefix(500)))
                spec.explicitID = reworkID
                spec.issueType = type
                spec.priority = priority
                // The work's own labels (`skill:swift`) go with it: capability routing and the CV read them.
                spec.labels = ["gt:rework"] + Placement.skillLabels(work?.labels ?? [])
                spec.description = description
                spec.metadata =
                    [
                        JSONMember(MQKey.reworkOf, .string(root)), JSONMember("merge_request", .string(id)),
                        JSONMember("rework_branch", .string(branch)), JSONMember("rework_commit", .string(commit)),
                    ] + (gateLog.map { [JSONMember(MQKey.gateLog, .string($0))] } ?? [])
                return try ledger.prepareCreate(spec, actor: actor, stamp: clock.stamp, time: clock.time)
            }
        }
        let polecat = AgentAddress.polecat(request.metadataString("worker") ?? "").map(\.name)
        // A compared run's rework stays on its runtime (the comparison is of runtimes).
        let compared = work.flatMap { TownWorkflow.compareRoot(of: $0, in: ledger) } != nil
        let runtime = compared ? request.metadataString("runtime") : nil
        return PendingRework(bead: reworkID, polecat: polecat, base: commit.isEmpty ? nil : commit, runtime: runtime)
    }

    /// Counts a verdict on the CV of the merge request's worker (when it is a polecat of this rig): the total and
    /// the work bead's labels on the runtime it was done on (the request's `runtime`, else the polecat's).
    func countOnCV(_ outcome: PolecatState.Outcome, request: Bead, rig: RigConfig, ledger: TownLedger)
        async throws(TownError)
    {
        guard let (rigName, name) = AgentAddress.polecat(request.metadataString("worker") ?? ""),
            rigName == rig.name, var polecat = polecats(rig: rig, in: ledger).first(where: { $0.name == name })
        else { return }
        let labels = request.metadataString("source_bead").flatMap { ledger.bead($0)?.labels } ?? []
        polecat.count(outcome, labels: labels, runtime: request.metadataString("runtime") ?? polecat.runtime)
        try await saveCV(polecat, prefix: rig.beads.prefix, ledger: ledger)
    }

    /// Hands a rework bead to its polecat (any idle one, or a new one, when that polecat is gone or busy). A
    /// failure is logged, not thrown: the bead stays open and ready for `gt sling`.
    func slingRework(_ rework: PendingRework, rig: RigConfig) async {
        do {
            let result = try await sling(
                bead: rework.bead, rig: rig.name, runtime: rework.runtime, polecat: rework.polecat, base: rework.base)
            events.record(
                "mq-rework-slung",
                ["rig": rig.name, "bead": rework.bead, "polecat": result.polecat, "wanted": rework.polecat ?? ""])
        } catch {
            events.record("mq-rework-unslung", ["rig": rig.name, "bead": rework.bead, "error": error.description])
        }
    }
}
