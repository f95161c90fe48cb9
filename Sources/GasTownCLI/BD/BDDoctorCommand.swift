import Foundation
import LedgerStore

/// `bd doctor [--repair]`: checks the store as a reader (changing nothing) and says what opening it found: the
/// snapshot loaded, damaged snapshots skipped, damage at the end of the write-ahead log. Exits 1 when something is
/// wrong. `--repair` opens it as a writer that accepts the loss: a damaged tail is cut even when it held
/// acknowledged records (which a normal writer refuses to do), its bytes kept in `wal/<segment>.cut-<time>`.
public struct BDDoctorCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "doctor", abstract: "Check the store (write-ahead log, snapshots); --repair accepts a damaged tail",
            discussion: """
                Without --repair nothing is changed: the store is opened as a reader. A torn write at the end of the
                log (a crash mid-write, never acknowledged) is cut by the next command that writes. Damage that lost
                acknowledged records makes writers refuse until it is repaired here or the store is restored.
                """,
            options: [
                .flag("repair", help: "cut damage at the end of the log, keeping the cut bytes in wal/*.cut-*")
            ])
    }

    var repair: Bool
    public init(parsed: ParsedValues) throws(UsageError) { repair = parsed.flag("repair") }

    /// What `--json` prints.
    struct Output: Encodable {
        var path: String
        var snapshot: UInt64?
        var replayed: Int
        var nextRecord: UInt64
        var problems: [String]
        var repaired: Bool
        var keptAt: String?

        enum CodingKeys: String, CodingKey {
            case path, snapshot, replayed, problems, repaired
            case nextRecord = "next_record"
            case keptAt = "kept_at"
        }
    }

    public func run(_ context: CommandContext) async throws {
        let location = try context.beadsStore()
        let mode: StoreOpenMode = repair ? .repair : .read
        if let held = try await BDSupport.heldDatabase(for: location.path), repair {
            _ = held
            throw CLIError(
                "bd doctor --repair cannot run while the town's node holds the store",
                hint: "stop the node with 'gt down', run 'bd doctor --repair', then 'gt up'", code: "node_running")
        }
        let heldReport = try await BDSupport.heldDatabase(for: location.path)?.recovery
        let report: RecoveryReport = try await BlockingWork.run { () throws -> RecoveryReport in
            if let heldReport { return heldReport }
            do throws(LedgerDatabaseError) {
                let db = try LedgerDatabase.open(StoreLayout(beadsDirectory: location.path), mode: mode)
                defer { db.close() }
                return db.recovery
            } catch {
                throw BDSupport.cliError(error)
            }
        }
        let repaired = repair && (report.tail != nil || !report.setAsideSnapshots.isEmpty)
        let output = Output(
            path: location.path, snapshot: report.snapshotSequence, replayed: report.replayedRecords,
            nextRecord: report.nextSequence, problems: report.warnings, repaired: repaired,
            keptAt: report.tail?.keptAt)
        try context.report(output) {
            let console = context.console
            console.out("store: \(location.path)")
            let snapshot = report.snapshotSequence.map { "snapshot at record \($0)" } ?? "no snapshot"
            console.out(
                "loaded: \(snapshot), \(report.replayedRecords) record(s) replayed; next record #\(report.nextSequence)"
            )
            if report.warnings.isEmpty { console.out("✓ no problems found") }
            for line in report.warnings { console.out("problem: " + line) }
            if repaired { console.out("✓ repaired: the store takes writes again") }
        }
        if !repair && !report.warnings.isEmpty {
            throw CLIError(
                "the store has problems (above)",
                hint: "a writer cuts a torn write by itself; for lost acknowledged records restore .beads, or run "
                    + "'bd doctor --repair' to accept the loss",
                code: "damaged_log")
        }
    }
}
