import Beads
import Foundation
import Git
import LedgerStore
import Scheduling
import Town
import Transport
import Wire

/// Message types the local CLI sends the node's federation component for delegation.
extension MessageType {
    /// `gt delegate <bead> --to <org>`: local request; body = `LocalDelegateRequest`; answer = the receiver's
    /// `FederatedDelegateReply` (after this node recorded it on the bead).
    public static let federationLocalDelegate = MessageType(rawValue: 403)
}

/// What `gt delegate` asks its node: delegate local bead `bead` to organization `organization`, landing in the
/// receiver's rig `rig` (empty: the receiver picks), with acceptance gate `gate`, budget and deadline.
///
/// Body: organization short string, bead short string, rig short string, gate string, budget u32 (thousandths of an
/// agent-hour; 0 none), deadline u64 (Unix seconds; 0 none), return-to string (a git remote; empty: the bead's rig's
/// remote). `Sendable`: a plain value.
public struct LocalDelegateRequest: Equatable, Sendable {
    public var organization: String
    public var bead: String
    public var rig: String
    public var gate: String
    public var budgetMilliHours: UInt32
    public var deadline: UInt64
    public var returnTo: String

    public init(
        organization: String, bead: String, rig: String, gate: String, budgetMilliHours: UInt32, deadline: UInt64,
        returnTo: String = ""
    ) {
        self.returnTo = returnTo
        self.organization = organization
        self.bead = bead
        self.rig = rig
        self.gate = gate
        self.budgetMilliHours = budgetMilliHours
        self.deadline = deadline
    }

    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.writeShort(organization)
        writer.writeShort(bead)
        writer.writeShort(rig)
        writer.write(gate)
        writer.write(budgetMilliHours)
        writer.write(deadline)
        writer.write(returnTo)
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(WireError) -> LocalDelegateRequest {
        var reader = BinaryReader(bytes)
        let value = LocalDelegateRequest(
            organization: try reader.readShortString("organization"), bead: try reader.readShortString("bead"),
            rig: try reader.readShortString("rig"), gate: try reader.readString("gate"),
            budgetMilliHours: try reader.readUInt32("budget"), deadline: try reader.readUInt64("deadline"),
            returnTo: try reader.readString("return_to"))
        try reader.expectEnd()
        return value
    }
}

/// The `delegation` metadata a delegated bead carries, on either side: the record the node's patrol rebuilds the
/// pure state machines (`Scheduling.Delegation`) from. JSON object: `role` (requester | receiver), `peer`,
/// `state`, `origin`, `gate`, `deadline` (Unix seconds, 0 none), `budget_hours` (0 none), `remote` (requester: the
/// receiver's linked bead), `reason` (a refusal). `Sendable`: a plain value.
struct DelegationRecord: Sendable, Equatable {
    static let key = "delegation"
    var role: String
    var peer: String
    var state: Delegation.State
    var origin: String
    var gate: String
    var deadline: Int64
    var budgetHours: Double
    var remote = ""
    /// Unix seconds when the receiver took it (0: not yet): agent-hours are counted from here, on both sides.
    var acceptedAt: Int64 = 0
    var reason = ""
    /// The git remote the receiver pushes the finished branch to.
    var returnTo = ""

    var request: Delegation.Request {
        Delegation.Request(
            origin: origin, gate: gate, budgetHours: budgetHours > 0 ? budgetHours : nil,
            deadline: deadline > 0 ? deadline : nil)
    }

    var json: JSONValue {
        var members = [
            JSONMember("role", .string(role)), JSONMember("peer", .string(peer)),
            JSONMember("state", .string(state.rawValue)), JSONMember("origin", .string(origin)),
            JSONMember("gate", .string(gate)), JSONMember("deadline", .number(String(deadline))),
            JSONMember("budget_hours", .number(String(budgetHours))),
            JSONMember("accepted_at", .number(String(acceptedAt))),
        ]
        if !remote.isEmpty { members.append(JSONMember("remote", .string(remote))) }
        if !reason.isEmpty { members.append(JSONMember("reason", .string(reason))) }
        if !returnTo.isEmpty { members.append(JSONMember("return_to", .string(returnTo))) }
        return .object(members)
    }

    init(
        role: String, peer: String, state: Delegation.State, request: Delegation.Request, remote: String = "",
        reason: String = ""
    ) {
        self.role = role
        self.peer = peer
        self.state = state
        origin = request.origin
        gate = request.gate
        deadline = request.deadline ?? 0
        budgetHours = request.budgetHours ?? 0
        self.remote = remote
        self.reason = reason
    }

    init?(_ bead: Bead) {
        guard let value = bead.metadataValue(Self.key), let role = value["role"]?.stringValue,
            let peer = value["peer"]?.stringValue,
            let state = value["state"]?.stringValue.flatMap(Delegation.State.init),
            let origin = value["origin"]?.stringValue, let gate = value["gate"]?.stringValue
        else { return nil }
        func number(_ key: String) -> Double {
            if case .number(let text)? = value[key] { return Double(text) ?? 0 }
            return 0
        }
        self.role = role
        self.peer = peer
        self.state = state
        self.origin = origin
        self.gate = gate
        deadline = Int64(number("deadline"))
        budgetHours = number("budget_hours")
        remote = value["remote"]?.stringValue ?? ""
        reason = value["reason"]?.stringValue ?? ""
        returnTo = value["return_to"]?.stringValue ?? ""
        acceptedAt = Int64(number("accepted_at"))
    }

    /// The requester's state machine in this record's (non-final) state.
    var requester: Delegation.Requester {
        var machine = Delegation.Requester(request: request, peer: peer)
        if state != .requested { _ = machine.onAccepted(remoteBead: remote) }
        if state == .returned { _ = machine.onBranchReturned("", now: Int64.min) }
        return machine
    }

    /// The receiver's state machine in this record's (non-final) state, for linked bead `id`.
    func receiver(_ id: String) -> Delegation.Receiver {
        var machine = Delegation.Receiver(request: request, peer: peer)
        _ = machine.onLinkedBeadCreated(id)
        if state == .returned { _ = machine.onWorkDone(branch: "", now: Int64.min) }
        return machine
    }

    /// The bead id at the end of the origin's `hop://org/rig/id`.
    var originBead: String { String(origin.split(separator: "/").last ?? "") }
}

extension FederationComponent {
    /// The assignee a bead delegated to `org` is held by on the requester's side, so our own nodes leave it alone.
    static func delegatedAssignee(_ org: String) -> String { "federation/\(org)" }
    /// The label of a linked bead recorded for a delegation from `org`.
    static func delegatedFromLabel(_ org: String) -> String { "delegated-from:\(org)" }

    static func unixNow() -> Int64 { Int64(Date().timeIntervalSince1970) }

    // MARK: Requester

    /// `gt delegate`: sends `local` to its organization and records the outcome on the bead.
    public func delegate(_ local: LocalDelegateRequest) async throws -> FederatedDelegateReply {
        guard let ledger, let database = await ledger.waitForDatabase(timeout: 5), let context else {
            throw ErrorReply(code: .unavailable, message: "the ledger of this node is not open; retry")
        }
        try await reload(force: false)
        guard let name = try? OrganizationName(local.organization), let entry = outbound[name] else {
            let known = peers.isEmpty ? "none added yet" : peers.map(\.organization.rawValue).joined(separator: ", ")
            throw ErrorReply(
                code: .badRequest,
                message:
                    "unknown organization '\(local.organization.prefix(63))' (known: \(known)); add its bundle with `gt federation add`"
            )
        }
        let town = context.town
        let rigs = try await NodeBlocking.run { () throws(TownError) in
            try RigRegistry(layout: TownLayout(root: town.root)).rigs()
        }
        let found: (scope: String, bead: Bead)? = database.read { state in
            for (scope, led) in state.scopes {
                if let bead = led.bead(led.resolve(local.bead)) { return (scope, bead) }
            }
            return nil
        }
        guard let (scope, bead) = found else {
            throw ErrorReply(code: .badRequest, message: "no bead \(local.bead) in this town's ledger")
        }
        guard bead.status != .closed else { throw ErrorReply(code: .badRequest, message: "\(bead.id) is closed") }
        if let record = DelegationRecord(bead), !record.state.isFinal {
            throw ErrorReply(
                code: .badRequest,
                message: "\(bead.id) is already delegated to \(record.peer) (\(record.state.rawValue))")
        }
        guard bead.assignee.isEmpty else {
            throw ErrorReply(
                code: .badRequest, message: "\(bead.id) is held by \(bead.assignee); unsling it before delegating it")
        }
        let rigName = rigs.first(where: { $0.value.prefix == scope })?.key ?? scope
        let returnTo = local.returnTo.isEmpty ? (rigs[rigName]?.gitURL ?? "") : local.returnTo
        guard !returnTo.isEmpty else {
            throw ErrorReply(
                code: .badRequest,
                message:
                    "\(bead.id) is in no rig with a git remote: name where the branch comes back with --return-to URL")
        }
        let request = Delegation.Request(
            origin: "hop://\(organization)/\(rigName)/\(bead.id)", gate: local.gate,
            budgetHours: local.budgetMilliHours > 0 ? Double(local.budgetMilliHours) / 1000 : nil,
            deadline: local.deadline > 0 ? Int64(local.deadline) : nil)
        var requester = Delegation.Requester(request: request, peer: local.organization)
        // The request is checked here as the receiver will check it, so a malformed one is refused before sending.
        if case .badRequest(let reason)? = Delegation.admit(
            request, allowance: Delegation.Allowance(mayDelegate: true), now: Self.unixNow())
        {
            throw ErrorReply(code: .badRequest, message: reason)
        }
        let wire = FederatedDelegateRequest(
            origin: request.origin, rig: local.rig, title: bead.title, description: bead.description, gate: local.gate,
            budgetMilliHours: local.budgetMilliHours, deadline: local.deadline, returnTo: returnTo)
        let reply = try await sendDelegation(wire, to: entry.peer, manager: entry.manager)
        var directives = requester.start().filter { if case .send = $0 { return false } else { return true } }
        switch reply.outcome {
        case .accepted: directives += requester.onAccepted(remoteBead: reply.bead)
        case .refused: directives += requester.onRefused(.badRequest(reply.reason))
        case .budgetExhausted: directives += requester.onBudgetExhausted()
        }
        var record = DelegationRecord(
            role: "requester", peer: local.organization, state: requester.state, request: request,
            remote: reply.outcome == .accepted ? "hop://\(local.organization)/\(reply.rig)/\(reply.bead)" : "",
            reason: reply.reason)
        record.returnTo = returnTo
        if reply.outcome == .accepted { record.acceptedAt = Self.unixNow() }
        record.state = requester.state
        try await carryOut(directives, requester: record, bead: bead.id, scope: scope)
        context.events.record(
            "delegation",
            ["bead": bead.id, "to": local.organization, "state": requester.state.rawValue, "remote": reply.bead])
        return reply
    }

    /// Sends one delegation to `peer`, trying its bundle's endpoints in order.
    func sendDelegation(
        _ request: FederatedDelegateRequest, to peer: PeerOrganization, manager: ConnectionManager
    )
        async throws -> FederatedDelegateReply
    {
        let body = try await send(.federatedDelegate, request.encoded(), to: peer, manager: manager)
        do { return try FederatedDelegateReply.decode(body) } catch {
            throw ErrorReply(
                code: .internalError, message: "organization \(peer.organization) answered garbage: \(error)")
        }
    }

    /// Sends one request of `type` to `peer`, trying its bundle's endpoints in order; the answer's body.
    func send(
        _ type: MessageType, _ body: [UInt8], to peer: PeerOrganization, manager: ConnectionManager
    )
        async throws -> [UInt8]
    {
        var failures: [String] = []
        for endpoint in peer.endpoints {
            guard let node = try? NodeName(endpoint.node), let address = try? PeerAddress(parsing: endpoint.address)
            else { continue }
            await manager.addPeer(node, at: address)
            do {
                return try await manager.request(type, body: body, to: node, timeout: 10).body
            } catch let error as TransportError {
                if case .remoteError(let reply) = error { throw reply }
                failures.append("\(node) at \(address): \(error)")
            }
        }
        throw ErrorReply(
            code: .unavailable,
            message:
                "organization \(peer.organization) is unreachable: \(failures.isEmpty ? "its bundle lists no endpoint" : failures.joined(separator: "; "))"
        )
    }

    /// Carries out a requester's directives on local bead `id` (in `scope`): the record, the hold, the release,
    /// the merge request for the Refinery, reputation, and the verdict to the receiver. `runGate` is the caller's
    /// (the return patrol runs the gate and feeds its result back).
    func carryOut(
        _ directives: [Delegation.Requester.Directive], requester record: DelegationRecord, bead id: String,
        scope: String
    )
        async throws
    {
        guard let database = ledger?.database else { return }
        var changes: [LedgerChange] = []
        let holder = Self.delegatedAssignee(record.peer)
        let node = context?.name.rawValue ?? ""
        var verdicts: [Delegation.Verdict] = []
        var mergeRequest: Bead?
        for directive in directives {
            switch directive {
            case .record(let state):
                var updated = record
                updated.state = state
                changes.append(.setMetadata(id: id, key: DelegationRecord.key, value: updated.json))
                if state == .accepted {
                    changes.append(.claim(id: id, assignee: holder, node: node, expectedEpoch: nil))
                }
            case .releaseBead:
                changes.append(.release(id: id, assignee: holder))
                changes.append(.update(id: id, fields: [.status(.open)]))
            case .count(let count):
                bumpReputation(record.peer, count.rawValue)
            case .recordGateOutput(let output):
                changes.append(
                    .addComment(
                        id: id,
                        Comment(
                            id: 0, issueID: id, author: "federation/",
                            text: "acceptance gate of the work returned by \(record.peer) failed:\n" + output,
                            createdAt: Timestamp(unixMillis: Int64(Date().timeIntervalSince1970 * 1000)))))
            case .merge(let branch):
                // The Refinery merges it like a polecat's work: a merge request for the returned branch, then the
                // hold is released as `gt done` releases its hook.
                mergeRequest = try await fileMergeRequest(bead: id, scope: scope, branch: branch, peer: record.peer)
                if let request = mergeRequest {
                    changes.append(.setMetadata(id: id, key: "merge_request", value: .string(request.id)))
                    changes.append(.release(id: id, assignee: holder))
                }
            case .tell(let verdict):
                verdicts.append(verdict)
            case .send, .runGate:
                break
            }
        }
        if !changes.isEmpty {
            let list = changes
            _ = try await NodeBlocking.run { () throws(LedgerDatabaseError) -> [Bead?] in
                try database.write(scope: scope, routing: id, actor: "federation/") { ledger in
                    guard let current = ledger.bead(id) else { return [] }
                    // A release applies only while our delegation hold is on it (a refused delegation was never held).
                    return list.filter {
                        if case .release = $0 { return current.assignee == holder }
                        return true
                    }
                }
            }
        }
        if mergeRequest != nil { ledger?.workFiled(scopes: [scope]) }
        for verdict in verdicts { await tell(verdict, origin: record.origin, peer: record.peer) }
    }

    /// Files the merge request of a returned, accepted branch in rig scope `scope`, as `gt done` files a polecat's.
    func fileMergeRequest(bead id: String, scope: String, branch: String, peer: String) async throws -> Bead? {
        guard let context, let database = ledger?.database else { return nil }
        let workflow = try await TownWorkflow.forComponent(context, actor: "federation/", ledger: ledger)
        let configs = try workflow.rigConfigs()
        guard let rig = configs.values.first(where: { $0.beads.prefix == scope }) else {
            throw ErrorReply(code: .internalError, message: "no rig has scope \(scope)")
        }
        let repository = try await GitRepository.open(at: GitRemoteURL.localPath(rig.gitURL))
        guard let commit = try await repository.referenceTarget("refs/heads/" + branch) else {
            throw ErrorReply(code: .internalError, message: "branch \(branch) is gone from \(rig.gitURL)")
        }
        let current = database.read { $0.scopes[scope]?.bead(id) }
        let epoch = current?.leaseEpoch ?? 0
        let title = current?.title ?? id
        var spec = NewBead(title: String("Merge \(id): \(title)".prefix(500)))
        spec.explicitID = "\(id)-mr-\(peer)-e\(epoch)"
        spec.issueType = .mergeRequest
        spec.assignee = "\(rig.name)/refinery"
        spec.priority = current?.priority ?? 2
        spec.description = """
            branch: \(branch)
            target: \(rig.defaultBranch)
            source_issue: \(id)
            commit: \(commit.hex)
            lease_epoch: \(epoch)
            worker: federation/\(peer)
            """
        spec.metadata = [
            JSONMember("branch", .string(branch)), JSONMember("commit", .string(commit.hex)),
            JSONMember("lease_epoch", .number(String(epoch))), JSONMember("source_bead", .string(id)),
            JSONMember("target", .string(rig.defaultBranch)), JSONMember("worker", .string("federation/\(peer)")),
        ]
        let made = spec
        return try await NodeBlocking.run { () throws(LedgerDatabaseError) -> Bead? in
            if let existing = database.read({ $0.scopes[scope]?.bead(made.explicitID!) }) { return existing }
            return try database.write(scope: scope, routing: nil) { (ledger, clock) throws(LedgerError) -> LedgerOp in
                try ledger.prepareCreate(made, actor: "federation/\(peer)", stamp: clock.stamp, time: clock.time)
            }.bead
        }
    }

    /// Tells `peer` how the delegation of `origin` ended (logged when it cannot be reached: its own deadline and
    /// budget still end the work there).
    func tell(_ verdict: Delegation.Verdict, origin: String, peer: String) async {
        guard let name = try? OrganizationName(peer), let entry = outbound[name] else { return }
        let message: FederatedDelegationVerdict
        switch verdict {
        case .accepted: message = FederatedDelegationVerdict(origin: origin, verdict: 0)
        case .rejected(let output):
            message = FederatedDelegationVerdict(origin: origin, verdict: 1, output: String(output.suffix(60_000)))
        case .withdrawn(let state):
            message = FederatedDelegationVerdict(origin: origin, verdict: state == .budgetExhausted ? 3 : 2)
        }
        do {
            _ = try await send(.federatedDelegationVerdict, message.encoded(), to: entry.peer, manager: entry.manager)
        } catch {
            context?.log.warning(
                "delegation verdict not delivered", ["organization": peer, "origin": origin, "error": "\(error)"])
        }
    }

    func bumpReputation(_ org: String, _ count: String) {
        guard let directory else { return }
        do { try directory.bump(org, count) } catch {
            context?.log.warning("reputation not recorded", ["organization": org, "error": "\(error)"])
        }
    }

    // MARK: Receiver

    /// Answers a peer's delegation: admits it under its policy and budgets, records the linked bead in our ledger
    /// and slings it on our nodes.
    func serveDelegation(_ message: InboundMessage, from peer: PeerOrganization) async throws -> [UInt8] {
        let wire: FederatedDelegateRequest
        do { wire = try FederatedDelegateRequest.decode(message.envelope.body) } catch {
            throw ErrorReply(code: .badRequest, message: "bad delegation: \(error)")
        }
        guard let context, let ledger, let database = await ledger.waitForDatabase(timeout: 5) else {
            throw ErrorReply(code: .unavailable, message: "the ledger of \(organization) is not open; retry")
        }
        let org = peer.organization.rawValue
        let request = Delegation.Request(
            origin: wire.origin, gate: wire.gate,
            budgetHours: wire.budgetMilliHours > 0 ? Double(wire.budgetMilliHours) / 1000 : nil,
            deadline: wire.deadline > 0 ? Int64(wire.deadline) : nil)
        let label = Self.delegatedFromLabel(org)
        let now = Self.unixNow()
        let (inProgress, hoursUsed): (Int, Double) = database.read { state in
            let linked = state.scopes.values.flatMap { $0.list().filter { $0.labels.contains(label) } }
            let open = linked.filter { $0.status != .closed }.count
            let spans = linked.compactMap { bead -> (Int64, Int64?)? in
                guard let record = DelegationRecord(bead), record.acceptedAt > 0 else { return nil }
                return (record.acceptedAt, bead.closedAt.map { $0.unixNanos / 1_000_000_000 })
            }
            return (open, Self.agentHours(spans, now: now))
        }
        let allowance = Delegation.Allowance(
            mayDelegate: peer.policy.delegate, concurrentBeads: peer.policy.budgets.concurrentBeads,
            agentHours: peer.policy.budgets.agentHours, inProgress: inProgress, hoursUsed: hoursUsed)
        if let refusal = Delegation.admit(request, allowance: allowance, now: Self.unixNow()) {
            context.events.record(
                "delegation_refused", ["organization": org, "origin": wire.origin, "reason": "\(refusal)"])
            let outcome: FederatedDelegateReply.Outcome
            switch refusal {
            case .concurrentBeads, .agentHours: outcome = .budgetExhausted
            default: outcome = .refused
            }
            return FederatedDelegateReply(
                outcome: outcome, reason: "organization \(organization) refused: \(refusal)"
            ).encoded()
        }
        let town = context.town
        let rigs = try await NodeBlocking.run { () throws(TownError) in
            try RigRegistry(layout: TownLayout(root: town.root)).rigs()
        }
        let rigName: String
        if !wire.rig.isEmpty {
            guard rigs[wire.rig] != nil else {
                return FederatedDelegateReply(
                    outcome: .refused,
                    reason:
                        "organization \(organization) has no rig '\(wire.rig)' (rigs: \(rigs.keys.sorted().joined(separator: ", ")))"
                ).encoded()
            }
            rigName = wire.rig
        } else if rigs.count == 1 {
            rigName = rigs.keys.first!
        } else {
            return FederatedDelegateReply(
                outcome: .refused,
                reason:
                    "organization \(organization) has \(rigs.count) rigs (\(rigs.keys.sorted().joined(separator: ", "))): name one with --rig"
            ).encoded()
        }
        let prefix = rigs[rigName]!.prefix
        var receiver = Delegation.Receiver(request: request, peer: org)
        var receiverRecord = DelegationRecord(role: "receiver", peer: org, state: .accepted, request: request)
        receiverRecord.returnTo = wire.returnTo
        receiverRecord.acceptedAt = Self.unixNow()
        var spec = NewBead(title: String(wire.title.prefix(500)))
        spec.description =
            "Delegated by organization \(org) (\(wire.origin)).\nAcceptance gate, run by \(org) on the returned branch: "
            + wire.gate + (wire.description.isEmpty ? "" : "\n\n" + wire.description)
        spec.labels = ["delegated", label]
        spec.externalRef = wire.origin
        spec.metadata = [
            JSONMember(DelegationRecord.key, receiverRecord.json)
        ]
        let newBead = spec
        let created: Bead?
        do {
            created = try await NodeBlocking.run { () throws(LedgerDatabaseError) -> Bead? in
                try database.write(scope: prefix, routing: nil) { (ledger, clock) throws(LedgerError) -> LedgerOp in
                    try ledger.prepareCreate(newBead, actor: "federation/\(org)", stamp: clock.stamp, time: clock.time)
                }.bead
            }
        } catch {
            throw ErrorReply(
                code: .internalError, message: "organization \(organization) could not record the delegation: \(error)")
        }
        guard let bead = created else {
            throw ErrorReply(code: .internalError, message: "the ledger did not return the new bead")
        }
        for directive in receiver.start() {
            if case .count(let count) = directive { bumpReputation(org, count.rawValue) }
        }
        let slings = receiver.onLinkedBeadCreated(bead.id)
        context.events.record(
            "delegation_accepted", ["organization": org, "origin": wire.origin, "bead": bead.id, "rig": rigName])
        for case .sling(let id) in slings { scheduleSling(id, rig: rigName) }
        return FederatedDelegateReply(outcome: .accepted, bead: bead.id, rig: rigName).encoded()
    }

    /// Slings a linked bead on our own nodes, after the reply is sent (a sling starts a session: seconds). A failed
    /// sling leaves the bead open and ready in our ledger, for our own nodes to take as any other.
    nonisolated func scheduleSling(_ id: String, rig: String) {
        Task {
            guard let context = await self.context else { return }
            do {
                let workflow = try await TownWorkflow.forComponent(context, actor: "federation/", ledger: self.ledger)
                let slinger = await self.slinger ?? Mayor.convoySlinger(town: context.town.root)
                let result = try await slinger(workflow, id, rig, nil)
                context.log.info(
                    "delegated bead slung", ["bead": id, "polecat": result.map { "\($0.polecat)" } ?? "queued"])
            } catch {
                context.log.warning("delegated bead not slung; it stays ready", ["bead": id, "error": "\(error)"])
            }
        }
    }

    // MARK: Deadlines and budgets

    /// Agent-hours of delegated work: each span from its acceptance to its close (or `now`), in hours. Wall-clock
    /// time the work was out, an upper bound of what the agents spent (one polecat per delegated bead).
    public static func agentHours(_ spans: [(acceptedAt: Int64, closedAt: Int64?)], now: Int64) -> Double {
        spans.reduce(0) { total, span in
            total + Double(max(0, min(span.closedAt ?? now, now) - span.acceptedAt)) / 3600
        }
    }

    /// One pass: every delegation past its deadline expires, and every one still worked on past its own
    /// agent-hours budget (`--budget`, counted from its acceptance) ends as budget_exhausted, on either side: both
    /// sides hold the same absolute deadline and acceptance time, so neither needs the other to be reachable.
    func expireDelegations(now: Int64) async {
        guard let database = ledger?.database else { return }
        let due: [(String, Bead, DelegationRecord)] = database.read { state in
            var out: [(String, Bead, DelegationRecord)] = []
            for (scope, led) in state.scopes {
                for bead in led.list() {
                    guard let record = DelegationRecord(bead), !record.state.isFinal else { continue }
                    let late = record.deadline > 0 && now >= record.deadline
                    let spent =
                        record.state == .accepted && record.budgetHours > 0 && record.acceptedAt > 0
                        && Self.agentHours([(record.acceptedAt, nil)], now: now) >= record.budgetHours
                    if late || spent { out.append((scope, bead, record)) }
                }
            }
            return out
        }
        for (scope, bead, record) in due {
            let hours = Self.agentHours([(record.acceptedAt, nil)], now: now)
            do {
                if record.role == "requester" {
                    var requester = record.requester
                    var directives = requester.onTick(now: now)
                    if directives.isEmpty, record.budgetHours > 0, hours >= record.budgetHours {
                        directives = requester.onBudgetExhausted()
                    }
                    var updated = record
                    updated.state = requester.state
                    try await carryOut(directives, requester: updated, bead: bead.id, scope: scope)
                } else {
                    var receiver = record.receiver(bead.id)
                    var directives = receiver.onTick(now: now)
                    if directives.isEmpty { directives = receiver.onHoursUsed(hours) }
                    try await carryOut(directives, receiver: record, state: receiver.state, bead: bead, scope: scope)
                }
                context?.log.info("delegation ended", ["bead": bead.id, "peer": record.peer, "role": record.role])
                context?.events.record(
                    "delegation_ended", ["bead": bead.id, "peer": record.peer, "role": record.role])
            } catch {
                context?.log.warning("delegation expiry not recorded", ["bead": bead.id, "error": "\(error)"])
            }
        }
    }

    /// Carries out a receiver's directives on linked bead `bead`.
    func carryOut(
        _ directives: [Delegation.Receiver.Directive], receiver record: DelegationRecord, state: Delegation.State,
        bead: Bead, scope: String
    ) async throws {
        guard let database = ledger?.database else { return }
        var updated = record
        updated.state = state
        var changes: [LedgerChange] = [.setMetadata(id: bead.id, key: DelegationRecord.key, value: updated.json)]
        var stopped = false
        for directive in directives {
            switch directive {
            case .count(let count): bumpReputation(record.peer, count.rawValue)
            case .stopWork:
                // `gt release`: the polecat's session stops, it goes idle, and the lease epoch goes up so its late
                // `gt done` is refused.
                guard let context, !bead.assignee.isEmpty || bead.status == .hooked || bead.status == .inProgress
                else { continue }
                do {
                    let workflow = try await TownWorkflow.forComponent(context, actor: "federation/", ledger: ledger)
                    _ = try await workflow.release(bead: bead.id, reason: "the delegation from \(record.peer) ended")
                    stopped = true
                } catch {
                    context.log.warning("delegated work not stopped", ["bead": bead.id, "error": "\(error)"])
                }
            case .closeLinkedBead(let reason):
                if !stopped && !bead.assignee.isEmpty {
                    changes.append(.release(id: bead.id, assignee: bead.assignee))
                }
                changes.append(.close(id: bead.id, reason: reason))
            case .createLinkedBead, .sling, .returnBranch, .tellBudgetExhausted:
                // Done where the delegation is admitted and returned; nothing is left for them here.
                break
            }
        }
        let list = changes
        let id = bead.id
        _ = try await NodeBlocking.run { () throws(LedgerDatabaseError) -> [Bead?] in
            try database.write(scope: scope, routing: id, actor: "federation/") { _ in list }
        }
    }
}
