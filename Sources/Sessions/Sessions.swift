/// Namespace marker for the `Sessions` module; see docs/architecture.md for its job.
public enum SessionsModule {
    /// The module's name, as used in log labels.
    public static let name = "Sessions"
}
