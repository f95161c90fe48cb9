import Foundation
import GasTownTestKit
import Testing

@testable import Transport
@testable import Wire

/// Runs `/usr/bin/openssl` with `arguments`, feeding `input` on stdin (closed after `holdStdin` seconds),
/// and returns its combined output. Waits without blocking a thread (termination handler), and kills the
/// child by pid if it outlives `timeout`.
func runOpenSSL(_ arguments: [String], input: [UInt8], holdStdin: Double, timeout: Double = 10) async throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
    process.arguments = arguments
    let stdin = Pipe()
    let output = Pipe()
    process.standardInput = stdin
    process.standardOutput = output
    process.standardError = output
    final class Collected: @unchecked Sendable {
        let lock = NSLock()
        var data = Data()
    }
    let collected = Collected()
    output.fileHandleForReading.readabilityHandler = { handle in
        let chunk = handle.availableData
        collected.lock.withLock { collected.data.append(chunk) }
    }
    let exited = AsyncStream<Void> { continuation in
        process.terminationHandler = { _ in continuation.yield() }
    }
    try process.run()
    try? stdin.fileHandleForWriting.write(contentsOf: Data(input))  // the child may already have exited (EPIPE)
    let pid = process.processIdentifier
    let watchdog = Task {
        try await Task.sleep(nanoseconds: UInt64(holdStdin * 1e9))
        try? stdin.fileHandleForWriting.close()
        try await Task.sleep(nanoseconds: UInt64(timeout * 1e9))
        kill(pid, SIGKILL)
    }
    for await _ in exited { break }
    watchdog.cancel()
    try? await Task.sleep(nanoseconds: 50_000_000)
    output.fileHandleForReading.readabilityHandler = nil
    collected.lock.withLock { collected.data.append(output.fileHandleForReading.readDataToEndOfFile()) }
    return collected.lock.withLock { String(decoding: collected.data, as: UTF8.self) }
}

@Suite struct ExternalClientTests {
    @Test func opensslSClientWithoutClientCertificateIsRefused() async throws {
        try await withTemporaryDirectory { root in
            let arena = try await Arena()
            let files = try TransportBenchmarks.writePEMFiles(
                to: root, identities: (try arena.ca.identity("server"), try arena.ca.identity("mallory")))
            guard case .tcp(let host, let port) = arena.server.address else { return }
            let hello = try FrameCodec.encode(
                payload: Hello(sender: name("mallory"), expectedPeer: name("server"), purpose: .general).envelope()
                    .encoded())
            let common = [
                "s_client", "-connect", "\(host):\(port)", "-servername", "server", "-CAfile", files.caCertificate.path,
                "-tls1_3", "-verify_return_error",
            ]
            let refused = try await runOpenSSL(common, input: hello, holdStdin: 2)
            #expect(refused.contains("certificate required"), "s_client output: \(refused)")
            await arena.expectRefusal(containing: "peer did not return a certificate")
            // Control: with the client certificate, the same command gets through the handshake.
            let accepted = try await runOpenSSL(
                common + ["-cert", files.clientCertificate.path, "-key", files.clientKey.path], input: hello,
                holdStdin: 2)
            #expect(!accepted.contains("certificate required"))
            #expect(accepted.contains("Verify return code: 0"))
            await arena.finish(attacker: "mallory", alsoServed: [])
        }
    }
}

@Suite struct UnixSocketTests {
    @Test func localCLIFramesOverAUnixSocketWithMode0600() async throws {
        try await withTemporaryDirectory { root in
            let path = root.appendingPathComponent("node.sock").path
            let inbox = Inbox()
            let listener = try Listener(unixPath: path, local: name("node"), onRefusal: { inbox.refused($0) }) {
                connection, peer in
                inbox.accepted(peer.name)
                Task {
                    while let frames = try? await connection.receive() {
                        for frame in frames {
                            inbox.add(peer.name, frame)
                            try? await connection.send(frame.reversed())
                        }
                    }
                }
            }
            defer { listener.close() }
            #expect(try mode(of: URL(fileURLWithPath: path)) & 0o777 == 0o600)
            let (connection, peer) = try await Dialer.connectLocal(path: path, node: name("node"), local: name("cli"))
            #expect(peer.name == name("node"))
            #expect(peer.purpose == .local)
            try await connection.send([1, 2, 3])
            let echoed = try await connection.receive()
            #expect(echoed == [[3, 2, 1]])
            connection.close()
            // A TLS-only purpose is refused on the Unix socket.
            let wrong = Connection.dial(
                .unix(path: path), context: nil, serverName: nil, limits: .general, settings: ConnectionSettings())
            await #expect(throws: TransportError.self) {
                _ = try await wrong.establish(local: name("cli"), expectedPeer: nil, purpose: .general)
            }
            #expect(await eventually(sync: { inbox.refusalList.count == 1 }))
            #expect(inbox.all.map(\.1) == [[1, 2, 3]])
        }
    }
}

extension UnixSocketTests {
    @Test func localServerAnswersCLIRequests() async throws {
        try await withTemporaryDirectory { root in
            let path = root.appendingPathComponent("node.sock").path
            var registry = MessageRegistry.core
            registry.register(MessageDescriptor(type: TestNode.echo, name: "echo"))
            let server = try LocalServer(path: path, local: name("node"), registry: registry) { message in
                Array("\(message.peer.name)>".utf8) + message.envelope.body
            }
            defer { server.close() }
            let link = try await LocalClient.connect(path: path, local: name("cli"), node: name("node"))
            let reply = try await link.request(TestNode.echo, body: [9], timeout: 5)
            #expect(reply.body == Array("cli>".utf8) + [9])
            do {
                _ = try await link.request(MessageType(rawValue: 999), body: [], timeout: 5)
                Issue.record("unknown type must be refused")
            } catch {
                guard case .remoteError(let refusal)? = error as? TransportError else { throw error }
                #expect(refusal.code == .unknownMessageType)
            }
            link.connection.close()
        }
    }
}

@Suite struct BenchmarkSmokeTests {
    /// The benchmark functions run end to end (their figures are reported by gt-bench, not checked here).
    @Test func benchmarksRun() async throws {
        #expect(try await TransportBenchmarks.oneWayFrames(size: 1024, count: 2_000) > 0)
        #expect(try await TransportBenchmarks.requestResponse(size: 1024, count: 200) > 0)
        #expect(try await TransportBenchmarks.handshakes(count: 5) > 0)
        #expect(try await TransportBenchmarks.idleConnectionMemory(n: 10) >= 0)
    }
}
