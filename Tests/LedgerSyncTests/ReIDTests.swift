import Foundation
import GasTownTestKit
import Testing

/// Re-IDs through the built `bd` (docs/sync.md "Re-IDs"): two offline replicas mint one ID for two beads.
@Suite struct ReIDTests {
    func bd(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        let r = try await BuiltBinaries.run(.bd, arguments)
        return (r.status, r.stdout, r.stderr)
    }

    /// Replica b's bead loses the ID to a's (a landed first): the sync that re-IDs says so once, on stderr and in
    /// its summary; afterwards the former ID still leads to b's bead on both replicas (`bd show ri-dup` shows the
    /// bead that kept the ID and names the re-IDed one), b's own edge to it follows the new ID, writes through the
    /// new ID sync, and a later sync says nothing more.
    @Test func aReIDedBeadStaysReachableByItsOldID() async throws {
        let remote = try await TestRemote()
        let a = try TempDir(prefix: "gt-reid-a")
        let b = try TempDir(prefix: "gt-reid-b")
        #expect(try await bd(["-C", a.path, "init", "--prefix", "ri", "--remote", remote.path]).status == 0)
        #expect(try await bd(["-C", a.path, "sync"]).status == 0)
        #expect(try await bd(["-C", b.path, "init", "--remote", remote.path]).status == 0)
        // Offline on both: the same ID minted for two different beads (injected with --id).
        let made = try await bd(["-C", a.path, "create", "A's bead", "--id", "ri-dup", "--actor", "alice"])
        #expect(made.status == 0, "\(made)")
        #expect(try await bd(["-C", b.path, "create", "B's bead", "--id", "ri-dup", "--actor", "bob"]).status == 0)
        let child = try await bd(["-C", b.path, "create", "B's follow-up", "--silent", "--actor", "bob"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try await bd(["-C", b.path, "dep", "add", child, "ri-dup"]).status == 0)
        #expect(try await bd(["-C", a.path, "sync"]).status == 0)

        let merged = try await bd(["-C", b.path, "sync"])
        #expect(merged.status == 0, "\(merged)")
        let warnings = merged.stderr.components(separatedBy: "\n").filter { $0.contains("minted ri-dup") }
        #expect(warnings.count == 1, "the sync that re-IDs warns once: \(merged.stderr)")
        guard let range = merged.stdout.range(of: "re-IDed ri-dup → ") else {
            Issue.record("the sync summary names the re-ID: \(merged.stdout)")
            return
        }
        let newID = String(merged.stdout[range.upperBound...].prefix { !$0.isWhitespace && $0 != "," })
        #expect(newID.hasPrefix("ri-") && newID != "ri-dup")

        // On b: the former ID names the bead that landed first, and says where b's bead went.
        let shown = try await bd(["-C", b.path, "show", "ri-dup"])
        #expect(shown.status == 0 && shown.stdout.contains("A's bead"), "\(shown)")
        #expect(shown.stderr.contains(newID) && shown.stderr.contains("B's bead"), "\(shown.stderr)")
        let moved = try await bd(["-C", b.path, "show", newID, "--json"])
        #expect(moved.stdout.contains("B's bead"), "\(moved)")
        let edges = try await bd(["-C", b.path, "show", child, "--json"])
        #expect(edges.stdout.contains(newID), "b's edge follows the new ID: \(edges.stdout)")
        // Writes through the new ID work, and on a the same after its sync.
        #expect(try await bd(["-C", b.path, "update", newID, "--notes", "kept"]).status == 0)
        #expect(try await bd(["-C", b.path, "sync"]).status == 0)
        let again = try await bd(["-C", a.path, "sync"])
        #expect(again.status == 0 && !again.stderr.contains("minted"), "told once: \(again)")
        let onA = try await bd(["-C", a.path, "show", "ri-dup"])
        #expect(onA.stdout.contains("A's bead") && onA.stderr.contains(newID), "\(onA)")
        let theirs = try await bd(["-C", a.path, "show", newID, "--json"])
        #expect(theirs.stdout.contains("B's bead") && theirs.stdout.contains("kept"), "\(theirs)")
    }
}
