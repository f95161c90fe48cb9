import Foundation
import GasTownTestKit
import Node
import Testing

/// `gt cluster-config check` and `gt up --config` with the built `gt`: the files in cluster-config/ pass, a broken
/// one is refused naming the field (and `gt up --config` then changes nothing), and a node started from
/// alpha.town.json advertises the file's labels, slots and runtimes and has its placement section.
@Suite(.serialized)
struct ClusterConfigEndToEndTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("cluster-config").path

    @Test func checkThenStartANodeFromAClusterConfigFile() async throws {
        let temp = try TempDir(prefix: "gt-cluster-config")
        let alpha = try await TestTown(in: temp, name: "alpha")
        defer { alpha.stopEverything() }
        let examples = ["alpha.town.json", "beta.town.json", "gamma.town.json", "rig.example.json"].map {
            Self.directory + "/" + $0
        }
        let checked = try await alpha.gt(["cluster-config", "check"] + examples + ["--json"])
        #expect(checked.status == 0, "\(checked)")
        let reports = try #require(
            try JSONSerialization.jsonObject(with: Data(checked.stdout.utf8)) as? [[String: Any]])
        #expect(reports.count == 4 && reports.allSatisfy { $0["valid"] as? Bool == true }, "\(reports)")

        // A broken copy: every bad field is named, the exit status is 1, and gt up --config changes nothing.
        var object = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: examples[0])))
                as? [String: Any])
        var node = try #require(object["node"] as? [String: Any])
        node["slots"] = "four"
        node["runtime"] = ["exec"]
        object["node"] = node
        let broken = temp.join("broken.town.json")
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: broken))
        let refused = try await alpha.gt(["cluster-config", "check", broken])
        #expect(refused.status == 1, "\(refused)")
        #expect(
            refused.stdout.contains("node.slots: must be a whole number from 0 to 100000, got \"four\""), "\(refused)")
        #expect(refused.stdout.contains("node.runtime: is not a known key"), "\(refused)")
        let before = try Data(contentsOf: URL(fileURLWithPath: alpha.paths.townFile))
        let notStarted = try await alpha.gt(["up", "--config", broken, "--listen", "127.0.0.1:0"])
        #expect(notStarted.status == 1 && notStarted.stderr.contains("node.slots"), "\(notStarted)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: alpha.paths.townFile)) == before)
        #expect(alpha.recordedPid == nil)
        let missing = try await alpha.gt(["cluster-config", "check", temp.join("nope.json")])
        #expect(missing.status == 1 && missing.stderr.contains("cannot read \(temp.join("nope.json"))"), "\(missing)")

        // Started from alpha.town.json: the node advertises the file's node section and keeps its placement.
        let up = try await alpha.json(["up", "--config", examples[0], "--listen", "127.0.0.1:0"])
        #expect(up["name"] as? String == "alpha")
        let info = try await alpha.json(["node", "info"])
        let myself = try #require(info["myself"] as? [String: Any])
        // The file's labels, plus os, which the node adds itself.
        var labels = myself["labels"] as? [String: String] ?? [:]
        #expect(labels.removeValue(forKey: "os") != nil, "\(myself)")
        #expect(labels == ["org": "example", "region": "eu-west", "gpu": "none", "tier": "standard"], "\(myself)")
        #expect(Set(myself["runtimes"] as? [String] ?? []).isSuperset(of: ["claude", "exec"]), "\(myself)")
        let town = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: alpha.paths.townFile)))
                as? [String: Any])
        let placement = try #require(town["placement"] as? [String: Any])
        #expect(placement["failover_grace_seconds"] as? Int == 180)
        #expect((town["node"] as? [String: Any])?["slots"] as? Int == 4)
        // A running node is not reconfigured behind its back.
        let again = try await alpha.gt(["up", "--config", examples[0]])
        #expect(again.status == 1 && again.stderr.contains("already runs"), "\(again)")
        try await alpha.ok(["down"])
    }
}
