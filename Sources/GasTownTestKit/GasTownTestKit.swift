/// Namespace marker for the `GasTownTestKit` module; see docs/architecture.md for its job.
public enum GasTownTestKitModule {
    /// The module's name, as used in log labels.
    public static let name = "GasTownTestKit"
}
