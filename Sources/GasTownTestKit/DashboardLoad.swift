import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Our own loopback HTTP load generator for the dashboard (for `gt-bench dashboard`; the tests only check its
/// mechanics): `connections` threads (dedicated `Thread`s, never the cooperative pool), each with one kept-alive
/// connection sending `GET path` one request after another for `seconds`, reading each response to its
/// `Content-Length`. A response with `Connection: close`, or a broken connection, opens a new one.
public enum DashboardLoad {
    /// What one run measured. `Sendable`: numbers.
    public struct Figures: Sendable, CustomStringConvertible {
        public var path: String
        public var connections: Int
        public var seconds: Double
        /// Requests answered 200.
        public var requests: Int
        /// Requests that failed (no answer, or not 200).
        public var errors: Int
        /// Connections opened in all (`connections` when every one was kept alive).
        public var opened: Int
        /// Milliseconds per answered request, sorted.
        public var latencies: [Double]

        public var perSecond: Double { Double(requests) / max(seconds, 0.001) }
        public func percentile(_ fraction: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            return latencies[min(latencies.count - 1, Int(Double(latencies.count) * fraction))]
        }
        public var description: String {
            String(
                format: "%@: %.0f req/s, p50 %.2f ms, p99 %.2f ms (%d connections, %d opened, %d errors)", path,
                perSecond, percentile(0.5), percentile(0.99), connections, opened, errors)
        }
    }

    /// Loads `GET path` on `host:port` (plain HTTP) from `connections` connections for `seconds`.
    public static func run(
        host: String = "127.0.0.1", port: UInt16, path: String, connections: Int = 4, seconds: Double = 5
    ) async -> Figures {
        let totals = Totals()
        let group = DispatchGroup()
        let deadline = monotonicNanos() + Int64(seconds * 1e9)
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\n\r\n".utf8)
        for index in 0..<connections {
            group.enter()
            let thread = Thread {
                var mine: [Double] = []
                var failed = 0
                var made = 0
                var connection: Int32 = -1
                var buffer = [UInt8](repeating: 0, count: 1 << 16)
                while monotonicNanos() < deadline {
                    if connection < 0 {
                        connection = connect(host: host, port: port)
                        guard connection >= 0 else {
                            failed += 1
                            usleep(10_000)
                            continue
                        }
                        made += 1
                    }
                    let start = monotonicNanos()
                    switch exchange(connection, request, &buffer) {
                    case .ok(let keep):
                        mine.append(Double(monotonicNanos() - start) / 1e6)
                        if !keep {
                            close(connection)
                            connection = -1
                        }
                    case .status:
                        failed += 1
                    case .broken:
                        failed += 1
                        close(connection)
                        connection = -1
                    }
                }
                if connection >= 0 { close(connection) }
                totals.lock.withLock {
                    totals.latencies += mine
                    totals.errors += failed
                    totals.opened += made
                }
                group.leave()
            }
            thread.name = "gt-bench-load-\(index)"
            thread.start()
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            group.notify(queue: .global()) { continuation.resume() }
        }
        return totals.lock.withLock {
            Figures(
                path: path, connections: connections, seconds: seconds, requests: totals.latencies.count,
                errors: totals.errors, opened: totals.opened, latencies: totals.latencies.sorted())
        }
    }

    /// What the threads add up. `@unchecked Sendable`: guarded by `lock`.
    final class Totals: @unchecked Sendable {
        let lock = NSLock()
        var latencies: [Double] = []
        var errors = 0
        var opened = 0
    }

    enum Outcome {
        /// Answered 200; whether the connection may be used again.
        case ok(keepAlive: Bool)
        /// Answered, but not 200 (the connection is still in step).
        case status(Int)
        case broken
    }

    /// Sends `request` and reads one response (head, then `Content-Length` bytes of body). Blocking.
    static func exchange(_ fd: Int32, _ request: [UInt8], _ buffer: inout [UInt8]) -> Outcome {
        var offset = 0
        while offset < request.count {
            let sent = request[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 && errno == EINTR { continue }
            if sent <= 0 { return .broken }
            offset += sent
        }
        var received: [UInt8] = []
        var headEnd: Int?
        var bodyLength = 0
        var keepAlive = true
        var status = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return .broken }
            received += buffer[0..<count]
            if headEnd == nil, let end = headerEnd(received) {
                headEnd = end
                let head = String(decoding: received[..<end], as: UTF8.self).lowercased()
                status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
                for line in head.split(separator: "\r\n") {
                    if line.hasPrefix("content-length:") {
                        bodyLength = Int(line.dropFirst(15).trimmingCharacters(in: .whitespaces)) ?? 0
                    }
                    if line.hasPrefix("connection:") && line.contains("close") { keepAlive = false }
                }
            }
            if let end = headEnd, received.count >= end + 4 + bodyLength {
                return status == 200 ? .ok(keepAlive: keepAlive) : (keepAlive ? .status(status) : .broken)
            }
        }
    }

    static func headerEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }

    /// A connected blocking TCP socket to an IPv4 `host`, or -1 (10 s receive limit, no Nagle delay).
    static func connect(host: String, port: UInt16) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr(host)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            close(fd)
            return -1
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var limit = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    static func monotonicNanos() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }
}

/// Follows a loopback dashboard's `/events` on a dedicated thread and keeps each event's `data` line with the wall
/// clock it arrived at (for the fan-out latency of `gt-bench dashboard`). `stop()` ends it.
///
/// `@unchecked Sendable`: the received lines and the socket are guarded by `lock`.
public final class EventStreamWatcher: @unchecked Sendable {
    let lock = NSLock()
    var received: [(at: Int64, line: String)] = []
    var fd: Int32 = -1
    var stopped = false
    /// Whether the stream answered 200 (its head arrived).
    public private(set) var streaming = false

    /// Connects to `host:port` and starts reading `/events`.
    public init(host: String = "127.0.0.1", port: UInt16) {
        let thread = Thread { [self] in
            let socket = DashboardLoad.connect(host: host, port: port)
            guard socket >= 0 else { return }
            var limit = timeval(tv_sec: 0, tv_usec: 0)  // the stream may be quiet for long: no receive limit
            setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            let keep = lock.withLock { () -> Bool in
                if stopped { return false }
                fd = socket
                return true
            }
            guard keep else {
                close(socket)
                return
            }
            let request = Array(
                "GET /events HTTP/1.1\r\nHost: \(host):\(port)\r\nAccept: text/event-stream\r\n\r\n".utf8)
            _ = request.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            var pending: [UInt8] = []
            var headDone = false
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                let at = TownBenchmarks.wallNanos()
                pending += buffer[0..<count]
                if !headDone {
                    guard let end = DashboardLoad.headerEnd(pending) else { continue }
                    let ok = pending.starts(with: Array("HTTP/1.1 200".utf8))
                    pending.removeSubrange(..<(end + 4))
                    headDone = true
                    lock.withLock { streaming = ok }
                    if !ok { break }
                }
                while let newline = pending.firstIndex(of: 10) {
                    let text = String(decoding: pending[..<newline], as: UTF8.self)
                    pending.removeSubrange(...newline)
                    if text.hasPrefix("data: ") {
                        let line = String(text.dropFirst(6))
                        lock.withLock { received.append((at, line)) }
                    }
                }
            }
            lock.withLock {
                if fd >= 0 { close(fd) }
                fd = -1
            }
        }
        thread.name = "gt-bench-events"
        thread.start()
    }

    /// The events received so far: (wall nanoseconds of arrival, the JSON line).
    public var events: [(at: Int64, line: String)] { lock.withLock { received } }

    /// Ends the stream (the reading thread closes the socket).
    public func stop() {
        lock.withLock {
            stopped = true
            if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }
}

/// CPU time of a process from `/proc/<pid>/stat`: utime + stime (its own threads, not its children).
public enum ProcessCPU {
    /// utime + stime of `pid`, in seconds (0 when it cannot be read).
    public static func seconds(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command: state is field 3; utime and stime are fields 14 and 15, i.e. indexes 11 and 12 here.
        guard fields.count > 12 else { return 0 }
        let ticks = (11...12).compactMap { Double(fields[$0]) }.reduce(0, +)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
