/// A dialog a runtime shows and waits at (a permission or trust prompt, a start-up warning), and the keys that
/// answer it the way an autonomous polecat needs. `Sendable`: plain values.
public struct DialogPattern: Sendable, Equatable, Codable {
    /// A name for evidence (`claude-permission`).
    public var name: String
    /// Texts that must all appear in the bottom lines of the pane (case-sensitive, as the runtime prints them).
    public var markers: [String]
    /// The tmux keys that answer it (`Enter` picks the highlighted choice).
    public var keys: [String]

    public init(name: String, markers: [String], keys: [String]) {
        self.name = name
        self.markers = markers
        self.keys = keys
    }
}

/// What the health rules know of one runtime's screen: its dialogs, its rate-limit messages and its ready prompt.
/// `Sendable`: plain values.
public struct RuntimePatterns: Sendable, Equatable, Codable {
    public var dialogs: [DialogPattern]
    /// Lower-cased texts that mean the account hit a rate limit or quota.
    public var rateLimits: [String]
    /// The prompt prefix at the start of a line when the runtime waits for input (`❯` for claude), if any.
    public var readyPrompt: String?

    public init(dialogs: [DialogPattern] = [], rateLimits: [String] = [], readyPrompt: String? = nil) {
        self.dialogs = dialogs
        self.rateLimits = rateLimits
        self.readyPrompt = readyPrompt
    }

    /// The built-in patterns by runtime (after what claude, codex and gemini print; docs/health.md lists them).
    public static let builtIns: [String: RuntimePatterns] = [
        "claude": RuntimePatterns(
            dialogs: [
                DialogPattern(
                    name: "claude-bypass-warning", markers: ["Bypass Permissions mode", "Yes, I accept"],
                    keys: ["Down", "Enter"]),
                DialogPattern(
                    name: "claude-trust", markers: ["Do you trust the files in this folder?"], keys: ["Enter"]),
                DialogPattern(
                    name: "claude-trust", markers: ["Yes, I trust this folder"], keys: ["Enter"]),
                DialogPattern(name: "claude-permission", markers: ["Do you want to proceed?", "1. Yes"], keys: ["Enter"]),
                DialogPattern(name: "claude-edit", markers: ["Do you want to make this edit to", "1. Yes"], keys: ["Enter"]),
                DialogPattern(name: "claude-create", markers: ["Do you want to create", "1. Yes"], keys: ["Enter"]),
            ],
            rateLimits: [
                "usage limit reached", "you've hit your limit", "5-hour limit reached", "weekly limit reached",
                "rate_limit_error",
            ],
            readyPrompt: "❯"),
        "codex": RuntimePatterns(
            dialogs: [
                DialogPattern(
                    name: "codex-approval", markers: ["Would you like to run the following command?"], keys: ["Enter"]),
                DialogPattern(
                    name: "codex-edit", markers: ["Would you like to make the following edits?"], keys: ["Enter"]),
                DialogPattern(
                    name: "codex-trust", markers: ["allow Codex to work in this folder"], keys: ["Enter"]),
            ],
            rateLimits: ["you've hit your usage limit", "exceeded retry limit, last status: 429"],
            readyPrompt: "›"),
        "gemini": RuntimePatterns(
            dialogs: [
                DialogPattern(name: "gemini-permission", markers: ["Allow execution of"], keys: ["Enter"]),
                DialogPattern(name: "gemini-trust", markers: ["Do you trust this folder?"], keys: ["Enter"]),
            ],
            rateLimits: ["quota exceeded", "resource_exhausted", "rate limit exceeded for quota"],
            readyPrompt: nil),
    ]

    /// The patterns for `runtime`: its own; for a runtime without any (`exec` scripts, custom agents), the union
    /// of every built-in's dialogs and rate-limit messages (a script may run any agent), with no ready prompt.
    public static func forRuntime(_ runtime: String) -> RuntimePatterns {
        if let own = builtIns[runtime] { return own }
        let all = builtIns.keys.sorted().compactMap { builtIns[$0] }
        return RuntimePatterns(dialogs: all.flatMap(\.dialogs), rateLimits: all.flatMap(\.rateLimits))
    }
}

/// Reading a captured pane. A caseless namespace; pure functions.
public enum PaneReading {
    /// The pane's lines, trailing spaces and trailing blank lines removed.
    public static func lines(_ text: String) -> [String] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            String(line.reversed().drop(while: { $0 == " " || $0 == "\r" }).reversed())
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        return lines
    }

    /// The first dialog of `patterns` whose markers all appear within the bottom `tail` lines.
    public static func dialog(in lines: [String], patterns: RuntimePatterns, tail: Int) -> DialogPattern? {
        let bottom = lines.suffix(tail)
        return patterns.dialogs.first { pattern in
            pattern.markers.allSatisfy { marker in bottom.contains { $0.contains(marker) } }
        }
    }

    /// The bottom line (within `tail`) that carries a rate-limit message, if any.
    public static func rateLimitLine(in lines: [String], patterns: RuntimePatterns, tail: Int) -> String? {
        lines.suffix(tail).last { line in
            let lower = line.lowercased()
            return patterns.rateLimits.contains { lower.contains($0) }
        }
    }

    /// Whether the last non-blank line starts with the ready prompt.
    public static func atReadyPrompt(_ lines: [String], prompt: String?) -> Bool {
        guard let prompt, !prompt.isEmpty,
            let last = lines.last(where: { !$0.allSatisfy(\.isWhitespace) })
        else { return false }
        return last.drop(while: \.isWhitespace).hasPrefix(prompt)
    }

    /// A loop: the bottom of the pane is at least `repeats` copies of one block of 1…`maxPeriod` lines (not all
    /// blank). Returns the block's length and its first line, the shortest block first.
    public static func loop(in lines: [String], repeats: Int, maxPeriod: Int) -> (period: Int, line: String)? {
        guard repeats >= 2, maxPeriod >= 1 else { return nil }
        for period in 1...maxPeriod where lines.count >= period * repeats {
            let block = Array(lines.suffix(period))
            if block.allSatisfy({ $0.allSatisfy(\.isWhitespace) }) { continue }
            var matches = true
            for copy in 1..<repeats where matches {
                let end = lines.count - copy * period
                if Array(lines[(end - period)..<end]) != block { matches = false }
            }
            if matches { return (period, block.first { !$0.allSatisfy(\.isWhitespace) } ?? "") }
        }
        return nil
    }
}
