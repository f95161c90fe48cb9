import Beads
import Foundation
import Git
import LedgerStore
import Membership
import Scheduling
import Town
import Transport
import Wire

/// The Mayor of a node (docs/scheduling.md): places slung beads on the cluster's nodes and admits the beads other
/// nodes' Mayors place here.
///
/// - Placing (`place`, called by `gt sling` run inside the node): the bead's needs, the cluster's policy
///   (town.json `placement`) and every member's gossiped metadata go through `Scheduling.Placement`; the nodes are
///   asked in its order (`mayor-admit`, 300) until one admits; none → the bead is queued in
///   `<town>/.gt/mayor-queue.json` and placed again when membership reports room.
/// - Admitting (`mayor-admit` from a peer, or this node's own pick): a slot is reserved for 15 s and published in
///   the membership metadata at once, then the town's `sling` runs here; its claim is synced to the ledger remote
///   before the worktree and session are made (`TownWorkflow.afterClaim`), so a claim that lost to another node's
///   never starts a session.
/// - Publishing: every tick the node's slots, running agents (beads hooked here), reservations and rigs go into
///   its membership metadata.
/// - Failover: a member reported dead for the grace period (on this node's monotonic clock, `Takeover`) has its
///   hooked beads re-slung with `force` (new epoch, so its late `gt done` is refused), each by the one live node
///   rendezvous hashing picks (`Placer`).
///
/// `Sendable`: an actor.
public actor Mayor: NodeComponent {
    public nonisolated let name = "mayor"
    public nonisolated var messageTypes: [MessageDescriptor] { MayorMessageType.descriptors }

    /// Settings, with documented defaults. `Sendable`: plain values.
    public struct Settings: Sendable {
        /// How long an admission's reserved slot is held when the sling does not finish. Default 15 s.
        public var reservation: Duration = .seconds(15)
        /// How often metadata is published, the queue retried and dead nodes checked. Default 1 s.
        public var tick: Duration = .seconds(1)
        /// How long a placer waits for a target's admission (a sling makes a worktree and syncs). Default 120 s.
        public var admitTimeout: TimeInterval = 120
        public init() {}
    }

    let membership: MembershipComponent
    let ledger: NodeLedgerHandle
    let settings: Settings
    var context: NodeContext?
    var config = MayorConfig()
    /// Beads admitted here whose sling has not finished: expiry on the monotonic clock (nanoseconds).
    var reservations: [String: Int64] = [:]
    var queue: [MayorQueueEntry] = []
    /// When each member was first seen dead or left while a majority was in view (the majority rule, DESIGN §6).
    var deaths = DeathWatch()
    /// Beads being placed right now (a sling or a failover in flight), so a tick does not place them twice.
    var inFlight: Set<String> = []
    var failedOver: [String] = []
    /// The lease epoch each bead this node re-slung from a dead node was admitted at. Until this node's ledger has
    /// caught up with that epoch the bead still reads as the dead node's, and must not be re-slung again (which
    /// would force a second epoch over the first re-sling's live session).
    var failoverEpochs: [String: Int] = [:]
    var random = SystemRandomNumberGenerator()

    public init(membership: MembershipComponent, ledger: NodeLedgerHandle, settings: Settings = Settings()) {
        self.membership = membership
        self.ledger = ledger
        self.settings = settings
    }

    // MARK: Registry (a command run inside the node finds its Mayor)

    nonisolated(unsafe) private static var registry: [String: Mayor] = [:]
    private static let registryLock = NSLock()

    /// The Mayor running in this process for the town at `root`, if any.
    public static func running(town root: String) -> Mayor? {
        let key = URL(fileURLWithPath: root).standardizedFileURL.path
        return registryLock.withLock { registry[key] }
    }

    // MARK: Life cycle

    public func start(in context: NodeContext) async throws {
        self.context = context
        let town = context.town
        let config = MayorConfig(context.townFile)
        let queue = try await NodeBlocking.run { () throws -> [MayorQueueEntry] in
            let queuePath = Mayor.queuePath(town)
            return try FileManager.default.contents(atPath: queuePath).map {
                try JSONDecoder().decode([MayorQueueEntry].self, from: $0)
            } ?? []
        }
        self.config = config
        self.queue = queue
        let key = URL(fileURLWithPath: town.root).standardizedFileURL.path
        Self.registryLock.withLock { Self.registry[key] = self }
    }

    public func run() async throws {
        while !Task.isCancelled {
            await tick()
            try await Task.sleep(for: settings.tick)
        }
        throw CancellationError()
    }

    public func stop() async {
        guard let context else { return }
        let key = URL(fileURLWithPath: context.town.root).standardizedFileURL.path
        Self.registryLock.withLock {
            if Self.registry[key] === self { Self.registry[key] = nil }
        }
    }

    public func handle(_ message: InboundMessage) async throws -> [UInt8] {
        switch message.envelope.type {
        case MayorMessageType.admit:
            guard message.peer.purpose != .local else {
                throw ErrorReply(code: .refused, message: "mayor-admit comes from peers; use gt sling")
            }
            let request = try MayorAdmitRequest.decode(message.envelope.body)
            return NodeJSON.encode(await admit(request))
        case MayorMessageType.queue:
            guard message.peer.purpose == .local else {
                throw ErrorReply(code: .refused, message: "mayor-queue is local only")
            }
            return NodeJSON.encode(queueReport())
        case MayorMessageType.drain:
            guard message.peer.purpose == .local else {
                throw ErrorReply(code: .refused, message: "mayor-drain is local only: run gt node drain on the node")
            }
            let request = try NodeJSON.decode(MayorDrainRequest.self, from: message.envelope.body)
            return NodeJSON.encode(try await drain(request))
        case MayorMessageType.status:
            guard message.peer.purpose == .local else {
                throw ErrorReply(code: .refused, message: "mayor-status is local only")
            }
            return NodeJSON.encode(await clusterStatus())
        case MayorMessageType.remove:
            guard message.peer.purpose == .local else {
                throw ErrorReply(code: .refused, message: "mayor-remove is local only: run gt node remove on a node")
            }
            let request = try NodeJSON.decode(MayorRemoveRequest.self, from: message.envelope.body)
            return NodeJSON.encode(try await remove(request))
        case MayorMessageType.nudge:
            guard message.peer.purpose != .local else {
                throw ErrorReply(code: .refused, message: "mayor-nudge comes from peers; use gt nudge")
            }
            let request = try MayorNudgeRequest.decode(message.envelope.body)
            guard let context else { throw ErrorReply(code: .unavailable, message: "the Mayor is not running") }
            do {
                let session = try await makeWorkflow(context).nudge(agent: request.agent, text: request.text)
                context.events.record("nudge-received", ["agent": request.agent, "from": request.from])
                return NodeJSON.encode(MayorNudgeReply(node: me, agent: request.agent, session: session))
            } catch let error as TownError {
                throw ErrorReply(code: .refused, message: "\(me): \(error.description)")
            } catch {
                throw ErrorReply(code: .refused, message: "\(me): \(error)")
            }
        default:
            throw ErrorReply(code: .unknownMessageType, message: "mayor does not handle \(message.envelope.type)")
        }
    }

    static func queuePath(_ town: TownPaths) -> String { town.root + "/.gt/mayor-queue.json" }

    var me: String { context?.name.rawValue ?? "" }

    static func monotonic() -> Int64 { Int64(clamping: DispatchTime.now().uptimeNanoseconds) }

    // MARK: Placing

    /// Why a placement was refused outright (nothing was changed). `Sendable`: a plain value.
    public struct Refusal: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// The queue and the beads this node re-slung, for `gt sling --queue` and tests.
    public func queueReport() -> MayorQueueReport {
        MayorQueueReport(node: me, queued: queue, failedOver: failedOver)
    }

    /// Whether this node runs in a cluster of more than one member (then `gt sling` without a rig places here).
    public func inCluster() async -> Bool {
        guard let shell = membership.shell else { return false }
        return await shell.members.count > 1
    }

    /// The names of the cluster's members (any status).
    public func memberNames() async -> [String] {
        guard let shell = membership.shell else { return [] }
        return await shell.members.map(\.name).sorted()
    }

    /// Places `bead` (`gt sling <bead>` in a cluster): on `node` when named (an unknown node is refused, nothing
    /// changed), else where `Placement` says, trying the next node after each refusal; queued when no node can
    /// take it now. A policy that keeps it off every node, or a bead that cannot be slung at all (missing, closed,
    /// held), is a `Refusal`.
    public func place(
        bead id: String, rig requestedRig: String?, runtime: String?, require: [String: String], node: String?,
        base: String? = nil
    ) async throws(Refusal) -> MayorPlacement {
        guard let context else { throw Refusal(message: "the Mayor is not running") }
        let bead = try await checkSlingable(id)
        let rig = requestedRig ?? rigName(for: bead)
        let request = MayorAdmitRequest(bead: bead.id, rig: rig, runtime: runtime, placer: me, base: base)
        if let node {
            let names = await memberNames()
            guard names.contains(node) else {
                throw Refusal(
                    message: "no node \(node) in the cluster (members: \(names.joined(separator: ", "))); "
                        + "see gt node list")
            }
            await pushLedger()
            let reply = await ask(node, request, context: context)
            if reply.admitted { return placement(reply, tried: []) }
            throw Refusal(message: "node \(node) refused \(bead.id): \(reply.reason)")
        }
        let outcome = await outcome(for: request, require: require)
        if outcome.policyExcludesAll {
            throw Refusal(message: "cannot place \(bead.id) (rig \(rig)): \(outcome.refusal); see town.json placement")
        }
        guard inFlight.insert(bead.id).inserted else {
            throw Refusal(message: "\(bead.id) is being placed already")
        }
        defer { inFlight.remove(bead.id) }
        if !outcome.placeable {
            return await enqueue(
                request, require: require, reason: outcome.refusal, rateLimitedUntil: outcome.rateLimitedUntil)
        }
        await pushLedger()
        var tried: [String] = []
        for target in outcome.order(using: &random) {
            if !tried.isEmpty {
                // A candidate that refused may have claimed the bead and released it again (its claim did not
                // reach the remote in time): push this node's copy so the next candidate's sync sees the release.
                await pushLedger()
            }
            let reply = await ask(target, request, context: context)
            if reply.admitted {
                removeFromQueue(bead.id)
                return placement(reply, tried: tried)
            }
            tried.append("\(target): \(reply.reason)")
            if reply.final {
                // Final on the first try: the bead itself cannot be slung. After another candidate refused, the
                // "final" state may be that candidate's own claim, released but not yet synced: queue and retry.
                guard tried.count > 1 else {
                    throw Refusal(message: "\(target) refused \(bead.id): \(reply.reason)")
                }
                break
            }
        }
        return await enqueue(request, require: require, reason: "every candidate refused: " + tried.joined(separator: "; "))
    }

    func placement(_ reply: MayorAdmitReply, tried: [String]) -> MayorPlacement {
        MayorPlacement(
            status: "admitted", bead: reply.bead, rig: reply.rig, node: reply.node, polecat: reply.polecat,
            epoch: reply.epoch, branch: reply.branch, session: reply.session, runtime: reply.runtime,
            reason: tried.joined(separator: "; "), tried: tried)
    }

    /// The placement of `request` with the cluster as membership sees it now.
    func outcome(for request: MayorAdmitRequest, require: [String: String]) async -> Placement.Outcome {
        let runtime = request.runtime.flatMap { text -> String? in
            let name = text.split(separator: ":", maxSplits: 1).first.map(String.init) ?? text
            return name == "exec" ? nil : name
        }
        var want = Placement.Request(bead: request.bead, rig: request.rig, runtime: runtime, require: require)
        want.accountRuntime = accountRuntime(request)
        var candidates = await candidates()
        let now = Self.wallClock()
        let limits = await clusterLimits(now: now)
        if let database = ledger.database, let bead = Self.bead(request.bead, in: database) {
            want.labels = Placement.skillLabels(bead.labels)
            if !want.labels.isEmpty {
                let records = Self.records(labels: want.labels, nodes: candidates.map(\.name), in: database)
                for i in candidates.indices { candidates[i].records = records[candidates[i].name] ?? [:] }
            }
        }
        return Placement.place(want, policy: config.policy, candidates: candidates, limits: limits, now: now)
    }

    /// Capability routing's input: the CVs of every polecat in the shared ledger, for `labels`, summed per node
    /// (a polecat `<node>-<name>` belongs to the longest member name that prefixes it) and runtime.
    static func records(labels: [String], nodes: [String], in database: LedgerDatabase)
        -> [String: [Placement.RecordKey: Placement.Record]]
    {
        let polecats = database.read { state in
            state.scopes.values.flatMap { scope in
                scope.beads.values.filter { $0.issueType == .agent && $0.labels.contains(PolecatState.agentLabel) }
                    .compactMap(PolecatState.init(bead:)).filter { !$0.record.isEmpty }
            }
        }
        return records(labels: labels, nodes: nodes, polecats: polecats)
    }

    /// The records of `polecats` for `labels`, summed per node and runtime (the polecats no node prefixes, such
    /// as those of a town slung without a cluster, count for none).
    static func records(labels: [String], nodes: [String], polecats: [PolecatState])
        -> [String: [Placement.RecordKey: Placement.Record]]
    {
        let wanted = Set(labels)
        let byLength = nodes.sorted { $0.count != $1.count ? $0.count > $1.count : $0 < $1 }
        var out: [String: [Placement.RecordKey: Placement.Record]] = [:]
        for polecat in polecats {
            guard let node = byLength.first(where: { polecat.name.hasPrefix($0 + "-") }) else { continue }
            for entry in polecat.record where wanted.contains(entry.label) {
                let key = Placement.RecordKey(label: entry.label, runtime: entry.runtime)
                out[node, default: [:]][key] = (out[node]?[key] ?? Placement.Record()) + entry.placementRecord
            }
        }
        return out
    }

    /// Every member as a placement candidate (this node with its fresh local numbers).
    func candidates() async -> [Placement.Candidate] {
        guard let shell = membership.shell else { return [] }
        let local = await localCapacity()
        return await shell.members.map { member in
            let md = member.metadata
            var labels = Placement.RateLimits.split(md.labels.custom).labels
            for (key, value) in [
                ("org", md.labels.org), ("region", md.labels.region), ("os", md.labels.os), ("gpu", md.labels.gpu),
            ] {
                if let value { labels[key] = value }
            }
            var candidate = Placement.Candidate(
                name: member.name, alive: member.status == .alive || member.status == .suspect, labels: labels,
                slots: Int(md.freeSlots) + Int(md.runningAgents) + Int(md.reservedSlots),
                running: Int(md.runningAgents), reserved: Int(md.reservedSlots), rigs: Set(md.rigs),
                runtimes: Set(md.runtimes), draining: md.draining, loadMilli: Int(md.loadAverageMilli),
                freeMemory: md.freeMemoryBytes)
            if member.name == me {
                candidate.slots = local.slots
                candidate.running = local.running
                candidate.reserved = local.reserved
                candidate.rigs = Set(local.rigs)
            }
            return candidate
        }
    }

    /// Asks `target` (this node: directly) to admit; a transport failure is a refusal naming it.
    func ask(_ target: String, _ request: MayorAdmitRequest, context: NodeContext) async -> MayorAdmitReply {
        if target == me { return await admit(request) }
        guard let name = try? NodeName(target) else { return .refused(request, node: target, "not a node name") }
        if context.box.peerTable[name]?.1.contains(.general) != true,
            let member = await membership.shell?.member(named: target),
            let address = try? PeerAddress(parsing: member.node.address)
        {
            await context.addPeer(name, at: address, purposes: [.general])
        }
        do {
            let envelope = try await context.request(
                MayorMessageType.admit, body: NodeJSON.encode(request), to: name, timeout: settings.admitTimeout)
            return try NodeJSON.decode(MayorAdmitReply.self, from: envelope.body)
        } catch {
            return .refused(request, node: target, "unreachable: \(error)")
        }
    }

    /// Queues the bead (durably) and says so.
    func enqueue(
        _ request: MayorAdmitRequest, require: [String: String], reason: String, rateLimitedUntil: Double? = nil
    ) async -> MayorPlacement {
        let entry = MayorQueueEntry(
            bead: request.bead, rig: request.rig, runtime: request.runtime, require: require, reason: reason,
            queuedAt: ISO8601DateFormatter().string(from: Date()), base: request.base)
        if let until = rateLimitedUntil {
            // Queued for a rate limit: the queue places it again once the limit has reset (each tick re-places).
            context?.events.record(
                "mayor-rate-limited",
                ["bead": request.bead, "rig": request.rig, "until": Placement.RateLimits.utc(until), "reason": reason])
        }
        if let index = queue.firstIndex(where: { $0.bead == request.bead }) {
            queue[index] = entry
        } else {
            queue.append(entry)
            context?.events.record("mayor-queued", ["bead": request.bead, "rig": request.rig, "reason": reason])
        }
        await saveQueue()
        return MayorPlacement(
            status: "queued", bead: request.bead, rig: request.rig, node: "", polecat: "", epoch: 0, branch: "",
            session: "", runtime: request.runtime ?? "", reason: reason, tried: [])
    }

    func removeFromQueue(_ bead: String) {
        guard queue.contains(where: { $0.bead == bead }) else { return }
        queue.removeAll { $0.bead == bead }
        Task { await saveQueue() }
    }

    func saveQueue() async {
        guard let context else { return }
        let path = Self.queuePath(context.town)
        let data = (try? JSONEncoder().encode(queue)) ?? Data("[]".utf8)
        _ = try? await NodeBlocking.run { () throws in
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        }
    }

    // MARK: The bead, from the ledger

    func database() async -> LedgerDatabase? { await ledger.waitForDatabase(timeout: 30) }

    static func bead(_ id: String, in database: LedgerDatabase) -> Bead? {
        database.read { state in
            guard let scope = state.scope(forID: id) else { return nil }
            return state.scopes[scope]?.bead(id)
        }
    }

    /// The bead, refused when it cannot be slung at all (nothing is changed).
    func checkSlingable(_ id: String) async throws(Refusal) -> Bead {
        guard let database = await database() else { throw Refusal(message: "the town ledger is not open") }
        if let freeze = Self.freeze(in: database) { throw Refusal(message: freeze.refusal) }
        guard let bead = Self.bead(id, in: database), bead.status != .tombstone else {
            throw Refusal(message: "no bead \(id): see bd list")
        }
        guard bead.status != .closed else { throw Refusal(message: "\(id) is closed: reopen it with bd reopen \(id)") }
        guard bead.assignee.isEmpty else {
            throw Refusal(
                message: "\(id) is held by \(bead.assignee)\(bead.claimNode.isEmpty ? "" : " on \(bead.claimNode)"); "
                    + "release it with gt release \(id) first")
        }
        return bead
    }

    /// The cluster's freeze record when it is frozen (`gt estop`): nothing is placed, admitted or failed over.
    static func freeze(in database: LedgerDatabase) -> FreezeRecord? {
        guard let record = FreezeRecord.read(bead(FreezeRecord.beadID, in: database)), record.frozen else { return nil }
        return record
    }

    /// The rig of the bead: the local rig whose prefix is the bead's scope, else the scope itself.
    func rigName(for bead: Bead) -> String {
        let scope = bead.id.split(separator: "-").first.map(String.init) ?? bead.id
        guard let context else { return scope }
        let rigs = MembershipComponent.rigs(context.town)
        return rigs.values.first { $0.beads.prefix == scope }?.name ?? scope
    }

    /// Pushes local writes (the bead) to the ledger remote so the target sees it; errors are left to the target.
    func pushLedger() async {
        guard let context, let sync = LedgerSyncComponent.running(store: context.town.root + "/.beads") else { return }
        _ = try? await sync.syncNow()
    }

    // MARK: Admitting

    /// This node's slots, running agents, reservations and rigs, fresh.
    func localCapacity() async -> (slots: Int, running: Int, reserved: Int, rigs: [String]) {
        guard let context else { return (0, 0, 0, []) }
        let now = Self.monotonic()
        reservations = reservations.filter { $0.value > now }
        let rigs = MembershipComponent.rigs(context.town)
        let slots = config.slots ?? Int(MembershipComponent.slots(rigs))
        let me = self.me
        var running = 0
        if let database = ledger.database {
            let reserved = Set(reservations.keys)
            running = database.read { state in
                var count = 0
                for scope in state.scopes.values {
                    for bead in scope.beads.values
                    where bead.claimNode == me && bead.assignee.contains("/polecats/")
                        && (bead.status == .hooked || bead.status == .inProgress) && !reserved.contains(bead.id)
                    {
                        count += 1
                    }
                }
                return count
            }
        }
        return (slots, running, reservations.count, rigs.keys.sorted())
    }

    /// Admits `request` here or says why not: reserves a slot (published at once), syncs the ledger if the bead is
    /// not here yet, runs the town's sling (its claim synced before the session starts), frees the reservation.
    public func admit(_ request: MayorAdmitRequest) async -> MayorAdmitReply {
        guard let context else { return .refused(request, node: "", "the Mayor is not running") }
        if let database = ledger.database, let freeze = Self.freeze(in: database) {
            return .refused(request, node: me, freeze.refusal, final: true)
        }
        if await membership.shell?.metadata.draining == true {
            return .refused(request, node: me, "\(me) is draining")
        }
        let capacity = await localCapacity()
        guard capacity.rigs.contains(request.rig) else {
            return .refused(request, node: me, "\(me) has no rig \(request.rig)")
        }
        if reservations[request.bead] != nil { return .refused(request, node: me, "\(request.bead) is being admitted") }
        guard capacity.slots - capacity.running - capacity.reserved > 0 else {
            return .refused(
                request, node: me,
                "\(me) is full (\(capacity.slots) slots, \(capacity.running) running, \(capacity.reserved) reserved)")
        }
        reservations[request.bead] = Self.monotonic() + Takeover.nanoseconds(settings.reservation)
        await publish()
        defer {
            reservations[request.bead] = nil
            Task { await self.publish() }
        }
        let sync = LedgerSyncComponent.running(store: context.town.root + "/.beads")
        // A bead missing here, taken over, or still held in this node's copy (released elsewhere a moment ago,
        // gt node drain --move) is synced first.
        if let database = await database(),
            Self.bead(request.bead, in: database).map({ !$0.assignee.isEmpty }) ?? true || request.force
        {
            _ = try? await sync?.syncNow()
        }
        do {
            var workflow = try await makeWorkflow(context)
            let me = self.me
            let handle = ledger
            workflow.afterClaim = { bead, epoch in
                guard let sync else { return }
                let reply = try await sync.syncNow()
                if !reply.errors.isEmpty {
                    throw TownError.ledger("the claim of \(bead) did not reach the ledger remote: "
                        + reply.errors.joined(separator: "; "))
                }
                guard let database = handle.database, let now = Mayor.bead(bead, in: database) else { return }
                guard now.claimNode == me, now.leaseEpoch == epoch else {
                    throw TownError.ledger(
                        "the claim of \(bead) at epoch \(epoch) lost to \(now.assignee) on \(now.claimNode) "
                            + "(epoch \(now.leaseEpoch))")
                }
            }
            let base = await baseCommit(request, context: context)
            let result = try await workflow.sling(
                bead: request.bead, rig: request.rig, runtime: request.runtime, force: request.force, base: base)
            context.events.record(
                "mayor-admit",
                [
                    "bead": result.bead, "rig": result.rig, "polecat": result.polecat, "epoch": String(result.epoch),
                    "placer": request.placer, "force": String(request.force),
                ])
            return MayorAdmitReply(
                admitted: true, node: me, bead: result.bead, rig: result.rig, polecat: result.polecat,
                epoch: result.epoch, branch: result.branch, session: result.session, runtime: result.runtime)
        } catch let error as TownError {
            context.log.warning("admit of a placed bead failed", ["bead": request.bead, "placer": request.placer, "error": error.description])
            return .refused(request, node: me, error.description, final: Self.isFinal(error))
        } catch {
            context.log.warning("admit of a placed bead failed", ["bead": request.bead, "placer": request.placer, "error": "\(error)"])
            return .refused(request, node: me, "\(error)")
        }
    }

    /// The commit of the request's base branch, fetched from the rig's remote into the rig's repository (nil
    /// when none is asked or it cannot be fetched: the work then starts from the default branch, with a warning).
    func baseCommit(_ request: MayorAdmitRequest, context: NodeContext) async -> String? {
        guard let branch = request.base else { return nil }
        let bare = TownLayout(root: context.town.root).bareRepository(request.rig)
        do {
            let repository = try await GitRepository.open(at: bare)
            let tracking = "refs/remotes/origin/gt-base/\(branch)"
            _ = try await repository.fetch(from: "origin", refspecs: ["+refs/heads/\(branch):\(tracking)"])
            return try await repository.resolve(tracking)?.hex
        } catch {
            context.log.warning("mayor: base branch not fetched", ["bead": request.bead, "branch": branch])
            return nil
        }
    }

    /// A refusal about the bead itself, which no other node would get past.
    static func isFinal(_ error: TownError) -> Bool {
        switch error {
        case .noSuchBead, .beadClosed, .beadHooked, .beadClaimed, .notWork, .badRuntime: return true
        default: return false
        }
    }

    func makeWorkflow(_ context: NodeContext) async throws -> TownWorkflow {
        let executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var workflow = try await TownWorkflow(
            layout: TownLayout(root: context.town.root), actor: "mayor", gtExecutable: executable)
        workflow.heldLedger = ledger
        workflow.polecatNamespace = me
        let log = context.log
        workflow.warning = { log.warning("town ledger", ["detail": $0]) }
        return workflow
    }

    // MARK: The tick: publish, queue, failover

    /// Publishes this node's capacity in its membership metadata (a no-op when nothing changed).
    func publish() async {
        guard let shell = membership.shell else { return }
        let capacity = await localCapacity()
        let free = UInt32(clamping: max(0, capacity.slots - capacity.running - capacity.reserved))
        let running = UInt32(clamping: capacity.running)
        let reserved = UInt32(clamping: capacity.reserved)
        let rigs = capacity.rigs
        let now = Self.wallClock()
        let own = context.map { RateLimitBoard.board(town: $0.town.root).own } ?? []
        try? await shell.updateMetadata { md in
            // This node's rate-limited accounts ride in its custom labels (reserved `gt.rate-limit.` keys).
            let labels = Placement.RateLimits.split(md.labels.custom).labels
            md.labels.custom = labels.merging(
                Placement.RateLimits.labels(Self.ownLimits(own, labels: labels, now: now)), uniquingKeysWith: { a, _ in a })
            md.freeSlots = free
            md.runningAgents = running
            md.reservedSlots = reserved
            md.rigs = rigs
        }
    }

    func tick() async {
        await publish()
        noteClusterLimits(await clusterLimits(now: Self.wallClock()))
        // A frozen cluster (gt estop) places nothing: the queue waits, dead nodes' beads stay where they are.
        if let database = ledger.database, Self.freeze(in: database) != nil { return }
        await retryQueue()
        await failover()
    }

    /// Places queued beads that have room now, oldest first; one that can no longer be slung leaves the queue.
    func retryQueue() async {
        guard let context, !queue.isEmpty else { return }
        for entry in queue where !inFlight.contains(entry.bead) {
            let request = MayorAdmitRequest(
                bead: entry.bead, rig: entry.rig, runtime: entry.runtime, placer: me, base: entry.base)
            guard let database = ledger.database else { return }
            let bead = Self.bead(entry.bead, in: database)
            guard let bead, bead.status != .closed, bead.status != .tombstone, bead.assignee.isEmpty else {
                removeFromQueue(entry.bead)
                context.events.record("mayor-unqueued", ["bead": entry.bead, "reason": "no longer slingable"])
                continue
            }
            let outcome = await outcome(for: request, require: entry.require)
            guard outcome.placeable else { continue }
            inFlight.insert(entry.bead)
            await pushLedger()
            var refused = 0
            for target in outcome.order(using: &random) {
                // As in `place`: a candidate that refused may have claimed and released the bead; push the release.
                if refused > 0 { await pushLedger() }
                let reply = await ask(target, request, context: context)
                if reply.admitted {
                    removeFromQueue(entry.bead)
                    context.events.record("mayor-placed", ["bead": entry.bead, "node": reply.node, "from": "queue"])
                    break
                }
                refused += 1
                if reply.final {
                    // Final on the first try: the bead cannot be slung, and the queue says so. After another
                    // refusal it may be that candidate's released claim: keep it queued for the next round.
                    if refused == 1 {
                        removeFromQueue(entry.bead)
                        context.events.record(
                            "mayor-unqueued", ["bead": entry.bead, "reason": reply.reason, "node": reply.node])
                        context.log.warning(
                            "a queued bead cannot be slung: left the queue", ["bead": entry.bead, "reason": reply.reason])
                    }
                    break
                }
            }
            inFlight.remove(entry.bead)
        }
    }

    /// Re-slings the hooked beads of members dead for the grace period, each by its rendezvous placer.
    func failover() async {
        guard let context, let shell = membership.shell, let database = ledger.database else { return }
        let now = Self.monotonic()
        let members = await shell.members
        var live: [String] = []
        var view: [String: DeathWatch.Status] = [:]
        for member in members {
            switch member.status {
            case .alive, .suspect:
                live.append(member.name)
                view[member.name] = .alive
            case .dead: view[member.name] = .dead
            case .left: view[member.name] = .left
            }
        }
        switch deaths.observe(view, now: now) {
        case .majorityLost(let alive, let counted):
            context.log.warning(
                "no majority in view: not taking over dead members' work until one is",
                ["alive": String(alive), "members": String(counted)])
            context.events.record("mayor-no-majority", ["alive": String(alive), "members": String(counted)])
        case .majorityRegained(let alive, let counted):
            context.log.info(
                "a majority is in view again: dead members' grace periods start now",
                ["alive": String(alive), "members": String(counted)])
        case nil: break
        }
        guard deaths.seesMajority, !deaths.deadSince.isEmpty else { return }
        let dead = deaths.deadSince
        let orphans: [Bead] = database.read { state in
            var out: [Bead] = []
            for scope in state.scopes.values {
                for bead in scope.beads.values
                where dead[bead.claimNode] != nil && bead.assignee.contains("/polecats/")
                    && (bead.status == .hooked || bead.status == .inProgress)
                {
                    out.append(bead)
                }
            }
            return out.sorted { $0.id < $1.id }
        }
        var settings = Takeover.Settings()
        settings.grace = config.grace
        for bead in orphans where !inFlight.contains(bead.id) {
            if let admitted = failoverEpochs[bead.id], bead.leaseEpoch < admitted { continue }
            let lease = Lease(holder: bead.assignee, node: bead.claimNode, epoch: bead.leaseEpoch)
            guard let since = dead[bead.claimNode],
                Takeover.decide(lease: lease, liveness: .dead(since: since), now: now, settings: settings) == .takeOver,
                Placer.owner(of: bead.id, slungBy: nil, live: live) == me
            else { continue }
            let rig = bead.assignee.split(separator: "/").first.map(String.init) ?? rigName(for: bead)
            var request = MayorAdmitRequest(bead: bead.id, rig: rig, placer: me)
            request.force = true
            inFlight.insert(bead.id)
            let outcome = await outcome(for: request, require: [:])
            var admitted = false
            for target in outcome.order(using: &random) {
                let reply = await ask(target, request, context: context)
                if reply.admitted {
                    admitted = true
                    failedOver.append(bead.id)
                    failoverEpochs[bead.id] = reply.epoch
                    context.events.record(
                        "mayor-failover",
                        [
                            "bead": bead.id, "from": bead.claimNode, "to": reply.node, "epoch": String(reply.epoch),
                        ])
                    context.log.info("re-slung a dead node's bead", ["bead": bead.id, "from": bead.claimNode, "to": reply.node])
                    break
                }
            }
            if !admitted {
                context.log.warning("could not re-sling a dead node's bead yet", ["bead": bead.id, "from": bead.claimNode])
            }
            inFlight.remove(bead.id)
        }
    }
}
