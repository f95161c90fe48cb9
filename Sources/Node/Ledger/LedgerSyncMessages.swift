import Beads
import Foundation
import Git
import LedgerStore
import Wire

/// Message types of the ledger sync loop (`LedgerSyncComponent`). Bodies are JSON (`NodeJSON`).
///
/// A caseless namespace; nothing to share.
public enum LedgerSyncMessageType {
    /// Peer, one-way: a `LedgerNotice` ("scope S at commit X on remote URL"), sent after a push that moved a scope.
    public static let notice = MessageType(rawValue: 241)
    /// Local request (`bd sync`): `LedgerSyncRequest` → `LedgerSyncReply` once the sync ran.
    public static let syncNow = MessageType(rawValue: 242)
    /// Local request (`bd sync --status`): `EmptyBody` → `LedgerSyncStatus`.
    public static let status = MessageType(rawValue: 243)

    public static let descriptors: [MessageDescriptor] = [
        MessageDescriptor(type: notice, name: "ledger-notice"),
        MessageDescriptor(type: syncNow, name: "ledger-sync-now"),
        MessageDescriptor(type: status, name: "ledger-sync-status"),
    ]
}

/// Body of `ledger-notice`: the sender pushed `commit` to branch `ledger/<scope>` of the remote at `url`.
///
/// `Sendable` because it is a plain value.
public struct LedgerNotice: Codable, Sendable, Equatable {
    /// The scope (a bead ID prefix).
    public var scope: String
    /// The commit, 40 lowercase hex digits.
    public var commit: String
    /// The remote's URL as the sender has it configured (receivers match it against theirs).
    public var url: String

    public init(scope: String, commit: String, url: String) {
        self.scope = scope
        self.commit = commit
        self.url = url
    }

    /// Longest URL accepted.
    public static let maxURLBytes = 4096

    /// Decodes and checks a notice from a peer; a bad one is a `badRequest` saying what was wrong.
    public static func decode(_ bytes: [UInt8]) throws(ErrorReply) -> LedgerNotice {
        let notice = try NodeJSON.decode(LedgerNotice.self, from: bytes)
        guard BeadID.isValidPrefix(notice.scope) else {
            throw ErrorReply(code: .badRequest, message: "ledger notice: '\(notice.scope.prefix(64))' is not a scope")
        }
        guard notice.commit.utf8.count == 40, GitOID(hex: notice.commit) != nil else {
            throw ErrorReply(code: .badRequest, message: "ledger notice: commit must be 40 hex digits")
        }
        guard !notice.url.isEmpty, notice.url.utf8.count <= maxURLBytes else {
            throw ErrorReply(code: .badRequest, message: "ledger notice: url must be 1 to \(maxURLBytes) bytes")
        }
        return LedgerNotice(scope: notice.scope, commit: notice.commit.lowercased(), url: notice.url)
    }
}

/// Body of `ledger-sync-now`: sync with the remote named `remote` (nil: every remote).
///
/// `Sendable` because it is a plain value.
public struct LedgerSyncRequest: Codable, Sendable, Equatable {
    public var remote: String?
    public init(remote: String? = nil) { self.remote = remote }
}

/// What one sync did for one scope with one remote (`SyncScopeResult` on the wire).
///
/// `Sendable` because it is a plain value.
public struct LedgerSyncScopeReport: Codable, Sendable, Equatable {
    public var scope: String
    public var remote: String
    public var sent: Int
    public var received: Int
    public var commits: Int
    public var pushes: Int
    public var commit: String?
    /// Local claims the merge gave to someone else.
    public var lostClaims: [LostClaimReport]
    public var reIDs: [String]
    public var pruned: Int
    public var warnings: [String]

    enum CodingKeys: String, CodingKey {
        case scope, remote, sent, received, commits, pushes, commit, pruned, warnings
        case lostClaims = "lost_claims"
        case reIDs = "re_ids"
    }

    public init(_ result: SyncScopeResult) {
        scope = result.scope
        remote = result.remote
        sent = result.sent
        received = result.received
        commits = result.commits
        pushes = result.pushes
        commit = result.commit?.hex
        lostClaims = result.lostClaims.map {
            LostClaimReport(id: $0.id, winnerAssignee: $0.winnerAssignee, winnerEpoch: $0.winnerEpoch)
        }
        reIDs = result.reIDs
        pruned = result.pruned
        warnings = result.warnings
    }
}

/// A local claim a sync's merge gave to someone else: the bead and the lease that won.
///
/// `Sendable` because it is a plain value.
public struct LostClaimReport: Codable, Sendable, Equatable {
    public var id: String
    public var winnerAssignee: String
    public var winnerEpoch: Int

    enum CodingKeys: String, CodingKey {
        case id
        case winnerAssignee = "winner_assignee"
        case winnerEpoch = "winner_epoch"
    }

    public init(id: String, winnerAssignee: String, winnerEpoch: Int) {
        self.id = id
        self.winnerAssignee = winnerAssignee
        self.winnerEpoch = winnerEpoch
    }
}

/// Answer of `ledger-sync-now`: per remote synced, its scopes or its error.
///
/// `Sendable` because it is a plain value.
public struct LedgerSyncReply: Codable, Sendable, Equatable {
    public var scopes: [LedgerSyncScopeReport]
    /// One message per remote whose sync failed (the others still synced).
    public var errors: [String]
    public init(scopes: [LedgerSyncScopeReport] = [], errors: [String] = []) {
        self.scopes = scopes
        self.errors = errors
    }
}

/// Answer of `ledger-sync-status`: the loop's view of each remote.
///
/// `Sendable` because it is a plain value.
public struct LedgerSyncStatus: Codable, Sendable, Equatable {
    /// One remote.
    public struct Remote: Codable, Sendable, Equatable {
        public var name: String
        public var url: String
        /// `idle`, `syncing` or `backoff`.
        public var state: String
        public var intervalSeconds: Double
        public var syncs: Int
        public var failedSyncs: Int
        /// Consecutive failures (0 when the last sync succeeded).
        public var failures: Int
        public var lastError: String?
        public var lastSuccessAt: Date?
        public var nextRetryAt: Date?
        /// Per scope: the commit of the last successful sync.
        public var commits: [String: String]
        public var noticeSyncs: Int
        public var noticesIgnored: Int
        public var noticesSent: Int

        enum CodingKeys: String, CodingKey {
            case name, url, state, syncs, failures, commits
            case intervalSeconds = "interval_seconds"
            case failedSyncs = "failed_syncs"
            case lastError = "last_error"
            case lastSuccessAt = "last_success_at"
            case nextRetryAt = "next_retry_at"
            case noticeSyncs = "notice_syncs"
            case noticesIgnored = "notices_ignored"
            case noticesSent = "notices_sent"
        }
    }

    /// One scope, as `bd sync --status` shows it (`SyncScopeStatus`).
    public struct Scope: Codable, Sendable, Equatable {
        /// One remote's last fetched value of `ledger/<scope>`.
        public struct Fetched: Codable, Sendable, Equatable {
            public var name: String
            public var fetched: String?
        }
        public var scope: String
        /// The commit the store has absorbed, if any.
        public var absorbed: String?
        /// Whether the store holds changes not yet committed to the ledger branch.
        public var dirty: Bool
        public var changedBeads: Int
        public var remotes: [Fetched]

        enum CodingKeys: String, CodingKey {
            case scope, absorbed, dirty, remotes
            case changedBeads = "changed_beads"
        }

        public init(_ status: SyncScopeStatus) {
            scope = status.scope
            absorbed = status.absorbed
            dirty = status.dirty
            changedBeads = status.changedBeads
            remotes = status.remotes.map { Fetched(name: $0.name, fetched: $0.commit) }
        }
    }

    /// Whether the node holds an open ledger to sync (false while the store is not open yet).
    public var ledgerOpen: Bool
    public var notices: Bool
    public var remotes: [Remote]
    /// Per scope (empty while the ledger is not open, or when the sync repository cannot be read: `scopesError`).
    public var scopes: [Scope]
    public var scopesError: String?

    enum CodingKeys: String, CodingKey {
        case notices, remotes, scopes
        case ledgerOpen = "ledger_open"
        case scopesError = "scopes_error"
    }
}
