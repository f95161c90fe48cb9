import Foundation
import Membership

/// The membership part of town.json's `node` section: what this node advertises to the cluster.
///
/// ```json
/// "node": {"labels": {"org": "acme", "region": "eu-west", "gpu": "a100", "tier": "gold"},
///          "slots": 4, "runtimes": ["claude", "exec"]}
/// ```
/// `org`, `region`, `os` and `gpu` fill the well-known labels, other keys are custom labels; `slots` is the
/// number of free agent slots published until the polecat supervisor reports its own; every key is optional.
/// Sendable: plain value.
public struct MembershipTownConfig: Sendable, Equatable {
    /// Labels to publish.
    public var labels = Membership.Labels()
    /// Free agent slots to publish at start.
    public var slots: UInt32?
    /// Runtimes to publish.
    public var runtimes: [String] = []

    /// No settings.
    public init() {}

    /// Reads the `node` section of town.json's bytes; a wrong type is an error naming the key.
    public static func decode(_ data: Data, path: String) throws(NodeError) -> MembershipTownConfig {
        var config = MembershipTownConfig()
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .badConfig("\(path) is not a JSON object")
        }
        guard let section = object["node"] as? [String: Any] else { return config }
        if let labels = section["labels"] {
            guard let map = labels as? [String: String] else {
                throw .badConfig("\(path): node.labels must be an object of strings, like {\"region\": \"eu\"}")
            }
            for (key, value) in map {
                switch key {
                case "org": config.labels.org = value
                case "region": config.labels.region = value
                case "os": config.labels.os = value
                case "gpu": config.labels.gpu = value
                default: config.labels.custom[key] = value
                }
            }
        }
        if let slots = section["slots"] {
            guard let number = slots as? Int, (0...100_000).contains(number) else {
                throw .badConfig("\(path): node.slots must be a whole number from 0 to 100000")
            }
            config.slots = UInt32(number)
        }
        if let runtimes = section["runtimes"] {
            guard let list = runtimes as? [String] else {
                throw .badConfig("\(path): node.runtimes must be a list of strings")
            }
            config.runtimes = list
        }
        return config
    }

    /// `metadata` with these settings applied (labels set here win; lists replace empty ones).
    public func applied(to metadata: Membership.Metadata) -> Membership.Metadata {
        var md = metadata
        if let org = labels.org { md.labels.org = org }
        if let region = labels.region { md.labels.region = region }
        if let os = labels.os { md.labels.os = os }
        if let gpu = labels.gpu { md.labels.gpu = gpu }
        md.labels.custom.merge(labels.custom) { _, new in new }
        if let slots { md.freeSlots = slots }
        if !runtimes.isEmpty { md.runtimes = runtimes }
        return md
    }
}
