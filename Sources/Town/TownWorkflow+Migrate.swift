import Beads
import Foundation
import LedgerStore

/// What `gt migrate` did: the plan's items that were carried, and everything it could not carry with the reason.
///
/// `Sendable`: plain values.
public struct GasTownMigrationReport: Sendable, Codable {
    /// The Gas Town town read (never modified).
    public var source: String
    public var sourceTown: String
    /// True for `--dry-run`: nothing was written.
    public var dryRun: Bool
    public var rigs: [GasTownMigrationPlan.Rig] = []
    /// Settings files written (relative paths).
    public var settings: [String] = []
    /// Beads imported per scope.
    public var beads: [String: Int] = [:]
    public var hooks: [GasTownMigrationPlan.Hook] = []
    public var mail: [String] = []
    public var beadFiles: [String] = []
    public var skipped: [GasTownMigrationPlan.Skipped] = []
    /// What this town already held (an earlier run): left as it is.
    public var alreadyHere = GasTownMigrationPlan.AlreadyHere()
    /// Whether this run changed (with `dryRun`: would change) this town; false when everything was already here.
    public var changed = false

    enum CodingKeys: String, CodingKey {
        case source, rigs, settings, beads, hooks, mail, skipped, changed
        case alreadyHere = "already_here"
        case sourceTown = "source_town"
        case dryRun = "dry_run"
        case beadFiles = "bead_files"
    }
}

extension TownWorkflow {
    /// Reads what `gt migrate` needs from the Gas Town town at `root`, opening files for reading only. `exports`
    /// are extra beads JSONL files (`bd export` output). Blocking (small files): call off the cooperative pool.
    public static func readGasTown(_ root: String, exports: [String]) throws(GasTownMigrationError) -> GasTownSource {
        var source = GasTownSource(root: root)
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw GasTownMigrationError(file: root, "is not a directory")
        }
        func read(_ relative: String) {
            if let data = manager.contents(atPath: root + "/" + relative) { source.files[relative] = data }
        }
        for directory in ["mayor", "settings", "mayor/.claude", ".beads", ".beads/formulas"] {
            let entries = (try? manager.contentsOfDirectory(atPath: root + "/" + directory)) ?? []
            for entry in entries.sorted() {
                var isDir: ObjCBool = false
                let relative = directory + "/" + entry
                if manager.fileExists(atPath: root + "/" + relative, isDirectory: &isDir), !isDir.boolValue,
                    entry.hasSuffix(".json") || entry.hasSuffix(".jsonl") || entry.hasSuffix(".yaml")
                {
                    read(relative)
                }
            }
        }
        for entry in ((try? manager.contentsOfDirectory(atPath: root)) ?? []).sorted()
        where !entry.hasPrefix(".") && !["mayor", "settings", "deacon"].contains(entry) {
            let rig = root + "/" + entry
            guard manager.fileExists(atPath: rig + "/config.json") else { continue }
            source.rigDirectories.append(entry)
            read(entry + "/config.json")
            // Gas Town's rig-level settings (they override the town's for this rig).
            for file in ((try? manager.contentsOfDirectory(atPath: rig + "/settings")) ?? []).sorted()
            where file.hasSuffix(".json") {
                read(entry + "/settings/" + file)
            }
            for clone in [".repo.git", "mayor/rig", "refinery/rig"] {
                let path = rig + "/" + clone
                if manager.fileExists(atPath: path + "/HEAD") || manager.fileExists(atPath: path + "/.git") {
                    source.rigClones[entry] = path
                    break
                }
            }
            let polecats = (try? manager.contentsOfDirectory(atPath: rig + "/polecats")) ?? []
            let worktrees = polecats.filter { !$0.hasPrefix(".") }
            if !worktrees.isEmpty { source.polecats[entry] = worktrees }
            let crew = ((try? manager.contentsOfDirectory(atPath: rig + "/crew")) ?? []).filter { !$0.hasPrefix(".") }
            if !crew.isEmpty { source.crew[entry] = crew }
        }
        // Each route's beads export (the planner reads the same routes); a database without one is reported.
        var beadDirectories = [".beads"]
        if let routes = source.files[".beads/routes.jsonl"],
            let inside = try? GasTownMigration.routePaths(routes).inside
        {
            beadDirectories += inside.filter { $0 != "." }.map { $0 + "/.beads" }
        }
        for directory in beadDirectories {
            read(directory + "/issues.jsonl")
            if source.files[directory + "/issues.jsonl"] == nil {
                for database in ["beads.db", "dolt"] where manager.fileExists(atPath: root + "/\(directory)/\(database)") {
                    source.databasesWithoutExport.append("\(directory)/\(database)")
                }
            }
        }
        for path in exports {
            guard let data = manager.contents(atPath: path) else {
                throw GasTownMigrationError(file: path, "cannot be read (given with --beads)")
            }
            source.exports[path] = data
        }
        return source
    }

    /// `gt migrate <gas-town-town>`: imports the Gas Town town's rigs (cloned from a local copy in that town when
    /// there is one), settings, beads, hooks in flight (as open work to sling again) and mail into this town, and
    /// reports what it could not carry. The source is only read. With `dryRun`, only the plan is returned.
    public func migrate(
        from root: String, exports: [String] = [], dryRun: Bool = false
    ) async throws(TownError) -> GasTownMigrationReport {
        let source: GasTownSource
        do {
            source = try await DedicatedThread.run { () throws(GasTownMigrationError) -> GasTownSource in
                try TownWorkflow.readGasTown(root, exports: exports)
            }
        } catch {
            throw .io("cannot migrate \(root): \(error)")
        }
        if !dryRun, heldLedger == nil, layout.nodeHoldsLock {
            throw .refusedByNode(
                "this town's node is running and holds its ledger; stop it with 'gt down', run 'gt migrate' again, "
                    + "then 'gt up' (nothing was changed)")
        }
        let existingRigs = try rigConfigs().mapValues(\.beads.prefix)
        var existingSettings: [String: Data] = [:]
        for path in GasTownMigration.carriedSettings {
            existingSettings[path] = FileManager.default.contents(atPath: layout.root + "/" + path)
        }
        let existingBeads: Set<String> = try await withLedger(mode: .read) { ledger throws(TownError) in
            var ids = Set<String>()
            for scope in ledger.scopes { for bead in ledger.beads(scope: scope, where: { _ in true }) { ids.insert(bead.id) } }
            return ids
        }
        var plan: GasTownMigrationPlan
        do {
            plan = try GasTownMigration.plan(
                source, existingRigs: existingRigs, existingBeads: existingBeads, existingSettings: existingSettings)
        } catch {
            throw .io("cannot migrate \(root): \(error)")
        }
        var report = GasTownMigrationReport(
            source: root, sourceTown: plan.townName, dryRun: dryRun, hooks: plan.hooks, mail: plan.mail,
            beadFiles: plan.beadFiles, skipped: plan.skipped, alreadyHere: plan.alreadyHere)
        if dryRun {
            report.changed = plan.changesSomething
            report.rigs = plan.rigs
            report.settings = plan.settings.keys.sorted()
            report.beads = plan.beads.mapValues(\.count)
            return report
        }
        for rig in plan.rigs {
            var carried = rig
            do {
                do {
                    _ = try await addRig(
                        name: rig.name, gitURL: rig.gitURL, prefix: rig.prefix, runtime: rig.runtime,
                        maxPolecats: rig.maxPolecats, cloneFrom: rig.cloneFrom)
                } catch .badRuntime(let why) {
                    report.skipped.append(
                        .init(kind: "setting", item: "\(rig.name) runtime", reason: "not carried: \(why)"))
                    carried.runtime = nil
                    _ = try await addRig(
                        name: rig.name, gitURL: rig.gitURL, prefix: rig.prefix, runtime: nil,
                        maxPolecats: rig.maxPolecats, cloneFrom: rig.cloneFrom)
                }
                for key in rig.settings.keys.sorted() {
                    let value = rig.settings[key]!
                    do {
                        if key == "setup" {
                            _ = try setRigSetup(rig: rig.name, command: value)
                        } else {
                            _ = try setRigSetting(rig: rig.name, key: key, value: value)
                        }
                    } catch {
                        carried.settings[key] = nil
                        report.skipped.append(
                            .init(kind: "setting", item: "\(rig.name) \(key)", reason: "not carried: \(error)"))
                    }
                }
                report.rigs.append(carried)
            } catch {
                report.skipped.append(.init(kind: "rig", item: rig.name, reason: error.description))
            }
        }
        for path in plan.settings.keys.sorted() {
            let target = layout.root + "/" + path
            guard !FileManager.default.fileExists(atPath: target) else {
                report.skipped.append(
                    .init(kind: "setting", item: path, reason: "this town got its own \(path) meanwhile; merge by hand"))
                continue
            }
            do { try AtomicFile.write(Array(plan.settings[path]!), to: target, createDirectory: true) } catch {
                report.skipped.append(.init(kind: "setting", item: path, reason: "cannot write \(target): \(error)"))
                continue
            }
            report.settings.append(path)
        }
        let plannedBeads = plan.beads.filter { !$0.value.isEmpty }
        let imported: [String: Result<Int, TownError>] =
            plannedBeads.isEmpty ? [:] : try await withLedger { ledger throws(TownError) in
            var results: [String: Result<Int, TownError>] = [:]
            for scope in plannedBeads.keys.sorted() {
                let list = plannedBeads[scope]!
                guard ledger.scopes.contains(scope) else {
                    results[scope] = .failure(.ledger("its rig was not added"))
                    continue
                }
                do throws(TownError) {
                    // Beads written since the plan was made are kept (an import replaces existing IDs); this body
                    // holds the store's writer lock, so none appears between this read and the write.
                    let fresh = list.filter { ledger.bead($0.id) == nil }
                    if !fresh.isEmpty {
                        try await ledger.write(scope: scope) { _, clock, actor throws(LedgerError) in
                            LedgerOp(actor: actor, stamp: clock.stamp, time: clock.time, change: .importBeads(fresh))
                        }
                    }
                    results[scope] = .success(fresh.count)
                } catch {
                    results[scope] = .failure(error)
                }
            }
            return results
        }
        for (scope, result) in imported.sorted(by: { $0.key < $1.key }) {
            switch result {
            case .success(let count): report.beads[scope] = count
            case .failure(let error):
                for bead in plannedBeads[scope] ?? [] {
                    report.skipped.append(.init(kind: "bead", item: bead.id, reason: "not imported: \(error)"))
                }
                report.hooks.removeAll { hook in plannedBeads[scope]?.contains { $0.id == hook.bead } == true }
                report.mail.removeAll { id in plannedBeads[scope]?.contains { $0.id == id } == true }
            }
        }
        report.changed = !report.rigs.isEmpty || !report.settings.isEmpty || report.beads.values.contains { $0 > 0 }
        guard report.changed else { return report }
        events.record(
            "migrate",
            [
                "source": root, "rigs": report.rigs.map(\.name).joined(separator: ","),
                "beads": "\(report.beads.values.reduce(0, +))", "skipped": "\(report.skipped.count)",
            ])
        return report
    }
}
