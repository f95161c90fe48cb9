import Foundation
import GasTownTestKit
import Membership
import Node
import Testing
import Wire

@testable import GasTownCLI

@Suite struct MembershipCommandTests {
    @Test func parsesTheMembershipCommands() throws {
        let list = try CommandLineParser.parse(
            ["node", "list", "--status", "failed", "--name", "n4", "--json"], program: GT.program)
        #expect(list.pathNames == ["gt", "node", "list"])
        let command = try NodeListCommand(parsed: list.values)
        #expect(command.status == "failed" && command.name == "n4")
        #expect(
            try CommandLineParser.parse(["node", "members"], program: GT.program).pathNames == ["gt", "node", "list"])

        let drain = try CommandLineParser.parse(["node", "drain", "--undo"], program: GT.program)
        #expect(try NodeDrainCommand(parsed: drain.values).undo)
        #expect(
            try !NodeDrainCommand(parsed: CommandLineParser.parse(["node", "drain"], program: GT.program).values).undo)

        let flood = try NodeFloodCommand(
            parsed: CommandLineParser.parse(["node", "flood", "n1"], program: GT.program).values)
        #expect(flood.request == FloodRequest(peer: "n1", seconds: 10, frameBytes: 4 << 20, concurrency: 4))
        #expect(
            try CommandLineParser.parse(["node", "info"], program: GT.program).pathNames == ["gt", "node", "info"])
        #expect(
            try CommandLineParser.parse(["node", "leave"], program: GT.program).pathNames == ["gt", "node", "leave"])
    }

    @Test func refusesBadValues() {
        #expect(throws: UsageError.self) {
            try CommandLineParser.parse(["node", "list", "--status", "dead"], program: GT.program)
        }
        #expect(throws: UsageError.self) {
            try CommandLineParser.parse(["node", "flood", "n1", "--concurrency", "0"], program: GT.program)
        }
        #expect(throws: UsageError.self) { try CommandLineParser.parse(["node", "flood"], program: GT.program) }
    }

    @Test func listTableIsAlignedLikeSerfMembers() {
        var a = Membership.Metadata(freeSlots: 3, runningAgents: 1, softwareVersion: "0.1.0", draining: true)
        a.loadAverage = 0.5
        a.labels.region = "eu"
        a.labels.custom["gpu-kind"] = "a100"
        let members = [
            MemberReport(
                Membership.Member(
                    node: .init(name: "alpha", address: "10.0.0.1:7420"), incarnation: 2, status: .alive, metadata: a)),
            MemberReport(
                Membership.Member(
                    node: .init(name: "b", address: "10.0.0.22:7420"), incarnation: 0, status: .dead,
                    metadata: Membership.Metadata())),
        ]
        let lines = NodeMembershipCLI.table(members)
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("NAME   ADDRESS         STATUS"))
        #expect(
            lines[1].contains(
                "alpha  10.0.0.1:7420   alive (draining)  3      1       0.50  0.1.0    gpu-kind=a100,region=eu"))
        #expect(lines[2].contains("b      10.0.0.22:7420  failed            0      0       0.00  -        -"))
    }

    @Test func memberReportJSONHasSnakeCaseKeys() throws {
        let report = MemberReport(
            Membership.Member(
                node: .init(name: "n0", address: "127.0.0.1:1"), incarnation: 1, status: .suspect,
                metadata: Membership.Metadata(freeSlots: 2)))
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(MembershipControl.encode(report))) as? [String: Any])
        #expect(object["status"] as? String == "suspect")
        #expect(object["free_slots"] as? Int == 2)
        #expect(
            Set(object.keys).isSuperset(of: ["load_average", "free_memory_bytes", "metadata_version", "running_agents"])
        )
    }

    /// Control bodies come from the local socket: random and mutated bytes must give a `badRequest` error
    /// reply, never a crash.
    @Test func controlBodiesSurviveRandomAndMutatedInput() throws {
        var rng = SplitMix64(seed: 0xC0DE)
        let valid = [
            Array(#"{"draining":true}"#.utf8),
            Array(#"{"peer":"n1","seconds":2,"frame_bytes":1024,"concurrency":2}"#.utf8),
        ]
        var refused = 0
        for round in 0..<3000 {
            var bytes = valid[round % 2]
            if round % 4 == 0 {
                bytes = (0..<Int(rng.next() % 80)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                for _ in 0..<(1 + rng.next() % 3) where !bytes.isEmpty {
                    bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
                }
            }
            do {
                if round % 2 == 0 {
                    _ = try MembershipControl.decode(DrainRequest.self, from: bytes)
                } else {
                    _ = try MembershipControl.decode(FloodRequest.self, from: bytes)
                }
            } catch {
                #expect(error.code == .badRequest)
                refused += 1
            }
        }
        #expect(refused > 1000)
        #expect(try MembershipControl.decode(DrainRequest.self, from: valid[0]) == DrainRequest(draining: true))
    }
}

@Suite struct MembershipTownConfigTests {
    @Test func readsLabelsSlotsAndRuntimes() throws {
        let json = """
            {"name": "t", "node": {"listen": "127.0.0.1:1", "labels": {"org": "acme", "region": "eu", "gpu": "a100",
             "tier": "gold"}, "slots": 4, "runtimes": ["claude", "exec"]}}
            """
        let config = try MembershipTownConfig.decode(Data(json.utf8), path: "town.json")
        #expect(config.labels.org == "acme" && config.labels.region == "eu" && config.labels.gpu == "a100")
        #expect(config.labels.custom == ["tier": "gold"])
        #expect(config.slots == 4 && config.runtimes == ["claude", "exec"])
        let md = config.applied(to: Membership.Metadata(softwareVersion: "1"))
        #expect(md.freeSlots == 4 && md.labels.region == "eu" && md.runtimes == ["claude", "exec"])
        #expect(md.softwareVersion == "1")
        #expect(try MembershipTownConfig.decode(Data(#"{"name": "t"}"#.utf8), path: "t") == MembershipTownConfig())
    }

    @Test func refusesWrongTypesNamingTheKey() {
        for (json, key) in [
            (#"{"node": {"labels": ["a"]}}"#, "node.labels"), (#"{"node": {"slots": -1}}"#, "node.slots"),
            (#"{"node": {"runtimes": "claude"}}"#, "node.runtimes"), ("[1]", "not a JSON object"),
        ] {
            do {
                _ = try MembershipTownConfig.decode(Data(json.utf8), path: "town.json")
                Issue.record("\(json) was accepted")
            } catch {
                #expect(error.description.contains(key), "\(error)")
            }
        }
    }
}
