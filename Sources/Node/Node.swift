/// Namespace marker for the `Node` module; see docs/architecture.md for its job.
public enum NodeModule {
    /// The module's name, as used in log labels.
    public static let name = "Node"
}
