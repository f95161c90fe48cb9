import Beads
import Foundation
import Testing

@testable import Town

/// The costs core (pure): the decoders of Claude Code transcripts and Codex session logs (outside bytes: fuzzed),
/// the price table, aggregation, budgets and settings/costs.json.
@Suite("Costs core")
struct CostsCoreTests {
    /// Lines in Claude Code's transcript shape (one line per content block of a call, each with the call's usage).
    static let claudeLines = [
        #"{"parentUuid":null,"isSidechain":false,"userType":"external","cwd":"/w","sessionId":"s1","version":"1.0.80","type":"user","message":{"role":"user","content":"fix it"},"uuid":"u1","timestamp":"2025-09-01T10:00:00.000Z"}"#,
        #"{"parentUuid":"u1","cwd":"/w","sessionId":"s1","type":"assistant","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"thinking","thinking":"…"}],"stop_reason":null,"usage":{"input_tokens":1000,"cache_creation_input_tokens":500,"cache_read_input_tokens":10000,"cache_creation":{"ephemeral_5m_input_tokens":500,"ephemeral_1h_input_tokens":0},"output_tokens":2000,"service_tier":"standard"}},"requestId":"req_01","uuid":"a1","timestamp":"2025-09-01T10:00:01.000Z"}"#,
        #"{"parentUuid":"a1","cwd":"/w","sessionId":"s1","type":"assistant","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"done"}],"usage":{"input_tokens":1000,"cache_creation_input_tokens":500,"cache_read_input_tokens":10000,"output_tokens":2000}},"requestId":"req_01","uuid":"a2","timestamp":"2025-09-01T10:00:01.500Z"}"#,
        #"{"type":"summary","summary":"Fixing","leafUuid":"a2"}"#,
        #"{"parentUuid":"a2","type":"assistant","message":{"id":"msg_02","model":"claude-opus-4-1-20250805","role":"assistant","content":[],"usage":{"input_tokens":10,"output_tokens":20}},"requestId":"req_02","uuid":"a3"}"#,
    ]

    static let codexLines = [
        #"{"timestamp":"2025-09-20T10:00:00.000Z","type":"session_meta","payload":{"id":"019a","timestamp":"2025-09-20T10:00:00Z","cwd":"/town/demo/polecats/ace","originator":"codex_cli_rs","cli_version":"0.39.0"}}"#,
        #"{"timestamp":"2025-09-20T10:00:01.000Z","type":"turn_context","payload":{"cwd":"/town/demo/polecats/ace","approval_policy":"never","model":"gpt-5-codex","effort":"medium"}}"#,
        #"{"timestamp":"2025-09-20T10:00:02.000Z","type":"event_msg","payload":{"type":"token_count","info":null,"rate_limits":{"primary":{"used_percent":7.0,"window_minutes":300}}}}"#,
        #"{"timestamp":"2025-09-20T10:00:05.000Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":5000,"cached_input_tokens":3000,"output_tokens":400,"reasoning_output_tokens":100,"total_tokens":5400},"last_token_usage":{"input_tokens":5000,"cached_input_tokens":3000,"output_tokens":400,"reasoning_output_tokens":100,"total_tokens":5400},"model_context_window":272000}}}"#,
        #"{"timestamp":"2025-09-20T10:00:06.000Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":5000,"cached_input_tokens":3000,"output_tokens":400,"reasoning_output_tokens":100,"total_tokens":5400},"last_token_usage":{"input_tokens":5000,"cached_input_tokens":3000,"output_tokens":400,"reasoning_output_tokens":100,"total_tokens":5400}}}}"#,
        #"{"timestamp":"2025-09-20T10:00:09.000Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":7000,"cached_input_tokens":4000,"output_tokens":600,"reasoning_output_tokens":150,"total_tokens":7600}}}}"#,
    ]

    static func bytes(_ lines: [String]) -> [[UInt8]] { lines.map { Array($0.utf8) } }

    @Test func claudeTranscriptUsage() {
        let samples = UsageLogs.claude(lines: Self.bytes(Self.claudeLines))
        #expect(samples.count == 3)
        #expect(samples[0].id == "msg_01:req_01" && samples[1].id == "msg_01:req_01")
        #expect(samples[0].usage == TokenUsage(input: 1000, output: 2000, cacheRead: 10000, cacheWrite: 500))
        #expect(samples[0].model == "claude-sonnet-4-5-20250929")
        #expect(samples[2].usage == TokenUsage(input: 10, output: 20))
        #expect(UsageLogs.claudeProjectName("/home/a/my.rig_x") == "-home-a-my-rig-x")
    }

    @Test func codexSessionLogUsage() {
        var state = UsageLogs.CodexState()
        let samples = UsageLogs.codex(lines: Self.bytes(Self.codexLines), state: &state)
        #expect(state.cwd == "/town/demo/polecats/ace" && state.model == "gpt-5-codex")
        // The repeated total adds nothing; the last line (only a total) adds its growth.
        #expect(samples.count == 2, "\(samples)")
        #expect(samples[0].usage == TokenUsage(input: 2000, output: 400, cacheRead: 3000, reasoning: 100))
        #expect(samples[1].usage == TokenUsage(input: 1000, output: 200, cacheRead: 1000, reasoning: 50))
        #expect(samples.allSatisfy { $0.model == "gpt-5-codex" })
        // Read in two pieces (the cursor's state carried over), the result is the same.
        var split = UsageLogs.CodexState()
        let first = UsageLogs.codex(lines: Self.bytes(Array(Self.codexLines.prefix(4))), state: &split)
        let rest = UsageLogs.codex(lines: Self.bytes(Array(Self.codexLines.dropFirst(4))), state: &split)
        #expect(first + rest == samples)
    }

    @Test func completeLinesLeaveAPartialLastLine() {
        let (lines, consumed) = UsageLogs.completeLines(Array("a\nbc\nde".utf8))
        #expect(lines.map { String(decoding: $0, as: UTF8.self) } == ["a", "bc"] && consumed == 5)
    }

    /// Outside bytes: random bytes, every truncation and byte flip of real lines, hostile numbers and nesting. The
    /// decoders never crash, never report a negative or absurd count, and only ever report what a line holds.
    @Test func decodersSurviveFuzzedInput() {
        var rng = SeededGenerator(seed: 0x6a5)
        let valid = Self.claudeLines + Self.codexLines
        var inputs: [[UInt8]] = []
        for _ in 0..<300 {
            inputs.append((0..<Int(rng.next() % 200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        }
        for line in valid {
            let bytes = Array(line.utf8)
            for cut in stride(from: 0, to: bytes.count, by: 7) { inputs.append(Array(bytes[..<cut])) }
            for _ in 0..<40 {
                var mutated = bytes
                let index = Int(rng.next() % UInt64(mutated.count))
                mutated[index] = UInt8(truncatingIfNeeded: rng.next())
                inputs.append(mutated)
            }
        }
        inputs.append(Array((String(repeating: "[", count: 100_000)).utf8))
        inputs.append(
            Array(
                #"{"type":"assistant","message":{"usage":{"input_tokens":-5,"output_tokens":1e400}}}"#.utf8))
        inputs.append(
            Array(
                #"{"type":"assistant","message":{"usage":{"input_tokens":99999999999999999999,"output_tokens":1}}}"#
                    .utf8))
        inputs.append(Array(#"{"type":"assistant","message":{"usage":{"input_tokens":1.5,"output_tokens":1}}}"#.utf8))
        inputs.append(Array(#"{"type":"assistant","message":"usage"}"#.utf8))
        inputs.append(
            Array(
                #"{"type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":1,"cached_input_tokens":9,"output_tokens":1}}}}"#
                    .utf8))
        let claude = UsageLogs.claude(lines: inputs)
        var state = UsageLogs.CodexState()
        let codex = UsageLogs.codex(lines: inputs, state: &state)
        for sample in claude + codex {
            let u = sample.usage
            #expect(
                [u.input, u.output, u.cacheRead, u.cacheWrite, u.reasoning].allSatisfy {
                    $0 >= 0 && $0 < 1_000_000_000_000
                })
        }
        // Hostile numbers are refused, not clamped.
        #expect(UsageLogs.claude(lines: Array(inputs.suffix(6))).isEmpty)
        #expect(UsageLogs.codex(lines: Array(inputs.suffix(1)), state: &state).isEmpty)
    }

    @Test func pricesAggregationAndBudgets() {
        let prices = PriceTable()
        // claude-sonnet-4 prices claude-sonnet-4-5-…: 1000×3 + 2000×15 + 10000×0.3 + 500×3.75 per million.
        let usage = TokenUsage(input: 1000, output: 2000, cacheRead: 10000, cacheWrite: 500)
        #expect(prices.cost(model: "claude-sonnet-4-5-20250929", usage: usage) == 37875)
        #expect(prices.cost(model: "claude-opus-4-5-2025", usage: TokenUsage(input: 1_000_000)) == 5_000_000)
        #expect(prices.cost(model: "claude-opus-4-1", usage: TokenUsage(input: 1_000_000)) == 15_000_000)
        #expect(prices.cost(model: "mystery", usage: usage) == nil)

        let samples = [
            UsageSample(model: "claude-sonnet-4-5", usage: usage, id: "1"),
            UsageSample(model: "mystery", usage: TokenUsage(input: 7), id: "2"),
        ]
        var entries = UsageEntry.adding(
            samples, to: [], bead: "de-1", agent: "demo/polecats/ace", rig: "demo", org: "acme", prices: prices)
        #expect(entries.count == 1 && entries[0].microUSD == 37875 && entries[0].unpricedTokens == 7)
        #expect(entries[0].usage.total == 13507)
        entries += UsageEntry.adding(
            [UsageSample(model: "gpt-5", usage: TokenUsage(input: 1_000_000), id: "3")], to: [], bead: "de-2",
            agent: "demo/polecats/bo", rig: "demo", org: "beta", prices: prices)
        // The metadata codec round-trips.
        var bead = Bead(id: "de-1", title: "t", createdAt: Timestamp(unixNanos: 1_700_000_000_000_000_000))
        bead.setMetadataValue(UsageEntry.metadataKey, UsageEntry.metadata([entries[0]]))
        #expect(UsageEntry.read(bead) == [entries[0]])

        let convoys = [ConvoyTracking(id: "hq-cv-1", name: "Bridge", tracked: ["de-2", "de-3"])]
        #expect(Costs.rows(entries, by: .agent).map(\.key) == ["demo/polecats/bo", "demo/polecats/ace"])
        #expect(Costs.rows(entries, by: .rig).map(\.microUSD) == [1_250_000 + 37875])
        #expect(Costs.rows(entries, by: .org).map(\.key) == ["beta", "acme"])
        #expect(Costs.rows(entries, by: .convoy, convoys: convoys).map(\.key) == ["hq-cv-1"])
        #expect(Costs.rows(entries, by: .bead).first?.beads == 1)

        var budgets = CostBudgets()
        #expect(
            Costs.refusal(
                bead: "de-3", rig: "demo", org: "acme", entries: entries, convoys: convoys, budgets: budgets,
                settingsFile: "costs.json") == nil)
        budgets.rigs["demo"] = Budget(usd: 2)
        #expect(
            Costs.refusal(
                bead: "de-3", rig: "demo", org: "acme", entries: entries, convoys: convoys, budgets: budgets,
                settingsFile: "costs.json") == nil)
        budgets.convoys["Bridge"] = Budget(usd: 1)
        let convoy = Costs.refusal(
            bead: "de-3", rig: "demo", org: "acme", entries: entries, convoys: convoys, budgets: budgets,
            settingsFile: "costs.json")
        #expect(
            convoy?.contains("the budget of convoy hq-cv-1 is spent ($1.25 of its $1.00)") == true, "\(convoy ?? "")")
        #expect(convoy?.contains("raise budgets.convoys.Bridge.usd in costs.json") == true, "\(convoy ?? "")")
        // A bead the convoy does not track is not held by its budget.
        #expect(
            Costs.refusal(
                bead: "de-9", rig: "demo", org: "acme", entries: entries, convoys: convoys, budgets: budgets,
                settingsFile: "costs.json") == nil)
        budgets.orgs["acme"] = Budget(tokens: 13507)
        let org = Costs.refusal(
            bead: "de-9", rig: "demo", org: "acme", entries: entries, convoys: convoys, budgets: budgets,
            settingsFile: "costs.json")
        #expect(org?.contains("the budget of org acme is spent (13507 of its 13507 tokens)") == true, "\(org ?? "")")
        #expect(org?.contains("budgets.orgs.acme.tokens") == true)
    }

    @Test func settingsFileParsesAndRefusesWhatIsWrong() throws {
        let text = #"""
            {"prices": {"my-model": {"input": 1, "output": 2}}, "runtime_logs": {"exec": "claude"},
             "claude_dir": "/tmp/c", "collect_interval": 1,
             "budgets": {"rigs": {"demo": {"usd": 5}}, "convoys": {"Bridge": {"tokens": 100}}, "orgs": {"acme": {"usd": 50, "tokens": 9}}}}
            """#
        let settings = try CostSettingsFile.parse(Data(text.utf8), file: "costs.json")
        #expect(settings.prices.price(of: "my-model-2")?.output == 2)
        #expect(settings.prices.price(of: "claude-sonnet-4-5") != nil)
        #expect(settings.runtimeLogs["exec"] == .claude && settings.runtimeLogs["claude"] == .claude)
        #expect(settings.budgets.rigs["demo"] == Budget(usd: 5))
        #expect(settings.budgets.orgs["acme"] == Budget(usd: 50, tokens: 9))
        #expect(settings.claudeRoot(environment: [:]) == "/tmp/c")
        #expect(CostSettings().claudeRoot(environment: ["CLAUDE_CONFIG_DIR": "/x"]) == "/x")
        #expect(CostSettings().codexRoot(environment: ["HOME": "/h"]) == "/h/.codex")
        let bad: [(String, String)] = [
            ("[]", "not a JSON object"),
            (#"{"budget": {}}"#, #"unknown key "budget""#),
            (#"{"budgets": {"rigs": {"demo": {"dollars": 5}}}}"#, #"unknown key "budgets.rigs.demo.dollars""#),
            (#"{"budgets": {"rigs": {"demo": {}}}}"#, "needs usd or tokens"),
            (#"{"budgets": {"rigs": {"demo": {"usd": "5"}}}}"#, "must be a number ≥ 0"),
            (#"{"runtime_logs": {"exec": "gemini"}}"#, "must be one of: claude, codex"),
            (#"{"prices": {"m": {"input": 1}}}"#, "needs input and output"),
            (#"{"claude_dir": "relative"}"#, "must be an absolute path"),
        ]
        for (text, expected) in bad {
            do {
                _ = try CostSettingsFile.parse(Data(text.utf8), file: "costs.json")
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.description.contains("costs.json: ") && error.description.contains(expected), "\(error)")
                #expect(error.description.contains("docs/notify-costs.md"))
            }
        }
    }
}
