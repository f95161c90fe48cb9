import Foundation
import Transport
import Wire

/// Body of a `trust-state` request between nodes: the asker's trust digest, and whether the answering node should
/// pull the asker's state in turn when the digests differ (the first exchange on a link; the pull back does not ask
/// again, so two nodes never loop). `Sendable`: a plain value.
struct TrustDigestRequest: Codable, Sendable, Equatable {
    var digest: String
    var pullBack: Bool

    enum CodingKeys: String, CodingKey {
        case digest
        case pullBack = "pull_back"
    }
}

extension Node {
    /// Trust anti-entropy (docs/pki.md "Catching up after being down"). A node that was down through a CA rotation
    /// or a revocation catches up when it reconnects, without a re-join: after dialing a seed it sends its trust
    /// digest (`trust-state`, type 14) and applies what the seed holds that it lacks; and when it cannot verify a
    /// seed's certificate at all (the seed renewed from a CA it has not heard of), it asks the seed for the same
    /// state over a certificate-less join connection (answered by CA holders), applies the rotation notices that
    /// verify with the CA it trusts, and dials again.
    func currentTrustState() async -> TrustState? {
        guard let identity else { return nil }
        let pki = town.pki
        let revocations = identity.revocations.all
        return try? await NodeBlocking.run { () throws(TransportError) -> TrustState in
            try pki.trustState(revocations: revocations)
        }
    }

    /// A peer sent its digest: answer with this node's state (`same` when the digests match); when they differ and
    /// the peer asks, pull the peer's state in turn.
    func answerTrustState(_ request: TrustDigestRequest, from peer: NodeName) async throws -> [UInt8] {
        guard let mine = await currentTrustState() else {
            throw ErrorReply(code: .unavailable, message: "the node is not serving")
        }
        if request.digest == mine.digest { return mine.sameDigestReply().encoded() }
        if request.pullBack {
            tasks.append(Task { [weak self] in await self?.exchangeTrust(with: peer, pullBack: false) })
        }
        return mine.encoded()
    }

    /// Sends this node's digest to `peer` over the link and applies the state that comes back.
    func exchangeTrust(with peer: NodeName, pullBack: Bool) async {
        guard let context, let mine = await currentTrustState() else { return }
        let body = NodeJSON.encode(TrustDigestRequest(digest: mine.digest, pullBack: pullBack))
        guard let envelope = try? await context.manager.request(.trustState, body: body, to: peer, timeout: 10),
            let state = try? TrustState.decode(envelope.body), !state.same, state.digest != mine.digest
        else { return }
        await catchUp(with: state, from: peer.rawValue)
    }

    /// Asks the CA holder at `address` for its trust state over a join connection and applies it; returns whether
    /// this node's trusted CAs changed (then dialing again can verify the peer).
    func catchUpThroughJoin(_ address: PeerAddress) async -> Bool {
        guard let context, let identity else { return false }
        let now = Date()
        if let last = lastJoinCatchUp[address.description], now.timeIntervalSince(last) < settings.trustCatchUpInterval
        {
            return false
        }
        lastJoinCatchUp[address.description] = now
        let state: TrustState
        do {
            state = try await JoinClient.fetchTrustState(
                address: address, local: identity.name, settings: settings.connections.connection)
        } catch {
            context.log.info("trust catch-up not answered", ["seed": address.description, "error": error.description])
            return false
        }
        return await catchUp(with: state, from: address.description)
    }

    /// Applies a peer's trust state: rotation notices first (the transport is rebuilt to trust the new CA, and the
    /// certificate renewed from it), then the revocations that verify (applied live, spread, recorded). Returns
    /// whether the trusted CAs changed.
    @discardableResult
    func catchUp(with state: TrustState, from source: String) async -> Bool {
        guard let identity, let context else { return false }
        let pki = town.pki
        let enforced = identity.revocations
        let result: TrustCatchUp
        do {
            result = try await NodeBlocking.run { () throws(TransportError) -> TrustCatchUp in
                try PKI.catchUp(with: state, at: pki, enforced: enforced)
            }
        } catch {
            context.log.error("cannot apply a peer's trust state", ["from": source, "error": error.description])
            return false
        }
        guard !result.isEmpty else { return false }
        context.log.info(
            "caught up with the cluster's trust",
            ["from": source, "rotations": "\(result.rotations.count)", "revocations": "\(result.revocations.count)"])
        context.events.record(
            "trust_caught_up",
            ["from": source, "rotations": "\(result.rotations.count)", "revocations": "\(result.revocations.count)"])
        if !result.rotations.isEmpty {
            for notice in result.rotations {
                context.events.record("ca_rotation_\(notice.phase.rawValue)", ["from": source, "caught_up": "true"])
            }
            pkiStamp = await NodeBlocking.run { [town] in PKIStamp.read(town) }
            _ = await rebuildTransport(reason: "caught up with a CA rotation from \(source)")
            if let current = self.identity, let newest = current.trustedAuthorities.first,
                !current.certificate.isSigned(by: newest)
            {
                tasks.append(Task { [weak self] in await self?.renewAfterRotation() })
            }
        }
        if !result.revocations.isEmpty { await applyRevocations(result.revocations, from: "catch-up from \(source)") }
        return !result.rotations.isEmpty
    }
}

extension TrustState {
    /// The answer when the asker's digest equals ours: the digest alone.
    func sameDigestReply() -> TrustState { TrustState(digest: digest, same: true) }
}
