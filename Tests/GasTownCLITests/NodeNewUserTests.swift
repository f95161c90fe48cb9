import Foundation
import GasTownTestKit
import Node
import Testing
import Transport

@testable import GasTownCLI

/// Issue 10, node commands a new user tripped on: the renewal date in the right tense, the listen address
/// `gt node join` records, `gt node ping` taking a member's name.
@Suite struct NodeNewUserTests {
    @Test func renewalIsSaidInTheRightTense() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(NodeCLI.renewal(now.addingTimeInterval(86_400), now: now).hasPrefix("renews at "))
        #expect(NodeCLI.renewal(now.addingTimeInterval(-60), now: now).hasPrefix("due for renewal since "))
    }

    @Test func clusterInitSaysWhenTheCertificateRenews() async throws {
        try await TempDir.with { temp in
            let town = temp.join("town")
            let installed = try await BuiltBinaries.run(.gt, ["install", town])
            #expect(installed.status == 0, "\(installed)")
            let output = try await BuiltBinaries.run(.gt, ["--town", town, "cluster", "init"], cwd: town)
            #expect(output.status == 0, "\(output)")
            #expect(output.stdout.contains(", renews at "), "\(output.stdout)")
            #expect(!output.stdout.contains("renewed at"))
            let shown = try await BuiltBinaries.run(.gt, ["--town", town, "node", "cert", "show"], cwd: town)
            #expect(shown.stdout.contains("renewal:     renews at "), "\(shown.stdout)")
        }
    }

    @Test func joinRecordsAStableListenAddress() throws {
        let loopback = try PeerAddress(parsing: "127.0.0.1:7420")
        let remote = try PeerAddress(parsing: "10.1.2.3:7420")
        #expect(NodeJoinCommand.stableListen(flag: "0.0.0.0:9000", config: nil, seed: loopback) == "0.0.0.0:9000")
        #expect(
            NodeJoinCommand.stableListen(flag: nil, config: TownNodeConfig(listen: "127.0.0.1:7500"), seed: remote)
                == "127.0.0.1:7500")
        let chosen = NodeJoinCommand.stableListen(flag: nil, config: TownNodeConfig(), seed: loopback)
        #expect(chosen.hasPrefix("127.0.0.1:") && !chosen.hasSuffix(":0"), "\(chosen)")
        #expect(NodeJoinCommand.stableListen(flag: nil, config: nil, seed: remote).hasPrefix("0.0.0.0:"))
    }

    @Test func pingTakesAnAddressOrAMemberName() async throws {
        try await TempDir.with { temp in
            let town = temp.join("town")
            _ = try await BuiltBinaries.run(.gt, ["install", town])
            _ = try await BuiltBinaries.run(.gt, ["--town", town, "cluster", "init"], cwd: town)
            let bad = try await BuiltBinaries.run(.gt, ["--town", town, "node", "ping", "Not A Name"], cwd: town)
            #expect(bad.status != 0 && bad.stderr.contains("HOST:PORT or a member's name"), "\(bad)")
            // Without a running node a name cannot be looked up: it says so, and how to get past it.
            let offline = try await BuiltBinaries.run(.gt, ["--town", town, "node", "ping", "beta"], cwd: town)
            #expect(offline.status == 1 && offline.stderr.contains("only the running node knows"), "\(offline)")
        }
    }
}
