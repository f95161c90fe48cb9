import Foundation
import Wire

/// What a peer organization may do with us: which rigs and bead types it may read, whether it may delegate work
/// to us, and budgets for that work. With no policy a peer may read nothing and delegate nothing.
///
/// JSON (the `--policy FILE` of `gt federation add`, and each peer's `policy` in `peers.json`):
/// `{"read": {"rigs": ["gastown"], "types": ["task", "bug"]}, "delegate": false,
///   "budgets": {"concurrent_beads": 4, "agent_hours": 10}}`. `rigs` may hold `"*"` (every rig); an empty or
/// missing `types` means every type of the allowed rigs. `Sendable`: a plain value.
public struct FederationPolicy: Codable, Equatable, Sendable {
    /// The read part of a policy.
    public struct Read: Codable, Equatable, Sendable {
        public var rigs: [String]
        public var types: [String]

        public init(rigs: [String] = [], types: [String] = []) {
            self.rigs = rigs
            self.types = types
        }

        public init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            rigs = try container.decodeIfPresent([String].self, forKey: .rigs) ?? []
            types = try container.decodeIfPresent([String].self, forKey: .types) ?? []
        }
    }

    /// Budgets for delegated work (recorded; enforced by delegation, not yet built).
    public struct Budgets: Codable, Equatable, Sendable {
        public var concurrentBeads: Int?
        public var agentHours: Double?

        enum CodingKeys: String, CodingKey {
            case concurrentBeads = "concurrent_beads"
            case agentHours = "agent_hours"
        }

        public init(concurrentBeads: Int? = nil, agentHours: Double? = nil) {
            self.concurrentBeads = concurrentBeads
            self.agentHours = agentHours
        }
    }

    public var read: Read
    public var delegate: Bool
    public var budgets: Budgets

    /// The default: nothing may be read, nothing delegated.
    public static let none = FederationPolicy()

    public init(read: Read = Read(), delegate: Bool = false, budgets: Budgets = Budgets()) {
        self.read = read
        self.delegate = delegate
        self.budgets = budgets
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        read = try container.decodeIfPresent(Read.self, forKey: .read) ?? Read()
        delegate = try container.decodeIfPresent(Bool.self, forKey: .delegate) ?? false
        budgets = try container.decodeIfPresent(Budgets.self, forKey: .budgets) ?? Budgets()
    }

    /// Whether the peer may read beads of `rig`.
    public func mayRead(rig: String) -> Bool { read.rigs.contains(rig) || read.rigs.contains("*") }

    /// Whether the peer may read a bead of `type` (in a rig it may read).
    public func mayRead(type: String) -> Bool { read.types.isEmpty || read.types.contains(type) }

    /// Parses a policy file (at most 64 KiB), refusing keys it does not know so a typo never widens or narrows a
    /// policy silently.
    public static func decode(_ bytes: [UInt8]) throws(TransportError) -> FederationPolicy {
        guard bytes.count <= 64 * 1024 else { throw .pki("the policy file is over 64 KiB") }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else {
            throw .pki("the policy file is not a JSON object, like {\"read\": {\"rigs\": [\"gastown\"]}}")
        }
        let known: [String: Set<String>] = [
            "": ["read", "delegate", "budgets"], "read": ["rigs", "types"],
            "budgets": ["concurrent_beads", "agent_hours"],
        ]
        for key in object.keys where !known[""]!.contains(key) {
            throw .pki("the policy file has an unknown key '\(key)' (known: read, delegate, budgets)")
        }
        for section in ["read", "budgets"] {
            if let inner = object[section] as? [String: Any] {
                for key in inner.keys where !known[section]!.contains(key) {
                    throw .pki("the policy file has an unknown key '\(section).\(key)'")
                }
            }
        }
        do {
            let policy = try JSONDecoder().decode(FederationPolicy.self, from: Data(bytes))
            if let beads = policy.budgets.concurrentBeads, beads < 0 { throw TransportError.pki("negative budget") }
            if let hours = policy.budgets.agentHours, !(hours >= 0) { throw TransportError.pki("negative budget") }
            return policy
        } catch {
            throw .pki("the policy file is malformed (\(TrustBundle.shortReason(error)))")
        }
    }
}

/// A peer organization we trust for federation: its verified bundle and the policy we give it.
///
/// `Sendable`: a plain value.
public struct PeerOrganization: Codable, Equatable, Sendable {
    public var organization: OrganizationName
    public var caPEM: String
    /// SHA-256 of the peer CA's DER: the trust anchor half of every identity from that organization.
    public var caFingerprint: String
    public var endpoints: [FederationEndpoint]
    public var policy: FederationPolicy
    public var addedAt: String
    /// Delegation outcomes with this peer (both directions), bumped by the node (docs/federation.md).
    public var reputation = PeerReputation()

    enum CodingKeys: String, CodingKey {
        case organization, endpoints, policy, reputation
        case caPEM = "ca_pem"
        case caFingerprint = "ca_fingerprint"
        case addedAt = "added_at"
    }

    /// The peer's CA certificate.
    public func authority() throws(TransportError) -> Certificate { try Certificate(pem: caPEM) }

    /// Whether `other` is the same trust (name, CA, endpoints): a policy or reputation change keeps its links.
    public func sameTrust(as other: PeerOrganization) -> Bool {
        organization == other.organization && caPEM == other.caPEM && endpoints == other.endpoints
    }
}

extension PeerOrganization {
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        organization = try container.decode(OrganizationName.self, forKey: .organization)
        caPEM = try container.decode(String.self, forKey: .caPEM)
        caFingerprint = try container.decode(String.self, forKey: .caFingerprint)
        endpoints = try container.decode([FederationEndpoint].self, forKey: .endpoints)
        policy = try container.decode(FederationPolicy.self, forKey: .policy)
        addedAt = try container.decode(String.self, forKey: .addedAt)
        reputation = try container.decodeIfPresent(PeerReputation.self, forKey: .reputation) ?? PeerReputation()
    }
}

/// Per peer organization, how delegations with it went (`gt federation show`): `delegated` (sent to it or taken
/// from it), `accepted` (its branch passed the gate, or ours passed its gate), `rejected` (a gate failed), `late`
/// (a deadline passed before the branch came back). `Sendable`: a plain value.
public struct PeerReputation: Codable, Equatable, Sendable {
    public var delegated = 0
    public var accepted = 0
    public var rejected = 0
    public var late = 0

    public init() {}

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        delegated = try container.decodeIfPresent(Int.self, forKey: .delegated) ?? 0
        accepted = try container.decodeIfPresent(Int.self, forKey: .accepted) ?? 0
        rejected = try container.decodeIfPresent(Int.self, forKey: .rejected) ?? 0
        late = try container.decodeIfPresent(Int.self, forKey: .late) ?? 0
    }

    /// Adds one to the count named `name` (delegated, accepted, rejected, late); false for another name.
    public mutating func bump(_ name: String) -> Bool {
        switch name {
        case "delegated": delegated += 1
        case "accepted": accepted += 1
        case "rejected": rejected += 1
        case "late": late += 1
        default: return false
        }
        return true
    }
}

/// A federated identity: the trust anchor that verified a certificate and the name in it. Two organizations
/// may both have a node `n1`; `(anchor, name)` tells them apart, and an anchor that is not our own CA never
/// makes a certificate one of our nodes. `Sendable`: a plain value.
public struct FederatedIdentity: Hashable, Sendable, CustomStringConvertible {
    public var anchorFingerprint: String
    public var name: NodeName

    public init(anchorFingerprint: String, name: NodeName) {
        self.anchorFingerprint = anchorFingerprint
        self.name = name
    }

    public var description: String { "\(name)@\(anchorFingerprint.prefix(16))" }
}

/// The federation state of a town, `<town>/.gt/federation/`: `peers.json`, the peer organizations we trust
/// (sorted by name), replaced atomically under `.lock`, so a failed `gt federation add` or `remove` changes
/// nothing and concurrent ones lose nothing.
///
/// `Sendable`: a plain value.
public struct FederationDirectory: Sendable {
    public let url: URL

    public init(_ url: URL) { self.url = url }

    public var peersFile: URL { url.appendingPathComponent("peers.json") }
    var lockFile: URL { url.appendingPathComponent(".lock") }

    /// The peer organizations (empty when none were added). Blocking: a small file.
    public func peers() throws(TransportError) -> [PeerOrganization] {
        guard FileManager.default.fileExists(atPath: peersFile.path) else { return [] }
        guard let data = FileManager.default.contents(atPath: peersFile.path) else {
            throw .pki("cannot read \(peersFile.path)")
        }
        do {
            return try JSONDecoder().decode([PeerOrganization].self, from: data)
        } catch {
            throw .pki("\(peersFile.path) is malformed (\(TrustBundle.shortReason(error))); restore it or remove it")
        }
    }

    /// The peer organization `name`, or an error saying which ones exist.
    public func peer(_ name: String) throws(TransportError) -> PeerOrganization {
        let all = try peers()
        guard let found = all.first(where: { $0.organization.rawValue == name }) else {
            let known = all.isEmpty ? "none added yet" : all.map(\.organization.rawValue).joined(separator: ", ")
            throw .pki("unknown organization '\(name.prefix(63))' (known: \(known)); add it with `gt federation add BUNDLE`")
        }
        return found
    }

    /// Verifies `bundle` and adds its organization with `policy`. Refuses (nothing changed) a bundle that does
    /// not verify, an organization already present, a CA already trusted under another name, and our own CA.
    public func add(
        bundle bytes: [UInt8], policy: FederationPolicy, ownAuthorities: [Certificate], now: Date = Date()
    ) throws(TransportError) -> PeerOrganization {
        let (bundle, ca) = try TrustBundle.decode(bytes)
        guard !ownAuthorities.contains(where: { $0.fingerprint == ca.fingerprint }) else {
            throw .pki("this bundle is our own organization's (its CA is this cluster's CA); add a peer's bundle")
        }
        return try locked { () throws(TransportError) -> PeerOrganization in
            var all = try peers()
            if let present = all.first(where: { $0.organization == bundle.organization }) {
                throw .pki(
                    "organization '\(bundle.organization)' is already present (CA \(present.caFingerprint.prefix(16))…); "
                        + "`gt federation remove \(bundle.organization)` first to replace it")
            }
            if let other = all.first(where: { $0.caFingerprint == ca.fingerprint }) {
                throw .pki("this CA is already trusted as organization '\(other.organization)'")
            }
            let peer = PeerOrganization(
                organization: bundle.organization, caPEM: bundle.caPEM, caFingerprint: ca.fingerprint,
                endpoints: bundle.endpoints, policy: policy, addedAt: ISO8601DateFormatter().string(from: now))
            all.append(peer)
            try write(all)
            return peer
        }
    }

    /// Adds one to the reputation count `count` (delegated, accepted, rejected, late) of organization `name`,
    /// under the lock (a concurrent add or remove loses nothing). An unknown organization is an error.
    @discardableResult
    public func bump(_ name: String, _ count: String) throws(TransportError) -> PeerReputation {
        try locked { () throws(TransportError) -> PeerReputation in
            var all = try peers()
            guard let index = all.firstIndex(where: { $0.organization.rawValue == name }) else {
                _ = try peer(name)
                throw .pki("unknown organization '\(name)'")
            }
            guard all[index].reputation.bump(count) else { throw .pki("no reputation count '\(count)'") }
            try write(all)
            return all[index].reputation
        }
    }

    /// Removes organization `name`; returns what was removed.
    public func remove(_ name: String) throws(TransportError) -> PeerOrganization {
        try locked { () throws(TransportError) -> PeerOrganization in
            var all = try peers()
            guard let index = all.firstIndex(where: { $0.organization.rawValue == name }) else {
                _ = try peer(name)  // throws the "unknown organization" error
                throw .pki("unknown organization '\(name)'")
            }
            let removed = all.remove(at: index)
            try write(all)
            return removed
        }
    }

    private func write(_ peers: [PeerOrganization]) throws(TransportError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let sorted = peers.sorted { $0.organization < $1.organization }
        guard let data = try? encoder.encode(sorted) else { throw .pki("cannot encode the peer list") }
        try PKIDirectory(url).write(String(decoding: data, as: UTF8.self) + "\n", to: peersFile, mode: 0o644)
    }

    private func locked<T>(_ body: () throws(TransportError) -> T) throws(TransportError) -> T {
        PKI.fileLock.lock()
        defer { PKI.fileLock.unlock() }
        return try FileLock.withLock(lockFile.path, body)
    }
}

extension NodeIdentity {
    /// This node's certificate and key, trusting only `authorities` (one peer organization's CA, or all of them
    /// on the federation listener): the TLS identity of one trust domain. It gets a revocation list of its own:
    /// a revocation a peer organization's CA signs must never reach the list our cluster links are checked against.
    public func federated(trusting authorities: [Certificate]) -> NodeIdentity {
        NodeIdentity(
            name: name, certificate: certificate, key: key, trustedAuthorities: authorities,
            revocations: RevocationList())
    }
}

extension FederationDirectory {
    /// This organization's name: town.json `federation.organization`, else the cluster's name (`cluster.json`)
    /// lower-cased with other characters turned into `-`.
    public static func organizationName(configured: String?, pki: PKIDirectory) throws(TransportError) -> String {
        if let configured { return try OrganizationName(configured).rawValue }
        struct Cluster: Decodable { var name: String }
        guard let data = FileManager.default.contents(atPath: pki.clusterFile.path),
            let cluster = try? JSONDecoder().decode(Cluster.self, from: data)
        else {
            throw .pki("no organization name: set federation.organization in mayor/town.json, or run `gt cluster init`")
        }
        var text = String(cluster.name.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "-" })
        while text.hasPrefix("-") { text.removeFirst() }
        return try OrganizationName(String(text.prefix(63))).rawValue
    }
}
