/// The Refinery's merge queue as a pure state machine: ordering, batches, bisection, speculation, verdicts.
///
/// `MergeQueue` is a namespace. The logic lives in ``MergeQueue/Queue``: a value type that does no I/O, reads no
/// clock, draws no randomness and never suspends. A shell (the Refinery actor) owns one queue per rig, feeds it
/// events (requests filed, rebase, gate and push outcomes, time) and carries out the ``MergeQueue/Directive``s it
/// returns with libgit2 and processes. See docs/merge-queue.md.
public enum MergeQueue {
    /// A merge request's ID: the ID of its merge-request bead (`<prefix>-mr-…`).
    public typealias RequestID = String
    /// A work bead's ID.
    public typealias BeadID = String

    /// A git commit, by its hex object ID. The queue only compares and passes these along.
    ///
    /// Sendable: plain value.
    public struct Commit: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
        /// The object ID in hex.
        public var hex: String

        /// Wraps a hex object ID.
        public init(_ hex: String) { self.hex = hex }

        public init(stringLiteral value: String) { self.hex = value }

        public static func < (lhs: Commit, rhs: Commit) -> Bool { lhs.hex < rhs.hex }

        public var description: String { hex }
    }

    /// A point in wall-clock time, in nanoseconds since the Unix epoch.
    ///
    /// Wall clock, not monotonic, because a request's age starts at its bead's `created_at`, a ledger timestamp.
    /// The queue never reads a clock; every event carries one of these. A clock that steps back only makes ages
    /// shorter for a while (ages never go negative). Sendable: plain value.
    public struct Instant: Hashable, Comparable, Sendable, CustomStringConvertible {
        /// Nanoseconds since 1970-01-01T00:00:00Z.
        public var nanoseconds: Int64

        /// Makes an instant from nanoseconds since the epoch.
        public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

        /// Makes an instant from seconds since the epoch.
        public init(seconds: Double) { self.nanoseconds = Int64(seconds * 1e9) }

        /// The epoch.
        public static let zero = Instant(nanoseconds: 0)

        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

        /// The instant `duration` later.
        public static func + (lhs: Instant, rhs: Duration) -> Instant {
            Instant(nanoseconds: lhs.nanoseconds &+ rhs.wholeNanoseconds)
        }

        /// The time from `rhs` to `lhs`.
        public static func - (lhs: Instant, rhs: Instant) -> Duration {
            .nanoseconds(lhs.nanoseconds - rhs.nanoseconds)
        }

        /// Seconds since the epoch, for logs and reports.
        public var seconds: Double { Double(nanoseconds) / 1e9 }

        public var description: String { "\(seconds)s" }
    }

    /// Names one rebase job (a candidate: requests rebased one after another onto a base). Minted by the queue,
    /// unique within one queue's life; a restarted shell starts a new queue and deletes every candidate the old one
    /// left. Sendable: plain value.
    public struct CandidateID: Hashable, Comparable, Sendable, CustomStringConvertible {
        public var value: UInt64
        public init(_ value: UInt64) { self.value = value }
        public static func < (lhs: CandidateID, rhs: CandidateID) -> Bool { lhs.value < rhs.value }
        public var description: String { "c\(value)" }
    }

    /// Names one gate run. Minted by the queue, unique within one queue's life. Sendable: plain value.
    public struct GateID: Hashable, Comparable, Sendable, CustomStringConvertible {
        public var value: UInt64
        public init(_ value: UInt64) { self.value = value }
        public static func < (lhs: GateID, rhs: GateID) -> Bool { lhs.value < rhs.value }
        public var description: String { "g\(value)" }
    }

    /// One merge request as the ledger holds it: everything the queue needs, all of it persistent, so a queue
    /// rebuilt from the ledger after a crash decides as the old one would have.
    ///
    /// Sendable: plain value.
    public struct Request: Hashable, Sendable {
        /// The merge-request bead's ID.
        public var id: RequestID
        /// The work bead the request lands.
        public var bead: BeadID
        /// The work bead's priority, 0 (critical) to 4 (backlog); out-of-range values count as 4, as Gas Town does.
        public var priority: Int
        /// When the request was filed (the merge-request bead's `created_at`).
        public var enqueuedAt: Instant
        /// The lease epoch `gt done` filed the request under.
        public var leaseEpoch: Int
        /// The work bead's current lease epoch, as the ledger says now.
        public var beadEpoch: Int
        /// The work branch (`polecat/<node>/<name>/<bead>/e<epoch>`).
        public var branch: String
        /// The branch commit `gt done` recorded: what is rebased.
        public var head: Commit
        /// Files the branch touches (relative paths), for early conflict reports and ordering; may be empty.
        public var files: Set<String>
        /// Beads whose work this bead depends on (its open blockers in the ledger). The request waits until every
        /// one of them has landed through this queue, or the shell drops it from the set (the blocker was closed).
        public var blockedBy: Set<BeadID>
        /// How many times the request was sent back and queued again (`retry_count`), lowering its rank a little.
        public var retries: Int
        /// When the convoy tracking the bead was created, if any: old convoys are raised, as in Gas Town.
        public var convoyCreatedAt: Instant?
        /// Set when the shell recorded, before a push, that the request lands in this commit and did not record
        /// the outcome yet (a crash in between). A queue built with it asks ``Directive/checkLanded(_:)`` first.
        public var landing: Commit?

        /// Makes a request; the optional parts default to none.
        public init(
            id: RequestID, bead: BeadID, priority: Int = 2, enqueuedAt: Instant, leaseEpoch: Int = 1,
            beadEpoch: Int? = nil, branch: String = "", head: Commit = "", files: Set<String> = [],
            blockedBy: Set<BeadID> = [], retries: Int = 0, convoyCreatedAt: Instant? = nil, landing: Commit? = nil
        ) {
            self.id = id
            self.bead = bead
            self.priority = priority
            self.enqueuedAt = enqueuedAt
            self.leaseEpoch = leaseEpoch
            self.beadEpoch = beadEpoch ?? leaseEpoch
            self.branch = branch
            self.head = head
            self.files = files
            self.blockedBy = blockedBy
            self.retries = retries
            self.convoyCreatedAt = convoyCreatedAt
            self.landing = landing
        }
    }

    /// A branch still being worked on (not filed yet), with the files it touches so far, for conflict reports.
    ///
    /// Sendable: plain value.
    public struct WorkingBranch: Hashable, Sendable {
        public var name: String
        public var files: Set<String>
        public init(name: String, files: Set<String>) {
            self.name = name
            self.files = files
        }
    }

    /// Why a request was refused without a gate verdict. Sendable: plain value.
    public enum Rejection: Hashable, Sendable, CustomStringConvertible {
        /// Filed under a lease epoch older than the bead's current one: another lease took the bead over.
        case staleEpoch(filed: Int, current: Int)
        /// The shell could not find the branch or its commit.
        case unavailable(String)
        /// Rejected by an operator (`gt mq reject`), with their reason.
        case byOperator(String)

        public var description: String {
            switch self {
            case .staleEpoch(let filed, let current):
                "stale lease epoch: filed at epoch \(filed), the bead is at epoch \(current) (another lease took it "
                    + "over; only the current lease's branch is merged)"
            case .unavailable(let why): "the branch cannot be read: \(why)"
            case .byOperator(let why): "rejected: \(why)"
            }
        }
    }

    /// What became of one request. Sendable: plain value.
    public struct Verdict: Hashable, Sendable {
        /// The request.
        public var request: RequestID
        /// Its work bead.
        public var bead: BeadID
        /// The outcome.
        public var outcome: Outcome

        /// The outcome of a request. Sendable: plain value.
        public enum Outcome: Hashable, Sendable {
            /// Landed: the target now contains `commit`, which holds the request. `flaky` when a gate failed on a
            /// candidate holding it and passed on the retry of the same input.
            case merged(commit: Commit, flaky: Bool)
            /// The gate failed with this request on top of a passing base, and failed again on the retry: back to
            /// its polecat with the gate's output.
            case rework(output: String)
            /// Its rebase onto everything landed before it conflicted in these files.
            case conflict(files: [String])
            /// Refused before any verdict on its content.
            case rejected(Rejection)
        }

        public init(request: RequestID, bead: BeadID, outcome: Outcome) {
            self.request = request
            self.bead = bead
            self.outcome = outcome
        }
    }

    /// A rebase job: apply `requests`, in order, each squashed into one commit, on top of `onto`.
    ///
    /// Sendable: plain value.
    public struct Rebase: Hashable, Sendable {
        /// The candidate this produces.
        public var candidate: CandidateID
        /// The base: the target tip, or a commit of an earlier candidate (speculation).
        public var onto: Commit
        /// The requests, in order.
        public var requests: [Item]

        /// One request to apply. Sendable: plain value.
        public struct Item: Hashable, Sendable {
            public var request: RequestID
            public var branch: String
            public var head: Commit
        }
    }

    /// What a rebase produced: one commit per request applied, in order (the last is the candidate's tip), and,
    /// when it stopped early, why. Sendable: plain value.
    public struct RebaseResult: Hashable, Sendable {
        /// `commits[i]` is the tree after applying requests `0...i`; fewer than asked when it stopped.
        public var commits: [Commit]
        /// Set when the request at index `commits.count` could not be applied; the rest were not tried.
        public var stop: Stop?

        /// Why a rebase stopped. Sendable: plain value.
        public enum Stop: Hashable, Sendable {
            /// The request conflicted in these files.
            case conflict(files: [String])
            /// Its branch or commit is gone.
            case unavailable(String)
        }

        public init(commits: [Commit], stop: Stop? = nil) {
            self.commits = commits
            self.stop = stop
        }
    }

    /// A gate run: the rig's gate command on `commit`, in a scratch worktree of its own.
    ///
    /// Sendable: plain value.
    public struct Gate: Hashable, Sendable {
        public var id: GateID
        /// What to check out and test.
        public var commit: Commit
        /// Every request the commit holds on top of the target tip, in order (for logs and the gate's environment).
        public var requests: [RequestID]
        /// True when this runs the same input again after it failed (the flaky-gate retry).
        public var isRetry: Bool
    }

    /// The outcome of a gate run. Sendable: plain value.
    public enum GateResult: Hashable, Sendable {
        case passed
        /// Failed; `output` is the tail of what it printed (the shell trims it), passed on to rework verdicts.
        case failed(output: String)
    }

    /// A landing: move the target from `expectedTip` to `commit`, as a compare-and-swap.
    ///
    /// Sendable: plain value.
    public struct Push: Hashable, Sendable {
        /// The new tip.
        public var commit: Commit
        /// The tip the push must replace.
        public var expectedTip: Commit
        /// Every request `commit` lands, in order.
        public var requests: [RequestID]
    }

    /// The outcome of a push. Sendable: plain value.
    public enum PushResult: Hashable, Sendable {
        /// The target is now the pushed commit.
        case pushed
        /// The target was not at the expected tip; it is at `tip`. Nothing was pushed.
        case rejected(tip: Commit)
        /// The shell did not push: recording the landing was refused (a bead's epoch moved; the shell reports it
        /// with ``Queue/onBeadEpoch(_:epoch:now:)`` first).
        case aborted
    }

    /// A gate that failed and then passed on the same input. Sendable: plain value.
    public struct Flake: Hashable, Sendable {
        public var commit: Commit
        public var requests: [RequestID]
        /// What the failing run printed.
        public var output: String
    }

    /// One side of an overlap: a queued request or a working branch. Sendable: plain value.
    public enum WorkItem: Hashable, Comparable, Sendable, CustomStringConvertible {
        case request(RequestID)
        case branch(String)

        public var description: String {
            switch self {
            case .request(let id): id
            case .branch(let name): "branch \(name)"
            }
        }
    }

    /// Two work items that touch common files: a conflict seen before any rebase. Sendable: plain value.
    public struct Overlap: Hashable, Sendable {
        /// The smaller item first.
        public var first: WorkItem
        public var second: WorkItem
        /// The common files, sorted.
        public var files: [String]

        public init(first: WorkItem, second: WorkItem, files: [String]) {
            self.first = first
            self.second = second
            self.files = files
        }
    }

    /// Something the shell must do, in the order given.
    ///
    /// Sendable: plain value.
    public enum Directive: Hashable, Sendable {
        /// Rebase the requests onto the base, producing the candidate; report with ``Queue/onRebased(_:_:now:)``.
        case rebase(Rebase)
        /// Run the gate; report with ``Queue/onGateResult(_:_:now:)``.
        case gate(Gate)
        /// Stop this gate run if it is still running (its result no longer matters) and remove its worktree.
        case cancelGate(GateID)
        /// Record the landing in the ledger (each request: `landing = commit`), then push; report with
        /// ``Queue/onPushResult(_:_:now:)``.
        case push(Push)
        /// Record the verdict in the ledger and tell whom it concerns.
        case verdict(Verdict)
        /// The candidate is no longer needed: stop its rebase if running, delete its refs and scratch state.
        case discard(CandidateID)
        /// After a restart: is this commit the target tip or one of its ancestors? Report with
        /// ``Queue/onLandedCheck(_:landed:now:)``.
        case checkLanded(Commit)
        /// A gate failed and passed on the retry: record it (the requests still get their verdicts).
        case flaky(Flake)
        /// The set of overlapping work items changed; this is the whole new set.
        case overlaps([Overlap])
    }
}

extension Duration {
    /// The duration in whole nanoseconds (saturating).
    var wholeNanoseconds: Int64 {
        let (s, a) = components
        let (ns, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return s < 0 ? .min : .max }
        return ns &+ a / 1_000_000_000
    }

    /// The duration in hours, as a fraction.
    var hours: Double {
        let (s, a) = components
        return (Double(s) + Double(a) / 1e18) / 3600
    }
}
