import Foundation
import GasTownTestKit
import Testing

/// Damage at the end of the write-ahead log and a missing log, through the built `bd`: read-only commands warn and
/// change no file, writers refuse to drop acknowledged beads, `bd doctor --repair` cuts and keeps the bytes.
@Suite struct BDWALDamageTests {
    static let segmentName = "00000000000000000001.wal"

    /// `bd init` and 30 `bd create`s in `temp`; returns the IDs in creation order.
    static func thirtyCreates(_ temp: TempDir) async throws -> [String] {
        let initialized = try await BuiltBinaries.run(.bd, ["-C", temp.path, "init", "--prefix", "tt"])
        #expect(initialized.status == 0, "\(initialized)")
        var ids: [String] = []
        for index in 0..<30 {
            let created = try await BuiltBinaries.run(.bd, ["-C", temp.path, "q", "bead \(index)"])
            #expect(created.status == 0, "\(created)")
            ids.append(created.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return ids
    }

    static func listedIDs(_ output: BuiltBinaries.Output) throws -> [String] {
        let array = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [[String: Any]])
        return try array.map { try #require($0["id"] as? String) }
    }

    static func damage(_ kind: String, _ bytes: [UInt8]) -> [UInt8] {
        switch kind {
        case "truncate-half": return Array(bytes.prefix(bytes.count / 2))
        case "zero-last-third":
            let third = bytes.count / 3
            return Array(bytes.prefix(bytes.count - third)) + [UInt8](repeating: 0, count: third)
        default:
            var flipped = bytes
            flipped[bytes.count - 5] ^= 0x01
            return flipped
        }
    }

    @Test func damagedTailIsReportedByReadersAndCutOnlyByARepair() async throws {
        try await TempDir.with(prefix: "bd-wal-damage") { temp in
            let pristineStore = try TempDir(prefix: "bd-wal-pristine")
            let ids = try await Self.thirtyCreates(pristineStore)
            let pristine = [UInt8](
                try Data(contentsOf: URL(fileURLWithPath: pristineStore.join(".beads/wal/" + Self.segmentName))))
            for kind in ["truncate-half", "zero-last-third", "flip-last-record"] {
                let dir = temp.join(kind)
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try FileManager.default.copyItem(atPath: pristineStore.join(".beads"), toPath: dir + "/.beads")
                let segment = dir + "/.beads/wal/" + Self.segmentName
                let damaged = Self.damage(kind, pristine)
                try Data(damaged).write(to: URL(fileURLWithPath: segment))
                let before = FileTreeDigest(dir + "/.beads")

                // Readers: the beads before the damage, a loud warning with the exact count, no file changed.
                let listed = try await BuiltBinaries.run(.bd, ["-C", dir, "list", "--json", "-n", "0"])
                #expect(listed.status == 0, "\(kind): \(listed)")
                let kept = Set(try Self.listedIDs(listed))
                let keptCount = ids.prefix(while: { kept.contains($0) }).count
                #expect(kept == Set(ids.prefix(keptCount)) && keptCount > 0 && keptCount < 30, "\(kind)")
                #expect(listed.stderr.contains("warning: DATA LOSS"), "\(kind): \(listed.stderr)")
                #expect(listed.stderr.contains("\(30 - keptCount) acknowledged record(s)"), "\(kind): \(listed.stderr)")
                #expect(FileTreeDigest(dir + "/.beads").differences(from: before) == [], "\(kind): bd list")
                if kind == "truncate-half" {
                    let readOnly: [[String]] = [
                        ["count"], ["show", ids[0]], ["ready"], ["stats"], ["blocked"], ["search", "bead"],
                        ["dep", "list", ids[0]], ["label", "list"], ["doctor"],
                    ]
                    for words in readOnly {
                        let out = try await BuiltBinaries.run(.bd, ["-C", dir] + words)
                        #expect(out.status == (words == ["doctor"] ? 1 : 0), "\(words): \(out)")
                        #expect(out.stderr.contains("DATA LOSS") || out.stdout.contains("DATA LOSS"), "\(words)")
                    }
                    #expect(FileTreeDigest(dir + "/.beads").differences(from: before) == [], "read-only commands")
                }

                // A writer refuses and changes nothing (it only wrote and cleared its name in LOCK).
                let refused = try await BuiltBinaries.run(.bd, ["-C", dir, "q", "refused"])
                #expect(refused.status != 0 && refused.stderr.contains("bd doctor --repair"), "\(kind): \(refused)")
                #expect(
                    FileTreeDigest(dir + "/.beads", excluding: ["LOCK"])
                        .differences(from: FileTreeDigest(before: before, excluding: ["LOCK"])) == [], "\(kind)")

                // The repair cuts; segment + kept bytes are exactly the damaged file; the store takes writes again.
                let repaired = try await BuiltBinaries.run(.bd, ["-C", dir, "doctor", "--repair"])
                #expect(repaired.status == 0 && repaired.stdout.contains("✓ repaired"), "\(kind): \(repaired)")
                let cuts = try FileManager.default.contentsOfDirectory(atPath: dir + "/.beads/wal")
                    .filter { $0.hasPrefix(Self.segmentName + ".cut-") }
                #expect(cuts.count == 1, "\(kind): \(cuts)")
                let cutBytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/.beads/wal/" + cuts[0])))
                let left = [UInt8](try Data(contentsOf: URL(fileURLWithPath: segment)))
                #expect(left + cutBytes == damaged && pristine.starts(with: left), "\(kind)")
                #expect(repaired.stdout.contains(cuts[0]), "\(kind): \(repaired.stdout)")
                let after = try await BuiltBinaries.run(.bd, ["-C", dir, "q", "after"])
                #expect(after.status == 0 && after.stderr.isEmpty, "\(kind): \(after)")
                let relisted = try await BuiltBinaries.run(.bd, ["-C", dir, "list", "--json", "-n", "0"])
                #expect(try Self.listedIDs(relisted).count == keptCount + 1 && relisted.stderr.isEmpty, "\(kind)")
            }
        }
    }

    @Test func missingWALGivesOneMessageFromListAndInitAndChangesNothing() async throws {
        try await TempDir.with(prefix: "bd-wal-missing") { temp in
            #expect(try await BuiltBinaries.run(.bd, ["-C", temp.path, "init", "--prefix", "tt"]).status == 0)
            #expect(try await BuiltBinaries.run(.bd, ["-C", temp.path, "q", "one"]).status == 0)
            try FileManager.default.removeItem(atPath: temp.join(".beads/wal"))
            let before = FileTreeDigest(temp.path)
            let listed = try await BuiltBinaries.run(.bd, ["-C", temp.path, "list"])
            let initialized = try await BuiltBinaries.run(.bd, ["-C", temp.path, "init", "--prefix", "tt"])
            let created = try await BuiltBinaries.run(.bd, ["-C", temp.path, "q", "two"])
            for out in [listed, initialized, created] {
                #expect(out.status == 1, "\(out)")
                #expect(out.stderr.contains("has config.json but no write-ahead log (wal/ is missing"), "\(out)")
                #expect(out.stderr.contains("restore") || out.stderr.contains("Restore"), "\(out)")
                #expect(out.stderr.contains("move \(temp.join(".beads")) aside and run 'bd init'"), "\(out)")
                #expect(!out.stderr.contains("no beads store found") && !out.stderr.contains("already exists"))
            }
            #expect(listed.stderr == initialized.stderr && listed.stderr == created.stderr)
            #expect(FileTreeDigest(temp.path).differences(from: before) == [])
        }
    }
}
