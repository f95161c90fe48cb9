import Beads
import Foundation
import Town

/// `/metrics` in Prometheus' text exposition format (version 0.0.4), so existing monitoring can scrape every node:
/// the dashboard's own request counters, open connections and event streams, and gauges of the node's state read
/// from memory (beads by scope and status, members by status, polecats by state, merge requests by status).
///
/// `@unchecked Sendable`: the counters are guarded by `lock`.
final class DashboardMetrics: @unchecked Sendable {
    private let lock = NSLock()
    private var requests: [String: [Int: UInt64]] = [:]
    weak var server: HTTPServer?

    func count(route: String, status: Int) {
        lock.withLock { requests[route, default: [:]][status, default: 0] += 1 }
    }

    func attach(_ server: HTTPServer) { lock.withLock { self.server = server } }

    func render(service: DashboardService) async -> String {
        var out = MetricsText()
        let node = service.context.name.rawValue
        out.family("gastown_node_up", "gauge", "1 while the node serves.")
        out.sample("gastown_node_up", ["node": node], 1)
        out.family("gastown_node_uptime_seconds", "gauge", "Seconds since the dashboard (and so the node) started.")
        out.sample("gastown_node_uptime_seconds", ["node": node], Date().timeIntervalSince(service.startedAt))
        out.family("gastown_dashboard_requests_total", "counter", "Dashboard requests answered, by route and status.")
        for (route, statuses) in lock.withLock({ requests }).sorted(by: { $0.key < $1.key }) {
            for (status, count) in statuses.sorted(by: { $0.key < $1.key }) {
                out.sample(
                    "gastown_dashboard_requests_total", ["node": node, "route": route, "status": "\(status)"],
                    Double(count))
            }
        }
        let connections = lock.withLock { server }?.connectionCount ?? 0
        out.family("gastown_dashboard_connections", "gauge", "Open dashboard connections.")
        out.sample("gastown_dashboard_connections", ["node": node], Double(connections))
        let counters = service.feed.counters
        out.family("gastown_dashboard_event_streams", "gauge", "Open server-sent event streams.")
        out.sample("gastown_dashboard_event_streams", ["node": node], Double(counters.streams))
        out.family("gastown_events_total", "counter", "Town events read from events.jsonl since the node started.")
        out.sample("gastown_events_total", ["node": node], Double(counters.events))
        if let database = service.ledger.database {
            out.family("gastown_ledger_local_writes_total", "counter", "Writes this node made to the town ledger.")
            out.sample("gastown_ledger_local_writes_total", ["node": node], Double(database.localWriteCount))
            let counts: [(String, String, Int)] = database.read { state in
                state.scopeNames.flatMap { name -> [(String, String, Int)] in
                    var byStatus: [String: Int] = [:]
                    for bead in state.scopes[name]!.list() { byStatus[bead.status.rawValue, default: 0] += 1 }
                    return byStatus.sorted { $0.key < $1.key }.map { (name, $0.key, $0.value) }
                }
            }
            out.family("gastown_beads", "gauge", "Beads in the town ledger, by scope and status.")
            for (scope, status, count) in counts {
                out.sample("gastown_beads", ["node": node, "scope": scope, "status": status], Double(count))
            }
            let polecats = database.read { service.views.polecats($0) }["polecats"] ?? []
            var byState: [String: Int] = [:]
            for polecat in polecats { byState[polecat.state, default: 0] += 1 }
            out.family("gastown_polecats", "gauge", "Polecats of the town, by state.")
            for (state, count) in byState.sorted(by: { $0.key < $1.key }) {
                out.sample("gastown_polecats", ["node": node, "state": state], Double(count))
            }
        }
        let members = await service.views.nodes().nodes
        var byStatus: [String: Int] = [:]
        for member in members { byStatus[member.status, default: 0] += 1 }
        out.family("gastown_members", "gauge", "Cluster members this node knows, by status.")
        for (status, count) in byStatus.sorted(by: { $0.key < $1.key }) {
            out.sample("gastown_members", ["node": node, "status": status], Double(count))
        }
        return out.text
    }
}

/// Builds Prometheus text: `# HELP`, `# TYPE`, then samples with escaped label values.
///
/// Not `Sendable`: a local builder.
struct MetricsText {
    var text = ""

    mutating func family(_ name: String, _ type: String, _ help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    mutating func sample(_ name: String, _ labels: [String: String], _ value: Double) {
        let rendered = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(Self.escape($0.value))\"" }
        let number = value == value.rounded() && abs(value) < 1e15 ? "\(Int64(value))" : "\(value)"
        text += "\(name){\(rendered.joined(separator: ","))} \(number)\n"
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
