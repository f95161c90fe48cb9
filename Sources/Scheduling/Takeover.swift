/// When another node may take a bead over (DESIGN §3): only after the holder released it, or after membership has
/// reported the holder's node dead for the grace period, measured on the taker's own monotonic clock (a clock jump
/// on either side cannot shorten it). Taking over bumps the epoch, which fences the old holder out.
///
/// A caseless namespace of pure functions.
public enum Takeover {
    /// Settings, with documented defaults. `Sendable`: plain values.
    public struct Settings: Sendable, Hashable {
        /// How long the holder's node must have been reported dead before its beads are taken over. Default 3 min.
        public var grace: Duration = .seconds(180)
        public init() {}
    }

    /// What membership says about the node of a lease holder, with the monotonic instant (nanoseconds of the
    /// taker's clock) when it was first reported so.
    public enum NodeLiveness: Sendable, Hashable {
        /// Alive, or suspected but not yet declared dead.
        case alive
        /// Declared dead (failed) at `since`.
        case dead(since: Int64)
        /// Left the cluster gracefully at `since` (it handed its work back or was drained).
        case left(since: Int64)
        /// Not a member this node knows of (removed, or never seen).
        case unknown
    }

    /// The decision for one bead.
    public enum Decision: Sendable, Hashable {
        /// Nobody holds it: any placer may claim it.
        case free
        /// The holder's node is alive: leave it alone.
        case holderAlive
        /// The holder's node is dead but the grace period runs until `at` (monotonic nanoseconds).
        case waitUntil(at: Int64)
        /// The grace period is over (or the node left or is unknown and was last seen before): take it over.
        case takeOver
    }

    /// Decides for a bead whose lease is `lease`, its holder's node being `liveness`, at monotonic `now`.
    /// A node that left gracefully is treated like a dead one (its grace period counts from its leave): a drained
    /// node's polecats finish or hand their work back before it leaves, so anything still held is orphaned. An
    /// unknown node is waited for one grace period from `firstSeenUnknown` (when this node first found it unknown).
    public static func decide(
        lease: Lease, liveness: NodeLiveness, firstSeenUnknown: Int64? = nil, now: Int64, settings: Settings = Settings()
    ) -> Decision {
        if lease.isFree { return .free }
        let grace = nanoseconds(settings.grace)
        let since: Int64
        switch liveness {
        case .alive: return .holderAlive
        case .dead(let at), .left(let at): since = at
        case .unknown: since = firstSeenUnknown ?? now
        }
        let due = since &+ grace
        return now >= due ? .takeOver : .waitUntil(at: due)
    }

    /// `duration` in whole nanoseconds.
    public static func nanoseconds(_ duration: Duration) -> Int64 {
        let c = duration.components
        return c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
    }
}

/// Which live node places an orphaned bead (DESIGN §6): the node that slung it if it is alive, else the live node
/// ranked first by rendezvous hashing of (bead, node). Every node computes the same answer from the same member
/// list, so each orphaned bead has exactly one placer; when members change only the beads of the nodes that
/// changed move.
///
/// A caseless namespace of pure functions.
public enum Placer {
    /// The placer of `bead` among `live` nodes, preferring `slungBy` when it is among them. Nil when none is live.
    public static func owner(of bead: String, slungBy: String?, live: [String]) -> String? {
        if let slungBy, live.contains(slungBy) { return slungBy }
        return ranked(bead, among: live).first
    }

    /// `nodes` in rendezvous order for `key` (highest weight first; ties by name).
    public static func ranked(_ key: String, among nodes: [String]) -> [String] {
        nodes.map { ($0, weight(key, $0)) }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.map(\.0)
    }

    /// A stable 64-bit weight of (key, node): FNV-1a over both, finished with a SplitMix64 mix. Stable across
    /// processes and versions (Swift's `Hasher` is seeded per process and must not be used here).
    public static func weight(_ key: String, _ node: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        h = (h ^ 0xFF) &* 0x0000_0100_0000_01B3
        for byte in node.utf8 {
            h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        var z = h &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The taker's record of which members are dead and since when (DESIGN §3, §6), with the majority rule that keeps
/// a cut-off node from taking over the rest of the cluster's work.
///
/// A node sees a majority when more than half of the members it counts (every member but those that left
/// gracefully, itself included) are alive or suspect; a cluster of one or two counted members always does (there a
/// cut-off node cannot be told from a dead one, and the ledger remote's compare-and-swap decides between the two
/// sides). While a node does not see a majority, its own view is the suspect one (it is more likely cut off than
/// the others dead), so the clocks of the dead members are held at the present: their grace period starts again
/// only once a majority is back in view. A node that was cut off therefore cannot take over work just after a heal,
/// before membership has shown it the rest alive again, on the strength of deaths it observed while alone.
///
/// A value with no I/O and no clock: `observe` takes the member view and the monotonic instant.
public struct DeathWatch: Sendable, Hashable {
    /// A member as the membership view reports it.
    public enum Status: Sendable, Hashable {
        case alive, dead, left
    }

    /// What an observation changed, for the shell to log.
    public enum Change: Sendable, Hashable {
        /// The node lost sight of a majority: `live` of `counted` members alive.
        case majorityLost(live: Int, counted: Int)
        /// A majority is in view again: dead members' grace periods start now.
        case majorityRegained(live: Int, counted: Int)
    }

    /// When each dead or left member was first seen so (monotonic nanoseconds), while a majority was in view.
    public private(set) var deadSince: [String: Int64] = [:]
    /// Whether the last observation saw a majority.
    public private(set) var seesMajority = true

    public init() {}

    /// The majority rule alone: `live` alive members (ourselves included) among `counted`.
    public static func isMajority(live: Int, counted: Int) -> Bool {
        counted <= 2 || live * 2 > counted
    }

    /// Takes in the current member view at monotonic `now`; returns the change of majority, if any.
    @discardableResult
    public mutating func observe(_ members: [String: Status], now: Int64) -> Change? {
        let counted = members.values.filter { $0 != .left }.count
        let live = members.values.filter { $0 == .alive }.count
        let majority = Self.isMajority(live: live, counted: counted)
        // A death counts from when it was first seen with a majority in view: from now, unless this observation
        // and the one before both saw a majority.
        let keep = majority && seesMajority
        var next: [String: Int64] = [:]
        for (name, status) in members where status != .alive {
            next[name] = keep ? (deadSince[name] ?? now) : now
        }
        deadSince = next
        defer { seesMajority = majority }
        if majority == seesMajority { return nil }
        return majority ? .majorityRegained(live: live, counted: counted) : .majorityLost(live: live, counted: counted)
    }
}
