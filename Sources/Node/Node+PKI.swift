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
            await reportDuplicateIdentities()
        }
    }

    /// Turns the transport's suspected duplicate identities (links of one peer that keep replacing each
    /// other) into a warning for `gt status` / `gt node list`, a `duplicate_identity` event and a log line
    /// (once per peer until it has not recurred for the warning's retention).
    func reportDuplicateIdentities() async {
        guard let context else { return }
        for (peer, suspect) in await context.manager.duplicateIdentitySuspects() {
            let text =
                "duplicate identity: two live nodes hold the certificate of \(peer): their links to this node keep "
                + "replacing each other (\(suspect.count) times within \(Int(ConnectionManager.takeoverWindow)) s; a "
                + "copied .gt/pki?); stop one, then 'gt node cert revoke \(peer)' on the CA node and rejoin the other "
                + "with 'gt node join … --replace'"
            if context.warnings.set("duplicate-identity \(peer)", text, now: suspect.seen) {
                let fields = ["member": peer.rawValue, "takeovers": "\(suspect.count)", "seen_by": "transport"]
                context.events.record("duplicate_identity", fields)
                context.log.error("duplicate identity: two live processes hold one node name", fields)
            }
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
            let list = try? await NodeBlocking.run { () throws(TransportError) in
                try pki.revocations(trusting: authorities)
            }
            await applyRevocations(list?.all ?? [], from: "revocations.jsonl")
        }
        if fresh.credentials != pkiStamp.credentials, renamedTo == nil {
            pkiStamp.credentials = fresh.credentials
            rebuilt = await rebuildTransport(reason: "certificate or CA files changed")
        }
        return ReloadReport(revocations: identity.revocations.all.count, transportRebuilt: rebuilt)
    }

    /// Applies revocations: the connection manager adds them to the live list (dropping the revoked peers'
    /// links at once) and spreads new ones to connected peers; they are recorded on disk, and revoked peers
    /// are no longer redialed.
    func applyRevocations(_ entries: [RevocationEntry], from source: String) async {
        guard let identity, let context else { return }
        let pki = town.pki
        for entry in entries {
            let published = await context.manager.publishRevocation(entry)
            let recorded =
                (try? await NodeBlocking.run { () throws(TransportError) -> Bool in
                    try PKI.recordRevocation(entry, at: pki)
                }) ?? false
            guard published || recorded else { continue }
            context.log.warning("certificate revoked", ["node": entry.node, "serial": entry.serial, "source": source])
            context.events.record("peer_revoked", ["peer": entry.node, "serial": entry.serial, "source": source])
            if let name = try? NodeName(entry.node), name != identity.name { await context.removePeer(name) }
        }
    }

    /// Issues a join token (the CA holder's token file is written only by this process while it runs).
    func makeToken(_ request: TokenRequest) async throws -> TokenReport {
        guard town.pki.holdsCA else {
            throw ErrorReply(
                code: .refused, message: "this node does not hold the CA key; run 'gt cluster token' on the CA node")
        }
        var pkiSettings = settings.pki
        if let ttl = request.ttl {
            guard ttl > 0, ttl <= 366 * 86_400 else {
                throw ErrorReply(code: .badRequest, message: "token lifetime must be between 1 s and 366 days")
            }
            pkiSettings.joinTokenLifetime = ttl
        }
        var bound: NodeName?
        if let name = request.name {
            guard let valid = try? NodeName(name) else {
                throw ErrorReply(
                    code: .badRequest, message: "bad node name '\(name)': use 1-63 of a-z, 0-9, '-' and '.'")
            }
            bound = valid
        }
        let pki = town.pki
        let lifetime = pkiSettings.joinTokenLifetime
        let now = Date()
        let chosen = pkiSettings
        let name = bound
        let token = try await NodeBlocking.run { () throws(TransportError) -> JoinToken in
            try PKI.makeJoinToken(at: pki, name: name, now: now, settings: chosen)
        }
        var fields = ["expires_at": NodeLogger.timestamp(now.addingTimeInterval(lifetime))]
        if let name { fields["name"] = name.rawValue }
        context?.events.record("join_token_issued", fields)
        return TokenReport(
            token: token.description, caFingerprint: token.caFingerprint, expiresAt: now.addingTimeInterval(lifetime),
            name: name?.rawValue)
    }

    /// Revokes every known certificate of `request.node` (or one serial), applies it live, spreads it.
    func revoke(_ request: RevokeRequest) async throws -> RevokeReport {
        guard let identity, let context else {
            throw ErrorReply(code: .unavailable, message: "the node is not serving")
        }
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
            let town = self.town
            let records = await NodeBlocking.run { KnownPeerRecord.load(town) }
            for record in records where record.node == request.node { serials.insert(record.serial) }
            let issued =
                (try? await NodeBlocking.run { () throws(TransportError) in
                    try PKI.issuedCertificates(at: town.pki)
                }) ?? []
            let now = Int64(Date().timeIntervalSince1970)
            for record in issued where record.node == request.node && record.notAfter > now {
                serials.insert(record.serial)
            }
            if let name = try? NodeName(request.node), let link = try? await context.manager.link(to: name, timeout: 0),
                let certificate = link.peer.certificate
            {
                serials.insert(certificate.serial)
            }
        }
        serials = serials.filter { !identity.revocations.isRevoked(serial: $0) }
        if serials.isEmpty, request.missingOK == true {
            return RevokeReport(node: request.node, serials: [], applied: true)
        }
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
        await applyRevocations(entries, from: "gt node cert revoke")
        pkiStamp = await NodeBlocking.run { [town] in PKIStamp.read(town) }
        return RevokeReport(node: request.node, serials: chosen, applied: true)
    }

    /// Renews this node's certificate at 2/3 of its life: with the local CA key, or over the wire from a
    /// connected CA holder. Then the transport is rebuilt so the new certificate is presented.
    ///
    /// While the Deacon's `cert-renewal` Dog runs (its interval above 0, the default) the Dog owns renewal and this
    /// loop does nothing, so a certificate is never renewed twice; with the Dog stopped this loop checks every
    /// `renewalCheckInterval` (retrying after `renewalRetryInterval`).
    func renewalLoop() async {
        guard (deaconServices?.settings.dogs["cert-renewal"] ?? 0) <= 0 else { return }
        while !Task.isCancelled {
            var wait = settings.renewalCheckInterval
            if let identity, PKI.needsRenewal(identity.certificate, now: Date(), settings: settings.pki) {
                if await renewNow(by: "node") == nil { wait = settings.renewalRetryInterval }
            }
            try? await Task.sleep(nanoseconds: UInt64(wait * 1e9))
        }
    }

    /// One run of the Deacon's `cert-renewal` Dog: renews this node's certificate when it is past
    /// `renewalFraction` of its life. Returns what it did ("" when nothing was due); no CA holder reachable is
    /// the Dog's failure (three in a row escalate). A run while a renewal is under way does nothing.
    func renewalDog() async throws -> String {
        guard let identity, PKI.needsRenewal(identity.certificate, now: Date(), settings: settings.pki),
            !renewalInFlight
        else { return "" }
        renewalInFlight = true
        defer { renewalInFlight = false }
        guard let info = await renewNow(by: "cert-renewal dog") else {
            throw DogFailure("certificate renewal failed: no CA holder reachable")
        }
        return "renewed the node certificate (serial \(info.serial))"
    }

    /// Renews now (whether due or not); returns the new certificate's info, or nil when no CA was reachable.
    func renewNow(by: String = "gt node cert renew") async -> CertificateInfo? {
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
            let known = Set(await context.manager.connectedPeers()).union(context.box.peerAddresses.keys)
            for peer in known.sorted() {
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
        context.events.record("certificate_renewed", ["serial": renewed.serial, "by": by])
        pkiStamp = await NodeBlocking.run { [town] in PKIStamp.read(town) }
        _ = await rebuildTransport(reason: "certificate renewed")
        return PKI.info(renewed, settings: settings.pki)
    }

    /// Presents the identity on disk (a renewed certificate, or a rotated CA set) on new connections, through
    /// `ConnectionManager.updateIdentity`; links whose peer no longer chains to a trusted CA are closed and
    /// redialed. When this node's certificate changed, the links to known peers are redialed so they see it.
    /// Live revocations are kept. Then every known peer is told again where this node listens.
    func rebuildTransport(reason: String) async -> Bool {
        guard let context, phase == .serving else { return false }
        var fresh: NodeIdentity
        do { fresh = try await loadIdentity() } catch {
            context.log.error("cannot reload the identity", ["error": error.description])
            return false
        }
        let manager = context.manager
        fresh.revocations = manager.revocations
        do { try await manager.updateIdentity(fresh) } catch {
            context.log.error("cannot present the new identity", ["error": error.description])
            return false
        }
        let previousSerial = identity?.certificate.serial
        identity = fresh
        if previousSerial != fresh.certificate.serial {
            // Peers should see the new certificate now, not when the old links happen to close.
            for (peer, entry) in context.box.peerTable {
                await manager.removePeer(peer)
                await manager.addPeer(peer, at: entry.0, purposes: entry.1)
            }
        }
        tasks.append(Task { [weak self] in await self?.announceToKnownPeers() })
        context.log.info("identity reloaded", ["reason": reason, "serial": fresh.certificate.serial])
        context.events.record("identity_reloaded", ["reason": reason, "serial": fresh.certificate.serial])
        return true
    }
}

extension Node {
    /// Tells every known peer where this node listens (after a transport rebuild, so each peer sees the
    /// current certificate and keeps its address).
    func announceToKnownPeers() async {
        guard let context else { return }
        let body = NodeJSON.encode(NodeAnnounce(address: context.listenAddress.description))
        for peer in context.box.peerAddresses.keys.sorted() {
            try? await context.send(NodeMessageType.announce, body: body, to: peer)
        }
    }
}
