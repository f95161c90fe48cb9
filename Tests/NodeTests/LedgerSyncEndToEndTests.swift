import Foundation
import GasTownTestKit
import Git
import Node
import Testing

/// Issue 11 with the built binaries: two towns in one cluster, each a real `gt node run` process, share a ledger
/// remote. The node's own sync loop (assembled by `NodeComponents.standard`) carries a bead created on one to the
/// other with no `bd sync` by hand; `bd sync` and `bd sync --status` run in the node and go through that loop.
/// Every node process is killed by pid in a defer.
@Suite(.serialized)
struct LedgerSyncEndToEndTests {
    func bd(_ town: TestTown, _ arguments: [String]) async throws -> BuiltBinaries.Output {
        try await BuiltBinaries.run(.bd, ["-C", town.root] + arguments, cwd: town.root, timeout: .seconds(60))
    }

    @Test func aBeadCreatedOnOneTownShowsOnTheOtherWithoutASyncByHand() async throws {
        let directory = try TempDir(prefix: "gt-ledger-e2e")
        let remote = directory.join("ledger.git")
        _ = try await GitRepository.create(at: remote, bare: true)
        let a = try await TestTown(in: directory, name: "alpha")
        let b = try await TestTown(in: directory, name: "beta")
        defer {
            a.stopEverything()
            b.stopEverything()
        }
        try await a.ok(["cluster", "init", "--name", "acme"])
        let upA = try await a.json(["up", "--listen", "127.0.0.1:0"])
        let addressA = try #require(upA["listen"] as? String)
        let token = try await a.ok(["cluster", "token", "--name", "beta"]).trimmingCharacters(in: .whitespacesAndNewlines)
        try await b.ok(["node", "join", addressA, token])
        try await b.ok(["up", "--listen", "127.0.0.1:0"])

        // Both remotes are added through the nodes (the command runs in the node, which holds the store).
        for town in [a, b] {
            let added = try await bd(town, ["remote", "add", "origin", remote])
            #expect(added.status == 0, "\(added)")
        }
        // A `bd sync` right after `bd remote add` knows the new remote (make demo once failed here).
        let first = try await bd(a, ["sync"])
        #expect(first.status == 0, "\(first)")
        let created = try await bd(a, ["create", "made on alpha", "--silent"])
        #expect(created.status == 0, "\(created)")
        let id = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let arrived = try await eventually(30) { try await bd(b, ["show", id, "--json"]).status == 0 }
        if !arrived {
            Issue.record("\(id) never reached beta: \(try await bd(b, ["sync", "--status"]))")
        }
        let shown = try await bd(b, ["show", id])
        #expect(shown.stdout.contains("made on alpha"), "\(shown)")

        // `bd sync` in the node goes through the loop and reports per scope; --status shows the remote.
        let synced = try await bd(b, ["sync"])
        #expect(synced.status == 0 && synced.stdout.contains("ledger/hq ⇄ origin"), "\(synced)")
        let status = try await bd(b, ["sync", "--status"])
        #expect(status.status == 0 && status.stdout.contains("origin"), "\(status)")
    }
}
