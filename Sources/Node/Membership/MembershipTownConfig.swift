import Foundation
import Membership
import Town

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

    /// The membership part of a decoded town.json's `node` section.
    public init(_ node: TownFile.NodeSection) {
        for (key, value) in node.labels {
            switch key {
            case "org": labels.org = value
            case "region": labels.region = value
            case "os": labels.os = value
            case "gpu": labels.gpu = value
            default: labels.custom[key] = value
            }
        }
        slots = node.slots.map { UInt32($0) }
        runtimes = node.runtimes
    }

    /// Reads the `node` section of town.json's bytes (through `TownFile`, its one reader); a wrong type is an
    /// error naming the key.
    public static func decode(_ data: Data, path: String) throws(NodeError) -> MembershipTownConfig {
        do throws(TownFileError) { return MembershipTownConfig(try TownFile.decode(data, path: path).node) } catch {
            throw NodeError(error)
        }
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
