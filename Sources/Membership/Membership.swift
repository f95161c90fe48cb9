/// Namespace marker for the `Membership` module; see docs/architecture.md for its job.
public enum MembershipModule {
    /// The module's name, as used in log labels.
    public static let name = "Membership"
}
