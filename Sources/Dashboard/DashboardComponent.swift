import Foundation
import Node
import Town
import Transport

/// The dashboard's settings. `Sendable`: a plain value.
public struct DashboardSettings: Sendable {
    /// `gt node run --dashboard HOST:PORT` (`gt up --dashboard`); wins over town.json's `dashboard.listen`.
    public var listen: String?
    public var server = HTTPServerSettings()
    /// How often events.jsonl is checked for new lines. Default 0.25 s.
    public var eventPoll: TimeInterval = 0.25
    /// Events kept in memory for `/api/events` and reconnecting streams. Default 500.
    public var eventBacklog = 500
    /// An SSE comment this often keeps proxies from closing an idle stream. Default 15 s.
    public var heartbeat: TimeInterval = 15

    public init(listen: String? = nil) { self.listen = listen }
}

/// The node's web dashboard (docs/dashboard.md): an `HTTPServer` serving the JSON API, `/metrics`, the live event
/// stream and the HTML pages, from the node's memory. On loopback (the default: 127.0.0.1, port = node port + 1000)
/// it serves plain HTTP and checks the `Host`; bound anywhere else it serves HTTPS with the node's certificate and
/// asks for the login token in `<town>/.gt/dashboard.token`. Where it serves is written to
/// `<town>/.gt/dashboard.json` for `gt dashboard`. town.json's `"dashboard": {"enabled": false}` turns it off.
///
/// `Sendable`: an actor.
public actor DashboardComponent: NodeComponent {
    public nonisolated let name = "dashboard"
    let ledger: NodeLedgerHandle
    let membership: MembershipComponent?
    let settings: DashboardSettings
    var server: HTTPServer?
    var feed: EventFeed?
    var files: DashboardFiles?
    /// What it serves now (nil while stopped or turned off).
    public private(set) var info: DashboardInfo?
    /// The request handler (tests call it through real sockets; this is for `/metrics` wiring).
    var service: DashboardService?

    public init(ledger: NodeLedgerHandle, membership: MembershipComponent?, settings: DashboardSettings = .init()) {
        self.ledger = ledger
        self.membership = membership
        self.settings = settings
    }

    /// The standard components with a dashboard added, sharing their ledger handle and membership component.
    public static func adding(to components: [any NodeComponent], settings: DashboardSettings = .init())
        -> [any NodeComponent]
    {
        guard let ledger = components.compactMap({ $0 as? LedgerActor }).first?.ledger else { return components }
        let membership = components.compactMap { $0 as? MembershipComponent }.first
        return components + [DashboardComponent(ledger: ledger, membership: membership, settings: settings)]
    }

    public func start(in context: NodeContext) async throws {
        let config = context.townFile.dashboard
        guard config.enabled || settings.listen != nil else {
            context.log.info("dashboard turned off (town.json dashboard.enabled is false)")
            return
        }
        var nodePort: UInt16 = 0
        if case .tcp(_, let port) = context.listenAddress { nodePort = port }
        let address = try DashboardAccess.listenAddress(
            override: settings.listen, configured: config.listen, nodePort: nodePort)
        let loopback = DashboardAccess.isLoopback(address.host)
        let files = DashboardFiles(townRoot: context.town.root)
        let pki = context.town.pki
        let (token, tls) = try await NodeBlocking.run { () throws -> (String?, TLSContext?) in
            guard !loopback else { return (nil, nil) }
            let identity = try pki.loadIdentity()
            return (try files.loadOrMakeToken(), try TLSContext(identity: identity, mode: .httpsServer))
        }
        let feed = EventFeed(path: context.town.eventsFile, backlog: settings.eventBacklog, heartbeat: settings.heartbeat)
        let witness = WitnessCache(layout: TownLayout(root: context.town.root))
        let service = DashboardService(
            context: context, ledger: ledger, membership: membership, feed: feed, token: token, witness: witness)
        let server: HTTPServer
        do {
            server = try HTTPServer(host: address.host, port: address.port, tls: tls, settings: settings.server) {
                request, client in await service.handle(request, client)
            }
        } catch {
            // The default port is only a preference: another town's node may hold it.
            guard address.isDefault else { throw error }
            server = try HTTPServer(host: address.host, port: 0, tls: tls, settings: settings.server) {
                request, client in await service.handle(request, client)
            }
        }
        service.metrics.attach(server)
        feed.start(poll: settings.eventPoll) { witness.refresh() }
        let hostText = address.host.contains(":") ? "[\(address.host)]" : address.host
        let shownHost = address.host == "0.0.0.0" || address.host == "::" ? context.name.rawValue : hostText
        let url = "\(tls == nil ? "http" : "https")://\(shownHost):\(server.port)/"
        let info = DashboardInfo(
            url: url, listen: "\(hostText):\(server.port)", tls: tls != nil, tokenRequired: token != nil,
            node: context.name.rawValue, pid: getpid())
        try await NodeBlocking.run { () throws in try files.write(info) }
        self.server = server
        self.feed = feed
        self.files = files
        self.service = service
        self.info = info
        context.log.info("dashboard serving", ["url": url, "tls": "\(tls != nil)", "token": "\(token != nil)"])
        context.events.record("dashboard_started", ["url": url])
    }

    public func stop() async {
        server?.close()
        feed?.stop()
        if let files, let info, info.pid == getpid() { unlink(files.infoFile) }
        server = nil
        feed = nil
        service = nil
        info = nil
    }
}
