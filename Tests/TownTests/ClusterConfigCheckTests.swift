import Foundation
import GasTownTestKit
import Testing
import Town

/// `ClusterConfigCheck`, the validator behind `gt cluster-config check` and `gt up --config`: every file in
/// cluster-config/ passes, seeded mutations of them are refused with the field named, and no input crashes it or
/// passes while the node's own decoders refuse it.
@Suite struct ClusterConfigCheckTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("cluster-config").path

    static func files() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") }.sorted()
    }

    static func object(_ name: String) throws -> [String: Any] {
        let data = try #require(FileManager.default.contents(atPath: directory + "/" + name))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func check(_ object: [String: Any], _ name: String = "f.json") throws -> ClusterConfigReport {
        ClusterConfigCheck.check(try JSONSerialization.data(withJSONObject: object), path: name)
    }

    @Test func everyFileInClusterConfigPasses() throws {
        let files = try Self.files()
        #expect(files.count >= 4, "\(files)")
        for name in files {
            let data = try #require(FileManager.default.contents(atPath: Self.directory + "/" + name))
            let report = ClusterConfigCheck.check(data, path: name)
            #expect(report.valid, "\(name): \(report.problems)")
            #expect(report.kind == (name.hasSuffix(".town.json") ? "town" : "rig"), "\(name)")
            #expect(report.name != nil)
            // What the check passes, the node's own decoders read.
            if report.kind == "town" { _ = try TownFile.decode(data, path: name) }
            if report.kind == "rig" { _ = try JSONDecoder().decode(RigConfig.self, from: data) }
        }
    }

    /// A mutation of an example file, the field the report must name, and words its message must hold.
    struct Mutation: Sendable, CustomStringConvertible {
        var file: String
        var field: String
        var says: String
        var change: @Sendable (inout [String: Any]) -> Void
        var description: String { "\(file) \(field)" }
    }

    static func node(
        _ change: @escaping @Sendable (inout [String: Any]) -> Void
    ) -> @Sendable (inout [String: Any]) -> Void {
        { object in
            var section = object["node"] as? [String: Any] ?? [:]
            change(&section)
            object["node"] = section
        }
    }

    static let mutations: [Mutation] = [
        Mutation(
            file: "alpha.town.json", field: "node.slots", says: "whole number from 0 to 100000",
            change: node { $0["slots"] = -1 }),
        Mutation(file: "alpha.town.json", field: "node.slots", says: "got \"4\"", change: node { $0["slots"] = "4" }),
        Mutation(
            file: "alpha.town.json", field: "node.slots", says: "whole number", change: node { $0["slots"] = 2.5 }),
        Mutation(
            file: "alpha.town.json", field: "node.slot", says: "allowed here: join, labels, listen",
            change: node { $0["slot"] = 4 }),
        Mutation(
            file: "beta.town.json", field: "node.labels.gpu", says: "must be a string",
            change: node { $0["labels"] = ["gpu": 1] }),
        Mutation(
            file: "beta.town.json", field: "node.labels", says: "object of strings",
            change: node { $0["labels"] = ["a"] }),
        Mutation(
            file: "beta.town.json", field: "node.runtimes[1]", says: "not a known runtime",
            change: node { $0["runtimes"] = ["claude", "clod"] }),
        Mutation(
            file: "beta.town.json", field: "node.runtimes", says: "list of runtime names",
            change: node { $0["runtimes"] = "claude" }),
        Mutation(
            file: "gamma.town.json", field: "node.listen", says: "not HOST:PORT",
            change: node { $0["listen"] = "localhost" }),
        Mutation(
            file: "gamma.town.json", field: "node.join[0]", says: "not HOST:PORT",
            change: node { $0["join"] = ["a:99999"] }),
        Mutation(
            file: "gamma.town.json", field: "node.name", says: "not a valid node name",
            change: node { $0["name"] = "Gamma_1" }),
        Mutation(file: "gamma.town.json", field: "node", says: "must be an object", change: { $0["node"] = [1, 2] }),
        Mutation(file: "alpha.town.json", field: "type", says: "\"town\" or \"rig\"", change: { $0["type"] = "towns" }),
        Mutation(file: "alpha.town.json", field: "type", says: "is missing", change: { $0["type"] = nil }),
        Mutation(file: "alpha.town.json", field: "version", says: "must be 1 to 2", change: { $0["version"] = 3 }),
        Mutation(file: "alpha.town.json", field: "name", says: "is missing", change: { $0["name"] = nil }),
        Mutation(
            file: "alpha.town.json", field: "name", says: "not a valid node name", change: { $0["name"] = "My Town" }),
        Mutation(
            file: "alpha.town.json", field: "created_at", says: "RFC 3339", change: { $0["created_at"] = "yesterday" }),
        Mutation(
            file: "alpha.town.json", field: "nodes", says: "not a known key",
            change: { $0["nodes"] = [:] as [String: Any] }),
        Mutation(
            file: "alpha.town.json", field: "placement.failover_grace_seconds", says: "from 0 to 86400",
            change: { $0["placement"] = ["failover_grace_seconds": 100_000] }),
        Mutation(
            file: "alpha.town.json", field: "placement.rules[0].require", says: "at least one label",
            change: { $0["placement"] = ["rules": [["rig": "webapp", "require": [:] as [String: Any]]]] }),
        Mutation(
            file: "alpha.town.json", field: "placement.rules[0].rig", says: "is missing",
            change: { $0["placement"] = ["rules": [["require": ["org": "x"]]]] }),
        Mutation(
            file: "alpha.town.json", field: "placement.rules", says: "must be a list",
            change: { $0["placement"] = ["rules": "webapp"] }),
        Mutation(
            file: "alpha.town.json", field: "placement.rule", says: "not a known key",
            change: { $0["placement"] = ["rule": []] }),
        Mutation(
            file: "alpha.town.json", field: "refinery.poll_seconds", says: "a number from 0",
            change: { $0["refinery"] = ["poll_seconds": "5"] }),
        Mutation(
            file: "alpha.town.json", field: "convoy.poll", says: "not a known key",
            change: { $0["convoy"] = ["poll": 5] }),
        Mutation(
            file: "rig.example.json", field: "beads.prefix", says: "not a bead ID prefix",
            change: { $0["beads"] = ["prefix": "W A"] }),
        Mutation(file: "rig.example.json", field: "beads", says: "is missing", change: { $0["beads"] = nil }),
        Mutation(file: "rig.example.json", field: "git_url", says: "is missing", change: { $0["git_url"] = nil }),
        Mutation(
            file: "rig.example.json", field: "max_polecats", says: "from 1 to 10000", change: { $0["max_polecats"] = 0 }
        ),
        Mutation(
            file: "rig.example.json", field: "runtime", says: "not a known runtime", change: { $0["runtime"] = "gpt" }),
        Mutation(
            file: "rig.example.json", field: "name", says: "not a usable rig name", change: { $0["name"] = "mayor" }),
        Mutation(file: "rig.example.json", field: "version", says: "must be 1", change: { $0["version"] = 2 }),
        Mutation(
            file: "rig.example.json", field: "merge_queue.batch_size", says: "whole number from 1",
            change: { $0["merge_queue"] = ["batch_size": 0] }),
        Mutation(
            file: "rig.example.json", field: "merge_queue.gates", says: "not a known key",
            change: { $0["merge_queue"] = ["gates": "make test"] }),
    ]

    @Test(arguments: mutations)
    func aMutationIsRefusedNamingItsField(_ mutation: Mutation) throws {
        var object = try Self.object(mutation.file)
        mutation.change(&object)
        let report = try Self.check(object, mutation.file)
        #expect(!report.valid)
        let named = report.problems.filter { $0.field == mutation.field }
        #expect(named.count == 1, "\(mutation): \(report.problems)")
        #expect(named.first?.message.contains(mutation.says) == true, "\(mutation): \(report.problems)")
        // Only the mutated field is reported.
        #expect(report.problems.count == 1, "\(mutation): \(report.problems)")
    }

    @Test func everyProblemIsListedNotOnlyTheFirst() throws {
        var object = try Self.object("alpha.town.json")
        object["version"] = "two"
        object["node"] = ["slots": -3, "labels": ["org": 7], "runtimes": ["nope"]]
        let report = try Self.check(object)
        #expect(
            Set(report.problems.map(\.field))
                == ["version", "node.slots", "node.labels.org", "node.runtimes[0]"], "\(report.problems)")
    }

    @Test func notJSONOrNotAnObjectIsSaidPlainly() {
        let broken = ClusterConfigCheck.check(Data("{\"type\": \"town\",".utf8), path: "x.json")
        #expect(
            broken.problems == [.init(field: "", message: "is not JSON: check for a missing comma, quote or brace")])
        let list = ClusterConfigCheck.check(Data("[1]".utf8), path: "x.json")
        #expect(list.problems.first?.message.contains("must be a JSON object") == true)
        #expect(ClusterConfigCheck.check(Data(), path: "x.json").kind == "unknown")
    }

    /// Fuzz-style: seeded byte mutations and random values at random keys of every example. The check never
    /// crashes, and whatever it passes the node's decoders accept.
    @Test func fuzzedFilesNeverCrashAndNeverPassWhatTheNodeRefuses() throws {
        var rng = SplitMix64(seed: 0xC0FF_1618)
        let values: [Any] = [
            NSNull(), true, false, 0, -1, 1.5, 1e300, "", "x", "127.0.0.1:7946", [], [1], ["a"], [:] as [String: Any],
            ["k": "v"], ["rig": "*", "require": ["org": "x"]], String(repeating: "z", count: 300),
        ]
        let keys = [
            "type", "version", "name", "node", "placement", "refinery", "convoy", "created_at", "beads", "runtime",
            "max_polecats", "merge_queue", "git_url", "owner",
        ]
        let nodeKeys = ["listen", "join", "name", "labels", "slots", "runtimes"]
        var passed = 0
        for name in try Self.files() {
            let original = try #require(FileManager.default.contents(atPath: Self.directory + "/" + name))
            for _ in 0..<300 {
                var bytes = Array(original)
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    let index = Int.random(in: 0..<bytes.count, using: &rng)
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0: bytes[index] = UInt8.random(in: 0...255, using: &rng)
                    case 1: bytes.remove(at: index)
                    default: bytes.insert(Array("{}[],:\"0-e".utf8).randomElement(using: &rng)!, at: index)
                    }
                }
                passed += try verify(Data(bytes), name)
                var object = try Self.object(name)
                let value = values.randomElement(using: &rng)!
                if Bool.random(using: &rng) {
                    object[keys.randomElement(using: &rng)!] = value
                } else {
                    var section = object["node"] as? [String: Any] ?? [:]
                    section[nodeKeys.randomElement(using: &rng)!] = value
                    object["node"] = section
                }
                passed += try verify(try JSONSerialization.data(withJSONObject: object), name)
            }
        }
        #expect(passed > 0, "some mutations (whitespace, harmless values) still pass")
    }

    private func verify(_ data: Data, _ name: String) throws -> Int {
        let report = ClusterConfigCheck.check(data, path: name)
        guard report.valid else {
            #expect(report.problems.allSatisfy { !$0.message.isEmpty })
            return 0
        }
        if report.kind == "town" {
            #expect(throws: Never.self, "\(String(decoding: data, as: UTF8.self))") {
                try TownFile.decode(data, path: name)
            }
        } else {
            #expect(report.kind == "rig")
            #expect(throws: Never.self, "\(String(decoding: data, as: UTF8.self))") {
                try JSONDecoder().decode(RigConfig.self, from: data)
            }
        }
        return 1
    }
}
