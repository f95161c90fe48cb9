import Beads
import Foundation

/// Tokens one model call (or a sum of calls) used. `input` excludes cached input; `cacheRead` and `cacheWrite`
/// are the prompt-cache reads and writes; `reasoning` is informational (Codex counts it inside `output`).
/// `Sendable`: plain values.
public struct TokenUsage: Sendable, Equatable, Codable {
    public var input = 0
    public var output = 0
    public var cacheRead = 0
    public var cacheWrite = 0
    public var reasoning = 0

    public init(input: Int = 0, output: Int = 0, cacheRead: Int = 0, cacheWrite: Int = 0, reasoning: Int = 0) {
        self.input = input
        self.output = output
        self.cacheRead = cacheRead
        self.cacheWrite = cacheWrite
        self.reasoning = reasoning
    }

    /// Every token counted once: input, cache reads and writes, output.
    public var total: Int { input &+ output &+ cacheRead &+ cacheWrite }
    public var isZero: Bool { self == TokenUsage() }

    public static func + (a: TokenUsage, b: TokenUsage) -> TokenUsage {
        TokenUsage(
            input: a.input &+ b.input, output: a.output &+ b.output, cacheRead: a.cacheRead &+ b.cacheRead,
            cacheWrite: a.cacheWrite &+ b.cacheWrite, reasoning: a.reasoning &+ b.reasoning)
    }

    enum CodingKeys: String, CodingKey {
        case input, output, reasoning
        case cacheRead = "cache_read"
        case cacheWrite = "cache_write"
    }
}

/// One usage report found in a runtime's log: the model, the tokens, and the id that identifies the call (two lines
/// with one id are one call). `Sendable`: plain values.
public struct UsageSample: Sendable, Equatable {
    public var model: String
    public var usage: TokenUsage
    public var id: String

    public init(model: String, usage: TokenUsage, id: String) {
        self.model = model
        self.usage = usage
        self.id = id
    }
}

/// Which runtime's log format a transcript is in. `Sendable`: a plain enum.
public enum UsageLogFormat: String, Sendable, Equatable, Codable, CaseIterable {
    /// Claude Code's transcript JSONL (`~/.claude/projects/<escaped cwd>/<session>.jsonl`).
    case claude
    /// Codex's session log (`~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl`).
    case codex
}

/// Decoders of runtimes' usage logs: outside bytes, so every line is parsed defensively (our JSON parser with its
/// depth limit; a line that is not JSON, or lacks the fields, is skipped; numbers must be whole, ≥ 0 and below
/// 10¹², else the line is skipped). Pure. A caseless namespace.
public enum UsageLogs {
    /// The largest token count one line may report.
    static let maxCount = 1_000_000_000_000

    /// Claude Code's transcript lines (complete lines, without their newline): each `assistant` line with
    /// `message.usage` (`input_tokens`, `output_tokens`, `cache_read_input_tokens`, `cache_creation_input_tokens`)
    /// is a sample, identified by `message.id` and `requestId` (Claude Code writes one line per content block, all
    /// carrying the call's usage: the first of an id counts, as ccusage does).
    public static func claude<S: Sequence>(lines: S) -> [UsageSample] where S.Element: Collection<UInt8> {
        var out: [UsageSample] = []
        for line in lines {
            guard let object = parse(line), let message = object["message"], let usage = message["usage"],
                usage.objectMembers != nil
            else { continue }
            if let type = object["type"]?.stringValue, type != "assistant" { continue }
            guard usage["input_tokens"] != nil, usage["output_tokens"] != nil else { continue }
            guard let input = count(usage["input_tokens"]), let output = count(usage["output_tokens"]),
                let read = count(usage["cache_read_input_tokens"]),
                let write = count(usage["cache_creation_input_tokens"])
            else { continue }
            let id = (message["id"]?.stringValue ?? "") + ":" + (object["requestId"]?.stringValue ?? "")
            let model = message["model"]?.stringValue ?? ""
            out.append(
                UsageSample(
                    model: model, usage: TokenUsage(input: input, output: output, cacheRead: read, cacheWrite: write),
                    id: id == ":" ? (object["uuid"]?.stringValue ?? "") : id))
        }
        return out
    }

    /// What a Codex log decoder carries from one read to the next (kept with the file's cursor).
    /// `Sendable`: plain values.
    public struct CodexState: Sendable, Equatable, Codable {
        /// The model of the latest `turn_context`.
        public var model = ""
        /// The session's working directory (`session_meta.payload.cwd`).
        public var cwd = ""
        /// The latest cumulative `total_token_usage` (input includes cached input, as Codex counts it).
        public var total: TokenUsage?
        public init() {}
    }

    /// Codex's session-log lines: `session_meta` gives the cwd, `turn_context` the model, and each `event_msg` of
    /// `payload.type` `token_count` with `payload.info` a sample: `last_token_usage` when present, else the growth
    /// of the cumulative `total_token_usage`. Codex's `input_tokens` include `cached_input_tokens` (they are
    /// separated here) and its `output_tokens` include `reasoning_output_tokens`. A repeated total (Codex writes one
    /// after each turn and on resume) adds nothing.
    public static func codex<S: Sequence>(lines: S, state: inout CodexState) -> [UsageSample]
    where S.Element: Collection<UInt8> {
        var out: [UsageSample] = []
        for line in lines {
            guard let object = parse(line), let payload = object["payload"] else { continue }
            switch object["type"]?.stringValue ?? "" {
            case "session_meta":
                if let cwd = payload["cwd"]?.stringValue { state.cwd = cwd }
            case "turn_context":
                if let model = payload["model"]?.stringValue { state.model = model }
            case "event_msg":
                guard payload["type"]?.stringValue == "token_count", let info = payload["info"],
                    info.objectMembers != nil
                else { continue }
                let total = info["total_token_usage"].flatMap(codexUsage)
                var sample: TokenUsage?
                if let last = info["last_token_usage"].flatMap(codexUsage) {
                    // A total equal to the one already seen is the same turn reported again.
                    if let total, total == state.total { sample = nil } else { sample = last }
                } else if let total {
                    let previous = state.total ?? TokenUsage()
                    let grown = TokenUsage(
                        input: max(0, total.input - previous.input), output: max(0, total.output - previous.output),
                        cacheRead: max(0, total.cacheRead - previous.cacheRead), cacheWrite: 0,
                        reasoning: max(0, total.reasoning - previous.reasoning))
                    sample = grown.isZero ? nil : grown
                }
                if let total { state.total = total }
                guard let usage = sample else { continue }
                let id = (object["timestamp"]?.stringValue ?? "") + ":\(usage.input):\(usage.output)"
                out.append(
                    UsageSample(
                        model: state.model,
                        usage: TokenUsage(
                            input: max(0, usage.input - usage.cacheRead), output: usage.output,
                            cacheRead: usage.cacheRead, cacheWrite: 0, reasoning: usage.reasoning),
                        id: id))
            default:
                continue
            }
        }
        return out
    }

    /// Codex's usage object: `input_tokens` (with cached), `cached_input_tokens`, `output_tokens`,
    /// `reasoning_output_tokens`; the first two and output are required. `cacheRead` holds the cached part.
    static func codexUsage(_ value: JSONValue) -> TokenUsage? {
        guard value.objectMembers != nil, let input = count(value["input_tokens"]),
            let output = count(value["output_tokens"])
        else { return nil }
        let cached = value["cached_input_tokens"] == nil ? 0 : count(value["cached_input_tokens"])
        let reasoning = value["reasoning_output_tokens"] == nil ? 0 : count(value["reasoning_output_tokens"])
        guard let cached, let reasoning, cached <= input else { return nil }
        return TokenUsage(input: input, output: output, cacheRead: cached, cacheWrite: 0, reasoning: reasoning)
    }

    /// A whole count 0…10¹² (absent counts as 0 for the optional cache fields of Claude: callers pass nil only
    /// when the key is missing, which counts as 0 here).
    static func count(_ value: JSONValue?) -> Int? {
        guard let value else { return 0 }
        guard case .number(let text) = value, let number = Int(text), number >= 0, number < maxCount else {
            return nil
        }
        return number
    }

    static func parse<C: Collection<UInt8>>(_ line: C) -> JSONValue? {
        guard !line.isEmpty, line.count <= 4 * 1024 * 1024 else { return nil }
        guard let value = try? JSONValue.parse(bytes: line), value.objectMembers != nil else { return nil }
        return value
    }

    /// Splits `bytes` into complete lines; returns them and how many bytes they took (a last line without its
    /// newline is left for the next read: the runtime may be writing it).
    public static func completeLines(_ bytes: [UInt8]) -> (lines: [ArraySlice<UInt8>], consumed: Int) {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        for index in bytes.indices where bytes[index] == 0x0A {
            lines.append(bytes[start..<index])
            start = index + 1
        }
        return (lines, start)
    }

    /// Claude Code's project directory name for a working directory: every character that is not an ASCII letter
    /// or digit becomes `-` (`/home/a/my.rig` → `-home-a-my-rig`).
    public static func claudeProjectName(_ directory: String) -> String {
        String(
            directory.unicodeScalars.map { scalar -> Character in
                scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar)) ? Character(scalar) : "-"
            })
    }
}
