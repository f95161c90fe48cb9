import Foundation
import Node
import Testing

@testable import GasTownCLI
import Town

/// The example files in `cluster-config/` are read with the decoders the node and `gt` use, so an example that the
/// code would refuse (a renamed key, a wrong type) fails here.
@Suite struct ClusterConfigExamplesTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("cluster-config").path

    static func read(_ name: String) throws -> Data {
        let path = directory + "/" + name
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError("cannot read \(path)")
        }
        return data
    }

    @Test(arguments: ["alpha", "beta", "gamma"])
    func townExamplesDecode(_ name: String) throws {
        let data = try Self.read("\(name).town.json")
        let town = try TownConfig.decode(data, path: "\(name).town.json")
        #expect(town.name == name)
        #expect(town.version == TownConfig.currentVersion)
        let node = try MembershipTownConfig.decode(data, path: "\(name).town.json")
        #expect(node.slots != nil && node.slots! > 0)
        #expect(node.labels.org == "example")
        #expect(node.labels.region != nil)
        #expect(node.runtimes.contains("exec"))
        let mayor = try MayorConfig.decode(data, path: "\(name).town.json")
        #expect(mayor.policy.rules == [.init(rig: "webapp", require: ["org": "example"])])
        #expect(mayor.grace == .seconds(180))
    }

    @Test func rigExampleDecodes() throws {
        let rig = try JSONDecoder().decode(RigConfig.self, from: try Self.read("rig.example.json"))
        #expect(rig.name == "webapp")
        #expect(rig.beads.prefix == "wa")
        #expect(rig.maxPolecats == 4)
    }
}
