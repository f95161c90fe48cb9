import Foundation
import GasTownCLI
import GasTownTestKit
import Node
import Testing
import Transport

/// The node, daemon and cluster commands in process: usage errors (exit 2, nothing done) and the offline
/// PKI paths (no node running).
struct CommandTests {
    func run(_ words: [String], cwd: String = "/") async -> (ExitCode, String, String) {
        let out = BufferSink()
        let err = BufferSink()
        let code = await CommandRunner.run(
            ["gt"] + words, program: GT.program, stdout: out, stderr: err, environment: [:], cwd: cwd)
        return (code, out.text, err.text)
    }

    @Test func usageErrors() async {
        let cases: [([String], String)] = [
            (["node", "run", "--listen", "nowhere"], "bad address 'nowhere'"),
            (["up", "--join", "a:b"], "bad address 'a:b'"),
            (["up", "--timeout", "0"], "bad value '0'"),
            (["cluster", "token", "--ttl", "soon"], "bad --ttl 'soon'"),
            (["cluster", "token", "--ttl", "400d"], "at most 366d"),
            (["node", "ping", "127.0.0.1:1", "--count", "0"], "bad value '0'"),
            (["node", "join", "127.0.0.1:1"], "missing argument <token>"),
            (["node", "cert", "revoke", "beta", "--serial", "xyz"], "bad --serial 'xyz'"),
            (["cluster", "init", "--name", ""], "bad --name"),
        ]
        for (words, message) in cases {
            let (code, out, err) = await run(words)
            #expect(code == .usage, "\(words)")
            #expect(err.contains(message), "\(words): \(err)")
            #expect(out.isEmpty)
        }
    }

    @Test func offlineTokenRevokeAndRotate() async throws {
        let directory = try TempDir(prefix: "gt-node-offline")
        let (installed, _, _) = await run(["install", directory.join("t")])
        #expect(installed == .success)
        let town = TownPaths(root: directory.join("t"))
        let (initialized, initOut, _) = await run([
            "--town", town.root, "cluster", "init", "--node-name", "Node_1", "--json",
        ])
        #expect(initialized == .usage, "Node_1 is not a node name: \(initOut)")
        #expect(await run(["--town", town.root, "cluster", "init"]).0 == .success)
        #expect(try town.pki.loadIdentity().name.rawValue == "t")

        // Without a running node the CLI issues the token itself, and JoinService would accept it once.
        let (tokenCode, tokenOut, _) = await run(["--town", town.root, "cluster", "token", "--ttl", "2m"])
        #expect(tokenCode == .success)
        let token = try JoinToken(parsing: tokenOut)
        try PKI.consumeJoinToken(at: town.pki, secret: token.secret, by: try .init("x"))
        #expect(throws: TransportError.self) {
            try PKI.consumeJoinToken(at: town.pki, secret: token.secret, by: try .init("y"))
        }

        // Revoking a node never seen here asks for --serial; with one, the entry is written.
        let (unknown, _, unknownErr) = await run(["--town", town.root, "node", "cert", "revoke", "ghost"])
        #expect(unknown == .failure && unknownErr.contains("--serial"))
        let (revoked, revokedOut, _) = await run([
            "--town", town.root, "node", "cert", "revoke", "ghost", "--serial", "0A1B", "--json",
        ])
        #expect(revoked == .success)
        #expect(revokedOut.contains("\"applied\": false"))
        #expect(try town.pki.revocations(trusting: town.pki.trustedAuthorities()).isRevoked(serial: "0A1B"))

        // Offline renewal on the CA town.
        let serial = try town.pki.loadIdentity().certificate.serial
        #expect(await run(["--town", town.root, "node", "cert", "renew"]).0 == .success)
        #expect(try town.pki.loadIdentity().certificate.serial != serial)

        // Offline rotation keeps both CAs until --complete.
        let before = try town.pki.trustedAuthorities()[0].fingerprint
        #expect(await run(["--town", town.root, "cluster", "rotate-ca"]).0 == .success)
        #expect(try town.pki.trustedAuthorities().map(\.fingerprint).last == before)
        #expect(await run(["--town", town.root, "cluster", "rotate-ca", "--complete"]).0 == .success)
        #expect(try town.pki.trustedAuthorities().count == 1)
        let (again, _, againErr) = await run(["--town", town.root, "cluster", "rotate-ca", "--complete"])
        #expect(again == .failure && againErr.contains("no CA rotation"))
    }
}
