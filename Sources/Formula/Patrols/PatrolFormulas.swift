/// GasTown's own patrol formulas for the Refinery and the Deacon, written for this project (Gas Town's
/// `mol-refinery-patrol` and `mol-deacon-patrol` are not among the samples we may embed). Gas Town runs every patrol as
/// an agent following a formula; our node runs the same checks as Swift components (`RigRefinery`, the Witness,
/// the Deacon's schedules), so these formulas are for a town that wants an agent-driven or customised patrol: pour
/// one as a wisp (`bd mol wisp mol-refinery-patrol --var rig=<rig>`), work it with `bd close --continue`, squash
/// it into a digest. Every `gt`/`bd` command they name exists (`FormulaTests.PatrolFormulaTests`). A town's
/// `.beads/formulas/` file of the same name wins. `Sendable`: static text.
public struct PatrolFormulas: FormulaSource {
    public init() {}

    /// Name → text.
    public static let texts: [String: String] = [
        "mol-refinery-patrol": refinery,
        "mol-deacon-patrol": deacon,
    ]

    public func formula(named name: String) -> FormulaText? {
        guard let text = Self.texts[name] else { return nil }
        return FormulaText(name: name, file: "builtin:\(name).formula.toml", text: text)
    }

    public var names: [String] { Self.texts.keys.sorted() }
    public var locations: [String] { ["built-in patrol formulas"] }

    static let refinery = #"""
        description = "One cycle of a rig's Refinery patrol: look at the queue, land what passes the gate, send back what breaks it, and report."
        formula = "mol-refinery-patrol"
        type = "workflow"
        version = 1

        [vars.rig]
        description = "The rig whose merge queue this patrol works"
        required = true

        [[steps]]
        id = "queue-check"
        title = "Look at the merge queue of {{rig}}"
        description = """
        See what is waiting, how old the oldest request is, and which requests or working branches touch the same files:
        ```bash
        gt mq status {{rig}} --json
        gt mq list {{rig}}
        ```
        If nothing is queued, skip to the report step."""

        [[steps]]
        id = "land-batch"
        title = "Land the next batch"
        needs = ["queue-check"]
        description = """
        Run the Refinery once: it rebases the next batch onto the target, runs the rig's gate, bisects a failure, and
        pushes with compare-and-swap:
        ```bash
        gt refinery run {{rig}} --once
        ```
        Never push to the target branch by hand."""

        [[steps]]
        id = "review-returns"
        title = "Review requests sent back"
        needs = ["land-batch"]
        description = """
        Requests that broke the gate went back to their polecats as rework beads; conflicts list their files:
        ```bash
        gt mq list {{rig}} --json
        gt mq show <mr>
        ```
        A request sent back by a flaky gate can be queued again with `gt mq retry <mr>`; one that can never land is
        rejected with a reason: `gt mq reject <mr> -r REASON`."""

        [[steps]]
        id = "report"
        title = "Report the cycle"
        needs = ["review-returns"]
        description = """
        Close this step with a one-line summary (landed, sent back, still queued) as the reason, then squash the wisp:
        ```bash
        bd mol squash <molecule>
        ```"""
        """#

    static let deacon = #"""
        description = "One cycle of the Deacon's town patrol: nodes, agents' health, escalations, convoys and the ledger's upkeep."
        formula = "mol-deacon-patrol"
        type = "workflow"
        version = 1

        [[steps]]
        id = "check-nodes"
        title = "Check the cluster's nodes"
        description = """
        Every member should be alive and not draining unless an admin drained it:
        ```bash
        gt node list --json
        gt node info
        ```
        A node reported dead has its hooked work re-slung by the Mayors after the grace period: check `gt mayor queue`."""

        [[steps]]
        id = "check-health"
        title = "Check the agents' health"
        needs = ["check-nodes"]
        description = """
        The Witness's last verdict per polecat, and what it did:
        ```bash
        gt health
        gt witness history
        ```"""

        [[steps]]
        id = "check-escalations"
        title = "Answer escalations"
        needs = ["check-health"]
        description = """
        One line per cause; each needs a decision or a person:
        ```bash
        gt escalations --json
        gt mail inbox
        ```"""

        [[steps]]
        id = "check-convoys"
        title = "Check convoys"
        needs = ["check-escalations"]
        description = """
        Convoys whose beads are all merged land by themselves; look for ones with beads set aside:
        ```bash
        gt convoy list
        gt convoy status <convoy>
        ```"""

        [[steps]]
        id = "ledger-upkeep"
        title = "Keep the ledger in shape"
        needs = ["check-convoys"]
        description = """
        The node syncs the ledger by itself; confirm it and clean up closed wisps:
        ```bash
        bd sync --status
        bd mol squash <molecule>
        ```"""
        """#
}
