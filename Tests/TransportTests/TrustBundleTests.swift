import Foundation
import GasTownTestKit
import Testing

@testable import Transport
@testable import Wire

@Suite struct TrustBundleTests {
    static let ca = try! CertificateAuthority.create(clusterName: "beta", now: Date())
    static let other = try! CertificateAuthority.create(clusterName: "gamma", now: Date())

    static func bundle(_ ca: CertificateAuthority = ca, org: String = "beta") throws -> TrustBundle {
        try TrustBundle.make(
            organization: try OrganizationName(org), authority: ca,
            endpoints: [FederationEndpoint(node: "b1", address: "127.0.0.1:7600")])
    }

    @Test func aSignedBundleRoundTrips() throws {
        let made = try Self.bundle()
        let (decoded, ca) = try TrustBundle.decode(made.encoded())
        #expect(decoded == made)
        #expect(ca.fingerprint == Self.ca.certificate.fingerprint)
    }

    @Test func aChangedOrForgedBundleIsRefused() throws {
        var changed = try Self.bundle()
        changed.endpoints[0].address = "10.0.0.1:7600"
        #expect(throws: TransportError.self) { _ = try TrustBundle.decode(changed.encoded()) }
        // Signed by another CA than the one it carries.
        var forged = try Self.bundle(Self.other)
        forged.caPEM = try Self.ca.certificate.pem()
        do {
            _ = try TrustBundle.decode(forged.encoded())
            Issue.record("a forged bundle was accepted")
        } catch {
            #expect("\(error)".contains("not signed by its CA"))
        }
        for malformed in ["", "{}", "[1]", #"{"format":"x"}"#, String(repeating: " ", count: TrustBundle.maxBytes + 1)] {
            #expect(throws: TransportError.self) { _ = try TrustBundle.decode(Array(malformed.utf8)) }
        }
    }

    /// Seeded mutations of a valid bundle: the decoder never traps, and whatever it accepts says exactly what
    /// the CA signed (same organization, CA and endpoints).
    @Test func fuzzedBundlesNeverPassWithOtherContent() throws {
        let made = try Self.bundle()
        let original = made.encoded()
        var rng = SplitMix64(seed: 0x16)
        var accepted = 0
        for round in 0..<3_000 {
            var bytes = original
            let edits = 1 + Int(rng.next() % 4)
            for _ in 0..<edits {
                let position = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 4 {
                case 0: bytes[position] = UInt8(truncatingIfNeeded: rng.next())
                case 1: bytes.remove(at: position)
                case 2: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: position)
                default: bytes = Array(bytes.prefix(position))
                }
                if bytes.isEmpty { break }
            }
            if round % 500 == 0 { bytes = (0..<Int(rng.next() % 300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
            if let (decoded, ca) = try? TrustBundle.decode(bytes) {
                accepted += 1
                #expect(decoded.organization == made.organization)
                #expect(decoded.endpoints == made.endpoints)
                #expect(ca.fingerprint == Self.ca.certificate.fingerprint)
            }
        }
        #expect(accepted < 3_000)
    }

    @Test func addingPeersIsAtomicAndRefusesDuplicates() throws {
        let directory = try TempDir(prefix: "gt-federation")
        let federation = FederationDirectory(URL(fileURLWithPath: directory.join("federation")))
        let policy = FederationPolicy(read: .init(rigs: ["api"]))
        let peer = try federation.add(bundle: try Self.bundle().encoded(), policy: policy, ownAuthorities: [])
        #expect(peer.organization.rawValue == "beta")
        #expect(try federation.peers() == [peer])
        let before = try Data(contentsOf: federation.peersFile)
        // Already present; same CA under another name; our own CA; forged: refused, file unchanged.
        #expect(throws: TransportError.self) {
            _ = try federation.add(bundle: try Self.bundle().encoded(), policy: .none, ownAuthorities: [])
        }
        #expect(throws: TransportError.self) {
            _ = try federation.add(bundle: try Self.bundle(org: "beta2").encoded(), policy: .none, ownAuthorities: [])
        }
        #expect(throws: TransportError.self) {
            _ = try federation.add(
                bundle: try Self.bundle(Self.other, org: "gamma").encoded(), policy: .none,
                ownAuthorities: [Self.other.certificate])
        }
        #expect(try Data(contentsOf: federation.peersFile) == before)
        #expect(throws: TransportError.self) { _ = try federation.peer("nobody") }
        #expect(try federation.remove("beta") == peer)
        #expect(try federation.peers().isEmpty)
    }

    @Test func theDefaultPolicyAllowsNothingAndUnknownKeysAreRefused() throws {
        #expect(!FederationPolicy.none.mayRead(rig: "api"))
        #expect(!FederationPolicy.none.delegate)
        let policy = try FederationPolicy.decode(
            Array(#"{"read": {"rigs": ["api"], "types": ["task"]}, "budgets": {"concurrent_beads": 2}}"#.utf8))
        #expect(policy.mayRead(rig: "api") && !policy.mayRead(rig: "web"))
        #expect(policy.mayRead(type: "task") && !policy.mayRead(type: "bug"))
        #expect(throws: TransportError.self) { _ = try FederationPolicy.decode(Array(#"{"raed": {}}"#.utf8)) }
        #expect(throws: TransportError.self) { _ = try FederationPolicy.decode(Array(#"{"read": {"rig": []}}"#.utf8)) }
    }
}
