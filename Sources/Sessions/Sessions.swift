/// Namespace marker for the `Sessions` module: agent sessions in tmux or as plain processes, and the
/// runtime presets (claude, codex, gemini, …, `exec`) that say what runs in them. See docs/sessions.md.
public enum SessionsModule {
    /// The module's name, as used in log labels.
    public static let name = "Sessions"
}
