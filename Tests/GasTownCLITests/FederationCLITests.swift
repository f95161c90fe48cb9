import Foundation
import GasTownTestKit
import Testing

/// Issue 16, bad input through the built `gt` and `bd`: a forged trust bundle, a bundle for an organization
/// already present, and a `hop://` address naming an organization this town never added. Each is a clear error
/// and a non-zero exit, and `peers.json` stays byte for byte what it was. No node runs: none is needed to refuse.
@Suite struct FederationCLITests {
    /// Installs town `name` with its own CA (`gt cluster init`) and exports its bundle to `<temp>/<name>.bundle`.
    func organization(_ temp: TempDir, _ name: String, port: Int) async throws -> String {
        let town = temp.join(name)
        let installed = try await BuiltBinaries.run(.gt, ["install", town, "--name", name])
        #expect(installed.status == 0, "\(installed)")
        let initialized = try await BuiltBinaries.run(
            .gt, ["--town", town, "cluster", "init", "--name", name], cwd: town)
        #expect(initialized.status == 0, "\(initialized)")
        let exported = try await BuiltBinaries.run(
            .gt,
            [
                "--town", town, "federation", "export", "-o", temp.join("\(name).bundle"), "--endpoint",
                "127.0.0.1:\(port)",
            ], cwd: town)
        #expect(exported.status == 0, "\(exported)")
        return town
    }

    @Test func forgedAndDuplicateBundlesAndUnknownOrganizationsChangeNothing() async throws {
        try await TempDir.with(prefix: "gt-federation-cli") { temp in
            let alpha = try await organization(temp, "alpha", port: 7701)
            _ = try await organization(temp, "beta", port: 7702)
            _ = try await organization(temp, "gamma", port: 7703)
            let added = try await BuiltBinaries.run(
                .gt, ["--town", alpha, "federation", "add", temp.join("beta.bundle"), "--allow-read", "api"], cwd: alpha
            )
            #expect(added.status == 0 && added.stdout.contains("Added organization beta"), "\(added)")
            let peersFile = alpha + "/.gt/federation/peers.json"
            let before = try #require(FileManager.default.contents(atPath: peersFile))

            // gamma's bundle carrying beta's CA certificate: not signed by the CA it carries.
            let gammaBundle = try #require(FileManager.default.contents(atPath: temp.join("gamma.bundle")))
            let betaBundle = try #require(FileManager.default.contents(atPath: temp.join("beta.bundle")))
            var forged = try #require(try JSONSerialization.jsonObject(with: gammaBundle) as? [String: Any])
            let betaObject = try #require(try JSONSerialization.jsonObject(with: betaBundle) as? [String: Any])
            forged["ca_pem"] = betaObject["ca_pem"]
            forged["organization"] = "delta"
            try JSONSerialization.data(withJSONObject: forged).write(
                to: URL(fileURLWithPath: temp.join("forged.bundle")))
            let refused = try await BuiltBinaries.run(
                .gt, ["--town", alpha, "federation", "add", temp.join("forged.bundle"), "--allow-read", "*"], cwd: alpha
            )
            #expect(refused.status == 1, "\(refused)")
            #expect(refused.stderr.contains("not signed by its CA"), "\(refused)")
            #expect(refused.stderr.contains("nothing was changed"), "\(refused)")
            #expect(FileManager.default.contents(atPath: peersFile) == before)

            // beta again: already present, remove it first.
            let again = try await BuiltBinaries.run(
                .gt, ["--json", "--town", alpha, "federation", "add", temp.join("beta.bundle")], cwd: alpha)
            #expect(again.status == 1, "\(again)")
            #expect(again.stdout.isEmpty)
            #expect(again.stderr.contains("organization 'beta' is already present"), "\(again)")
            #expect(again.stderr.contains("gt federation remove beta"), "\(again)")
            #expect(FileManager.default.contents(atPath: peersFile) == before)

            // bd show of an organization alpha never added: named, with the known ones and how to add it.
            let unknown = try await BuiltBinaries.run(.bd, ["-C", alpha, "show", "hop://gamma/api/ga-1"], cwd: alpha)
            #expect(unknown.status != 0, "\(unknown)")
            #expect(unknown.stderr.contains("unknown organization 'gamma'"), "\(unknown)")
            #expect(unknown.stderr.contains("known: beta"), "\(unknown)")
            #expect(unknown.stderr.contains("gt federation add"), "\(unknown)")
            let listed = try await BuiltBinaries.run(
                .bd, ["-C", alpha, "list", "--org", "nobody", "--rig", "api"], cwd: alpha)
            #expect(listed.status != 0 && listed.stderr.contains("unknown organization 'nobody'"), "\(listed)")
            // A known organization without a running node: told to start it (not "unknown").
            let down = try await BuiltBinaries.run(.bd, ["-C", alpha, "show", "hop://beta/api/ap-1"], cwd: alpha)
            #expect(down.status != 0 && down.stderr.contains("gt up"), "\(down)")
            #expect(FileManager.default.contents(atPath: peersFile) == before)
            let list = try await BuiltBinaries.run(.gt, ["--town", alpha, "federation", "list"], cwd: alpha)
            #expect(list.status == 0 && list.stdout.contains("beta") && !list.stdout.contains("delta"), "\(list)")
        }
    }

    /// `gt delegate` bad input: missing --to or --gate, a bad budget or deadline are usage errors (exit 2); an
    /// organization never added is named, with how to add it (exit 1), before any node is needed.
    @Test func delegateRefusesBadInput() async throws {
        try await TempDir.with(prefix: "gt-delegate-cli") { temp in
            let town = temp.join("alpha")
            let installed = try await BuiltBinaries.run(.gt, ["install", town, "--name", "alpha"])
            #expect(installed.status == 0, "\(installed)")
            let cases: [([String], String)] = [
                (["delegate", "al-1", "--gate", "true"], "--to ORG is required"),
                (["delegate", "al-1", "--to", "beta"], "--gate '<command>' is required"),
                (["delegate", "al-1", "--to", "beta", "--gate", "true", "--budget", "-2"], "not a positive number"),
                (["delegate", "al-1", "--to", "beta", "--gate", "true", "--deadline", "soon"], "not a duration"),
            ]
            for (arguments, message) in cases {
                let out = try await BuiltBinaries.run(.gt, ["--town", town] + arguments, cwd: town)
                #expect(out.status == 2 && out.stderr.contains(message), "\(out)")
            }
            let unknown = try await BuiltBinaries.run(
                .gt, ["--town", town, "delegate", "al-1", "--to", "beta", "--gate", "true"], cwd: town)
            #expect(unknown.status == 1, "\(unknown)")
            #expect(
                unknown.stderr.contains("unknown organization 'beta'") && unknown.stderr.contains("gt federation add"),
                "\(unknown)")
        }
    }
}
