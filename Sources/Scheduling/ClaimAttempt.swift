/// One claim of one bead, as a state machine (DESIGN §3 "Claims and fencing"). The ledger remote decides who moved
/// first: with a remote, a claim syncs, writes the claim group at the epoch it read plus one, syncs again, and counts
/// only if the bead still shows that claim afterwards (the merge keeps the higher epoch and, at equal epochs, the
/// side already on the remote). Without a remote the write itself, a compare-and-swap on the local store, decides.
///
/// A value type that does no I/O: the shell calls ``start(current:)`` and then feeds back the result of each
/// directive it carried out. A failed sync is retried (another `.sync`) up to `syncAttempts` times per step. The
/// shell MUST carry out the directives in order and report each one's result with the matching `on…` call; it MUST
/// write exactly the change a `.write` asks for (a claim whose expected epoch is the one given, so a concurrent local
/// claim fails the compare-and-swap instead of both landing). It MUST NOT report a sync as successful when its push
/// was rejected and not retried to success. `ClaimRunner` (LedgerStore) is the shell, for the node and embedded `bd`.
///
/// `Sendable`: a plain value owned by one caller.
public struct ClaimAttempt: Sendable {
    /// Whether the claim goes through a ledger remote.
    public enum Mode: Sendable, Hashable {
        /// No remote: the local compare-and-swap decides.
        case local
        /// Through the remote: first to land wins.
        case remote
    }

    /// What the shell does next.
    public enum Directive: Sendable, Hashable {
        /// Sync with the remote (fetch, merge, push), then call ``onSynced(_:current:)``.
        case sync
        /// Write the claim group for `claimant` as a compare-and-swap on `expectedEpoch` (epoch + 1), overriding
        /// another holder only when `takeOver` is set; then call ``onWritten(_:)``.
        case write(bead: String, claimant: Claimant, expectedEpoch: Int, takeOver: Bool)
        /// The attempt is over.
        case report(ClaimOutcome)
    }

    /// What a sync did, as the shell saw it.
    public enum SyncResult: Sendable, Hashable {
        /// The sync finished and its pushes landed.
        case landed
        /// The sync failed (remote unreachable, contended, …); the text says why.
        case failed(String)
    }

    /// What a write did.
    public enum WriteResult: Sendable, Hashable {
        /// Written and durable; the bead's lease is now `lease`.
        case written(Lease)
        /// Refused because another claimant holds the bead.
        case held(Lease)
        /// Refused because the epoch moved (a concurrent claim won the local compare-and-swap).
        case moved(current: Lease)
        /// Refused for another reason (bead closed, deleted, missing): nothing was written.
        case refused(String)
    }

    /// Where the attempt is.
    public enum Step: Sendable, Hashable {
        case idle, syncingBefore, writing, syncingAfter, finished
    }

    public let bead: String
    public let claimant: Claimant
    public let mode: Mode
    /// An explicit, logged takeover of a bead another claimant holds (`--force`): the epoch still goes up by one, so
    /// the previous holder's late actions are refused by the fence.
    public let takeOver: Bool
    public private(set) var step: Step = .idle
    /// The lease our write produced, once written.
    public private(set) var written: Lease?
    /// How many syncs of the current step may run in all before the step gives up (a failed sync is retried
    /// until then: a remote briefly unreachable or contended past the engine's own push retries). Default 3.
    public let syncAttempts: Int
    /// Syncs of the current step that failed so far.
    public private(set) var failedSyncs = 0

    public init(bead: String, claimant: Claimant, mode: Mode, takeOver: Bool = false, syncAttempts: Int = 3) {
        self.bead = bead
        self.claimant = claimant
        self.mode = mode
        self.takeOver = takeOver
        self.syncAttempts = max(1, syncAttempts)
    }

    /// Starts the attempt; `current` is the bead's lease as the local store holds it now (nil: no such bead).
    public mutating func start(current: Lease?) -> [Directive] {
        precondition(step == .idle, "start() is called once")
        switch mode {
        case .remote:
            step = .syncingBefore
            return [.sync]
        case .local:
            return decideWrite(current)
        }
    }

    /// A sync finished; `current` is the bead's lease in the store after it (nil: no such bead).
    public mutating func onSynced(_ result: SyncResult, current: Lease?) -> [Directive] {
        guard step == .syncingBefore || step == .syncingAfter else { return [] }
        if case .failed = result, failedSyncs + 1 < syncAttempts {
            failedSyncs += 1
            return [.sync]
        }
        switch step {
        case .syncingBefore:
            if case .failed(let why) = result {
                return finish(.refused("cannot reach the ledger remote before claiming (\(why)); nothing was claimed"))
            }
            return decideWrite(current)
        case .syncingAfter:
            guard let written else { return finish(.refused("internal: no write recorded")) }
            if case .failed(let why) = result {
                return finish(.unconfirmed(written, reason: why))
            }
            guard let current else { return finish(.refused("\(bead) disappeared during the claim")) }
            if current == written { return finish(.won(written)) }
            return finish(.lost(to: current))
        default:
            return []
        }
    }

    /// The claim write finished.
    public mutating func onWritten(_ result: WriteResult) -> [Directive] {
        guard step == .writing else { return [] }
        switch result {
        case .written(let lease):
            written = lease
            if mode == .remote {
                step = .syncingAfter
                failedSyncs = 0
                return [.sync]
            }
            return finish(.won(lease))
        case .held(let lease), .moved(let lease):
            return finish(.lost(to: lease))
        case .refused(let why):
            return finish(.refused(why))
        }
    }

    private mutating func decideWrite(_ current: Lease?) -> [Directive] {
        guard let current else { return finish(.refused("no bead \(bead): check the ID with `bd list`")) }
        if !current.isFree && !current.isHeld(by: claimant) && !takeOver { return finish(.lost(to: current)) }
        step = .writing
        return [.write(bead: bead, claimant: claimant, expectedEpoch: current.epoch, takeOver: takeOver)]
    }

    private mutating func finish(_ outcome: ClaimOutcome) -> [Directive] {
        step = .finished
        return [.report(outcome)]
    }
}

/// How a claim ended. `Sendable`: a plain value.
public enum ClaimOutcome: Sendable, Hashable, CustomStringConvertible {
    /// The claim holds: `lease` is ours (and, with a remote, landed there).
    case won(Lease)
    /// Another claim holds the bead (it was there first, or landed first).
    case lost(to: Lease)
    /// Written locally but not confirmed by a landed push; it counts only once a later sync lands it.
    case unconfirmed(Lease, reason: String)
    /// Nothing was claimed.
    case refused(String)

    /// Whether the caller holds the bead now.
    public var isWon: Bool {
        if case .won = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .won(let lease): return "claimed at epoch \(lease.epoch)"
        case .lost(let lease):
            return lease.isFree
                ? "claim lost: the bead moved to epoch \(lease.epoch) meanwhile; re-read it and retry"
                : "claim lost: already claimed by \(lease.holder)\(lease.node.isEmpty ? "" : " on \(lease.node)")"
                    + " at epoch \(lease.epoch)"
        case .unconfirmed(let lease, let reason):
            return "claim at epoch \(lease.epoch) not confirmed (\(reason)); it is recorded locally and counts only "
                + "once a later sync lands it"
        case .refused(let why): return why
        }
    }
}
