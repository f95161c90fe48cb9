/// The software version printed by `gt --version` and `bd --version` and carried in node metadata.
public enum GasTownVersion {
    public static let current = "0.2.0"
}
