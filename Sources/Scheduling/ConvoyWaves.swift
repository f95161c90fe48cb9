/// The wave planner of `gt convoy launch` (Gas Town's epic autopilot, across nodes): given a convoy's tracked beads
/// with their open blockers and failure counts, which beads to sling now within the free capacity, which to set
/// aside (failed `maxFailures` times, so they stop holding up the rest), and why the others wait. Called again after
/// every change (a blocker closed, a slot freed), it yields the next wave. No I/O, no clock.
///
/// A caseless namespace.
public enum ConvoyWaves {
    /// Where one tracked bead is. `Sendable`: a plain value.
    public enum Phase: String, Sendable, Hashable, Codable {
        /// Open and nobody holds it: slung once its blockers close.
        case pending
        /// Slung: a polecat works on it, or its merge request is in the Refinery (rework included).
        case inFlight = "in_flight"
        /// Closed: nothing more to do for it.
        case done
        /// Set aside by an earlier plan: never slung by the convoy again.
        case setAside = "set_aside"
    }

    /// One tracked bead as the planner sees it. `Sendable`: a plain value.
    public struct Item: Sendable, Hashable {
        public var id: String
        /// The rig it is slung to (capacity is counted per rig).
        public var rig: String
        public var phase: Phase
        /// IDs of the beads that block it and are not closed yet (tracked or not).
        public var openBlockers: [String]
        /// How many times it failed (slings that failed, merge requests sent back).
        public var failures: Int
        /// 0 (critical) … 4 (backlog): lower goes first within a wave.
        public var priority: Int

        public init(
            id: String, rig: String, phase: Phase, openBlockers: [String] = [], failures: Int = 0, priority: Int = 2
        ) {
            self.id = id
            self.rig = rig
            self.phase = phase
            self.openBlockers = openBlockers
            self.failures = failures
            self.priority = priority
        }
    }

    /// A bead set aside now, with the message saying so. `Sendable`: a plain value.
    public struct SetAside: Sendable, Hashable, Codable {
        public var id: String
        public var message: String

        public init(id: String, message: String) {
            self.id = id
            self.message = message
        }
    }

    /// A bead that waits, and on what. `Sendable`: a plain value.
    public struct Waiting: Sendable, Hashable, Codable {
        public var id: String
        /// The open blockers it waits for (empty when it waits for capacity).
        public var blockers: [String]
        /// Why, in words.
        public var reason: String

        public init(id: String, blockers: [String], reason: String) {
            self.id = id
            self.blockers = blockers
            self.reason = reason
        }
    }

    /// One plan. `Sendable`: a plain value.
    public struct Plan: Sendable, Hashable {
        /// Beads to sling now, in order.
        public var sling: [String] = []
        /// Beads set aside by this plan (failed too often).
        public var setAside: [SetAside] = []
        /// Beads that wait for blockers or for capacity.
        public var waiting: [Waiting] = []
        /// Every bead is done or set aside: the launch has nothing more to do.
        public var finished = false
        /// Nothing is in flight, nothing can be slung, and beads still wait on blockers that will never close by
        /// the convoy's hand (set aside, or blocked outside the convoy with nobody on them).
        public var stuck = false
    }

    /// Plans the next wave. `capacity` is the free slots per rig (a rig missing from it has none); `total`, when
    /// given, caps the whole wave (the cluster's free slots). A bead with `failures >= maxFailures` that is not done
    /// is set aside; a pending bead with no open blocker is slung, lowest priority value first (then input order),
    /// while its rig and the total have room.
    public static func plan(_ items: [Item], capacity: [String: Int], total: Int? = nil, maxFailures: Int = 3) -> Plan {
        var plan = Plan()
        var free = capacity
        var left = total ?? Int.max
        var setAsideIDs = Set(items.filter { $0.phase == .setAside }.map(\.id))
        for item in items where item.phase != .done && item.phase != .setAside && item.failures >= maxFailures {
            setAsideIDs.insert(item.id)
            plan.setAside.append(
                SetAside(
                    id: item.id,
                    message: "\(item.id) failed \(item.failures) times (the limit is \(maxFailures)); set aside so the "
                        + "rest of the convoy goes on: see 'bd show \(item.id)', fix it, then sling it by hand with "
                        + "'gt sling \(item.id)'"))
        }
        let candidates = items.enumerated().filter {
            $0.element.phase == .pending && !setAsideIDs.contains($0.element.id)
        }
        .sorted { ($0.element.priority, $0.offset) < ($1.element.priority, $1.offset) }.map(\.element)
        for item in candidates {
            if !item.openBlockers.isEmpty {
                let asideBlockers = item.openBlockers.filter(setAsideIDs.contains)
                plan.waiting.append(
                    Waiting(
                        id: item.id, blockers: item.openBlockers,
                        reason: asideBlockers.isEmpty
                            ? "waits for \(item.openBlockers.joined(separator: ", ")) to close"
                            : "waits for \(asideBlockers.joined(separator: ", ")), which was set aside"))
                continue
            }
            if item.rig.isEmpty {
                plan.waiting.append(
                    Waiting(
                        id: item.id, blockers: [],
                        reason: "belongs to no rig: sling it by hand with 'gt sling \(item.id) <rig>'"))
                continue
            }
            let room = free[item.rig] ?? 0
            guard room > 0, left > 0 else {
                plan.waiting.append(
                    Waiting(
                        id: item.id, blockers: [],
                        reason: left > 0 ? "rig \(item.rig) has no free polecat slot" : "the cluster has no free slot"))
                continue
            }
            free[item.rig] = room - 1
            left -= 1
            plan.sling.append(item.id)
        }
        let inFlight = items.contains { $0.phase == .inFlight && !setAsideIDs.contains($0.id) }
        plan.finished = items.allSatisfy { $0.phase == .done || setAsideIDs.contains($0.id) }
        plan.stuck =
            !plan.finished && !inFlight && plan.sling.isEmpty && plan.waiting.allSatisfy { !$0.blockers.isEmpty }
        return plan
    }
}
