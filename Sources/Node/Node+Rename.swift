import Foundation
import Transport
import Wire

/// Body of `node-rename` (168, local): the new name; `check` only asks whether the rename would be accepted.
/// `Sendable`: a plain value.
public struct RenameRequest: Codable, Sendable, Equatable {
    public var name: String
    public var check: Bool
    public init(name: String, check: Bool = false) {
        self.name = name
        self.check = check
    }
}

/// Answer to `node-rename`. `Sendable`: a plain value.
public struct RenameReport: Codable, Sendable, Equatable {
    public var old: String
    public var new: String
    public var check: Bool
    /// The new certificate's serial ("" for a check).
    public var serial: String
    /// The old name's certificates revoked.
    public var revoked: [String]
}

extension Node {
    /// `gt node rename <old> <new>` on this node (docs/node.md "Renaming a node"): refuses while beads are claimed
    /// on this node (they would be stranded under the old name), and a name that is bad, this node's own, the CA
    /// node's or held by another node. Then gets a certificate for the new name (signed here on the CA node, else
    /// by a connected CA holder, which revokes the old name's certificates), installs it, and records the name in
    /// town.json. The running node keeps its old name until it restarts (the CLI stops it; `gt up` starts it under
    /// the new one). With `check`, nothing changes.
    func rename(_ request: RenameRequest) async throws -> RenameReport {
        guard let context, let identity else {
            throw ErrorReply(code: .unavailable, message: "the node is not serving")
        }
        guard let newName = try? NodeName(request.name) else {
            throw ErrorReply(
                code: .badRequest, message: "bad node name '\(request.name)': use 1-63 of a-z, 0-9, '-' and '.'")
        }
        let old = identity.name
        guard newName != old else { throw ErrorReply(code: .refused, message: "this node is already named \(old)") }
        if let mayor = Mayor.running(town: town.root) {
            let held = await mayor.heldOn(old.rawValue).map(\.id)
            guard held.isEmpty else {
                throw ErrorReply(
                    code: .refused,
                    message: "\(old) holds \(held.count) bead(s) (\(held.joined(separator: ", "))) under its name; run "
                        + "'gt node drain --move' first (or wait until they finish), then rename it")
            }
        }
        let pki = town.pki
        let key: PrivateKey
        let csr: CertificateRequest
        do {
            key = try PrivateKey.generateP256()
            csr = try CertificateRequest(commonName: newName.rawValue, key: key)
        } catch {
            throw ErrorReply(code: .refused, message: error.description)
        }
        let check = request.check
        var certificate: Certificate?
        var revoked: [RevocationEntry] = []
        if pki.holdsCA {
            let serial = identity.certificate.serial
            do {
                (certificate, revoked) = try await NodeBlocking.run {
                    () throws(TransportError) -> (Certificate?, [RevocationEntry]) in
                    try PKI.rename(at: pki, from: old, to: newName, request: check ? nil : csr, alsoRevoke: serial)
                }
            } catch {
                throw ErrorReply(code: .refused, message: error.description)
            }
        } else {
            (certificate, revoked) = try await renameThroughCA(newName, csr: check ? nil : csr, context: context)
        }
        if let certificate {
            renamedTo = newName
            do {
                try await NodeBlocking.run { () throws(TransportError) in
                    try PKI.installNodeCertificate(at: pki, certificate: certificate, key: key)
                }
                try await NodeBlocking.run { [town] () throws(NodeError) in
                    try TownNodeConfig.update(town) { $0.nodeName = newName.rawValue }
                }
            } catch {
                throw ErrorReply(
                    code: .refused, message: "the new certificate was signed but not installed: \(error)")
            }
            context.log.warning(
                "node renamed: restart it to serve under the new name", ["old": "\(old)", "new": "\(newName)"])
            context.events.record(
                "node_renamed", ["old": old.rawValue, "new": newName.rawValue, "serial": certificate.serial])
            if pki.holdsCA { await applyRevocations(revoked, from: "gt node rename") }
        }
        return RenameReport(
            old: old.rawValue, new: newName.rawValue, check: check, serial: certificate?.serial ?? "",
            revoked: revoked.map(\.serial))
    }

    /// Asks each connected peer in turn for the rename until a CA holder answers (a refusal about the name is final).
    private func renameThroughCA(
        _ newName: NodeName, csr: CertificateRequest?, context: NodeContext
    ) async throws -> (Certificate?, [RevocationEntry]) {
        let body: [UInt8]
        do {
            body = NodeJSON.encode(RenameWireRequest(name: newName.rawValue, csr: try csr?.pem(), check: csr == nil))
        } catch {
            throw ErrorReply(code: .refused, message: error.description)
        }
        for peer in await context.manager.connectedPeers() {
            let envelope: Envelope
            do {
                envelope = try await context.manager.request(.renameRequest, body: body, to: peer, timeout: 20)
            } catch TransportError.remoteError(let reply) {
                if reply.message.contains("does not hold the CA key") { continue }
                throw reply
            } catch {
                continue
            }
            let response = try NodeJSON.decode(RenameWireResponse.self, from: envelope.body)
            guard let pem = response.certificate else { return (nil, response.revoked) }
            let certificate: Certificate
            do { certificate = try Certificate(pem: pem) } catch {
                throw ErrorReply(code: .refused, message: "the CA node sent an unreadable certificate: \(error)")
            }
            guard let identity, identity.trustedAuthorities.contains(where: { certificate.isSigned(by: $0) }),
                certificate.commonName == newName.rawValue
            else {
                throw ErrorReply(
                    code: .refused, message: "the certificate \(peer) sent is not a cluster certificate of \(newName)")
            }
            return (certificate, response.revoked)
        }
        throw ErrorReply(
            code: .unavailable,
            message: "no CA holder is connected to sign the new certificate; start the CA node, then rename again")
    }
}
