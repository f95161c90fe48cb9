/// How a polecat's agent is run: a preset (claude, codex, …: a command line and the context file it reads) or
/// `exec:'<command>'`, any shell command (scripted agents in tests and the demo). Every runtime gets the same hook
/// semantics: the session starts in the worktree with `GT_TOWN`, `GT_RIG`, `GT_POLECAT`, `GT_BEAD`,
/// `GT_BEAD_TITLE`, `GT_ROLE`, `BEADS_DIR` set and `gt` on `PATH`.
/// `Sendable`: a plain value.
public enum AgentRuntime: Sendable, Equatable, CustomStringConvertible {
    /// A named preset.
    case preset(name: String, command: String)
    /// A shell command run by `/bin/sh -c`.
    case exec(command: String)

    /// Built-in presets: the command line each agent CLI is started with (Gas Town's defaults; see
    /// samples/gastown/RUNTIMES.md). The agent reads its work with `gt prime` (hooks call it).
    public static let presets: [String: String] = [
        "claude": "claude --dangerously-skip-permissions",
        "codex": "codex --dangerously-bypass-approvals-and-sandbox",
        "gemini": "gemini --approval-mode yolo",
        "cursor": "cursor-agent -f",
        "amp": "amp --dangerously-allow-all --no-ide",
        "opencode": "opencode",
        "auggie": "auggie --allow-indexing",
        "copilot": "copilot --allow-all-tools",
    ]

    /// Parses `exec:'cmd'`, `exec:"cmd"`, `exec:cmd` or a preset name.
    public static func parse(_ text: String) throws(TownError) -> AgentRuntime {
        if text.hasPrefix("exec:") {
            var command = String(text.dropFirst(5))
            if command.count >= 2, let first = command.first, first == "'" || first == "\"", command.last == first {
                command = String(command.dropFirst().dropLast())
            }
            guard !command.trimmingCharacters(in: .whitespaces).isEmpty else { throw .badRuntime(text) }
            return .exec(command: command)
        }
        guard let command = presets[text] else { throw .badRuntime(text) }
        return .preset(name: text, command: command)
    }

    /// The shell command line the session runs.
    public var commandLine: String {
        switch self {
        case .preset(_, let command): command
        case .exec(let command): command
        }
    }

    /// The spelling `parse` reads back.
    public var description: String {
        switch self {
        case .preset(let name, _): name
        case .exec(let command): "exec:'\(command)'"
        }
    }
}

import Foundation
