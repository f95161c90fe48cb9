import Membership

extension MembershipSimulator {
    mutating func handle(_ kind: Event.Kind) {
        switch kind {
        case .deliver(let from, let to, let message, let bytes, let epoch, let generation):
            guard nodes[to].generation == generation, nodes[to].instance != nil else { return }
            guard connections[key(from, to)]?.epoch == epoch, groups[from] == groups[to] else { return }
            if nodes[to].paused {
                nodes[to].backlog.append(kind)
                return
            }
            let decoded: Membership.Message
            if let message {
                decoded = message
            } else {
                do {
                    decoded = try Membership.Message.decode(bytes, limits: settings.codecLimits)
                } catch {
                    decodeFailures += 1
                    return
                }
            }
            let t = now
            guard let directives = nodes[to].instance?.onMessage(decoded, now: t) else { return }
            apply(directives, at: to)
        case .timer(let node, let id, let generation):
            guard nodes[node].generation == generation, nodes[node].instance != nil else { return }
            if nodes[node].paused {
                nodes[node].backlog.append(kind)
                return
            }
            let t = now
            guard let directives = nodes[node].instance?.onTimer(id, now: t) else { return }
            apply(directives, at: node)
        case .refused(let node, let peer, let generation):
            guard nodes[node].generation == generation, nodes[node].instance != nil else { return }
            if nodes[node].paused {
                nodes[node].backlog.append(kind)
                return
            }
            let t = now
            guard let directives = nodes[node].instance?.onConnectionRefused(name: Self.name(peer), now: t) else {
                return
            }
            apply(directives, at: node)
        }
    }

    mutating func apply(_ directives: [Membership.Directive], at i: Int) {
        for d in directives {
            switch d {
            case .send(let message, let address, _):
                guard let to = Self.index(ofAddress: address), to < size else { continue }
                send(message, from: i, to: to)
            case .armTimer(let id, let at):
                schedule(max(at.nanoseconds, clock), .timer(node: i, id, generation: nodes[i].generation))
            case .memberChanged(let member, let previous):
                if member.status == .suspect, previous != .suspect { suspicions += 1 }
                if member.status == .dead, previous != .dead, let subject = Self.index(ofName: member.name) {
                    deaths.append(DeathDeclaration(time: now, observer: i, subject: subject))
                }
            case .memberRemoved, .identityConflict:
                break
            }
        }
    }

    mutating func send(_ message: Membership.Message, from: Int, to: Int) {
        nodes[from].messagesSent += 1
        var bytes: [UInt8] = []
        if network.encodeMessages {
            bytes = message.encode()
            nodes[from].bytesSent += bytes.count
        }
        guard groups[from] == groups[to] else { return }
        guard nodes[to].instance != nil else {
            // A round trip later the sender's kernel has the refusal (once per message, as a shell redialing).
            if nodes[to].refuses {
                schedule(
                    clock + 2 * network.baseLatency.nanos,
                    .refused(node: from, peer: to, generation: nodes[from].generation))
            }
            return
        }
        if network.resetRate > 0, rng.unit() < network.resetRate { resetConnection(from, to) }
        if network.lossRate > 0, rng.unit() < network.lossRate { return }
        var delay = network.baseLatency.nanos + Int64(rng.unit() * Double(network.jitter.nanos))
        if network.spikeRate > 0, rng.unit() < network.spikeRate {
            let lo = network.spikeMin.nanos
            let hi = network.spikeMax.nanos
            delay += lo + Int64(rng.unit() * Double(hi - lo))
        }
        let k = key(from, to)
        var conn = connections[k] ?? Connection()
        let at = max(clock + delay, conn.lastDelivery)
        conn.lastDelivery = at
        connections[k] = conn
        let payload: Membership.Message? = network.encodeMessages ? nil : message
        schedule(at, .deliver(from: from, to: to, payload, bytes, epoch: conn.epoch, generation: nodes[to].generation))
    }

    mutating func resetConnection(_ a: Int, _ b: Int) {
        let k = key(a, b)
        var conn = connections[k] ?? Connection()
        conn.epoch += 1
        conn.lastDelivery = clock
        connections[k] = conn
    }

    func key(_ from: Int, _ to: Int) -> Int { from * 65_536 + to }

    mutating func schedule(_ time: Int64, _ kind: Event.Kind) {
        seqCounter += 1
        heap.push(Event(time: time, seq: seqCounter, kind: kind))
    }
}

/// A binary min-heap of simulation events.
struct EventHeap {
    private var items: [MembershipSimulator.Event] = []

    var peek: MembershipSimulator.Event? { items.first }
    var count: Int { items.count }

    mutating func push(_ e: MembershipSimulator.Event) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i] < items[parent] else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> MembershipSimulator.Event? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var smallest = i
            if l < items.count && items[l] < items[smallest] { smallest = l }
            if r < items.count && items[r] < items[smallest] { smallest = r }
            if smallest == i { break }
            items.swapAt(i, smallest)
            i = smallest
        }
        return top
    }
}

extension Duration {
    /// Whole nanoseconds (saturating), for simulated-time arithmetic.
    var nanos: Int64 {
        let (s, a) = components
        let (ns, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return s < 0 ? .min : .max }
        return ns &+ a / 1_000_000_000
    }
}
