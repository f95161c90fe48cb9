/// Namespace marker for the `Transport` module; see docs/architecture.md for its job.
public enum TransportModule {
    /// The module's name, as used in log labels.
    public static let name = "Transport"
}
