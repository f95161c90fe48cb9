extension Membership {
    /// What a node publishes about itself for the scheduler: capacity, load, labels, rigs, runtimes.
    ///
    /// Each node owns its metadata and stamps it with ``version``; ``Instance/updateMetadata(_:now:)``
    /// raises the version on every change, and a receiver keeps the highest version it has seen. A
    /// restarted node that learns of its own older metadata with a version at or above its own raises its
    /// version past it (like incarnation refutation), so its fresh metadata wins. Sendable: plain value.
    public struct Metadata: Hashable, Sendable {
        /// Version of this metadata; higher wins. Set by the instance, not the caller.
        public var version: UInt64
        /// Free agent (polecat) slots.
        public var freeSlots: UInt32
        /// Agents running now.
        public var runningAgents: UInt32
        /// One-minute load average, in thousandths (1.5 → 1500), so it encodes exactly.
        public var loadAverageMilli: UInt32
        /// Free memory, bytes.
        public var freeMemoryBytes: UInt64
        /// Placement labels.
        public var labels: Labels
        /// Names of the rigs this node has checked out.
        public var rigs: [String]
        /// Names of the agent runtimes available here (claude, codex, exec, ...).
        public var runtimes: [String]
        /// The node's software version.
        public var softwareVersion: String
        /// True while the node takes no new work.
        public var draining: Bool
        /// Slots reserved for beads the Mayor admitted whose sessions have not started yet (docs/scheduling.md).
        /// Placement counts a node's free capacity as `freeSlots` (the Mayor publishes it net of running and
        /// reserved agents) and its total as `freeSlots + runningAgents + reservedSlots`. Encoded only by codec
        /// version 3; a message whose metadata all have 0 here is written as version 2, byte for byte as before.
        public var reservedSlots: UInt32

        /// Makes metadata; every field has an empty default.
        public init(
            version: UInt64 = 0, freeSlots: UInt32 = 0, runningAgents: UInt32 = 0, loadAverageMilli: UInt32 = 0,
            freeMemoryBytes: UInt64 = 0, labels: Labels = Labels(), rigs: [String] = [], runtimes: [String] = [],
            softwareVersion: String = "", draining: Bool = false, reservedSlots: UInt32 = 0
        ) {
            self.version = version
            self.freeSlots = freeSlots
            self.runningAgents = runningAgents
            self.loadAverageMilli = loadAverageMilli
            self.freeMemoryBytes = freeMemoryBytes
            self.labels = labels
            self.rigs = rigs
            self.runtimes = runtimes
            self.softwareVersion = softwareVersion
            self.draining = draining
            self.reservedSlots = reservedSlots
        }

        /// The load average as a floating-point number.
        public var loadAverage: Double {
            get { Double(loadAverageMilli) / 1000 }
            set { loadAverageMilli = UInt32(clamping: Int((max(0, newValue) * 1000).rounded())) }
        }

        /// True when everything but the version is equal.
        public func sameContent(as other: Metadata) -> Bool {
            var a = self
            a.version = other.version
            return a == other
        }
    }

    /// Placement labels of a node. Sendable: plain value.
    public struct Labels: Hashable, Sendable {
        /// Organization (cluster owner).
        public var org: String?
        /// Region or site.
        public var region: String?
        /// Operating system, e.g. `linux`.
        public var os: String?
        /// GPU model, if any.
        public var gpu: String?
        /// Any other labels.
        public var custom: [String: String]

        /// Makes labels; all empty by default.
        public init(
            org: String? = nil, region: String? = nil, os: String? = nil, gpu: String? = nil,
            custom: [String: String] = [:]
        ) {
            self.org = org
            self.region = region
            self.os = os
            self.gpu = gpu
            self.custom = custom
        }
    }
}
