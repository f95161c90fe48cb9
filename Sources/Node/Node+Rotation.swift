import Foundation
import Transport
import Wire

extension Node {
    /// `gt cluster rotate-ca [--complete]` on the CA node: rotates (or completes), tells every connected
    /// peer with a signed `CARotationNotice` over the links that still work, then rebuilds the transport.
    func rotateCA(_ request: RotateRequest) async throws -> RotateReport {
        guard let context else { throw ErrorReply(code: .unavailable, message: "the node is not serving") }
        guard town.pki.holdsCA else {
            throw ErrorReply(code: .refused, message: "this node does not hold the CA key; rotate on the CA node")
        }
        let pki = town.pki
        let complete = request.complete
        let clusterName = Self.clusterName(town)
        let notice: CARotationNotice
        let fingerprints: (String, String?)
        do {
            (notice, fingerprints) = try await NodeBlocking.run {
                () throws(TransportError) -> (CARotationNotice, (String, String?)) in
                if complete {
                    let notice = try PKI.finishRotation(at: pki)
                    return (notice, (try pki.authority().certificate.fingerprint, nil))
                }
                let previous = try pki.authority().certificate.fingerprint
                let (fresh, notice) = try PKI.startRotation(at: pki, clusterName: clusterName)
                return (notice, (fresh.certificate.fingerprint, previous))
            }
        } catch {
            throw ErrorReply(code: .refused, message: error.description)
        }
        let notified = await broadcast(notice)
        context.log.info(
            "CA rotation \(notice.phase.rawValue)", ["ca": fingerprints.0, "notified": "\(notified.count)"])
        context.events.record("ca_rotation_\(notice.phase.rawValue)", ["ca_fingerprint": fingerprints.0])
        pkiStamp = await NodeBlocking.run { [town] in PKIStamp.read(town) }
        let rebuilt = await rebuildTransport(reason: "CA rotation \(notice.phase.rawValue)")
        return RotateReport(
            phase: notice.phase.rawValue, caFingerprint: fingerprints.0, previousCAFingerprint: fingerprints.1,
            notified: notified.map(\.rawValue), nodeReloaded: rebuilt)
    }

    /// Sends `notice` to every connected peer; returns who got it.
    func broadcast(_ notice: CARotationNotice) async -> [NodeName] {
        guard let context else { return [] }
        var sent: [NodeName] = []
        for peer in await context.manager.connectedPeers() {
            if (try? await context.manager.send(NodeMessageType.caRotation, body: NodeJSON.encode(notice), to: peer))
                != nil
            {
                sent.append(peer)
            }
        }
        return sent
    }

    /// A peer told us of a CA rotation: apply it when its signature verifies, rebuild the transport (trusting
    /// both CAs), pass it on, and for `started` get a certificate from the new CA at once.
    func rotationNoticed(_ notice: CARotationNotice, from peer: NodeName) async {
        guard let context, !town.pki.holdsCA else { return }
        let pki = town.pki
        let changed: Bool
        do {
            changed = try await NodeBlocking.run { () throws(TransportError) -> Bool in
                guard try PKI.apply(notice, at: pki) else { return false }
                try PKI.recordRotation(notice, at: pki)
                return true
            }
        } catch {
            context.log.error("cannot apply a CA rotation notice", ["from": peer.rawValue, "error": error.description])
            return
        }
        guard changed else { return }
        context.log.info("CA rotation \(notice.phase.rawValue) applied", ["from": peer.rawValue])
        context.events.record("ca_rotation_\(notice.phase.rawValue)", ["from": peer.rawValue])
        _ = await broadcast(notice)
        pkiStamp = await NodeBlocking.run { [town] in PKIStamp.read(town) }
        _ = await rebuildTransport(reason: "CA rotation \(notice.phase.rawValue) from \(peer)")
        if notice.phase == .started {
            tasks.append(Task { [weak self] in await self?.renewAfterRotation() })
        }
    }

    /// Renews from the new CA, retrying until a CA holder answers.
    func renewAfterRotation() async {
        var attempt = 0
        while !Task.isCancelled {
            if await renewNow() != nil { return }
            attempt += 1
            let delay = Backoff.delay(
                attempt: attempt, base: settings.seedRetryBaseDelay, cap: settings.renewalRetryInterval, jitter: 0.5,
                random: Double.random(in: 0..<1))
            try? await Task.sleep(nanoseconds: UInt64(delay * 1e9))
        }
    }

    /// The cluster's name: `name` in the PKI's cluster file, else the town's name, else `gastown`.
    public static func clusterName(_ town: TownPaths) -> String {
        if let data = FileManager.default.contents(atPath: town.pki.clusterFile.path),
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let name = object["name"] as? String
        {
            return name
        }
        return (try? TownNodeConfig.load(town))?.townName ?? "gastown"
    }
}
