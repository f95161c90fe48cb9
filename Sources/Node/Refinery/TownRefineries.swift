import Beads
import Foundation
import Scheduling
import Town
import Wire

/// The lease record of a rig's Refinery in the ledger: an agent bead `<prefix>-<rig>-refinery` whose metadata
/// `refinery_lease` holds {holder, node, epoch, renewal}. Every node creates the bead the same way (same ID, same
/// creator, same creation time), so two nodes that both create it before a sync make one bead, not two; the
/// record itself is one metadata key, last writer wins in the merge. A caseless namespace.
public enum RefineryLeaseRecord {
    public static let metadataKey = "refinery_lease"
    public static let label = "gt:refinery"
    static let creator = "refinery"

    /// The bead holding rig `rig`'s lease.
    public static func beadID(prefix: String, rig: String) -> String { "\(prefix)-\(rig)-refinery" }

    /// The record on `bead`, or nil when it has none (or not a readable one).
    public static func read(_ bead: Bead?) -> ServiceLease? {
        guard let value = bead?.metadata.first(where: { $0.key == metadataKey })?.value,
            let epoch = value["epoch"]?.intValue
        else { return nil }
        return ServiceLease(
            lease: Lease(
                holder: value["holder"]?.stringValue ?? "", node: value["node"]?.stringValue ?? "", epoch: epoch),
            renewal: value["renewal"]?.intValue ?? 0)
    }

    static func json(_ record: ServiceLease) -> JSONValue {
        .object([
            JSONMember("holder", .string(record.lease.holder)), JSONMember("node", .string(record.lease.node)),
            JSONMember("epoch", .int(record.lease.epoch)), JSONMember("renewal", .int(record.renewal)),
        ])
    }
}

extension TownWorkflow {
    /// Rig `rig`'s Refinery lease as the ledger holds it now.
    func refineryLease(rig: RigConfig) async throws(TownError) -> ServiceLease? {
        try await withLedger(mode: .read) { ledger throws(TownError) in
            RefineryLeaseRecord.read(ledger.bead(RefineryLeaseRecord.beadID(prefix: rig.beads.prefix, rig: rig.name)))
        }
    }

    /// The node holding rig `rig`'s Refinery lease and its epoch, nil when nobody holds it.
    public func refineryHolder(_ rig: String) async throws(TownError) -> (node: String, epoch: Int)? {
        guard let lease = try await refineryLease(rig: try self.rig(rig))?.lease, !lease.isFree else { return nil }
        return (lease.node, lease.epoch)
    }

    /// Writes rig `rig`'s Refinery lease (creating its bead the first time).
    func writeRefineryLease(_ record: ServiceLease, rig: RigConfig) async throws(TownError) {
        let id = RefineryLeaseRecord.beadID(prefix: rig.beads.prefix, rig: rig.name)
        try await withLedger { ledger throws(TownError) in
            if ledger.bead(id) == nil {
                let name = rig.name
                try await ledger.write(scope: rig.beads.prefix) { ledger, clock, _ throws(LedgerError) in
                    var spec = NewBead(title: "Refinery of rig \(name)")
                    spec.explicitID = id
                    spec.issueType = .agent
                    spec.labels = [RefineryLeaseRecord.label]
                    spec.pinned = true
                    spec.description = "role_type: refinery\nrig: \(name)"
                    // The same creation on every node: two creations before a sync merge into one bead.
                    return try ledger.prepareCreate(
                        spec, actor: RefineryLeaseRecord.creator, stamp: clock.stamp,
                        time: Timestamp(unixNanos: 1_767_225_600_000_000_000))
                }
            }
            try await ledger.setMetadata(id, [(RefineryLeaseRecord.metadataKey, RefineryLeaseRecord.json(record))])
        }
    }
}

/// The node's Refineries (DESIGN §7): for every rig the town has (rigs added or removed while the node runs are
/// picked up at the next patrol), this node takes part in the rig's Refinery lease (`ServiceClaim`, the record in
/// the ledger, synced to every node) and runs the rig's `RigRefinery` only while it holds the lease, renewing it.
/// When the holder stops renewing (its node died) another node takes the queue over after the grace period; a
/// node restarted after a crash claims its own old record again at once, at a new epoch.
///
/// Timing comes from `town.json` `refinery` {`lease_renew_seconds`, `lease_grace_seconds`, `poll_seconds`}
/// (defaults 20, 90, 5). `Sendable`: an actor.
public actor TownRefineries: NodeComponent {
    public nonisolated let name = "refinery"
    let ledger: NodeLedgerHandle?
    var workflow: TownWorkflow?
    var log: NodeLogger?
    var events: EventLog?
    var node = ""
    var claimSettings = ServiceClaim.Settings()
    var poll: Duration = .seconds(5)
    var tick: Duration = .seconds(1)
    var claims: [String: ServiceClaim] = [:]
    var runners: [String: Runner] = [:]
    let origin = ContinuousClock.now

    struct Runner {
        var epoch: Int
        var refinery: RigRefinery
        var task: Task<Void, Never>
    }

    /// The Refineries of the town, using the store the node's `LedgerActor` holds.
    public init(ledger: NodeLedgerHandle? = nil) { self.ledger = ledger }

    /// Rigs whose Refinery runs here, with the epoch (for status and tests).
    public func held() -> [String: Int] { runners.mapValues(\.epoch) }

    public func start(in context: NodeContext) async throws {
        log = context.log
        events = context.events
        let workflow = try await TownWorkflow.forComponent(context, actor: "refinery", ledger: ledger)
        self.workflow = workflow
        node = workflow.node
        readSettings(context.townFile)
        // Wakes: a merge request filed on this node (`gt done`, `gt mq retry`) wakes its rig's Refinery at once; a
        // sync that brought in beads of a rig wakes it when they hold a request its last pass did not see.
        ledger?.observeWork { [weak self] change in
            guard let self else { return }
            Task { await self.changed(change) }
        }
    }

    /// A change of the held ledger: wakes the Refineries of the rigs it concerns.
    func changed(_ change: NodeLedgerChange) async {
        guard let workflow, let rigs = try? workflow.rigConfigs() else { return }
        switch change {
        case .filed(let scopes):
            for (name, config) in rigs where scopes.contains(config.beads.prefix) {
                await runners[name]?.refinery.wake()
            }
        case .synced(let scopes):
            for (name, config) in rigs where scopes.contains(config.beads.prefix) {
                if let refinery = runners[name]?.refinery, await refinery.wakeIfNewRequests() {
                    log?.info("refinery woken by a synced merge request", ["rig": name])
                }
            }
        }
    }

    func readSettings(_ file: TownFile) {
        if let renew = file.refinery.leaseRenew { claimSettings.renewEvery = renew }
        if let grace = file.refinery.leaseGrace { claimSettings.grace = grace }
        if let poll = file.refinery.poll { self.poll = poll }
        tick = min(.seconds(1), claimSettings.renewEvery / 2)
    }

    public func run() async throws {
        while !Task.isCancelled {
            do { try await patrol() } catch { log?.warning("refinery patrol failed", ["error": "\(error)"]) }
            try await Task.sleep(for: tick)
        }
        throw CancellationError()
    }

    public func stop() async {
        let stopping = runners
        runners = [:]
        for (rig, runner) in stopping {
            runner.task.cancel()
            await runner.refinery.stop()
            await runner.task.value
            guard let workflow, let config = try? workflow.rig(rig), let release = claims[rig]?.release() else {
                continue
            }
            _ = await Node.bounded(seconds: 5) { try? await workflow.writeRefineryLease(release, rig: config) }
        }
        claims = [:]
    }

    func now() -> Int64 {
        let c = (ContinuousClock.now - origin).components
        return c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
    }

    /// One round: every rig's lease read and acted on.
    func patrol() async throws {
        guard let workflow else { return }
        let rigs = try workflow.rigConfigs()
        for gone in Set(claims.keys).subtracting(rigs.keys) {
            await stopRunner(gone, reason: "the rig was removed")
            claims[gone] = nil
        }
        for (name, config) in rigs.sorted(by: { $0.key < $1.key }) {
            var claim = claims[name] ?? ServiceClaim(service: "refinery", node: node, settings: claimSettings)
            // A write is read back at once, so a claim starts the queue in the same round.
            var rounds = 0
            while rounds < 3 {
                rounds += 1
                let record = try await workflow.refineryLease(rig: config)
                let directives = claim.onRead(record, now: now())
                claims[name] = claim
                var wrote = false
                for directive in directives {
                    switch directive {
                    case .write(let record):
                        try await workflow.writeRefineryLease(record, rig: config)
                        wrote = true
                        if record.renewal == 0 {
                            log?.info("refinery lease claimed", ["rig": name, "epoch": "\(record.lease.epoch)"])
                        }
                    case .start(let epoch): try startRunner(name, epoch: epoch)
                    case .stop: await stopRunner(name, reason: "the lease moved to another node")
                    }
                }
                if !wrote || directives.contains(where: { if case .start = $0 { true } else { false } }) { break }
            }
        }
    }

    /// Whether this node still holds rig `rig`'s lease at `epoch` (the fence every pass and push checks).
    func holds(_ rig: String, epoch: Int) -> Bool {
        claims[rig]?.holds(epoch: epoch) == true && runners[rig]?.epoch == epoch
    }

    func startRunner(_ rig: String, epoch: Int) throws {
        guard let workflow else { return }
        if let old = runners.removeValue(forKey: rig) { old.task.cancel() }
        let refinery = try RigRefinery(workflow: workflow, rig: rig, pollInterval: poll)
        let poll = self.poll
        let log = self.log
        let task = Task { [weak self] in
            await refinery.setFence { [weak self] in await self?.holds(rig, epoch: epoch) ?? false }
            while !Task.isCancelled {
                guard let self, await self.holds(rig, epoch: epoch) else { return }
                // A frozen cluster (gt estop): the Refinery holds its lease and merges nothing until gt thaw.
                if (try? await workflow.freezeState())?.frozen == true {
                    try? await Task.sleep(for: poll)
                    continue
                }
                do {
                    let report = try await refinery.runUntilIdle()
                    if !report.merged.isEmpty || !report.rework.isEmpty || !report.conflict.isEmpty {
                        log?.info(
                            "refinery pass",
                            [
                                "rig": rig, "merged": report.merged.joined(separator: ","),
                                "rework": report.rework.joined(separator: ","),
                                "conflict": report.conflict.joined(separator: ","),
                            ])
                    }
                } catch {
                    if !Task.isCancelled { log?.warning("refinery pass failed", ["rig": rig, "error": "\(error)"]) }
                }
                // Until the next poll, or a wake: a merge request filed here or synced in.
                await refinery.napUntilWoken(upTo: poll)
            }
        }
        runners[rig] = Runner(epoch: epoch, refinery: refinery, task: task)
        log?.info("refinery started", ["rig": rig, "epoch": "\(epoch)"])
        events?.record("refinery-start", ["rig": rig, "epoch": "\(epoch)", "node": node])
    }

    func stopRunner(_ rig: String, reason: String) async {
        guard let runner = runners.removeValue(forKey: rig) else { return }
        runner.task.cancel()
        await runner.refinery.stop()
        log?.info("refinery stopped", ["rig": rig, "epoch": "\(runner.epoch)", "reason": reason])
        events?.record("refinery-stop", ["rig": rig, "epoch": "\(runner.epoch)", "node": node, "reason": reason])
    }
}
