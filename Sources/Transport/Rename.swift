import Foundation
import Wire

/// Body of `renameRequest` (a member asks the CA holder for a certificate under a new name, `gt node rename`):
/// the new name and, unless `check` (only ask whether the name is free), a self-signed CSR for it.
///
/// `Sendable` because it is a plain value.
public struct RenameWireRequest: Codable, Sendable, Equatable {
    public var name: String
    public var csr: String?
    public var check: Bool

    public init(name: String, csr: String?, check: Bool) {
        self.name = name
        self.csr = csr
        self.check = check
    }
}

/// Answer to `renameRequest`: the certificate under the new name (absent for a check), the CA bundle, and the
/// revocations of the old name's certificates. `Sendable` because it is a plain value.
public struct RenameWireResponse: Codable, Sendable, Equatable {
    public var certificate: String?
    public var bundle: String
    public var revoked: [RevocationEntry]

    public init(certificate: String?, bundle: String, revoked: [RevocationEntry]) {
        self.certificate = certificate
        self.bundle = bundle
        self.revoked = revoked
    }
}

extension MessageType {
    /// A member asks a CA holder for a certificate under a new name (`gt node rename`), over its authenticated
    /// link: `RenameWireRequest` → `RenameWireResponse` (JSON).
    public static let renameRequest = MessageType(rawValue: 15)
}

extension PKI {
    /// `gt node rename`, on the CA node's files, all under the PKI lock: `newName` must be free (not the CA
    /// node's own name, no unrevoked unexpired certificate); with a `request` (a CSR naming `newName`), signs it
    /// and revokes every unrevoked certificate of `oldName` (and `alsoRevoke`, the serial the renaming node
    /// presents), recorded in `revocations.jsonl` (the running CA node spreads them from there). Without a request
    /// it only checks. Nothing changes on refusal. Blocking: call off the cooperative pool.
    public static func rename(
        at directory: PKIDirectory, from oldName: NodeName, to newName: NodeName, request: CertificateRequest?,
        alsoRevoke: String? = nil, now: Date = Date(), settings: PKISettings = PKISettings()
    ) throws(TransportError) -> (certificate: Certificate?, revoked: [RevocationEntry]) {
        try directory.locked { () throws(TransportError) -> (certificate: Certificate?, revoked: [RevocationEntry]) in
            guard newName != oldName else { throw .pki("the node is already named \(newName)") }
            if directory.localName == newName {
                throw .pki("\(newName) is the name of the CA node itself; choose another name")
            }
            let holding = try unrevokedCertificates(of: newName, at: directory, now: now)
            guard holding.isEmpty else {
                throw .pki(
                    "node \(newName) already holds a certificate (serial "
                        + "\(holding.map(\.serial).joined(separator: ", "))); choose another name, or remove that node "
                        + "first with 'gt node remove \(newName)'")
            }
            guard let request else { return (nil, []) }
            guard request.commonName == newName.rawValue, request.isSelfSigned else {
                throw .pki("the certificate request does not name \(newName) or its signature does not verify")
            }
            let certificate = try directory.authority().issue(for: request, name: newName, now: now, settings: settings)
            let record = IssuedCertificate(
                serial: certificate.serial, node: newName.rawValue, fingerprint: certificate.fingerprint,
                notAfter: Int64(certificate.notAfter.timeIntervalSince1970))
            try directory.appendLine(encodeRecord(record), to: directory.issuedFile, mode: 0o644)
            var serials = try unrevokedCertificates(of: oldName, at: directory, now: now).map(\.serial)
            let known = try directory.revocations(trusting: directory.trustedAuthorities())
            if let alsoRevoke, !known.isRevoked(serial: alsoRevoke), !serials.contains(alsoRevoke.uppercased()) {
                serials.append(alsoRevoke.uppercased())
            }
            let authority = try directory.authority()
            var revoked: [RevocationEntry] = []
            for serial in serials {
                let entry = try RevocationEntry.revoking(
                    serial: serial, node: oldName.rawValue, by: authority, now: now)
                try directory.appendLine(entry.jsonLine(), to: directory.revocationsFile)
                revoked.append(entry)
            }
            return (certificate, revoked)
        }
    }

    static func encodeRecord(_ record: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(record)) ?? Data(), as: UTF8.self)
    }
}

extension JoinService {
    /// `rename` on the PKI queue.
    func renameOffPool(_ message: InboundMessage) async throws -> [UInt8] {
        let outcome: Result<[UInt8], ErrorReply> = await withCheckedContinuation { continuation in
            PKIQueue.queue.async {
                do {
                    continuation.resume(returning: .success(try self.rename(message)))
                } catch let reply as ErrorReply {
                    continuation.resume(returning: .failure(reply))
                } catch {
                    continuation.resume(returning: .failure(ErrorReply(code: .refused, message: "\(error)")))
                }
            }
        }
        return try outcome.get()
    }

    /// Answers a `renameRequest` from an authenticated member: the old name is the one its certificate carries.
    func rename(_ message: InboundMessage) throws -> [UInt8] {
        guard let presented = message.peer.certificate else {
            throw ErrorReply(code: .refused, message: "renaming needs an authenticated connection")
        }
        let body: RenameWireRequest
        do { body = try JSONDecoder().decode(RenameWireRequest.self, from: Data(message.envelope.body)) } catch {
            throw ErrorReply(code: .badRequest, message: "malformed rename request: \(error)")
        }
        guard let newName = try? NodeName(body.name) else {
            throw ErrorReply(
                code: .badRequest, message: "bad node name '\(body.name)': use 1-63 of a-z, 0-9, '-' and '.'")
        }
        do {
            let request = try body.check ? nil : CertificateRequest(pem: body.csr ?? "")
            let (certificate, revoked) = try PKI.rename(
                at: directory, from: message.peer.name, to: newName, request: request, alsoRevoke: presented.serial,
                settings: settings)
            let bundle = try directory.trustedAuthorities().map { (ca: Certificate) throws(TransportError) in
                try ca.pem()
            }.joined()
            let response = RenameWireResponse(certificate: try certificate?.pem(), bundle: bundle, revoked: revoked)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return Array(try encoder.encode(response))
        } catch let error as TransportError {
            throw ErrorReply(code: .refused, message: error.description)
        }
    }
}
