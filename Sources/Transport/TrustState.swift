import Foundation
import Wire

/// What a node trusts and enforces, exchanged between nodes so one that was down through a CA rotation or a
/// revocation catches up on reconnect without a re-join (anti-entropy, docs/pki.md "Catching up"): the signed
/// CA rotation notices it holds (`rotations.jsonl`, oldest first) and the revocations it enforces. Everything in
/// it is signed by a cluster CA, so it may come over any channel, even an unauthenticated one: the receiver applies
/// a rotation notice only when it verifies with a CA it already trusts (`PKI.apply`), and a revocation only when it
/// verifies with a CA it trusts once those notices are applied. A forged or unrelated entry changes nothing.
///
/// `Sendable` because it is a plain value.
public struct TrustState: Codable, Sendable, Equatable {
    /// The sender's digest of its own state (`TrustState.digest`).
    public var digest: String
    /// True when the request's digest matched: nothing else is sent.
    public var same: Bool
    public var rotations: [CARotationNotice]
    public var revocations: [RevocationEntry]

    public init(
        digest: String, same: Bool = false, rotations: [CARotationNotice] = [], revocations: [RevocationEntry] = []
    ) {
        self.digest = digest
        self.same = same
        self.rotations = rotations
        self.revocations = revocations
    }

    /// The digest of a trust state: SHA-256 over the trusted CA fingerprints, the rotation notices' signatures and
    /// the revoked serials, each sorted. Two nodes with equal digests hold the same trust.
    public static func digest(
        authorities: [Certificate], rotations: [CARotationNotice], revocations: [RevocationEntry]
    ) -> String {
        var text = "gastown-trust-v1\n"
        text += authorities.map(\.fingerprint).sorted().joined(separator: ",") + "\n"
        text += rotations.map(\.signature).sorted().joined(separator: ",") + "\n"
        text += revocations.map { $0.serial.uppercased() }.sorted().joined(separator: ",")
        return hex(sha256(Array(text.utf8)))
    }

    /// One line of JSON (the request and response bodies).
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? Array(encoder.encode(self))) ?? Array("{}".utf8)
    }

    /// Decodes a body from outside.
    public static func decode(_ bytes: [UInt8]) throws(TransportError) -> TrustState {
        do { return try JSONDecoder().decode(TrustState.self, from: Data(bytes)) } catch {
            throw .protocolViolation(.invalidValue(field: "trust state", reason: "\(error)"))
        }
    }
}

/// What applying a peer's trust state changed here. `Sendable`: a plain value.
public struct TrustCatchUp: Sendable, Equatable {
    /// Rotation notices that changed this node's trusted CAs, in the order applied.
    public var rotations: [CARotationNotice] = []
    /// Revocations that verify with the CAs trusted after the rotations and were not enforced here yet (the
    /// caller applies them live and records them: `PKI.recordRevocation`).
    public var revocations: [RevocationEntry] = []

    public init() {}

    /// True when nothing changed.
    public var isEmpty: Bool { rotations.isEmpty && revocations.isEmpty }
}

extension PKIDirectory {
    /// The CA rotation notices this node holds, oldest first: every notice it made (`gt cluster rotate-ca`) or
    /// applied, one JSON object per line.
    public var rotationsFile: URL { url.appendingPathComponent("rotations.jsonl") }

    /// The notices in `rotations.jsonl` (unreadable lines skipped).
    public func rotationNotices() -> [CARotationNotice] {
        guard let text = try? read(rotationsFile) else { return [] }
        let decoder = JSONDecoder()
        return text.split(separator: "\n").compactMap {
            try? decoder.decode(CARotationNotice.self, from: Data($0.utf8))
        }
    }

    /// This node's trust state as it is on disk (`revocations` are the entries the caller enforces).
    public func trustState(revocations: [RevocationEntry]) throws(TransportError) -> TrustState {
        let rotations = rotationNotices()
        let digest = TrustState.digest(
            authorities: try trustedAuthorities(), rotations: rotations, revocations: revocations)
        return TrustState(digest: digest, rotations: rotations, revocations: revocations)
    }
}

extension PKI {
    /// Appends `notice` to `rotations.jsonl` unless it is there already (same signature). Under the directory's
    /// lock. Blocking: call off the cooperative pool.
    public static func recordRotation(_ notice: CARotationNotice, at directory: PKIDirectory) throws(TransportError) {
        try directory.locked { () throws(TransportError) in
            guard !directory.rotationNotices().contains(where: { $0.signature == notice.signature }) else { return }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let line = String(decoding: (try? encoder.encode(notice)) ?? Data(), as: UTF8.self)
            try directory.appendLine(line, to: directory.rotationsFile)
        }
    }

    /// Applies what a peer's `state` holds that this node lacks: its rotation notices in order (each verified
    /// against the CAs trusted at that point, recorded when applied; never on a node holding the CA key, whose
    /// CA only its own rotations change), then the revocations that verify with the CAs trusted afterwards and
    /// are not in `enforced`. Blocking: call off the cooperative pool.
    public static func catchUp(
        with state: TrustState, at directory: PKIDirectory, enforced: RevocationList
    ) throws(TransportError) -> TrustCatchUp {
        var result = TrustCatchUp()
        if !directory.holdsCA {
            for notice in state.rotations where try apply(notice, at: directory) {
                try recordRotation(notice, at: directory)
                result.rotations.append(notice)
            }
        }
        let authorities = try directory.trustedAuthorities()
        var seen = Set<String>()
        for entry in state.revocations
        where !enforced.isRevoked(serial: entry.serial) && entry.isValid(trusting: authorities)
            && seen.insert(entry.serial.uppercased()).inserted
        {
            result.revocations.append(entry)
        }
        return result
    }

    /// `gt cluster rotate-ca` on the CA node's files: starts a rotation (`PKI.rotateCA`) and returns the
    /// `started` notice signed by the old CA, recorded in `rotations.jsonl` for nodes that catch up later.
    public static func startRotation(
        at directory: PKIDirectory, clusterName: String, now: Date = Date(), settings: PKISettings = PKISettings()
    ) throws(TransportError) -> (CertificateAuthority, CARotationNotice) {
        let previous = try directory.authority()
        let fresh = try rotateCA(at: directory, clusterName: clusterName, now: now, settings: settings)
        let notice = try CARotationNotice.make(
            .started, newCA: fresh.certificate, previousFingerprint: previous.certificate.fingerprint, signer: previous)
        try recordRotation(notice, at: directory)
        return (fresh, notice)
    }

    /// `gt cluster rotate-ca --complete` on the CA node's files: the `completed` notice signed by the new CA,
    /// recorded, then the old CA dropped.
    public static func finishRotation(at directory: PKIDirectory) throws(TransportError) -> CARotationNotice {
        let trusted = try directory.trustedAuthorities()
        guard trusted.count > 1 else { throw .pki("no CA rotation is under way") }
        let current = try directory.authority()
        let notice = try CARotationNotice.make(
            .completed, newCA: current.certificate, previousFingerprint: trusted[1].fingerprint, signer: current)
        try recordRotation(notice, at: directory)
        try completeRotation(at: directory)
        return notice
    }
}
