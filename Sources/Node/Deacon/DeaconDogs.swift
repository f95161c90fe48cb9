import Beads
import Foundation
import Git
import Health
import Sessions
import Town
import Wire

/// The Dogs every node's Deacon runs (docs/health.md): `ledger-sync` (kicks the node's ledger sync), `checkpoint`
/// (WIP commits of working polecats' uncommitted work on `refs/gt/checkpoints/<polecat>`), `cleanup` (finished
/// worktrees and merged work branches, within the node's disk budget), `doctor` (a light check of the node),
/// `repack` (the town's git repositories), `compaction` (the ledger store) and `cert-renewal` (the node's
/// certificate, which the node's own timer then leaves alone).
/// A caseless namespace.
public enum DeaconDogs {
    /// The standard Dogs of a node.
    static func standard(
        context: NodeContext, settings: DogSettings, components: [any NodeComponent], supervisor: Supervisor,
        town: DeaconTown, renewCertificate: (@Sendable () async throws -> String)? = nil
    ) -> [DeaconDog] {
        let ledgerSyncInterval = context.settings.deacon.dogs["ledger-sync"] ?? 30
        let layout = town.layout
        let node = context.name.rawValue
        let sync = components.compactMap { $0 as? LedgerSyncComponent }.first
        let compaction = CompactionDog.Memo()
        let reported = ReportedWarnings()
        return [
            DeaconDog("ledger-sync") {
                guard let sync else { return "" }
                return try await LedgerSyncDog.run(sync, dogInterval: ledgerSyncInterval)
            },
            DeaconDog("checkpoint") {
                let report = await CheckpointDog.run(layout: layout, node: node, settings: settings)
                if !report.failed.isEmpty { throw DogFailure(report.failed.joined(separator: "; ")) }
                return report.saved.isEmpty ? "" : "checkpointed " + report.saved.joined(separator: ", ")
            },
            DeaconDog("cleanup") {
                let report = try await CleanupDog.run(
                    layout: layout, node: node, budget: settings.cleanupDiskBudget,
                    referencePrefix: settings.checkpointReferencePrefix,
                    finished: { beads throws(TownError) in try await CleanupDog.finishedBeads(beads, town: town) },
                    liveSessions: { () throws(TownError) in try await CleanupDog.liveSessions(town: town) })
                if !report.failed.isEmpty { throw DogFailure(report.failed.joined(separator: "; ")) }
                if report.plan.stillOverBudget {
                    context.warnings.set(
                        "disk-budget",
                        "polecat worktrees use \(report.plan.bytesAfter) bytes, over the budget of "
                            + "\(report.plan.budget); what is left has uncommitted work, a live session or open beads")
                }
                return report.summary
            },
            DeaconDog("repack") {
                let report = await RepackDog.run(layout: layout, minimumLooseObjects: settings.repackMinimumLooseObjects)
                if !report.failed.isEmpty { throw DogFailure(report.failed.joined(separator: "; ")) }
                return report.summary
            },
            DeaconDog("compaction") {
                guard let database = town.ledger?.database else { return "" }
                return try await CompactionDog.run(database, memo: compaction)
            },
            DeaconDog("cert-renewal") {
                guard let renewCertificate else { return "" }
                return try await renewCertificate()
            },
            DeaconDog("doctor") {
                let workflow: TownWorkflow
                do { workflow = try await town.workflow() } catch { throw DogFailure("\(error)") }
                let observed = await Node.doctorObservations(
                    context: context, layout: layout, workflow: workflow, sync: sync)
                return try await DoctorDog.run(
                    observed, settings: settings, supervisor: supervisor, warnings: context.warnings,
                    reported: reported)
            },
        ]
    }
}

/// The `ledger-sync` Dog, the sync loop's watchdog: the loop syncs each remote on its own interval, so the Dog
/// kicks (`syncNow`) only a remote that is idle (not syncing, not in its retry backoff) yet whose last successful
/// sync is older than twice its interval and than the Dog's own interval; a kick that fails is the Dog's failure.
/// Kicking in lock-step with the loop would only double the syncs. A caseless namespace.
public enum LedgerSyncDog {
    /// Runs once; returns the remotes kicked, empty when none was overdue.
    public static func run(
        _ sync: LedgerSyncComponent, dogInterval: Double, now: Date = Date()
    ) async throws
        -> String
    {
        let remotes: [LedgerSyncStatus.Remote]
        do throws(ErrorReply) { remotes = try await sync.remoteStatus() } catch {
            if error.code == .unavailable { return "" }
            throw error
        }
        var kicked: [String] = []
        for remote in remotes where remote.state == "idle" {
            guard let last = remote.lastSuccessAt else { continue }
            let age = now.timeIntervalSince(last)
            guard age > max(2 * remote.intervalSeconds, dogInterval) else { continue }
            do throws(ErrorReply) { _ = try await sync.syncNow(remote: remote.name) } catch {
                throw DogFailure(
                    "kicking the overdue sync with \(remote.name) (\(Int(age)) s since the last) failed: \(error.message)"
                )
            }
            kicked.append("\(remote.name) (\(Int(age)) s since its last sync)")
        }
        return kicked.isEmpty ? "" : "kicked the ledger sync with " + kicked.joined(separator: ", ")
    }
}

/// A Dog's failure, with the message it reports. `Sendable`: a string.
public struct DogFailure: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The polecat worktrees of a town on this node: `<town>/<rig>/polecats/<name>/` of every rig whose shared
/// repository `<town>/<rig>/.repo.git` exists. A caseless namespace.
enum PolecatWorktrees {
    /// The rigs (names, sorted) that have a shared repository.
    static func rigs(_ layout: TownLayout) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: layout.root)) ?? []
        return names.filter { FileManager.default.fileExists(atPath: layout.bareRepository($0) + "/HEAD") }.sorted()
    }

    /// The polecat worktrees (rig, polecat, path) present on disk, sorted.
    static func all(_ layout: TownLayout) -> [(rig: String, polecat: String, path: String)] {
        rigs(layout).flatMap { rig -> [(rig: String, polecat: String, path: String)] in
            let directory = layout.polecatsDirectory(rig)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            return names.sorted().compactMap { name in
                let path = layout.polecatWorktree(rig, name)
                guard FileManager.default.fileExists(atPath: path + "/.git") else { return nil }
                return (rig, name, path)
            }
        }
    }
}

/// The `checkpoint` Dog: for every working polecat (its worktree holds a hook) whose worktree has uncommitted
/// changes, a WIP commit of the worktree's contents on `refs/gt/checkpoints/<polecat>` of the rig's repository
/// (`GitRepository.checkpoint`: HEAD, the index file and the files are not touched); the next checkpoint's
/// parent is the previous one. A node that dies loses at most one interval of work. A caseless namespace.
public enum CheckpointDog {
    /// What one run did: `rig/polecat` saved, and failures (`rig/polecat: error`).
    public struct Report: Sendable, Equatable {
        public var saved: [String] = []
        public var unchanged: [String] = []
        public var failed: [String] = []
    }

    /// Runs once over the town at `layout`.
    public static func run(
        layout: TownLayout, node: String, settings: DogSettings, now: Date = Date()
    ) async
        -> Report
    {
        var report = Report()
        for (rig, polecat, path) in PolecatWorktrees.all(layout) {
            let hook: Hook?
            do { hook = try Hook.read(worktree: path) } catch {
                report.failed.append("\(rig)/\(polecat): \(error.description)")
                continue
            }
            guard let hook else { continue }
            do {
                let repository = try await GitRepository.open(at: path)
                let outcome = try await repository.checkpoint(
                    reference: settings.checkpointReferencePrefix + polecat,
                    message: "WIP checkpoint of \(rig)/\(polecat) (\(hook.bead)) by the Deacon of \(node)",
                    author: GitSignature(
                        name: "gt deacon", email: "deacon@\(node)", time: Int64(now.timeIntervalSince1970)))
                switch outcome {
                case .written: report.saved.append("\(rig)/\(polecat)")
                case .unchanged: report.unchanged.append("\(rig)/\(polecat)")
                case .clean: break
                }
            } catch {
                report.failed.append("\(rig)/\(polecat): \(error.message)")
            }
        }
        return report
    }
}

/// The `cleanup` Dog: gathers the facts of every polecat worktree and work branch of this node (git status,
/// branch, disk use, whether its bead is closed and merged, live sessions), lets `CleanupPlan` decide within the
/// disk budget, and removes what it decided: finished worktrees (never one with uncommitted work, a live
/// session or a hook on unfinished work; git refuses a dirty one again at removal) with their checkpoint
/// reference, and finished branches of this node (`polecat/<node>/…`) no worktree that stays has checked out.
/// A caseless namespace.
public enum CleanupDog {
    /// What one run did.
    public struct Report: Sendable, Equatable {
        public var plan: CleanupPlan
        public var removed: [String] = []
        public var deletedBranches: [String] = []
        public var failed: [String] = []

        /// One line for the log, empty when nothing was removed.
        public var summary: String {
            guard !removed.isEmpty || !deletedBranches.isEmpty else { return "" }
            return "removed \(removed.count) worktrees (\(removed.joined(separator: ", "))) and "
                + "\(deletedBranches.count) merged branches; \(plan.bytesAfter) of \(plan.budget) bytes used"
        }
    }

    /// Runs once. `finished` returns which of the given beads are closed and merged; `liveSessions` the polecats
    /// (`rig/polecat`) that have a live session.
    public static func run(
        layout: TownLayout, node: String, budget: Int64,
        referencePrefix: String = DogSettings().checkpointReferencePrefix,
        finished: @Sendable (Set<String>) async throws(TownError) -> Set<String>,
        liveSessions: @Sendable () async throws(TownError) -> Set<String>
    ) async throws -> Report {
        let found = PolecatWorktrees.all(layout)
        var branchesByRig: [String: [GitBranch]] = [:]
        for rig in PolecatWorktrees.rigs(layout) {
            let bare = try await GitRepository.open(at: layout.bareRepository(rig))
            branchesByRig[rig] = try await bare.branches(.local).filter { $0.name.hasPrefix("polecat/\(node)/") }
        }
        guard !found.isEmpty || branchesByRig.values.contains(where: { !$0.isEmpty }) else {
            return Report(plan: CleanupPlan(worktrees: [], branches: [], budget: budget))
        }
        struct Raw {
            var rig: String, polecat: String, path: String, branch: String?, dirty: Bool, hookBead: String?
            var bytes: Int64, lastChange: Double
        }
        var raws: [Raw] = []
        var failed: [String] = []
        for (rig, polecat, path) in found {
            do {
                let repository = try await GitRepository.open(at: path)
                let branch = try await repository.headBranch()
                let dirty = try await !repository.isClean()
                let hook = try? Hook.read(worktree: path)
                let (bytes, lastChange) = await NodeBlocking.run { diskUse(path) }
                raws.append(
                    Raw(
                        rig: rig, polecat: polecat, path: path, branch: branch, dirty: dirty, hookBead: hook?.bead,
                        bytes: bytes, lastChange: lastChange))
            } catch {
                failed.append("\(rig)/\(polecat): \(error)")
            }
        }
        var beads = Set(raws.compactMap { $0.branch.flatMap(BranchFacts.bead(ofBranch:)) })
        beads.formUnion(raws.compactMap(\.hookBead))
        beads.formUnion(branchesByRig.values.joined().compactMap { BranchFacts.bead(ofBranch: $0.name) })
        let done = try await finished(beads)
        let live = raws.isEmpty ? [] : try await liveSessions()
        let worktrees = raws.map { raw in
            let bead = raw.branch.flatMap(BranchFacts.bead(ofBranch:))
            return WorktreeFacts(
                rig: raw.rig, polecat: raw.polecat, path: raw.path, branch: raw.branch, bytes: raw.bytes,
                lastChange: raw.lastChange, finished: bead.map(done.contains) ?? false, dirty: raw.dirty,
                sessionLive: live.contains("\(raw.rig)/\(raw.polecat)"),
                hookedElsewhere: raw.hookBead.map { !done.contains($0) } ?? false)
        }
        let branches = branchesByRig.sorted { $0.key < $1.key }.flatMap { rig, list in
            list.map { branch in
                BranchFacts(
                    rig: rig, name: branch.name,
                    finished: BranchFacts.bead(ofBranch: branch.name).map(done.contains) ?? false,
                    checkedOutAt: worktrees.first { $0.rig == rig && $0.branch == branch.name }?.path)
            }
        }
        var report = Report(plan: CleanupPlan(worktrees: worktrees, branches: branches, budget: budget))
        report.failed = failed
        var removedPaths: Set<String> = []
        for worktree in report.plan.removeWorktrees {
            do {
                let bare = try await GitRepository.open(at: layout.bareRepository(worktree.rig))
                // Not forced: git checks the worktree is still clean right before removing it.
                try await bare.removeWorktree(worktree.polecat, force: false)
                try? FileManager.default.removeItem(atPath: worktree.path)
                try? await bare.deleteReference(referencePrefix + worktree.polecat)
                report.removed.append("\(worktree.rig)/\(worktree.polecat)")
                removedPaths.insert(worktree.path)
            } catch {
                report.failed.append("\(worktree.rig)/\(worktree.polecat): \(error)")
            }
        }
        for branch in report.plan.deleteBranches {
            if let path = branch.checkedOutAt, !removedPaths.contains(path) { continue }
            do {
                let bare = try await GitRepository.open(at: layout.bareRepository(branch.rig))
                try await bare.deleteReference("refs/heads/\(branch.name)")
                report.deletedBranches.append("\(branch.rig):\(branch.name)")
            } catch {
                report.failed.append("\(branch.rig):\(branch.name): \(error)")
            }
        }
        return report
    }

    /// The bytes the files under `path` use and their newest modification time (seconds since 1970). Blocking:
    /// run it on a dedicated thread.
    static func diskUse(_ path: String) -> (Int64, Double) {
        var bytes: Int64 = 0
        var newest: Double = 0
        guard let walker = FileManager.default.enumerator(atPath: path) else { return (0, 0) }
        while let relative = walker.nextObject() as? String {
            var info = stat()
            guard lstat(path + "/" + relative, &info) == 0 else { continue }
            bytes += Int64(info.st_blocks) * 512
            newest = max(newest, Double(info.st_mtim.tv_sec))
        }
        return (bytes, newest)
    }

    /// Which of `beads` are closed with a merge commit recorded, read from the town ledger.
    public static func finishedBeads(_ beads: Set<String>, town: DeaconTown) async throws(TownError) -> Set<String> {
        guard !beads.isEmpty else { return [] }
        let workflow = try await town.workflow()
        return try await workflow.withLedger(mode: .read) { ledger throws(TownError) -> Set<String> in
            Set(
                beads.filter { id in
                    guard let bead = ledger.bead(id) else { return false }
                    return bead.status == .closed && bead.metadataString(MQKey.mergeCommit) != nil
                })
        }
    }

    /// The polecats (`rig/polecat`) of this town that have a live session.
    public static func liveSessions(town: DeaconTown) async throws(TownError) -> Set<String> {
        let workflow = try await town.workflow()
        let id = TownID(townRoot: town.layout.root)
        do {
            var live: Set<String> = []
            for name in try await workflow.sessions.list() where name.town == id {
                if try await workflow.sessions.isAlive(name) { live.insert("\(name.rig)/\(name.polecat)") }
            }
            return live
        } catch {
            throw .io("cannot list the sessions: \(error)")
        }
    }
}

/// The `doctor` Dog: `gt doctor`'s checks (the `Doctor` core over the node's own observations, the same as
/// `gt doctor` gets from a running node), repairing nothing: every `fail` finding is the Dog's failure (three in a
/// row raise one escalation), `warn` findings are logged once each by their text. Components given up are shown
/// as a node warning (`gt status`), not a failure (their escalation was already raised once). A caseless
/// namespace.
public enum DoctorDog {
    /// The doctor's settings with the Dogs' `doctor_minimum_free_bytes`.
    public static func settings(_ dogs: DogSettings) -> DoctorSettings {
        var settings = DoctorSettings()
        settings.minimumFreeBytes = dogs.doctorMinimumFreeBytes
        settings.warnFreeBytes = max(settings.warnFreeBytes, dogs.doctorMinimumFreeBytes)
        return settings
    }

    /// Runs once over `observed`; throws `DogFailure` naming every failing finding, returns the warnings (empty
    /// when there are none).
    public static func run(
        _ observed: DoctorObservations, settings: DogSettings, supervisor: Supervisor, warnings: WarningBoard,
        reported: ReportedWarnings = ReportedWarnings()
    ) async throws -> String {
        let findings = Doctor.diagnose(observed, settings: Self.settings(settings))
        let gaveUp = await supervisor.status().filter { $0.state == .gaveUp }.map(\.name)
        if !gaveUp.isEmpty {
            warnings.set(
                "gave-up",
                "components given up after repeated failures: \(gaveUp.joined(separator: ", ")); "
                    + "see node.log, fix the cause and restart the node")
        }
        let failing = findings.filter { $0.severity == .fail }
        guard failing.isEmpty else {
            throw DogFailure(failing.map { "\($0.check) \($0.subject): \($0.found)" }.joined(separator: "; "))
        }
        let warned = findings.filter { $0.severity == .warn }.map { "\($0.check) \($0.subject): \($0.found)" }
        return reported.fresh(warned).joined(separator: "; ")
    }

}

/// Lines already reported, forgetting those no longer present. `@unchecked Sendable`: guarded by `lock`.
public final class ReportedWarnings: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: Set<String> = []

    public init() {}

    /// The lines of `current` not reported before; remembers `current` only.
    func fresh(_ current: [String]) -> [String] {
        lock.lock()
        defer { lock.unlock() }
        let new = current.filter { !seen.contains($0) }
        seen = Set(current)
        return new
    }
}
