import Foundation
import GasTownTestKit
import Node
import Scheduling
import Testing
import Wire

/// The Mayor's decoders of outside bytes: `mayor-admit` bodies from peers and town.json's `placement`.
@Suite struct MayorDecodingTests {
    @Test func anAdmitRequestRoundTripsAndBadOnesSayWhatIsWrong() throws {
        let request = MayorAdmitRequest(bead: "demo-abc", rig: "demo", runtime: "exec:'sh a.sh'", force: true, placer: "alpha")
        #expect(try MayorAdmitRequest.decode(NodeJSON.encode(request)) == request)
        let moved = MayorAdmitRequest(bead: "demo-abc", rig: "demo", placer: "beta", base: "polecat/beta/x/demo-abc/e1")
        #expect(try MayorAdmitRequest.decode(NodeJSON.encode(moved)) == moved)
        let bad: [(String, String)] = [
            (#"{"bead": "", "rig": "demo", "force": false, "placer": "a"}"#, "bead"),
            (#"{"bead": "x", "rig": "", "force": false, "placer": "a"}"#, "rig"),
            (#"{"bead": "x", "rig": "demo", "force": false, "placer": ""}"#, "placer"),
            (#"{"bead": "x", "rig": "demo", "runtime": "", "force": false, "placer": "a"}"#, "runtime"),
            (#"{"bead": "x", "rig": "demo"}"#, "force"),
            (#"{"bead": "x", "rig": "demo", "force": false, "placer": "a", "base": ""}"#, "base"),
            (#"{"bead": "x", "rig": "demo", "force": false, "placer": "a", "base": "-delete"}"#, "base"),
            ("[]", "MayorAdmitRequest"),
        ]
        for (text, field) in bad {
            do {
                _ = try MayorAdmitRequest.decode(Array(text.utf8))
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.code == .badRequest, "\(text)")
                #expect(error.message.contains(field), "\(text): \(error.message)")
            }
        }
    }

    @Test func aQueueFileWithoutBaseStillReadsAndOneWithBaseKeepsIt() throws {
        let old =
            #"[{"bead": "demo-a", "rig": "demo", "require": {}, "reason": "full", "#
            + #""queued_at": "2026-12-03T22:00:00Z"}]"#
        let entries = try JSONDecoder().decode([MayorQueueEntry].self, from: Data(old.utf8))
        #expect(entries.count == 1 && entries[0].base == nil && entries[0].bead == "demo-a")
        var moved = entries[0]
        moved.base = "polecat/beta/x/demo-a/e1"
        let again = try JSONDecoder().decode(MayorQueueEntry.self, from: JSONEncoder().encode(moved))
        #expect(again == moved)
    }

    @Test func aNudgeRequestRoundTripsAndBadOnesSayWhatIsWrong() throws {
        let request = MayorNudgeRequest(agent: "demo/polecats/beta-furiosa", text: "look at the tests", from: "alpha")
        #expect(try MayorNudgeRequest.decode(NodeJSON.encode(request)) == request)
        let long = String(repeating: "x", count: MayorNudgeRequest.maxTextBytes + 1)
        let bad: [(String, String)] = [
            (#"{"agent": "", "text": "hi", "from": "a"}"#, "agent"),
            (#"{"agent": "demo/x", "text": "\#(long)", "from": "a"}"#, "text"),
            (#"{"agent": "demo/x", "from": "a"}"#, "text"),
            ("[]", "MayorNudgeRequest"),
        ]
        for (text, field) in bad {
            do {
                _ = try MayorNudgeRequest.decode(Array(text.utf8))
                Issue.record("accepted \(text.prefix(80))")
            } catch {
                #expect(error.code == .badRequest, "\(text.prefix(80))")
                #expect(error.message.contains(field), "\(text.prefix(80)): \(error.message)")
            }
        }
    }

    @Test func fuzzedNudgeBodiesNeverCrashTheDecoder() {
        var random = SplitMix64(seed: 304)
        let valid = Array(NodeJSON.encode(MayorNudgeRequest(agent: "demo/polecats/a", text: "hello", from: "alpha")))
        var rejected = 0
        for round in 0..<3000 {
            var bytes = valid
            switch round % 3 {
            case 0: bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
            case 1: bytes.removeLast(1 + Int(random.next() % UInt64(bytes.count - 1)))
            default: bytes = (0..<Int(random.next() % 40)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            }
            do {
                let decoded = try MayorNudgeRequest.decode(bytes)
                #expect(!decoded.agent.isEmpty)
            } catch {
                #expect(!error.message.isEmpty)
                rejected += 1
            }
        }
        #expect(rejected > 1000)
    }

    @Test func fuzzedAdmitBodiesNeverCrashTheDecoder() {
        var random = SplitMix64(seed: 300)
        let valid = Array(
            NodeJSON.encode(MayorAdmitRequest(bead: "demo-abc", rig: "demo", runtime: "claude", placer: "alpha")))
        var rejected = 0
        for round in 0..<3000 {
            var bytes = valid
            switch round % 3 {
            case 0: bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
            case 1: bytes.removeLast(1 + Int(random.next() % UInt64(bytes.count - 1)))
            default: bytes = (0..<Int(random.next() % 40)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            }
            do {
                let decoded = try MayorAdmitRequest.decode(bytes)
                #expect(!decoded.bead.isEmpty && !decoded.rig.isEmpty && !decoded.placer.isEmpty)
            } catch {
                #expect(!error.message.isEmpty)
                rejected += 1
            }
        }
        #expect(rejected > 1000)
    }

    @Test func placementConfigReadsRulesAndGraceAndRefusesBadShapes() throws {
        let text = #"""
            {"name": "alpha", "node": {"slots": 3},
             "placement": {"rules": [{"rig": "secret", "require": {"org": "acme"}}, {"rig": "*", "require": {"os": "linux"}}],
                           "failover_grace_seconds": 2.5}}
            """#
        let config = try MayorConfig.decode(Data(text.utf8), path: "town.json")
        #expect(config.slots == 3)
        #expect(config.grace == .milliseconds(2500))
        #expect(
            config.policy.rules == [
                .init(rig: "secret", require: ["org": "acme"]), .init(rig: "*", require: ["os": "linux"]),
            ])
        let none = try MayorConfig.decode(Data(#"{"name": "x"}"#.utf8), path: "town.json")
        #expect(none.policy.rules.isEmpty && none.grace == .seconds(180) && none.slots == nil)
        let bad: [(String, String)] = [
            (#"{"placement": []}"#, "placement must be an object"),
            (#"{"placement": {"rule": []}}"#, "placement.rule is not a known key"),
            (#"{"placement": {"rules": {}}}"#, "placement.rules must be a list"),
            (#"{"placement": {"rules": [{"rig": "x"}]}}"#, "placement.rules[0]"),
            (#"{"placement": {"rules": [{"rig": "", "require": {"a": "b"}}]}}"#, "placement.rules[0]"),
            (#"{"placement": {"rules": [{"rig": "x", "require": {"a": 1}}]}}"#, "placement.rules[0]"),
            (#"{"placement": {"rules": [{"rig": "x", "require": {}}]}}"#, "placement.rules[0]"),
            (#"{"placement": {"failover_grace_seconds": -1}}"#, "failover_grace_seconds"),
            (#"{"placement": {"failover_grace_seconds": "5"}}"#, "failover_grace_seconds"),
            ("[1]", "is not a JSON object"),
        ]
        for (text, message) in bad {
            #expect(throws: NodeError.self, "\(text)") { try MayorConfig.decode(Data(text.utf8), path: "town.json") }
            do {
                _ = try MayorConfig.decode(Data(text.utf8), path: "town.json")
            } catch {
                #expect("\(error)".contains(message), "\(text): \(error)")
            }
        }
    }

    @Test func fuzzedPlacementSectionsNeverCrashTheDecoder() {
        var random = SplitMix64(seed: 301)
        let valid = Array(
            #"{"placement": {"rules": [{"rig": "secret", "require": {"org": "acme"}}], "failover_grace_seconds": 3}}"#
                .utf8)
        for round in 0..<3000 {
            var bytes = valid
            if round % 2 == 0 {
                bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
            } else {
                bytes.removeLast(1 + Int(random.next() % UInt64(bytes.count - 1)))
            }
            if let config = try? MayorConfig.decode(Data(bytes), path: "town.json") {
                #expect(config.policy.rules.allSatisfy { !$0.rig.isEmpty && !$0.require.isEmpty })
            }
        }
    }
}
