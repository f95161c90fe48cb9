import Foundation
import GasTownTestKit
import Node
import Testing
import Town

/// `TownFile`, the one reader and writer of `mayor/town.json`: every section decoded, wrong types refused naming
/// the file and the key, fuzzed bytes never crash it, and `update` keeps keys it does not change.
@Suite struct TownFileTests {
    @Test func decodesEverySection() throws {
        let text = #"""
            {"name": "alpha", "type": "town", "owner": "a@b",
             "node": {"listen": "127.0.0.1:9", "join": ["a:1"], "name": "n1", "labels": {"org": "acme"},
                      "slots": 3, "runtimes": ["exec"]},
             "refinery": {"lease_renew_seconds": 0.2, "lease_grace_seconds": 1, "poll_seconds": 0.01},
             "convoy": {"poll_seconds": 2, "landing_grace_seconds": 7.5},
             "placement": {"rules": [{"rig": "secret", "require": {"org": "acme"}}], "failover_grace_seconds": 2.5}}
            """#
        let file = try TownFile.decode(Data(text.utf8), path: "/t/mayor/town.json")
        #expect(file.name == "alpha")
        #expect(file.node.listen == "127.0.0.1:9" && file.node.join == ["a:1"] && file.node.name == "n1")
        #expect(file.node.labels == ["org": "acme"] && file.node.slots == 3 && file.node.runtimes == ["exec"])
        #expect(file.refinery.leaseRenew == .milliseconds(200) && file.refinery.leaseGrace == .seconds(1))
        #expect(file.refinery.poll == .milliseconds(50), "clamped to 0.05 s")
        #expect(file.convoy.poll == .seconds(2) && file.convoy.landingGrace == .milliseconds(7500))
        #expect(file.placement.rules.map(\.rig) == ["secret"] && file.placement.failoverGrace == .milliseconds(2500))
        // The node's views agree with the one decode.
        #expect(TownNodeConfig(file) == TownNodeConfig(listen: "127.0.0.1:9", join: ["a:1"], townName: "alpha", nodeName: "n1"))
        #expect(MayorConfig(file).slots == 3 && MembershipTownConfig(file.node).labels.org == "acme")
        #expect(try TownFile.decode(Data("{}".utf8), path: "t") == TownFile(path: "t"))
    }

    @Test func refusesWrongTypesNamingTheFileAndKey() {
        let bad: [(String, String)] = [
            ("[1]", "is not a JSON object"), ("{", "is not a JSON object"),
            (#"{"node": 3}"#, "\"node\" must be an object"), (#"{"node": {"listen": 7}}"#, "node.listen"),
            (#"{"refinery": []}"#, "refinery must be an object"),
            (#"{"refinery": {"poll_seconds": "5"}}"#, "refinery.poll_seconds"),
            (#"{"refinery": {"lease_grace_seconds": {}}}"#, "refinery.lease_grace_seconds"),
            (#"{"convoy": 1}"#, "convoy must be an object"),
            (#"{"convoy": {"landing_grace_seconds": [1]}}"#, "convoy.landing_grace_seconds"),
            (#"{"placement": {"rules": {}}}"#, "placement.rules must be a list"),
        ]
        for (text, key) in bad {
            do {
                _ = try TownFile.decode(Data(text.utf8), path: "/t/mayor/town.json")
                Issue.record("\(text) was accepted")
            } catch {
                #expect(error.kind == .malformed)
                #expect(error.message.hasPrefix("/t/mayor/town.json") && error.message.contains(key), "\(error)")
                #expect(NodeError(error).description.hasPrefix("bad configuration: /t/mayor/town.json"))
            }
        }
    }

    @Test func fuzzedFilesNeverCrashTheDecoder() {
        let valid = Array(
            #"{"name": "a", "node": {"join": ["x:1"], "slots": 2}, "refinery": {"poll_seconds": 1}, "convoy": {"poll_seconds": 2}}"#
                .utf8)
        var random = SeededGenerator(seed: 0x70_11)
        var decoded = 0
        var refused = 0
        for _ in 0..<2000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let index = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[index] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes.remove(at: index)
                default: bytes.insert(Array("{}[]\":,0-9a".utf8).randomElement(using: &random)!, at: index)
                }
            }
            do {
                _ = try TownFile.decode(Data(bytes), path: "fuzz")
                decoded += 1
            } catch {
                #expect(error.kind == .malformed && error.message.hasPrefix("fuzz"))
                refused += 1
            }
        }
        #expect(decoded > 0 && refused > 0)
    }

    @Test func updateKeepsOtherKeysAndRefusesAMalformedFile() throws {
        let directory = try TempDir(prefix: "gt-townfile")
        let path = directory.join("mayor/town.json")
        #expect(throws: TownFileError(.missing, "\(path) is missing")) { try TownFile.update(path) { _, _ in } }
        try directory.write("mayor/town.json", #"{"name": "t", "custom": {"k": 1}, "node": {"slots": 2}}"#)
        try TownFile.update(path) { file, object in
            #expect(file.node.slots == 2)
            object["node"] = ["slots": 2, "join": ["a:1"]]
        }
        let file = try TownFile.load(path)
        #expect(file.node.join == ["a:1"] && file.name == "t")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
        #expect((object as? [String: Any])?["custom"] as? [String: Int] == ["k": 1])
        try directory.write("mayor/town.json", #"{"name": "t", "node": {"join": 5}}"#)
        do {
            try TownFile.update(path) { _, object in object["name"] = "changed" }
            Issue.record("a malformed file was updated")
        } catch {
            #expect(error.kind == .malformed && error.message.contains("node.join"))
        }
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self).contains("\"join\": 5"))
    }
}
