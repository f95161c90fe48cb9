import Foundation
import Town

extension TownWorkflow {
    /// The path of the running executable (`/proc/self/exe`, else `argv[0]`): the `gt` a node component's workflow
    /// starts agents with.
    public static var runningExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// The workflow a node component runs (the Refinery, the convoy patrol): the town at `context.town`, driven by
    /// this node's own `gt`, as `actor`; with `ledger`, on the store the node's `LedgerActor` holds, waiting up to
    /// 60 s for it to open (an error saying why when it does not).
    public static func forComponent(
        _ context: NodeContext, actor: String, settings: TownSettings = TownSettings(), ledger: NodeLedgerHandle?
    ) async throws -> TownWorkflow {
        var workflow = try await TownWorkflow(
            layout: TownLayout(root: context.town.root), settings: settings, actor: actor,
            gtExecutable: runningExecutable)
        if let ledger {
            guard await ledger.waitForDatabase(timeout: 60) != nil else {
                throw TownError.ledger("the town ledger did not open: \(ledger.lastError ?? "still opening")")
            }
            workflow.heldLedger = ledger
        }
        return workflow
    }
}
