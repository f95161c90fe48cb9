import Foundation
import Town

/// `gt estop [--reason TEXT]`: freezes the whole cluster (docs/health.md): every node's Witness pauses the sessions
/// of its hooked polecats (SIGSTOP of each session's processes), no node accepts a sling, the Refinery merges
/// nothing and the Mayors place and fail over nothing, until `gt thaw`. The freeze is a record in the town ledger,
/// so it reaches every node through the ledger remote, also a node that was down (at its first sync).
public struct GTEstopCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "estop", abstract: "Emergency stop: freeze every agent session in the cluster (gt thaw resumes)",
            discussion: """
                Writes the freeze record to the town ledger; every node's Witness pauses its polecats' sessions at
                its next patrol, slings are refused on every node with a message naming the freeze, and the
                Refinery holds. A node that was down learns the freeze at its first ledger sync. Running it while
                the cluster is frozen changes nothing.
                """,
            options: [.option("reason", short: "r", value: "TEXT", help: "why (shown with every refused sling)")])
    }

    var reason: String

    public init(parsed: ParsedValues) throws(UsageError) { reason = parsed.string("reason") ?? "" }

    struct Output: Encodable {
        var frozen: Bool
        var changed: Bool
        var version: Int
        var reason: String
        var by: String
        var node: String
        var at: String
    }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let (record, changed) = try await GTTown.run { try await workflow.setFreeze(frozen: true, reason: reason) }
        try context.report(Output(record, changed: changed)) {
            if changed {
                context.console.out(
                    "❄ Cluster frozen (estop version \(record.version)): sessions pause at each node's next patrol; "
                        + "slings are refused; 'gt thaw' resumes")
            } else {
                context.console.out("The cluster is already frozen (by \(record.by) on \(record.node) at \(record.at))")
            }
        }
    }
}

/// `gt thaw`: ends the freeze of `gt estop`: sessions continue (SIGCONT), slings and merges resume.
public struct GTThawCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "thaw", abstract: "End the emergency stop: resume every paused session, accept slings again",
            discussion: """
                Writes the thawed record to the town ledger; every node's Witness resumes the sessions it paused at
                its next patrol (their health rules start afresh, so the freeze is never taken for a hang). Running
                it when the cluster is not frozen changes nothing.
                """)
    }

    public init(parsed: ParsedValues) throws(UsageError) {}

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let (record, changed) = try await GTTown.run { try await workflow.setFreeze(frozen: false, reason: "") }
        try context.report(GTEstopCommand.Output(record, changed: changed)) {
            context.console.out(
                changed
                    ? "Cluster thawed (estop version \(record.version)): sessions resume at each node's next patrol"
                    : "The cluster is not frozen; nothing to thaw")
        }
    }
}

extension GTEstopCommand.Output {
    init(_ record: FreezeRecord, changed: Bool) {
        self.init(
            frozen: record.frozen, changed: changed, version: record.version, reason: record.reason, by: record.by,
            node: record.node, at: record.at)
    }
}
