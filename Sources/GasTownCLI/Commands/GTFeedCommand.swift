import Dashboard
import Foundation
import LedgerStore
import Node

#if canImport(Glibc)
    import Glibc
#endif

/// `gt feed [--once] [--interval S]` / `gt feed --json`: a live terminal view of the cluster, read from this town's
/// running node through its dashboard API on loopback (docs/dashboard.md "gt feed"): problems first, then nodes and
/// their capacity, polecats and their state, convoys and their progress, the merge queue, the latest events; redrawn
/// every interval. `--json` streams the events as JSON lines (the node's `/events` stream: the last 50, then each new
/// one) until interrupted. The view is `FeedView` (pure); this command only fetches and prints.
public struct GTFeedCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "feed", abstract: "Live view of the cluster: problems, nodes, polecats, convoys, merge queue, events",
            discussion: """
                Reads the town's running node (its dashboard API on loopback, so it costs the node a few in-memory
                reads a second and works in any terminal, over SSH too). Redraws every --interval seconds until
                Ctrl-C; --once prints one screen and exits. With --json it prints events as JSON lines instead
                (events.jsonl's lines from every component of the node: the last 50, then each new one).
                """,
            options: [
                .flag("once", help: "print one screen and exit"),
                .option("interval", value: "S", help: "seconds between redraws", default: "1"),
            ])
    }

    var once: Bool
    var interval: Double

    public init(parsed: ParsedValues) throws(UsageError) {
        once = parsed.flag("once")
        let text = parsed.string("interval") ?? "1"
        guard let seconds = Double(text), seconds >= 0.1, seconds <= 3600 else {
            throw parsed.invalid("--interval must be a number of seconds from 0.1 to 3600, not '\(text)'")
        }
        interval = seconds
    }

    public func run(_ context: CommandContext) async throws {
        let town = try NodeCLI.town(context)
        guard let info = DashboardFiles(townRoot: town.root).read(), NodeCLI.isAlive(info.pid) else {
            throw CLIError(
                "gt feed reads the town's running node, and no node (or no dashboard) runs for \(town.root)",
                hint: "start the node with 'gt up' (town.json \"dashboard\": {\"enabled\": true} is the default)",
                code: "not_running")
        }
        guard !info.tls, let port = UInt16(info.listen.split(separator: ":").last ?? "") else {
            throw CLIError(
                "gt feed reads the dashboard on loopback; this node serves it on \(info.listen) with TLS",
                hint:
                    "run 'gt up --dashboard 127.0.0.1:0' for a loopback dashboard, or open 'gt dashboard' in a browser",
                code: "unsupported")
        }
        let host = info.listen.hasPrefix("[") ? "::1" : "127.0.0.1"
        if context.jsonMode {
            try await FeedHTTP.streamEvents(host: host, port: port) { line in context.console.stdout.write(line + "\n")
            }
            return
        }
        let terminal = isatty(1) != 0
        while true {
            let snapshot = try await FeedHTTP.snapshot(host: host, port: port, node: info.node)
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

/// The feed's loopback HTTP client: blocking sockets on dedicated threads (never on the cooperative pool), one
/// request per connection. A namespace.
enum FeedHTTP {
    /// Fetches what the feed shows.
    static func snapshot(host: String, port: UInt16, node: String) async throws -> FeedSnapshot {
        async let nodes = get(host: host, port: port, "/api/nodes")
        async let polecats = get(host: host, port: port, "/api/polecats")
        async let convoys = get(host: host, port: port, "/api/convoys")
        async let queue = get(host: host, port: port, "/api/merge-queue")
        async let events = get(host: host, port: port, "/api/events?limit=50")
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

    /// The body of `GET path`; a `CLIError` when the node cannot be reached or does not answer 200.
    static func get(host: String, port: UInt16, _ path: String) async throws -> [UInt8] {
        let result = await BlockingWork.run { () -> Result<[UInt8], CLIError> in
            let fd = connectLoopback(host: host, port: port)
            guard fd >= 0 else { return .failure(unreachable(host, port)) }
            defer { close(fd) }
            let request =
                "GET \(path) HTTP/1.1\r\nHost: \(host == "::1" ? "[::1]" : host):\(port)\r\n"
                + "Connection: close\r\n\r\n"
            guard sendAll(fd, Array(request.utf8)) else { return .failure(unreachable(host, port)) }
            var response: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                response += buffer[0..<count]
                if response.count > 64 << 20 { break }
            }
            guard let split = headerEnd(response) else { return .failure(unreachable(host, port)) }
            let head = String(decoding: response[..<split], as: UTF8.self)
            let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
            guard status == 200 else {
                return .failure(
                    CLIError(
                        "the node's dashboard answered \(status) to \(path)",
                        hint: "see the node's log in <town>/.gt/logs/", code: "bad_reply"))
            }
            return .success(Array(response[(split + 4)...]))
        }
        return try result.get()
    }

    /// Follows `/events` and calls `line` with each event's JSON line, until the node closes the stream.
    static func streamEvents(host: String, port: UInt16, _ line: @escaping @Sendable (String) -> Void) async throws {
        let result = await BlockingWork.run { () -> CLIError? in
            let fd = connectLoopback(host: host, port: port)
            guard fd >= 0 else { return unreachable(host, port) }
            defer { close(fd) }
            let request =
                "GET /events HTTP/1.1\r\nHost: \(host == "::1" ? "[::1]" : host):\(port)\r\n"
                + "Accept: text/event-stream\r\n\r\n"
            guard sendAll(fd, Array(request.utf8)) else { return unreachable(host, port) }
            var pending: [UInt8] = []
            var headerDone = false
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                pending += buffer[0..<count]
                if !headerDone {
                    guard let split = headerEnd(pending) else { continue }
                    let head = String(decoding: pending[..<split], as: UTF8.self)
                    guard head.hasPrefix("HTTP/1.1 200") else {
                        return CLIError(
                            "the node's dashboard refused the event stream: \(head.prefix(80))",
                            hint: "see the node's log in <town>/.gt/logs/", code: "bad_reply")
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
            return nil
        }
        if let result { throw result }
    }

    static func unreachable(_ host: String, _ port: UInt16) -> CLIError {
        CLIError(
            "cannot reach the node's dashboard at \(host):\(port)", hint: "is the node running? ('gt up', 'gt status')",
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

    /// A connected blocking TCP socket to the loopback dashboard, or -1.
    static func connectLoopback(host: String, port: UInt16) -> Int32 {
        let six = host == "::1"
        let fd = socket(six ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var connected: Int32 = -1
        if six {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            address.sin6_addr = in6addr_loopback
            connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard connected == 0 else {
            close(fd)
            return -1
        }
        return fd
    }

    /// The terminal's columns and rows (100×40 when it does not say).
    static func terminalSize() -> (Int, Int) {
        var size = winsize()
        guard ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 else { return (100, 40) }
        return (Int(size.ws_col), Int(size.ws_row))
    }
}
