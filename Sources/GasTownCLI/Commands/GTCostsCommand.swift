import Foundation
import Town

/// `gt costs [--by agent|bead|convoy|org|rig]`: tokens and money the town's agents used (docs/notify-costs.md), read
/// from the ledger (each bead's `usage` metadata, which every node writes for the polecats it runs, so the figures
/// are the cluster's), with the budgets of settings/costs.json and how much of each is spent.
public struct GTCostsCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "costs", abstract: "Tokens and money used, per agent, bead, convoy, organization or rig; budgets",
            discussion: """
                Usage is read by each node from its polecats' runtime logs (Claude Code transcripts, Codex session
                logs) and priced with the price table of <town>/settings/costs.json (defaults in
                docs/notify-costs.md). Budgets there (per rig, convoy, organization) stop slinging once spent.
                """,
            options: [
                .option(
                    "by", value: "GROUP", type: .choice(CostGrouping.allCases.map(\.rawValue)),
                    help: "group by agent (default), bead, convoy, org or rig")
            ])
    }

    var grouping: CostGrouping

    public init(parsed: ParsedValues) throws(UsageError) {
        grouping = parsed.string("by").flatMap(CostGrouping.init(rawValue:)) ?? .agent
    }

    struct BudgetLine: Encodable {
        var scope: String
        var name: String
        var usd: Double?
        var tokens: Int?
        var spentUSD: Double
        var spentTokens: Int
        var spent: Bool

        enum CodingKeys: String, CodingKey {
            case scope, name, usd, tokens, spent
            case spentUSD = "spent_usd"
            case spentTokens = "spent_tokens"
        }
    }

    struct Output: Encodable {
        var by: String
        var rows: [CostRow]
        var total: CostRow
        var budgets: [BudgetLine]
    }

    public func run(_ context: CommandContext) async throws {
        let workflow = try await context.townWorkflow()
        let layout = TownLayout(root: try context.townRoot().path)
        let settings: CostSettings
        do { settings = try CostSettingsFile.load(layout) } catch {
            throw CLIError(error.description, code: "bad_settings")
        }
        let snapshot = try await GTTown.run { try await workflow.costsSnapshot() }
        let rows = Costs.rows(snapshot.entries, by: grouping, convoys: snapshot.convoys)
        let total =
            Costs.rows(
                snapshot.entries.map {
                    var e = $0
                    e.agent = "total"
                    return e
                }, by: .agent
            ).first
            ?? CostRow(key: "total", tokens: TokenUsage(), microUSD: 0, unpricedTokens: 0, beads: 0)
        var budgets: [BudgetLine] = []
        func line(_ scope: String, _ name: String, _ budget: Budget, _ entries: [UsageEntry]) {
            let dollars = Double(entries.reduce(0) { $0 + $1.microUSD }) / 1_000_000
            let tokens = entries.reduce(0) { $0 + $1.usage.total }
            let spent = (budget.usd.map { dollars >= $0 } ?? false) || (budget.tokens.map { tokens >= $0 } ?? false)
            budgets.append(
                BudgetLine(
                    scope: scope, name: name, usd: budget.usd, tokens: budget.tokens, spentUSD: dollars,
                    spentTokens: tokens, spent: spent))
        }
        for (name, budget) in settings.budgets.rigs.sorted(by: { $0.key < $1.key }) {
            line("rig", name, budget, snapshot.entries.filter { $0.rig == name })
        }
        for (name, budget) in settings.budgets.convoys.sorted(by: { $0.key < $1.key }) {
            let tracked = Set(snapshot.convoys.filter { $0.id == name || $0.name == name }.flatMap(\.tracked))
            line("convoy", name, budget, snapshot.entries.filter { tracked.contains($0.bead) })
        }
        for (name, budget) in settings.budgets.orgs.sorted(by: { $0.key < $1.key }) {
            line("org", name, budget, snapshot.entries.filter { $0.org == name })
        }
        let output = Output(by: grouping.rawValue, rows: rows, total: total, budgets: budgets)
        try context.report(output) {
            if rows.isEmpty {
                context.console.out("No usage recorded yet (runtimes that report it: docs/notify-costs.md)")
            } else {
                let width = max(grouping.rawValue.count, rows.map(\.key.count).max() ?? 0)
                func pad(_ text: String) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
                context.console.out(
                    "\(pad(grouping.rawValue.uppercased()))  \("TOKENS".leftPad(12))  \("USD".leftPad(10))  "
                        + "IN / OUT / CACHE READ / CACHE WRITE")
                for row in rows + [total] {
                    let unpriced = row.unpricedTokens > 0 ? "  (\(row.unpricedTokens) tokens unpriced)" : ""
                    context.console.out(
                        "\(pad(row.key))  \(String(row.tokens.total).leftPad(12))  "
                            + "\(String(format: "%.4f", row.usd).leftPad(10))  "
                            + "\(row.tokens.input) / \(row.tokens.output) / \(row.tokens.cacheRead) / "
                            + "\(row.tokens.cacheWrite)\(unpriced)")
                }
            }
            for budget in budgets {
                let limit = [budget.usd.map { String(format: "$%.2f", $0) }, budget.tokens.map { "\($0) tokens" }]
                    .compactMap { $0 }.joined(separator: ", ")
                context.console.out(
                    "budget \(budget.scope) \(budget.name): \(String(format: "$%.4f", budget.spentUSD)), "
                        + "\(budget.spentTokens) tokens of \(limit)\(budget.spent ? " — SPENT: slings refused" : "")")
            }
        }
    }
}

extension String {
    fileprivate func leftPad(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
