/// Namespace marker for the `Wire` module; see docs/architecture.md for its job.
public enum WireModule {
    /// The module's name, as used in log labels.
    public static let name = "Wire"
}
