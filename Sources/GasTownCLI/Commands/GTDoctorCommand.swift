import Foundation
import Health
import Node
import Town
import Transport
import Wire

/// `gt doctor [--fix]`: checks the town and the cluster (certificates, clock skew, ledger sync lag, tmux, git
/// remotes, disk, stale worktrees, orphaned sessions) with the `Doctor` core over observations the running node
/// gathers (over `node.sock`), or this command itself when no node runs; `--fix` carries out the safe fixes
/// the findings name, then checks again. Exit status 1 while a `fail` finding remains.
public struct GTDoctorCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "doctor",
            abstract:
                "Check the town and the cluster (certificates, clocks, sync, tmux, remotes, disk, worktrees, sessions)",
            discussion: """
                Each check prints ok, warn or fail, what it found and what to do. With --fix, the safe repairs are
                carried out (renew an expired or expiring node certificate when a CA key is here or reachable, kill
                an orphaned session by its exact name on the town's own tmux server, remove a stale worktree with
                nothing uncommitted, prune worktree entries whose directory is gone), then everything is checked
                again; anything with uncommitted work is only reported. Exit status 1 while a failure remains.
                """,
            options: [.flag("fix", help: "carry out the safe repairs, then check again")])
    }

    var fix: Bool

    public init(parsed: ParsedValues) throws(UsageError) { fix = parsed.flag("fix") }

    struct Output: Encodable {
        var node: String
        var source: String
        var at: Double
        var status: DoctorSeverity
        var findings: [DoctorFinding]
        /// The findings before the fixes (only with --fix, when something was fixed).
        var before: [DoctorFinding]?
        var fixes: [DoctorRepair.Outcome]
    }

    public func run(_ context: CommandContext) async throws {
        let town = try NodeCLI.town(context)
        let layout = TownLayout(root: town.root)
        let workflow = try await context.townWorkflow()
        var observed = try await Self.gather(context, town: town, layout: layout, workflow: workflow)
        var findings = Doctor.diagnose(observed)
        var before: [DoctorFinding]?
        var outcomes: [DoctorRepair.Outcome] = []
        if fix, findings.contains(where: { $0.fix != nil }) {
            outcomes = await DoctorRepair.apply(findings, layout: layout, sessions: workflow.sessions) {
                try await Self.renew(town)
            }
            before = findings
            observed = try await Self.gather(context, town: town, layout: layout, workflow: workflow)
            findings = Doctor.diagnose(observed)
        }
        let worst = Doctor.worst(findings)
        let output = Output(
            node: observed.node, source: observed.source, at: observed.at, status: worst, findings: findings,
            before: before, fixes: outcomes)
        try context.report(output) {
            let console = context.console
            if let before {
                for finding in before where finding.fix != nil {
                    console.out("\(Self.label(finding.severity)) \(finding.check) \(finding.subject): \(finding.found)")
                }
                for outcome in outcomes {
                    console.out((outcome.done ? "fixed: " : "not fixed: ") + outcome.message)
                }
                console.out("Checked again after the fixes:")
            }
            for finding in findings {
                console.out("\(Self.label(finding.severity)) \(finding.check) \(finding.subject): \(finding.found)")
                if !finding.action.isEmpty { console.out("     → \(finding.action)") }
            }
            let count = { (severity: DoctorSeverity) in findings.filter { $0.severity == severity }.count }
            let source =
                observed.source == "node"
                ? "as node \(observed.node) sees it"
                : "checked locally: no node runs; clocks and ledger sync not checked"
            console.out("\(count(.fail)) failed, \(count(.warn)) warnings, \(count(.ok)) ok (\(source))")
        }
        if worst == .fail { throw CommandExit(.failure) }
    }

    static func label(_ severity: DoctorSeverity) -> String {
        switch severity {
        case .ok: "ok  "
        case .warn: "WARN"
        case .fail: "FAIL"
        }
    }

    /// The running node's observations over `node.sock`, else this process's own.
    static func gather(
        _ context: CommandContext, town: TownPaths, layout: TownLayout, workflow: TownWorkflow
    ) async throws -> DoctorObservations {
        if let client = await NodeCLI.client(town) {
            defer { client.close() }
            do {
                return try await client.request(
                    NodeMessageType.doctor, EmptyBody(), as: DoctorObservations.self, timeout: 120)
            } catch {
                throw NodeCLI.fail(error)
            }
        }
        let name = (try? NodeCLI.nodeName(flag: nil, town: town))?.rawValue ?? ProcessInfo.processInfo.hostName
        return await DoctorGather.local(
            layout: layout, pki: town.pki, node: name, sessions: workflow.sessions, source: "local",
            ledger: DoctorGather.ledgerFacts(workflow))
    }

    /// Renews this node's certificate (`NodeCLI.renewCertificate`, as `gt node cert renew` does).
    static func renew(_ town: TownPaths) async throws -> String {
        let info = try await NodeCLI.renewCertificate(town)
        return "renewed the node certificate: serial \(info.serial), valid until \(info.notAfter)"
    }
}
