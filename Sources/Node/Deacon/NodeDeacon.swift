import Foundation
import Health
import Town

/// One Dog: a named, bounded chore the Deacon runs on `DeaconSettings.dogs`' schedule. `run` returns a short
/// summary of what it did (empty: nothing to do) or throws when it failed (the message says what and why).
///
/// `Sendable`: a name and a `Sendable` closure.
public struct DeaconDog: Sendable {
    public let name: String
    public let run: @Sendable () async throws -> String

    public init(_ name: String, run: @escaping @Sendable () async throws -> String) {
        self.name = name
        self.run = run
    }
}

/// The node's Deacon (docs/health.md): the actor shell of `DeaconCore`. It is the policy of the node's
/// `Supervisor` (every component failure goes through the core: a restart after its backoff, or, after
/// `give_up_after` failures in a row, the component is given up and one escalation is raised), it runs the Dogs
/// on the core's schedules, and it beats: each tick stores the time in `lastBeat`, which the `Node` reads
/// (without awaiting this actor, so a wedged Deacon cannot wedge its watcher) and restarts the Deacon when the
/// core's `isStale` says so.
///
/// `Sendable`: an actor; the beat and the tasks are in a locked box the Node reads from outside.
public actor NodeDeacon: SupervisorPolicy {
    /// The core's settings (the node passes its `SupervisorSettings` backoff in them).
    public nonisolated let settings: DeaconSettings
    /// Counts Deacons of this node: 1 for the first, +1 at every restart by the Node.
    public nonisolated let generation: Int
    nonisolated let clock: any SupervisorClock
    nonisolated let box = DeaconBox()
    let tickInterval: TimeInterval
    let dogs: [String: DeaconDog]
    let escalations: DeaconEscalations
    let log: NodeLogger
    let events: EventLog
    var core: DeaconCore
    var stalled = false

    /// A Deacon running `dogs`, raising escalations through `escalations`, ticking every `tickInterval`.
    public init(
        settings: DeaconSettings, generation: Int = 1, clock: any SupervisorClock = MonotonicClock(),
        tickInterval: TimeInterval = 1, dogs: [DeaconDog], escalations: DeaconEscalations, log: NodeLogger,
        events: EventLog
    ) {
        self.settings = settings
        self.generation = generation
        self.clock = clock
        self.tickInterval = tickInterval
        self.dogs = Dictionary(dogs.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.escalations = escalations
        self.log = log
        self.events = events
        var coreSettings = settings
        coreSettings.dogs = settings.dogs.filter { name, _ in dogs.contains { $0.name == name } }
        core = DeaconCore(settings: coreSettings, now: clock.now())
        watchCore = core
        box.beat(clock.now())
    }

    /// When the Deacon last beat (the supervisor clock's seconds). Readable without awaiting the actor.
    public nonisolated var lastBeat: TimeInterval { box.lastBeat }

    /// Whether the Deacon is stale now (the Node's watch).
    public nonisolated func isStale() -> Bool { watchCore.isStale(lastBeat: box.lastBeat, now: clock.now()) }
    /// The core as first made: its `isStale` is pure in its settings, so the Node's watch reads it without the actor.
    nonisolated let watchCore: DeaconCore

    /// Starts beating and running Dogs.
    public func start() {
        box.beat(clock.now())
        let interval = tickInterval
        box.setTick(
            Task { [weak self] in
                while !Task.isCancelled {
                    guard let self else { return }
                    await self.tick()
                    do { try await self.clock.sleep(seconds: interval) } catch { return }
                }
            })
    }

    /// Stops beating and cancels the Dogs running. Nonisolated: the Node calls it on a Deacon that may be wedged.
    public nonisolated func cancel() { box.cancelAll() }

    /// Makes the tick loop hang (no beats, no Dogs) until cancelled: what a wedged Deacon looks like to the Node.
    /// For tests of the Node's watch.
    public func stallForTesting() { stalled = true }

    /// The core's view (for `gt status`-like reports and tests).
    public var state: DeaconCore { core }

    func tick() async {
        if stalled {
            try? await clock.sleep(seconds: 365 * 86400)
            return
        }
        let now = clock.now()
        box.beat(now)
        for directive in core.onTick(at: now) { await carry(directive) }
    }

    private func carry(_ directive: DeaconCore.Directive) async {
        switch directive {
        case .runDog(let name):
            guard let dog = dogs[name] else {
                _ = core.onDogFinished(name, failure: "no such Dog on this node", at: clock.now())
                return
            }
            box.addDog(
                Task { [weak self] in
                    var failure: String?
                    var summary = ""
                    do { summary = try await dog.run() } catch is CancellationError { return } catch {
                        failure = "\(error)"
                    }
                    await self?.dogFinished(name, summary: summary, failure: failure)
                })
        case .escalate(let escalation):
            await escalations.raise(escalation)
        case .giveUp(_, let escalation):
            await escalations.raise(escalation)
        case .restart:
            break
        }
    }

    func dogFinished(_ name: String, summary: String, failure: String?) async {
        if let failure {
            log.warning("Dog failed", ["dog": name, "error": failure])
            events.record("dog_failed", ["dog": name, "error": failure])
        } else if !summary.isEmpty {
            log.info("Dog ran", ["dog": name, "did": summary])
            events.record("dog", ["dog": name, "did": summary])
        }
        for directive in core.onDogFinished(name, failure: failure, at: clock.now()) { await carry(directive) }
    }

    // MARK: SupervisorPolicy

    public func childStarted(_ name: String, at: TimeInterval) async { core.onActorStarted(name, at: at) }

    public func childFailed(_ name: String, error: String, at: TimeInterval) async -> SupervisorDecision {
        let directive = core.onActorFailed(name, error: error, at: at)
        switch directive {
        case .restart(_, let after): return .restart(after: after)
        case .giveUp:
            await carry(directive)
            return .giveUp
        default: return .restart(after: settings.backoff(afterConsecutiveFailures: 1))
        }
    }
}

/// The Deacon's beat and tasks, readable and cancellable from outside the actor.
///
/// `@unchecked Sendable`: every field is guarded by `lock`.
final class DeaconBox: @unchecked Sendable {
    private let lock = NSLock()
    private var beatAt: TimeInterval = 0
    private var tick: Task<Void, Never>?
    private var dogs: [Task<Void, Never>] = []
    private var cancelled = false

    var lastBeat: TimeInterval { lock.withLock { beatAt } }
    func beat(_ now: TimeInterval) { lock.withLock { beatAt = now } }

    func setTick(_ task: Task<Void, Never>) {
        let stop: Bool = lock.withLock {
            tick = task
            return cancelled
        }
        if stop { task.cancel() }
    }

    func addDog(_ task: Task<Void, Never>) {
        let stop: Bool = lock.withLock {
            dogs.removeAll { $0.isCancelled }
            dogs.append(task)
            return cancelled
        }
        if stop { task.cancel() }
    }

    func cancelAll() {
        let tasks: [Task<Void, Never>] = lock.withLock {
            cancelled = true
            defer {
                tick = nil
                dogs = []
            }
            return (tick.map { [$0] } ?? []) + dogs
        }
        for task in tasks { task.cancel() }
    }
}

/// Where the Deacon's escalations go: the node log (an error line), the events file (`deacon_escalation`), and
/// mail through an `EscalationMailer` (deduplicated by cause, rate-limited, routed by category; its book kept in
/// `<town>/.gt/deacon/escalations.json`), sent from `deacon`. Outlives a Deacon restarted by the Node, so a
/// cause is not mailed twice.
///
/// `Sendable`: an actor.
public actor DeaconEscalations {
    let town: DeaconTown
    let log: NodeLogger
    let events: EventLog
    var mailer: EscalationMailer?
    var last: Task<Void, Never>?
    /// Every escalation raised, in order (for status and tests).
    public private(set) var raised: [Escalation] = []

    public init(town: DeaconTown, log: NodeLogger, events: EventLog) {
        self.town = town
        self.log = log
        self.events = events
    }

    /// Raises `escalation`: logged, recorded, mailed when the book admits it. Raises are handled one after the
    /// other (the book is read and written by one at a time).
    public func raise(_ escalation: Escalation) async {
        raised.append(escalation)
        var fields = ["cause": escalation.cause, "category": escalation.category.rawValue]
        for item in escalation.evidence { fields[item.name] = item.value }
        log.error("Deacon escalation: \(escalation.subject)", fields)
        events.record("deacon_escalation", fields)
        let previous = last
        let next = Task {
            await previous?.value
            await self.mail(escalation)
        }
        last = next
        await next.value
    }

    private func mail(_ escalation: Escalation) async {
        do {
            let workflow = try await town.workflow()
            var book =
                mailer
                ?? EscalationMailer(
                    layout: workflow.layout, settings: HealthSettings(),
                    file: workflow.layout.stateDirectory + "/deacon/escalations.json")
            await book.raise(escalation, at: Date().timeIntervalSince1970, workflow: workflow)
            mailer = book
        } catch {
            log.error("Deacon escalation not mailed", ["cause": escalation.cause, "error": error.description])
            events.record("escalation_failed", ["cause": escalation.cause, "error": error.description])
        }
    }
}

/// The town as the Deacon's Dogs and escalations use it: a `TownWorkflow` made on first use (the ledger the
/// node's `LedgerActor` holds when there is one), and this node's name.
///
/// `Sendable`: an actor.
public actor DeaconTown {
    public nonisolated let layout: TownLayout
    nonisolated let ledger: NodeLedgerHandle?
    var made: TownWorkflow?

    public init(layout: TownLayout, ledger: NodeLedgerHandle?) {
        self.layout = layout
        self.ledger = ledger
    }

    /// The workflow (made once).
    public func workflow() async throws(TownError) -> TownWorkflow {
        if let made { return made }
        let executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var workflow = try await TownWorkflow(layout: layout, actor: "deacon", gtExecutable: executable)
        if let ledger { workflow.heldLedger = ledger }
        made = workflow
        return workflow
    }
}
