extension Membership.Instance {
    // MARK: Dissemination: piggybacked gossip, gossip rounds, push-pull, reconnect

    /// Queues a gossip item. News about a member replaces older queued news about it (membership news
    /// and metadata are queued separately).
    mutating func enqueue(_ item: Membership.Gossip) {
        let key: String
        if case .metadata = item { key = "d:" + item.subject } else { key = "m:" + item.subject }
        broadcastCounter += 1
        broadcasts[key] = Broadcast(item: item, size: item.encodedSize, transmits: 0, order: broadcastCounter)
    }

    /// Takes the gossip to piggyback on one message: least-sent first (newest first among equals),
    /// within `maxPiggybackBytes`. Each item is sent at most `retransmitLimit(n)` times.
    mutating func piggyback(for target: String, now t: Int64) -> [Membership.Gossip] {
        guard !broadcasts.isEmpty else { return [] }
        let limit = settings.retransmitLimit(members: liveMemberCount)
        let sorted = broadcasts.sorted {
            ($0.value.transmits, UInt64.max - $0.value.order) < ($1.value.transmits, UInt64.max - $1.value.order)
        }
        var budget = settings.maxPiggybackBytes
        var membership: [Membership.Gossip] = []
        var metadataItems: [Membership.Gossip] = []
        // An item larger than the whole budget (big metadata) goes alone, within the message limit.
        let alone = settings.maxMessageBytes - 1024
        for (key, var b) in sorted where !useless(b.item, to: target) {
            let fits = b.size <= budget || (budget == settings.maxPiggybackBytes && b.size <= alone)
            guard fits else { continue }
            budget -= min(b.size, budget)
            if case .metadata = b.item { metadataItems.append(b.item) } else { membership.append(b.item) }
            b.transmits += 1
            broadcasts[key] = b.transmits >= limit ? nil : b
            if budget < 16 { break }
        }
        // Membership news first, so a receiver learns a member before its metadata.
        return membership + metadataItems
    }

    /// News that a member is alive, or its metadata, is no news to that member itself.
    func useless(_ item: Membership.Gossip, to target: String) -> Bool {
        switch item {
        case .alive, .metadata: item.subject == target
        case .suspect, .dead, .left: false
        }
    }

    /// A gossip round: while there is membership news, send it to `gossipFanout` random live members
    /// (with any queued metadata). Metadata alone waits for pings and acks to carry it: it is not urgent,
    /// and a message of its own costs a TCP segment, a TLS record and an acknowledgement per peer.
    mutating func gossipRound(now t: Int64) {
        arm(.gossip, at: t + settings.gossipInterval.nanoseconds)
        guard broadcasts.values.contains(where: { if case .metadata = $0.item { false } else { true } }) else {
            return
        }
        for peer in randomMembers(settings.gossipFanout, where: { $0.status.isLive }) {
            let items = piggyback(for: peer.name, now: t)
            guard !items.isEmpty else { break }
            out.append(.send(.gossip(from: myself, gossip: items), to: peer.node.address, name: peer.name))
        }
    }

    /// Anti-entropy: exchange full state with one random alive member.
    mutating func pushPullRound(now t: Int64) {
        arm(.pushPull, at: t + settings.scaledPushPullInterval(members: liveMemberCount).nanoseconds)
        guard let peer = randomMembers(1, where: { $0.status == .alive }).first else { return }
        sendPushPull(to: peer.node.address, name: peer.name, isResponse: false, isJoin: false)
    }

    /// Reconnect: alone, retry the seeds; otherwise exchange state with one random failed member, so
    /// the two sides of a healed partition find each other.
    mutating func reconnectRound(now t: Int64) {
        arm(.reconnect, at: t + settings.reconnectInterval.nanoseconds)
        if liveMemberCount <= 1 {
            for seed in seeds { sendPushPull(to: seed, name: nil, isResponse: false, isJoin: true) }
            return
        }
        guard let peer = randomMembers(1, where: { $0.status == .dead }).first else { return }
        sendPushPull(to: peer.node.address, name: peer.name, isResponse: false, isJoin: false)
    }

    /// Sends our full state (ourselves first), truncated to a random subset if it would not fit in
    /// `maxMessageBytes`.
    mutating func sendPushPull(to address: String, name: String?, isResponse: Bool, isJoin: Bool) {
        var others = records.keys.filter { $0 != myself.name }.sorted().compactMap { records[$0]?.member }
        var budget = settings.maxMessageBytes - 64 - myself.name.utf8.count - myself.address.utf8.count
        var list: [Membership.Member] = []
        if let me = records[myself.name]?.member {
            list.append(me)
            budget -= encodedSize(me)
        }
        let sizes = others.map(encodedSize)
        if sizes.reduce(0, +) > budget { others.shuffle(using: &rng) }
        for m in others {
            let size = encodedSize(m)
            guard size <= budget else { continue }
            budget -= size
            list.append(m)
        }
        let message = Membership.Message.pushPull(from: myself, isResponse: isResponse, isJoin: isJoin, members: list)
        out.append(.send(message, to: address, name: name))
    }

    func encodedSize(_ m: Membership.Member) -> Int {
        var w = ByteWriter()
        w.member(m)
        return w.bytes.count
    }

    /// Gossips our metadata now, or arms the rate-limit timer if we did less than
    /// `metadataMinInterval` ago (then the latest value goes out when it fires).
    mutating func publishMetadata(now t: Int64) {
        let interval = settings.metadataMinInterval.nanoseconds
        if let last = lastMetadataBroadcast, t < last + interval {
            if timers[.metadataBroadcast] == nil { arm(.metadataBroadcast, at: last + interval) }
            return
        }
        lastMetadataBroadcast = t
        enqueue(.metadata(name: myself.name, metadata))
    }
}
