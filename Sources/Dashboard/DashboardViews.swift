import Beads
import Foundation
import LedgerStore
import Membership
import Node
import Town

/// The JSON shapes of the API's non-ledger routes (docs/openapi.yaml), built from the node's memory.
///
/// `Sendable`: immutable references to `Sendable` parts; the workflow is made once, under its actor.
final class DashboardViews: Sendable {
    let context: NodeContext
    let ledger: NodeLedgerHandle
    let membership: MembershipComponent?
    let witness: WitnessCache
    let workflow: WorkflowHolder

    init(context: NodeContext, ledger: NodeLedgerHandle, membership: MembershipComponent?, witness: WitnessCache) {
        self.context = context
        self.ledger = ledger
        self.membership = membership
        self.witness = witness
        workflow = WorkflowHolder(context: context, ledger: ledger)
    }

    struct NodeView: Encodable {
        var name: String
        var listen: String
        var pid: Int32
        var startedAt: String
        var uptimeSeconds: Int
        var holdsCA: Bool
        var warnings: [String]
        var scopes: [String]
        var localWrites: UInt64

        enum CodingKeys: String, CodingKey {
            case name, listen, pid, warnings, scopes
            case startedAt = "started_at"
            case uptimeSeconds = "uptime_seconds"
            case holdsCA = "holds_ca"
            case localWrites = "local_writes"
        }
    }

    func node(startedAt: Date) -> NodeView {
        let database = ledger.database
        return NodeView(
            name: context.name.rawValue, listen: context.listenAddress.description, pid: getpid(),
            startedAt: TownEvents.timestamp(startedAt), uptimeSeconds: Int(Date().timeIntervalSince(startedAt)),
            holdsCA: context.town.pki.holdsCA, warnings: context.warnings.current(),
            scopes: database?.read { $0.scopeNames } ?? [], localWrites: database?.localWriteCount ?? 0)
    }

    struct MemberView: Encodable, Equatable {
        var name: String
        var address: String
        var status: String
        var incarnation: UInt64
        var freeSlots: UInt32
        var runningAgents: UInt32
        var load: Double
        var freeMemoryBytes: UInt64
        var rigs: [String]
        var runtimes: [String]
        var labels: [String: String]
        var version: String
        var draining: Bool
        var isSelf: Bool

        enum CodingKeys: String, CodingKey {
            case name, address, status, incarnation, load, rigs, runtimes, labels, version, draining
            case freeSlots = "free_slots"
            case runningAgents = "running_agents"
            case freeMemoryBytes = "free_memory_bytes"
            case isSelf = "self"
        }
    }

    struct NodesView: Encodable {
        var nodes: [MemberView]
        /// False when the node runs without membership (a one-node town): only itself is listed.
        var membership: Bool
    }

    func nodes() async -> NodesView {
        let me = context.name.rawValue
        guard let shell = membership?.shell else {
            let view = MemberView(
                name: me, address: context.listenAddress.description, status: "alive", incarnation: 0, freeSlots: 0,
                runningAgents: 0, load: 0, freeMemoryBytes: 0, rigs: [], runtimes: [], labels: [:], version: "",
                draining: false, isSelf: true)
            return NodesView(nodes: [view], membership: false)
        }
        let members = await shell.members
        let views = members.map { member -> MemberView in
            let data = member.metadata
            var labels = data.labels.custom
            if let org = data.labels.org { labels["org"] = org }
            if let region = data.labels.region { labels["region"] = region }
            if let os = data.labels.os { labels["os"] = os }
            if let gpu = data.labels.gpu { labels["gpu"] = gpu }
            return MemberView(
                name: member.name, address: member.node.address, status: "\(member.status)",
                incarnation: member.incarnation, freeSlots: data.freeSlots, runningAgents: data.runningAgents,
                load: data.loadAverage, freeMemoryBytes: data.freeMemoryBytes, rigs: data.rigs,
                runtimes: data.runtimes, labels: labels, version: data.softwareVersion, draining: data.draining,
                isSelf: member.name == me)
        }
        return NodesView(nodes: views.sorted { $0.name < $1.name }, membership: true)
    }

    struct RigView: Encodable {
        var name: String
        var prefix: String
        var gitURL: String
        var defaultBranch: String
        var runtime: String?
        var maxPolecats: Int?
        var polecats: Int
        var working: Int
        var openBeads: Int

        enum CodingKeys: String, CodingKey {
            case name, prefix, runtime, polecats, working
            case gitURL = "git_url"
            case defaultBranch = "default_branch"
            case maxPolecats = "max_polecats"
            case openBeads = "open_beads"
        }
    }

    func rigs() async -> [String: [RigView]] {
        let configs = await workflow.rigConfigs()
        let database = ledger.database
        let rigs = configs.values.sorted { $0.name < $1.name }.map { rig -> RigView in
            let counts: (Int, Int, Int) =
                database?.read { state in
                    guard let scope = state.scopes[rig.beads.prefix] else { return (0, 0, 0) }
                    let polecats = scope.list().filter { $0.issueType == .agent }.compactMap(PolecatState.init(bead:))
                        .filter { $0.rig == rig.name }
                    let open = scope.list().filter { $0.status != .closed && $0.issueType != .agent }.count
                    return (polecats.count, polecats.filter { !$0.isIdle }.count, open)
                } ?? (0, 0, 0)
            return RigView(
                name: rig.name, prefix: rig.beads.prefix, gitURL: rig.gitURL, defaultBranch: rig.defaultBranch,
                runtime: rig.runtime, maxPolecats: rig.maxPolecats, polecats: counts.0, working: counts.1,
                openBeads: counts.2)
        }
        return ["rigs": rigs]
    }

    struct PolecatView: Encodable {
        var agent: String
        var rig: String
        var name: String
        var state: String
        var hookBead: String
        var hookTitle: String
        var hookEpoch: Int
        var sessionEpoch: Int
        var runtime: String
        var restarts: Int
        var completed: Int
        var merges: Int
        var failures: Int
        /// The Witness's last verdict on it (`healthy`, `stalled`, …), its action and reason; empty when none.
        var health: String
        var action: String
        var reason: String
        /// What the Witness saw (pane hash, heartbeat age, prompt matched, …).
        var evidence: [String: String]
        /// The last lines of its session the Witness captured, when it kept them.
        var lastOutput: String

        enum CodingKeys: String, CodingKey {
            case agent, rig, name, state, runtime, restarts, completed, merges, failures, health, action, reason
            case evidence
            case hookBead = "hook_bead"
            case hookTitle = "hook_title"
            case hookEpoch = "hook_epoch"
            case sessionEpoch = "session_epoch"
            case lastOutput = "last_output"
        }
    }

    func polecats(_ state: TownLedgerState) -> [String: [PolecatView]] {
        let report = witness.current
        var views: [PolecatView] = []
        for name in state.scopeNames {
            let scope = state.scopes[name]!
            for bead in scope.list() where bead.issueType == .agent && bead.labels.contains(PolecatState.agentLabel) {
                guard let polecat = PolecatState(bead: bead) else { continue }
                let agent = "\(polecat.rig)/polecats/\(polecat.name)"
                let seen = report?.polecats.first { $0.agent == agent }
                let hook = polecat.hookBead.isEmpty ? nil : DashboardLedgerAPI.bead(state, polecat.hookBead)
                let evidence = seen?.evidence ?? [:]
                views.append(
                    PolecatView(
                        agent: agent, rig: polecat.rig, name: polecat.name, state: polecat.state,
                        hookBead: polecat.hookBead, hookTitle: hook?.title ?? "", hookEpoch: polecat.hookEpoch,
                        sessionEpoch: polecat.sessionEpoch, runtime: polecat.runtime, restarts: polecat.restarts,
                        completed: polecat.completed, merges: polecat.merges, failures: polecat.failures,
                        health: seen?.state ?? "", action: seen?.action ?? "", reason: seen?.reason ?? "",
                        evidence: evidence,
                        lastOutput: evidence["pane_tail"] ?? evidence["last_output"] ?? evidence["last_line"] ?? ""))
            }
        }
        return ["polecats": views.sorted { $0.agent < $1.agent }]
    }

    func convoys() async -> [String: [ConvoyView]] { ["convoys": await workflow.convoys()] }

    func mergeQueue() async -> [String: [MQEntry]] { ["merge_requests": await workflow.mergeQueue()] }

    /// The newest 200 messages in the town scope, newest first.
    func mail(_ state: TownLedgerState) -> [String: [MailView]] {
        guard let hq = state.scopes["hq"] else { return ["messages": []] }
        let messages = hq.list().filter { $0.issueType == .message }.sorted {
            ($0.createdAt.unixNanos, $0.id) > ($1.createdAt.unixNanos, $1.id)
        }
        return ["messages": messages.prefix(200).map(MailView.init)]
    }
}

/// The town workflow the convoy and merge-queue views use, on the node's held ledger; made on first use.
///
/// `Sendable`: an actor.
actor WorkflowHolder {
    let context: NodeContext
    let ledger: NodeLedgerHandle
    var workflow: TownWorkflow?
    var rigs: (at: Date, value: [String: RigConfig])?

    init(context: NodeContext, ledger: NodeLedgerHandle) {
        self.context = context
        self.ledger = ledger
    }

    func get() async -> TownWorkflow? {
        if let workflow { return workflow }
        workflow = try? await TownWorkflow.forComponent(context, actor: "dashboard", ledger: ledger)
        return workflow
    }

    /// The rigs' configs, read again at most every 5 s (small files under the town, not the ledger).
    func rigConfigs() async -> [String: RigConfig] {
        if let rigs, Date().timeIntervalSince(rigs.at) < 5 { return rigs.value }
        guard let workflow = await get() else { return [:] }
        let value = await NodeBlocking.run { (try? workflow.rigConfigs()) ?? [:] }
        rigs = (Date(), value)
        return value
    }

    func convoys() async -> [ConvoyView] {
        guard let workflow = await get() else { return [] }
        return (try? await workflow.convoys(all: true)) ?? []
    }

    func mergeQueue() async -> [MQEntry] {
        guard let workflow = await get() else { return [] }
        return (try? await workflow.mqList(rig: nil, all: true)) ?? []
    }
}

/// The Witness's last report (`<town>/.gt/witness/status.json`), re-read by the event feed's poll when the file
/// changed, so a page view reads memory.
///
/// `@unchecked Sendable`: guarded by `lock`.
final class WitnessCache: @unchecked Sendable {
    private let lock = NSLock()
    private var report: WitnessReport?
    private var modified: Date?
    let layout: TownLayout

    init(layout: TownLayout) { self.layout = layout }

    var current: WitnessReport? { lock.withLock { report } }

    /// Re-reads the report when its file changed (called on the feed's queue).
    func refresh() {
        let path = WitnessReport.path(layout)
        let stamp = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
        guard stamp != lock.withLock({ modified }) else { return }
        let fresh = try? WitnessReport.read(layout)
        lock.withLock {
            modified = stamp
            report = fresh ?? nil
        }
    }
}
