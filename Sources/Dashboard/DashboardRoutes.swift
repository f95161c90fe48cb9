/// Every route the dashboard serves: the JSON API (documented in docs/openapi.yaml, which a test checks against
/// this table), `/metrics`, the event stream, the HTML pages and their one script and style sheet.
///
/// `Sendable`: a plain value.
public struct DashboardRoute: Sendable, Equatable {
    /// What the route is, for the component's dispatch.
    public enum Name: String, Sendable, CaseIterable {
        case node, nodes, rigs, beads, bead, ready, claim, polecats, convoys, mergeQueue, mail, recentEvents
        case metrics, events
        case page, script, style
    }

    public var method: String
    /// The path, with `{id}` for a path parameter (OpenAPI's syntax).
    public var pattern: String
    public var name: Name
    /// HTML pages and static assets are not part of the JSON API.
    public var isAPI: Bool { pattern.hasPrefix("/api/") || pattern == "/metrics" || pattern == "/events" }

    public init(_ method: String, _ pattern: String, _ name: Name) {
        self.method = method
        self.pattern = pattern
        self.name = name
    }
}

/// The route table and its matcher: pure.
///
/// A caseless namespace; nothing to share.
public enum DashboardRoutes {
    /// The HTML pages, by path, with their titles (in the navigation's order).
    public static let pages: [(path: String, title: String)] = [
        ("/", "Nodes"), ("/rigs", "Rigs"), ("/polecats", "Polecats"), ("/convoys", "Convoys"),
        ("/merge-queue", "Merge queue"), ("/beads", "Beads"), ("/mail", "Mail"), ("/live", "Live events"),
    ]

    public static let all: [DashboardRoute] =
        [
            DashboardRoute("GET", "/api/node", .node),
            DashboardRoute("GET", "/api/nodes", .nodes),
            DashboardRoute("GET", "/api/rigs", .rigs),
            DashboardRoute("GET", "/api/ledger/beads", .beads),
            DashboardRoute("GET", "/api/ledger/beads/{id}", .bead),
            DashboardRoute("GET", "/api/ledger/ready", .ready),
            DashboardRoute("POST", "/api/ledger/beads/{id}/claim", .claim),
            DashboardRoute("GET", "/api/polecats", .polecats),
            DashboardRoute("GET", "/api/convoys", .convoys),
            DashboardRoute("GET", "/api/merge-queue", .mergeQueue),
            DashboardRoute("GET", "/api/mail", .mail),
            DashboardRoute("GET", "/api/events", .recentEvents),
            DashboardRoute("GET", "/metrics", .metrics),
            DashboardRoute("GET", "/events", .events),
            DashboardRoute("GET", "/static/app.js", .script),
            DashboardRoute("GET", "/static/app.css", .style),
        ] + pages.map { DashboardRoute("GET", $0.path, .page) }

    /// What a request's method and path match.
    public enum Match: Sendable, Equatable {
        /// The route and its path parameters.
        case found(DashboardRoute, [String: String])
        /// The path exists, not for this method (405, with the allowed methods).
        case wrongMethod(allowed: [String])
        case notFound
    }

    /// Matches `method` and the decoded `path` against `all`. `HEAD` matches `GET` routes.
    public static func match(method: String, path: String) -> Match {
        let segments = split(path)
        var allowed: [String] = []
        for route in all {
            guard let parameters = bind(split(route.pattern), segments) else { continue }
            if route.method == method || (method == "HEAD" && route.method == "GET") {
                return .found(route, parameters)
            }
            allowed.append(route.method)
        }
        return allowed.isEmpty ? .notFound : .wrongMethod(allowed: Array(Set(allowed)).sorted())
    }

    static func split(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }

    static func bind(_ pattern: [Substring], _ segments: [Substring]) -> [String: String]? {
        guard pattern.count == segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (expected, actual) in zip(pattern, segments) {
            if expected.hasPrefix("{") && expected.hasSuffix("}") {
                parameters[String(expected.dropFirst().dropLast())] = String(actual)
            } else if expected != actual {
                return nil
            }
        }
        return parameters
    }
}
