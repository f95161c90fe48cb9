import Foundation
import GasTownTestKit
import Node
import Testing
import Town

/// Issue 10, hole 2: every read-modify-write of the town's config files takes a lock, so concurrent writers
/// never lose each other's changes (`flock` excludes threads of one process as it does processes).
@Suite struct ConfigLockTests {
    /// Runs `work(index)` on `count` threads at once, off the cooperative pool.
    func concurrently(_ count: Int, _ work: @escaping @Sendable (Int) -> Void) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                DispatchQueue.concurrentPerform(iterations: count, execute: work)
                continuation.resume()
            }
        }
    }

    @Test func concurrentRigRegistryUpdatesAreAllKept() async throws {
        try await TempDir.with(prefix: "gt-rigs-lock") { directory in
            let layout = TownLayout(root: directory.join("town"))
            try FileManager.default.createDirectory(
                atPath: directory.join("town/mayor"), withIntermediateDirectories: true)
            try Data("{\"version\": 1, \"rigs\": {}}\n".utf8).write(to: URL(fileURLWithPath: layout.rigsFile))
            let registry = RigRegistry(layout: layout)
            for round in 0..<3 {
                await concurrently(12) { index in
                    try? registry.update(name: "rig\(round)-\(index)", entry: ["git_url": "file:///r\(index)"])
                }
            }
            #expect(try registry.rigs().count == 36)
        }
    }

    @Test func concurrentTownConfigUpdatesAreAllKept() async throws {
        try await TempDir.with(prefix: "gt-town-lock") { directory in
            let town = TownPaths(root: directory.join("town"))
            try FileManager.default.createDirectory(
                atPath: directory.join("town/mayor"), withIntermediateDirectories: true)
            try Data("{\"type\": \"town\", \"name\": \"t\", \"other\": 1}\n".utf8).write(
                to: URL(fileURLWithPath: town.townFile))
            await concurrently(24) { index in
                try? TownNodeConfig.update(town) { $0.join.append("127.0.0.1:\(9000 + index)") }
            }
            let config = try TownNodeConfig.load(town)
            #expect(Set(config.join).count == 24)
            // Keys outside the node section are kept.
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: town.townFile)))
            #expect((object as? [String: Any])?["other"] as? Int == 1)
        }
    }
}
