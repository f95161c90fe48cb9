import Beads
import Foundation
import Scheduling

/// The ledger shape of a convoy (DESIGN §6), as Gas Town has it: a bead of type `convoy` in the town scope `hq`
/// (ID `hq-cv-<hash>`), titled by the convoy's name, with one `tracks` edge per tracked bead (in any rig's scope).
/// Its subscriptions and launch bookkeeping are metadata keys. A caseless namespace.
public enum ConvoyKey {
    /// Addresses mailed when the convoy lands (an array of strings).
    public static let notify = "convoy_notify"
    /// True once `gt convoy launch` ran: the node keeps slinging its waves.
    public static let launched = "convoy_launched"
    /// Slings that failed, per tracked bead (an object: bead → count).
    public static let failures = "convoy_failures"
    /// Beads the launch set aside, per tracked bead (an object: bead → message).
    public static let setAside = "convoy_set_aside"
    /// The node that landed it.
    public static let landedBy = "landed_by"
    /// The claimant of the landing claim.
    static let lander = "convoy-lander"
    /// The merge-request bead's keys the convoy reads (written by `gt done` and the Refinery, `MQKey` in Node).
    static let mqStatus = "mq_status"
    static let mergeCommit = "merge_commit"
    static let sourceBead = "source_bead"
    static let reworkOf = "rework_of"
    static let mergeRequest = "merge_request"
    /// The prefix of convoy IDs.
    public static let idPrefix = "hq-cv"
}

/// Where one tracked bead is, from the ledger. `Sendable`: a plain value.
public enum TrackedState: String, Sendable, Codable, Hashable {
    /// Not in this town's ledger (yet: a bead of another node not synced here, or a typo that got in by hand).
    case missing
    /// Open, nobody on it, no open blocker.
    case ready
    /// Open, waiting for blockers.
    case blocked
    /// Claimed or hooked: a polecat works on it.
    case working
    /// Its merge request is queued or being tested by the Refinery.
    case review
    /// Its merge request came back (rework, conflict): a rework bead is on its way.
    case rework
    /// Closed and its merge request merged: done.
    case merged
    /// Closed without a merged merge request (closed by hand, or rejected): not done for the convoy.
    case closedUnmerged = "closed_unmerged"
    /// Set aside by `gt convoy launch` (failed three times): not slung by the convoy again.
    case setAside = "set_aside"
}

/// What the shell gathered for one tracked bead. `Sendable`: plain values.
public struct TrackedFacts: Sendable {
    public var id: String
    /// The bead, nil when the ledger has no such bead.
    public var bead: Bead?
    /// The merge-request beads for it: filed for the bead itself or for a rework of it.
    public var mergeRequests: [Bead]
    /// IDs of beads blocking it that are not closed.
    public var openBlockers: [String]
    /// The bead's rig (from the scope routing its prefix), empty when no rig has it.
    public var rig: String

    public init(id: String, bead: Bead?, mergeRequests: [Bead] = [], openBlockers: [String] = [], rig: String = "") {
        self.id = id
        self.bead = bead
        self.mergeRequests = mergeRequests
        self.openBlockers = openBlockers
        self.rig = rig
    }
}

/// One tracked bead as `gt convoy status` shows it. `Sendable`: a plain value.
public struct TrackedBeadView: Sendable, Codable, Equatable {
    public var id: String
    public var title: String
    public var rig: String
    public var status: String
    public var state: TrackedState
    /// The node working (or that worked) on it, empty when none.
    public var node: String
    /// The polecat working (or that worked) on it (`<rig>/polecats/<name>`), empty when none.
    public var polecat: String
    public var mergeRequest: String
    /// The merge request's Refinery status (queued, testing, merged, rework, conflict, rejected), empty if none.
    public var mergeStatus: String
    public var mergeCommit: String
    public var blockers: [String]
    public var failures: Int
    /// Why it was set aside, if it was.
    public var setAside: String?

    /// Done for the convoy: closed and merged.
    public var done: Bool { state == .merged }

    enum CodingKeys: String, CodingKey {
        case id, title, rig, status, state, node, polecat, blockers, failures, done
        case mergeRequest = "merge_request"
        case mergeStatus = "merge_status"
        case mergeCommit = "merge_commit"
        case setAside = "set_aside"
    }

    public init(
        id: String, title: String, rig: String, status: String, state: TrackedState, node: String, polecat: String,
        mergeRequest: String, mergeStatus: String, mergeCommit: String, blockers: [String], failures: Int,
        setAside: String?
    ) {
        self.id = id
        self.title = title
        self.rig = rig
        self.status = status
        self.state = state
        self.node = node
        self.polecat = polecat
        self.mergeRequest = mergeRequest
        self.mergeStatus = mergeStatus
        self.mergeCommit = mergeCommit
        self.blockers = blockers
        self.failures = failures
        self.setAside = setAside
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        title = try c.decode(String.self, forKey: .title)
        rig = try c.decode(String.self, forKey: .rig)
        status = try c.decode(String.self, forKey: .status)
        state = try c.decode(TrackedState.self, forKey: .state)
        node = try c.decode(String.self, forKey: .node)
        polecat = try c.decode(String.self, forKey: .polecat)
        mergeRequest = try c.decode(String.self, forKey: .mergeRequest)
        mergeStatus = try c.decode(String.self, forKey: .mergeStatus)
        mergeCommit = try c.decode(String.self, forKey: .mergeCommit)
        blockers = try c.decode([String].self, forKey: .blockers)
        failures = try c.decode(Int.self, forKey: .failures)
        setAside = try c.decodeIfPresent(String.self, forKey: .setAside)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(title, forKey: .title)
        try c.encode(rig, forKey: .rig)
        try c.encode(status, forKey: .status)
        try c.encode(state, forKey: .state)
        try c.encode(done, forKey: .done)
        try c.encode(node, forKey: .node)
        try c.encode(polecat, forKey: .polecat)
        try c.encode(mergeRequest, forKey: .mergeRequest)
        try c.encode(mergeStatus, forKey: .mergeStatus)
        try c.encode(mergeCommit, forKey: .mergeCommit)
        try c.encode(blockers, forKey: .blockers)
        try c.encode(failures, forKey: .failures)
        try c.encodeIfPresent(setAside, forKey: .setAside)
    }
}

/// A convoy as `gt convoy status` and `list` show it. `Sendable`: a plain value.
public struct ConvoyView: Sendable, Codable, Equatable {
    public var id: String
    public var name: String
    /// `open` or `landed`.
    public var status: String
    public var tracked: [TrackedBeadView]
    public var done: Int
    public var total: Int
    /// Every tracked bead is closed with its merge request merged, and the convoy is not landed yet.
    public var landable: Bool
    public var launched: Bool
    public var notify: [String]
    /// The node that landed it, empty while open.
    public var landedBy: String
    public var landedAt: String

    enum CodingKeys: String, CodingKey {
        case id, name, status, tracked, done, total, landable, launched, notify
        case landedBy = "landed_by"
        case landedAt = "landed_at"
    }

    public init(
        id: String, name: String, status: String, tracked: [TrackedBeadView], done: Int, total: Int, landable: Bool,
        launched: Bool, notify: [String], landedBy: String, landedAt: String
    ) {
        self.id = id
        self.name = name
        self.status = status
        self.tracked = tracked
        self.done = done
        self.total = total
        self.landable = landable
        self.launched = launched
        self.notify = notify
        self.landedBy = landedBy
        self.landedAt = landedAt
    }

    /// The tracked beads that keep it from landing, each with why ("gt-abc (working)").
    public var pending: [String] { tracked.filter { !$0.done }.map { "\($0.id) (\($0.state.rawValue))" } }
}

/// The convoy's pure core: its tracked beads' states from ledger facts, whether it may land, the landing's changes,
/// and the launch's wave items. No I/O, no clock: the shell (`TownWorkflow+Convoy`) reads the ledger and writes.
///
/// A caseless namespace.
public enum ConvoyCore {
    /// The beads `convoy` tracks, in the order they were added (then by ID).
    public static func trackedIDs(_ convoy: Bead) -> [String] {
        var seen = Set<String>()
        return convoy.dependencies.filter { $0.type == .tracks }
            .sorted { ($0.createdAt.unixNanos, $0.dependsOnID) < ($1.createdAt.unixNanos, $1.dependsOnID) }
            .map(\.dependsOnID).filter { seen.insert($0).inserted }
    }

    /// The addresses `convoy` mails when it lands.
    public static func notify(_ convoy: Bead) -> [String] {
        guard case .array(let values)? = convoy.metadata.first(where: { $0.key == ConvoyKey.notify })?.value else {
            return []
        }
        return values.compactMap(\.stringValue)
    }

    /// An object-valued metadata key of `convoy` as bead → value.
    static func perBead(_ convoy: Bead, _ key: String) -> [String: JSONValue] {
        guard case .object(let members)? = convoy.metadata.first(where: { $0.key == key })?.value else { return [:] }
        return Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
    }

    /// Sling failures recorded per bead.
    public static func failures(_ convoy: Bead) -> [String: Int] {
        perBead(convoy, ConvoyKey.failures).compactMapValues { $0.intValue }
    }

    /// Beads set aside, with their messages.
    public static func setAside(_ convoy: Bead) -> [String: String] {
        perBead(convoy, ConvoyKey.setAside).compactMapValues { $0.stringValue }
    }

    /// Whether `gt convoy launch` ran on it.
    public static func isLaunched(_ convoy: Bead) -> Bool {
        convoy.metadata.first(where: { $0.key == ConvoyKey.launched })?.value == .bool(true)
    }

    /// The merge request that speaks for the bead: a merged one if any, else the newest.
    static func currentRequest(_ requests: [Bead]) -> Bead? {
        let ordered = requests.sorted { ($0.createdAt.unixNanos, $0.id) < ($1.createdAt.unixNanos, $1.id) }
        return ordered.last { $0.metadataString(ConvoyKey.mqStatus) == "merged" } ?? ordered.last
    }

    /// (node, polecat) of a work branch `polecat/<node>/<name>/<bead>/e<epoch>`, nil for another shape.
    static func branchOwner(_ branch: String, rig: String) -> (node: String, polecat: String)? {
        let parts = branch.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 5, parts[0] == "polecat", !parts[1].isEmpty, !parts[2].isEmpty else { return nil }
        return (parts[1], rig.isEmpty ? parts[2] : "\(rig)/polecats/\(parts[2])")
    }

    /// Merge requests sent back (rework, conflict, rejected) among `requests`.
    static func sentBack(_ requests: [Bead]) -> Int {
        requests.filter { ["rework", "conflict", "rejected"].contains($0.metadataString(ConvoyKey.mqStatus) ?? "") }
            .count
    }

    /// One tracked bead's view. `slingFailures` and `asideMessage` come from the convoy's metadata.
    public static func track(
        _ facts: TrackedFacts, slingFailures: Int = 0, asideMessage: String? = nil
    )
        -> TrackedBeadView
    {
        let failures = slingFailures + sentBack(facts.mergeRequests)
        guard let bead = facts.bead, bead.status != .tombstone else {
            return TrackedBeadView(
                id: facts.id, title: "", rig: facts.rig, status: "missing", state: .missing, node: "", polecat: "",
                mergeRequest: "", mergeStatus: "", mergeCommit: "", blockers: [], failures: failures,
                setAside: asideMessage)
        }
        let request = currentRequest(facts.mergeRequests)
        let mqStatus: String =
            request.map { $0.metadataString(ConvoyKey.mqStatus) ?? ($0.status == .closed ? "closed" : "queued") } ?? ""
        let mergeCommit =
            bead.metadataString(ConvoyKey.mergeCommit) ?? request?.metadataString(ConvoyKey.mergeCommit) ?? ""
        var node = bead.claimNode
        var polecat = bead.assignee
        if polecat.isEmpty, let branch = request?.metadataString("branch"),
            let owner = branchOwner(branch, rig: facts.rig)
        {
            (node, polecat) = owner
            if let worker = request?.metadataString("worker"), !worker.isEmpty { polecat = worker }
        }
        let merged = mqStatus == "merged" || (request == nil && !mergeCommit.isEmpty)
        let state: TrackedState
        if bead.status == .closed {
            state = merged ? .merged : .closedUnmerged
        } else if asideMessage != nil {
            state = .setAside
        } else if !bead.assignee.isEmpty {
            state = .working
        } else if let request, request.status != .closed || mqStatus == "rework" || mqStatus == "conflict" {
            state = ["rework", "conflict"].contains(mqStatus) ? .rework : .review
        } else if !facts.openBlockers.isEmpty {
            state = .blocked
        } else if bead.status == .open || bead.status == .inProgress || bead.status == .blocked {
            state = .ready
        } else {
            // hooked with no assignee, deferred, pinned: not the convoy's to sling.
            state = .blocked
        }
        return TrackedBeadView(
            id: bead.id, title: bead.title, rig: facts.rig, status: bead.status.rawValue, state: state, node: node,
            polecat: polecat, mergeRequest: request?.id ?? bead.metadataString(ConvoyKey.mergeRequest) ?? "",
            mergeStatus: mqStatus, mergeCommit: mergeCommit, blockers: facts.openBlockers, failures: failures,
            setAside: asideMessage)
    }

    /// The view of `convoy` with its tracked beads' facts (any order; missing facts count as missing beads).
    public static func view(_ convoy: Bead, facts: [TrackedFacts]) -> ConvoyView {
        let byID = Dictionary(facts.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let failures = self.failures(convoy)
        let aside = setAside(convoy)
        let tracked = trackedIDs(convoy).map { id in
            track(
                byID[id] ?? TrackedFacts(id: id, bead: nil), slingFailures: failures[id] ?? 0, asideMessage: aside[id])
        }
        let done = tracked.filter(\.done).count
        let landed = convoy.status == .closed
        return ConvoyView(
            id: convoy.id, name: convoy.title, status: landed ? "landed" : "open", tracked: tracked, done: done,
            total: tracked.count, landable: !landed && !tracked.isEmpty && done == tracked.count,
            launched: isLaunched(convoy), notify: notify(convoy),
            landedBy: landed ? (convoy.metadataString(ConvoyKey.landedBy) ?? "") : "",
            landedAt: landed ? (convoy.closedAt?.description ?? "") : "")
    }

    /// Why `view` may not land, or nil when it may: one line naming every bead that is not done.
    public static func refusal(_ view: ConvoyView) -> String? {
        if view.status == "landed" { return "convoy \(view.id) (\(view.name)) already landed" }
        if view.tracked.isEmpty {
            return "convoy \(view.id) (\(view.name)) tracks no bead; add some with 'gt convoy add'"
        }
        guard !view.landable else { return nil }
        return "convoy \(view.id) (\(view.name)) is not done: \(view.total - view.done) of \(view.total) tracked beads "
            + "are not closed with a merged merge request: \(view.pending.joined(separator: ", "))"
    }

    /// The close reason of a landing.
    public static func landingReason(_ view: ConvoyView, node: String) -> String {
        "landed by \(node): all \(view.total) tracked beads merged"
    }

    /// The mail each subscriber gets when the convoy lands: (subject, body).
    public static func landingMail(_ view: ConvoyView, node: String) -> (subject: String, body: String) {
        let lines = view.tracked.map { bead in
            "- \(bead.id) \(bead.title)"
                + (bead.mergeCommit.isEmpty ? "" : " (merged in \(bead.mergeCommit.prefix(12)))")
        }
        return (
            "Convoy landed: \(view.name)",
            "Convoy \(view.id) (\(view.name)) landed on \(node): all \(view.total) tracked beads are merged.\n"
                + lines.joined(separator: "\n")
        )
    }

    /// The launch planner's items for `view`'s beads.
    public static func waveItems(_ view: ConvoyView, priorities: [String: Int] = [:]) -> [ConvoyWaves.Item] {
        view.tracked.map { bead in
            let phase: ConvoyWaves.Phase =
                switch bead.state {
                case .ready, .blocked: .pending
                case .working, .review, .rework: .inFlight
                case .merged, .closedUnmerged: .done
                case .setAside: .setAside
                // A bead this town cannot see is nothing it can sling; it waits (blocked on itself).
                case .missing: .pending
                }
            return ConvoyWaves.Item(
                id: bead.id, rig: bead.rig, phase: phase,
                openBlockers: bead.state == .missing ? [bead.id] : bead.blockers, failures: bead.failures,
                priority: priorities[bead.id] ?? 2)
        }
    }

    /// A text progress bar: `[████░░░░] 2/4`.
    public static func progressBar(done: Int, total: Int, width: Int = 20) -> String {
        let filled = total == 0 ? 0 : min(width, done * width / total)
        return "[" + String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled) + "] "
            + "\(done)/\(total)"
    }

    /// Whether `name` may name a convoy: not blank, at most 200 characters, on one line.
    public static func nameProblem(_ name: String) -> String? {
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { return "the convoy name is empty" }
        if name.count > 200 { return "the convoy name has \(name.count) characters; use at most 200" }
        if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "the convoy name holds a control character (a newline, a tab…); use one plain line"
        }
        return nil
    }
}
