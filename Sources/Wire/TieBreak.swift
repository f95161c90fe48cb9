/// Which of two simultaneous connections between the same two nodes (and purpose) to keep.
///
/// A caseless namespace; nothing to share.
public enum TieBreak {
    /// When `a` and `b` dial each other at once, the connection dialed by the smaller name is kept.
    /// Returns true when a connection dialed by `dialer` is the one to keep between `local` and `remote`.
    public static func keeps(connectionDialedBy dialer: NodeName, local: NodeName, remote: NodeName) -> Bool {
        dialer == min(local, remote)
    }
}
