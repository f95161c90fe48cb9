import Beads
import Foundation
import GasTownTestKit
import Git
import Testing

@testable import LedgerStore

/// Seeded random and mutated inputs through every decoder of bytes that come from outside (a remote's ledger
/// files, merge records in the WAL, config.json): they must not crash, and a merge of garbage must leave a usable
/// ledger or a clear error.
@Suite struct SyncFuzzTests {
    static func mutate(_ bytes: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var out = bytes
        let edits = 1 + Int(rng.next() % 8)
        for _ in 0..<edits {
            guard !out.isEmpty else {
                out.append(UInt8(truncatingIfNeeded: rng.next()))
                continue
            }
            let at = Int(rng.next() % UInt64(out.count))
            switch rng.next() % 5 {
            case 0: out[at] = UInt8(truncatingIfNeeded: rng.next())
            case 1: out.remove(at: at)
            case 2:
                out.insert(
                    [UInt8(ascii: "\""), UInt8(ascii: "{"), 0x0A, UInt8(ascii: "\\"), 0][Int(rng.next() % 5)], at: at)
            case 3: out.removeSubrange(at..<min(out.count, at + Int(rng.next() % 40)))
            default: out.insert(contentsOf: out[at..<min(out.count, at + 30)], at: at)
            }
        }
        return out
    }

    static func sampleFiles() async throws -> (issues: String, stamps: String) {
        let r = try TestReplica(name: "fz", remote: nil)
        defer { r.close() }
        let x = try await r.create("fuzz base")
        let y = try await r.create("second <&> \u{2028} \"quoted\"")
        _ = await r.change(.labels(id: x, add: ["a", "b"], remove: []))
        _ = await r.change(
            .addDependency(
                id: y, Dependency(issueID: y, dependsOnID: x, type: .blocks, createdAt: Timestamp(unixNanos: 1)),
                allowCycles: false))
        _ = await r.change(.delete(id: x, reason: "gone"))
        return r.exported
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func remoteFilesAndRecordsNeverCrash(seed: UInt64) async throws {
        var rng = SplitMix64(seed: seed)
        let base = try await Self.sampleFiles()
        let target = try TestReplica(name: "fz-target", remote: nil)
        defer { target.close() }
        let before = target.exported
        var parsedBeads = 0
        var warnings = 0
        for round in 0..<300 {
            let issues = Self.mutate(Array(base.issues.utf8), &rng)
            let stamps = Self.mutate(Array(base.stamps.utf8), &rng)
            let (lines, _) = ScopeLines.split(Data(issues))
            let (stampLines, _) = ScopeLines.split(Data(stamps))
            let parsed = LedgerSync.parseChanged(
                issues: lines, stamps: stampLines, against: ScopeLines(), commitMillis: 1_000, where: "fuzz",
                validating: Ledger(prefix: "t"))
            parsedBeads += parsed.beads.count
            warnings += parsed.warnings.count + parsed.refused.count
            let replicaLine = Array("{\"replica\":\"r1\",\"merged\":\"\",\"stamp\":\"1.0@r1\",\"wall\":5}\n".utf8)
            _ = ReplicaEntry.decode(Data(Self.mutate(replicaLine, &rng)))
            // A merge record built from whatever parsed, then a mutated copy of it, through the store's replay path.
            let record = TownLedgerState.mergeRecord(
                scope: "t", remote: "fuzz", commit: "c\(round)", beads: parsed.beads, stamps: parsed.stamps)
            var state = try TownLedgerState(snapshot: target.db.read { $0.snapshot() })
            try? state.apply(record: record)
            try? state.apply(record: Data(Self.mutate([UInt8](record), &rng)))
            #expect(state.scopes["t"] != nil)
        }
        #expect(target.exported.issues == before.issues)
        #expect(parsedBeads > 0 && warnings > 0, "the mutations produce both readable and unreadable lines")
        // A mutated config.json.
        let dir = try TempDir(prefix: "gt-sync-fuzz-config")
        let layout = StoreLayout(directory: dir.path)
        try FileManager.default.createDirectory(atPath: layout.root, withIntermediateDirectories: true)
        let config = Array("{\n  \"prefix\": \"t\",\n  \"remotes\": [{\"name\":\"origin\",\"url\":\"/x\"}]\n}\n".utf8)
        for _ in 0..<200 {
            try Data(Self.mutate(config, &rng)).write(to: URL(fileURLWithPath: LedgerDatabase.configPath(layout)))
            _ = SyncConfig.remotes(layout)
        }
    }
}
