extension Membership.Instance {
    // MARK: Applying news (SWIM's precedence rules, memberlist's refinements)

    /// Applies piggybacked gossip items in order. Stale news (a suspicion, failure or departure at an
    /// incarnation older than the alive one we hold) is answered to its sender with the newer alive news,
    /// so a member that missed a refutation learns it before its suspicion runs out.
    mutating func merge(_ items: [Membership.Gossip], from sender: Membership.Node, now t: Int64) {
        var corrections: [Membership.Gossip] = []
        for item in items {
            if let correction = correction(for: item), !corrections.contains(correction) {
                corrections.append(correction)
            }
            switch item {
            case .alive(let node, let inc): handleAlive(node, incarnation: inc, now: t)
            case .suspect(let name, let inc, let from): handleSuspect(name: name, incarnation: inc, from: from, now: t)
            case .dead(let name, let inc, let from): handleDead(name: name, incarnation: inc, from: from, now: t)
            case .left(let name, let inc): handleLeft(name: name, incarnation: inc, now: t)
            case .metadata(let name, let md): handleMetadata(name: name, md, now: t)
            }
        }
        if !corrections.isEmpty, sender.name != myself.name {
            out.append(.send(.gossip(from: myself, gossip: corrections), to: sender.address, name: sender.name))
        }
    }

    /// The newer alive news that contradicts `item`, if `item` is stale.
    func correction(for item: Membership.Gossip) -> Membership.Gossip? {
        let inc: Membership.Incarnation
        switch item {
        case .suspect(_, let i, _), .dead(_, let i, _), .left(_, let i): inc = i
        case .alive, .metadata: return nil
        }
        guard let r = records[item.subject], r.member.status == .alive, inc < r.member.incarnation else { return nil }
        if r.member.name == myself.name && phase != .running { return nil }
        return .alive(r.member.node, incarnation: r.member.incarnation)
    }

    /// Merges a full state from push-pull. As memberlist does, a member the peer holds dead is only
    /// suspected here (it gets the chance to refute), and a member that left is taken as left.
    mutating func mergeState(_ members: [Membership.Member], from: String, now t: Int64) {
        for m in members {
            switch m.status {
            case .alive: handleAlive(m.node, incarnation: m.incarnation, now: t)
            case .suspect, .dead: handleSuspect(name: m.name, incarnation: m.incarnation, from: myself.name, now: t)
            case .left: handleLeft(name: m.name, incarnation: m.incarnation, now: t)
            }
            if m.metadata.version > 0 { handleMetadata(name: m.name, m.metadata, now: t) }
        }
    }

    /// `node` is alive at `inc`: a higher incarnation overrides any state except `left` at an equal or
    /// higher incarnation. About ourselves, a higher incarnation is an older life of ours: refute it.
    mutating func handleAlive(_ node: Membership.Node, incarnation inc: Membership.Incarnation, now t: Int64) {
        if node.name == myself.name {
            let elsewhere = node.address != myself.address && phase == .running
            if elsewhere, let mark = conflictMarks[node.address], inc > mark {
                out.append(
                    .identityConflict(name: myself.name, addresses: [node.address, myself.address], incarnation: inc))
            }
            if inc > incarnation || (inc == incarnation && node.address != myself.address) {
                refute(accused: inc, now: t)
            }
            if elsewhere {
                if conflictMarks[node.address] == nil && conflictMarks.count >= 64, let oldest = conflictMarks.min(
                    by: { $0.value < $1.value })
                {
                    conflictMarks[oldest.key] = nil
                }
                conflictMarks[node.address] = incarnation
            }
            return
        }
        guard let r = records[node.name] else {
            records[node.name] = Record(
                member: Membership.Member(node: node, incarnation: inc, status: .alive, metadata: .init(version: 0)),
                since: t)
            addToProbeOrder(node.name)
            syncRequested.remove(node.name)
            out.append(.memberChanged(records[node.name]!.member, previous: nil))
            enqueue(.alive(node, incarnation: inc))
            return
        }
        guard inc > r.member.incarnation else { return }
        let previous = r.member.node.address
        if node.address != previous && r.member.status.isLive {
            if formerAddresses[node.name]?.contains(node.address) == true {
                out.append(.identityConflict(name: node.name, addresses: [previous, node.address], incarnation: inc))
            }
            var former = (formerAddresses[node.name] ?? []).filter { $0 != previous && $0 != node.address }
            former.append(previous)
            if formerAddresses[node.name] == nil && formerAddresses.count >= 1024 { formerAddresses.removeAll() }
            formerAddresses[node.name] = Array(former.suffix(4))
        }
        setRecord(node.name, status: .alive, incarnation: inc, address: node.address, now: t)
        enqueue(.alive(node, incarnation: inc))
    }

    /// `from` suspects `name` at `inc`. About ourselves: refute. Otherwise start a suspicion, or count an
    /// independent confirmation of a running one (and pass it on so others can count it too).
    mutating func handleSuspect(name: String, incarnation inc: Membership.Incarnation, from: String, now t: Int64) {
        if name == myself.name {
            if inc >= incarnation { refute(accused: inc, now: t) }
            return
        }
        guard let r = records[name], r.member.status.isLive, inc >= r.member.incarnation else { return }
        if r.member.status == .suspect {
            if confirm(name, from: from, now: t) {
                enqueue(.suspect(name: name, incarnation: inc, from: from))
            }
            return
        }
        setRecord(name, status: .suspect, incarnation: inc, address: nil, now: t, suspectedBy: from)
        enqueue(.suspect(name: name, incarnation: inc, from: from))
    }

    /// `from` declared `name` dead at `inc`. About ourselves (while running): refute.
    mutating func handleDead(name: String, incarnation inc: Membership.Incarnation, from: String, now t: Int64) {
        if name == myself.name {
            if inc >= incarnation { refute(accused: inc, now: t) }
            return
        }
        guard let r = records[name], r.member.status.isLive, inc >= r.member.incarnation else { return }
        setRecord(name, status: .dead, incarnation: inc, address: nil, now: t)
        enqueue(.dead(name: name, incarnation: inc, from: from))
    }

    /// `name` left at `inc`. About ourselves while running, this is news of an older life: refute.
    mutating func handleLeft(name: String, incarnation inc: Membership.Incarnation, now t: Int64) {
        if name == myself.name {
            if inc >= incarnation { refute(accused: inc, now: t) }
            return
        }
        guard let r = records[name], r.member.status != .left, inc >= r.member.incarnation else { return }
        setRecord(name, status: .left, incarnation: inc, address: nil, now: t)
        enqueue(.left(name: name, incarnation: inc))
    }

    /// Newer metadata for `name` (higher version) replaces what we hold and is passed on. Our own
    /// metadata seen with a version at or above ours (an older life's) makes us republish above it.
    mutating func handleMetadata(name: String, _ md: Membership.Metadata, now t: Int64) {
        if name == myself.name {
            guard md.version >= metadata.version, md != metadata else { return }
            metadata.version = md.version + 1
            records[myself.name]?.member.metadata = metadata
            publishMetadata(now: t)
            return
        }
        guard var r = records[name], md.version > r.member.metadata.version else { return }
        r.member.metadata = md
        records[name] = r
        out.append(.memberChanged(r.member, previous: r.member.status))
        enqueue(.metadata(name: name, md))
    }

    /// Someone holds us suspect, dead, left or at a higher incarnation: announce we are alive at an
    /// incarnation above theirs. Having to refute is a sign we are slow: local health worsens.
    mutating func refute(accused inc: Membership.Incarnation, now t: Int64) {
        guard phase == .running else { return }
        incarnation = max(incarnation, inc) + 1
        adjustAwareness(1)
        if var r = records[myself.name] {
            r.member.incarnation = incarnation
            r.member.status = .alive
            records[myself.name] = r
            out.append(.memberChanged(r.member, previous: .alive))
        }
        enqueue(.alive(myself, incarnation: incarnation))
        // Refutations are rare and a missed one costs a false failure: tell every live member directly,
        // on top of the gossip.
        let news = Membership.Message.gossip(from: myself, gossip: [.alive(myself, incarnation: incarnation)])
        for name in records.keys.sorted() where name != myself.name {
            guard let m = records[name]?.member, m.status.isLive else { continue }
            out.append(.send(news, to: m.node.address, name: name))
        }
    }

    /// Changes a member's record and reports the change. Entering `suspect` starts a suspicion raised
    /// by `suspectedBy`; leaving it cancels the suspicion.
    mutating func setRecord(
        _ name: String, status: Membership.Status, incarnation inc: Membership.Incarnation, address: String?,
        now t: Int64, suspectedBy: String? = nil
    ) {
        guard var r = records[name] else { return }
        let previous = r.member.status
        r.member.status = status
        r.member.incarnation = inc
        if let address { r.member.node.address = address }
        if status != previous { r.since = t }
        if status == .suspect {
            let s = newSuspicion(from: suspectedBy ?? myself.name, now: t)
            r.suspicion = s
            if name != myself.name { arm(.suspicion(name: name), at: s.deadline) }
        } else if r.suspicion != nil {
            r.suspicion = nil
            disarm(.suspicion(name: name))
        }
        records[name] = r
        if status.isLive && !previous.isLive && name != myself.name { addToProbeOrder(name) }
        out.append(.memberChanged(r.member, previous: previous))
    }
}
