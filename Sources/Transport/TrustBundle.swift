import Foundation
import Wire

/// The name of a federated organization (one cluster, one CA): 1–63 characters of `a-z 0-9 -`, starting with a
/// letter or digit, so it fits a `hop://<org>/…` address and a file name.
///
/// `Sendable`: a plain value.
public struct OrganizationName: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let rawValue: String

    public init(_ text: String) throws(TransportError) {
        let bytes = Array(text.utf8)
        guard (1...63).contains(bytes.count),
            bytes.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D }),
            bytes[0] != 0x2D
        else {
            throw .pki(
                "'\(text.prefix(80))' is not an organization name: use 1-63 of a-z, 0-9 and '-', starting with a letter or digit"
            )
        }
        rawValue = text
    }

    public var description: String { rawValue }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(error)"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// One place a peer organization's federation listener is reachable: a node name (its certificate's CN, checked
/// on connect) and `HOST:PORT`.
///
/// `Sendable`: a plain value.
public struct FederationEndpoint: Codable, Equatable, Sendable {
    public var node: String
    public var address: String

    public init(node: String, address: String) {
        self.node = node
        self.address = address
    }
}

/// An organization's trust bundle (`gt federation export`): its name, its CA certificate and the endpoints of
/// its federation listeners, signed by the CA's key, so whoever adds it knows the three belong together.
///
/// On disk and on the wire it is one JSON object:
/// `{"format": "gastown-trust-bundle-v1", "organization": …, "ca_pem": …, "endpoints": [{"node", "address"}],
/// "created_at": ISO-8601, "signature": base64 ECDSA-SHA256}`; the signed bytes are
/// `gastown-trust-bundle-v1\n<organization>\n<CA fingerprint>\n<created_at>\n` followed by one
/// `<node> <address>\n` per endpoint. `Sendable`: a plain value.
public struct TrustBundle: Codable, Equatable, Sendable {
    public static let format = "gastown-trust-bundle-v1"
    /// A bundle file larger than this is refused before it is parsed. 64 KiB.
    public static let maxBytes = 64 * 1024
    /// At most this many endpoints. 64.
    public static let maxEndpoints = 64

    public var format: String
    public var organization: OrganizationName
    public var caPEM: String
    public var endpoints: [FederationEndpoint]
    public var createdAt: String
    public var signature: String

    enum CodingKeys: String, CodingKey {
        case format, organization, endpoints, signature
        case caPEM = "ca_pem"
        case createdAt = "created_at"
    }

    func signedBytes(caFingerprint: String) -> [UInt8] {
        var text = "\(Self.format)\n\(organization.rawValue)\n\(caFingerprint)\n\(createdAt)\n"
        for endpoint in endpoints { text += "\(endpoint.node) \(endpoint.address)\n" }
        return Array(text.utf8)
    }

    /// A bundle for `organization` signed by `authority`.
    public static func make(
        organization: OrganizationName, authority: CertificateAuthority, endpoints: [FederationEndpoint],
        now: Date = Date()
    ) throws(TransportError) -> TrustBundle {
        var bundle = TrustBundle(
            format: format, organization: organization, caPEM: try authority.certificate.pem(),
            endpoints: endpoints, createdAt: ISO8601DateFormatter().string(from: now), signature: "")
        _ = try bundle.checkedEndpoints()
        bundle.signature = Data(try authority.key.sign(bundle.signedBytes(caFingerprint: authority.certificate.fingerprint)))
            .base64EncodedString()
        return bundle
    }

    /// The bundle's JSON (sorted keys, one trailing newline).
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(self)) ?? Data()) + [0x0A]
    }

    /// Parses and verifies a bundle: at most `maxBytes`, JSON of the right shape and format, one CA certificate
    /// (CA:TRUE, self-signed), endpoints of valid node names and `HOST:PORT` addresses, and a signature by that
    /// CA's key over the rest. Every failure says what was wrong; nothing here has side effects.
    public static func decode(_ bytes: [UInt8]) throws(TransportError) -> (TrustBundle, Certificate) {
        guard bytes.count <= maxBytes else {
            throw .pki("the trust bundle is \(bytes.count) bytes, over the \(maxBytes)-byte limit: not a bundle")
        }
        let bundle: TrustBundle
        do {
            bundle = try JSONDecoder().decode(TrustBundle.self, from: Data(bytes))
        } catch {
            throw .pki("the trust bundle is malformed (\(Self.shortReason(error))); ask for a fresh `gt federation export`")
        }
        guard bundle.format == format else {
            throw .pki("the trust bundle's format is '\(bundle.format.prefix(40))', expected \(format)")
        }
        let authorities: [Certificate]
        do {
            authorities = try Certificate.bundle(pem: bundle.caPEM)
        } catch {
            throw .pki("the trust bundle's CA certificate does not parse: \(error)")
        }
        guard authorities.count == 1, let ca = authorities.first else {
            throw .pki("the trust bundle must hold exactly one CA certificate, it holds \(authorities.count)")
        }
        guard ca.isCA, ca.isSigned(by: ca) else {
            throw .pki("the trust bundle's certificate is not a self-signed CA certificate")
        }
        _ = try bundle.checkedEndpoints()
        guard let signature = Data(base64Encoded: bundle.signature),
            verifySignature(Array(signature), of: bundle.signedBytes(caFingerprint: ca.fingerprint), by: ca)
        else {
            throw .pki(
                "the trust bundle of '\(bundle.organization)' is not signed by its CA (changed after export, or forged); nothing was added"
            )
        }
        return (bundle, ca)
    }

    /// The endpoints as (node, address), refusing bad names, bad addresses and too many.
    public func checkedEndpoints() throws(TransportError) -> [(NodeName, PeerAddress)] {
        guard endpoints.count <= Self.maxEndpoints else {
            throw .pki("the trust bundle lists \(endpoints.count) endpoints, over the limit of \(Self.maxEndpoints)")
        }
        var result: [(NodeName, PeerAddress)] = []
        for endpoint in endpoints {
            guard let node = try? NodeName(endpoint.node) else {
                throw .pki("the trust bundle's endpoint node '\(endpoint.node.prefix(70))' is not a node name")
            }
            guard let address = try? PeerAddress(parsing: endpoint.address), case .tcp = address else {
                throw .pki("the trust bundle's endpoint address '\(endpoint.address.prefix(70))' is not HOST:PORT")
            }
            result.append((node, address))
        }
        return result
    }

    static func shortReason(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing \"\(key.stringValue)\""
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
            DecodingError.dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? "not a JSON object" : "bad \"\(path)\""
        default: return "not JSON"
        }
    }
}
