import Foundation
import Node
import Town

/// `gt mq`: the merge queue (Gas Town's spelling).
public struct GTMQCommand: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "mq", abstract: "The merge queue: requests filed by gt done, landed by the rig's Refinery",
            discussion: """
                Each request has a status: queued, testing, merged, rework (the gate failed with it; a rework bead went
                back to its polecat), conflict (its rebase conflicted; the files are listed), rejected (stale lease
                epoch, unreadable branch, or 'gt mq reject') or superseded (a run of 'gt sling --compare' whose bead
                another run merged), and when not merged a reason. 'gt refinery run <rig>'
                processes the queue.
                """,
            subcommands: [
                GTMQListCommand.self, GTMQStatusCommand.self, GTMQShowCommand.self, GTMQRetryCommand.self,
                GTMQRejectCommand.self,
            ])
    }

    public init() {}
}

enum GTMQ {
    static func line(_ entry: MQEntry) -> String {
        var text =
            "\(entry.id)  [P\(entry.priority)] \(entry.status)  \(entry.sourceBead) e\(entry.leaseEpoch)  "
            + "\(entry.branch) @ \(entry.commit.prefix(12))  by \(entry.worker)"
        if let commit = entry.mergeCommit, entry.status == "merged" { text += "  → \(commit.prefix(12))" }
        if let reason = entry.reason { text += "\n    reason: \(reason)" }
        return text
    }

    static func duration(_ seconds: Int) -> String {
        if seconds < 120 { return "\(seconds)s" }
        if seconds < 7200 { return "\(seconds / 60)m" }
        if seconds < 172_800 { return "\(seconds / 3600)h\((seconds % 3600) / 60)m" }
        return "\(seconds / 86400)d\((seconds % 86400) / 3600)h"
    }
}

/// `gt mq list [rig] [--all]` (also `gt refinery queue`).
public struct GTMQListCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "list", aliases: ["ls"], abstract: "List merge requests in queue order (priority, then age)",
            options: [.flag("all", help: "include closed ones (merged, rework, conflict, rejected)")],
            arguments: [ArgumentSpec("rig", help: "only this rig", arity: .optional)])
    }

    var rig: String?
    var all: Bool

    public init(parsed: ParsedValues) throws(UsageError) {
        rig = parsed.optionalArgument("rig")
        all = parsed.flag("all")
    }

    init(rig: String?, all: Bool) {
        self.rig = rig
        self.all = all
    }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let entries = try await GTTown.run { try await workflow.mqList(rig: rig, all: all) }
        if context.jsonMode { return try context.console.json(entries) }
        if entries.isEmpty { return context.console.out(all ? "No merge requests" : "No open merge requests") }
        for entry in entries { context.console.out(GTMQ.line(entry)) }
    }
}

/// `gt mq status [rig]`.
public struct GTMQStatusCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "status", abstract: "The queue of each rig: gate mode, settings, counts, the oldest wait",
            arguments: [ArgumentSpec("rig", help: "only this rig", arity: .optional)])
    }

    var rig: String?

    public init(parsed: ParsedValues) throws(UsageError) { rig = parsed.optionalArgument("rig") }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let statuses = try await GTTown.run { try await workflow.mqStatus(rig: rig) }
        if context.jsonMode { return try context.console.json(statuses) }
        if statuses.isEmpty { return context.console.out("No rigs; add one with 'gt rig add <name> <git-url>'") }
        for status in statuses {
            context.console.out("\(status.rig) → \(status.target)")
            if let gate = status.gate {
                context.console.out("  gate:     \(gate)  (timeout \(status.gateTimeout)s)")
            } else {
                context.console.out(
                    "  gate:     none configured: requests merge after a clean rebase "
                        + "(set one with 'gt rig set \(status.rig) gate CMD')")
            }
            context.console.out(
                "  settings: batch \(status.batchSize), speculation \(status.speculationDepth), "
                    + "gate concurrency \(status.gateConcurrency), flaky retries \(status.flakyRetries)")
            context.console.out(
                "  queue:    \(status.queued) queued, \(status.testing) testing; \(status.merged) merged, "
                    + "\(status.rework) rework, \(status.conflict) conflict, \(status.rejected) rejected")
            if let oldest = status.oldest, let wait = status.oldestWaitSeconds {
                context.console.out("  oldest:   \(oldest), waiting \(GTMQ.duration(wait))")
            } else {
                context.console.out("  oldest:   nothing waits")
            }
            context.console.out(
                "  refinery: "
                    + (status.refineryRunning
                        ? "running on \(status.refineryNode ?? "?")"
                        : status.leaseNode.map { "idle" + ($0.isEmpty ? "" : " on \($0)") }
                            ?? "not running ('gt refinery run \(status.rig)', or 'gt up')")
                    + (status.leaseNode.map { "; lease held by node \($0) at epoch \(status.leaseEpoch ?? 0)" } ?? ""))
            for overlap in status.overlaps { context.console.out("  overlap:  \(overlap)") }
        }
    }
}

/// `gt mq show <mr>`.
public struct GTMQShowCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "show", abstract: "Show one merge request: status, reason, merge commit, gate log",
            arguments: [ArgumentSpec("mr", help: "the merge request's ID")])
    }

    var id: String

    public init(parsed: ParsedValues) throws(UsageError) { id = parsed.argument("mr") }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let entry = try await GTTown.run { try await workflow.mqShow(id) }
        if context.jsonMode { return try context.console.json(entry) }
        context.console.out("\(entry.id)  \(entry.status)")
        context.console.out("  rig:      \(entry.rig) → \(entry.target)")
        context.console.out("  bead:     \(entry.sourceBead) (lease epoch \(entry.leaseEpoch), P\(entry.priority))")
        context.console.out("  branch:   \(entry.branch) @ \(entry.commit)")
        context.console.out("  worker:   \(entry.worker)")
        context.console.out("  filed:    \(entry.createdAt)")
        if entry.retryCount > 0 { context.console.out("  retries:  \(entry.retryCount)") }
        if let wait = entry.waitSeconds { context.console.out("  waiting:  \(GTMQ.duration(wait))") }
        if let commit = entry.mergeCommit { context.console.out("  merged:   \(commit)") }
        if let reason = entry.reason { context.console.out("  reason:   \(reason)") }
        if let files = entry.conflictFiles { context.console.out("  conflicts: \(files.joined(separator: ", "))") }
        if let log = entry.gateLog { context.console.out("  gate log: \(log)") }
        if let rework = entry.reworkBead { context.console.out("  rework:   \(rework)") }
    }
}

/// `gt mq retry <mr>`.
public struct GTMQRetryCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "retry", abstract: "Queue a sent-back (rework, conflict) or rejected request again",
            arguments: [ArgumentSpec("mr", help: "the merge request's ID")])
    }

    var id: String

    public init(parsed: ParsedValues) throws(UsageError) { id = parsed.argument("mr") }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let entry = try await GTTown.run { try await workflow.mqRetry(id) }
        try context.report(entry) {
            context.console.out("Queued \(entry.id) again (retry \(entry.retryCount))")
        }
    }
}

/// `gt mq reject <mr> -r REASON`.
public struct GTMQRejectCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "reject", abstract: "Reject an open merge request with a reason",
            options: [.option("reason", short: "r", value: "REASON", help: "why (required)")],
            arguments: [ArgumentSpec("mr", help: "the merge request's ID")])
    }

    var id: String
    var reason: String

    public init(parsed: ParsedValues) throws(UsageError) {
        id = parsed.argument("mr")
        guard let reason = parsed.string("reason"), !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw parsed.invalid("a rejection needs a reason: pass -r REASON")
        }
        self.reason = reason
    }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let entry = try await GTTown.run { try await workflow.mqReject(id, reason: reason) }
        try context.report(entry) { context.console.out("Rejected \(entry.id): \(reason)") }
    }
}

/// `gt refinery run <rig> [--once]`: runs the rig's Refinery in this process.
public struct GTRefineryRunCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "run", abstract: "Run the rig's Refinery here: land queued merge requests",
            discussion: """
                Rebases each queued request onto the rig's target branch in the Refinery's clone, runs the rig's gate
                (gt rig set <rig> gate CMD) on batches, and pushes what passes to the rig's remote with a
                compare-and-swap. Failures are bisected; culprits go back to their polecats as rework beads. With
                --once it stops when the queue is empty; otherwise it passes again every --interval seconds.
                """,
            options: [
                .flag("once", help: "process the queue until it is empty, then exit"),
                .option(
                    "interval", value: "SECONDS", type: .integer(1...3600), help: "pause between passes",
                    default: "5"),
            ],
            arguments: [ArgumentSpec("rig", help: "the rig")])
    }

    var rig: String
    var once: Bool
    var interval: Int

    public init(parsed: ParsedValues) throws(UsageError) {
        rig = parsed.argument("rig")
        once = parsed.flag("once")
        interval = try parsed.int("interval") ?? 5
    }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        if NodeLedgerHandle.current != nil {
            // Forwarded to the running node: its Refinery (the rig's lease holder in the cluster) runs the queue.
            let holder = try await GTTown.run { try await workflow.refineryHolder(rig) }
            let text =
                holder.map { "held by node \($0.node) at epoch \($0.epoch)" }
                ?? "not claimed yet (the node claims it within seconds)"
            if context.jsonMode {
                try context.console.json([
                    "rig": rig, "handled_by_node": "true", "holder": holder?.node ?? "",
                    "epoch": holder.map { "\($0.epoch)" } ?? "",
                ])
            } else {
                context.console.out(
                    "the node runs rig \(rig)'s Refinery (\(text)); nothing to run here. "
                        + "'gt mq status \(rig)' shows the queue; 'gt down' first to run it in this process.")
            }
            return
        }
        let refinery: RigRefinery
        do { refinery = try RigRefinery(workflow: workflow, rig: rig) } catch { throw GTTown.cliError(error) }
        repeat {
            let report = try await GTTown.run { try await refinery.runUntilIdle() }
            if context.jsonMode {
                try context.console.json(report)
            } else {
                context.console.out(
                    "\(rig): \(report.merged.count) merged, \(report.rework.count) rework, "
                        + "\(report.conflict.count) conflict, \(report.rejected.count) rejected; "
                        + "\(report.gateRuns) gate runs\(report.gated ? "" : " (no gate: rebase only)"), "
                        + "\(report.pushes) pushes; \(report.tip.isEmpty ? "" : "tip \(report.tip.prefix(12))")")
            }
            if once { break }
            try await Task.sleep(for: .seconds(interval))
        } while true
    }
}

/// `gt rig set <rig> <key> <value>`.
public struct GTRigSetCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "set", abstract: "Change a rig's merge-queue setting (gate, batch_size, …)",
            discussion: "Keys:\n"
                + "  setup: a shell command run in each new polecat worktree before its session starts (output in "
                + "the worktree's .gt/setup.log; a failure releases the bead; empty: none)\n"
                + RigMergeQueueSettings.keys.map { "  \($0.key): \($0.help)" }.joined(separator: "\n"),
            arguments: [
                ArgumentSpec("rig", help: "the rig"), ArgumentSpec("key", help: "the setting"),
                ArgumentSpec("value", help: "its new value"),
            ])
    }

    var rig: String
    var key: String
    var value: String

    public init(parsed: ParsedValues) throws(UsageError) {
        rig = parsed.argument("rig")
        key = parsed.argument("key")
        value = parsed.argument("value")
    }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let config: RigConfig
        do {
            config =
                key == "setup"
                ? try workflow.setRigSetup(rig: rig, command: value)
                : try workflow.setRigSetting(rig: rig, key: key, value: value)
        } catch {
            throw GTTown.cliError(error)
        }
        try context.report(config) { context.console.out("Set \(key) of rig '\(rig)' to '\(value)'") }
    }
}
