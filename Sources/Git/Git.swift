/// Namespace marker for the `Git` module; see docs/architecture.md for its job.
public enum GitModule {
    /// The module's name, as used in log labels.
    public static let name = "Git"
}
