import Foundation
import LedgerStore
import Node
import Town

/// `gt convoy`: batches of work tracked across rigs and nodes (DESIGN §6). A thin client of
/// `TownWorkflow+Convoy`; run by the node when it runs (command forwarding), else embedded.
public struct GTConvoyCommand: CommandGroup {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "convoy", abstract: "Track a batch of beads across rigs and nodes; land it when all is merged",
            discussion: """
                A convoy is a bead of type convoy in the town scope (hq-cv-…) with a 'tracks' edge to each bead it
                follows, in any rig. It lands (closes, with a convoy_landed event and mail to its subscribers) when
                every tracked bead is closed and its merge request merged by the Refinery; landing is a claim, so
                exactly one node lands it. The node lands complete convoys by itself; 'gt convoy land' does it now.
                A convoy is named by its ID or its name.
                """,
            subcommands: [
                GTConvoyCreateCommand.self, GTConvoyAddCommand.self, GTConvoyStatusCommand.self,
                GTConvoyListCommand.self, GTConvoyLandCommand.self, GTConvoyLaunchCommand.self,
            ])
    }

    public init() {}

    static let convoyArgument = ArgumentSpec("convoy", help: "the convoy's ID (hq-cv-…) or name")

    /// One convoy in text: the header with a progress bar, then a line per tracked bead.
    static func print(_ view: ConvoyView, _ context: CommandContext, beads: Bool = true) {
        let state = view.status == "landed" ? "landed by \(view.landedBy)" : (view.landable ? "ready to land" : "open")
        context.console.out(
            "\(view.id)  \(view.name)  \(ConvoyCore.progressBar(done: view.done, total: view.total))  \(state)"
                + (view.launched && view.status != "landed" ? "  (launched)" : ""))
        guard beads else { return }
        for bead in view.tracked {
            var placement = bead.polecat.isEmpty ? "" : "  \(bead.polecat)"
            if !bead.node.isEmpty { placement += " on \(bead.node)" }
            let request = bead.mergeRequest.isEmpty ? "" : "  mr \(bead.mergeRequest) \(bead.mergeStatus)"
            let waits = bead.blockers.isEmpty ? "" : "  waits for \(bead.blockers.joined(separator: ", "))"
            let mark = bead.done ? "✓" : "·"
            context.console.out(
                "  \(mark) \(bead.id)  \(bead.state.rawValue)\(placement)\(request)\(waits)  \(bead.title)")
            if let aside = bead.setAside { context.console.out("      set aside: \(aside)") }
        }
        if !view.notify.isEmpty { context.console.out("  notifies: \(view.notify.joined(separator: ", "))") }
    }

    /// The ledger remote's sync engine for the landing claim, when the town's ledger has a remote (inside the
    /// node, the sync loop's own), else nil (the local compare-and-swap decides).
    static func engine(_ context: CommandContext) async throws -> LedgerSync? {
        let layout = StoreLayout(beadsDirectory: TownLayout(root: try context.townRoot().path).beadsDirectory)
        guard !SyncConfig.remotes(layout).isEmpty else { return nil }
        return await BDSyncSupport.engine(layout)
    }
}

/// `gt convoy create <name> <bead>… [--notify ADDR]… [--human]`.
public struct GTConvoyCreateCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "create", abstract: "Create a convoy tracking beads of any rig",
            discussion: """
                Each bead must exist in the town's ledger (any rig's scope) and be work (not a convoy, message, agent
                or merge request). A name another convoy has is refused. --notify (repeatable) and --human subscribe
                mailboxes to the landing: each gets a message when the convoy lands.
                """,
            options: [
                .option(
                    "notify", value: "ADDR", kind: .repeated,
                    help: "mail this address when it lands (overseer, mayor/, <rig>/polecats/<name>, …)"),
                .flag("human", help: "mail the overseer (the person at the keyboard) when it lands"),
            ],
            arguments: [
                ArgumentSpec("name", help: "the convoy's name"),
                ArgumentSpec("bead", help: "the beads it tracks", arity: .variadic(min: 1)),
            ])
    }

    var name: String
    var beads: [String]
    var notify: [String]
    var human: Bool

    public init(parsed: ParsedValues) throws(UsageError) {
        name = parsed.argument("name")
        beads = parsed.argumentList("bead")
        notify = parsed.strings("notify")
        human = parsed.flag("human")
        if let problem = ConvoyCore.nameProblem(name) { throw parsed.invalid(problem) }
    }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let view = try await GTTown.run {
            try await workflow.createConvoy(name: name, beads: beads, notify: notify, human: human)
        }
        if context.jsonMode { return try context.console.json(view) }
        context.console.out("Created convoy \(view.id) (\(view.name)) tracking \(view.total) beads")
        GTConvoyCommand.print(view, context)
    }
}

/// `gt convoy add <convoy> <bead>…`.
public struct GTConvoyAddCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "add", abstract: "Track more beads in a convoy",
            discussion: "Beads it tracks already are left alone; an unknown bead or a landed convoy changes nothing.",
            arguments: [
                GTConvoyCommand.convoyArgument,
                ArgumentSpec("bead", help: "the beads to add", arity: .variadic(min: 1)),
            ])
    }

    var convoy: String
    var beads: [String]

    public init(parsed: ParsedValues) throws(UsageError) {
        convoy = parsed.argument("convoy")
        beads = parsed.argumentList("bead")
    }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let view = try await GTTown.run { try await workflow.addToConvoy(convoy, beads: beads) }
        if context.jsonMode { return try context.console.json(view) }
        context.console.out("Convoy \(view.id) (\(view.name)) tracks \(view.total) beads")
        GTConvoyCommand.print(view, context)
    }
}

/// `gt convoy status [<convoy>]`.
public struct GTConvoyStatusCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "status", abstract: "Show a convoy's beads: node, polecat, state, merge request (all open convoys)",
            discussion: """
                States: ready, blocked, working (a polecat holds it), review (its merge request is queued or being
                tested), rework (sent back), merged (done), closed_unmerged (closed without a merged merge request:
                not done), set_aside (failed three times under 'gt convoy launch'), missing (not in this ledger).
                """,
            arguments: [
                ArgumentSpec("convoy", help: "the convoy's ID or name (default: every open convoy)", arity: .optional)
            ])
    }

    var convoy: String?

    public init(parsed: ParsedValues) throws(UsageError) { convoy = parsed.optionalArgument("convoy") }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        if let convoy {
            let view = try await GTTown.run { try await workflow.convoyStatus(convoy) }
            return try context.report(view) { GTConvoyCommand.print(view, context) }
        }
        let views = try await GTTown.run { try await workflow.convoys() }
        if context.jsonMode { return try context.console.json(views) }
        if views.isEmpty { return context.console.out("No open convoys") }
        for view in views { GTConvoyCommand.print(view, context) }
    }
}

/// `gt convoy list [--all]`.
public struct GTConvoyListCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "list", abstract: "List convoys with their progress (open ones unless --all)",
            options: [.flag("all", help: "include landed convoys")])
    }

    var all: Bool

    public init(parsed: ParsedValues) throws(UsageError) { all = parsed.flag("all") }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let all = self.all
        let views = try await GTTown.run { try await workflow.convoys(all: all) }
        if context.jsonMode { return try context.console.json(views) }
        if views.isEmpty { return context.console.out(all ? "No convoys" : "No open convoys") }
        for view in views { GTConvoyCommand.print(view, context, beads: false) }
    }
}

/// `gt convoy land <convoy>`.
public struct GTConvoyLandCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "land", abstract: "Land a convoy whose tracked beads are all merged",
            discussion: """
                Refused, naming the beads that are not done, unless every tracked bead is closed with its merge
                request merged. The landing is a claim on the convoy bead (through the ledger remote when there is
                one): if another node wins it, that node lands it and this says so.
                """,
            arguments: [GTConvoyCommand.convoyArgument])
    }

    var convoy: String

    public init(parsed: ParsedValues) throws(UsageError) { convoy = parsed.argument("convoy") }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let engine = try await GTConvoyCommand.engine(context)
        let result = try await GTTown.run { try await workflow.landConvoy(convoy, engine: engine) }
        if context.jsonMode { return try context.console.json(result) }
        switch result.outcome {
        case .landed:
            context.console.out("Landed convoy \(result.convoy) (\(result.name)) (claim epoch \(result.epoch))")
            if !result.mailed.isEmpty { context.console.out("  mailed \(result.mailed.joined(separator: ", "))") }
        case .landedElsewhere:
            context.console.out("Convoy \(result.convoy) (\(result.name)) is being landed by node \(result.node)")
        case .alreadyLanded:
            context.console.out(
                "Convoy \(result.convoy) (\(result.name)) already landed"
                    + (result.node.isEmpty ? "" : " (by \(result.node))"))
        }
    }
}

/// `gt convoy launch <convoy> [--runtime R]`.
public struct GTConvoyLaunchCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "launch", abstract: "Sling a convoy's beads in waves as their blockers close",
            discussion: """
                Slings every tracked bead that is ready (open, nobody on it, no open blocker) through 'gt sling',
                within the rigs' free polecat slots; the node slings the next waves as blockers close and slots free
                up (without a node, run it again). A bead whose slings or merge requests failed three times is set
                aside with a message and the rest go on.
                """,
            options: [.option("runtime", value: "R", help: "the runtime for the beads it slings (default: the rig's)")],
            arguments: [GTConvoyCommand.convoyArgument])
    }

    var convoy: String
    var runtime: String?

    public init(parsed: ParsedValues) throws(UsageError) {
        convoy = parsed.argument("convoy")
        runtime = parsed.string("runtime")
    }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        // Inside the node: through its Mayor, which places each bead on whichever node has room when clustered.
        let slinger =
            NodeLedgerHandle.current != nil
            ? Mayor.convoySlinger(town: try context.townRoot().path) : TownWorkflow.slingHere
        let result = try await GTTown.run {
            try await workflow.launchConvoy(convoy, runtime: runtime, slinger: slinger)
        }
        if context.jsonMode { return try context.console.json(result) }
        context.console.out("Launched convoy \(result.convoy) (\(result.name))")
        for sling in result.slung {
            context.console.out(
                "  slung \(sling.bead) to \(sling.rig)/polecats/\(sling.polecat)"
                    + (sling.node.map { " on node \($0)" } ?? "") + " (epoch \(sling.epoch))")
        }
        for failure in result.failed {
            context.console.err("  sling of \(failure.bead) failed (\(failure.failures) so far): \(failure.error)")
        }
        for aside in result.setAside { context.console.err("  set aside: \(aside.message)") }
        for waiting in result.waiting { context.console.out("  \(waiting.id) \(waiting.reason)") }
        if result.finished {
            context.console.out("  every bead is done or set aside")
        } else if result.stuck {
            context.console.out("  nothing is in flight and nothing can be slung: the beads left wait on blockers")
        }
    }
}
