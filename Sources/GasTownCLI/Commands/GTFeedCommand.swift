import Dashboard
import Foundation
import LedgerStore
import Node
import Transport

#if canImport(Glibc)
    import Glibc
#endif

/// `gt feed [--once] [--interval S]` / `gt feed --json`: a live terminal view of the cluster, read from a running
/// node's dashboard API (docs/dashboard.md "gt feed"): problems first, then nodes and their capacity, polecats and
/// their state, convoys and their progress, the merge queue, the latest events; redrawn every interval. `--json`
/// streams the events as JSON lines (the node's `/events` stream: the last 50, then each new one) until interrupted.
/// By default it reads this town's node (plain HTTP on loopback, or HTTPS with the node certificate and the token in
/// `<town>/.gt/dashboard.token` when the dashboard is bound beyond loopback); `--url` reads another node's dashboard.
/// The view is `FeedView` (pure); this command only fetches and prints.
public struct GTFeedCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "feed", abstract: "Live view of the cluster: problems, nodes, polecats, convoys, merge queue, events",
            discussion: """
                Reads a running node's dashboard API (a few in-memory reads a second for the node; works in any
                terminal, over SSH too): this town's node by default, or the dashboard at --url. Redraws every
                --interval seconds until Ctrl-C; --once prints one screen and exits. With --json it prints events
                as JSON lines instead (events.jsonl's lines from every component of the node: the last 50, then
                each new one). A dashboard bound beyond loopback is HTTPS: its certificate is verified against the
                cluster CA this town holds (or --ca FILE), and the login token is sent: --token, else
                $GT_DASHBOARD_TOKEN, else (this town's own node) <town>/.gt/dashboard.token.
                """,
            options: [
                .flag("once", help: "print one screen and exit"),
                .option("interval", value: "S", help: "seconds between redraws", default: "1"),
                .option(
                    "url", value: "URL",
                    help: "another node's dashboard (http://127.0.0.1:PORT/ or https://HOST:PORT/, as 'gt dashboard' prints it)"),
                .option("token", value: "TOKEN", help: "the dashboard's login token (default: $GT_DASHBOARD_TOKEN, or this town's)"),
                .option("ca", value: "FILE", help: "the cluster CA certificate (PEM) to verify an HTTPS dashboard with (default: the town's)"),
            ])
    }

    var once: Bool
    var interval: Double
    var url: FeedURL?
    var token: String?
    var caFile: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        once = parsed.flag("once")
        let text = parsed.string("interval") ?? "1"
        guard let seconds = Double(text), seconds >= 0.1, seconds <= 3600 else {
            throw parsed.invalid("--interval must be a number of seconds from 0.1 to 3600, not '\(text)'")
        }
        interval = seconds
        if let text = parsed.string("url") {
            guard let url = FeedURL(parsing: text) else {
                throw parsed.invalid(
                    "--url must be a dashboard URL such as https://alpha:8420/ or http://127.0.0.1:8420/, not '\(text)'")
            }
            self.url = url
        }
        token = parsed.string("token")
        if let token, token.isEmpty || token.contains(where: { $0.isWhitespace || $0.isNewline }) {
            throw parsed.invalid("--token must be the token 'gt dashboard' prints (no spaces)")
        }
        caFile = parsed.string("ca")
    }

    public func run(_ context: CommandContext) async throws {
        let endpoint = try await FeedEndpoint.resolve(
            context: context, url: url, token: token, caFile: caFile)
        if context.jsonMode {
            try await FeedHTTP.streamEvents(endpoint) { line in context.console.stdout.write(line + "\n") }
            return
        }
        let node = try await endpoint.nodeName()
        let terminal = isatty(1) != 0
        while true {
            let snapshot = try await FeedHTTP.snapshot(endpoint, node: node)
            let (width, height) = terminal ? FeedHTTP.terminalSize() : (120, 200)
            let lines = FeedView.render(snapshot, width: width, height: once || !terminal ? 200 : height)
            // Home and clear (only on a terminal); the lines themselves go through `out`, escaping bead text.
            if terminal && !once { context.console.stdout.write("\u{1b}[H\u{1b}[2J") }
            for line in lines { context.console.out(line) }
            if once { return }
            try await Task.sleep(for: .milliseconds(Int(interval * 1000)))
        }
    }
}

/// A dashboard URL given to `gt feed --url`: scheme, host, port, and a `?token=` it may carry (the URL `gt dashboard`
/// prints opens with one). `Sendable`: values.
struct FeedURL: Sendable, Equatable {
    var tls: Bool
    /// The host as written (brackets removed from an IPv6 address).
    var host: String
    var port: UInt16
    var token: String?

    init?(parsing text: String) {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", var host = components.host, !host.isEmpty
        else { return nil }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        tls = scheme == "https"
        self.host = host
        let port = components.port ?? (tls ? 443 : 80)
        guard (1...65535).contains(port) else { return nil }
        self.port = UInt16(port)
        token = components.queryItems?.first { $0.name == "token" }?.value
    }
}

/// Where `gt feed` reads: the address to connect to, the `Host` header, TLS (the cluster CAs, the name the
/// certificate must carry) and the token. `@unchecked Sendable`: immutable after `resolve` (the TLS context is
/// read-only once made).
struct FeedEndpoint: @unchecked Sendable {
    var host: String
    var port: UInt16
    var hostHeader: String
    var tls: TLSContext?
    /// The name the server's certificate must carry (nil: any certificate of the cluster CA, for an IP address).
    var serverName: String?
    var revocations: RevocationList?
    var token: String?
    /// The node's name when known beforehand (this town's node).
    var knownNode: String?
    /// How messages name it.
    var display: String

    /// This town's node (its `.gt/dashboard.json`) without `url`, else the dashboard at `url`.
    static func resolve(
        context: CommandContext, url: FeedURL?, token flag: String?, caFile: String?
    ) async throws -> FeedEndpoint {
        let environmentToken = context.environment["GT_DASHBOARD_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        guard let url else {
            let town = try NodeCLI.town(context)
            let files = DashboardFiles(townRoot: town.root)
            guard let info = files.read(), NodeCLI.isAlive(info.pid) else {
                throw CLIError(
                    "gt feed reads the town's running node, and no node (or no dashboard) runs for \(town.root)",
                    hint: "start the node with 'gt up' (town.json \"dashboard\": {\"enabled\": true} is the default), "
                        + "or read another node's dashboard with --url",
                    code: "not_running")
            }
            guard let listen = FeedURL(parsing: (info.tls ? "https://" : "http://") + info.listen) else {
                throw CLIError(
                    "the node's dashboard.json names an address gt feed cannot read: '\(info.listen)'",
                    hint: "restart the node ('gt down', 'gt up')", code: "bad_reply")
            }
            // A wildcard address is reached on loopback; the certificate names the node either way.
            var host = listen.host
            if host == "0.0.0.0" { host = "127.0.0.1" }
            if host == "::" { host = "::1" }
            var token = flag ?? environmentToken
            if info.tokenRequired && token == nil {
                token = try await BlockingWork.run { () -> String? in
                    (try? String(contentsOfFile: files.tokenFile, encoding: .utf8))?
                        .trimmingCharacters(in: .whitespacesAndNewlines)
                }
            }
            var endpoint = FeedEndpoint(
                host: host, port: listen.port, hostHeader: Self.hostHeader(host, listen.port), token: token,
                knownNode: info.node, display: info.url)
            if info.tls {
                try await endpoint.trust(town: town, caFile: caFile, serverName: info.node)
            }
            return endpoint
        }
        let town = try? NodeCLI.town(context)
        var endpoint = FeedEndpoint(
            host: url.host, port: url.port, hostHeader: Self.hostHeader(url.host, url.port),
            token: flag ?? url.token ?? environmentToken, knownNode: nil,
            display: "\(url.tls ? "https" : "http")://\(Self.hostHeader(url.host, url.port))/")
        if url.tls {
            let isAddress = url.host.contains(":") || url.host.allSatisfy { $0.isNumber || $0 == "." }
            try await endpoint.trust(town: town, caFile: caFile, serverName: isAddress ? nil : url.host)
        }
        return endpoint
    }

    init(
        host: String, port: UInt16, hostHeader: String, token: String?, knownNode: String?, display: String
    ) {
        self.host = host
        self.port = port
        self.hostHeader = hostHeader
        self.token = token
        self.knownNode = knownNode
        self.display = display
    }

    static func hostHeader(_ host: String, _ port: UInt16) -> String {
        (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
    }

    /// HTTPS: trusts `caFile`'s certificates, else the cluster CAs `town` holds (and its revocations).
    mutating func trust(town: TownPaths?, caFile: String?, serverName: String?) async throws {
        let display = self.display
        let (context, revocations) = try await BlockingWork.run {
            () throws(CLIError) -> (TLSContext, RevocationList?) in
            do {
                if let caFile {
                    guard let pem = try? String(contentsOfFile: caFile, encoding: .utf8) else {
                        throw CLIError(
                            "cannot read the CA certificate file \(caFile)",
                            hint: "give --ca the cluster's ca.crt (in <town>/.gt/pki/ of any node)", code: "bad_value")
                    }
                    let authorities = try Certificate.bundle(pem: pem)
                    return (try TLSContext.httpsClient(trusting: authorities), nil)
                }
                guard let town, let authorities = try? town.pki.trustedAuthorities(), !authorities.isEmpty else {
                    throw CLIError(
                        "\(display) is HTTPS and there is no cluster CA here to verify its certificate with",
                        hint: "run gt feed in a town of that cluster, or pass --ca with the cluster's ca.crt",
                        code: "no_ca")
                }
                let revocations = try? town.pki.revocations(trusting: authorities)
                return (try TLSContext.httpsClient(trusting: authorities), revocations)
            } catch let error as CLIError {
                throw error
            } catch {
                throw CLIError(
                    "cannot use the cluster CA certificate: \(error)",
                    hint: "give --ca the cluster's ca.crt (in <town>/.gt/pki/ of any node)", code: "bad_value")
            }
        }
        tls = context
        self.revocations = revocations
        self.serverName = serverName
    }

    /// The node's name: known for this town's node, else asked of `/api/node`.
    func nodeName() async throws -> String {
        if let knownNode { return knownNode }
        let body = try await FeedHTTP.get(self, "/api/node")
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let name = object["name"] as? String
        else {
            throw CLIError(
                "\(display) answered /api/node with something gt feed cannot read",
                hint: "is it a GasTown dashboard? ('gt dashboard' on that node prints its URL)", code: "bad_reply")
        }
        return name
    }
}

/// The feed's HTTP client: blocking sockets (and `BlockingTLSStream` for HTTPS) on dedicated threads, never on the
/// cooperative pool; one request per connection. A namespace.
enum FeedHTTP {
    /// Fetches what the feed shows.
    static func snapshot(_ endpoint: FeedEndpoint, node: String) async throws -> FeedSnapshot {
        async let nodes = get(endpoint, "/api/nodes")
        async let polecats = get(endpoint, "/api/polecats")
        async let convoys = get(endpoint, "/api/convoys")
        async let queue = get(endpoint, "/api/merge-queue")
        async let events = get(endpoint, "/api/events?limit=50")
        do {
            return try FeedSnapshot.decode(
                node: node, nodes: try await nodes, polecats: try await polecats, convoys: try await convoys,
                mergeQueue: try await queue, events: try await events)
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError(
                "the node's dashboard answered something gt feed cannot read: \(error)",
                hint: "check that gt and the node are the same version ('gt version', 'gt node list')",
                code: "bad_reply")
        }
    }

    /// One connection to the dashboard: a plain socket or TLS over it. Used by one thread.
    final class Link: @unchecked Sendable {
        let fd: Int32
        let tls: BlockingTLSStream?

        init(fd: Int32, tls: BlockingTLSStream?) {
            self.fd = fd
            self.tls = tls
        }

        func send(_ bytes: [UInt8]) -> Bool { tls.map { $0.write(bytes) } ?? sendAll(fd, bytes) }

        func receive(_ buffer: inout [UInt8]) -> Int {
            if let tls { return tls.read(into: &buffer) }
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count < 0 && errno == EINTR { continue }
                return count
            }
        }

        func close() {
            if let tls { tls.close() } else { Glibc.close(fd) }
        }
    }

    /// Connects (TCP, then TLS for HTTPS) with `timeout` seconds for each read. Blocking: dedicated threads only.
    static func open(_ endpoint: FeedEndpoint, timeout: Int) -> Result<Link, CLIError> {
        let fd = connectTCP(host: endpoint.host, port: endpoint.port, timeout: 10)
        guard fd >= 0 else { return .failure(unreachable(endpoint)) }
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        guard let context = endpoint.tls else { return .success(Link(fd: fd, tls: nil)) }
        do {
            let stream = try BlockingTLSStream(
                fd: fd, context: context, serverName: endpoint.serverName, revocations: endpoint.revocations)
            return .success(Link(fd: fd, tls: stream))
        } catch {
            return .failure(
                CLIError(
                    "\(endpoint.display) did not prove it is a node of this cluster: \(error)",
                    hint: "its certificate must be signed by the cluster CA (pass the cluster's ca.crt with --ca) and "
                        + "name the node (use the node's name in --url, as 'gt dashboard' on it prints)",
                    code: "tls"))
        }
    }

    /// The request head for `path` (with the token when there is one).
    static func request(_ endpoint: FeedEndpoint, _ path: String, accept: String? = nil, close: Bool) -> [UInt8] {
        var text = "GET \(path) HTTP/1.1\r\nHost: \(endpoint.hostHeader)\r\n"
        if let token = endpoint.token { text += "Authorization: Bearer \(token)\r\n" }
        if let accept { text += "Accept: \(accept)\r\n" }
        if close { text += "Connection: close\r\n" }
        return Array((text + "\r\n").utf8)
    }

    /// A refusal as the user should read it: 401 names the token, others the status and the server's message.
    static func refusal(_ endpoint: FeedEndpoint, _ path: String, head: String, body: [UInt8]) -> CLIError {
        let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
        let said = (object?["error"] as? [String: Any])?["message"] as? String
        if status == 401 {
            return CLIError(
                endpoint.token == nil
                    ? "\(endpoint.display) needs its login token, and gt feed has none to send"
                    : "\(endpoint.display) refused the login token (401)" + (said.map { ": \($0)" } ?? ""),
                hint: "pass the token 'gt dashboard' prints on that node with --token or GT_DASHBOARD_TOKEN",
                code: "unauthorized")
        }
        return CLIError(
            "the node's dashboard answered \(status) to \(path)" + (said.map { ": \($0)" } ?? ""),
            hint: "see the node's log in <town>/.gt/logs/", code: "bad_reply")
    }

    /// The body of `GET path`; a `CLIError` when the node cannot be reached or does not answer 200.
    static func get(_ endpoint: FeedEndpoint, _ path: String) async throws -> [UInt8] {
        let result = await BlockingWork.run { () -> Result<[UInt8], CLIError> in
            let link: Link
            switch open(endpoint, timeout: 15) {
            case .success(let made): link = made
            case .failure(let error): return .failure(error)
            }
            defer { link.close() }
            guard link.send(request(endpoint, path, close: true)) else { return .failure(unreachable(endpoint)) }
            var response: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = link.receive(&buffer)
                if count <= 0 { break }
                response += buffer[0..<count]
                if response.count > 64 << 20 { break }
            }
            guard let split = headerEnd(response) else { return .failure(unreachable(endpoint)) }
            let head = String(decoding: response[..<split], as: UTF8.self)
            let body = Array(response[(split + 4)...])
            guard head.hasPrefix("HTTP/1.1 200") else {
                return .failure(refusal(endpoint, path, head: head, body: body))
            }
            return .success(body)
        }
        return try result.get()
    }

    /// Follows `/events` and calls `line` with each event's JSON line, until the node closes the stream.
    static func streamEvents(_ endpoint: FeedEndpoint, _ line: @escaping @Sendable (String) -> Void) async throws {
        let result = await BlockingWork.run { () -> CLIError? in
            // The node sends a comment every 15 s: a minute of silence means it is gone.
            let link: Link
            switch open(endpoint, timeout: 60) {
            case .success(let made): link = made
            case .failure(let error): return error
            }
            defer { link.close() }
            guard link.send(request(endpoint, "/events", accept: "text/event-stream", close: false)) else {
                return unreachable(endpoint)
            }
            var pending: [UInt8] = []
            var headerDone = false
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = link.receive(&buffer)
                if count <= 0 { break }
                pending += buffer[0..<count]
                if !headerDone {
                    guard let split = headerEnd(pending) else { continue }
                    let head = String(decoding: pending[..<split], as: UTF8.self)
                    guard head.hasPrefix("HTTP/1.1 200") else {
                        // An error answer is short: read it to its end for the server's message.
                        var rest = Array(pending[(split + 4)...])
                        while rest.count < 65536 {
                            let more = link.receive(&buffer)
                            if more <= 0 { break }
                            rest += buffer[0..<more]
                        }
                        return refusal(endpoint, "/events", head: head, body: rest)
                    }
                    pending.removeSubrange(..<(split + 4))
                    headerDone = true
                }
                while let newline = pending.firstIndex(of: 10) {
                    let text = String(decoding: pending[..<newline], as: UTF8.self)
                    pending.removeSubrange(...newline)
                    if text.hasPrefix("data: ") { line(String(text.dropFirst(6))) }
                }
            }
            return headerDone ? nil : unreachable(endpoint)
        }
        if let result { throw result }
    }

    static func unreachable(_ endpoint: FeedEndpoint) -> CLIError {
        CLIError(
            "cannot reach the node's dashboard at \(endpoint.display)",
            hint: "is the node running? ('gt up', 'gt status'; 'gt dashboard' on it prints its URL)",
            code: "not_running")
    }

    static func headerEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }

    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 && errno == EINTR { continue }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }

    /// A connected blocking TCP socket to `host` (a name or an address) within `timeout` seconds, or -1.
    static func connectTCP(host: String, port: UInt16, timeout: Int32) -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { return -1 }
        defer { freeaddrinfo(list) }
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            entry = current.pointee.ai_next
            let fd = socket(current.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { continue }
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            var result = connect(fd, current.pointee.ai_addr, current.pointee.ai_addrlen)
            if result < 0 && errno == EINPROGRESS {
                var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                var ready: Int32 = -1
                repeat { ready = poll(&poller, 1, timeout * 1000) } while ready < 0 && errno == EINTR
                var failure: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &length)
                result = ready == 1 && failure == 0 ? 0 : -1
            }
            if result == 0 {
                _ = fcntl(fd, F_SETFL, flags)
                return fd
            }
            close(fd)
        }
        return -1
    }

    /// The terminal's columns and rows (100×40 when it does not say).
    static func terminalSize() -> (Int, Int) {
        var size = winsize()
        guard ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 else { return (100, 40) }
        return (Int(size.ws_col), Int(size.ws_row))
    }
}
