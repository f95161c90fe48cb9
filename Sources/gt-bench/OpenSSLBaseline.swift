import Foundation
import Transport

/// Runs `openssl s_server` and `openssl s_time` on the same certificates our handshake benchmark uses, so the two
/// figures come from one run on one machine. The server is a child process stopped by its pid.
enum OpenSSLBaseline {
    /// Milliseconds of wall time per full mutual TLS 1.3 handshake measured by `openssl s_time -new`.
    static func handshakeMilliseconds(identities: (server: NodeIdentity, client: NodeIdentity), seconds: Int = 5)
        async throws -> Double
    {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gt-bench-openssl-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let pem = try TransportBenchmarks.writePEMFiles(to: directory, identities: identities)
        let port = 40_000 + Int(getpid() % 20_000)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        server.arguments = [
            "s_server", "-accept", "127.0.0.1:\(port)", "-cert", pem.serverCertificate.path, "-key",
            pem.serverKey.path, "-CAfile", pem.caCertificate.path, "-Verify", "1", "-verify_return_error",
            "-tls1_3", "-quiet", "-naccept", "1000000",
        ]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { kill(server.processIdentifier, SIGKILL) }
        try await Task.sleep(for: .milliseconds(500))
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        client.arguments = [
            "s_time", "-connect", "127.0.0.1:\(port)", "-new", "-time", "\(seconds)", "-cert",
            pem.clientCertificate.path, "-key", pem.clientKey.path, "-CAfile", pem.caCertificate.path,
        ]
        let output = Pipe()
        client.standardOutput = output
        client.standardError = FileHandle.nullDevice
        let finished = AsyncStream<Void> { continuation in
            client.terminationHandler = { _ in continuation.yield(); continuation.finish() }
        }
        try client.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        for await _ in finished {}
        // "3085 connections in 6 real seconds, …" is the wall-clock line of s_time.
        guard let line = text.split(separator: "\n").first(where: { $0.contains("real seconds") }),
            let connections = Double(line.split(separator: " ")[0]),
            let realIndex = line.split(separator: " ").firstIndex(of: "real"),
            let elapsed = Double(line.split(separator: " ")[realIndex - 1]), connections > 0
        else { throw BaselineError(output: text) }
        return elapsed * 1000 / connections
    }

    struct BaselineError: Error, CustomStringConvertible {
        var output: String
        var description: String { "could not read openssl s_time's result from: \(output.prefix(400))" }
    }
}
