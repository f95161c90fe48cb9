import Beads
import Foundation
import GasTownTestKit
import Node
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The node owns the ledger (issue 11): while it runs, every `gt` and `bd` goes through `node.sock` and the node's
/// `LedgerActor` is the store's one writer. Real processes, a real node on loopback, scripted `exec` agents.
@Suite(.serialized) struct TownNodeLedgerTests {
    /// A bead ID printed by `bd create --silent`, or nil for a failed create (which must say why).
    static func createdID(_ output: BuiltBinaries.Output) -> String? {
        guard output.status == 0 else {
            #expect(!output.stderr.isEmpty, "a failed create said nothing: \(output)")
            return nil
        }
        let id = output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!id.isEmpty && !id.contains("\n"), "unexpected create output: \(output)")
        return id
    }

    /// The text every command of a run wrote on stderr that a lock wait would write.
    static func lockWaits(_ outputs: [BuiltBinaries.Output]) -> [String] {
        outputs.map(\.stderr).filter { $0.contains("held by") || $0.contains("locked") }
    }

    /// 8 concurrent `bd create` processes, a `gt sling` and `bd ready` in a loop while the node runs: no command
    /// waits on a lock (the node holds the store; nothing else opens it) and every printed ID is there. Then the
    /// same with the node killed (-9) in the middle: after `gt up`, every acknowledged write is there.
    @Test func concurrentCommandsThroughTheNodeAndAKillNine() async throws {
        try await TownFixture.with { town in
            let agent = try town.writeAgent()
            try expectOK(try await town.gt(["rig", "add", "demo", town.source, "--runtime", "exec:'sh \(agent)'"]))
            let work = try await town.createBead("Work to sling", scope: "demo")
            try await town.up()
            let sling = Task { try await town.gt(["sling", work, "demo"]) }
            let readers = Task { () throws -> [BuiltBinaries.Output] in
                var outputs: [BuiltBinaries.Output] = []
                for _ in 0..<10 { outputs.append(try await town.bd(["ready", "--json"])) }
                return outputs
            }
            let creates = try await withThrowingTaskGroup(of: [BuiltBinaries.Output].self) { group in
                for writer in 0..<8 {
                    group.addTask {
                        var outputs: [BuiltBinaries.Output] = []
                        for index in 0..<4 {
                            outputs.append(
                                try await town.bd(["create", "w\(writer) #\(index)", "--rig", "demo", "--silent"]))
                        }
                        return outputs
                    }
                }
                var all: [BuiltBinaries.Output] = []
                for try await outputs in group { all += outputs }
                return all
            }
            let reads = try await readers.value
            let slung = try await sling.value
            try expectOK(slung)
            for read in reads { try expectOK(read) }
            #expect(Self.lockWaits(creates + reads + [slung]).isEmpty, "\(Self.lockWaits(creates + reads + [slung]))")
            let ids = creates.compactMap(Self.createdID)
            #expect(ids.count == 32, "every create succeeds while the node runs: \(creates.filter { $0.status != 0 })")
            var stored = Set(try await town.beads(scope: "demo").map(\.id))
            #expect(Set(ids).isSubset(of: stored), "missing: \(Set(ids).subtracting(stored))")
            let merged = try await town.waitUntil(timeout: .seconds(60)) {
                try await town.beads(scope: "demo").contains { $0.issueType == .mergeRequest }
            }
            #expect(merged, "the slung bead's gt done filed no merge request")

            // kill -9 in the middle of the writes.
            let pid = try #require(town.nodePID())
            let writers = Task {
                try await withThrowingTaskGroup(of: [BuiltBinaries.Output].self) { group in
                    for writer in 0..<8 {
                        group.addTask {
                            var outputs: [BuiltBinaries.Output] = []
                            for index in 0..<6 {
                                outputs.append(
                                    try await town.bd(["create", "k\(writer) #\(index)", "--rig", "demo", "--silent"]))
                            }
                            return outputs
                        }
                    }
                    var all: [BuiltBinaries.Output] = []
                    for try await outputs in group { all += outputs }
                    return all
                }
            }
            try await Task.sleep(for: .milliseconds(400))
            kill(pid, SIGKILL)
            let during = try await writers.value
            try await town.up()
            stored = Set(try await town.beads(scope: "demo").map(\.id))
            let acknowledged = during.compactMap(Self.createdID)
            #expect(!acknowledged.isEmpty)
            #expect(Set(acknowledged).isSubset(of: stored), "lost: \(Set(acknowledged).subtracting(stored))")
            for failed in during where failed.status != 0 {
                #expect(
                    failed.stderr.contains("node"), "a create failing across the kill says it was the node: \(failed)")
            }
            try expectOK(try await town.gt(["down"]))
        }
    }

    /// Commands issued while the node stops and starts: each completes exactly once (its bead stored once) or
    /// fails with a message; none hits the store's lock (none writes around the node).
    @Test func commandsWhileTheNodeStopsAndStarts() async throws {
        try await TownFixture.with { town in
            try expectOK(try await town.gt(["rig", "add", "demo", town.source]))
            try await town.up()
            let writers = Task {
                try await withThrowingTaskGroup(of: [(String, BuiltBinaries.Output)].self) { group in
                    for writer in 0..<4 {
                        group.addTask {
                            var outputs: [(String, BuiltBinaries.Output)] = []
                            for index in 0..<12 {
                                let title = "s\(writer) #\(index)"
                                outputs.append(
                                    (title, try await town.bd(["create", title, "--rig", "demo", "--silent"])))
                                try await Task.sleep(for: .milliseconds(50))
                            }
                            return outputs
                        }
                    }
                    var all: [(String, BuiltBinaries.Output)] = []
                    for try await outputs in group { all += outputs }
                    return all
                }
            }
            for _ in 0..<2 {
                try await Task.sleep(for: .milliseconds(300))
                try expectOK(try await town.gt(["down"]))
                try await Task.sleep(for: .milliseconds(300))
                try await town.up()
            }
            let outputs = try await writers.value
            let beads = try await town.beads(scope: "demo")
            #expect(Self.lockWaits(outputs.map(\.1)).isEmpty, "\(Self.lockWaits(outputs.map(\.1)))")
            for (title, output) in outputs {
                let stored = beads.filter { $0.title == title }
                if let id = Self.createdID(output) {
                    #expect(stored.map(\.id) == [id], "\(title): printed \(id), stored \(stored.map(\.id))")
                } else {
                    #expect(stored.count <= 1, "\(title) stored twice")
                }
            }
            try expectOK(try await town.gt(["down"]))
        }
    }

    /// A new user's one-machine town: `gt install`, `gt up` (no cluster steps: the town becomes a one-node
    /// cluster, said in one line), `gt rig add`, `gt sling` to a scripted agent, its `gt done`, the merge request.
    @Test func installUpRigSlingDoneWithNoClusterSteps() async throws {
        try await TownFixture.with { town in
            let up = try await town.gt(["up", "--listen", "127.0.0.1:0"])
            try expectOK(up)
            if let pid = town.nodePID() { town.nodePIDs.append(pid) }
            let said = up.stderr.split(separator: "\n").filter { $0.contains("one-node cluster") }
            #expect(said.count == 1, "\(up)")
            #expect(FileManager.default.fileExists(atPath: town.town + "/.gt/pki/ca.key"))
            let agent = try town.writeAgent()
            let rig = try await town.gt(["rig", "add", "demo", town.source, "--runtime", "exec:'sh \(agent)'"])
            try expectOK(rig)
            let bead = try await town.createBead("First task", scope: "demo")
            let sling = try await town.gt(["sling", bead, "demo"])
            try expectOK(sling)
            let filed = try await town.waitUntil(timeout: .seconds(60)) {
                try await town.beads(scope: "demo").contains { $0.issueType == .mergeRequest }
            }
            #expect(filed, "no merge request filed")
            // A command reading stdin gets it through the node (`bd import -i -`).
            try town.directory.write(
                "one.jsonl",
                #"{"id":"hq-stdin1","title":"from stdin","status":"open","priority":2,"issue_type":"task","#
                    + #""created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}"# + "\n")
            let imported = try await BuiltBinaries.run(
                .bd, ["import", "-i", "-"], environment: ["BEADS_DIR": town.layout.beadsDirectory], cwd: town.town,
                stdinPath: town.directory.join("one.jsonl"))
            try expectOK(imported)
            #expect(imported.stdout.contains("1 created"), "\(imported)")
            #expect(try await town.beads(scope: "hq").contains { $0.id == "hq-stdin1" && $0.title == "from stdin" })
            let status = try await town.gt(["status", "--json"])
            #expect(status.stdout.contains("\"ledger\""), "the node runs its ledger component: \(status)")
            try expectOK(try await town.gt(["down"]))
            // A second start makes no second cluster.
            let again = try await town.gt(["up", "--listen", "127.0.0.1:0"])
            try expectOK(again)
            if let pid = town.nodePID() { town.nodePIDs.append(pid) }
            #expect(!again.stderr.contains("one-node cluster"), "\(again)")
            try expectOK(try await town.gt(["down"]))
        }
    }
}
