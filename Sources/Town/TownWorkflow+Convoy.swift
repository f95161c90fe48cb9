import Beads
import Foundation
import LedgerStore
import Scheduling

/// What `gt convoy land` (or the node's automatic landing) did. `Sendable`: a plain value.
public struct ConvoyLandResult: Sendable, Codable, Equatable {
    /// What became of it.
    public enum Outcome: String, Sendable, Codable {
        /// This node landed it (won the landing claim and closed it).
        case landed
        /// Another node won the landing claim: it lands it.
        case landedElsewhere = "landed_elsewhere"
        /// It was landed before.
        case alreadyLanded = "already_landed"
    }

    public var convoy: String
    public var name: String
    public var outcome: Outcome
    /// The node that landed (or lands) it.
    public var node: String
    /// The landing claim's epoch (for `landed_elsewhere`, the other node's; 0 when already landed).
    public var epoch: Int
    /// The addresses mailed.
    public var mailed: [String]
}

/// What `gt convoy launch` (or one of the node's later waves) did. `Sendable`: a plain value.
public struct ConvoyLaunchResult: Sendable, Codable, Equatable {
    /// A sling that failed. `Sendable`: a plain value.
    public struct Failure: Sendable, Codable, Equatable {
        public var bead: String
        public var error: String
        /// Failures counted for the bead so far (this one included).
        public var failures: Int
    }

    public var convoy: String
    public var name: String
    public var slung: [SlingResult]
    public var failed: [Failure]
    public var setAside: [ConvoyWaves.SetAside]
    public var waiting: [ConvoyWaves.Waiting]
    /// Every tracked bead is done or set aside.
    public var finished: Bool
    /// Nothing is in flight and nothing can be slung: the beads left wait on blockers nobody works on.
    public var stuck: Bool

    enum CodingKeys: String, CodingKey {
        case convoy, name, slung, failed, waiting, finished, stuck
        case setAside = "set_aside"
    }
}

/// How a convoy bead is slung: the one place `gt convoy launch` hands work out (`TownWorkflow.sling` on this node
/// by default; in a cluster the node's Mayor places it on whichever node has room: `Mayor.convoySlinger`). Returns
/// nil when the placer queued the bead until a node has room (not a failure: the placer slings it later).
/// `Sendable`: a closure.
public typealias ConvoySlinger =
    @Sendable (TownWorkflow, _ bead: String, _ rig: String?, _ runtime: String?)
    async throws(TownError) -> SlingResult?

extension TownWorkflow {
    /// The default `ConvoySlinger`: `gt sling <bead> [rig]` on this node.
    public static let slingHere: ConvoySlinger = { workflow, bead, rig, runtime throws(TownError) in
        try await workflow.sling(bead: bead, rig: rig, runtime: runtime)
    }

    /// `gt convoy create <name> <bead>…`: a convoy bead in `hq` tracking `beads` (each must exist in the town's
    /// ledger, in any scope), mailing `notify` (and the overseer with `human`) when it lands. A bad name, a name
    /// taken, an unknown bead or address changes nothing.
    public func createConvoy(
        name: String, beads: [String], notify: [String] = [], human: Bool = false
    )
        async throws(TownError) -> ConvoyView
    {
        if let problem = ConvoyCore.nameProblem(name) { throw .convoyRefused(problem) }
        guard !beads.isEmpty else {
            throw .convoyRefused("a convoy tracks at least one bead: name them after its name")
        }
        let rigs = try rigConfigs()
        let created: Bead = try await withLedger { ledger throws(TownError) in
            if let taken = convoyBeads(ledger).first(where: { $0.title == name }) {
                throw .convoyExists(name: name, id: taken.id)
            }
            let tracked = try checkTrackable(beads, ledger: ledger)
            var subscribers: [String] = []
            for address in notify + (human ? [AgentAddress.overseer] : []) {
                let canonical = AgentAddress.canonical(address)
                do throws(TownError) {
                    try checkRecipient(canonical, as: address, rigs: rigs, ledger: ledger)
                } catch {
                    guard case .unknownAddress(_, let reason, let valid) = error else { throw error }
                    throw .convoyRefused(
                        "cannot notify '\(address)': there is no such mailbox (\(reason)); mail goes to one of "
                            + valid.joined(separator: ", "))
                }
                if !subscribers.contains(canonical) { subscribers.append(canonical) }
            }
            let list = subscribers
            guard
                let bead = try await ledger.write(
                    scope: "hq",
                    { ledger, clock, actor throws(LedgerError) in
                        var spec = NewBead(title: name)
                        do throws(BeadIDError) {
                            spec.explicitID = try BeadID.mint(
                                prefix: ConvoyKey.idPrefix, title: name, description: "", creator: actor,
                                createdAt: clock.time, existingCount: ledger.count,
                                isTaken: { ledger.bead($0) != nil })
                        } catch { throw .idMinting(error) }
                        spec.issueType = .convoy
                        spec.description = "Convoy \(name): tracks \(tracked.joined(separator: ", "))"
                        spec.dependencies = tracked.map { DependencyKey(dependsOnID: $0, type: .tracks) }
                        if !list.isEmpty {
                            spec.metadata = [JSONMember(ConvoyKey.notify, .array(list.map(JSONValue.string)))]
                        }
                        var op = try ledger.prepareCreate(spec, actor: actor, stamp: clock.stamp, time: clock.time)
                        // One nanosecond apart, so the tracked beads list in the order they were named.
                        if case .create(var bead, let cycles) = op.change {
                            for index in bead.dependencies.indices {
                                bead.dependencies[index].createdAt = Timestamp(
                                    unixNanos: clock.time.unixNanos + Int64(index))
                            }
                            op.change = .create(bead, allowCycles: cycles)
                        }
                        return op
                    })
            else { throw .ledger("the convoy was not stored") }
            return bead
        }
        events.record(
            "convoy_created",
            ["convoy": created.id, "name": name, "beads": ConvoyCore.trackedIDs(created).joined(separator: ",")])
        return try await convoyStatus(created.id)
    }

    /// `gt convoy add <convoy> <bead>…`: tracks more beads (one all-or-nothing write). Beads it tracks already are
    /// left as they are; an unknown bead, or a landed convoy, changes nothing.
    public func addToConvoy(_ reference: String, beads: [String]) async throws(TownError) -> ConvoyView {
        guard !beads.isEmpty else { throw .convoyRefused("name the beads to add after the convoy") }
        let id: String = try await withLedger { ledger throws(TownError) in
            let convoy = try resolveConvoy(reference, ledger: ledger)
            guard convoy.status != .closed else {
                throw .convoyRefused(
                    "convoy \(convoy.id) (\(convoy.title)) already landed; create a new one with 'gt convoy create'")
            }
            let already = Set(ConvoyCore.trackedIDs(convoy))
            let fresh = try checkTrackable(beads, ledger: ledger).filter { !already.contains($0) }
            guard !fresh.isEmpty else { return convoy.id }
            let convoyID = convoy.id
            let actor = self.actor
            let time = Timestamp(unixNanos: LedgerDatabaseSettings.systemWallClock())
            try await ledger.batch(routing: convoyID) { _ throws(LedgerError) in
                fresh.enumerated().map { index, bead in
                    .addDependency(
                        id: convoyID,
                        Dependency(
                            issueID: convoyID, dependsOnID: bead, type: .tracks,
                            createdAt: Timestamp(unixNanos: time.unixNanos + Int64(index)), createdBy: actor),
                        allowCycles: false)
                }
            }
            events.record("convoy_add", ["convoy": convoyID, "beads": fresh.joined(separator: ",")])
            return convoyID
        }
        return try await convoyStatus(id)
    }

    /// `gt convoy status <convoy>`: its tracked beads' states from the ledger.
    public func convoyStatus(_ reference: String) async throws(TownError) -> ConvoyView {
        let rigs = try rigConfigs()
        return try await withLedger(mode: .read) { ledger throws(TownError) in
            ConvoyCore.view(try resolveConvoy(reference, ledger: ledger), facts: facts(ledger: ledger, rigs: rigs))
        }
    }

    /// `gt convoy list` (and `status` with no convoy): open convoys, oldest first (`all`: landed ones too).
    public func convoys(all: Bool = false) async throws(TownError) -> [ConvoyView] {
        let rigs = try rigConfigs()
        return try await withLedger(mode: .read) { ledger throws(TownError) in
            let facts = facts(ledger: ledger, rigs: rigs)
            return convoyBeads(ledger).filter { all || $0.status != .closed }.map { ConvoyCore.view($0, facts: facts) }
        }
    }

    /// `gt convoy land <convoy>`: when every tracked bead is closed with its merge request merged, lands it through
    /// the landing claim (DESIGN §3: a `Scheduling.ClaimAttempt` on the convoy bead, through `engine`, the ledger
    /// remote's sync, when the town has one), so exactly one node lands it: the winner closes it (reason and
    /// `landed_by`), mails its subscribers in the same write, and records a `convoy_landed` event. A convoy that is
    /// not done is refused naming the beads that are not, and nothing changes.
    ///
    /// `takeOver` takes over a landing claim another node holds (its landing never came: the node died between its
    /// claim and its landing write); the epoch goes up, so the late write of the old holder's claim loses.
    public func landConvoy(
        _ reference: String, engine: LedgerSync? = nil, takeOver: Bool = false
    )
        async throws(TownError) -> ConvoyLandResult
    {
        let rigs = try rigConfigs()
        let node = self.node
        return try await withLedger { ledger throws(TownError) in
            let convoy = try resolveConvoy(reference, ledger: ledger)
            let before = ConvoyCore.view(convoy, facts: facts(ledger: ledger, rigs: rigs))
            if before.status == "landed" {
                return ConvoyLandResult(
                    convoy: convoy.id, name: convoy.title, outcome: .alreadyLanded, node: before.landedBy, epoch: 0,
                    mailed: [])
            }
            if let refusal = ConvoyCore.refusal(before) { throw .convoyRefused(refusal) }
            let request = ClaimRunner.Request(
                id: convoy.id, claimant: Claimant(assignee: ConvoyKey.lander, node: node), takeOver: takeOver,
                time: Timestamp(unixNanos: LedgerDatabaseSettings.systemWallClock()))
            let claim = await ClaimRunner.claim(request, database: ledger.database, engine: engine)
            let lease: Lease
            switch claim.outcome {
            case .won(let won):
                lease = won
            case .lost(let other):
                let current = ledger.bead(convoy.id)
                if current?.status == .closed {
                    return ConvoyLandResult(
                        convoy: convoy.id, name: convoy.title, outcome: .alreadyLanded,
                        node: current?.metadataString(ConvoyKey.landedBy) ?? other.node, epoch: 0, mailed: [])
                }
                return ConvoyLandResult(
                    convoy: convoy.id, name: convoy.title, outcome: .landedElsewhere, node: other.node,
                    epoch: other.epoch,
                    mailed: [])
            case .unconfirmed(_, let reason):
                throw .ledger("the landing claim of \(convoy.id) was not confirmed by the ledger remote (\(reason))")
            case .refused(let why):
                // Landed meanwhile (closed by the winner's write that the claim's sync brought in).
                if let current = ledger.bead(convoy.id), current.status == .closed {
                    return ConvoyLandResult(
                        convoy: convoy.id, name: convoy.title, outcome: .alreadyLanded,
                        node: current.metadataString(ConvoyKey.landedBy) ?? "", epoch: 0, mailed: [])
                }
                throw .ledger("cannot claim the landing of \(convoy.id): \(why)")
            }
            // The claim's syncs may have brought news: land only what is still complete.
            guard let claimed = ledger.bead(convoy.id) else { throw .noSuchConvoy(name: reference, known: []) }
            let view = ConvoyCore.view(claimed, facts: facts(ledger: ledger, rigs: rigs))
            if let refusal = ConvoyCore.refusal(view) {
                let id = convoy.id
                _ = try? await ledger.batch(routing: id) { _ throws(LedgerError) in
                    [.release(id: id, assignee: ConvoyKey.lander), .update(id: id, fields: [.status(.open)])]
                }
                throw .convoyRefused(refusal)
            }
            let mail = ConvoyCore.landingMail(view, node: node)
            let reason = ConvoyCore.landingReason(view, node: node)
            let subscribers = view.notify
            let id = convoy.id
            let actor = self.actor
            let time = Timestamp(unixNanos: LedgerDatabaseSettings.systemWallClock())
            try await ledger.batch(routing: id) { hq throws(LedgerError) in
                var changes: [LedgerChange] = [
                    .setMetadata(id: id, key: ConvoyKey.landedBy, value: .string(node)),
                    .release(id: id, assignee: ConvoyKey.lander), .close(id: id, reason: reason),
                ]
                var taken = Set<String>()
                for (index, recipient) in subscribers.enumerated() {
                    var spec = NewBead(title: String(mail.subject.prefix(500)))
                    spec.issueType = .message
                    spec.assignee = recipient
                    spec.description = mail.body
                    spec.metadata = [
                        JSONMember("from", .string(AgentAddress.mayor)), JSONMember("to", .string(recipient)),
                        JSONMember("convoy", .string(id)),
                    ]
                    do throws(BeadIDError) {
                        spec.explicitID = try BeadID.mint(
                            prefix: "hq", title: spec.title, description: "\(recipient)#\(index)", creator: actor,
                            createdAt: time, existingCount: hq.count,
                            isTaken: { hq.bead($0) != nil || taken.contains($0) })
                    } catch { throw .idMinting(error) }
                    taken.insert(spec.explicitID!)
                    let op = try hq.prepareCreate(
                        spec, actor: AgentAddress.mayor, stamp: HLCStamp(wallMillis: 0, node: ""), time: time)
                    if case .create(let bead, let cycles) = op.change {
                        changes.append(.create(bead, allowCycles: cycles))
                    }
                }
                return changes
            }
            if let engine { _ = try? await engine.sync(ledger.database) }
            events.record(
                "convoy_landed",
                [
                    "convoy": id, "name": view.name, "beads": view.tracked.map(\.id).joined(separator: ","),
                    "epoch": String(lease.epoch), "mailed": subscribers.joined(separator: ","),
                ])
            for recipient in subscribers {
                events.record("mail", ["from": AgentAddress.mayor, "to": recipient, "subject": mail.subject])
            }
            return ConvoyLandResult(
                convoy: id, name: view.name, outcome: .landed, node: node, epoch: lease.epoch, mailed: subscribers)
        }
    }

    /// The node's automatic landing: every open convoy that is complete, landed through the claim (`landConvoy`).
    /// Returns what was landed here or found landed elsewhere; a convoy whose landing failed is skipped (tried again
    /// at the next round), its error given to `failed`.
    /// `takeOver` says for which convoys a landing claim held by another node is taken over.
    public func landCompleteConvoys(
        engine: LedgerSync? = nil, takeOver: (String) -> Bool = { _ in false },
        failed: (String, TownError) -> Void = { _, _ in }
    )
        async throws(TownError) -> [ConvoyLandResult]
    {
        let ready = try await convoys().filter(\.landable).map(\.id)
        var results: [ConvoyLandResult] = []
        for id in ready {
            do throws(TownError) {
                results.append(try await landConvoy(id, engine: engine, takeOver: takeOver(id)))
            } catch {
                failed(id, error)
            }
        }
        return results
    }

    /// `gt convoy launch <convoy>`: marks it launched and slings the beads that are ready now (the wave
    /// `ConvoyWaves.plan` picks within the rigs' free polecat slots), each through `slinger` (default
    /// `slingHere`: `gt sling` on this node). A sling that fails counts a failure for its bead; a bead with three
    /// failures (slings, merge requests sent back) is set aside with a message. The node slings the next waves as
    /// blockers close (`continueLaunchedConvoys`); without a node, run it again.
    public func launchConvoy(
        _ reference: String, runtime: String? = nil, slinger: ConvoySlinger = TownWorkflow.slingHere
    ) async throws(TownError) -> ConvoyLaunchResult {
        let id: String = try await withLedger { ledger throws(TownError) in
            let convoy = try resolveConvoy(reference, ledger: ledger)
            guard convoy.status != .closed else {
                throw .convoyRefused("convoy \(convoy.id) (\(convoy.title)) already landed: there is nothing to launch")
            }
            if !ConvoyCore.isLaunched(convoy) {
                try await ledger.setMetadata(convoy.id, [(ConvoyKey.launched, .bool(true))])
                events.record("convoy_launch", ["convoy": convoy.id, "name": convoy.title])
            }
            return convoy.id
        }
        return try await launchWave(id, runtime: runtime, slinger: slinger)
    }

    /// One wave of every launched, open convoy (the node's patrol). A convoy whose wave failed is skipped (tried
    /// again at the next round), its error given to `failed`.
    public func continueLaunchedConvoys(
        slinger: ConvoySlinger = TownWorkflow.slingHere, failed: (String, TownError) -> Void = { _, _ in }
    ) async throws(TownError) -> [ConvoyLaunchResult] {
        let launched = try await withLedger(mode: .read) { ledger throws(TownError) in
            convoyBeads(ledger).filter { $0.status != .closed && ConvoyCore.isLaunched($0) }.map(\.id)
        }
        var results: [ConvoyLaunchResult] = []
        for id in launched {
            do throws(TownError) {
                results.append(try await launchWave(id, runtime: nil, slinger: slinger))
            } catch {
                failed(id, error)
            }
        }
        return results
    }

    /// Plans one wave of convoy `id` from the ledger, records what it sets aside, slings the rest (outside the
    /// ledger: each sling opens it itself) and records failed slings.
    func launchWave(
        _ id: String, runtime: String?, slinger: ConvoySlinger
    ) async throws(TownError)
        -> ConvoyLaunchResult
    {
        let rigs = try rigConfigs()
        let (view, plan) = try await withLedger { ledger throws(TownError) -> (ConvoyView, ConvoyWaves.Plan) in
            let convoy = try resolveConvoy(id, ledger: ledger)
            let view = ConvoyCore.view(convoy, facts: facts(ledger: ledger, rigs: rigs))
            var priorities: [String: Int] = [:]
            for bead in view.tracked { priorities[bead.id] = ledger.bead(bead.id)?.priority }
            var capacity: [String: Int] = [:]
            for rig in rigs.values {
                let busy = polecats(rig: rig, in: ledger).filter { !$0.isIdle }.count
                capacity[rig.name] = max(0, (rig.maxPolecats ?? settings.maxPolecatsPerRig) - busy)
            }
            let plan = ConvoyWaves.plan(ConvoyCore.waveItems(view, priorities: priorities), capacity: capacity)
            if !plan.setAside.isEmpty {
                var aside = ConvoyCore.setAside(convoy)
                for entry in plan.setAside { aside[entry.id] = entry.message }
                try await ledger.setMetadata(
                    convoy.id, [(ConvoyKey.setAside, Self.object(aside.mapValues(JSONValue.string)))])
                for entry in plan.setAside {
                    events.record(
                        "convoy_set_aside", ["convoy": convoy.id, "bead": entry.id, "message": entry.message])
                }
            }
            return (view, plan)
        }
        var slung: [SlingResult] = []
        var failed: [ConvoyLaunchResult.Failure] = []
        var queued: [ConvoyWaves.Waiting] = []
        let rigOf = Dictionary(view.tracked.map { ($0.id, $0.rig) }, uniquingKeysWith: { first, _ in first })
        for bead in plan.sling {
            do throws(TownError) {
                let rig = rigOf[bead].flatMap { $0.isEmpty ? nil : $0 }
                if let result = try await slinger(self, bead, rig, runtime) {
                    slung.append(result)
                } else {
                    queued.append(.init(id: bead, blockers: [], reason: "queued by the Mayor until a node has room"))
                }
            } catch {
                let count = try await withLedger { ledger throws(TownError) -> Int in
                    guard let convoy = ledger.bead(id) else { return 0 }
                    var counts = ConvoyCore.failures(convoy)
                    counts[bead, default: 0] += 1
                    try await ledger.setMetadata(id, [(ConvoyKey.failures, Self.object(counts.mapValues { .int($0) }))])
                    return (view.tracked.first { $0.id == bead }?.failures ?? 0) + 1
                }
                events.record("convoy_sling_failed", ["convoy": id, "bead": bead, "error": error.description])
                failed.append(.init(bead: bead, error: error.description, failures: count))
            }
        }
        return ConvoyLaunchResult(
            convoy: view.id, name: view.name, slung: slung, failed: failed, setAside: plan.setAside,
            waiting: plan.waiting + queued, finished: plan.finished, stuck: plan.stuck && slung.isEmpty)
    }

    // MARK: - Ledger reading

    /// A JSON object from a dictionary, keys sorted.
    static func object(_ values: [String: JSONValue]) -> JSONValue {
        .object(values.sorted { $0.key < $1.key }.map { JSONMember($0.key, $0.value) })
    }

    /// Every convoy bead of the town (not deleted), oldest first.
    func convoyBeads(_ ledger: TownLedger) -> [Bead] {
        ledger.beads(scope: "hq") { $0.issueType == .convoy && $0.status != .tombstone }
            .sorted { ($0.createdAt.unixNanos, $0.id) < ($1.createdAt.unixNanos, $1.id) }
    }

    /// The convoy `reference` names: its ID, or its name (an open one before a landed one).
    func resolveConvoy(_ reference: String, ledger: TownLedger) throws(TownError) -> Bead {
        let all = convoyBeads(ledger)
        if let bead = all.first(where: { $0.id == reference }) { return bead }
        let named = all.filter { $0.title == reference }
        if let open = named.first(where: { $0.status != .closed }) ?? named.last { return open }
        if let bead = ledger.bead(reference), bead.status != .tombstone {
            throw .convoyRefused(
                "\(reference) is \(bead.issueType.rawValue == "" ? "a bead" : "a \(bead.issueType.rawValue)"), not a convoy"
            )
        }
        throw .noSuchConvoy(
            name: reference, known: all.filter { $0.status != .closed }.map { "\($0.id) (\($0.title))" })
    }

    /// The IDs of `beads` a convoy may track, in order without repeats: each must be a bead of the town (any
    /// scope) that is not a convoy, message, agent or merge request.
    func checkTrackable(_ beads: [String], ledger: TownLedger) throws(TownError) -> [String] {
        var out: [String] = []
        for id in beads {
            guard let bead = ledger.bead(id), bead.status != .tombstone else { throw .noSuchBead(id) }
            if [IssueType.convoy, .message, .agent, .mergeRequest].contains(bead.issueType) {
                throw .convoyRefused(
                    "\(id) is a \(bead.issueType.rawValue), not work a convoy can track; track tasks, bugs, features, "
                        + "chores or epics")
            }
            if !out.contains(bead.id) { out.append(bead.id) }
        }
        return out
    }

    /// The facts of every bead any convoy tracks: the bead, its rig, its merge requests (its own and its
    /// reworks'), its open blockers.
    func facts(ledger: TownLedger, rigs: [String: RigConfig]) -> [TrackedFacts] {
        let tracked = Set(convoyBeads(ledger).flatMap(ConvoyCore.trackedIDs))
        let rigByPrefix = Dictionary(rigs.values.map { ($0.beads.prefix, $0.name) }, uniquingKeysWith: { a, _ in a })
        var requestsByScope: [String: [String: [Bead]]] = [:]
        func requests(scope: String) -> [String: [Bead]] {
            if let known = requestsByScope[scope] { return known }
            var bySource: [String: [Bead]] = [:]
            let all = ledger.beads(scope: scope) { $0.issueType == .mergeRequest && $0.status != .tombstone }
            for request in all {
                guard let source = request.metadataString(ConvoyKey.sourceBead) else { continue }
                bySource[source, default: []].append(request)
                // A rework's requests count for the bead it reworks.
                if let root = ledger.bead(source)?.metadataString(ConvoyKey.reworkOf), root != source {
                    bySource[root, default: []].append(request)
                }
            }
            requestsByScope[scope] = bySource
            return bySource
        }
        return tracked.sorted().map { id in
            guard let bead = ledger.bead(id), let scope = ledger.scope(of: id) else {
                return TrackedFacts(id: id, bead: nil)
            }
            let blockers = bead.dependencies.filter { $0.type.affectsReadyWork && $0.type != .parentChild }
                .compactMap { edge -> String? in
                    guard let blocker = ledger.bead(edge.dependsOnID), blocker.status != .closed,
                        blocker.status != .tombstone
                    else { return nil }
                    return blocker.id
                }
            return TrackedFacts(
                id: id, bead: bead, mergeRequests: requests(scope: scope)[bead.id] ?? [], openBlockers: blockers,
                rig: rigByPrefix[scope] ?? "")
        }
    }
}
