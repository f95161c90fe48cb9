import Dispatch
import Foundation
import Wire

/// Benchmarks of the transport for `gt-bench`, over real TLS sockets on 127.0.0.1. Each returns a figure;
/// none asserts anything.
///
/// A caseless namespace; nothing to share.
public enum TransportBenchmarks {
    /// The PEM files written by `writePEMFiles`, so the bench can run `openssl s_server`/`s_time` on the
    /// same certificates.
    ///
    /// `Sendable` because it is a plain value.
    public struct PEMFiles: Sendable {
        public var caCertificate: URL
        public var serverCertificate: URL
        public var serverKey: URL
        public var clientCertificate: URL
        public var clientKey: URL
    }

    /// A fresh CA with a "server" and a "client" identity, in memory.
    public static func makeIdentities() throws(TransportError) -> (server: NodeIdentity, client: NodeIdentity) {
        let authority = try CertificateAuthority.create(clusterName: "bench", now: Date())
        let server = try authority.makeIdentity(for: try! NodeName("server"))
        let client = try authority.makeIdentity(for: try! NodeName("client"))
        return (server, client)
    }

    /// Writes `ca.crt`, `server.crt`, `server.key`, `client.crt`, `client.key` (keys mode 0600) into
    /// `directory` for the given identities (by default a fresh pair).
    @discardableResult
    public static func writePEMFiles(
        to directory: URL, identities: (server: NodeIdentity, client: NodeIdentity)? = nil
    ) throws(TransportError) -> PEMFiles {
        let pair: (server: NodeIdentity, client: NodeIdentity)
        if let identities { pair = identities } else { pair = try makeIdentities() }
        let files = PKIDirectory(directory)
        let result = PEMFiles(
            caCertificate: directory.appendingPathComponent("ca.crt"),
            serverCertificate: directory.appendingPathComponent("server.crt"),
            serverKey: directory.appendingPathComponent("server.key"),
            clientCertificate: directory.appendingPathComponent("client.crt"),
            clientKey: directory.appendingPathComponent("client.key"))
        try files.write(try pair.server.trustedAuthorities[0].pem(), to: result.caCertificate, mode: 0o644)
        try files.write(try pair.server.certificate.pem(), to: result.serverCertificate, mode: 0o644)
        try files.write(try pair.server.key.pem(), to: result.serverKey, mode: 0o600)
        try files.write(try pair.client.certificate.pem(), to: result.clientCertificate, mode: 0o644)
        try files.write(try pair.client.key.pem(), to: result.clientKey, mode: 0o600)
        return result
    }

    /// A connected pair: a listener delivering frames to `onFrames`, and a client connection to it.
    private static func pair(
        onFrames: @escaping @Sendable (Connection, [[UInt8]]) async -> Void
    ) async throws(TransportError) -> (Listener, Connection) {
        let (server, client) = try makeIdentities()
        let listener = try Listener(
            host: "127.0.0.1", port: 0, context: TLSContext(identity: server), local: server.name
        ) { connection, _ in
            Task {
                while let frames = try? await connection.receive() { await onFrames(connection, frames) }
            }
        }
        let (connection, _) = try await Dialer.connect(
            to: listener.address, peer: server.name, context: TLSContext(identity: client), local: client.name)
        return (listener, connection)
    }

    /// Sends `count` frames of `size` bytes one way on one connection; returns frames per second (from the
    /// first send until the receiver has them all).
    public static func oneWayFrames(size: Int = 1024, count: Int = 200_000) async throws(TransportError) -> Double {
        final class Counter: @unchecked Sendable {
            let lock = NSLock()
            var received = 0
            var done: CheckedContinuation<Void, Never>?
            let target: Int
            init(target: Int) { self.target = target }
            func add(_ n: Int) {
                let waiter: CheckedContinuation<Void, Never>? = lock.withLock {
                    received += n
                    guard received >= target, let done else { return nil }
                    self.done = nil
                    return done
                }
                waiter?.resume()
            }
            func wait() async {
                await withCheckedContinuation { continuation in
                    let ready = lock.withLock {
                        if received >= target { return true }
                        done = continuation
                        return false
                    }
                    if ready { continuation.resume() }
                }
            }
        }
        let counter = Counter(target: count)
        let (listener, connection) = try await pair { _, frames in counter.add(frames.count) }
        defer {
            connection.close()
            listener.close()
        }
        let payload = [UInt8](repeating: 0x5A, count: size)
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<count { try await connection.send(payload) }
        await counter.wait()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Double(count) / seconds
    }

    /// Request/response round trips of `size`-byte bodies, one at a time, through two connection managers
    /// (the request is a `ping`, answered by the peer's link with the same body); returns round trips per
    /// second.
    public static func requestResponse(size: Int = 1024, count: Int = 20_000) async throws(TransportError) -> Double {
        let (server, client) = try makeIdentities()
        let serverManager = try ConnectionManager(identity: server) { message in message.envelope.body }
        let address = try await serverManager.listen(host: "127.0.0.1", port: 0)
        let clientManager = try ConnectionManager(identity: client) { _ in [] }
        await clientManager.addPeer(server.name, at: address)
        let body = [UInt8](repeating: 0xA5, count: size)
        var result: Result<Double, TransportError>
        do {
            let link = try await clientManager.link(to: server.name)
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<count { _ = try await link.request(.ping, body: body, timeout: 10) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            result = .success(Double(count) / seconds)
        } catch {
            result = .failure(error)
        }
        await clientManager.shutdown()
        await serverManager.shutdown()
        return try result.get()
    }

    /// Full mutual TLS 1.3 handshakes plus hello, one after another on new connections; returns
    /// milliseconds per connection (compare with `openssl s_time -new` on the files of `writePEMFiles`).
    public static func handshakes(count: Int = 200) async throws(TransportError) -> Double {
        let (server, client) = try makeIdentities()
        let listener = try Listener(
            host: "127.0.0.1", port: 0, context: TLSContext(identity: server), local: server.name
        ) { connection, _ in connection.close() }
        defer { listener.close() }
        let context = try TLSContext(identity: client)
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<count {
            let (connection, _) = try await Dialer.connect(
                to: listener.address, peer: server.name, context: context, local: client.name)
            connection.close()
        }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 / Double(count)
    }

    /// Opens `n` idle mutual-TLS connections (both ends in this process) and returns the growth of resident
    /// memory per connection, in bytes (both ends counted: divide by 2 for one side).
    public static func idleConnectionMemory(n: Int = 500) async throws(TransportError) -> Double {
        let (server, client) = try makeIdentities()
        final class Holder: @unchecked Sendable {
            let lock = NSLock()
            var connections: [Connection] = []
        }
        let held = Holder()
        let listener = try Listener(
            host: "127.0.0.1", port: 0, context: TLSContext(identity: server), local: server.name
        ) { connection, _ in held.lock.withLock { held.connections.append(connection) } }
        defer { listener.close() }
        let context = try TLSContext(identity: client)
        var clients: [Connection] = []
        let before = residentBytes()
        for _ in 0..<n {
            clients.append(
                try await Dialer.connect(to: listener.address, peer: server.name, context: context, local: client.name)
                    .0)
        }
        while held.lock.withLock({ held.connections.count }) < n { try? await Task.sleep(nanoseconds: 1_000_000) }
        let after = residentBytes()
        for connection in clients + held.lock.withLock({ held.connections }) { connection.close() }
        return Double(after - before) / Double(n)
    }

    /// Resident set size of this process, from /proc/self/statm.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
