import Foundation
import Town

/// `gt migrate <gas-town-town-dir> [--beads FILE]... [--dry-run] [--json]`: moves a Gas Town town into this one.
public struct GTMigrateCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "migrate", abstract: "Import a Gas Town town: rigs, settings, beads, hooks in flight, mail",
            discussion: """
                Reads the Gas Town town at DIR (never changing it): rigs from mayor/rigs.json and each
                <rig>/config.json (cloned from the town's own copy, <rig>/.repo.git or <rig>/mayor/rig, with
                origin set to the rig's git_url), settings/config.json and settings/agents.json, the beads of
                .beads/issues.jsonl and of every route in .beads/routes.jsonl (plus --beads FILE: a 'bd export' of
                a town that used Dolt), mail (beads of type message). A bead hooked in Gas Town comes over as open
                work labelled gt:migrated-hook, its holder kept in metadata migrated_assignee, to sling again (its
                session and worktree do not move). Everything not carried is listed with the reason. A missing or
                malformed mayor/town.json, mayor/rigs.json, config or beads file stops it before anything is
                written, naming the file. Run it again at any time: what is already here is left as it is, and a run
                with nothing left to carry changes nothing and says so. Stop the node first (gt down). See
                docs/migration.md.
                """,
            options: [
                .option(
                    "beads", value: "FILE", kind: .repeated, help: "a beads JSONL export to import too (bd export -o FILE)"),
                .flag("dry-run", help: "print what would be carried and what not; write nothing"),
            ],
            arguments: [ArgumentSpec("gas-town-town-dir", help: "the Gas Town town's root (holds mayor/town.json)")])
    }

    var source: String
    var exports: [String]
    var dryRun: Bool

    public init(parsed: ParsedValues) throws(UsageError) {
        source = parsed.argument("gas-town-town-dir")
        exports = parsed.strings("beads")
        dryRun = parsed.flag("dry-run")
    }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let root = URL(fileURLWithPath: context.absolutePath(source)).standardizedFileURL.path
        if root == URL(fileURLWithPath: workflow.layout.root).standardizedFileURL.path {
            throw CLIError(
                "\(root) is this town", hint: "run gt migrate from the new town (--town NEW) with the old town's path",
                code: "bad_value")
        }
        let exports = self.exports.map { context.absolutePath($0) }
        let dryRun = self.dryRun
        let report = try await GTTown.run { try await workflow.migrate(from: root, exports: exports, dryRun: dryRun) }
        try context.report(report) {
            let out = context.console.out
            let already = report.alreadyHere
            let alreadyText =
                "\(already.rigs.count) rig(s), \(already.settings.count) settings file(s), "
                + "\(already.beads.values.reduce(0, +)) bead(s)"
            guard report.changed else {
                out("Nothing to migrate from Gas Town town '\(report.sourceTown)' (\(report.source)): this town already has "
                    + "everything it can carry (\(alreadyText)); nothing was changed")
                if !report.skipped.isEmpty {
                    out("  not carried (\(report.skipped.count)):")
                    for item in report.skipped { out("    \(item.kind) \(item.item): \(item.reason)") }
                }
                return
            }
            out("\(dryRun ? "Would migrate" : "Migrated") Gas Town town '\(report.sourceTown)' from \(report.source)")
            out("  rigs:     " + (report.rigs.isEmpty ? "-" : report.rigs.map(\.name).joined(separator: ", ")))
            for rig in report.rigs where !rig.settings.isEmpty || rig.runtime != nil {
                let settings = rig.settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                out("    \(rig.name): " + ((rig.runtime.map { ["runtime=\($0)"] } ?? []) + settings).joined(separator: ", "))
            }
            out("  settings: " + (report.settings.isEmpty ? "-" : report.settings.joined(separator: ", ")))
            let beads = report.beads.sorted { $0.key < $1.key }.map { "\($0.value) in \($0.key)" }
            out("  beads:    " + (beads.isEmpty ? "-" : beads.joined(separator: ", "))
                + " (from \(report.beadFiles.joined(separator: ", ")))")
            out("  mail:     \(report.mail.count) message(s)")
            out("  hooks:    \(report.hooks.count) in flight, carried as open work to sling again")
            for hook in report.hooks {
                out("    \(hook.bead) (was on \(hook.assignee.isEmpty ? "?" : hook.assignee)): \(hook.next)")
            }
            if !already.isEmpty { out("  already here (left as it is): \(alreadyText)") }
            if report.skipped.isEmpty {
                out("  not carried: nothing")
            } else {
                out("  not carried (\(report.skipped.count)):")
                for item in report.skipped { out("    \(item.kind) \(item.item): \(item.reason)") }
            }
        }
    }
}
