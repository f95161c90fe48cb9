/// A cluster-wide singleton held as a lease (DESIGN §3, §7): the Refinery of a rig runs on exactly one node, the
/// one whose name the rig's lease record holds. The record lives in the ledger, so every node sees it after a sync.
///
/// `Sendable`: a plain value.
public struct ServiceLease: Sendable, Hashable, Codable {
    /// Holder (the service name), node and fencing epoch.
    public var lease: Lease
    /// Raised by one at every renewal by the holder. Another node sees the record alive while it changes.
    public var renewal: Int

    public init(lease: Lease, renewal: Int = 0) {
        self.lease = lease
        self.renewal = renewal
    }
}

/// One node's view of one singleton's lease, as a state machine (no I/O, no clock: the shell passes monotonic
/// nanoseconds). The shell reads the lease record after every ledger sync or on its patrol tick and calls
/// ``onRead(_:now:)``; it writes what `.write` asks (a whole record, last writer wins in the ledger merge), starts the
/// service under `.start(epoch)` and stops it at `.stop`.
///
/// Rules:
/// - a free record (none, or released) is claimed at the next epoch;
/// - a record held by this node's earlier life (the node restarted: a crash, `kill -9`, `gt down`/`gt up`) is
///   claimed again at the next epoch, which fences out anything the earlier life still had in flight;
/// - a record held by this node's current life is renewed every `renewEvery`, and the service runs under its epoch;
/// - a record held by another node is left alone while it changes; once it has not changed for `grace` on this
///   node's monotonic clock (`Takeover.decide`, the holder's node counted dead since the last change seen), it is
///   taken over at the next epoch. A clock jump on either side cannot shorten the wait, and a node that just
///   started waits a whole grace period before taking over a stale record;
/// - when a read shows another node holding the record while this node runs the service (two nodes claimed at
///   once and the ledger merge kept the other's write), the service stops.
///
/// Two nodes claiming at once may both run the service until the next sync shows them the same record; the
/// Refinery's side effects are fenced anyway (compare-and-swap pushes, `landing` records written before a push).
///
/// `Sendable`: a plain value owned by one caller.
public struct ServiceClaim: Sendable {
    /// Timing, with documented defaults. `Sendable`: plain values.
    public struct Settings: Sendable, Hashable {
        /// How often the holder renews. Default 20 s.
        public var renewEvery: Duration = .seconds(20)
        /// How long a record must stay unchanged before another node takes it over. Default 90 s (at least three
        /// renewals, each of which syncs to every node within a few seconds).
        public var grace: Duration = .seconds(90)
        public init() {}
        public init(renewEvery: Duration, grace: Duration) {
            self.renewEvery = renewEvery
            self.grace = grace
        }
    }

    /// What the shell does.
    public enum Directive: Sendable, Hashable {
        /// Write this record to the ledger (a claim, a renewal, or a release).
        case write(ServiceLease)
        /// Run the service under `epoch`.
        case start(epoch: Int)
        /// Stop the service (the lease moved to another node).
        case stop
    }

    /// The service's holder name in the lease (`refinery`).
    public let service: String
    /// This node's name.
    public let node: String
    public let settings: Settings
    /// The epoch this node's current life runs the service under, when it does.
    public private(set) var runningEpoch: Int?
    /// Epochs this node's current life wrote as claims (a record at one of them is this life's).
    private var claimed: Set<Int> = []
    private var observed: ServiceLease?
    private var observedAt: Int64 = 0
    private var lastWrite: Int64 = 0

    public init(service: String, node: String, settings: Settings = Settings()) {
        self.service = service
        self.node = node
        self.settings = settings
    }

    /// Whether this node's current life holds the lease at `epoch` as last read.
    public func holds(epoch: Int) -> Bool { runningEpoch == epoch }

    /// A read of the record (nil: none yet) at monotonic `now`.
    public mutating func onRead(_ record: ServiceLease?, now: Int64) -> [Directive] {
        if record != observed || observed == nil {
            observed = record
            observedAt = now
        }
        guard let record, !record.lease.isFree else { return claim(after: record?.lease.epoch ?? 0, now: now) }
        let lease = record.lease
        if lease.node == node {
            guard claimed.contains(lease.epoch) else {
                // This node's earlier life: claim again, fencing out what it left in flight.
                return stopIfRunning() + claim(after: lease.epoch, now: now)
            }
            var directives: [Directive] = []
            if runningEpoch != lease.epoch {
                runningEpoch = lease.epoch
                directives.append(.start(epoch: lease.epoch))
            }
            if now - lastWrite >= Takeover.nanoseconds(settings.renewEvery) {
                lastWrite = now
                directives.append(.write(ServiceLease(lease: lease, renewal: record.renewal + 1)))
            }
            return directives
        }
        let stop = stopIfRunning()
        var takeover = Takeover.Settings()
        takeover.grace = settings.grace
        switch Takeover.decide(lease: lease, liveness: .dead(since: observedAt), now: now, settings: takeover) {
        case .takeOver, .free: return stop + claim(after: lease.epoch, now: now)
        case .holderAlive, .waitUntil: return stop
        }
    }

    /// The record to write when this node stops gracefully: released (free at the same epoch), so another node
    /// takes over at once. Nil when this node does not hold it.
    public mutating func release() -> ServiceLease? {
        guard let epoch = runningEpoch, let observed, observed.lease.node == node, observed.lease.epoch == epoch else {
            runningEpoch = nil
            return nil
        }
        runningEpoch = nil
        return ServiceLease(lease: Lease(holder: "", node: "", epoch: epoch), renewal: observed.renewal + 1)
    }

    private mutating func stopIfRunning() -> [Directive] {
        guard runningEpoch != nil else { return [] }
        runningEpoch = nil
        return [.stop]
    }

    private mutating func claim(after epoch: Int, now: Int64) -> [Directive] {
        let next = epoch + 1
        claimed.insert(next)
        lastWrite = now
        return [.write(ServiceLease(lease: Lease(holder: service, node: node, epoch: next)))]
    }
}
