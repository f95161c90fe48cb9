import Foundation
import GasTownTestKit
import Testing
import Transport
import Wire

@testable import GasTownCLI
@testable import Sessions

/// `gt doctor` against planted faults with real parts (issue 17): a town whose node certificate expired (issued by
/// the town's own CA with a past validity), a ledger remote at a path that does not exist, and an orphaned session
/// on the town's own tmux server (its own `TMUX_TMPDIR`). `gt doctor` names all three and exits 1; `--fix`
/// renews the certificate and kills the session, and reports the remote with what to do; a second `gt doctor`
/// shows only the remote.
@Suite struct DoctorTests {
    @Test func findsPlantedFaultsFixesTheSafeOnesAndReportsTheRest() async throws {
        try await TempDir.with(prefix: "gt-doctor") { temp in
            let town = temp.join("town")
            let tmuxDirectory = temp.join("tmux")
            try FileManager.default.createDirectory(atPath: tmuxDirectory, withIntermediateDirectories: true)
            let environment = ["TMUX_TMPDIR": tmuxDirectory]
            func gt(_ arguments: [String]) async throws -> BuiltBinaries.Output {
                try await BuiltBinaries.run(.gt, ["--town", town] + arguments, environment: environment, cwd: town)
            }
            let installed = try await BuiltBinaries.run(.gt, ["install", town])
            try #require(installed.status == 0, "\(installed)")
            try #require(try await gt(["cluster", "init", "--name", "acme"]).status == 0)

            // Fault 1: the node certificate, re-issued by the town's CA 100 days ago for one day.
            let pki = PKIDirectory(URL(fileURLWithPath: town + "/.gt/pki"))
            let current = try Certificate(pem: String(contentsOf: pki.nodeCertificate, encoding: .utf8))
            let name = try NodeName(current.commonName)
            var past = PKISettings()
            past.nodeCertificateLifetime = 86_400
            let key = try PrivateKey.generateP256()
            let expired = try PKI.issue(
                at: pki, request: try CertificateRequest(commonName: name.rawValue, key: key), name: name,
                now: Date().addingTimeInterval(-100 * 86_400), settings: past)
            try PKI.installNodeCertificate(at: pki, certificate: expired, key: key)

            // Fault 2: a ledger remote at a path that does not exist.
            let missing = temp.join("no-such-remote.git")
            let added = try await BuiltBinaries.run(.bd, ["remote", "add", "hub", missing], cwd: town)
            try #require(added.status == 0, "\(added)")

            // Fault 3: a session of this town on its own tmux server, for a polecat that has no worktree.
            let session = SessionName(town: TownID(townRoot: town), rig: "app", polecat: "ghost", epoch: 1).rendered
            let socket = "gt-\(TownID(townRoot: town).rawValue)"
            // tmux through ChildCommand (posix_spawn, output to files): the first new-session forks the server,
            // which keeps the client's stdout open and its exit unseen by Foundation's Process.
            func tmux(_ arguments: [String]) async throws -> ChildCommandResult {
                var env = ProcessInfo.processInfo.environment
                env["TMUX"] = nil
                env.merge(environment) { $1 }
                return try await ChildCommand.run(
                    "/usr/bin/tmux", ["-L", socket, "-f", "/dev/null"] + arguments, environment: env,
                    timeout: .seconds(10))
            }
            let started = try await tmux(["new-session", "-d", "-s", session, "sleep 600"])
            try #require(started.status == 0, "\(started.stderrText)")
            func checks() async throws {
                let first = try await gt(["doctor"])
                #expect(first.status == 1, "\(first)")
                #expect(
                    first.stdout.contains("FAIL certificate .gt/pki/node.crt: the node certificate of \(name)"),
                    "\(first.stdout)")
                #expect(first.stdout.contains("expired 99 d"), "\(first.stdout)")
                #expect(
                    first.stdout.contains("FAIL git-remote ledger remote hub: \(missing) cannot be reached"),
                    "\(first.stdout)")
                #expect(
                    first.stdout.contains(
                        "FAIL orphaned-session \(session): session \(session) runs but app/ghost has no worktree"))
                #expect(first.stdout.contains("3 failed"), "\(first.stdout)")
                #expect(first.stdout.contains("checked locally: no node runs"), "\(first.stdout)")

                let fixed = try await gt(["doctor", "--fix", "--json"])
                #expect(fixed.status == 1, "the remote still fails: \(fixed)")
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data(fixed.stdout.utf8)) as? [String: Any])
                let fixes = try #require(object["fixes"] as? [[String: Any]], "\(fixed.stdout)")
                let done = fixes.compactMap { ($0["fix"] as? [String: Any])?["kind"] as? String }
                #expect(Set(done) == ["renew-certificate", "kill-session"], "\(fixes)")
                #expect(fixes.allSatisfy { $0["done"] as? Bool == true }, "\(fixes)")
                let after = try #require(object["findings"] as? [[String: Any]])
                let failing = after.filter { $0["severity"] as? String == "fail" }
                #expect(failing.map { $0["check"] as? String } == ["git-remote"], "\(failing)")
                #expect((failing.first?["action"] as? String)?.contains("bd remote remove hub") == true)
                #expect(failing.first?["fix"] == nil, "an unreachable remote is never 'fixed'")

                // Repaired for real: a valid certificate on disk, the session gone from the town's server.
                let renewed = try Certificate(pem: String(contentsOf: pki.nodeCertificate, encoding: .utf8))
                #expect(
                    renewed.notAfter > Date().addingTimeInterval(80 * 86_400) && renewed.commonName == name.rawValue)
                #expect(try await tmux(["has-session", "-t", "=" + session]).status != 0)

                let second = try await gt(["doctor"])
                #expect(second.status == 1, "\(second)")
                #expect(second.stdout.contains("FAIL git-remote ledger remote hub"), "\(second.stdout)")
                #expect(second.stdout.contains("→ check the URL"), "\(second.stdout)")
                #expect(!second.stdout.contains("FAIL certificate") && !second.stdout.contains("FAIL orphaned-session"))
                #expect(second.stdout.contains("ok   certificate .gt/pki/node.crt"), "\(second.stdout)")
                #expect(second.stdout.contains("1 failed"), "\(second.stdout)")

                // With the node running, the observations come from it over node.sock (its clocks and sync too).
                let up = try await gt(["up", "--listen", "127.0.0.1:0", "--json"])
                try #require(up.status == 0, "\(up)")
                let viaNode = try await gt(["doctor", "--json"])
                #expect(viaNode.status == 1, "\(viaNode)")
                let seen = try #require(
                    try JSONSerialization.jsonObject(with: Data(viaNode.stdout.utf8)) as? [String: Any])
                #expect(seen["source"] as? String == "node", "\(viaNode.stdout)")
                let checks = (seen["findings"] as? [[String: Any]] ?? []).map {
                    "\($0["check"] ?? "")/\($0["found"] ?? "")"
                }
                #expect(checks.contains("clock-skew/no connected peers"), "\(checks)")
                #expect(checks.contains { $0.hasPrefix("ledger-sync/") }, "\(checks)")
                #expect(checks.contains { $0.hasPrefix("git-remote/\(missing) cannot be reached") }, "\(checks)")
                #expect(try await gt(["down"]).status == 0)
            }
            // The test's own tmux server (its own TMUX_TMPDIR) goes whatever happens.
            var failure: (any Error)?
            do { try await checks() } catch { failure = error }
            _ = try? await tmux(["kill-server"])
            if let text = try? String(contentsOfFile: town + "/.gt/node.pid", encoding: .utf8),
                let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0, kill(pid, 0) == 0
            {
                kill(pid, SIGKILL)  // the node this test started, if 'gt down' did not run
            }
            if let failure { throw failure }
        }
    }

    /// Outside a town: the usual clear error, exit 1, nothing written.
    @Test func outsideATownSaysSo() async throws {
        try await TempDir.with(prefix: "gt-doctor-none") { temp in
            let output = try await BuiltBinaries.run(.gt, ["doctor"], cwd: temp.path)
            #expect(output.status != 0 && output.stdout.isEmpty, "\(output)")
            #expect(output.stderr.contains("town"), "\(output)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: temp.path).isEmpty)
        }
    }
}
