import Foundation
import Health
import Town
import Transport
import Wire

/// The town's workflow inside the node (`gt node run`): at start it re-primes every hooked polecat (GUPP: an
/// unfinished `gt done` is finished, a running session is found, a dead one is started again from the hook),
/// then it patrols as this node's Witness every `TownSettings.witnessInterval`, doing the same, so a session
/// that dies while its polecat is hooked is restarted (up to `maxSessionRestarts` per assignment). It acts only
/// on this town's sessions. A failed pass is logged and retried at the next patrol; a town with no rigs costs
/// nothing (the ledger is not even opened). Each patrol then runs the health rules (`WitnessHealth.swift`,
/// docs/health.md): hung, looping, stalled-at-prompt, zombie and dead sessions are confirmed, acted on and
/// escalated; restarts of dead sessions after the start-up pass are the health rules' (confirmed, crash loops
/// counted), not the recovery pass's.
///
/// `Sendable`: an actor.
public actor TownWitness: NodeComponent {
    public nonisolated let name = "witness"
    /// The agent-facing requests (`TownAgentRequest`, local only) this component answers.
    public nonisolated var messageTypes: [MessageDescriptor] { [TownAgentRequest.descriptor] }
    let settings: TownSettings
    /// The store the node's `LedgerActor` holds (nil: the workflow opens the store per operation).
    let ledger: NodeLedgerHandle?
    var workflow: TownWorkflow?
    var log: NodeLogger?
    /// Passes run since start (for status and tests).
    public private(set) var passes = 0
    /// The health rules' thresholds: given, else read from `<town>/settings/health.json` at start.
    var healthSettings: HealthSettings?
    /// The patrol interval: `settings.witnessInterval`, unless `settings/health.json` sets `patrol_interval`.
    var patrolInterval: Duration
    /// The health rules' core and the escalations (set up at start).
    var monitor = HealthMonitor()
    var mailer: EscalationMailer?
    /// The emergency stop's core, and the freeze record while this node's sessions are held (nil: not frozen).
    var freezeGate = FreezeGate()
    var freeze: FreezeRecord?
    /// The start-up pass was held by a freeze: it runs at the thaw.
    var startPassPending = false

    /// A witness with `settings` (and `health` thresholds; nil reads the town's `settings/health.json`).
    public init(settings: TownSettings = TownSettings(), ledger: NodeLedgerHandle? = nil, health: HealthSettings? = nil) {
        self.settings = settings
        self.ledger = ledger
        self.healthSettings = health
        self.patrolInterval = settings.witnessInterval
    }

    public func start(in context: NodeContext) async throws {
        log = context.log
        let executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        workflow = try await TownWorkflow(
            layout: TownLayout(root: context.town.root), settings: settings, actor: "witness",
            gtExecutable: executable)
        if let ledger {
            guard await ledger.waitForDatabase(timeout: 60) != nil else {
                throw TownError.ledger("the town ledger did not open: \(ledger.lastError ?? "still opening")")
            }
            workflow?.heldLedger = ledger
        }
        let layout = TownLayout(root: context.town.root)
        if healthSettings == nil {
            do {
                let (loaded, interval) = try HealthSettingsFile.load(layout)
                healthSettings = loaded
                if let interval { patrolInterval = interval }
            } catch {
                context.log.warning("health settings unusable; using the defaults", ["error": error.description])
            }
        }
        monitor = HealthMonitor(settings: healthSettings ?? HealthSettings())
        mailer = EscalationMailer(layout: layout, settings: healthSettings ?? HealthSettings())
        let log = context.log
        workflow?.warning = { log.warning("town ledger recovery", ["detail": $0]) }
        guard await freezePatrol() else {
            startPassPending = true
            context.log.info("town re-prime held: the cluster is frozen (gt estop); it runs at gt thaw")
            return
        }
        let report = try await pass(full: true)
        context.events.record(
            "restart",
            [
                "found": report.found.joined(separator: ","), "restarted": report.restarted.joined(separator: ","),
                "finished_done": report.finishedDone.joined(separator: ","),
                "failed": report.failed.joined(separator: ","),
            ])
        context.log.info(
            "town re-primed",
            [
                "found": "\(report.found.count)", "restarted": "\(report.restarted.count)",
                "finished_done": "\(report.finishedDone.count)",
            ])
    }

    public func run() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: patrolInterval)
            do {
                guard await freezePatrol() else { continue }
                let report = try await pass(full: startPassPending)
                startPassPending = false
                await healthPatrol()
                if !report.restarted.isEmpty || !report.failed.isEmpty || !report.finishedDone.isEmpty {
                    log?.info(
                        "witness patrol",
                        [
                            "restarted": report.restarted.joined(separator: ","),
                            "failed": report.failed.joined(separator: ","),
                            "finished_done": report.finishedDone.joined(separator: ","),
                        ])
                }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                log?.warning("witness patrol failed", ["error": "\(error)"])
            }
        }
        throw CancellationError()
    }

    /// Answers an agent-facing request from the local CLI by running it on the town's workflow. Requests run
    /// concurrently with each other and with patrols; the ledger's lock orders their writes.
    public func handle(_ message: InboundMessage) async throws -> [UInt8] {
        guard message.peer.purpose == .local else {
            throw ErrorReply(code: .refused, message: "town-agent requests come only from the local CLI")
        }
        guard let workflow else { throw ErrorReply(code: .unavailable, message: "the town is starting") }
        let request = try NodeJSON.decode(TownAgentRequest.self, from: message.envelope.body)
        do { return try await request.perform(on: workflow) } catch {
            throw ErrorReply(code: .refused, message: error.description)
        }
    }

    /// One recovery pass. A patrol (`full` false) first checks the worktrees' files and skips the pass when no
    /// polecat holds a hook or an unfinished `gt done`; the pass at start is always full (it also finds a polecat
    /// left "working" by a sling that crashed before writing its hook).
    func pass(full: Bool) async throws -> RecoveryReport {
        guard let workflow else { return RecoveryReport() }
        passes += 1
        if !full, try !workflow.hasHookedWork() { return RecoveryReport() }
        return try await workflow.recover(restartDead: full)
    }
}
