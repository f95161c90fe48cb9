import Beads
import Foundation
import GasTownTestKit
import Git
import LedgerStore
import Testing

@Suite struct ClaimTests {
    /// Two replicas claim one bead offline (both at epoch 1); the first to land holds it, the other is told.
    @Test func offlineDoubleClaimFirstToLandWins() async throws {
        let (_, a, b) = try await TestReplica.pair()
        defer { TestReplica.close(a, b) }
        let x = try await a.create("Contended")
        try await a.sync()
        try await b.sync()
        // Both claim offline; b's claim is stamped later, which must not matter.
        _ = try await a.change(.claim(id: x, assignee: "alice", node: a.replicaID, expectedEpoch: 0)).get()
        try await Task.sleep(for: .milliseconds(5))
        _ = try await b.change(.claim(id: x, assignee: "bob", node: b.replicaID, expectedEpoch: 0)).get()
        let landed = try await a.sync()
        #expect(landed.lostClaims.isEmpty)
        let told = try await b.sync()
        #expect(told.lostClaims.map(\.id) == [x])
        #expect(told.lostClaims.first?.winnerAssignee == "alice" && told.lostClaims.first?.winnerEpoch == 1)
        try await a.sync()
        for r in [a, b] {
            #expect(r.ledger.bead(x)?.assignee == "alice")
            #expect(r.ledger.bead(x)?.claimNode == a.replicaID)
            #expect(r.ledger.bead(x)?.leaseEpoch == 1)
        }
        // A higher epoch (a release and a new claim) then wins whoever lands later.
        _ = try await a.change(.release(id: x, assignee: "alice")).get()
        try await a.sync()
        try await b.sync()
        _ = try await b.change(.claim(id: x, assignee: "bob", node: b.replicaID, expectedEpoch: 1)).get()
        try await b.sync()
        try await a.sync()
        #expect(a.ledger.bead(x)?.assignee == "bob" && a.ledger.bead(x)?.leaseEpoch == 2)
    }

    /// A release is not undone by a merge with a remote line that still shows the claim at the same epoch (another
    /// replica edited another field of the bead before it saw the release).
    @Test func aReleaseSurvivesAStaleClaimOnTheRemote() async throws {
        let (_, a, b) = try await TestReplica.pair()
        defer { TestReplica.close(a, b) }
        let x = try await a.create("Held, then released")
        _ = try await a.change(.claim(id: x, assignee: "alice", node: a.replicaID, expectedEpoch: 0)).get()
        try await a.sync()
        try await b.sync()
        _ = try await a.change(.release(id: x, assignee: "alice")).get()
        _ = try await b.change(.update(id: x, fields: [.notes("edited while still held")])).get()
        try await b.sync()
        let report = try await a.sync()
        #expect(report.lostClaims.isEmpty)
        try await b.sync()
        for r in [a, b] {
            #expect(r.ledger.bead(x)?.assignee == "", "\(r.name) shows the release")
            #expect(r.ledger.bead(x)?.notes == "edited while still held")
        }
    }

    /// `bd update --claim` in two processes at once on two stores of one remote: exactly one wins each round,
    /// the loser exits non-zero saying who holds it, and after syncing both stores agree on the winner.
    @Test func concurrentClaimProcessesExactlyOneWins() async throws {
        let remote = try await TestRemote()
        let a = try TempDir(prefix: "gt-claim-a")
        let b = try TempDir(prefix: "gt-claim-b")
        let initA = try await BuiltBinaries.run(.bd, ["-C", a.path, "init", "--prefix", "cl", "--remote", remote.path])
        #expect(initA.status == 0, "\(initA)")
        var ids: [String] = []
        for i in 0..<3 {
            let out = try await BuiltBinaries.run(.bd, ["-C", a.path, "create", "claim me \(i)", "--silent"])
            ids.append(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(try await BuiltBinaries.run(.bd, ["-C", a.path, "sync"]).status == 0)
        let initB = try await BuiltBinaries.run(.bd, ["-C", b.path, "init", "--remote", remote.path])
        #expect(initB.status == 0, "\(initB)")
        for id in ids {
            async let first = BuiltBinaries.run(.bd, ["-C", a.path, "update", id, "--claim", "--actor", "alice"])
            async let second = BuiltBinaries.run(.bd, ["-C", b.path, "update", id, "--claim", "--actor", "bob"])
            let (one, two) = try await (first, second)
            #expect([one.status, two.status].filter { $0 == 0 }.count == 1, "\(one)\n\(two)")
            let loser = one.status == 0 ? two : one
            let winner = one.status == 0 ? "alice" : "bob"
            #expect(loser.stderr.contains("claim of \(id) lost: already claimed by \(winner) at epoch 1"), "\(loser)")
            for store in [a.path, b.path] {
                _ = try await BuiltBinaries.run(.bd, ["-C", store, "sync"])
            }
            for store in [a.path, b.path] {
                let shown = try await BuiltBinaries.run(.bd, ["-C", store, "show", id, "--json"])
                #expect(shown.stdout.contains("\"assignee\": \"\(winner)\""), "\(store): \(shown)")
            }
        }
    }

    /// `bd ready --claim` on two stores of one remote with one ready bead: one claims it, the other is told.
    @Test func readyClaimThroughTheRemote() async throws {
        let remote = try await TestRemote()
        let a = try TempDir(prefix: "gt-rclaim-a")
        let b = try TempDir(prefix: "gt-rclaim-b")
        #expect(
            try await BuiltBinaries.run(.bd, ["-C", a.path, "init", "--prefix", "rc", "--remote", remote.path]).status
                == 0)
        _ = try await BuiltBinaries.run(.bd, ["-C", a.path, "create", "the only work", "--silent"])
        #expect(try await BuiltBinaries.run(.bd, ["-C", a.path, "sync"]).status == 0)
        #expect(try await BuiltBinaries.run(.bd, ["-C", b.path, "init", "--remote", remote.path]).status == 0)
        async let one = BuiltBinaries.run(.bd, ["-C", a.path, "ready", "--claim", "--actor", "alice"])
        async let two = BuiltBinaries.run(.bd, ["-C", b.path, "ready", "--claim", "--actor", "bob"])
        let (first, second) = try await (one, two)
        #expect([first.status, second.status].filter { $0 == 0 }.count == 1, "\(first)\n\(second)")
        let loser = first.status == 0 ? second : first
        #expect(loser.stderr.contains("lost") || loser.stderr.contains("no ready work"), "\(loser)")
    }

    /// `bd ready --claim` without a remote: a compare-and-swap on the local store; the next one takes the next.
    @Test func readyClaimWithoutARemoteIsALocalCompareAndSwap() async throws {
        let a = try TempDir(prefix: "gt-claim-local")
        #expect(try await BuiltBinaries.run(.bd, ["-C", a.path, "init", "--prefix", "lc"]).status == 0)
        _ = try await BuiltBinaries.run(.bd, ["-C", a.path, "create", "only one", "--silent"])
        let first = try await BuiltBinaries.run(.bd, ["-C", a.path, "ready", "--claim", "--actor", "alice"])
        #expect(first.status == 0 && first.stdout.contains("Claimed"), "\(first)")
        let second = try await BuiltBinaries.run(.bd, ["-C", a.path, "ready", "--claim", "--actor", "bob"])
        #expect(second.status != 0 && second.stderr.contains("no ready work"), "\(second)")
        let third = try await BuiltBinaries.run(
            .bd,
            [
                "-C", a.path, "update", "--claim", "--actor", "bob",
                first.stdout.components(separatedBy: " ").first { $0.hasPrefix("lc-") }?
                    .trimmingCharacters(in: CharacterSet(charactersIn: ":\n")) ?? "lc-x",
            ])
        #expect(third.status != 0 && third.stderr.contains("already claimed by alice"), "\(third)")
    }
}
