/// SWIM + Lifeguard gossip membership as a pure state machine.
///
/// `Membership` is a namespace. The protocol lives in ``Membership/Instance``: a value type that does no
/// I/O, reads no clock and draws randomness only from the seeded generator it owns. A shell (an actor in
/// the `Node` module) owns one instance, feeds it events with the current monotonic time and carries out
/// the ``Membership/Directive``s it returns. See docs/membership.md.
public enum Membership {
    /// A member's incarnation number: only the member itself raises it, to refute suspicion.
    public typealias Incarnation = UInt64

    /// A node as membership knows it: its unique name (the TLS certificate name) and where to reach it.
    ///
    /// Sendable: plain value.
    public struct Node: Hashable, Sendable, CustomStringConvertible {
        /// The node's name; unique in the cluster.
        public var name: String
        /// Where the node's membership listener is reached, `host:port` for the shell's transport.
        public var address: String

        /// Makes a node from its name and address.
        public init(name: String, address: String) {
            self.name = name
            self.address = address
        }

        public var description: String { "\(name)@\(address)" }
    }

    /// The liveness status of a member, as one node sees it.
    ///
    /// For one incarnation the order is alive < suspect < dead; `left` is a graceful exit and final for
    /// that incarnation. Sendable: plain enum.
    public enum Status: UInt8, Sendable, CaseIterable, CustomStringConvertible {
        /// Answering probes (or not yet suspected).
        case alive = 0
        /// Failed a probe; will be declared dead when its suspicion timeout runs out unless it refutes.
        case suspect = 1
        /// Declared failed.
        case dead = 2
        /// Left gracefully.
        case left = 3

        public var description: String {
            switch self {
            case .alive: "alive"
            case .suspect: "suspect"
            case .dead: "failed"
            case .left: "left"
            }
        }

        /// True for alive and suspect: the member still counts as part of the cluster.
        public var isLive: Bool { self == .alive || self == .suspect }
    }

    /// One member's state as one node sees it: identity, incarnation, status and metadata.
    ///
    /// Sendable: plain value.
    public struct Member: Hashable, Sendable {
        /// Name and address.
        public var node: Node
        /// The incarnation this state is about.
        public var incarnation: Incarnation
        /// Liveness status.
        public var status: Status
        /// The latest metadata known for this member (version 0 = none received yet).
        public var metadata: Metadata

        /// Makes a member state.
        public init(node: Node, incarnation: Incarnation, status: Status, metadata: Metadata) {
            self.node = node
            self.incarnation = incarnation
            self.status = status
            self.metadata = metadata
        }

        /// The member's name.
        public var name: String { node.name }
    }

    /// A point on the shell's monotonic clock, in nanoseconds from an arbitrary origin.
    ///
    /// The instance never reads a clock; every event carries one of these. Sendable: plain value.
    public struct Instant: Hashable, Comparable, Sendable, CustomStringConvertible {
        /// Nanoseconds since the shell's (arbitrary) origin.
        public var nanoseconds: Int64

        /// Makes an instant from nanoseconds since the origin.
        public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

        /// The origin.
        public static let zero = Instant(nanoseconds: 0)

        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

        /// The instant `duration` later.
        public static func + (lhs: Instant, rhs: Duration) -> Instant {
            Instant(nanoseconds: lhs.nanoseconds &+ rhs.nanoseconds)
        }

        /// The time from `rhs` to `lhs`.
        public static func - (lhs: Instant, rhs: Instant) -> Duration {
            .nanoseconds(lhs.nanoseconds - rhs.nanoseconds)
        }

        /// Seconds since the origin, for logs and reports.
        public var seconds: Double { Double(nanoseconds) / 1e9 }

        public var description: String { "\(seconds)s" }
    }
}

extension Duration {
    /// The duration in whole nanoseconds (saturating).
    var nanoseconds: Int64 {
        let (s, a) = components
        let (ns, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return s < 0 ? .min : .max }
        return ns &+ a / 1_000_000_000
    }
}
