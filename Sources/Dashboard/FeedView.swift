import Foundation

/// What `gt feed` shows, decoded from the node's dashboard API (docs/openapi.yaml): members, polecats, convoys, the
/// merge queue and the latest events. Only the fields the feed prints; unknown fields are ignored, so the API may
/// grow.
///
/// `Sendable`: plain values.
public struct FeedSnapshot: Sendable, Equatable {
    public struct Member: Sendable, Equatable, Decodable {
        public var name: String
        public var status: String
        public var freeSlots: UInt32
        public var runningAgents: UInt32
        public var draining: Bool
        public var isSelf: Bool

        enum CodingKeys: String, CodingKey {
            case name, status, draining
            case freeSlots = "free_slots"
            case runningAgents = "running_agents"
            case isSelf = "self"
        }
    }

    public struct Polecat: Sendable, Equatable, Decodable {
        public var agent: String
        public var state: String
        public var hookBead: String
        public var hookTitle: String
        /// The Witness's verdict (`working`, `idle`, `hung`, …), empty when it has none.
        public var health: String
        public var reason: String

        enum CodingKeys: String, CodingKey {
            case agent, state, health, reason
            case hookBead = "hook_bead"
            case hookTitle = "hook_title"
        }
    }

    public struct Convoy: Sendable, Equatable, Decodable {
        public var id: String
        public var name: String
        public var status: String
        public var done: Int
        public var total: Int
    }

    public struct MergeRequest: Sendable, Equatable, Decodable {
        public var id: String
        public var rig: String
        public var sourceBead: String
        public var status: String
        public var reason: String?

        enum CodingKeys: String, CodingKey {
            case id, rig, status, reason
            case sourceBead = "source_bead"
        }
    }

    public var node: String
    public var members: [Member]
    public var polecats: [Polecat]
    public var convoys: [Convoy]
    public var mergeRequests: [MergeRequest]
    /// The latest events, oldest first, each as its fields' text.
    public var events: [[String: String]]

    public init(
        node: String, members: [Member] = [], polecats: [Polecat] = [], convoys: [Convoy] = [],
        mergeRequests: [MergeRequest] = [], events: [[String: String]] = []
    ) {
        self.node = node
        self.members = members
        self.polecats = polecats
        self.convoys = convoys
        self.mergeRequests = mergeRequests
        self.events = events
    }

    struct NodesBody: Decodable { var nodes: [Member] }
    struct PolecatsBody: Decodable { var polecats: [Polecat] }
    struct ConvoysBody: Decodable { var convoys: [Convoy] }
    struct MergeQueueBody: Decodable {
        var mergeRequests: [MergeRequest]
        enum CodingKeys: String, CodingKey { case mergeRequests = "merge_requests" }
    }

    /// Decodes the bodies of `/api/nodes`, `/api/polecats`, `/api/convoys`, `/api/merge-queue`, `/api/events`.
    public static func decode(
        node: String, nodes: [UInt8], polecats: [UInt8], convoys: [UInt8], mergeQueue: [UInt8], events: [UInt8]
    ) throws -> FeedSnapshot {
        let decoder = JSONDecoder()
        return FeedSnapshot(
            node: node, members: try decoder.decode(NodesBody.self, from: Data(nodes)).nodes,
            polecats: try decoder.decode(PolecatsBody.self, from: Data(polecats)).polecats,
            convoys: try decoder.decode(ConvoysBody.self, from: Data(convoys)).convoys,
            mergeRequests: try decoder.decode(MergeQueueBody.self, from: Data(mergeQueue)).mergeRequests,
            events: FeedView.eventFields(eventsBody: events))
    }
}

/// The terminal view of `gt feed`: pure (a snapshot in, lines out), so the CLI's loop only fetches and prints.
/// Problems come first (members not alive or draining, polecats the Witness does not see working or idle, merge
/// requests sent back), then members with their capacity, polecats with their state and hook, convoys with progress
/// bars, the merge queue, and the latest events.
///
/// A caseless namespace; nothing to share.
public enum FeedView {
    /// Witness verdicts that are not a problem.
    static let fineHealth: Set<String> = ["", "working", "idle"]
    /// Merge request states that need someone.
    static let troubledMerge: Set<String> = ["rework", "conflict", "rejected"]

    /// The problems in `snapshot`, worst first.
    public static func problems(_ snapshot: FeedSnapshot) -> [String] {
        var lines: [String] = []
        for member in snapshot.members where member.status != "alive" {
            lines.append("node \(member.name) is \(member.status)")
        }
        for member in snapshot.members where member.draining && member.status == "alive" {
            lines.append("node \(member.name) is draining")
        }
        for polecat in snapshot.polecats where !fineHealth.contains(polecat.health) {
            lines.append(
                "polecat \(polecat.agent) is \(polecat.health)" + (polecat.reason.isEmpty ? "" : ": \(polecat.reason)"))
        }
        for request in snapshot.mergeRequests where troubledMerge.contains(request.status) {
            lines.append(
                "merge request \(request.id) (\(request.sourceBead)) is \(request.status)"
                    + (request.reason.map { ": \($0)" } ?? ""))
        }
        return lines
    }

    /// The screen: at most `height` lines (the events section takes what is left), each cut to `width` columns.
    public static func render(_ snapshot: FeedSnapshot, width: Int = 100, height: Int = 40) -> [String] {
        var lines = [
            "GasTown feed · node \(snapshot.node) · \(snapshot.members.count) nodes, "
                + "\(snapshot.polecats.filter { $0.state == "working" }.count) working polecats"
        ]
        let problems = problems(snapshot)
        lines.append("")
        lines.append(problems.isEmpty ? "PROBLEMS: none" : "PROBLEMS (\(problems.count))")
        lines += problems.map { "  ! " + $0 }

        lines.append("")
        lines.append("NODES")
        for member in snapshot.members {
            lines.append(
                "  " + pad(member.name + (member.isSelf ? " *" : ""), 14) + pad(member.status, 9)
                    + "agents \(member.runningAgents), free slots \(member.freeSlots)"
                    + (member.draining ? ", draining" : ""))
        }

        lines.append("")
        lines.append("POLECATS")
        if snapshot.polecats.isEmpty { lines.append("  none ('gt sling' makes them)") }
        for polecat in snapshot.polecats {
            let hook = polecat.hookBead.isEmpty ? "-" : "\(polecat.hookBead) \(polecat.hookTitle)"
            let health = polecat.health.isEmpty ? "" : " [\(polecat.health)]"
            lines.append("  " + pad(polecat.agent, 24) + pad(polecat.state, 9) + hook + health)
        }

        lines.append("")
        lines.append("CONVOYS")
        if snapshot.convoys.isEmpty { lines.append("  none") }
        for convoy in snapshot.convoys {
            lines.append(
                "  " + pad(convoy.id, 10) + pad(convoy.name, 20) + bar(convoy.done, convoy.total) + " "
                    + "\(convoy.done)/\(convoy.total) \(convoy.status)")
        }

        lines.append("")
        lines.append("MERGE QUEUE")
        if snapshot.mergeRequests.isEmpty { lines.append("  empty") }
        for request in snapshot.mergeRequests {
            lines.append(
                "  " + pad(request.id, 12) + pad(request.rig, 10) + pad(request.sourceBead, 12) + request.status)
        }

        lines.append("")
        lines.append("EVENTS")
        let room = max(height - lines.count, 3)
        lines += snapshot.events.suffix(room).map { "  " + eventLine($0) }
        return lines.prefix(max(height, 1)).map { cut($0, width) }
    }

    /// One event as a line: time, node, type, then the other fields sorted (the dashboard's live strip's format).
    public static func eventLine(_ fields: [String: String]) -> String {
        let time = (fields["ts"] ?? "").replacingOccurrences(of: "T", with: " ").prefix(19)
        let rest = fields.keys.filter { !["ts", "type", "node"].contains($0) }.sorted().map { "\($0)=\(fields[$0]!)" }
        return ([String(time), fields["node"] ?? "", fields["type"] ?? ""] + rest).filter { !$0.isEmpty }
            .joined(separator: " ")
    }

    /// The fields of the events in an `/api/events` body (`{"events": [{…}, …]}`), values as text.
    public static func eventFields(eventsBody: [UInt8]) -> [[String: String]] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(eventsBody)) as? [String: Any],
            let events = object["events"] as? [[String: Any]]
        else { return [] }
        return events.map(text)
    }

    /// One events.jsonl line's fields as text (nil when it is not a JSON object).
    public static func eventFields(line: String) -> [String: String]? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]).map(text)
    }

    static func text(_ object: [String: Any]) -> [String: String] {
        object.mapValues { value in
            if let string = value as? String { return string }
            if let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]) {
                return String(decoding: data, as: UTF8.self)
            }
            return "\(value)"
        }
    }

    static func bar(_ done: Int, _ total: Int, width: Int = 10) -> String {
        let filled = total > 0 ? min(width, max(0, done * width / total)) : 0
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    static func cut(_ line: String, _ width: Int) -> String {
        line.count <= width ? line : String(line.prefix(max(width - 1, 0))) + "…"
    }
}
