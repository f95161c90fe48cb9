/// A bead of another organization: `hop://<org>/<rig>/<bead-id>` (DESIGN §9).
///
/// `<org>` is an organization name (1–63 of `a-z 0-9 -`), `<rig>` a rig name (no `/`, spaces or control
/// characters), `<bead-id>` a bead id; at most 512 bytes in all. Parsing is pure. `Sendable`: a plain value.
public struct HopAddress: Hashable, Sendable, CustomStringConvertible {
    public var organization: String
    public var rig: String
    public var beadID: String

    public static let scheme = "hop://"

    public init(organization: String, rig: String, beadID: String) {
        self.organization = organization
        self.rig = rig
        self.beadID = beadID
    }

    /// Parses `hop://org/rig/id`; nil when `text` is not such an address.
    public init?(_ text: String) {
        guard text.hasPrefix(Self.scheme), text.utf8.count <= 512 else { return nil }
        let parts = text.dropFirst(Self.scheme.count).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        let org = Array(parts[0].utf8)
        guard (1...63).contains(org.count), org[0] != 0x2D,
            org.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D })
        else { return nil }
        func printable(_ part: Substring) -> Bool {
            !part.isEmpty && part.utf8.count <= 255 && part.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
        }
        guard printable(parts[1]), printable(parts[2]) else { return nil }
        self.init(organization: String(parts[0]), rig: String(parts[1]), beadID: String(parts[2]))
    }

    public var description: String { "\(Self.scheme)\(organization)/\(rig)/\(beadID)" }
}

/// Dependency edges on beads that live elsewhere, as beads writes them: the target is `external:…`.
///
/// `external:hop://<org>/<rig>/<bead-id>` names another organization's bead. A `blocks` (or
/// `conditional-blocks`) edge to it blocks its bead until the node has seen the remote bead closed and recorded
/// that on the edge (metadata `{"external_status": "closed", …}`, written by the node's federation poller as one
/// remove-and-add of the edge, so it syncs like any other write). Other `external:` targets (beads'
/// `external:<project>:<capability>`) are kept as they are and do not block: nothing here can resolve them.
///
/// A caseless namespace; nothing to share.
public enum ExternalDependency {
    public static let prefix = "external:"

    /// Whether `target` names a bead outside this ledger.
    public static func isExternal(_ target: String) -> Bool { target.hasPrefix(prefix) }

    /// The remote bead an `external:hop://…` target names, or nil.
    public static func hop(_ target: String) -> HopAddress? {
        guard target.hasPrefix(prefix) else { return nil }
        return HopAddress(String(target.dropFirst(prefix.count)))
    }

    /// Whether `edge` no longer blocks: not a cross-organization edge, or one recorded closed over there.
    public static func isResolved(_ edge: Dependency) -> Bool {
        guard hop(edge.dependsOnID) != nil || edge.dependsOnID.hasPrefix(prefix + HopAddress.scheme) else {
            return true
        }
        guard !edge.metadata.isEmpty, let meta = try? JSONValue.parse(edge.metadata) else { return false }
        return meta["external_status"]?.stringValue == "closed"
    }

    /// The metadata recording the remote bead's `status` as seen at `checkedAt` (ISO-8601).
    public static func metadata(status: String, checkedAt: String) -> String {
        JSONValue.object([
            JSONMember("external_status", .string(status)),
            JSONMember("checked_at", .string(checkedAt)),
        ]).compactText
    }
}
