import Beads
import Foundation
import GasTownTestKit
import LedgerStore
import Node
import Testing
import Transport
import Wire

@testable import Dashboard

/// A blocking loopback HTTP client for tests, run on a dedicated thread (never on the cooperative pool): sends
/// `raw` and reads until the server closes or `expectClose` is false and one response arrived.
enum RawHTTP {
    static func exchange(port: UInt16, _ raw: [UInt8]) async -> String {
        await DedicatedThread.run(name: "test-http") { () -> String in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return "" }
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else { return "" }
            _ = raw.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            shutdown(fd, Int32(SHUT_WR))
            var out: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count <= 0 { break }
                out += buffer[0..<count]
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    static func get(port: UInt16, _ path: String, headers: String = "") async -> String {
        await exchange(port: port, Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\(headers)Connection: close\r\n\r\n".utf8))
    }

    static func post(port: UInt16, _ path: String, json: String) async -> String {
        await exchange(
            port: port,
            Array(("POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: "
                + "\(json.utf8.count)\r\nConnection: close\r\n\r\n" + json).utf8))
    }

    static func status(_ response: String) -> Int {
        Int(response.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    static func body(_ response: String) -> String {
        response.range(of: "\r\n\r\n").map { String(response[$0.upperBound...]) } ?? ""
    }
}

/// Runs a child process on a dedicated thread and returns its standard output.
func runProcess(_ path: String, _ arguments: [String]) async -> (Int32, String) {
    await DedicatedThread.run(name: "test-process") { () -> (Int32, String) in
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return (-1, "") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// A town with a cluster identity and a ledger holding one bead; returns its paths and the bead's id.
func makeDashboardTown(_ directory: TempDir, name: String) async throws -> (TownPaths, String) {
    let town = TownPaths(root: directory.join(name))
    try directory.write("\(name)/mayor/town.json", #"{"name": "\#(name)", "type": "town", "version": 2}"#)
    try PKI.initCluster(at: town.pki, clusterName: "test", nodeName: try NodeName(name))
    let root = town.root
    let id = try await DedicatedThread.run { () throws -> String in
        let database = try LedgerDatabase.initialize(StoreLayout(beadsDirectory: root + "/.beads"), prefix: "hq")
        defer { database.close() }
        let (_, bead) = try database.write(scope: "hq", routing: nil) { ledger, clock throws(LedgerError) in
            try ledger.prepareCreate(NewBead(title: "Paint the bridge"), actor: "t", stamp: clock.stamp, time: clock.time)
        }
        return bead?.id ?? ""
    }
    return (town, id)
}

@Suite("Dashboard on a real node", .serialized)
struct DashboardNodeTests {
    func startNode(_ town: TownPaths, dashboard: String) async throws -> (Node, DashboardInfo) {
        let components = DashboardComponent.adding(
            to: NodeComponents.standard(), settings: DashboardSettings(listen: dashboard))
        let node = Node(town: town.root, options: NodeOptions(listen: "127.0.0.1:0", components: components))
        try await node.start()
        let files = DashboardFiles(townRoot: town.root)
        #expect(await eventually(20) { files.read() != nil })
        guard let info = files.read() else { throw CancellationError() }
        return (node, info)
    }

    @Test func servesTheAPIFromMemoryAndRefusesBadRequestsWhileServing() async throws {
        let directory = try TempDir(prefix: "gt-dash")
        let (town, id) = try await makeDashboardTown(directory, name: "dash")
        let (node, info) = try await startNode(town, dashboard: "127.0.0.1:0")
        defer { Task { await node.shutdown() } }
        #expect(!info.tls && !info.tokenRequired && info.url.hasPrefix("http://127.0.0.1:"))
        let port = UInt16(info.listen.split(separator: ":").last ?? "") ?? 0

        #expect(await eventually(20) { RawHTTP.status(await RawHTTP.get(port: port, "/api/ledger/beads")) == 200 })
        let list = RawHTTP.body(await RawHTTP.get(port: port, "/api/ledger/beads?limit=1"))
        #expect(list.contains("\"id\":\"\(id)\"") && list.contains("\"next_cursor\":null"))
        #expect(RawHTTP.body(await RawHTTP.get(port: port, "/api/ledger/ready")).contains(id))
        #expect(RawHTTP.status(await RawHTTP.get(port: port, "/api/ledger/beads/\(id)")) == 200)
        #expect(RawHTTP.status(await RawHTTP.get(port: port, "/api/ledger/beads/hq-nope")) == 404)
        #expect(RawHTTP.status(await RawHTTP.get(port: port, "/api/ledger/beads?limit=0")) == 400)
        #expect(RawHTTP.status(await RawHTTP.get(port: port, "/api/ledger/beads?cursor=%21%21")) == 400)
        #expect(RawHTTP.body(await RawHTTP.get(port: port, "/api/node")).contains("\"name\":\"dash\""))
        let metrics = await RawHTTP.get(port: port, "/metrics")
        #expect(metrics.contains("text/plain; version=0.0.4"))
        #expect(metrics.contains("gastown_node_up{node=\"dash\"} 1"))
        #expect(metrics.contains("gastown_beads{node=\"dash\",scope=\"hq\",status=\"open\"} 1"))
        let page = await RawHTTP.get(port: port, "/polecats")
        #expect(RawHTTP.status(page) == 200 && page.contains("data-page=\"polecats\""))
        #expect(RawHTTP.status(await RawHTTP.get(port: port, "/static/app.js")) == 200)

        // Claim: a compare-and-swap on the lease epoch.
        let claimPath = "/api/ledger/beads/\(id)/claim"
        let stale = await RawHTTP.post(port: port, claimPath, json: #"{"assignee":"a/polecats/x","expected_epoch":7}"#)
        #expect(RawHTTP.status(stale) == 409 && stale.contains("\"moved\""))
        let won = await RawHTTP.post(port: port, claimPath, json: #"{"assignee":"a/polecats/x","expected_epoch":0}"#)
        #expect(RawHTTP.status(won) == 200 && won.contains("\"lease_epoch\":1"))
        let held = await RawHTTP.post(port: port, claimPath, json: #"{"assignee":"a/polecats/y","expected_epoch":1}"#)
        #expect(RawHTTP.status(held) == 409 && held.contains("\"held\""))
        #expect(RawHTTP.status(await RawHTTP.post(port: port, claimPath, json: "{nope")) == 400)

        // Bad input: refused cleanly, and the node keeps serving.
        #expect(RawHTTP.status(await RawHTTP.exchange(port: port, Array("BLAH\r\n\r\n".utf8))) == 400)
        let bigHeader = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " + String(repeating: "a", count: 20_000) + "\r\n\r\n"
        #expect(RawHTTP.status(await RawHTTP.exchange(port: port, Array(bigHeader.utf8))) == 431)
        let bigBody = "POST \(claimPath) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000000\r\n\r\n"
        #expect(RawHTTP.status(await RawHTTP.exchange(port: port, Array(bigBody.utf8))) == 413)
        #expect(RawHTTP.status(await RawHTTP.get(port: port, "/nope")) == 404)
        #expect(RawHTTP.status(await RawHTTP.get(port: port, "/", headers: "X-Forwarded: 1\r\n")) == 200)
        let rebound = "GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
        #expect(RawHTTP.status(await RawHTTP.exchange(port: port, Array(rebound.utf8))) == 403)
        var random = SplitMix64(seed: 17)
        for _ in 0..<50 {
            let junk = (0..<Int.random(in: 1...3000, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            _ = await RawHTTP.exchange(port: port, junk)
        }
        #expect(RawHTTP.status(await RawHTTP.get(port: port, "/api/nodes")) == 200)
        await node.shutdown()
        #expect(DashboardFiles(townRoot: town.root).read() == nil)
    }

    @Test func beyondLoopbackItServesHTTPSAndAsksForTheToken() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") else { return }
        let directory = try TempDir(prefix: "gt-dash-tls")
        let (town, _) = try await makeDashboardTown(directory, name: "dashtls")
        let (node, info) = try await startNode(town, dashboard: "0.0.0.0:0")
        #expect(info.tls && info.tokenRequired)
        let port = info.listen.split(separator: ":").last.map(String.init) ?? ""
        let token = try String(contentsOfFile: DashboardFiles(townRoot: town.root).tokenFile, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let url = "https://dashtls:\(port)/api/node"
        let resolve = ["--resolve", "dashtls:\(port):127.0.0.1", "--cacert", town.pki.caCertificate.path]
        let (_, without) = await runProcess("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}"] + resolve + [url])
        #expect(without == "401")
        let (_, wrong) = await runProcess(
            "/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer nope"] + resolve + [url])
        #expect(wrong == "401")
        let (_, with) = await runProcess(
            "/usr/bin/curl", ["-s", "-H", "Authorization: Bearer \(token)"] + resolve + [url])
        #expect(with.contains("\"name\":\"dashtls\""))
        let (_, cookie) = await runProcess("/usr/bin/curl", ["-s", "-b", "gt_dashboard=\(token)"] + resolve + [url])
        #expect(cookie.contains("\"name\":\"dashtls\""))
        await node.shutdown()
    }

    /// The mechanics of `gt-bench dashboard` (no time is asserted): its load generator gets answers from a real
    /// node over kept-alive connections with no error, and its event watcher reads the node's `/events`.
    @Test func theBenchLoadGeneratorAndEventWatcherWorkAgainstANode() async throws {
        let directory = try TempDir(prefix: "gt-dash-load")
        let (town, _) = try await makeDashboardTown(directory, name: "load")
        let (node, info) = try await startNode(town, dashboard: "127.0.0.1:0")
        let port = UInt16(info.listen.split(separator: ":").last ?? "") ?? 0
        #expect(await eventually(20) { RawHTTP.status(await RawHTTP.get(port: port, "/api/nodes")) == 200 })
        let load = await DashboardLoad.run(port: port, path: "/api/ledger/beads?limit=10", connections: 2, seconds: 1)
        #expect(load.requests > 0 && load.errors == 0 && load.opened == 2, "\(load)")
        #expect(load.latencies.count == load.requests && load.percentile(0.99) >= load.percentile(0.5))
        let missing = await DashboardLoad.run(port: port, path: "/nope", connections: 1, seconds: 0.3)
        #expect(missing.requests == 0 && missing.errors > 0, "\(missing)")
        let watcher = EventStreamWatcher(port: port)
        #expect(await eventually(20) { watcher.events.contains { $0.line.contains("\"dashboard_started\"") } })
        #expect(watcher.streaming)
        watcher.stop()
        await node.shutdown()
    }

    /// Every route in the router appears in docs/openapi.yaml with its method.
    @Test func openAPIDocumentsEveryRoute() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        let lines = text.components(separatedBy: "\n")
        for route in DashboardRoutes.all {
            guard let at = lines.firstIndex(of: "  \(route.pattern):") else {
                Issue.record("docs/openapi.yaml has no path \(route.pattern)")
                continue
            }
            let block = lines[(at + 1)...].prefix { $0.hasPrefix("    ") || $0.isEmpty }
            #expect(block.contains("    \(route.method.lowercased()):"), "\(route.method) \(route.pattern)")
        }
    }
}
