/// Every interval and limit of the `Git` module, with its default.
///
/// Sendable: yes, a plain value.
public struct GitSettings: Sendable, Equatable {
    /// How many times a compare-and-swap on a path remote retries a ref lock held by another writer
    /// (`refs/heads/x.lock`) before giving up with `GitError.Kind.locked`. Default 200.
    public var refLockRetries: Int = 200
    /// Pause between those retries, in microseconds (on the git thread, never on the cooperative pool).
    /// Default 1,000 (1 ms).
    public var refLockRetryMicroseconds: UInt32 = 1_000
    /// A ref lock (`refs/heads/x.lock`) still there after the retries and at least this old was left by a writer
    /// that died holding it (a ref update holds it for microseconds); the compare-and-swap then removes it and
    /// retries once, so one killed push cannot block a remote for good. Default 5 s.
    public var staleRefLockAge: Duration = .seconds(5)
    /// A push to a path remote copies the objects of at most this many new commits one by one as loose objects
    /// (cheap, and a remote with thousands of tiny packs gets slow to open); more commits go as one pack.
    /// `GitRepository.repack()` packs the loose ones later. Default 32.
    public var loosePushCommitLimit: Int = 32
    /// Credentials offered to ssh and https remotes. Default `.sshAgent` (the ssh agent, then nothing).
    public var credentials: GitCredentials = .sshAgent
    /// Whether https remotes must present a certificate the system trusts. Default `true`.
    public var verifyCertificates: Bool = true
    /// Stack size of each repository's git thread, in bytes. Default 4 MiB.
    public var threadStackSize: Int = 4 << 20

    /// The defaults.
    public init() {}
}

/// Credentials offered to a remote that asks for them.
///
/// Sendable: yes, a plain value.
public enum GitCredentials: Sendable, Equatable {
    /// Offer nothing: a remote that asks fails with `GitError.Kind.authentication`.
    case none
    /// Ask the running ssh agent (`SSH_AUTH_SOCK`) for ssh remotes.
    case sshAgent
    /// An ssh key pair on disk.
    case sshKey(publicKeyPath: String?, privateKeyPath: String, passphrase: String?)
    /// A user name and password (or token) for https remotes.
    case userPassword(user: String, password: String)
}
