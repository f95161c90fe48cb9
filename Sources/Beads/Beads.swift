/// Namespace marker for the `Beads` module; see docs/architecture.md for its job.
public enum BeadsModule {
    /// The module's name, as used in log labels.
    public static let name = "Beads"
}
