import Beads
import Foundation
import Git

/// Why a sync failed, worded for the person who has to act on it. The local ledger is never changed by a failed
/// sync beyond merges that completed (each durable and complete on its own).
///
/// `Sendable`: strings and `Sendable` errors.
public enum SyncError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No remote is configured (or none of the asked name).
    case noRemote(String?)
    /// A bad remote name or URL in `bd remote add`.
    case invalidRemote(String)
    /// Talking to the remote failed (unreachable, not a repository, push refused, authentication).
    case remote(name: String, url: String, GitError)
    /// The local sync repository `.beads/repo` failed.
    case repository(GitError)
    /// The local store refused or failed.
    case store(LedgerDatabaseError)
    /// Pushes kept being rejected (others pushing all the time): try again.
    case contended(remote: String, scope: String, attempts: Int)

    public var description: String {
        switch self {
        case .noRemote(nil):
            return "no ledger remote is configured: add one with 'bd remote add origin URL'"
        case .noRemote(let name?):
            return "no remote named \(name): 'bd remote list' shows the configured ones"
        case .invalidRemote(let why):
            return why
        case .remote(let name, let rawURL, let error):
            let url = GitRemoteURL.redacted(rawURL)
            let what: String
            switch error.kind {
            case .unreachable: what = "cannot reach remote \(name) (\(url))"
            case .notARepository: what = "remote \(name) (\(url)) is not a git repository"
            case .pushRefused: what = "remote \(name) (\(url)) refused the push"
            case .authentication: what = "remote \(name) (\(url)) refused our credentials"
            default: what = "sync with remote \(name) (\(url)) failed"
            }
            let detail = GitRemoteURL.redacting("\(error.message) [\(error.operation)]", url: rawURL)
            return "\(what): \(detail); the local ledger is intact and usable; "
                + "check the URL with 'bd remote list' and run 'bd sync' again"
        case .repository(let error):
            return "the sync repository failed: \(error); the local ledger is intact; run 'bd sync' again"
        case .store(let error):
            return error.description
        case .contended(let remote, let scope, let attempts):
            return "gave up pushing ledger/\(scope) to \(remote) after \(attempts) rejected attempts (others keep "
                + "pushing): run 'bd sync' again"
        }
    }
}

/// What one sync did for one scope with one remote. `Sendable`: plain value.
public struct SyncScopeResult: Sendable, Equatable {
    /// The scope (branch `ledger/<scope>`).
    public var scope: String
    /// The remote's name.
    public var remote: String
    /// Beads changed locally since the last sync (sent).
    public var sent = 0
    /// Beads merged in from the remote (their lines changed there).
    public var received = 0
    /// Commits created (0 when nothing changed, 1 for local changes, 1 more per merge).
    public var commits = 0
    /// Push attempts (0 when nothing had to be pushed).
    public var pushes = 0
    /// The scope's commit after the sync, now both local and on the remote.
    public var commit: GitOID?
    /// Local claims the merge gave to someone else.
    public var lostClaims: [LostClaim] = []
    /// Beads re-IDed because of an ID collision: (old, new).
    public var reIDs: [String] = []
    /// Tombstones pruned.
    public var pruned = 0
    /// Problems the sync worked around, each naming the remote.
    public var warnings: [String] = []
}

/// What `LedgerSync.sync` did. `Sendable`: plain value.
public struct SyncReport: Sendable, Equatable {
    /// One entry per scope and remote.
    public var scopes: [SyncScopeResult] = []
    /// Every warning of every scope.
    public var warnings: [String] { scopes.flatMap(\.warnings) }
    /// Every lost claim.
    public var lostClaims: [LostClaim] { scopes.flatMap(\.lostClaims) }
    /// Commits created in total.
    public var commits: Int { scopes.reduce(0) { $0 + $1.commits } }
}

/// Where each scope stands, for `bd sync --status`. `Sendable`: plain value.
public struct SyncScopeStatus: Sendable, Equatable {
    public var scope: String
    /// The commit the store has absorbed (its content is in the store), if any.
    public var absorbed: String?
    /// Whether the store holds changes not yet committed to the ledger branch.
    public var dirty: Bool
    /// Beads changed since the absorbed commit.
    public var changedBeads: Int
    /// Per remote: the last fetched value of `ledger/<scope>` (remote-tracking ref), if any.
    public var remotes: [(name: String, commit: String?)]

    public static func == (a: SyncScopeStatus, b: SyncScopeStatus) -> Bool {
        (a.scope, a.absorbed, a.dirty, a.changedBeads) == (b.scope, b.absorbed, b.dirty, b.changedBeads)
            && a.remotes.map { [$0.name, $0.commit ?? ""] } == b.remotes.map { [$0.name, $0.commit ?? ""] }
    }
}
