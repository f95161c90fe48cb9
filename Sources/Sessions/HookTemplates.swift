import Foundation

/// The hook settings files that make each runtime call `gt prime` by itself: at session start and, where
/// the runtime has one, before compaction, as Gas Town's templates do. Templates carry `{{GT_BIN}}`, replaced
/// at install time by the (shell-quoted) path of the `gt` binary.
///
/// Our templates keep Gas Town's event names and file shapes but only the commands our `gt` has
/// (`gt prime --hook`); Gas Town's guards (`gt tap guard …`), mail injection and cost recording are left
/// out. `render` also works on Gas Town's own template files. A namespace; `Sendable` trivially.
public enum HookTemplates {
    /// The placeholder replaced by the `gt` binary's path.
    public static let placeholder = "{{GT_BIN}}"

    /// `template` with every `{{GT_BIN}}` replaced by `gtBinary`, shell-quoted when it needs quoting. For
    /// JSON templates the quoted path is also JSON-escaped, so the result stays valid JSON.
    public static func render(_ template: String, gtBinary: String, json: Bool) -> String {
        var replacement = ShellQuote.quote(gtBinary)
        if json {
            replacement = replacement.replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "\"", with: "\\\"")
        }
        return template.replacingOccurrences(of: placeholder, with: replacement)
    }

    /// Our template for a hooks provider, or nil when we ship none (pi, omp, vibe: their plugins are
    /// programs the user installs; see docs/sessions.md).
    public static func template(provider: String) -> String? {
        switch provider {
        case "claude": claude
        case "gemini": gemini
        case "codex": codex
        case "cursor": cursor
        case "copilot": copilot
        case "opencode": opencode
        default: nil
        }
    }

    private static let primeCommand = "{{GT_BIN}} prime --hook"

    private static func nested(_ events: [String]) -> String {
        let entries = events.map { event in
            """
                "\(event)": [
                  {"matcher": "", "hooks": [{"type": "command", "command": "\(primeCommand)"}]}
                ]
            """
        }
        return "{\n  \"hooks\": {\n" + entries.joined(separator: ",\n") + "\n  }\n}\n"
    }

    /// Claude Code `.claude/settings.json`.
    static let claude = nested(["SessionStart", "PreCompact"])
    /// Gemini CLI `.gemini/settings.json`.
    static let gemini = nested(["SessionStart", "PreCompress"])
    /// Codex `.codex/hooks.json` (opt-in in codex).
    static let codex = nested(["SessionStart"])
    /// Cursor `.cursor/hooks.json`.
    static let cursor = """
        {
          "version": 1,
          "hooks": {
            "sessionStart": [{"command": "\(primeCommand)"}],
            "preCompact": [{"command": "\(primeCommand)"}]
          }
        }

        """
    /// Copilot CLI `.github/hooks/gastown.json`.
    static let copilot = """
        {
          "version": 1,
          "hooks": {
            "sessionStart": [{"type": "command", "bash": "\(primeCommand)", "timeoutSec": 30}]
          }
        }

        """
    /// OpenCode plugin `.opencode/plugins/gastown.js`: runs `gt prime` when a session is created and adds
    /// its output to the system prompt.
    static let opencode = """
        // Gas Town (Swift) OpenCode plugin: puts `gt prime` into the system prompt of every session.
        export const GasTown = async ({ $, directory }) => {
          let prime = null;
          const load = async () => {
            try {
              return await $`/bin/sh -c ${"\(primeCommand)"}`.cwd(directory).text();
            } catch (err) {
              console.error("[gastown] gt prime failed", err?.message || err);
              return "";
            }
          };
          return {
            event: async ({ event }) => {
              if (event?.type === "session.created" && !prime) prime = load();
            },
            "experimental.chat.system.transform": async (_input, output) => {
              if (!prime) prime = load();
              const text = await prime;
              if (text) output.system.push(text);
            },
          };
        };

        """
}

/// A hook settings file to write into a worktree. `Sendable`: plain values.
public struct HookFile: Sendable, Equatable {
    /// Path relative to the worktree.
    public let relativePath: String
    /// The rendered contents.
    public let contents: String
}

extension RuntimePreset {
    /// The hook file this runtime needs, rendered for `gtBinary`; nil when it has no hooks or we ship no
    /// template for its provider. Throws when the preset's hook path would leave the worktree.
    public func hookFile(gtBinary: String) throws(PresetError) -> HookFile? {
        guard let hooks, let template = HookTemplates.template(provider: hooks.provider) else { return nil }
        let path = hooks.relativePath
        let components = path.split(separator: "/")
        guard !path.hasPrefix("/"), !components.isEmpty, !components.contains(".."), !hooks.settingsFile.isEmpty else {
            throw .invalidField(
                file: "runtime \(name)", field: "hooks",
                problem: "hook file '\(path)' must be a relative path inside the worktree")
        }
        let json = path.hasSuffix(".json")
        return HookFile(relativePath: path, contents: HookTemplates.render(template, gtBinary: gtBinary, json: json))
    }
}

extension HookFile {
    /// Writes the file under `worktree` (creating directories), atomically. A file already there with other
    /// contents (say, the project's own committed settings) is left alone and false is returned, so the
    /// worktree never shows a change the agent did not make.
    @discardableResult
    public func install(in worktree: String) throws(SessionError) -> Bool {
        let path = worktree + "/" + relativePath
        if let existing = FileManager.default.contents(atPath: path) {
            return existing == Data(contents.utf8)
        }
        do {
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileReplace.write(Data(contents.utf8), to: path)
        } catch {
            throw .invalidSpec("cannot write hook file \(path): \(error.localizedDescription)")
        }
        return true
    }
}
