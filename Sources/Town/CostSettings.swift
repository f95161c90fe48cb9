import Foundation

/// `<town>/settings/costs.json` (docs/notify-costs.md): prices, budgets, which runtimes write which usage log and
/// where, and how often the node reads them. `Sendable`: plain values.
public struct CostSettings: Sendable, Equatable {
    public var prices = PriceTable()
    public var budgets = CostBudgets()
    /// Runtime preset name → the format of the usage log it writes. Default: claude → claude, codex → codex.
    public var runtimeLogs: [String: UsageLogFormat] = ["claude": .claude, "codex": .codex]
    /// Claude Code's configuration directory (its transcripts are under `projects/`). Default `$CLAUDE_CONFIG_DIR`,
    /// else `~/.claude`.
    public var claudeDirectory: String?
    /// Codex's home (its session logs are under `sessions/`). Default `$CODEX_HOME`, else `~/.codex`.
    public var codexDirectory: String?
    /// How often the node reads new usage. Default 15 s.
    public var collectInterval: Double = 15

    public init() {}

    /// The directory Claude Code writes transcripts under for `environment`.
    public func claudeRoot(environment: [String: String]) -> String {
        claudeDirectory ?? environment["CLAUDE_CONFIG_DIR"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.claude")
    }

    /// The directory Codex writes session logs under for `environment`.
    public func codexRoot(environment: [String: String]) -> String {
        codexDirectory ?? environment["CODEX_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.codex")
    }
}

/// The one reader of `<town>/settings/costs.json`. A caseless namespace.
public enum CostSettingsFile {
    public static func path(_ layout: TownLayout) -> String { layout.root + "/settings/costs.json" }

    /// The settings (defaults when the file is missing). A file that is not a JSON object, an unknown key, or a value
    /// of the wrong type is an error naming the file and the key.
    public static func load(_ layout: TownLayout) throws(TownError) -> CostSettings {
        let file = path(layout)
        guard let data = FileManager.default.contents(atPath: file) else { return CostSettings() }
        return try parse(data, file: file)
    }

    /// Parses the file's bytes (see `load`).
    public static func parse(_ data: Data, file: String) throws(TownError) -> CostSettings {
        func fail(_ what: String) -> TownError {
            .io("\(file): \(what); fix it (see docs/notify-costs.md) or remove it for the defaults")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw fail("not a JSON object")
        }
        let known: Set = ["prices", "budgets", "runtime_logs", "claude_dir", "codex_dir", "collect_interval"]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw fail("unknown key \"\(unknown)\" (known: \(known.sorted().joined(separator: ", ")))")
        }
        func number(_ raw: Any?, _ key: String) throws(TownError) -> Double? {
            guard let raw else { return nil }
            guard let value = raw as? NSNumber, value.doubleValue.isFinite, value.doubleValue >= 0 else {
                throw fail("\"\(key)\" must be a number ≥ 0")
            }
            return value.doubleValue
        }
        func objectOf(_ raw: Any?, _ key: String) throws(TownError) -> [String: Any] {
            guard let raw else { return [:] }
            guard let value = raw as? [String: Any] else { throw fail("\"\(key)\" must be an object") }
            return value
        }
        var settings = CostSettings()
        for (model, raw) in try objectOf(object["prices"], "prices") {
            let entry = try objectOf(raw, "prices.\(model)")
            let keys: Set = ["input", "output", "cache_read", "cache_write"]
            if let unknown = entry.keys.sorted().first(where: { !keys.contains($0) }) {
                throw fail(
                    "unknown key \"prices.\(model).\(unknown)\" (known: \(keys.sorted().joined(separator: ", ")))")
            }
            guard let input = try number(entry["input"], "prices.\(model).input"),
                let output = try number(entry["output"], "prices.\(model).output")
            else { throw fail("\"prices.\(model)\" needs input and output (dollars per million tokens)") }
            settings.prices.prices[model] = ModelPrice(
                input: input, output: output,
                cacheRead: try number(entry["cache_read"], "prices.\(model).cache_read") ?? input,
                cacheWrite: try number(entry["cache_write"], "prices.\(model).cache_write") ?? input)
        }
        let budgets = try objectOf(object["budgets"], "budgets")
        if let unknown = budgets.keys.sorted().first(where: { !["rigs", "convoys", "orgs"].contains($0) }) {
            throw fail("unknown key \"budgets.\(unknown)\" (known: convoys, orgs, rigs)")
        }
        func budgetMap(_ key: String) throws(TownError) -> [String: Budget] {
            var out: [String: Budget] = [:]
            for (name, raw) in try objectOf(budgets[key], "budgets.\(key)") {
                let path = "budgets.\(key).\(name)"
                let entry = try objectOf(raw, path)
                if let unknown = entry.keys.sorted().first(where: { !["usd", "tokens"].contains($0) }) {
                    throw fail("unknown key \"\(path).\(unknown)\" (known: tokens, usd)")
                }
                let usd = try number(entry["usd"], "\(path).usd")
                let tokens = try number(entry["tokens"], "\(path).tokens")
                guard usd != nil || tokens != nil else { throw fail("\"\(path)\" needs usd or tokens") }
                if let tokens, tokens != tokens.rounded() || tokens > 1e15 {
                    throw fail("\"\(path).tokens\" must be a whole number")
                }
                out[name] = Budget(usd: usd, tokens: tokens.map { Int($0) })
            }
            return out
        }
        settings.budgets.rigs = try budgetMap("rigs")
        settings.budgets.convoys = try budgetMap("convoys")
        settings.budgets.orgs = try budgetMap("orgs")
        for (runtime, raw) in try objectOf(object["runtime_logs"], "runtime_logs") {
            guard let word = raw as? String, let format = UsageLogFormat(rawValue: word) else {
                throw fail("\"runtime_logs.\(runtime)\" must be one of: claude, codex")
            }
            settings.runtimeLogs[runtime] = format
        }
        for (key, raw) in [("claude_dir", object["claude_dir"]), ("codex_dir", object["codex_dir"])] {
            guard let raw else { continue }
            guard let text = raw as? String, text.hasPrefix("/") else {
                throw fail("\"\(key)\" must be an absolute path")
            }
            if key == "claude_dir" { settings.claudeDirectory = text } else { settings.codexDirectory = text }
        }
        if let interval = try number(object["collect_interval"], "collect_interval") {
            settings.collectInterval = max(0.2, interval)
        }
        return settings
    }
}
