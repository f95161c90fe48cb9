import Membership

/// A deterministic, single-process simulation of a membership cluster over a network that behaves like
/// TCP: per-connection FIFO delivery, delay spikes (a retransmit stalls every later message on that
/// connection), connection resets that drop what is in flight, partitions, paused processes (no timers,
/// messages queue up) and independent loss. Time is simulated; all randomness comes from the seed, so a
/// run is reproducible.
///
/// Not Sendable: a mutable simulation driven by one caller.
public struct MembershipSimulator {
    /// How the simulated network misbehaves. Sendable: plain value.
    public struct Network: Sendable, Hashable {
        /// One-way latency of an undisturbed message. Default 1 ms.
        public var baseLatency: Duration = .milliseconds(1)
        /// Extra random latency, uniform in [0, jitter). Default 1 ms.
        public var jitter: Duration = .milliseconds(1)
        /// Probability that a message is lost outright. Default 0.
        public var lossRate: Double = 0
        /// Probability that a message needs a retransmit and stalls its connection. Default 0.
        public var spikeRate: Double = 0
        /// Shortest stall. Default 200 ms.
        public var spikeMin: Duration = .milliseconds(200)
        /// Longest stall. Default 1 s.
        public var spikeMax: Duration = .seconds(1)
        /// Probability, per message sent, that its connection resets first, dropping everything in
        /// flight on it. Default 0.
        public var resetRate: Double = 0
        /// Round-trip every message through the binary codec and count bytes. Default false (faster).
        public var encodeMessages = false

        /// A perfect network with the defaults above.
        public init() {}
    }

    /// A member declared dead by another. Sendable: plain value.
    public struct DeathDeclaration: Sendable, Hashable {
        /// When, in simulated time.
        public var time: Membership.Instant
        /// Who declared it.
        public var observer: Int
        /// Who was declared dead.
        public var subject: Int
    }

    struct SimNode {
        var instance: Membership.Instance?
        var generation = 0
        var paused = false
        /// Crashed with its host still up: connections to it are refused (the kernel answers with RST).
        var refuses = false
        var backlog: [Event.Kind] = []
        var bytesSent = 0
        var messagesSent = 0
    }

    struct Event: Comparable {
        enum Kind {
            case deliver(from: Int, to: Int, Membership.Message?, [UInt8], epoch: UInt64, generation: Int)
            case timer(node: Int, Membership.TimerID, generation: Int)
            /// `node`'s connection to `peer` was refused.
            case refused(node: Int, peer: Int, generation: Int)
        }
        var time: Int64
        var seq: UInt64
        var kind: Kind
        static func < (a: Event, b: Event) -> Bool { (a.time, a.seq) < (b.time, b.seq) }
        static func == (a: Event, b: Event) -> Bool { a.time == b.time && a.seq == b.seq }
    }

    struct Connection {
        var lastDelivery: Int64 = 0
        var epoch: UInt64 = 0
    }

    /// The membership settings every node runs with.
    public let settings: Membership.Settings
    /// The network's behaviour; may be changed between runs.
    public var network: Network
    /// Every death declaration so far, in order.
    public internal(set) var deaths: [DeathDeclaration] = []
    /// How many times some member started suspecting another (refuted or not).
    public internal(set) var suspicions = 0
    /// Decode failures of codec round trips (must stay 0).
    public internal(set) var decodeFailures = 0

    var nodes: [SimNode]
    var heap = EventHeap()
    var seqCounter: UInt64 = 0
    var connections: [Int: Connection] = [:]
    var groups: [Int]
    var rng: Membership.Random
    var clock: Int64 = 0
    let seed: UInt64

    /// A simulation of `size` members (not started yet: see ``startAll(stagger:)``).
    public init(
        size: Int, seed: UInt64, settings: Membership.Settings = Membership.Settings(), network: Network = Network()
    ) {
        self.settings = settings
        self.network = network
        self.seed = seed
        self.rng = Membership.Random(seed: seed)
        self.nodes = Array(repeating: SimNode(), count: size)
        self.groups = Array(repeating: 0, count: size)
    }

    // MARK: Names

    /// The name of member `i`.
    public static func name(_ i: Int) -> String { "node-\(i)" }
    /// The address of member `i`.
    public static func address(_ i: Int) -> String { "sim:\(i)" }
    static func index(ofAddress a: String) -> Int? { a.hasPrefix("sim:") ? Int(a.dropFirst(4)) : nil }
    static func index(ofName n: String) -> Int? { n.hasPrefix("node-") ? Int(n.dropFirst(5)) : nil }

    /// The number of members, running or not.
    public var size: Int { nodes.count }
    /// The current simulated time.
    public var now: Membership.Instant { Membership.Instant(nanoseconds: clock) }

    // MARK: Controlling members

    /// Starts every member: member 0 first, then each other joining through member 0, `stagger` apart.
    public mutating func startAll(
        stagger: Duration = .milliseconds(10),
        metadata: (Int) -> Membership.Metadata = {
            _ in Membership.Metadata(freeSlots: 4)
        }
    ) {
        for i in 0..<size {
            start(i, seeds: i == 0 ? [] : [Self.address(0)], metadata: metadata(i))
            run(for: stagger)
        }
    }

    /// Starts (or restarts, with a fresh instance at incarnation 0) member `i`, joining through `seeds`.
    public mutating func start(_ i: Int, seeds: [String], metadata: Membership.Metadata = Membership.Metadata()) {
        nodes[i].generation += 1
        nodes[i].paused = false
        nodes[i].refuses = false
        nodes[i].backlog = []
        for j in 0..<size {
            resetConnection(i, j)
            resetConnection(j, i)
        }
        let node = Membership.Node(name: Self.name(i), address: Self.address(i))
        let instanceSeed = seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(i) &* 1_000_003 &+ UInt64(nodes[i].generation)
        nodes[i].instance = Membership.Instance(
            myself: node, metadata: metadata, seed: instanceSeed, settings: settings)
        let t = now
        let directives = nodes[i].instance!.join(seeds: seeds, now: t)
        apply(directives, at: i)
    }

    /// Crashes member `i` (kill -9): it stops at once, and what is in flight to it is lost. With
    /// `refusesConnections` its host stays up, so a member sending to it learns at once that its connection
    /// was refused (`Instance.onConnectionRefused`), as on a live host whose process died; without it (the
    /// default) messages to it vanish, as with a powered-off host or a cut cable.
    public mutating func crash(_ i: Int, refusesConnections: Bool = false) {
        nodes[i].refuses = refusesConnections
        nodes[i].instance = nil
        nodes[i].generation += 1
        nodes[i].backlog = []
        nodes[i].paused = false
    }

    /// Pauses member `i` (SIGSTOP): no timers fire, messages to it queue up.
    public mutating func pause(_ i: Int) { nodes[i].paused = true }

    /// Resumes member `i` (SIGCONT): what queued up is handled now, in order.
    public mutating func resume(_ i: Int) {
        nodes[i].paused = false
        let backlog = nodes[i].backlog
        nodes[i].backlog = []
        for kind in backlog { handle(kind) }
    }

    /// Member `i` leaves gracefully.
    public mutating func leave(_ i: Int) {
        let t = now
        guard let directives = nodes[i].instance?.leave(now: t) else { return }
        apply(directives, at: i)
    }

    /// Splits the network: members in different groups cannot reach each other (messages in flight
    /// between them are lost too). Members not listed form one more group.
    public mutating func partition(_ parts: [[Int]]) {
        groups = Array(repeating: parts.count, count: size)
        for (g, part) in parts.enumerated() { for i in part { groups[i] = g } }
    }

    /// Heals every partition.
    public mutating func heal() { groups = Array(repeating: 0, count: size) }

    /// Member `i` publishes new metadata.
    public mutating func updateMetadata(
        _ i: Int, _ metadata: Membership.Metadata
    ) throws(Membership.Instance.MetadataTooLarge) {
        let t = now
        guard let directives = try nodes[i].instance?.updateMetadata(metadata, now: t) else { return }
        apply(directives, at: i)
    }

    /// Delivers `message` to member `to` now, as if it came over the network (to inject false news).
    public mutating func inject(_ message: Membership.Message, to i: Int) {
        let t = now
        guard !nodes[i].paused, let directives = nodes[i].instance?.onMessage(message, now: t) else { return }
        apply(directives, at: i)
    }

    /// Tells member `i` that its connection to member `peer` was refused, whatever `peer`'s state (a
    /// listener restarting, say, to test that a live member refutes the suspicion this raises).
    public mutating func injectRefusal(at i: Int, about peer: Int) {
        let t = now
        guard !nodes[i].paused, let directives = nodes[i].instance?.onConnectionRefused(name: Self.name(peer), now: t)
        else { return }
        apply(directives, at: i)
    }

    // MARK: Observing

    /// Whether member `i` runs (started, not crashed; possibly paused).
    public func isRunning(_ i: Int) -> Bool { nodes[i].instance != nil }
    /// Whether member `i` is paused.
    public func isPaused(_ i: Int) -> Bool { nodes[i].paused }
    /// Member `i`'s instance (nil when crashed or never started).
    public func instance(_ i: Int) -> Membership.Instance? { nodes[i].instance }
    /// What member `observer` believes about member `subject`.
    public func view(of observer: Int, about subject: Int) -> Membership.Member? {
        nodes[observer].instance?.member(named: Self.name(subject))
    }
    /// Encoded bytes member `i` sent (counted only with `network.encodeMessages`).
    public func bytesSent(by i: Int) -> Int { nodes[i].bytesSent }
    /// Messages member `i` sent.
    public func messagesSent(by i: Int) -> Int { nodes[i].messagesSent }

    /// True when every running member sees every running member alive and every stopped member failed
    /// or left (or does not know it).
    public func converged() -> Bool {
        let running = (0..<size).filter { nodes[$0].instance != nil }
        for a in running {
            guard let inst = nodes[a].instance else { continue }
            for b in 0..<size where b != a {
                let m = inst.member(named: Self.name(b))
                if nodes[b].instance != nil {
                    guard m?.status == .alive else { return false }
                } else if let m, m.status.isLive {
                    return false
                }
            }
        }
        return true
    }

    // MARK: Running

    /// Runs the simulation for `duration` of simulated time.
    public mutating func run(for duration: Duration) {
        run(until: clock + duration.nanos)
    }

    /// Runs until `condition` holds (checked every `checkEvery`) or `timeout` passes; returns whether
    /// it held.
    public mutating func run(
        upTo timeout: Duration, checkEvery: Duration = .milliseconds(100), until condition: (Self) -> Bool
    ) -> Bool {
        let end = clock + timeout.nanos
        while clock < end {
            if condition(self) { return true }
            run(until: min(end, clock + checkEvery.nanos))
        }
        return condition(self)
    }

    mutating func run(until end: Int64) {
        while let top = heap.peek, top.time <= end {
            let event = heap.pop()!
            clock = max(clock, event.time)
            handle(event.kind)
        }
        clock = max(clock, end)
    }
}
