import Foundation
import Transport
import Wire

extension Node {
    /// Messages from peers (TLS links): the node's own types, revocations, then the components' types.
    nonisolated func handlePeerMessage(_ message: InboundMessage) async throws -> [UInt8] {
        let type = message.envelope.type
        if NodeMessageType.localOnly.contains(type) {
            throw ErrorReply(code: .refused, message: "\(type) is accepted only from the local CLI")
        }
        if type == NodeMessageType.announce {
            let announce = try NodeJSON.decode(NodeAnnounce.self, from: message.envelope.body)
            await peerAnnounced(message.peer, announce)
            return []
        }
        if type == NodeMessageType.caRotation {
            let notice = try NodeJSON.decode(CARotationNotice.self, from: message.envelope.body)
            await rotationNoticed(notice, from: message.peer.name)
            return []
        }
        if type == .trustState, message.envelope.kind == .request {
            let request = try NodeJSON.decode(TrustDigestRequest.self, from: message.envelope.body)
            return try await answerTrustState(request, from: message.peer.name)
        }
        if type == NodeMessageType.clock {
            return NodeJSON.encode(PeerClockReply(wall: Date().timeIntervalSince1970))
        }
        if type == .revocation {
            let entry = try NodeJSON.decode(RevocationEntry.self, from: message.envelope.body)
            await applyRevocations([entry], from: message.peer.name.rawValue)
            return []
        }
        return try await routeToComponent(message)
    }

    nonisolated func routeToComponent(_ message: InboundMessage) async throws -> [UInt8] {
        guard let component = try routes.component(for: message.envelope.type) else {
            throw ErrorReply(code: .unknownMessageType, message: "no component handles \(message.envelope.type)")
        }
        return try await component.handle(message)
    }

    /// A peer told us where it listens: remember its certificate and address, and keep a link to it.
    func peerAnnounced(_ peer: PeerInfo, _ announce: NodeAnnounce) async {
        if let certificate = peer.certificate { await remember(peer.name, certificate) }
        guard let context, let address = try? PeerAddress(parsing: announce.address) else { return }
        if context.box.peerAddresses[peer.name] != address {
            context.log.info("peer announced", ["peer": peer.name.rawValue, "address": address.description])
            context.events.record("peer_joined", ["peer": peer.name.rawValue, "address": address.description])
        }
        await context.addPeer(peer.name, at: address)
    }

    /// Records a peer's certificate in `known-peers.jsonl` the first time its serial is seen.
    func remember(_ peer: NodeName, _ certificate: Certificate) async {
        let key = "\(peer)/\(certificate.serial)"
        guard seenSerials.insert(key).inserted else { return }
        let record = KnownPeerRecord(node: peer.rawValue, certificate: certificate, seenAt: Date())
        let town = self.town
        do {
            try await NodeBlocking.run { () throws(NodeError) in try record.append(to: town) }
        } catch {
            context?.log.warning("cannot record peer certificate", ["error": error.description])
        }
    }

    /// Dials a seed until it answers (capped exponential backoff), then announces this node to it. The
    /// connection manager keeps the link afterwards.
    func joinSeed(_ text: String) async {
        guard let context else { return }
        let address: PeerAddress
        do {
            address = try PeerAddress(parsing: text)
        } catch {
            context.log.error("bad seed address", ["seed": text, "error": error.description])
            return
        }
        var attempt = 0
        while !Task.isCancelled {
            do {
                let peer = try await context.manager.connect(seed: address)
                await context.addPeer(peer.name, at: address)
                if let certificate = peer.certificate { await remember(peer.name, certificate) }
                try await context.send(
                    NodeMessageType.announce,
                    body: NodeJSON.encode(NodeAnnounce(address: context.listenAddress.description)), to: peer.name)
                tasks.append(Task { [weak self] in await self?.exchangeTrust(with: peer.name, pullBack: true) })
                context.log.info("joined seed", ["seed": address.description, "peer": peer.name.rawValue])
                context.events.record("seed_joined", ["seed": address.description, "peer": peer.name.rawValue])
                return
            } catch {
                // A seed whose certificate does not verify here may have moved to a CA this node missed while it
                // was down: ask it for the signed trust state, and dial again at once when that changed ours.
                if case .handshakeFailed? = error as? TransportError, await catchUpThroughJoin(address) { continue }
                attempt += 1
                let delay = Backoff.delay(
                    attempt: attempt, base: settings.seedRetryBaseDelay, cap: settings.seedRetryMaxDelay, jitter: 0.5,
                    random: Double.random(in: 0..<1))
                if attempt == 1 || attempt % 10 == 0 {
                    context.log.warning(
                        "seed unreachable", ["seed": address.description, "error": "\(error)", "attempt": "\(attempt)"])
                }
                try? await Task.sleep(nanoseconds: UInt64(delay * 1e9))
            }
        }
    }

    // MARK: The local socket

    func serveLocal(_ connection: Connection, _ peer: PeerInfo) async {
        guard phase == .serving || phase == .starting, let identity else {
            connection.close(reason: "node stopping")
            return
        }
        var registry = MessageRegistry.core
        for descriptor in NodeMessageType.descriptors + routes.descriptors { registry.register(descriptor) }
        let link = PeerLink.wrapping(connection, peer: peer, local: identity.name, registry: registry) {
            [weak self] message in
            guard let self else { throw ErrorReply(code: .unavailable, message: "the node is stopping") }
            return try await self.handleLocal(message)
        }
        let key = ObjectIdentifier(link)
        localLinks[key] = link
        Task { [weak self] in
            _ = await link.serve()
            await self?.localLinkClosed(key)
        }
    }

    private func localLinkClosed(_ key: ObjectIdentifier) { localLinks[key] = nil }

    nonisolated func handleLocal(_ message: InboundMessage) async throws -> [UInt8] {
        let body = message.envelope.body
        switch message.envelope.type {
        case NodeMessageType.status:
            return NodeJSON.encode(try await status())
        case NodeMessageType.ping:
            let request = try NodeJSON.decode(PingRequest.self, from: body)
            return NodeJSON.encode(try await pingThrough(request))
        case NodeMessageType.shutdown:
            Task {
                try? await Task.sleep(nanoseconds: 50_000_000)
                await self.shutdown(reason: "gt down (local request)")
            }
            return NodeJSON.encode(EmptyBody())
        case NodeMessageType.reloadPKI:
            return NodeJSON.encode(try await reloadPKI())
        case NodeMessageType.joinToken:
            let request = try NodeJSON.decode(TokenRequest.self, from: body)
            return NodeJSON.encode(try await makeToken(request))
        case NodeMessageType.revoke:
            let request = try NodeJSON.decode(RevokeRequest.self, from: body)
            return NodeJSON.encode(try await revoke(request))
        case NodeMessageType.renew:
            guard let info = await renewNow() else {
                throw ErrorReply(code: .unavailable, message: "no CA holder answered; is a node holding the CA key up?")
            }
            return NodeJSON.encode(info)
        case NodeMessageType.rename:
            let request = try NodeJSON.decode(RenameRequest.self, from: body)
            return NodeJSON.encode(try await rename(request))
        case NodeMessageType.doctor:
            return NodeJSON.encode(try await doctorObservations())
        case NodeMessageType.rotateCA:
            let request = try NodeJSON.decode(RotateRequest.self, from: body)
            return NodeJSON.encode(try await rotateCA(request))
        default:
            return try await routeToComponent(message)
        }
    }

    func status() async throws -> NodeStatus {
        guard let context, let identity, let info else {
            throw ErrorReply(code: .unavailable, message: "the node is not serving yet")
        }
        let manager = context.manager
        let connected = Set(await manager.connectedPeers())
        let known = context.box.peerAddresses
        let names = Set(known.keys).union(connected).sorted()
        let peers = names.map {
            NodeStatus.Peer(name: $0.rawValue, address: known[$0]?.description, connected: connected.contains($0))
        }
        let components = await supervisor.status().map { child -> NodeStatus.Component in
            let state: String
            switch child.state {
            case .running: state = "running"
            case .waitingToRestart: state = "restarting"
            case .finished: state = "finished"
            case .stopped: state = "stopped"
            case .gaveUp: state = "gave-up"
            }
            return NodeStatus.Component(
                name: child.name, state: state, failures: child.failures, lastError: child.lastError)
        }
        let authority = identity.trustedAuthorities.first { identity.certificate.isSigned(by: $0) }
        return NodeStatus(
            running: true, name: identity.name.rawValue, pid: info.pid, listen: info.listen, socket: info.socket,
            startedAt: startedAt, uptimeSeconds: Date().timeIntervalSince(startedAt), holdsCA: town.pki.holdsCA,
            certificate: PKI.info(identity.certificate, revocations: identity.revocations, settings: settings.pki),
            caFingerprint: authority?.fingerprint ?? "", peers: peers, components: components,
            revocations: identity.revocations.all.count,
            refusals: await manager.recentRefusals().suffix(10).map(\.description),
            warnings: context.warnings.current())
    }

    /// Pings `request.address` (`HOST:PORT`, or a member's name, looked up among the peers this node knows):
    /// over the open link when the address is a known peer's, else over a fresh connection made with this
    /// node's identity. A ping by name checks that the answering node's certificate carries that name.
    func pingThrough(_ request: PingRequest) async throws -> PingReport {
        guard let context, let identity else {
            throw ErrorReply(code: .unavailable, message: "the node is not serving")
        }
        let address: PeerAddress
        var expected: NodeName?
        if let parsed = try? PeerAddress(parsing: request.address) {
            address = parsed
        } else if let name = try? NodeName(request.address) {
            guard let known = context.box.peerAddresses[name] else {
                let names = context.box.peerAddresses.keys.map(\.rawValue).sorted()
                throw ErrorReply(
                    code: .badRequest,
                    message: "no member named \(name) is known to this node (known: "
                        + "\(names.isEmpty ? "none" : names.joined(separator: ", "))); give HOST:PORT instead")
            }
            address = known
            expected = name
        } else {
            throw ErrorReply(
                code: .badRequest, message: "'\(request.address)' is neither HOST:PORT nor a member's name")
        }
        let report = try await ping(address, count: request.count, identity: identity, context: context)
        if let expected, report.peer != expected.rawValue {
            throw ErrorReply(
                code: .refused,
                message: "\(address), where \(expected) was last seen, answered as \(report.peer)")
        }
        return report
    }

    private func ping(
        _ address: PeerAddress, count requested: Int?, identity: NodeIdentity, context: NodeContext
    ) async throws -> PingReport {
        let count = min(max(requested ?? settings.pingCount, 1), 100)
        do {
            let connected = Set(await context.manager.connectedPeers())
            if let peer = context.box.peerAddresses.first(where: { $0.value == address && connected.contains($0.key) })?
                .key,
                let link = try? await context.manager.link(to: peer, timeout: 0)
            {
                return try await NodePing.ping(
                    link: link, address: address, identity: identity, count: count, timeout: settings.pingTimeout,
                    via: "node")
            }
            var report = try await NodePing.ping(
                address: address, identity: identity, count: count, timeout: settings.pingTimeout,
                settings: settings.connections.connection)
            report.via = "node"
            return report
        } catch {
            throw ErrorReply(code: .refused, message: "ping \(address) failed: \(error)")
        }
    }
}
