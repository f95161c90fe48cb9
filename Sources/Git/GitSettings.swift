import Foundation

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
    /// Whether remotes must prove who they are: https remotes a certificate the system trusts, ssh remotes a host
    /// key listed for them in `sshHostKeys.knownHostsFiles`. Default `true`; `false` checks neither.
    public var verifyCertificates: Bool = true
    /// Where ssh host keys are looked up, and whether an unknown host's key is added on first use.
    public var sshHostKeys = GitSSHHostKeySettings()
    /// Stack size of each repository's git thread, in bytes. Default 4 MiB.
    public var threadStackSize: Int = 4 << 20
    /// Told how a clone or fetch's transfer goes (libgit2's transfer-progress callback, on the git thread). Default
    /// none. `gt rig add` shows it as a progress bar on a terminal.
    public var transferProgress: GitTransferObserver? = nil

    /// The defaults.
    public init() {}
}

/// How far a clone or fetch has come: libgit2's `git_indexer_progress`.
///
/// Sendable: yes, a plain value.
public struct GitTransferProgress: Sendable, Equatable {
    public var receivedObjects: Int
    public var indexedObjects: Int
    public var totalObjects: Int
    public var indexedDeltas: Int
    public var totalDeltas: Int
    public var receivedBytes: Int

    public init(
        receivedObjects: Int, indexedObjects: Int, totalObjects: Int, indexedDeltas: Int = 0, totalDeltas: Int = 0,
        receivedBytes: Int = 0
    ) {
        self.receivedObjects = receivedObjects
        self.indexedObjects = indexedObjects
        self.totalObjects = totalObjects
        self.indexedDeltas = indexedDeltas
        self.totalDeltas = totalDeltas
        self.receivedBytes = receivedBytes
    }
}

/// Receives a transfer's progress (called on the git thread doing the transfer, often: keep it cheap, never
/// block). Equal only to itself, so `GitSettings` stays comparable.
///
/// Sendable: immutable; the closure is `@Sendable`.
public final class GitTransferObserver: Sendable, Equatable {
    let update: @Sendable (GitTransferProgress) -> Void

    public init(_ update: @escaping @Sendable (GitTransferProgress) -> Void) { self.update = update }

    public static func == (a: GitTransferObserver, b: GitTransferObserver) -> Bool { a === b }
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

/// How ssh host keys are checked (libgit2 1.5 checks none itself: `GitSSHHostKeyCheck` does, in the certificate
/// callback).
///
/// Sendable: yes, a plain value.
public struct GitSSHHostKeySettings: Sendable, Equatable {
    /// The `known_hosts` files read, in order; `nil` (default) means ssh's defaults: `~/.ssh/known_hosts`,
    /// `~/.ssh/known_hosts2`, `/etc/ssh/ssh_known_hosts`, `/etc/ssh/ssh_known_hosts2` (missing files are skipped).
    public var knownHostsFiles: [String]? = nil
    /// Accept the key of a host no file knows, appending it to the first file (ssh's
    /// `StrictHostKeyChecking=accept-new`). A changed or revoked key is refused all the same. Default `false`; also
    /// on when the environment has `GT_SSH_ACCEPT_NEW=1`.
    public var acceptNew: Bool = false

    public init(knownHostsFiles: [String]? = nil, acceptNew: Bool = false) {
        self.knownHostsFiles = knownHostsFiles
        self.acceptNew = acceptNew
    }

    /// The files to read: `knownHostsFiles`, or ssh's defaults under the home directory (`HOME`, else the
    /// password database).
    public var files: [String] {
        if let knownHostsFiles { return knownHostsFiles }
        let home = ProcessInfo.processInfo.environment["HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? NSHomeDirectory()
        return [
            "\(home)/.ssh/known_hosts", "\(home)/.ssh/known_hosts2", "/etc/ssh/ssh_known_hosts",
            "/etc/ssh/ssh_known_hosts2",
        ]
    }

    /// `acceptNew`, or `GT_SSH_ACCEPT_NEW=1` in the environment.
    public var acceptsNew: Bool { acceptNew || ProcessInfo.processInfo.environment["GT_SSH_ACCEPT_NEW"] == "1" }
}
