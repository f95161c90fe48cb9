import Beads
import Foundation
import LedgerStore
import Membership
import Node
import Scheduling
import Town

/// Answers the dashboard's requests for one running node: checks access (the token beyond loopback, the `Host` on
/// loopback), routes (`DashboardRoutes`), and builds each answer from memory: the ledger the node's `LedgerActor`
/// holds, the membership shell's member table, the event feed's backlog, the Witness's last report (kept by the
/// feed's poll). Nothing here reads git or the ledger's files.
///
/// `Sendable`: immutable references to `Sendable` parts; the counters and caches are locked.
public final class DashboardService: Sendable {
    let context: NodeContext
    let ledger: NodeLedgerHandle
    let membership: MembershipComponent?
    let feed: EventFeed
    let token: String?
    let witness: WitnessCache
    let views: DashboardViews
    let metrics = DashboardMetrics()
    let startedAt = Date()

    /// `token` nil: loopback, no token asked (the `Host` is checked instead).
    init(
        context: NodeContext, ledger: NodeLedgerHandle, membership: MembershipComponent?, feed: EventFeed,
        token: String?, witness: WitnessCache
    ) {
        self.context = context
        self.ledger = ledger
        self.membership = membership
        self.feed = feed
        self.token = token
        self.witness = witness
        views = DashboardViews(context: context, ledger: ledger, membership: membership, witness: witness)
    }

    /// Handles one request.
    public func handle(_ request: HTTPRequest, _ client: HTTPClientInfo) async -> HTTPReply {
        let (reply, label) = await route(request, client)
        if case .response(let response) = reply {
            metrics.count(route: label, status: response.status)
        } else {
            metrics.count(route: label, status: 200)
        }
        return reply
    }

    func route(_ request: HTTPRequest, _ client: HTTPClientInfo) async -> (HTTPReply, String) {
        let matched = DashboardRoutes.match(method: request.method, path: request.path)
        guard case .found(let route, let parameters) = matched else {
            if case .wrongMethod(let allowed) = matched {
                var response = HTTPResponse.error(
                    405, "\(request.method) is not allowed on \(request.path); use \(allowed.joined(separator: ", "))")
                response.headers.append(("Allow", allowed.joined(separator: ", ")))
                return (.response(response), "unmatched")
            }
            return (
                .response(
                    .error(404, "no such page or API route: \(request.path) (see docs/openapi.yaml for the API)")),
                "unmatched"
            )
        }
        let label = route.pattern
        var setCookie: String?
        if let token {
            let presented = DashboardAccess.presentedToken(request)
            guard DashboardAccess.tokensMatch(presented, token) else {
                let message =
                    presented == nil
                    ? "this dashboard needs its login token: run 'gt dashboard' on the node for the URL with it, or "
                        + "send 'Authorization: Bearer TOKEN'"
                    : "the token is wrong; run 'gt dashboard' on the node for the current one"
                var response = HTTPResponse.error(401, message)
                response.headers.append(("WWW-Authenticate", "Bearer realm=\"gastown\""))
                return (.response(response), label)
            }
            if request.query["token"] != nil {
                setCookie = "\(DashboardAccess.cookieName)=\(token); Path=/; HttpOnly; Secure; SameSite=Strict"
            }
        } else if !DashboardAccess.hostAllowedOnLoopback(request.header("host")) {
            return (
                .response(
                    .error(
                        403, "the dashboard on loopback answers only to Host 127.0.0.1, localhost or [::1], not "
                            + "'\(request.header("host") ?? "")'")), label
            )
        }
        if request.method == "POST" {
            let type = request.header("content-type")?.lowercased() ?? ""
            guard type.hasPrefix("application/json") else {
                return (.response(.error(415, "send the body as Content-Type: application/json")), label)
            }
        }
        var reply = await answer(route, parameters, request)
        if let setCookie, case .response(var response) = reply {
            response.headers.append(("Set-Cookie", setCookie))
            reply = .response(response)
        }
        return (reply, label)
    }

    func answer(_ route: DashboardRoute, _ parameters: [String: String], _ request: HTTPRequest) async -> HTTPReply {
        switch route.name {
        case .page:
            return .response(DashboardPages.page(path: route.pattern, node: context.name.rawValue))
        case .script:
            return .response(.text(DashboardPages.script, type: "text/javascript; charset=utf-8"))
        case .style:
            return .response(.text(DashboardPages.style, type: "text/css; charset=utf-8"))
        case .events:
            let lastID = request.header("last-event-id").flatMap { UInt64($0) }
            let feed = self.feed
            let head = HTTPResponse(
                status: 200,
                headers: [("Content-Type", "text/event-stream; charset=utf-8"), ("X-Accel-Buffering", "no")])
            return .stream(head: head) { stream in feed.add(stream, lastID: lastID) }
        case .recentEvents:
            let limit = min(max(Int(request.query["limit"] ?? "") ?? 100, 1), 1000)
            let lines = feed.latest(limit).map(\.line)
            return .response(
                HTTPResponse(
                    status: 200, headers: [("Content-Type", "application/json; charset=utf-8")],
                    body: Array(("{\"events\":[" + lines.joined(separator: ",") + "]}\n").utf8)))
        case .metrics:
            let text = await metrics.render(service: self)
            return .response(.text(text, type: "text/plain; version=0.0.4; charset=utf-8"))
        default:
            return await api(route.name, parameters, request)
        }
    }

    func api(_ name: DashboardRoute.Name, _ parameters: [String: String], _ request: HTTPRequest) async -> HTTPReply {
        if name == .node { return .response(.json(views.node(startedAt: startedAt))) }
        if name == .nodes { return .response(.json(await views.nodes())) }
        guard let database = ledger.database else {
            var response = HTTPResponse.error(
                503, "the town ledger is not open yet (\(ledger.lastError ?? "opening")); retry", code: "unavailable")
            response.headers.append(("Retry-After", "1"))
            return .response(response)
        }
        do throws(DashboardLedgerAPI.BadQuery) {
            switch name {
            case .beads:
                let page = try DashboardLedgerAPI.page(request.query)
                let (scope, filter) = try DashboardLedgerAPI.filter(request.query)
                let result = try database.read { state in
                    Result { () throws(DashboardLedgerAPI.BadQuery) in
                        try DashboardLedgerAPI.list(state, scope: scope, filter: filter, page: page)
                    }
                }.get()
                return .response(jsonBytes(DashboardLedgerAPI.pageJSON(result.beads, next: result.next)))
            case .ready:
                let page = try DashboardLedgerAPI.page(request.query)
                let now = Timestamp(unixNanos: Int64(Date().timeIntervalSince1970 * 1e9))
                let scope = request.query["scope"]
                let result = try database.read { state in
                    Result { () throws(DashboardLedgerAPI.BadQuery) in
                        try DashboardLedgerAPI.ready(state, scope: scope, now: now, page: page)
                    }
                }.get()
                return .response(jsonBytes(DashboardLedgerAPI.pageJSON(result.beads, next: result.next)))
            case .bead:
                let id = parameters["id"] ?? ""
                guard let bead = database.read({ DashboardLedgerAPI.bead($0, id) }) else {
                    return .response(.error(404, "no bead \(id)", code: "not_found"))
                }
                return .response(jsonBytes(Array((DashboardLedgerAPI.beadJSON(bead) + "\n").utf8)))
            case .claim:
                return .response(await claim(parameters["id"] ?? "", request, database))
            case .rigs:
                return .response(.json(await views.rigs()))
            case .polecats:
                return .response(.json(database.read { views.polecats($0) }))
            case .convoys:
                return .response(.json(await views.convoys()))
            case .mergeQueue:
                return .response(.json(await views.mergeQueue()))
            case .mail:
                return .response(.json(database.read { views.mail($0) }))
            default:
                return .response(.error(404, "no such route"))
            }
        } catch {
            return .response(.error(400, error.message, code: "bad_request"))
        }
    }

    func claim(_ id: String, _ request: HTTPRequest, _ database: LedgerDatabase) async -> HTTPResponse {
        let body: DashboardLedgerAPI.ClaimRequest
        do throws(DashboardLedgerAPI.BadQuery) { body = try DashboardLedgerAPI.claimRequest(request.body) } catch {
            return .error(400, error.message, code: "bad_request")
        }
        let node = context.name.rawValue
        let time = Timestamp(unixNanos: Int64(Date().timeIntervalSince1970 * 1e9))
        let result = await NodeBlocking.run {
            DashboardLedgerAPI.claim(id, body, node: node, database: database, time: time)
        }
        switch result {
        case .claimed(let bead):
            context.events.record(
                "bead_claimed", ["bead": bead.id, "assignee": bead.assignee, "epoch": "\(bead.leaseEpoch)", "via": "api"])
            return jsonBytes(Array(("{\"claimed\":true,\"bead\":" + DashboardLedgerAPI.beadJSON(bead) + "}\n").utf8))
        case .held(let lease):
            return conflict("held", "\(id) is held by \(lease.description); it must be released first", lease)
        case .moved(let lease):
            return conflict(
                "moved", "\(id)'s lease epoch is \(lease.epoch), not \(body.expectedEpoch): read it again, then retry",
                lease)
        case .notFound:
            return .error(404, "no bead \(id)", code: "not_found")
        case .refused(let why):
            return .error(409, why, code: "refused")
        }
    }

    func conflict(_ code: String, _ message: String, _ lease: Scheduling.Lease) -> HTTPResponse {
        struct Body: Encodable {
            struct Inner: Encodable {
                var code: String
                var message: String
            }
            var error: Inner
            var lease: Scheduling.Lease
        }
        return .json(Body(error: .init(code: code, message: message), lease: lease), status: 409)
    }

    func jsonBytes(_ bytes: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: 200, headers: [("Content-Type", "application/json; charset=utf-8")], body: bytes)
    }
}
