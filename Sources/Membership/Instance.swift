extension Membership {
    /// The SWIM + Lifeguard state machine of one node: a value type driven by events.
    ///
    /// Every input is a `mutating` call carrying the shell's monotonic `now`, and returns the
    /// ``Directive``s to carry out in order. The instance does no I/O, reads no clock and draws randomness
    /// only from its own seeded ``Random``. Sendable: a plain value, owned and mutated by one actor.
    ///
    /// The shell MUST: call ``join(seeds:now:)`` once to start; deliver every decoded message with
    /// ``onMessage(_:authenticatedPeer:now:)``; arm the timers it is asked to arm and call ``onTimer(_:now:)`` when they fire
    /// (or call ``onTick(now:)`` often, e.g. every 50 ms); send messages best effort on the dedicated
    /// membership connection. The shell MUST NOT: block on a send, reorder directives, feed a `now` that
    /// goes backwards, or reuse an instance after ``leave(now:)`` for a new run (make a new one; it may
    /// start at incarnation 0 and will refute its old incarnation by itself).
    public struct Instance: Sendable {
        /// The protocol settings.
        public let settings: Settings
        /// This node.
        public internal(set) var myself: Node
        /// Our incarnation; raised to refute suspicion.
        public internal(set) var incarnation: Incarnation
        /// Our metadata.
        public internal(set) var metadata: Metadata
        /// Lifeguard's local health score, 0 ..< `settings.awarenessMax`; probe interval and timeout are
        /// multiplied by `score + 1`.
        public internal(set) var awareness: Int = 0
        /// Where we are in our life.
        public internal(set) var phase: Phase = .idle

        var records: [String: Record] = [:]
        var rng: Random
        var seeds: [String] = []
        var probeOrder: [String] = []
        var probeIndex = 0
        var nextSeq: UInt32 = 0
        var probe: Probe?
        var relays: [UInt32: Relay] = [:]
        var broadcasts: [String: Broadcast] = [:]
        var broadcastCounter: UInt64 = 0
        var timers: [TimerID: Int64] = [:]
        var timerOrder: [TimerID: UInt64] = [:]
        var timerCounter: UInt64 = 0
        var lastMetadataBroadcast: Int64?
        var syncRequested: Set<String> = []
        /// For each other address our name was heard alive from: our incarnation after we last answered it.
        /// News from there above this mark means a live process answered our refutation (`identityConflict`).
        var conflictMarks: [String: Incarnation] = [:]
        /// Addresses other members left while alive, latest last (a few per member).
        var formerAddresses: [String: [String]] = [:]
        var out: [Directive] = []

        /// ``updateMetadata(_:now:)`` was given metadata too large to gossip. Remove labels, rigs or
        /// runtimes, or raise `Settings.maxMetadataBytes` (keeping it well under the 64 KiB frame).
        /// Sendable: plain value.
        public struct MetadataTooLarge: Error, Hashable, Sendable, CustomStringConvertible {
            /// The encoded size of the refused metadata.
            public var bytes: Int
            /// The limit.
            public var limit: Int

            public var description: String {
                "node metadata encodes to \(bytes) bytes, over the limit of \(limit): remove labels, rigs or runtimes"
            }
        }

        /// The life cycle of an instance.
        public enum Phase: Sendable, Hashable {
            /// Made, not joined yet.
            case idle
            /// Joined (possibly alone, retrying seeds).
            case running
            /// Left gracefully; every further event is ignored.
            case left
        }

        /// Makes an instance for `myself` with a seeded random generator. A restarted node may start at
        /// incarnation 0: when it learns others hold a higher one for it, it refutes with one above that.
        public init(
            myself: Node, metadata: Metadata = Metadata(), seed: UInt64, settings: Settings = Settings(),
            incarnation: Incarnation = 0
        ) {
            self.myself = myself
            self.settings = settings
            self.incarnation = incarnation
            var md = metadata
            md.version = max(1, md.version)
            self.metadata = md
            self.rng = Random(seed: seed)
            records[myself.name] = Record(
                member: Member(node: myself, incarnation: incarnation, status: .alive, metadata: md), since: 0)
        }

        // MARK: Reading the view

        /// Every known member, ourselves included, sorted by name.
        public var members: [Member] { records.values.map(\.member).sorted { $0.name < $1.name } }

        /// The member with this name, if known.
        public func member(named name: String) -> Member? { records[name]?.member }

        /// Members that are alive or suspect, ourselves included.
        public var liveMemberCount: Int { records.values.reduce(0) { $0 + ($1.member.status.isLive ? 1 : 0) } }

        /// The earliest armed timer deadline, for shells that prefer one wake-up timer.
        public var nextDeadline: Instant? { timers.values.min().map(Instant.init(nanoseconds:)) }

        /// Gossip items waiting to be sent.
        public var pendingGossipCount: Int { broadcasts.count }

        // MARK: Commands

        /// Starts the protocol: sends a join push-pull to every seed address (retried every
        /// `reconnectInterval` while we know no one) and arms the periodic timers.
        public mutating func join(seeds: [String], now: Instant) -> [Directive] {
            guard phase == .idle else { return [] }
            phase = .running
            self.seeds = seeds.filter { $0 != myself.address }
            let t = now.nanoseconds
            enqueue(.alive(myself, incarnation: incarnation))
            enqueue(.metadata(name: myself.name, metadata))
            lastMetadataBroadcast = t
            for seed in self.seeds { sendPushPull(to: seed, name: nil, isResponse: false, isJoin: true) }
            arm(.probe, at: t + Int64(rng.unit() * Double(settings.probeInterval.nanoseconds)))
            arm(.gossip, at: t + settings.gossipInterval.nanoseconds)
            // Periodic work starts at a random phase, so members that started together do not act in step.
            arm(.pushPull, at: t + Int64((0.5 + rng.unit() / 2) * Double(settings.pushPullInterval.nanoseconds)))
            arm(.reconnect, at: t + Int64((0.5 + rng.unit() / 2) * Double(settings.reconnectInterval.nanoseconds)))
            arm(.reap, at: t + reapInterval)
            return flush()
        }

        /// Leaves gracefully: tells every live member directly that we left, then ignores all events.
        /// The shell should keep the connections open briefly (about one gossip interval) to deliver it.
        public mutating func leave(now: Instant) -> [Directive] {
            guard phase == .running else {
                phase = .left
                return []
            }
            let item = Gossip.left(name: myself.name, incarnation: incarnation)
            setRecord(myself.name, status: .left, incarnation: incarnation, address: nil, now: now.nanoseconds)
            for name in records.keys.sorted() where name != myself.name {
                guard let r = records[name], r.member.status.isLive else { continue }
                out.append(.send(.gossip(from: myself, gossip: [item]), to: r.member.node.address, name: r.member.name))
            }
            phase = .left
            timers.removeAll()
            timerOrder.removeAll()
            broadcasts.removeAll()
            return flush()
        }

        /// Publishes new metadata. Its version is set one above the current one; it is gossiped at once
        /// unless we gossiped our metadata less than `metadataMinInterval` ago, then when that has passed
        /// (only the latest value goes out). Throws, changing nothing, when the metadata encodes to more
        /// than `settings.maxMetadataBytes`.
        public mutating func updateMetadata(
            _ newValue: Metadata, now: Instant
        ) throws(MetadataTooLarge) -> [Directive] {
            let size = Gossip.metadata(name: myself.name, newValue).encodedSize
            guard size <= settings.maxMetadataBytes else {
                throw MetadataTooLarge(bytes: size, limit: settings.maxMetadataBytes)
            }
            var md = newValue
            md.version = metadata.version + 1
            metadata = md
            if var r = records[myself.name] {
                r.member.metadata = md
                records[myself.name] = r
                out.append(.memberChanged(r.member, previous: r.member.status))
            }
            guard phase == .running else { return flush() }
            publishMetadata(now: now.nanoseconds)
            return flush()
        }

        // MARK: Events

        /// Handles one message from a peer. When the shell knows the connection's authenticated peer name,
        /// it passes it as `authenticatedPeer`, and a message claiming another sender is dropped.
        public mutating func onMessage(
            _ message: Message, authenticatedPeer: String? = nil, now: Instant
        ) -> [Directive] {
            guard phase == .running else { return [] }
            if let peer = authenticatedPeer, peer != message.from.name { return [] }
            let message = withSenderAddress(message)
            let t = now.nanoseconds
            if case .pushPull = message {} else { syncIfUnknown(message.from) }
            switch message {
            case .ping(let seq, let from, let target, let gossip):
                merge(gossip, from: message.from, now: t)
                guard target == myself.name else { break }
                let reply = Message.ack(seq: seq, from: myself, gossip: piggyback(for: from.name, now: t))
                out.append(.send(reply, to: from.address, name: from.name))
            case .pingRequest(let seq, let from, let target, let wantsNack, let gossip):
                merge(gossip, from: message.from, now: t)
                relay(seq: seq, requester: from, target: target, wantsNack: wantsNack, now: t)
            case .ack(let seq, _, let gossip):
                merge(gossip, from: message.from, now: t)
                handleAck(seq: seq, now: t)
            case .nack(let seq, _):
                if probe?.seq == seq { probe?.nacks += 1 }
            case .gossip(_, let gossip):
                merge(gossip, from: message.from, now: t)
            case .pushPull(let from, let isResponse, let isJoin, let members):
                mergeState(members, from: from.name, now: t)
                if !isResponse {
                    sendPushPull(to: from.address, name: from.name, isResponse: true, isJoin: isJoin)
                }
            }
            return flush()
        }

        /// Handles the timer `id` firing at `now` (for example `.probeTimeout(seq:)`: the direct ack is
        /// late). Stale firings (already handled or cancelled) are ignored; an early firing only re-arms it.
        public mutating func onTimer(_ id: TimerID, now: Instant) -> [Directive] {
            guard phase == .running, let deadline = timers[id] else { return [] }
            // A timer that fired early (a coarse shell clock) is re-armed rather than lost.
            guard deadline <= now.nanoseconds else { return [.armTimer(id, at: Instant(nanoseconds: deadline))] }
            disarm(id)
            fire(id, now: now.nanoseconds)
            return flush()
        }

        /// The shell's connection to `name` was refused (nothing listens at its address any more: its
        /// process died and the kernel answers for it). That is evidence a probe timeout is not, so a live
        /// member is suspected at once, and the suspicion ends no later than `refusedSuspicionTimeout`
        /// after this (Lifeguard's confirmations from other members may end it sooner, a refutation cancels
        /// it). A member already suspected has its deadline moved up to that bound. Repeated refusals
        /// change nothing more; unknown, dead or left members and ourselves are ignored.
        public mutating func onConnectionRefused(name: String, now: Instant) -> [Directive] {
            guard phase == .running, name != myself.name, let r = records[name], r.member.status.isLive else {
                return []
            }
            let t = now.nanoseconds
            if r.member.status == .alive {
                handleSuspect(name: name, incarnation: r.member.incarnation, from: myself.name, now: t)
            }
            capSuspicion(name, at: t + settings.refusedSuspicionTimeout(members: liveMemberCount).nanoseconds, now: t)
            return flush()
        }

        /// The probe-timeout event by name: the same as `onTimer(.probeTimeout(seq: seq), now: now)`.
        public mutating func onProbeTimeout(seq: UInt32, now: Instant) -> [Directive] {
            onTimer(.probeTimeout(seq: seq), now: now)
        }

        /// Fires every timer due at `now`, earliest first. An alternative to arming timers one by one.
        public mutating func onTick(now: Instant) -> [Directive] {
            guard phase == .running else { return [] }
            let t = now.nanoseconds
            while phase == .running,
                let (id, _) = timers.filter({ $0.value <= t }).min(by: {
                    ($0.value, timerOrder[$0.key] ?? 0) < ($1.value, timerOrder[$1.key] ?? 0)
                })
            {
                disarm(id)
                fire(id, now: t)
            }
            return flush()
        }

        // MARK: Internals

        mutating func fire(_ id: TimerID, now t: Int64) {
            switch id {
            case .probe: probeRound(now: t)
            case .probeTimeout(let seq): probeTimedOut(seq: seq, now: t)
            case .relayNack(let seq): relayNackDue(seq: seq, now: t)
            case .suspicion(let name): suspicionDue(name: name, now: t)
            case .gossip: gossipRound(now: t)
            case .pushPull: pushPullRound(now: t)
            case .reconnect: reconnectRound(now: t)
            case .metadataBroadcast: publishMetadata(now: t)
            case .reap: reap(now: t)
            }
        }

        /// A message whose sender was left out on the wire (`Message.encode(for:)`) carries an empty
        /// address: take the one of our member list (still empty for a member we do not know: the shell
        /// then answers over the link the message came on).
        func withSenderAddress(_ message: Message) -> Message {
            guard message.from.address.isEmpty, let known = records[message.from.name]?.member.node.address else {
                return message
            }
            let from = Node(name: message.from.name, address: known)
            switch message {
            case .ping(let seq, _, let target, let gossip):
                return .ping(seq: seq, from: from, target: target, gossip: gossip)
            case .pingRequest(let seq, _, let target, let wantsNack, let gossip):
                return .pingRequest(seq: seq, from: from, target: target, wantsNack: wantsNack, gossip: gossip)
            case .ack(let seq, _, let gossip): return .ack(seq: seq, from: from, gossip: gossip)
            case .nack(let seq, _): return .nack(seq: seq, from: from)
            case .gossip(_, let gossip): return .gossip(from: from, gossip: gossip)
            case .pushPull(_, let isResponse, let isJoin, let members):
                return .pushPull(from: from, isResponse: isResponse, isJoin: isJoin, members: members)
            }
        }

        /// A message from a member we do not know (its join news missed us): exchange state with it once.
        mutating func syncIfUnknown(_ sender: Node) {
            guard sender.name != myself.name, records[sender.name] == nil, !syncRequested.contains(sender.name)
            else { return }
            if syncRequested.count > 1024 { syncRequested.removeAll() }
            syncRequested.insert(sender.name)
            sendPushPull(to: sender.address, name: sender.name, isResponse: false, isJoin: false)
        }

        mutating func arm(_ id: TimerID, at deadline: Int64) {
            timers[id] = deadline
            timerCounter += 1
            timerOrder[id] = timerCounter
            out.append(.armTimer(id, at: Instant(nanoseconds: deadline)))
        }

        mutating func disarm(_ id: TimerID) {
            timers[id] = nil
            timerOrder[id] = nil
        }

        mutating func flush() -> [Directive] {
            defer { out.removeAll(keepingCapacity: true) }
            return out
        }

        /// `d` stretched by the local health multiplier.
        func scaled(_ d: Duration) -> Int64 { d.nanoseconds * Int64(awareness + 1) }

        mutating func adjustAwareness(_ delta: Int) {
            awareness = min(max(0, awareness + delta), settings.awarenessMax - 1)
        }

        var reapInterval: Int64 { settings.reapInterval.nanoseconds }

        mutating func reap(now t: Int64) {
            arm(.reap, at: t + reapInterval)
            for name in records.keys.sorted() where name != myself.name {
                guard let r = records[name] else { continue }
                let limit: Duration
                switch r.member.status {
                case .dead: limit = settings.reconnectTimeout
                case .left: limit = settings.leftRetention
                default: continue
                }
                if t - r.since >= limit.nanoseconds {
                    records[name] = nil
                    disarm(.suspicion(name: name))
                    out.append(.memberRemoved(name: name))
                }
            }
        }
    }
}

extension Membership.Instance {
    /// One member's record: its public state, when its status last changed, and any running suspicion.
    struct Record: Sendable {
        var member: Membership.Member
        var since: Int64
        var suspicion: Suspicion?
    }

    /// A running suspicion (Lifeguard): the timeout shrinks from max to min as independent confirmations
    /// arrive.
    struct Suspicion: Sendable {
        var start: Int64
        var expected: Int
        var min: Duration
        var max: Duration
        var confirmers: Set<String>
        var confirmations: Int
        var deadline: Int64
        /// The latest deadline local evidence allows (a refused connection: `refusedSuspicionTimeout` after
        /// it); confirmations shrink the deadline but never move it past this.
        var cap: Int64 = .max
    }

    /// The probe in progress.
    struct Probe: Sendable {
        var seq: UInt32
        var target: String
        var acked = false
        var indirect = false
        var nacks = 0
        var expectedNacks = 0
    }

    /// A ping we send on someone else's behalf.
    struct Relay: Sendable {
        var requester: Membership.Node
        var requesterSeq: UInt32
        var wantsNack: Bool
        var expires: Int64
    }

    /// A gossip item waiting to be sent, with how often it was sent.
    struct Broadcast: Sendable {
        var item: Membership.Gossip
        var size: Int
        var transmits: Int
        var order: UInt64
    }
}
