import Foundation
import Node

/// `gt sling <bead> [rig] [--runtime R]`: hooks a bead to a polecat of the rig and starts its session.
public struct GTSlingCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "sling", abstract: "Hook a bead to a polecat of a rig and start it working",
            discussion: """
                Claims the bead (lease epoch + 1), picks an idle polecat of the rig (or creates one), creates its
                worktree at <town>/<rig>/polecats/<name>/ on the branch polecat/<node>/<name>/<bead>/e<epoch>,
                writes the hook (.gt/hook.json) and starts the agent's session in tmux. The rig defaults to the one
                whose prefix the bead carries. A missing bead or rig, or a closed or already hooked bead, changes
                nothing.
                """,
            options: [
                .option("runtime", value: "R", help: "claude, codex, … or exec:'<command>' (default: the rig's)")
            ],
            arguments: [
                ArgumentSpec("bead", help: "the bead to work on"),
                ArgumentSpec("rig", help: "the rig (default: the bead's)", arity: .optional),
            ])
    }

    var bead: String
    var rig: String?
    var runtime: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        bead = parsed.argument("bead")
        rig = parsed.optionalArgument("rig")
        runtime = parsed.string("runtime")
        if let runtime, runtime.trimmingCharacters(in: .whitespaces).isEmpty {
            throw parsed.invalid("the runtime is empty: use claude, codex, gemini, … or exec:'<command>'")
        }
    }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let result = try await GTTown.run { try await workflow.sling(bead: bead, rig: rig, runtime: runtime) }
        if context.jsonMode { return try context.console.json(result) }
        context.console.out(
            "Slung \(result.bead) to \(result.rig)/polecats/\(result.polecat) (lease epoch \(result.epoch))")
        context.console.out("  branch:   \(result.branch)")
        context.console.out("  worktree: \(result.worktree)")
        context.console.out("  session:  \(result.session) (\(result.runtime))")
    }
}

/// `gt done`: from inside a polecat's worktree, finishes the assignment.
public struct GTDoneCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "done", abstract: "Finish the hooked work: push, file a merge request, release the hook",
            discussion: """
                Run inside the polecat's worktree with everything committed. Steps (each recorded in .gt/done.json
                and safe to repeat): push the branch to the rig's remote, file a merge-request bead (its ID is derived
                from bead, lease epoch and commit, so a retry never files a second), release the claim and the hook,
                mark the polecat idle. A dirty worktree changes nothing.
                """)
    }

    public init(parsed: ParsedValues) throws(UsageError) {}

    public func run(_ context: CommandContext) async throws {
        guard TownLayout.enclosingWorktree(of: context.cwd) != nil else {
            throw GTTown.cliError(TownError.notInWorktree(context.cwd))
        }
        let result = try await context.agentRequest(
            TownAgentRequest(.done, directory: context.cwd), as: DoneResult.self
        ) { try await $0.done(from: context.cwd) }
        if context.jsonMode { return try context.console.json(result) }
        if result.stepsRun.isEmpty {
            context.console.out("Already done: \(result.bead) → merge request \(result.mergeRequest)")
        } else {
            context.console.out("Done: \(result.bead) (epoch \(result.epoch)) → merge request \(result.mergeRequest)")
            context.console.out("  branch \(result.branch) at \(result.commit.prefix(12)) pushed; hook released")
        }
    }
}

extension GTTown {
    static func run<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw cliError(error) }
    }
}
