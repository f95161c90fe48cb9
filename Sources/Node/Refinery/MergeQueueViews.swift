import Beads
import Foundation
import Scheduling
import Town

/// One merge request as `gt mq list/show` print it. `Sendable`: a plain value.
public struct MQEntry: Sendable, Codable, Equatable {
    public var id: String
    public var rig: String
    public var sourceBead: String
    public var branch: String
    public var commit: String
    public var leaseEpoch: Int
    public var worker: String
    public var target: String
    public var priority: Int
    public var createdAt: String
    /// queued, testing, merged, rework, conflict, rejected or superseded.
    public var status: String
    /// Why it is not merged (absent when merged or waiting).
    public var reason: String?
    public var mergeCommit: String?
    public var retryCount: Int
    public var gateLog: String?
    public var reworkBead: String?
    public var conflictFiles: [String]?
    /// Seconds since it was filed (open requests only).
    public var waitSeconds: Int?

    enum CodingKeys: String, CodingKey {
        case id, rig, branch, commit, worker, target, priority, status, reason
        case sourceBead = "source_bead"
        case leaseEpoch = "lease_epoch"
        case createdAt = "created_at"
        case mergeCommit = "merge_commit"
        case retryCount = "retry_count"
        case gateLog = "gate_log"
        case reworkBead = "rework_bead"
        case conflictFiles = "conflict_files"
        case waitSeconds = "wait_seconds"
    }
}

/// `gt mq status` of one rig. `Sendable`: a plain value.
public struct MQStatus: Sendable, Codable, Equatable {
    public var rig: String
    public var target: String
    /// `gate` (a command is configured) or `rebase-only` (requests merge after a clean rebase).
    public var gateMode: String
    public var gate: String?
    public var gateTimeout: Int
    public var batchSize: Int
    public var speculationDepth: Int
    public var gateConcurrency: Int
    public var flakyRetries: Int
    public var queued: Int
    public var testing: Int
    /// Closed requests by status.
    public var merged: Int
    public var rework: Int
    public var conflict: Int
    public var rejected: Int
    /// The open request waiting longest, and for how long.
    public var oldest: String?
    public var oldestWaitSeconds: Int?
    /// Whether a Refinery pass runs now (its process is alive), and where.
    public var refineryRunning: Bool
    public var refineryNode: String?
    /// The node holding the rig's Refinery lease (the node's `TownRefineries`) and its epoch; nil when none does.
    public var leaseNode: String?
    public var leaseEpoch: Int?
    /// Pairs of work items (queued requests, pushed branches of working polecats) touching common files, as the
    /// last Refinery pass saw them, and when that was.
    public var overlaps: [String]
    public var overlapsAt: String?

    enum CodingKeys: String, CodingKey {
        case rig, target, gate, queued, testing, merged, rework, conflict, rejected, oldest, overlaps
        case gateMode = "gate_mode"
        case gateTimeout = "gate_timeout"
        case batchSize = "batch_size"
        case speculationDepth = "speculation_depth"
        case gateConcurrency = "gate_concurrency"
        case flakyRetries = "flaky_retries"
        case oldestWaitSeconds = "oldest_wait_seconds"
        case refineryRunning = "refinery_running"
        case refineryNode = "refinery_node"
        case leaseNode = "lease_node"
        case leaseEpoch = "lease_epoch"
        case overlapsAt = "overlaps_at"
    }
}

extension TownWorkflow {
    /// The live status a running pass writes, when its process is alive.
    func liveRefinery(rig: String) -> RefineryLiveStatus? {
        guard let status = try? TownJSON.read(RefineryLiveStatus.self, from: RigRefinery.statusFile(layout, rig: rig)),
            status.running, kill(status.pid, 0) == 0
        else { return nil }
        return status
    }

    func entry(_ bead: Bead, rig: RigConfig, testing: Set<String>, now: Date) -> MQEntry {
        var status: String
        if bead.status == .closed {
            status = bead.metadataString(MQKey.status) ?? (bead.closeReason.hasPrefix("merged") ? "merged" : "rejected")
            if status == "queued" || status == "testing" { status = "rejected" }
        } else {
            status = testing.contains(bead.id) ? "testing" : "queued"
        }
        let reason: String? =
            status == "merged" || status == "queued" || status == "testing"
            ? nil : (bead.metadataString(MQKey.reason) ?? bead.closeReason)
        let files = bead.metadata.first(where: { $0.key == MQKey.conflictFiles })?.value.arrayValue?.compactMap(
            \.stringValue)
        let filed = Double(bead.createdAt.unixNanos) / 1e9
        return MQEntry(
            id: bead.id, rig: rig.name, sourceBead: bead.metadataString("source_bead") ?? "",
            branch: bead.metadataString("branch") ?? "", commit: bead.metadataString("commit") ?? "",
            leaseEpoch: bead.metadataInt("lease_epoch"), worker: bead.metadataString("worker") ?? "",
            target: bead.metadataString("target") ?? rig.defaultBranch, priority: bead.priority,
            createdAt: bead.createdAt.description, status: status, reason: reason,
            mergeCommit: bead.metadataString(MQKey.mergeCommit), retryCount: bead.metadataInt(MQKey.retryCount),
            gateLog: bead.metadataString(MQKey.gateLog), reworkBead: bead.metadataString(MQKey.reworkBead),
            conflictFiles: files,
            waitSeconds: bead.status == .closed ? nil : max(0, Int(now.timeIntervalSince1970 - filed)))
    }

    func mqRigs(_ name: String?) throws(TownError) -> [RigConfig] {
        if let name { return [try rig(name)] }
        return try rigConfigs().values.sorted { $0.name < $1.name }
    }

    /// `gt mq list [rig]`: open merge requests (all with `all`) in queue order: priority, then age; closed ones
    /// after, newest first.
    public func mqList(rig name: String?, all: Bool) async throws(TownError) -> [MQEntry] {
        let rigs = try mqRigs(name)
        let now = Date()
        return try await withLedger(mode: .read) { ledger throws(TownError) in
            rigs.flatMap { rig -> [MQEntry] in
                let testing = Set(liveRefinery(rig: rig.name)?.testing ?? [])
                let beads = ledger.beads(scope: rig.beads.prefix) {
                    $0.issueType == .mergeRequest && $0.status != .tombstone && (all || $0.status != .closed)
                }
                let open = beads.filter { $0.status != .closed }.sorted {
                    ($0.priority, $0.createdAt, $0.id) < ($1.priority, $1.createdAt, $1.id)
                }
                let closed = beads.filter { $0.status == .closed }.sorted {
                    ($0.closedAt ?? $0.updatedAt, $0.id) > ($1.closedAt ?? $1.updatedAt, $1.id)
                }
                return (open + closed).map { entry($0, rig: rig, testing: testing, now: now) }
            }
        }
    }

    /// `gt mq status [rig]`.
    public func mqStatus(rig name: String?) async throws(TownError) -> [MQStatus] {
        let entries = try await mqList(rig: name, all: true)
        var leases: [String: Lease] = [:]
        for rig in try mqRigs(name) {
            if let lease = try await refineryLease(rig: rig)?.lease, !lease.isFree { leases[rig.name] = lease }
        }
        return try mqRigs(name).map { rig in
            let settings = rig.mergeQueue ?? RigMergeQueueSettings()
            let queue = settings.queueSettings
            let mine = entries.filter { $0.rig == rig.name }
            let open = mine.filter { $0.status == "queued" || $0.status == "testing" }
            let oldest = open.max { ($0.waitSeconds ?? 0, $1.id) < ($1.waitSeconds ?? 0, $0.id) }
            let live = liveRefinery(rig: rig.name)
            // The last pass's overlaps stay valid after it ended (the node passes again at every poll or wake).
            let last = try? TownJSON.read(RefineryLiveStatus.self, from: RigRefinery.statusFile(layout, rig: rig.name))
            return MQStatus(
                rig: rig.name, target: rig.defaultBranch,
                gateMode: settings.gateCommand == nil ? "rebase-only" : "gate",
                gate: settings.gateCommand,
                gateTimeout: settings.gateTimeout ?? RigMergeQueueSettings.defaultGateTimeout,
                batchSize: queue.batchSize, speculationDepth: queue.speculationDepth,
                gateConcurrency: queue.gateConcurrency, flakyRetries: queue.flakyRetries,
                queued: open.filter { $0.status == "queued" }.count,
                testing: open.filter { $0.status == "testing" }.count,
                merged: mine.filter { $0.status == "merged" }.count,
                rework: mine.filter { $0.status == "rework" }.count,
                conflict: mine.filter { $0.status == "conflict" }.count,
                rejected: mine.filter { $0.status == "rejected" }.count, oldest: oldest?.id,
                oldestWaitSeconds: oldest?.waitSeconds, refineryRunning: live != nil, refineryNode: live?.node,
                leaseNode: leases[rig.name]?.node, leaseEpoch: leases[rig.name]?.epoch,
                overlaps: last?.overlaps ?? [], overlapsAt: (last?.overlaps.isEmpty ?? true) ? nil : last?.updatedAt)
        }
    }

    /// The MR bead `id` and its rig; `.noSuchBead` when it is not a merge request of a registered rig.
    func mqRequest(_ id: String, in ledger: TownLedger) throws(TownError) -> (Bead, RigConfig) {
        guard let bead = ledger.bead(id), bead.issueType == .mergeRequest, bead.status != .tombstone,
            let scope = ledger.scope(of: id),
            let rig = try rigConfigs().values.first(where: { $0.beads.prefix == scope })
        else {
            throw .noSuchBead(id)
        }
        return (bead, rig)
    }

    /// `gt mq show <mr>`.
    public func mqShow(_ id: String) async throws(TownError) -> MQEntry {
        try await withLedger(mode: .read) { ledger throws(TownError) in
            let (bead, rig) = try mqRequest(id, in: ledger)
            return entry(bead, rig: rig, testing: Set(liveRefinery(rig: rig.name)?.testing ?? []), now: Date())
        }
    }

    /// `gt mq retry <mr>`: a request sent back (rework, conflict) or rejected is queued again, one retry more.
    /// Refused for one that merged or is still queued; refused when its work bead's epoch moved on (that lease's
    /// branch can never merge).
    public func mqRetry(_ id: String) async throws(TownError) -> MQEntry {
        try await withLedger { ledger throws(TownError) in
            let (bead, rig) = try mqRequest(id, in: ledger)
            let current = entry(bead, rig: rig, testing: [], now: Date())
            guard bead.status == .closed else {
                throw .io("\(id) is \(current.status), not sent back: nothing to retry (see 'gt mq show \(id)')")
            }
            guard current.status != "merged" else {
                throw .io("\(id) is merged in \(current.mergeCommit ?? "?"): nothing to retry")
            }
            let source = bead.metadataString("source_bead") ?? ""
            if let work = ledger.bead(source), work.leaseEpoch > current.leaseEpoch {
                throw .staleEpoch(bead: source, hooked: current.leaseEpoch, current: work.leaseEpoch)
            }
            let retries = current.retryCount + 1
            try await ledger.batch(routing: id) { _ throws(LedgerError) in
                [
                    .reopen(id: id), .setMetadata(id: id, key: MQKey.status, value: .string("queued")),
                    .setMetadata(id: id, key: MQKey.reason, value: nil),
                    .setMetadata(id: id, key: MQKey.retryCount, value: .int(retries)),
                ]
            }
            events.record("mq-retry", ["rig": rig.name, "merge_request": id, "retry_count": String(retries)])
            heldLedger?.workFiled(scopes: [rig.beads.prefix])
            return entry(ledger.bead(id) ?? bead, rig: rig, testing: [], now: Date())
        }
    }

    /// `gt mq reject <mr> -r REASON`: an open request is closed as rejected with the reason (a Refinery pass that
    /// has it in a batch drops it before its push).
    public func mqReject(_ id: String, reason: String) async throws(TownError) -> MQEntry {
        let text = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw .io("a rejection needs a reason: pass -r REASON (nothing was changed)") }
        return try await withLedger { ledger throws(TownError) in
            let (bead, rig) = try mqRequest(id, in: ledger)
            guard bead.status != .closed else {
                let current = entry(bead, rig: rig, testing: [], now: Date())
                throw .io("\(id) is already \(current.status); nothing to reject")
            }
            try await close(id, status: "rejected", reason: "rejected: \(text)", extra: [], ledger: ledger)
            events.record("mq-rejected", ["rig": rig.name, "merge_request": id, "reason": text, "by": actor])
            return entry(ledger.bead(id) ?? bead, rig: rig, testing: [], now: Date())
        }
    }
}
