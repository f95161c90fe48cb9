import Foundation
import Node
import Scheduling
import Town

/// `gt sling <bead> [rig] [--runtime R]`: hooks a bead to a polecat of the rig and starts its session.
public struct GTSlingCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "sling", abstract: "Hook a bead to a polecat of a rig and start it working",
            discussion: """
                Claims the bead (lease epoch + 1), picks an idle polecat of the rig (or creates one), creates its
                worktree at <town>/<rig>/polecats/<name>/ on the branch polecat/<node>/<name>/<bead>/e<epoch>,
                writes the hook (.gt/hook.json) and starts the agent's session in tmux. The rig defaults to the one
                whose prefix the bead carries. Only work is slung (not messages, agents, merge requests, molecules,
                gates, convoys) — but a molecule's ready steps are: 'gt sling <molecule>' slings each ready step to a
                polecat, and 'gt sling <formula> --on <bead> [--var k=v]' pours the formula (its root tracking the
                bead, the variable 'issue' set to the bead when the formula declares it) and slings its first ready
                steps. A missing bead or rig, or a closed or already claimed bead, changes nothing; each
                refusal names the command that gets past it. --force takes over a bead someone holds: their claim
                is released in the same write (the lease epoch still goes up by one, so their 'gt done' is
                refused), a polecat of this town that held it is stopped and set idle, and a comment and a
                sling-force event record who forced it.

                In a cluster (the town's node runs with other members), a bead slung with no rig goes to the node the
                Mayor picks (docs/scheduling.md): one that has the rig, a free slot, the --require labels and the
                placement policy's, not draining, among the least loaded; the target claims it (synced through the
                ledger before its session starts) or refuses and the next is asked. When no node can take it now the
                bead is queued on this node and placed when one has room (the reason is printed). --node sends it to
                that node. A rig named without --node or --require slings here, as on one node. A molecule (or a
                formula with --on, poured here) has each ready step placed by the Mayor in the same way.

                --compare claude,codex runs the same bead on each runtime (two or more, each known to the rig), each
                in its own polecat of this town: the bead itself on the first, a twin bead (<prefix>-cmp-…, label
                gt:compare) on each other. The Refinery tests their merge requests one at a time, first filed first,
                merges the first that passes (closing the bead) and closes the others as superseded, unmerged. Every
                outcome goes on the polecats' CVs per runtime (gt polecat status).
                """,
            options: [
                .option("runtime", value: "R", help: "claude, codex, … or exec:'<command>' (default: the rig's)"),
                .flag("force", help: "take over a bead someone else holds (recorded in a comment and an event)"),
                .option("on", value: "BEAD", help: "the first argument is a formula: pour it onto BEAD, sling its steps"),
                BDMolecules.varOption,
                .option("node", value: "NAME", help: "in a cluster: the node to work it on"),
                .option("require", value: "K=V,…", help: "in a cluster: labels the node must carry (gpu=true,region=eu)"),
                .option(
                    "compare", value: "R1,R2,…",
                    help: "run the bead on each runtime in its own polecat; the first that passes is merged"),
            ],
            arguments: [
                ArgumentSpec("bead", help: "the bead to work on (a molecule: its ready steps; with --on: a formula)"),
                ArgumentSpec("rig", help: "the rig (default: the bead's)", arity: .optional),
            ])
    }

    var bead: String
    var rig: String?
    var runtime: String?
    var force: Bool
    var on: String?
    var variables: [String: String]
    var node: String?
    var require: [String: String]
    var compare: [String]?

    public init(parsed: ParsedValues) throws(UsageError) {
        bead = parsed.argument("bead")
        on = parsed.string("on")
        variables = try BDMolecules.variables(parsed)
        if on == nil && !variables.isEmpty { throw parsed.invalid("--var goes with --on (gt sling <formula> --on <bead>)") }
        rig = parsed.optionalArgument("rig")
        runtime = parsed.string("runtime")
        force = parsed.flag("force")
        node = parsed.string("node")
        require = [:]
        if let runtime, runtime.trimmingCharacters(in: .whitespaces).isEmpty {
            throw parsed.invalid("the runtime is empty: use claude, codex, gemini, … or exec:'<command>'")
        }
        if let node, node.isEmpty { throw parsed.invalid("--node needs a node name (see gt node list)") }
        if let text = parsed.string("require") {
            do { require = try Placement.parseRequirements(text) } catch {
                throw parsed.invalid("--require: \(error.message)")
            }
        }
        if let text = parsed.string("compare") {
            let list = text.split(separator: ",", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard list.count >= 2, !list.contains(where: \.isEmpty) else {
                throw parsed.invalid(
                    "--compare needs two or more runtimes separated by commas (--compare claude,codex)")
            }
            guard Set(list).count == list.count else {
                throw parsed.invalid("--compare names a runtime twice: \(text)")
            }
            if runtime != nil { throw parsed.invalid("--compare names the runtimes: leave out --runtime") }
            if force || on != nil || node != nil || !require.isEmpty {
                throw parsed.invalid("--compare goes without --force, --on, --node and --require")
            }
            compare = list
        }
    }

    public func run(_ context: CommandContext) async throws {
        if let compare { return try await runCompare(compare, context) }
        let root = try context.townRoot().path
        let wantsMayor = node != nil || !require.isEmpty
        var mayor = NodeLedgerHandle.current != nil ? Mayor.running(town: root) : nil
        if let found = mayor, !wantsMayor {
            let clustered = await found.inCluster()
            if rig != nil || force || !clustered { mayor = nil }
        }
        if let mayor {
            guard !force else { throw CLIError("--force is not placed by the Mayor: name the rig", code: "usage") }
            let workflow = try await context.townWorkflow()
            if let molecule = try await GTMoleculeSling.place(self, mayor, workflow, context) { return molecule }
            return try await place(mayor, context)
        }
        if wantsMayor {
            throw CLIError(
                "--node and --require place work in a cluster: start the town's node (gt up) joined to one "
                    + "(gt node join)", code: "no_cluster")
        }
        let workflow = try await context.townWorkflow()
        if let molecule = try await GTMoleculeSling.run(self, workflow, context) { return molecule }
        let result = try await GTTown.run {
            try await workflow.sling(bead: bead, rig: rig, runtime: runtime, force: force)
        }
        if context.jsonMode { return try context.console.json(result) }
        if let from = result.takenFrom { context.console.out("Took \(result.bead) over from \(from)") }
        context.console.out(
            "Slung \(result.bead) to \(result.rig)/polecats/\(result.polecat) (lease epoch \(result.epoch))")
        context.console.out("  branch:   \(result.branch)")
        context.console.out("  worktree: \(result.worktree)")
        context.console.out("  session:  \(result.session) (\(result.runtime))")
    }

    /// `--compare`: the bead on each runtime, in this town.
    func runCompare(_ runtimes: [String], _ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let result = try await GTTown.run { try await workflow.slingCompare(bead: bead, rig: rig, runtimes: runtimes) }
        if context.jsonMode { return try context.console.json(result) }
        context.console.out("Comparing \(runtimes.joined(separator: ", ")) on \(result.bead):")
        for run in result.runs {
            context.console.out(
                "  \(run.runtime): \(run.bead) to \(run.rig)/polecats/\(run.polecat) (lease epoch \(run.epoch)), "
                    + "branch \(run.branch)")
        }
    }

    /// Places the bead through this node's Mayor (the command runs inside the node).
    func place(_ mayor: Mayor, _ context: CommandContext) async throws {
        let placement: MayorPlacement
        do {
            placement = try await mayor.place(bead: bead, rig: rig, runtime: runtime, require: require, node: node)
        } catch {
            throw CLIError(error.message, code: "placement_refused")
        }
        if context.jsonMode { return try context.console.json(placement) }
        guard placement.admitted else {
            context.console.out("Queued \(placement.bead) (rig \(placement.rig)): \(placement.reason)")
            context.console.out("  it is slung when a node has room; see gt mayor queue")
            return
        }
        context.console.out(
            "Slung \(placement.bead) to \(placement.rig)/polecats/\(placement.polecat) on node \(placement.node) "
                + "(lease epoch \(placement.epoch))")
        for refusal in placement.tried { context.console.out("  refused first: \(refusal)") }
        context.console.out("  branch:   \(placement.branch)")
        context.console.out("  session:  \(placement.session) (\(placement.runtime))")
    }
}

/// `gt release <bead>… [-r REASON]`: gives beads back to the town (Gas Town's `gt release`; also what its
/// `gt unsling` does to a hook).
public struct GTReleaseCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "release", abstract: "Release claimed or hooked beads back to open",
            discussion: """
                For each bead: the holder's claim is released, the lease epoch goes up by one (so the old holder's
                'gt done' is refused) and the status becomes open, in one write; a polecat of this town hooked to it
                is stopped and set idle. The reason is added as a comment. A closed bead, or one nobody holds, is
                refused. Every bead is tried; the exit status is 1 if any was refused.
                """,
            options: [.option("reason", short: "r", value: "TEXT", help: "why (added as a comment)")],
            arguments: [ArgumentSpec("bead", help: "the beads to release", arity: .variadic(min: 1))])
    }

    var beads: [String]
    var reason: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        beads = parsed.argumentList("bead")
        reason = parsed.string("reason")
    }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        var results: [ReleaseResult] = []
        var failures: [Error] = []
        for bead in beads {
            do {
                let result = try await GTTown.run { try await workflow.release(bead: bead, reason: reason) }
                results.append(result)
                if context.jsonMode { continue }
                let from = result.from.isEmpty ? "" : " from \(result.from)"
                let unhooked = result.polecat.map { "; \($0) unhooked" } ?? ""
                context.console.out("✓ Released \(result.bead)\(from) → open (lease epoch \(result.epoch))\(unhooked)")
            } catch {
                failures.append(error)
            }
        }
        if failures.isEmpty { return try context.report(results) {} }
        if failures.count == 1, beads.count == 1 { throw failures[0] }
        throw CLIError(
            "\(failures.count) of \(beads.count) beads not released: "
                + failures.map { "\($0)" }.joined(separator: "; "),
            code: "partial")
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
