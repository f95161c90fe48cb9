import Beads
import Foundation

/// A model's price in US dollars per million tokens. `Sendable`: plain values.
public struct ModelPrice: Sendable, Equatable {
    public var input: Double
    public var output: Double
    public var cacheRead: Double
    public var cacheWrite: Double

    public init(input: Double, output: Double, cacheRead: Double, cacheWrite: Double) {
        self.input = input
        self.output = output
        self.cacheRead = cacheRead
        self.cacheWrite = cacheWrite
    }
}

/// Prices by model name prefix: a model takes the price of the longest prefix that matches it (`claude-sonnet-4`
/// prices `claude-sonnet-4-5-20250929`). `Sendable`: plain values.
public struct PriceTable: Sendable, Equatable {
    public var prices: [String: ModelPrice]

    public init(prices: [String: ModelPrice] = PriceTable.defaults) { self.prices = prices }

    /// The defaults (list prices, USD per million tokens, as of late 2025; settings/costs.json `prices` overrides or
    /// adds entries): documented in docs/notify-costs.md.
    public static let defaults: [String: ModelPrice] = [
        "claude-opus-4-5": ModelPrice(input: 5, output: 25, cacheRead: 0.5, cacheWrite: 6.25),
        "claude-opus-4": ModelPrice(input: 15, output: 75, cacheRead: 1.5, cacheWrite: 18.75),
        "claude-sonnet-4": ModelPrice(input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75),
        "claude-3-7-sonnet": ModelPrice(input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75),
        "claude-haiku-4-5": ModelPrice(input: 1, output: 5, cacheRead: 0.1, cacheWrite: 1.25),
        "claude-3-5-haiku": ModelPrice(input: 0.8, output: 4, cacheRead: 0.08, cacheWrite: 1),
        "gpt-5": ModelPrice(input: 1.25, output: 10, cacheRead: 0.125, cacheWrite: 0),
        "gpt-5-mini": ModelPrice(input: 0.25, output: 2, cacheRead: 0.025, cacheWrite: 0),
        "gpt-5-nano": ModelPrice(input: 0.05, output: 0.4, cacheRead: 0.005, cacheWrite: 0),
    ]

    /// The price of `model`, or nil when no prefix matches (its tokens are counted, its cost is 0 and shown as
    /// unpriced).
    public func price(of model: String) -> ModelPrice? {
        prices.filter { model.hasPrefix($0.key) }.max { $0.key.count < $1.key.count }?.value
    }

    /// What `usage` on `model` costs, in millionths of a dollar (rounded), or nil when unpriced.
    public func cost(model: String, usage: TokenUsage) -> Int? {
        guard let price = price(of: model) else { return nil }
        let dollars =
            (Double(usage.input) * price.input + Double(usage.output) * price.output
                + Double(usage.cacheRead) * price.cacheRead + Double(usage.cacheWrite) * price.cacheWrite) / 1_000_000
        return Int((dollars * 1_000_000).rounded())
    }
}

/// What one agent used on one bead, as recorded in the bead's `usage` metadata (one member per agent):
/// tokens, cost in millionths of a dollar (priced when recorded), the model last seen, the rig and the organization
/// the work was for. `Sendable`: plain values.
public struct UsageEntry: Sendable, Equatable {
    public var bead: String
    public var agent: String
    public var rig: String
    public var org: String
    public var model: String
    public var usage: TokenUsage
    public var microUSD: Int
    /// Tokens of models the price table did not know (counted in `usage`, not in `microUSD`).
    public var unpricedTokens: Int

    public init(
        bead: String, agent: String, rig: String, org: String, model: String, usage: TokenUsage = TokenUsage(),
        microUSD: Int = 0, unpricedTokens: Int = 0
    ) {
        self.bead = bead
        self.agent = agent
        self.rig = rig
        self.org = org
        self.model = model
        self.usage = usage
        self.microUSD = microUSD
        self.unpricedTokens = unpricedTokens
    }

    /// The bead metadata key.
    public static let metadataKey = "usage"

    /// The entries a bead's metadata holds (members that are not well-formed are skipped).
    public static func read(_ bead: Bead) -> [UsageEntry] {
        guard let members = bead.metadataValue(metadataKey)?.objectMembers else { return [] }
        return members.compactMap { member in
            let value = member.value
            guard value.objectMembers != nil else { return nil }
            func int(_ key: String) -> Int { value[key]?.intValue ?? 0 }
            return UsageEntry(
                bead: bead.id, agent: member.key, rig: value["rig"]?.stringValue ?? "",
                org: value["org"]?.stringValue ?? "", model: value["model"]?.stringValue ?? "",
                usage: TokenUsage(
                    input: int("input"), output: int("output"), cacheRead: int("cache_read"),
                    cacheWrite: int("cache_write"), reasoning: int("reasoning")),
                microUSD: int("micro_usd"), unpricedTokens: int("unpriced_tokens"))
        }
    }

    /// The metadata value for `entries` (one bead's), members sorted by agent.
    public static func metadata(_ entries: [UsageEntry]) -> JSONValue {
        .object(
            entries.sorted { $0.agent < $1.agent }.map { entry in
                JSONMember(
                    entry.agent,
                    .object([
                        JSONMember("rig", .string(entry.rig)), JSONMember("org", .string(entry.org)),
                        JSONMember("model", .string(entry.model)), JSONMember("input", .int(entry.usage.input)),
                        JSONMember("output", .int(entry.usage.output)),
                        JSONMember("cache_read", .int(entry.usage.cacheRead)),
                        JSONMember("cache_write", .int(entry.usage.cacheWrite)),
                        JSONMember("reasoning", .int(entry.usage.reasoning)),
                        JSONMember("micro_usd", .int(entry.microUSD)),
                        JSONMember("unpriced_tokens", .int(entry.unpricedTokens)),
                    ]))
            })
    }

    /// `entries` with `samples` added to `agent`'s entry (made when missing), priced with `prices`.
    public static func adding(
        _ samples: [UsageSample], to entries: [UsageEntry], bead: String, agent: String, rig: String, org: String,
        prices: PriceTable
    ) -> [UsageEntry] {
        var out = entries
        var index = out.firstIndex { $0.agent == agent }
        if index == nil {
            out.append(UsageEntry(bead: bead, agent: agent, rig: rig, org: org, model: ""))
            index = out.count - 1
        }
        guard let index else { return out }
        for sample in samples {
            out[index].usage = out[index].usage + sample.usage
            if !sample.model.isEmpty { out[index].model = sample.model }
            if let cost = prices.cost(model: sample.model, usage: sample.usage) {
                out[index].microUSD &+= cost
            } else {
                out[index].unpricedTokens &+= sample.usage.total
            }
        }
        return out
    }
}

/// How `gt costs` groups usage. `Sendable`: a plain enum.
public enum CostGrouping: String, Sendable, Equatable, CaseIterable {
    case agent, bead, convoy, org, rig
}

/// One line of `gt costs`: a group's key, its tokens and cost. `Sendable`: plain values.
public struct CostRow: Sendable, Equatable, Encodable {
    public var key: String
    public var tokens: TokenUsage
    public var microUSD: Int
    public var unpricedTokens: Int
    public var beads: Int

    public var usd: Double { Double(microUSD) / 1_000_000 }

    public init(key: String, tokens: TokenUsage, microUSD: Int, unpricedTokens: Int, beads: Int) {
        self.key = key
        self.tokens = tokens
        self.microUSD = microUSD
        self.unpricedTokens = unpricedTokens
        self.beads = beads
    }

    enum CodingKeys: String, CodingKey {
        case key, tokens, usd, beads
        case unpricedTokens = "unpriced_tokens"
        case totalTokens = "total_tokens"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(key, forKey: .key)
        try container.encode(tokens, forKey: .tokens)
        try container.encode(tokens.total, forKey: .totalTokens)
        try container.encode(usd, forKey: .usd)
        try container.encode(unpricedTokens, forKey: .unpricedTokens)
        try container.encode(beads, forKey: .beads)
    }
}

/// A convoy as costs see it: its id, name and the beads it tracks. `Sendable`: plain values.
public struct ConvoyTracking: Sendable, Equatable {
    public var id: String
    public var name: String
    public var tracked: [String]
    public init(id: String, name: String, tracked: [String]) {
        self.id = id
        self.name = name
        self.tracked = tracked
    }
}

/// Aggregation of usage entries and the budget check: pure. A caseless namespace.
public enum Costs {
    /// `entries` grouped by `grouping`, largest cost first (then most tokens, then key). For `convoy`, a bead counts
    /// in every convoy that tracks it; beads no convoy tracks are left out.
    public static func rows(
        _ entries: [UsageEntry], by grouping: CostGrouping, convoys: [ConvoyTracking] = []
    )
        -> [CostRow]
    {
        var byKey: [String: (CostRow, Set<String>)] = [:]
        func add(_ key: String, _ entry: UsageEntry) {
            var (row, beads) =
                byKey[key] ?? (CostRow(key: key, tokens: TokenUsage(), microUSD: 0, unpricedTokens: 0, beads: 0), [])
            row.tokens = row.tokens + entry.usage
            row.microUSD &+= entry.microUSD
            row.unpricedTokens &+= entry.unpricedTokens
            beads.insert(entry.bead)
            row.beads = beads.count
            byKey[key] = (row, beads)
        }
        var convoysOf: [String: [String]] = [:]
        for convoy in convoys { for bead in convoy.tracked { convoysOf[bead, default: []].append(convoy.id) } }
        for entry in entries {
            switch grouping {
            case .agent: add(entry.agent, entry)
            case .bead: add(entry.bead, entry)
            case .org: add(entry.org.isEmpty ? "-" : entry.org, entry)
            case .rig: add(entry.rig.isEmpty ? "-" : entry.rig, entry)
            case .convoy: for id in convoysOf[entry.bead] ?? [] { add(id, entry) }
            }
        }
        return byKey.values.map(\.0).sorted {
            ($0.microUSD, $0.tokens.total, $1.key) > ($1.microUSD, $1.tokens.total, $0.key)
        }
    }

    /// Why slinging `bead` (of `rig`, for `org`) is refused by a spent budget, or nil: the first budget (rig, then
    /// each convoy tracking the bead, then the organization) whose dollars or tokens are used up. The text names the
    /// budget, what was spent, and how to raise it.
    public static func refusal(
        bead: String, rig: String, org: String, entries: [UsageEntry], convoys: [ConvoyTracking],
        budgets: CostBudgets, settingsFile: String
    ) -> String? {
        func check(_ what: String, _ key: String, _ budget: Budget?, _ spent: [UsageEntry]) -> String? {
            guard let budget else { return nil }
            let dollars = spent.reduce(0) { $0 &+ $1.microUSD }
            let tokens = spent.reduce(0) { $0 &+ $1.usage.total }
            let overDollars = budget.usd.map { Double(dollars) / 1_000_000 >= $0 } ?? false
            let overTokens = budget.tokens.map { tokens >= $0 } ?? false
            guard overDollars || overTokens else { return nil }
            let limit =
                overDollars
                ? String(format: "$%.2f of its $%.2f", Double(dollars) / 1_000_000, budget.usd ?? 0)
                : "\(tokens) of its \(budget.tokens ?? 0) tokens"
            let field = overDollars ? "usd" : "tokens"
            return "the budget of \(what) is spent (\(limit)): \(bead) is not slung; raise budgets.\(key).\(field) "
                + "in \(settingsFile) (or remove that budget) and sling again; 'gt costs --by \(what.split(separator: " ").first ?? "rig")' shows the spending (nothing was changed)"
        }
        if let why = check("rig \(rig)", "rigs.\(rig)", budgets.rigs[rig], entries.filter { $0.rig == rig }) {
            return why
        }
        for convoy in convoys where convoy.tracked.contains(bead) {
            let budget = budgets.convoys[convoy.id] ?? budgets.convoys[convoy.name]
            let key = budgets.convoys[convoy.id] != nil ? convoy.id : convoy.name
            let tracked = Set(convoy.tracked)
            if let why = check(
                "convoy \(convoy.id)", "convoys.\(key)", budget, entries.filter { tracked.contains($0.bead) })
            {
                return why
            }
        }
        return check("org \(org)", "orgs.\(org)", budgets.orgs[org], entries.filter { $0.org == org })
    }
}

/// A spending limit: dollars, tokens, or both (either spent stops slinging). `Sendable`: plain values.
public struct Budget: Sendable, Equatable {
    public var usd: Double?
    public var tokens: Int?
    public init(usd: Double? = nil, tokens: Int? = nil) {
        self.usd = usd
        self.tokens = tokens
    }
}

/// The budgets of settings/costs.json: per rig, per convoy (id or name), per organization. `Sendable`: plain values.
public struct CostBudgets: Sendable, Equatable {
    public var rigs: [String: Budget] = [:]
    public var convoys: [String: Budget] = [:]
    public var orgs: [String: Budget] = [:]
    public init() {}
    public var isEmpty: Bool { rigs.isEmpty && convoys.isEmpty && orgs.isEmpty }
}
