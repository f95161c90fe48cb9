/// Namespace marker for the `LedgerStore` module; see docs/architecture.md for its job.
public enum LedgerStoreModule {
    /// The module's name, as used in log labels.
    public static let name = "LedgerStore"
}
