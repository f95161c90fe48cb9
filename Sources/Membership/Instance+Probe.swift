extension Membership.Instance {
    // MARK: Probe cycle (SWIM) with Lifeguard's local health and nacks

    /// Starts a probe round: concludes the previous probe, then pings the next target in a shuffled
    /// round-robin order. A suspect target is told of its suspicion in the ping (buddy system).
    mutating func probeRound(now t: Int64) {
        if let p = probe {
            probe = nil
            conclude(p, now: t)
        }
        relays = relays.filter { $0.value.expires > t }
        arm(.probe, at: t + scaled(settings.probeInterval))
        guard let target = nextProbeTarget() else { return }
        nextSeq &+= 1
        let seq = nextSeq
        probe = Probe(seq: seq, target: target.name)
        var gossip = piggyback(for: target.name, now: t)
        if target.status == .suspect,
            !gossip.contains(where: { if case .suspect = $0 { $0.subject == target.name } else { false } })
        {
            gossip.insert(.suspect(name: target.name, incarnation: target.incarnation, from: myself.name), at: 0)
        }
        let ping = Membership.Message.ping(seq: seq, from: myself, target: target.name, gossip: gossip)
        out.append(.send(ping, to: target.node.address, name: target.name))
        arm(.probeTimeout(seq: seq), at: t + scaled(settings.probeTimeout))
    }

    /// The next live member in round-robin order, reshuffling the order at the end of each round.
    mutating func nextProbeTarget() -> Membership.Member? {
        var rebuilt = false
        while true {
            if probeIndex >= probeOrder.count {
                if rebuilt { return nil }
                rebuilt = true
                probeOrder = records.keys.filter { $0 != myself.name && records[$0]!.member.status.isLive }.sorted()
                probeOrder.shuffle(using: &rng)
                probeIndex = 0
                if probeOrder.isEmpty { return nil }
            }
            let name = probeOrder[probeIndex]
            probeIndex += 1
            if let r = records[name], r.member.status.isLive { return r.member }
        }
    }

    /// Puts a newly live member at a random place in the rest of this round.
    mutating func addToProbeOrder(_ name: String) {
        guard !probeOrder[probeIndex...].contains(name) else { return }
        let at = probeIndex + Int(rng.next() % UInt64(probeOrder.count - probeIndex + 1))
        probeOrder.insert(name, at: at)
    }

    /// No direct ack in time: ask up to `indirectChecks` other members to probe the target.
    mutating func probeTimedOut(seq: UInt32, now t: Int64) {
        guard var p = probe, p.seq == seq, !p.acked, let target = records[p.target]?.member else { return }
        let helpers = randomMembers(settings.indirectChecks, excluding: [p.target]) { $0.status == .alive }
        for helper in helpers {
            let request = Membership.Message.pingRequest(
                seq: seq, from: myself, target: target.node, wantsNack: true,
                gossip: piggyback(for: helper.name, now: t))
            out.append(.send(request, to: helper.node.address, name: helper.name))
        }
        p.indirect = true
        p.expectedNacks = helpers.count
        probe = p
    }

    /// An ack arrived: our probe succeeded, or we forward it to the member that asked us to probe.
    mutating func handleAck(seq: UInt32, now t: Int64) {
        if var p = probe, p.seq == seq {
            guard !p.acked else { return }
            p.acked = true
            probe = p
            disarm(.probeTimeout(seq: seq))
            adjustAwareness(-1)
        } else if let r = relays.removeValue(forKey: seq) {
            disarm(.relayNack(seq: seq))
            let ack = Membership.Message.ack(
                seq: r.requesterSeq, from: myself, gossip: piggyback(for: r.requester.name, now: t))
            out.append(.send(ack, to: r.requester.address, name: r.requester.name))
        }
    }

    /// A probe period ended without an ack: adjust local health (missing nacks mean we may be the slow
    /// one) and suspect the target.
    mutating func conclude(_ p: Probe, now t: Int64) {
        guard !p.acked else { return }
        disarm(.probeTimeout(seq: p.seq))
        if p.expectedNacks > 0 {
            adjustAwareness(max(0, p.expectedNacks - p.nacks))
        } else {
            adjustAwareness(1)
        }
        guard let r = records[p.target], r.member.status.isLive else { return }
        handleSuspect(name: p.target, incarnation: r.member.incarnation, from: myself.name, now: t)
    }

    /// Acting as intermediary: ping the target on the requester's behalf.
    mutating func relay(seq: UInt32, requester: Membership.Node, target: Membership.Node, wantsNack: Bool, now t: Int64)
    {
        nextSeq &+= 1
        let mine = nextSeq
        relays[mine] = Relay(
            requester: requester, requesterSeq: seq, wantsNack: wantsNack,
            expires: t + settings.probeInterval.nanoseconds)
        let ping = Membership.Message.ping(
            seq: mine, from: myself, target: target.name, gossip: piggyback(for: target.name, now: t))
        out.append(.send(ping, to: target.address, name: target.name))
        if wantsNack {
            let wait = Int64(settings.nackTimeoutRatio * Double(settings.probeTimeout.nanoseconds))
            arm(.relayNack(seq: mine), at: t + wait)
        }
    }

    mutating func relayNackDue(seq: UInt32, now t: Int64) {
        guard let r = relays[seq], r.wantsNack else { return }
        out.append(.send(.nack(seq: r.requesterSeq, from: myself), to: r.requester.address, name: r.requester.name))
    }

    // MARK: Suspicion (Lifeguard dogpile timeouts)

    /// A fresh suspicion of `name`, first raised by `from`.
    mutating func newSuspicion(from: String, now t: Int64) -> Suspicion {
        let n = liveMemberCount
        let minT = settings.minSuspicionTimeout(members: n)
        let maxT = settings.maxSuspicionTimeout(members: n)
        let k = settings.suspicionConfirmations(members: n)
        let timeout = settings.suspicionTimeout(confirmations: 0, expected: k, min: minT, max: maxT)
        return Suspicion(
            start: t, expected: k, min: minT, max: maxT, confirmers: [from], confirmations: 0,
            deadline: t + timeout.nanoseconds)
    }

    /// Another member independently suspects `name`: shrink the timeout. Returns true if it counted.
    mutating func confirm(_ name: String, from: String, now t: Int64) -> Bool {
        guard var r = records[name], var s = r.suspicion, s.confirmations < s.expected,
            !s.confirmers.contains(from)
        else { return false }
        s.confirmers.insert(from)
        s.confirmations += 1
        let timeout = settings.suspicionTimeout(
            confirmations: s.confirmations, expected: s.expected, min: s.min, max: s.max)
        s.deadline = min(s.start + timeout.nanoseconds, s.cap)
        r.suspicion = s
        records[name] = r
        arm(.suspicion(name: name), at: max(t, s.deadline))
        return true
    }

    /// Local evidence bounds the suspicion of `name`: it ends by `cap` at the latest.
    mutating func capSuspicion(_ name: String, at cap: Int64, now t: Int64) {
        guard var r = records[name], var s = r.suspicion, cap < s.cap else { return }
        s.cap = cap
        guard cap < s.deadline else {
            r.suspicion = s
            records[name] = r
            return
        }
        s.deadline = cap
        r.suspicion = s
        records[name] = r
        arm(.suspicion(name: name), at: max(t, cap))
    }

    /// The suspicion timer fired: declare the member dead if it has not refuted.
    mutating func suspicionDue(name: String, now t: Int64) {
        guard let r = records[name], r.member.status == .suspect, let s = r.suspicion else { return }
        guard s.deadline <= t else {
            arm(.suspicion(name: name), at: s.deadline)
            return
        }
        let inc = r.member.incarnation
        setRecord(name, status: .dead, incarnation: inc, address: nil, now: t)
        enqueue(.dead(name: name, incarnation: inc, from: myself.name))
    }

    /// Up to `count` random members other than ourselves and `excluded` that satisfy `include`.
    mutating func randomMembers(
        _ count: Int, excluding excluded: Set<String> = [], where include: (Membership.Member) -> Bool
    ) -> [Membership.Member] {
        guard count > 0 else { return [] }
        var candidates: [Membership.Member] = []
        for name in records.keys.sorted() where name != myself.name && !excluded.contains(name) {
            if let m = records[name]?.member, include(m) { candidates.append(m) }
        }
        if candidates.count <= count {
            candidates.shuffle(using: &rng)
            return candidates
        }
        var picked: [Membership.Member] = []
        for _ in 0..<count {
            let i = Int(rng.next() % UInt64(candidates.count))
            picked.append(candidates.remove(at: i))
        }
        return picked
    }
}
