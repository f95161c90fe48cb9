import Beads
import Foundation
import GasTownTestKit
import Git
import LedgerStore
import Testing

@Suite struct SyncInteropTests {
    /// The system git (an independent checker only) clones the ledger remote, checks out ledger/t and reads a
    /// normal issues.jsonl; git log shows one commit per sync batch, not one per write; fsck is clean.
    @Test func gitCLIReadsTheLedgerAndSeesOneCommitPerBatch() async throws {
        let remote = try await TestRemote()
        let a = try TestReplica(name: "gi", remote: remote.path)
        defer { a.close() }
        for batch in 0..<3 {
            for i in 0..<5 { _ = try await a.create("batch \(batch) bead \(i)") }
            _ = await a.change(.update(id: a.ledger.beads.keys.sorted()[0], fields: [.notes("batch \(batch)")]))
            try await a.sync()
        }
        let checkout = try TempDir(prefix: "gt-sync-clone")
        let expected = a.exported.issues
        let remotePath = remote.path
        let clone = checkout.path + "/clone"
        let (cloned, log, fsck, file) = try await DedicatedThread.run { () throws in
            let cloned = try runGit(["clone", "--branch", "ledger/t", remotePath, clone])
            let log = try runGit(["log", "--oneline", "ledger/t"], in: clone)
            let fsck = try runGit(["fsck", "--full"], in: remotePath)
            let file = try String(contentsOfFile: clone + "/issues.jsonl", encoding: .utf8)
            return (cloned, log, fsck, file)
        }
        #expect(cloned.status == 0, "\(cloned.output)")
        #expect(file == expected)
        #expect(try BeadCodec.decodeJSONL(file).count == 15)
        let commits = log.output.split(separator: "\n")
        #expect(commits.count == 3, "one commit per sync batch: \(log.output)")
        #expect(fsck.status == 0, "\(fsck.output)")
    }
}

@Suite struct SyncCrashTests {
    /// kill -9 a `bd sync` process at seeded random moments; the next sync completes, and every create that was
    /// acknowledged (its ID printed) is on the remote afterwards, as a fresh clone shows.
    @Test func killedSyncsLoseNothing() async throws {
        let bd = try BuiltBinaries.path(of: .bd)
        let remote = try await TestRemote()
        let store = try TempDir(prefix: "gt-sync-crash")
        let initOut = try await BuiltBinaries.run(
            .bd, ["-C", store.path, "init", "--prefix", "kc", "--remote", remote.path])
        #expect(initOut.status == 0, "\(initOut)")
        var rng = SplitMix64(seed: 0x6b69_6c6c)
        var acknowledged: [String] = []
        var killed = 0
        for round in 0..<15 {
            for i in 0..<3 {
                let out = try await BuiltBinaries.run(.bd, ["-C", store.path, "create", "r\(round) b\(i)", "--silent"])
                let id = out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                if out.status == 0 && !id.isEmpty { acknowledged.append(id) }
            }
            let delay = Int(rng.next() % 60)
            let run = try await KillableProcess.run(
                executable: bd, ["-C", store.path, "sync"], output: store.join("sync-\(round).out"),
                killAfterMillis: delay)
            if run.status == 128 + SIGKILL { killed += 1 }
        }
        #expect(killed > 0, "some syncs were killed mid-way")
        let final = try await BuiltBinaries.run(.bd, ["-C", store.path, "sync"])
        #expect(final.status == 0, "\(final)")
        let onRemote = try await remote.file("issues.jsonl", scope: "kc")
        let ids = Set(try BeadCodec.decodeJSONL(onRemote).map(\.id))
        #expect(
            Set(acknowledged).subtracting(ids).isEmpty, "missing on the remote: \(Set(acknowledged).subtracting(ids))")
        // A fresh clone holds them all too.
        let clone = try TempDir(prefix: "gt-sync-crash-clone")
        let cloned = try await BuiltBinaries.run(.bd, ["-C", clone.path, "init", "--remote", remote.path])
        #expect(cloned.status == 0, "\(cloned)")
        let listed = try await BuiltBinaries.run(.bd, ["-C", clone.path, "count"])
        #expect(Int(listed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) == acknowledged.count, "\(listed)")
        let remotePath = remote.path
        let fsck = try await DedicatedThread.run { () throws in try runGit(["fsck", "--full"], in: remotePath) }
        #expect(fsck.status == 0, "\(fsck.output)")
    }
}
