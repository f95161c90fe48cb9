import Foundation
import Transport
import Wire

/// Modification stamps of the PKI files the node watches.
struct PKIStamp: Equatable {
    var revocations = ""
    var credentials = ""

    static func read(_ town: TownPaths) -> PKIStamp {
        let pki = town.pki
        func stamp(_ url: URL) -> String {
            var info = stat()
            guard stat(url.path, &info) == 0 else { return "-" }
            return "\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec):\(info.st_ino)"
        }
        return PKIStamp(
            revocations: stamp(pki.revocationsFile),
            credentials: [pki.nodeCertificate, pki.nodeKey, pki.caCertificate, pki.previousCACertificate]
                .map(stamp).joined(separator: "|"))
    }
}

extension Node {
    /// Polls the PKI files; applies new revocations and rebuilds the transport when the certificate or the
    /// CA files changed (written by `gt node cert renew`, `gt cluster rotate-ca` or another process).
    func watchPKI() async {
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: UInt64(settings.pkiWatchInterval * 1e9))
            guard !Task.isCancelled, phase == .serving else { continue }
            _ = try? await reloadPKI()
        }
    }

    /// Re-reads what changed on disk.
    func reloadPKI() async throws -> ReloadReport {
        guard let identity else { throw ErrorReply(code: .unavailable, message: "the node is not serving") }
        let town = self.town
        let fresh = await NodeBlocking.run { PKIStamp.read(town) }
        var rebuilt = false
        if fresh.revocations != pkiStamp.revocations {
            pkiStamp.revocations = fresh.revocations
            let pki = town.pki
            let authorities = identity.trustedAuthorities
            let list = try? await NodeBlocking.run { () throws(TransportError) in try pki.revocations(trusting: authorities) }
            await applyRevocations(list?.all ?? [], from: "revocations.jsonl", spread: true)
        }
        if fresh.credentials != pkiStamp.credentials {
            pkiStamp.credentials = fresh.credentials
            rebuilt = await rebuildTransport(reason: "certificate or CA files changed")
        }
        return ReloadReport(revocations: identity.revocations.all.count, transportRebuilt: rebuilt)
    }

    /// Adds revocations to the live list (the connection manager drops the revoked peers' links at once),
    /// records them on disk, stops redialing revoked peers, and spreads new ones to connected peers.
    func applyRevocations(_ entries: [RevocationEntry], from source: String, spread: Bool) async {
        guard let identity, let context else { return }
        var fresh: [RevocationEntry] = []
        for entry in entries where identity.revocations.add(entry, trusting: identity.trustedAuthorities) {
            fresh.append(entry)
        }
        guard !fresh.isEmpty else { return }
        let pki = town.pki
        let toRecord = fresh
        _ = try? await NodeBlocking.run { () throws(TransportError) in
            for entry in toRecord { try PKI.recordRevocation(entry, at: pki) }
        }
        for entry in fresh {
            context.log.warning("certificate revoked", ["node": entry.node, "serial": entry.serial, "source": source])
            context.events.record("peer_revoked", ["peer": entry.node, "serial": entry.serial, "source": source])
            if let name = try? NodeName(entry.node), name != identity.name { await context.removePeer(name) }
        }
        guard spread else { return }
        let manager = context.manager
        for peer in await manager.connectedPeers() {
            for entry in fresh {
                try? await manager.send(.revocation, body: NodeJSON.encode(entry), to: peer)
            }
        }
    }

    /// Issues a join token (the CA holder's token file is written only by this process while it runs).
    func makeToken(_ request: TokenRequest) async throws -> TokenReport {
        guard town.pki.holdsCA else {
            throw ErrorReply(code: .refused, message: "this node does not hold the CA key; run 'gt cluster token' on the CA node")
        }
        var pkiSettings = settings.pki
        if let ttl = request.ttl {
            guard ttl > 0, ttl <= 366 * 86_400 else {
                throw ErrorReply(code: .badRequest, message: "token lifetime must be between 1 s and 366 days")
            }
            pkiSettings.joinTokenLifetime = ttl
        }
        let pki = town.pki
        let lifetime = pkiSettings.joinTokenLifetime
        let now = Date()
        let chosen = pkiSettings
        let token = try await NodeBlocking.run { () throws(TransportError) -> JoinToken in
            try PKI.makeJoinToken(at: pki, now: now, settings: chosen)
        }
        context?.events.record("join_token_issued", ["expires_at": NodeLogger.timestamp(now.addingTimeInterval(lifetime))])
        return TokenReport(
            token: token.description, caFingerprint: token.caFingerprint, expiresAt: now.addingTimeInterval(lifetime))
    }

    /// Revokes every known certificate of `request.node` (or one serial), applies it live, spreads it.
    func revoke(_ request: RevokeRequest) async throws -> RevokeReport {
        guard let identity, let context else { throw ErrorReply(code: .unavailable, message: "the node is not serving") }
        guard town.pki.holdsCA else {
            throw ErrorReply(code: .refused, message: "this node does not hold the CA key; revoke on the CA node")
        }
        guard request.node != identity.name.rawValue else {
            throw ErrorReply(code: .refused, message: "a node cannot revoke its own certificate")
        }
        var serials = Set<String>()
        if let serial = request.serial {
            serials.insert(serial.uppercased())
        } else {
            for record in KnownPeerRecord.load(town) where record.node == request.node { serials.insert(record.serial) }
            if let name = try? NodeName(request.node), let link = try? await context.manager.link(to: name, timeout: 0),
                let certificate = link.peer.certificate
            {
                serials.insert(certificate.serial)
            }
        }
        serials = serials.filter { !identity.revocations.isRevoked(serial: $0) }
        guard !serials.isEmpty else {
            throw ErrorReply(
                code: .refused,
                message: "no unrevoked certificate of \(request.node) is known here (it never connected to this node); "
                    + "pass --serial")
        }
        let pki = town.pki
        let node = request.node
        let chosen = serials.sorted()
        let entries = try await NodeBlocking.run { () throws(TransportError) -> [RevocationEntry] in
            let authority = try pki.authority()
            return try chosen.map { (serial: String) throws(TransportError) -> RevocationEntry in
                try RevocationEntry.revoking(serial: serial, node: node, by: authority, now: Date())
            }
        }
        await applyRevocations(entries, from: "gt node cert revoke", spread: true)
        pkiStamp = await NodeBlocking.run { [town] in PKIStamp.read(town) }
        return RevokeReport(node: request.node, serials: chosen, applied: true)
    }

    /// Renews this node's certificate at 2/3 of its life: with the local CA key, or over the wire from a
    /// connected CA holder. Then the transport is rebuilt so the new certificate is presented.
    func renewalLoop() async {
        while !Task.isCancelled {
            var wait = settings.renewalCheckInterval
            if let identity, PKI.needsRenewal(identity.certificate, now: Date(), settings: settings.pki) {
                if await renewNow() == nil { wait = settings.renewalRetryInterval }
            }
            try? await Task.sleep(nanoseconds: UInt64(wait * 1e9))
        }
    }

    /// Renews now (whether due or not); returns the new certificate's info, or nil when no CA was reachable.
    func renewNow() async -> CertificateInfo? {
        guard let context else { return nil }
        let pki = town.pki
        let pkiSettings = settings.pki
        var renewed: Certificate?
        if pki.holdsCA {
            renewed = try? await NodeBlocking.run { () throws(TransportError) -> Certificate? in
                var early = pkiSettings
                early.renewalFraction = 0
                return try PKI.renewIfDue(at: pki, now: Date(), settings: early)
            }
        } else {
            for peer in await context.manager.connectedPeers() {
                if let certificate = try? await JoinClient.renew(via: context.manager, caNode: peer, directory: pki) {
                    renewed = certificate
                    break
                }
            }
        }
        guard let renewed else {
            context.log.warning("certificate renewal failed: no CA holder reachable")
            return nil
        }
        context.log.info("certificate renewed", ["serial": renewed.serial, "not_after": "\(renewed.notAfter)"])
        context.events.record("certificate_renewed", ["serial": renewed.serial])
        pkiStamp = await NodeBlocking.run { [town] in PKIStamp.read(town) }
        _ = await rebuildTransport(reason: "certificate renewed")
        return PKI.info(renewed, settings: settings.pki)
    }

    /// Replaces the connection manager with one built from the identity on disk (new certificate or trusted
    /// CAs), listening on the same address and redialing the known peers. Live revocations are kept.
    func rebuildTransport(reason: String) async -> Bool {
        guard let context, let old = identity, phase == .serving else { return false }
        let fresh: NodeIdentity
        do { fresh = try await loadIdentity() } catch {
            context.log.error("cannot reload the identity", ["error": error.description])
            return false
        }
        for entry in old.revocations.all { fresh.revocations.add(entry, trusting: fresh.trustedAuthorities + old.trustedAuthorities) }
        guard case .tcp(let host, let port) = context.box.listenAddress else { return false }
        let manager: ConnectionManager
        do { manager = try makeManager(fresh) } catch {
            context.log.error("cannot build the new transport", ["error": error.description])
            return false
        }
        await context.box.manager.shutdown()
        var bound: PeerAddress?
        for _ in 0..<50 {
            if let address = try? await manager.listen(host: host, port: port) {
                bound = address
                break
            }
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        guard let bound else {
            context.log.error("cannot listen again on \(host):\(port) after rebuilding the transport")
            return false
        }
        identity = fresh
        context.box.replace(manager, address: bound)
        for (peer, entry) in context.box.peerTable { await manager.addPeer(peer, at: entry.0, purposes: entry.1) }
        context.log.info("transport rebuilt", ["reason": reason, "serial": fresh.certificate.serial])
        context.events.record("transport_rebuilt", ["reason": reason])
        return true
    }
}
