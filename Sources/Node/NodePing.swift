import Dispatch
import Foundation
import LedgerStore
import Transport
import Wire

/// `gt node ping`: the peer's verified identity and round-trip times, over a fresh connection or over an
/// existing link.
///
/// A caseless namespace; nothing to share.
public enum NodePing {
    /// Connects to `address` with `identity` (any node with a certificate from a trusted, unrevoked CA is
    /// accepted; its name comes from that certificate), pings `count` times, closes.
    public static func ping(
        address: PeerAddress, identity: NodeIdentity, count: Int = 3, timeout: TimeInterval = 5,
        settings: ConnectionSettings = ConnectionSettings()
    ) async throws(TransportError) -> PingReport {
        let (connection, info) = try await Dialer.connect(
            to: address, peer: nil, context: TLSContext(identity: identity), local: identity.name, settings: settings)
        defer { connection.close(reason: "ping done") }
        let link = PeerLink.wrapping(connection, peer: info, local: identity.name)
        let reader = Task { await link.serve() }
        defer { reader.cancel() }
        return try await ping(
            link: link, address: address, identity: identity, count: count, timeout: timeout, via: "direct")
    }

    /// Pings over `link` (an open link to the peer).
    public static func ping(
        link: PeerLink, address: PeerAddress, identity: NodeIdentity, count: Int, timeout: TimeInterval, via: String
    ) async throws(TransportError) -> PingReport {
        guard let certificate = link.peer.certificate else {
            throw .handshakeFailed("the peer presented no certificate")
        }
        var roundTrips: [Double] = []
        for index in 0..<max(1, count) {
            let body = Array("ping \(index) \(DispatchTime.now().uptimeNanoseconds)".utf8)
            let start = DispatchTime.now().uptimeNanoseconds
            let response = try await link.request(.ping, body: body, timeout: timeout)
            let elapsed = DispatchTime.now().uptimeNanoseconds - start
            guard response.body == body else {
                throw .protocolViolation(.invalidValue(field: "pong", reason: "body differs from the ping"))
            }
            roundTrips.append(Double(elapsed) / 1e6)
        }
        let authority = identity.trustedAuthorities.first { certificate.isSigned(by: $0) }
        return PingReport(
            address: address.description, peer: link.peer.name.rawValue,
            caFingerprint: authority?.fingerprint ?? "", ca: authority?.commonName ?? certificate.issuerCommonName,
            certificateFingerprint: certificate.fingerprint, serial: certificate.serial, notAfter: certificate.notAfter,
            roundTripsMilliseconds: roundTrips, via: via)
    }

    /// One line for people: `<peer> (cluster CA <fp>) at <address>: rtt min/avg/max …`.
    public static func describe(_ report: PingReport) -> [String] {
        let trips = report.roundTripsMilliseconds
        let average = trips.isEmpty ? 0 : trips.reduce(0, +) / Double(trips.count)
        func ms(_ value: Double) -> String { String(format: "%.3f ms", value) }
        let certificate = "certificate \(report.certificateFingerprint.prefix(16))…, serial \(report.serial)"
        let times = "min \(ms(trips.min() ?? 0)) avg \(ms(average)) max \(ms(trips.max() ?? 0))"
        return [
            "PONG from \(report.peer) at \(report.address) (verified certificate)",
            "  node:    \(report.peer) (\(certificate))",
            "  cluster: \(report.ca), CA fingerprint \(report.caFingerprint)",
            "  rtt:     \(trips.count) pings, \(times) (via \(report.via))",
        ]
    }
}

/// Certificates of peers a node has seen, kept in `<town>/.gt/pki/known-peers.jsonl` so `gt node cert
/// show|revoke <node>` can name them by node.
///
/// `Sendable` because it is a plain value.
public struct KnownPeerRecord: Codable, Sendable, Equatable {
    public var node: String
    public var serial: String
    public var fingerprint: String
    public var issuer: String
    public var notBefore: Date
    public var notAfter: Date
    public var seenAt: Date

    enum CodingKeys: String, CodingKey {
        case node, serial, fingerprint, issuer
        case notBefore = "not_before"
        case notAfter = "not_after"
        case seenAt = "seen_at"
    }

    public init(node: String, certificate: Certificate, seenAt: Date) {
        self.node = node
        serial = certificate.serial
        fingerprint = certificate.fingerprint
        issuer = certificate.issuerCommonName
        notBefore = certificate.notBefore
        notAfter = certificate.notAfter
        self.seenAt = seenAt
    }

    /// Every record in the file (lines that do not decode are skipped).
    public static func load(_ town: TownPaths) -> [KnownPeerRecord] {
        guard let data = FileManager.default.contents(atPath: town.knownPeersFile) else { return [] }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap {
            try? decoder.decode(KnownPeerRecord.self, from: Data($0.utf8))
        }
    }

    /// Appends one record (a single `write` with O_APPEND, so concurrent appenders do not interleave).
    public func append(to town: TownPaths) throws(NodeError) {
        let line = NodeJSON.encode(self) + [0x0A]
        let fd = open(town.knownPeersFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io("cannot open \(town.knownPeersFile): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count else { throw .io("cannot append to \(town.knownPeersFile)") }
    }
}

/// Runs blocking work (file reads and writes, fsync, PKI file operations) on a dedicated thread so the
/// cooperative pool is never blocked: `LedgerStore`'s `DedicatedThread`, with the node's thread name.
///
/// A caseless namespace; nothing to share.
public enum NodeBlocking {
    /// Runs `work` on a new thread and returns its result.
    public static func run<T: Sendable, E: Error>(_ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        try await DedicatedThread.run(name: "gt-node-blocking", work)
    }
}
