import Foundation
import GasTownTestKit
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 3's acceptance 2 and 3, through the built `bd` binary.
@Suite struct BDAcceptanceTests {
    // MARK: Acceptance 2: sample round trip, ready and blocked

    @Test func sampleRoundTripIsExactAndReadyBlockedMatchAnIndependentComputation() async throws {
        let sample = Samples.beadsIssues
        let input = try #require(FileManager.default.contents(atPath: sample), "sample missing at \(sample)")
        let inputText = String(decoding: input, as: UTF8.self)
        try await TempDir.with(prefix: "bd-accept2") { temp in
            let initialized = try await BuiltBinaries.run(.bd, ["-C", temp.path, "init", "--prefix", "bd"])
            #expect(initialized.status == 0, "\(initialized)")
            let imported = try await BuiltBinaries.run(.bd, ["-C", temp.path, "import", "-i", sample])
            #expect(imported.status == 0, "\(imported)")
            let exported = try await BuiltBinaries.run(.bd, ["-C", temp.path, "export"])
            #expect(exported.status == 0, "\(exported)")

            let inLines = inputText.split(separator: "\n").map(String.init)
            let outLines = exported.stdout.split(separator: "\n").map(String.init)
            #expect(inLines.count == outLines.count)
            // Every bead's object equals the input's (same keys, same values), matched by id.
            let inByID = try Dictionary(uniqueKeysWithValues: inLines.map { (try Self.id(of: $0), $0) })
            for line in outLines {
                let id = try Self.id(of: line)
                let original = try #require(inByID[id], "exported \(id) not in the input")
                #expect(try Self.object(line) == Self.object(original), "bead \(id) differs")
            }
            // Stronger: the file is byte-identical (beads' export is sorted by id with Go's encoding).
            #expect(exported.stdout == inputText)
            // The per-scope export under the store layout holds the same lines.
            #expect(temp.read(".beads/export/bd/issues.jsonl") == inputText)
            #expect(temp.exists(".beads/export/bd/stamps.jsonl"))

            let expected = try IndependentReadiness(jsonl: inputText, now: Date())
            let ready = try await BuiltBinaries.run(.bd, ["-C", temp.path, "ready", "--json", "-n", "0"])
            #expect(ready.status == 0, "\(ready)")
            let readyIDs = try Self.ids(inJSONArray: ready.stdout)
            #expect(Set(readyIDs) == expected.ready)
            #expect(readyIDs.count == expected.ready.count, "no duplicates")
            #expect(!expected.ready.isEmpty)

            let blocked = try await BuiltBinaries.run(.bd, ["-C", temp.path, "blocked", "--json"])
            #expect(blocked.status == 0, "\(blocked)")
            #expect(Set(try Self.ids(inJSONArray: blocked.stdout)) == expected.blockedNotDone)
        }
    }

    static func object(_ line: String) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? NSDictionary)
    }

    static func id(of line: String) throws -> String { try #require(try object(line)["id"] as? String) }

    static func ids(inJSONArray text: String) throws -> [String] {
        let array = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
        return try array.map { try #require($0["id"] as? String) }
    }

    // MARK: A torn WAL tail (power loss during a write)

    @Test func tornWALTailOpensAndKeepsAcknowledgedWrites() async throws {
        try await TempDir.with(prefix: "bd-torn") { temp in
            #expect(try await BuiltBinaries.run(.bd, ["-C", temp.path, "init", "--prefix", "tt"]).status == 0)
            var ids: [String] = []
            for i in 0..<5 {
                let out = try await BuiltBinaries.run(.bd, ["-C", temp.path, "q", "torn \(i)"])
                ids.append(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            let wal = temp.join(".beads/wal")
            let segments = try FileManager.default.contentsOfDirectory(atPath: wal).filter { $0.hasSuffix(".wal") }
            let segment = wal + "/" + (try #require(segments.sorted().last))
            let full = try #require(FileManager.default.contents(atPath: segment))
            // The record a sixth write appends, made in a copy of the store; half of it is written to the real
            // store: a write cut off by power loss, never acknowledged.
            try FileManager.default.copyItem(atPath: temp.join(".beads"), toPath: temp.join("copy/.beads"))
            #expect(try await BuiltBinaries.run(.bd, ["-C", temp.join("copy"), "q", "lost"]).status == 0)
            let grown = try #require(
                FileManager.default.contents(
                    atPath: temp.join("copy/.beads/wal/")
                        + (segment as NSString).lastPathComponent))
            let record = grown.suffix(from: full.count)
            #expect(record.count > 20)
            for cut in [record.count / 2, 7, record.count - 1] {
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: segment))
                try handle.truncate(atOffset: UInt64(full.count))
                try handle.seekToEnd()
                try handle.write(contentsOf: record.prefix(cut))
                try handle.close()
                let listed = try await BuiltBinaries.run(.bd, ["-C", temp.path, "list", "--json", "-n", "0"])
                #expect(listed.status == 0, "cut at \(cut): \(listed)")
                #expect(Set(try Self.ids(inJSONArray: listed.stdout)) == Set(ids), "cut at \(cut)")
                // A reader says so and leaves the torn bytes for the next writer.
                #expect(listed.stderr.contains("warning: the write-ahead log ended in a torn write"), "\(listed)")
                #expect(FileManager.default.contents(atPath: segment)?.count == full.count + cut, "cut at \(cut)")
            }
            // And the store takes writes again after the writer's repair, which says what it cut and keeps it.
            let more = try await BuiltBinaries.run(.bd, ["-C", temp.path, "q", "after"])
            #expect(more.status == 0, "\(more)")
            #expect(more.stderr.contains("torn write") && more.stderr.contains(".cut-"), "\(more)")
            let cuts = try FileManager.default.contentsOfDirectory(atPath: wal).filter { $0.contains(".cut-") }
            #expect(cuts.count == 1)
            #expect(
                FileManager.default.contents(atPath: wal + "/" + (cuts.first ?? "")) == record.prefix(record.count - 1))
            #expect(try await BuiltBinaries.run(.bd, ["-C", temp.path, "count"]).stdout == "6\n")
        }
    }

    // MARK: Acceptance 3: 1,000 bd create processes, some killed with SIGKILL

    @Test func killedCreatesNeverLoseAPrintedID() async throws {
        let total = 1_000
        let concurrency = 4
        let bd = try BuiltBinaries.path(of: .bd)
        try await TempDir.with(prefix: "bd-accept3") { temp in
            let initialized = try await BuiltBinaries.run(.bd, ["-C", temp.path, "init", "--prefix", "kx"])
            #expect(initialized.status == 0, "\(initialized)")
            var rng = SplitMix64(seed: 0x6264_6b69_6c6c)
            // Half of the processes get a SIGKILL after 0-30 ms; the rest run to completion.
            let plan: [Int?] = (0..<total).map { _ in rng.next() % 2 == 0 ? Int(rng.next() % 31) : nil }
            let printed = try await withThrowingTaskGroup(of: [String].self) { group in
                for worker in 0..<concurrency {
                    group.addTask {
                        var ids: [String] = []
                        for index in stride(from: worker, to: total, by: concurrency) {
                            let out = try await KillableRun.run(
                                executable: bd, ["-C", temp.path, "create", "crash \(index)", "--silent"],
                                outputPath: temp.join("out-\(index)"), killAfterMillis: plan[index])
                            let id = out.trimmingCharacters(in: .whitespacesAndNewlines)
                            if !id.isEmpty { ids.append(id) }
                        }
                        return ids
                    }
                }
                var all: [String] = []
                for try await ids in group { all += ids }
                return all
            }
            let completed = plan.filter { $0 == nil }.count
            #expect(printed.count >= completed, "every unkilled create prints its ID")
            #expect(printed.count < total, "some kills landed before the ID was printed")
            #expect(Set(printed).count == printed.count)
            for id in printed { #expect(id.hasPrefix("kx-"), "printed \(id)") }

            let listed = try await BuiltBinaries.run(.bd, ["-C", temp.path, "list", "--json", "--all", "-n", "0"])
            #expect(listed.status == 0, "\(listed)")
            let stored = Set(try Self.ids(inJSONArray: listed.stdout))
            let missing = Set(printed).subtracting(stored)
            #expect(missing.isEmpty, "printed but not stored: \(missing.sorted())")
            let count = try await BuiltBinaries.run(.bd, ["-C", temp.path, "count"])
            #expect(count.status == 0, "\(count)")
            #expect(Int(count.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) == stored.count)
            // Killed processes may have written a record that was not acknowledged; never anything else.
            #expect(stored.count <= total)
        }
    }
}

/// Starts a process with stdout to a file, optionally sends SIGKILL (by its pid) after a delay, waits for it, and
/// returns what it printed.
enum KillableRun {
    static func run(executable: String, _ arguments: [String], outputPath: String, killAfterMillis: Int?)
        async throws -> String
    {
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for name in BuiltBinaries.isolatedVariables { env[name] = nil }
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = FileHandle.nullDevice
        let done = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in done.continuation.finish() }
        try process.run()
        let pid = process.processIdentifier
        if let delay = killAfterMillis {
            try await Task.sleep(for: .milliseconds(delay))
            kill(pid, SIGKILL)
        }
        for await _ in done.stream {}
        let data = FileManager.default.contents(atPath: outputPath) ?? Data()
        try? FileManager.default.removeItem(atPath: outputPath)
        return String(decoding: data, as: UTF8.self)
    }
}

/// DESIGN §3's ready and blocked rules, computed straight from the sample's JSON (no production code):
/// blocked = a blocks/conditional-blocks edge to an existing bead that is not closed (or deleted), or a waits-for
/// edge whose spawner still has an unfinished child (any-children: no finished child), or a parent-child edge to a
/// blocked parent, transitively. Ready = open, not pinned, not ephemeral, not an infrastructure type, defer_until
/// passed, not blocked.
struct IndependentReadiness {
    var ready = Set<String>()
    var blockedNotDone = Set<String>()

    static let infrastructure: Set<String> = [
        "agent", "role", "rig", "convoy", "message", "merge-request", "gate", "molecule",
    ]

    init(jsonl: String, now: Date) throws {
        var beads: [String: [String: Any]] = [:]
        for line in jsonl.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            beads[try #require(object["id"] as? String)] = object
        }
        func status(_ id: String) -> String? { beads[id]?["status"] as? String }
        func done(_ id: String) -> Bool { status(id) == "closed" || status(id) == "tombstone" }
        func deps(_ id: String) -> [[String: Any]] { beads[id]?["dependencies"] as? [[String: Any]] ?? [] }
        var childrenOf: [String: [String]] = [:]
        for (id, _) in beads {
            for d in deps(id) where d["type"] as? String == "parent-child" {
                childrenOf[d["depends_on_id"] as! String, default: []].append(id)
            }
        }
        func directlyBlocked(_ id: String) -> Bool {
            for d in deps(id) {
                let target = d["depends_on_id"] as? String ?? ""
                switch d["type"] as? String {
                case "blocks", "conditional-blocks":
                    if beads[target] != nil && !done(target) { return true }
                case "waits-for":
                    var spawner = target
                    var anyChildren = false
                    if let text = d["metadata"] as? String,
                        let meta = try? JSONSerialization.jsonObject(
                            with: Data(text.utf8)) as? [String: Any]
                    {
                        if let s = meta["spawner_id"] as? String, !s.isEmpty { spawner = s }
                        anyChildren = meta["gate"] as? String == "any-children"
                    }
                    let kids = (childrenOf[spawner] ?? []).filter { beads[$0] != nil }
                    if anyChildren ? !kids.contains(where: done) : kids.contains(where: { !done($0) }) { return true }
                default: continue
                }
            }
            return false
        }
        // Least fixpoint: start from the directly blocked, push down parent-child edges.
        var blocked = Set(beads.keys.filter(directlyBlocked))
        var changed = true
        while changed {
            changed = false
            for (id, _) in beads where !blocked.contains(id) {
                let parents = deps(id).filter { $0["type"] as? String == "parent-child" }
                    .compactMap { $0["depends_on_id"] as? String }
                if parents.contains(where: blocked.contains) {
                    blocked.insert(id)
                    changed = true
                }
            }
        }
        let plain = ISO8601DateFormatter()
        // Go writes 0-9 fractional digits; drop them (a second's precision is plenty here) and parse the rest.
        func date(_ text: String) -> Date? {
            guard let dot = text.firstIndex(of: ".") else { return plain.date(from: text) }
            let zone = text[dot...].firstIndex { $0 == "Z" || $0 == "+" || $0 == "-" } ?? text.endIndex
            return plain.date(from: String(text[..<dot]) + String(text[zone...]))
        }
        for (id, b) in beads {
            if blocked.contains(id) && !done(id) { blockedNotDone.insert(id) }
            guard b["status"] as? String == "open", b["pinned"] as? Bool != true, b["ephemeral"] as? Bool != true,
                !Self.infrastructure.contains(b["issue_type"] as? String ?? "task"), !blocked.contains(id)
            else { continue }
            if let text = b["defer_until"] as? String {
                let until = try #require(date(text), "defer_until \(text)")
                if until > now { continue }
            }
            ready.insert(id)
        }
    }
}
