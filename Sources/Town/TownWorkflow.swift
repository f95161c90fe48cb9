import Beads
import Foundation
import Git
import LedgerStore
import Sessions

/// The town's workflow on this node: rigs, polecats, sling, done, hooks, mail, nudge, handoff, and the
/// recovery that re-primes hooked polecats after a restart (GUPP). Each operation opens the town ledger (embedded
/// mode: it takes the store's one-writer lock, so operations from several processes are serialized), does its
/// work and closes it. Validation happens before the first write, so a refused operation changes nothing.
///
/// `Sendable`: immutable configuration; all state lives on disk (ledger, worktrees, tmux).
public struct TownWorkflow: Sendable {
    public let layout: TownLayout
    public let settings: TownSettings
    /// Who acts (created_by, mail sender when no other identity is known).
    public let actor: String
    /// The `gt` executable put on agents' `PATH`.
    public let gtExecutable: String
    /// The session driver: tmux (one private server per town) when tmux ≥ 3 is installed, else plain processes.
    public let sessions: any SessionDriver
    /// This node's name.
    public let node: String
    public let events: TownEvents
    /// Tests only: `gt done` stops, as a crash would, right after this step's effect and before recording it.
    var crashBeforeRecording: DoneProgress.Step?
    /// Told about waits a person should know of (the ledger held by another writer); the CLI prints it on stderr.
    public var notice: @Sendable (String) -> Void = { _ in }
    /// An observer for a git transfer this workflow starts (`gt rig add`'s clones), given what it is
    /// (`cloning webapp`), or nil for none. The CLI draws a progress bar with it on a terminal.
    public var transferProgress: @Sendable (String) -> GitTransferObserver? = { _ in nil }
    /// Told, one line each, what opening the ledger found wrong (a torn write cut, damaged snapshots skipped): the
    /// CLI prints it on stderr, the node logs it as a warning. It is also recorded as a `ledger_recovery` event.
    public var warning: @Sendable (String) -> Void = { _ in }
    /// The store the node holds (its `LedgerActor`): when set, operations use it instead of opening the store,
    /// one multi-step operation at a time (`HeldTownLedger.serialized`). Defaults to the held ledger of the command
    /// the node is running (`HeldTownLedgers.current`), nil outside the node.
    public var heldLedger: (any HeldTownLedger)? = HeldTownLedgers.current
    /// In a cluster, the polecats this node may pick and create: those named `<namespace>-…` (the Mayor sets it to
    /// the node's name, docs/scheduling.md), so two nodes sharing one ledger never hook the same polecat. Nil: every
    /// polecat of the rig (one node).
    public var polecatNamespace: String?
    /// Called by `sling` once the claim is written locally and before the worktree and session are made, with the
    /// bead and the epoch claimed: the Mayor syncs the claim to the ledger remote here and throws when another node's
    /// claim won, so no session starts on a claim that did not land (the claim is then released locally).
    public var afterClaim: (@Sendable (String, Int) async throws -> Void)?

    /// A workflow for the town at `layout`. Throws when it is not a town.
    public init(
        layout: TownLayout, settings: TownSettings = TownSettings(), actor: String, gtExecutable: String,
        sessions: (any SessionDriver)? = nil
    ) async throws(TownError) {
        guard FileManager.default.fileExists(atPath: layout.townFile) else {
            throw .notATown("\(layout.townFile) is missing")
        }
        self.layout = layout
        self.settings = settings
        self.actor = actor
        self.gtExecutable = gtExecutable
        if let sessions {
            self.sessions = sessions
        } else {
            var sessionSettings = settings.sessions
            if let data = FileManager.default.contents(atPath: layout.sessionDriverFile),
                String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "process"
            {
                sessionSettings.driver = .process
            }
            self.sessions = await SessionDrivers.select(townRoot: layout.root, settings: sessionSettings)
        }
        node = layout.nodeName()
        events = TownEvents(layout: layout, node: node)
    }

    /// Runs `body` with the ledger open, closing it afterwards: as the writer, or (`mode` `.read`, for operations
    /// that only read) as a reader that changes no file of the store.
    package func withLedger<T>(
        mode: StoreOpenMode = .write, _ body: (TownLedger) async throws(TownError) -> T
    ) async throws(TownError) -> T {
        if let held = heldLedger {
            guard let database = await held.waitForDatabase(timeout: Double(settings.ledgerWait.components.seconds))
            else {
                throw .ledger("the node's town ledger is not open (\(held.lastError ?? "the node is stopping"))")
            }
            let ledger = TownLedger(database: database, actor: actor)
            guard mode == .write else { return try await body(ledger) }
            let result: Result<T, TownError> = await held.serialized {
                do throws(TownError) { return .success(try await body(ledger)) } catch { return .failure(error) }
            }
            return try result.get()
        }
        let ledger = try await TownLedger.open(
            layout, actor: actor, wait: settings.ledgerWait, mode: mode, notice: notice)
        reportRecovery(ledger.database.recovery)
        do {
            let result = try await body(ledger)
            await ledger.close()
            return result
        } catch {
            await ledger.close()
            throw error
        }
    }

    /// Tells `warning` what opening the ledger found wrong, if anything, and the event log when a writer acted on it
    /// (a reader changes nothing, and the next writer records what it does).
    func reportRecovery(_ report: LedgerStore.RecoveryReport) {
        let lines = report.warnings
        guard !lines.isEmpty else { return }
        for line in lines { warning(line) }
        guard report.mode.writes else { return }
        var fields = ["detail": lines.joined(separator: " | ")]
        if let tail = report.tail {
            fields["segment"] = tail.segment
            fields["cut_bytes"] = "\(tail.damagedBytes)"
            fields["records"] = "\(tail.records)"
            fields["acknowledged_records"] = "\(tail.acknowledgedRecords)"
            fields["kept_at"] = tail.keptAt ?? ""
        }
        events.record("ledger_recovery", fields)
    }

    /// The registered rigs and their configs, by name.
    public func rigConfigs() throws(TownError) -> [String: RigConfig] {
        try RigRegistry(layout: layout).configs(layout: layout)
    }

    /// One rig's config; `.noSuchRig` naming the known rigs.
    public func rig(_ name: String) throws(TownError) -> RigConfig {
        let rigs = try rigConfigs()
        guard let config = rigs[name] else { throw .noSuchRig(name: name, known: rigs.keys.sorted()) }
        return config
    }

    /// Every polecat of `rig` (from the agent beads), by name.
    public func polecats(rig: RigConfig, in ledger: TownLedger) -> [PolecatState] {
        ledger.beads(scope: rig.beads.prefix) { $0.issueType == .agent && $0.labels.contains(PolecatState.agentLabel) }
            .compactMap(PolecatState.init(bead:)).filter { $0.rig == rig.name }.sorted { $0.name < $1.name }
    }

    /// Writes a polecat's state to its agent bead; with `cv` (a count was just made) its CV too, under its own key.
    /// Without it the CV key is left alone, so this node's possibly older copy of the CV never overwrites a count
    /// another node made meanwhile.
    package func save(_ polecat: PolecatState, prefix: String, ledger: TownLedger, cv: Bool = false)
        async throws(TownError)
    {
        let id = PolecatState.beadID(prefix: prefix, rig: polecat.rig, name: polecat.name)
        try await ledger.setMetadata(
            id, [(PolecatState.metadataKey, polecat.json)] + (cv ? [(PolecatState.cvMetadataKey, polecat.cvJSON)] : []))
    }

    /// Writes only a polecat's CV: what a node other than the polecat's writes (the Refinery's counts), so that it
    /// never overwrites the assignment the polecat's own node holds.
    package func saveCV(_ polecat: PolecatState, prefix: String, ledger: TownLedger) async throws(TownError) {
        let id = PolecatState.beadID(prefix: prefix, rig: polecat.rig, name: polecat.name)
        try await ledger.setMetadata(id, [(PolecatState.cvMetadataKey, polecat.cvJSON)])
    }

    /// Creates a polecat's agent bead (idle, empty CV).
    func createPolecat(rig: RigConfig, name: String, ledger: TownLedger) async throws(TownError) -> PolecatState {
        guard TownNames.isValid(name) else { throw .invalidName(kind: "polecat", name: name) }
        let id = PolecatState.beadID(prefix: rig.beads.prefix, rig: rig.name, name: name)
        if ledger.bead(id) != nil { throw .polecatExists(rig: rig.name, name: name) }
        let state = PolecatState(rig: rig.name, name: name)
        try await ledger.write(scope: rig.beads.prefix) { ledger, clock, actor throws(LedgerError) in
            var spec = NewBead(title: "Polecat \(name) of rig \(rig.name)")
            spec.explicitID = id
            spec.issueType = .agent
            spec.labels = [PolecatState.agentLabel]
            spec.description = "role_type: polecat\nrig: \(rig.name)\nname: \(name)"
            spec.metadata = [JSONMember(PolecatState.metadataKey, state.json)]
            return try ledger.prepareCreate(spec, actor: actor, stamp: clock.stamp, time: clock.time)
        }
        return state
    }

    /// An unused name from the pool (then `polecat-<n>`).
    static func freshName(taken: Set<String>, prefix: String = "") -> String {
        if let name = TownNames.polecatPool.first(where: { !taken.contains(prefix + $0) }) { return prefix + name }
        var index = taken.count + 1
        while taken.contains("\(prefix)polecat-\(index)") { index += 1 }
        return "\(prefix)polecat-\(index)"
    }

    /// The runtime a choice names: a preset (built-ins, then the town's and the rig's settings files) or
    /// `exec:'<command>'`.
    public func resolveRuntime(_ choice: String, rig: String?) throws(TownError) -> Runtime {
        do {
            let registry = try RuntimeRegistry.load(
                townRoot: layout.root, rigDirectory: rig.map { layout.rigDirectory($0) })
            return try registry.resolve(choice)
        } catch {
            throw .badRuntime(error.description)
        }
    }

    /// Starts the session for `hook` in `worktree` (the hook's session epoch names it): the runtime's command
    /// with the hook in its environment (`GT_TOWN`, `GT_RIG`, `GT_POLECAT`, `GT_BEAD`, `GT_BEAD_TITLE`,
    /// `BEADS_DIR`, `gt` first on `PATH`, plus `GT_LEASE_EPOCH`), its hook settings file installed (and kept out
    /// of git), and for runtimes that take no prompt argument the beacon typed once the agent is ready.
    func startSession(hook: Hook, worktree: String) async throws(TownError) {
        let runtime = try resolveRuntime(hook.runtime, rig: hook.rig)
        let name = SessionName(
            town: TownID(townRoot: layout.root), rig: hook.rig, polecat: hook.polecat, epoch: UInt64(hook.sessionEpoch))
        let context = AgentContext(
            townRoot: layout.root, rig: hook.rig, polecat: hook.polecat, bead: hook.bead, beadTitle: hook.title,
            beadsDir: layout.beadsDirectory, gtBinDirectory: (gtExecutable as NSString).deletingLastPathComponent)
        let beacon = "You are polecat \(hook.polecat) of rig \(hook.rig). Run `gt prime` and do the work on your hook."
        var launch: AgentLaunch
        do { launch = try runtime.launch(context: context, session: name, prompt: beacon) } catch {
            throw .badRuntime(error.description)
        }
        launch.environment["GT_LEASE_EPOCH"] = String(hook.epoch)
        launch.environment["GT_SESSION_EPOCH"] = String(hook.sessionEpoch)
        launch.environment["BEADS_ACTOR"] = hook.agent
        if let file = launch.hookFile {
            try TownWorkflow.exclude(file.relativePath, bareRepository: layout.bareRepository(hook.rig))
            do { _ = try file.install(in: worktree) } catch { throw .session(error.description) }
        }
        let spec = SessionSpec(
            name: name, worktree: worktree, launch: launch, logPath: layout.sessionLogs + "/\(name.rendered).log")
        do { _ = try await sessions.start(spec) } catch { throw .session(error.description) }
        if let typed = launch.promptAfterReady, let tmux = sessions as? TmuxDriver {
            do {
                if try await tmux.waitForReady(name, readiness: launch.readiness, timeout: settings.readyTimeout) {
                    try await tmux.sendText(typed, to: name)
                }
            } catch {
                events.record("prompt-failed", ["session": name.rendered, "error": error.description])
            }
        }
    }

    /// The current time, RFC 3339.
    static func now() -> String { TownEvents.timestamp(Date()) }
}
