import Dispatch
import Foundation
import Membership
import Transport
import Wire

/// A change in the cluster's membership, as published by ``MembershipShell/events()``.
///
/// Sendable: plain value.
public enum MembershipEvent: Sendable, Hashable {
    /// A member's status, incarnation, address or metadata changed; `previous` is its status before (nil
    /// for a member learned now, and for the snapshot every new subscriber gets first).
    case changed(Membership.Member, previous: Membership.Status?)
    /// A failed or left member was forgotten after its retention.
    case removed(name: String)
    /// Two live processes hold the identity `name` (this node's or a member's), seen at `addresses` (see
    /// `Membership.Directive.identityConflict`).
    case duplicateIdentity(name: String, addresses: [String], incarnation: Membership.Incarnation)
}

/// The actor shell of SWIM membership: owns one `Membership.Instance`, feeds it events, carries out its
/// directives over the mTLS transport, and publishes membership changes to the rest of the node.
///
/// - Messages arrive through ``receive(_:from:)`` with the TLS-authenticated peer name (the node's inbound
///   handler calls it for every ``Wire/MessageType/membership`` envelope; see ``handle(_:)``).
/// - Each `send` directive becomes one frame on the peer's dedicated membership link (``MembershipLinks``).
/// - Timers: one `DispatchSourceTimer` set to the instance's earliest deadline (or the next host-metrics
///   read); when it fires, `onTick(now:)` fires everything due. The clock is monotonic
///   (`DispatchTime.now().uptimeNanoseconds`).
/// - ``events()`` gives each subscriber an `AsyncStream` of ``MembershipEvent``s, starting with a
///   snapshot of every known member.
/// - The shell collects the host's load average and free memory itself (``HostMetrics``) and merges them
///   into the metadata; other fields come from ``updateMetadata(_:)`` and ``setDraining(_:)``.
///
/// An actor: the instance and the subscriber table are isolated to it.
public actor MembershipShell {
    /// This node as membership knows it (its certificate name and reachable `host:port`).
    public nonisolated let myself: Membership.Node
    /// The shell's settings.
    public nonisolated let settings: MembershipShellSettings
    /// The links it sends on (and whose counters it reports).
    public nonisolated let links: MembershipLinks

    private var instance: Membership.Instance
    private let readsHostMetrics: Bool
    private let timerQueue = DispatchQueue(label: "membership-shell-timer")
    private var timer: DispatchSourceTimer?
    private var scheduled: Int64?
    private var nextHostRead: Int64?
    private var lastPublishedHost: HostMetrics?
    private var subscribers: [UInt64: AsyncStream<MembershipEvent>.Continuation] = [:]
    private var nextSubscriber: UInt64 = 0
    private var started = false
    private var seeds: [String] = []
    private var nextSeedRetry: Int64?
    private var seedRetryDelay: Duration = .zero
    private var stopped = false

    /// Makes a shell for `myself` with initial `metadata` (its version is managed by the instance).
    /// - Parameters:
    ///   - seed: the instance's random seed (random by default).
    ///   - readsHostMetrics: read `/proc/loadavg` and `/proc/meminfo` into the metadata (default true).
    public init(
        myself: Membership.Node, metadata: Membership.Metadata = Membership.Metadata(), links: MembershipLinks,
        settings: MembershipShellSettings = MembershipShellSettings(), seed: UInt64 = .random(in: .min ... .max),
        readsHostMetrics: Bool = true
    ) {
        self.myself = myself
        self.settings = settings
        self.links = links
        self.readsHostMetrics = readsHostMetrics
        instance = Membership.Instance(
            myself: myself, metadata: metadata, seed: seed, settings: settings.protocolSettings)
    }

    /// The shell's monotonic clock, nanoseconds.
    static func clock() -> Int64 { Int64(clamping: DispatchTime.now().uptimeNanoseconds) }

    private var now: Membership.Instant { Membership.Instant(nanoseconds: Self.clock()) }

    // MARK: Life cycle

    /// Starts the protocol and joins through `seeds` (`host:port` addresses; may be empty for the first
    /// node). Returns at once; the join completes as the seeds answer.
    public func start(seeds: [String]) {
        guard !started, !stopped else { return }
        started = true
        let timer = DispatchSource.makeTimerSource(queue: timerQueue)
        timer.setEventHandler { [weak self] in
            Task { await self?.tick() }
        }
        timer.resume()
        self.timer = timer
        if readsHostMetrics { refreshHostMetrics(at: Self.clock(), force: true) }
        self.seeds = seeds.filter { $0 != myself.address }
        if !self.seeds.isEmpty {
            seedRetryDelay = settings.seedRetryBaseDelay
            nextSeedRetry = Self.clock() + seedRetryDelay.shellNanoseconds
        }
        carryOut(instance.join(seeds: seeds, now: now))
    }

    /// Leaves gracefully: tells every live member directly, waits (at most `leaveFlushTimeout`) for those
    /// messages to be written, then stops.
    public func leave() async {
        guard started, !stopped else { return }
        carryOut(instance.leave(now: now))
        await links.flush(timeout: settings.leaveFlushTimeout)
        stop()
    }

    /// Stops at once without telling anyone (others will find this node failed): cancels the timer, drops
    /// queued messages and ends every event stream.
    public func stop() {
        guard !stopped else { return }
        stopped = true
        timer?.cancel()
        timer = nil
        links.close()
        for continuation in subscribers.values { continuation.finish() }
        subscribers = [:]
    }

    // MARK: Inputs

    /// Handles `message` if it is a membership message (returns true); for the node's inbound handler.
    public nonisolated func handle(_ message: InboundMessage) async -> Bool {
        guard message.envelope.type == .membership else { return false }
        await receive(message.envelope.body, from: message.peer.name, version: message.envelope.version)
        return true
    }

    /// Feeds one membership message received from the authenticated peer `peer`. Undecodable bytes are
    /// counted and dropped; a message naming another sender than `peer` is dropped by the instance.
    /// `version` is the envelope's protocol version (for the traffic counters).
    public func receive(_ body: [UInt8], from peer: NodeName, version: UInt16 = ProtocolVersion.current) {
        guard started, !stopped else { return }
        let message: Membership.Message
        do {
            message = try Membership.Message.decode(
                body, limits: settings.protocolSettings.codecLimits, sender: peer.rawValue, receiver: myself.name)
        } catch {
            links.countReceived(bytes: body.count, decoded: false, version: version)
            return
        }
        links.countReceived(bytes: body.count, decoded: true, version: version)
        carryOut(instance.onMessage(message, authenticatedPeer: peer.rawValue, now: now))
    }

    /// The transport's dial to `peer` was refused (nothing listens at its address: its process died on a
    /// host that is up). Evidence for the instance (`onConnectionRefused`): suspect at once, dead sooner.
    public func connectionRefused(_ peer: NodeName) {
        guard started, !stopped else { return }
        carryOut(instance.onConnectionRefused(name: peer.rawValue, now: now))
    }

    /// `gt node remove`: takes the member `name` as left (``Membership/Instance/forceLeave(name:now:)``) and
    /// gossips it; returns the member as it is now (nil when unknown).
    @discardableResult
    public func forceLeave(_ name: String) -> Membership.Member? {
        guard started, !stopped else { return instance.member(named: name) }
        carryOut(instance.forceLeave(name: name, now: now))
        return instance.member(named: name)
    }

    /// Changes this node's metadata (slots, agents, labels, rigs, runtimes, version…) and gossips it. The
    /// version is managed by the instance; load average and free memory are refreshed by the shell.
    public func updateMetadata(
        _ change: @Sendable (inout Membership.Metadata) -> Void
    ) throws(Membership.Instance.MetadataTooLarge) {
        var metadata = instance.metadata
        change(&metadata)
        guard !metadata.sameContent(as: instance.metadata) else { return }
        carryOut(try instance.updateMetadata(metadata, now: now))
    }

    /// Sets or clears the draining flag (the node takes no new work while draining).
    public func setDraining(_ draining: Bool) throws(Membership.Instance.MetadataTooLarge) {
        try updateMetadata { $0.draining = draining }
    }

    // MARK: Outputs

    /// A stream of membership changes: first a snapshot (`.changed(member, previous: nil)` for every known
    /// member, ourselves included), then every change as it happens. Ends when the shell stops. Each call
    /// makes a new, independent stream; a slow reader loses the oldest events past `eventBufferLimit`.
    public func events() -> AsyncStream<MembershipEvent> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: MembershipEvent.self, bufferingPolicy: .bufferingNewest(settings.eventBufferLimit))
        for member in instance.members { continuation.yield(.changed(member, previous: nil)) }
        guard !stopped else {
            continuation.finish()
            return stream
        }
        let id = nextSubscriber
        nextSubscriber += 1
        subscribers[id] = continuation
        continuation.onTermination = { [weak self] _ in
            Task { await self?.unsubscribe(id) }
        }
        return stream
    }

    /// Every known member, ourselves included, sorted by name.
    public var members: [Membership.Member] { instance.members }

    /// The member with this name, if known.
    public func member(named name: String) -> Membership.Member? { instance.member(named: name) }

    /// This node's own member record (status `left` after leaving).
    public var ownMember: Membership.Member {
        instance.member(named: myself.name)
            ?? Membership.Member(
                node: myself, incarnation: instance.incarnation, status: .left, metadata: instance.metadata)
    }

    /// Our own incarnation.
    public var incarnation: Membership.Incarnation { instance.incarnation }

    /// Our own metadata as last published.
    public var metadata: Membership.Metadata { instance.metadata }

    /// Lifeguard's local health score (0 = healthy).
    public var awareness: Int { instance.awareness }

    /// Where the instance is in its life.
    public var phase: Membership.Instance.Phase { instance.phase }

    /// Membership traffic so far.
    public nonisolated var traffic: MembershipTraffic { links.counters }

    // MARK: Internals

    private func unsubscribe(_ id: UInt64) { subscribers[id] = nil }

    private func tick() {
        guard !stopped else { return }
        scheduled = nil
        let t = Self.clock()
        if readsHostMetrics, let due = nextHostRead, due <= t { refreshHostMetrics(at: t, force: false) }
        if let due = nextSeedRetry, due <= t { retrySeeds(at: t) }
        carryOut(instance.onTick(now: Membership.Instant(nanoseconds: t)))
    }

    private func carryOut(_ directives: [Membership.Directive]) {
        for directive in directives {
            switch directive {
            case .send(let message, let address, let name):
                // To a named member the link authenticates both ends: leave out what it names.
                links.send(message.encode(for: name), to: address, name: name)
            case .armTimer:
                break  // One scheduler: `reschedule` follows the instance's earliest deadline.
            case .memberChanged(let member, let previous):
                publish(.changed(member, previous: previous))
            case .memberRemoved(let name):
                publish(.removed(name: name))
            case .identityConflict(let name, let addresses, let incarnation):
                publish(.duplicateIdentity(name: name, addresses: addresses, incarnation: incarnation))
            }
        }
        reschedule()
    }

    private func publish(_ event: MembershipEvent) {
        for continuation in subscribers.values { continuation.yield(event) }
    }

    /// Points the one timer at the earliest deadline.
    private func reschedule() {
        guard let timer, !stopped else { return }
        let next = [instance.nextDeadline?.nanoseconds, nextHostRead, nextSeedRetry].compactMap { $0 }.min()
        guard let next, next != scheduled else { return }
        scheduled = next
        timer.schedule(deadline: DispatchTime(uptimeNanoseconds: UInt64(max(1, next))), leeway: .milliseconds(1))
    }

    /// While we know no other member, asks the seeds again to take us in (a join push-pull carrying only
    /// ourselves), backing off from `seedRetryBaseDelay` to `seedRetryMaxDelay`; so nodes may start in any
    /// order without waiting for the protocol's reconnect round. Stops once someone else is known.
    private func retrySeeds(at t: Int64) {
        guard instance.phase == .running, !instance.members.contains(where: { $0.name != myself.name }) else {
            nextSeedRetry = nil
            return
        }
        let me = ownMember
        let join = Membership.Message.pushPull(from: myself, isResponse: false, isJoin: true, members: [me])
        let bytes = join.encode()
        for seed in seeds { links.send(bytes, to: seed, name: nil) }
        seedRetryDelay = min(seedRetryDelay * 2, settings.seedRetryMaxDelay)
        nextSeedRetry = t + seedRetryDelay.shellNanoseconds
    }

    private func refreshHostMetrics(at t: Int64, force: Bool) {
        nextHostRead = t + settings.hostMetricsInterval.shellNanoseconds
        let host = HostMetrics.read()
        if !force, let last = lastPublishedHost, !host.differsEnough(from: last, settings: settings) { return }
        lastPublishedHost = host
        var metadata = instance.metadata
        metadata.loadAverage = host.loadAverage
        metadata.freeMemoryBytes = host.freeMemoryBytes
        guard !metadata.sameContent(as: instance.metadata) else { return }
        if let directives = try? instance.updateMetadata(metadata, now: Membership.Instant(nanoseconds: t)) {
            carryOut(directives)
        }
    }
}

extension Duration {
    /// The duration in whole nanoseconds (saturating), for the shell's clock arithmetic.
    var shellNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (ns, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return ns &+ attoseconds / 1_000_000_000
    }
}
