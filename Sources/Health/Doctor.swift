/// The doctor's limits (docs/health.md §Doctor), with documented defaults. `Sendable`: plain values.
public struct DoctorSettings: Sendable, Equatable, Codable {
    /// A node certificate that expires within this many seconds is a warning (the node renews at two thirds
    /// of its 90-day life, so one this close to its end means renewal is not happening). Default 14 days.
    public var certificateWarnSeconds: Double = 14 * 86_400
    /// A CA certificate that expires within this many seconds is a warning (rotate it with
    /// `gt cluster rotate-ca`). Default 90 days.
    public var caWarnSeconds: Double = 90 * 86_400
    /// A peer whose clock differs from this node's by more than this (seconds) is a warning. Default 2 s.
    public var clockSkewWarnSeconds: Double = 2
    /// … and a failure beyond this (the ledger's hybrid clocks skip stamps more than 60 s ahead). Default 30 s.
    public var clockSkewFailSeconds: Double = 30
    /// A ledger remote whose last successful sync is older than this many of its intervals is a warning
    /// (and older than `syncLagFailSeconds`, a failure). Default 3.
    public var syncLagWarnIntervals: Double = 3
    /// Default 1 hour.
    public var syncLagFailSeconds: Double = 3_600
    /// Less free space than this under the town is a failure (bytes). Default 1 GiB (the `doctor` Dog's
    /// `doctor_minimum_free_bytes`).
    public var minimumFreeBytes: Int64 = 1 << 30
    /// Less free space than this is a warning (bytes). Default 5 GiB.
    public var warnFreeBytes: Int64 = 5 << 30

    public init() {}
}

/// How bad a finding is. `fail` makes `gt doctor` exit non-zero. `Sendable`: a plain enum.
public enum DoctorSeverity: String, Codable, Sendable, Comparable, CaseIterable {
    case ok, warn, fail

    private var rank: Int {
        switch self {
        case .ok: 0
        case .warn: 1
        case .fail: 2
        }
    }

    public static func < (lhs: DoctorSeverity, rhs: DoctorSeverity) -> Bool { lhs.rank < rhs.rank }
}

/// A repair the doctor may carry out by itself (`gt doctor --fix`): only ones that cannot lose work.
/// `Sendable`: plain values.
public struct DoctorFix: Codable, Sendable, Equatable, Hashable {
    /// What to do.
    public enum Kind: String, Codable, Sendable {
        /// Renew this node's certificate (a node holding the CA key signs it, locally or over the wire).
        case renewCertificate = "renew-certificate"
        /// Kill the tmux session named `target` (exact name) on the town's own tmux socket.
        case killSession = "kill-session"
        /// Remove the clean polecat worktree `rig`/`target` (git refuses again if it became dirty).
        case removeWorktree = "remove-worktree"
        /// Prune the administrative files of `rig`'s worktrees whose directory is gone.
        case pruneWorktrees = "prune-worktrees"
    }

    public var kind: Kind
    /// The session name, polecat name, or empty.
    public var target: String
    /// The rig, for worktree fixes.
    public var rig: String?

    public init(_ kind: Kind, target: String = "", rig: String? = nil) {
        self.kind = kind
        self.target = target
        self.rig = rig
    }
}

/// One result of one check: what was looked at, how bad, what was found, what to do, and the safe fix when
/// there is one. `Sendable`: plain values.
public struct DoctorFinding: Codable, Sendable, Equatable {
    /// The check: `certificate`, `ca-certificate`, `clock-skew`, `ledger-sync`, `tmux`, `git-remote`, `disk`,
    /// `state-directory`, `stale-worktree`, `orphaned-session`.
    public var check: String
    /// What it is about (`node.crt`, `rig gastown (origin)`, a session's name, …).
    public var subject: String
    public var severity: DoctorSeverity
    /// What was found.
    public var found: String
    /// What to do (empty when ok).
    public var action: String
    /// The safe repair `--fix` carries out, nil when a person must act.
    public var fix: DoctorFix?

    public init(
        check: String, subject: String, severity: DoctorSeverity, found: String, action: String = "",
        fix: DoctorFix? = nil
    ) {
        self.check = check
        self.subject = subject
        self.severity = severity
        self.found = found
        self.action = action
        self.fix = fix
    }
}

/// What the doctor's shell observed of a town and its node (gathered by the running node, or by `gt doctor`
/// itself when none runs). Times are seconds since 1970. `Sendable`: plain values.
public struct DoctorObservations: Codable, Sendable, Equatable {
    /// A certificate file (`node.crt`, `ca.crt`, `ca-previous.crt`).
    public struct Certificate: Codable, Sendable, Equatable {
        /// `node`, `ca` or `ca-previous`.
        public var role: String
        public var file: String
        public var subject: String
        public var notBefore: Double
        public var notAfter: Double
        /// When the node renews it (node certificates only).
        public var renewAt: Double?
        /// Set when the file is missing or unreadable (the other fields are then zero).
        public var error: String?

        public init(
            role: String, file: String, subject: String = "", notBefore: Double = 0, notAfter: Double = 0,
            renewAt: Double? = nil, error: String? = nil
        ) {
            self.role = role
            self.file = file
            self.subject = subject
            self.notBefore = notBefore
            self.notAfter = notAfter
            self.renewAt = renewAt
            self.error = error
        }
    }

    /// A peer's clock as measured by a round trip: `offset` = its clock − ours at the middle of the trip.
    public struct PeerClock: Codable, Sendable, Equatable {
        public var peer: String
        public var offsetSeconds: Double?
        public var roundTripSeconds: Double?
        public var error: String?

        public init(peer: String, offsetSeconds: Double?, roundTripSeconds: Double?, error: String? = nil) {
            self.peer = peer
            self.offsetSeconds = offsetSeconds
            self.roundTripSeconds = roundTripSeconds
            self.error = error
        }
    }

    /// One ledger remote as the node's sync loop sees it.
    public struct SyncRemote: Codable, Sendable, Equatable {
        public var name: String
        public var url: String
        public var intervalSeconds: Double
        public var lastSuccessAt: Double?
        public var failures: Int
        public var lastError: String?

        public init(
            name: String, url: String, intervalSeconds: Double, lastSuccessAt: Double?, failures: Int,
            lastError: String?
        ) {
            self.name = name
            self.url = url
            self.intervalSeconds = intervalSeconds
            self.lastSuccessAt = lastSuccessAt
            self.failures = failures
            self.lastError = lastError
        }
    }

    /// tmux on this host and the town's own server.
    public struct Tmux: Codable, Sendable, Equatable {
        /// The executable found on `PATH`, nil when there is none.
        public var path: String?
        /// `major.minor`, nil when it did not answer.
        public var version: String?
        /// The town's socket name (`gt-<town-id>`).
        public var socket: String
        /// The town's server answers.
        public var serverRunning: Bool
        /// An error listing its sessions.
        public var error: String?

        public init(path: String?, version: String?, socket: String, serverRunning: Bool, error: String? = nil) {
            self.path = path
            self.version = version
            self.socket = socket
            self.serverRunning = serverRunning
            self.error = error
        }
    }

    /// A git remote: a rig's repository URL or a ledger remote, and whether it answered.
    public struct Remote: Codable, Sendable, Equatable {
        /// `rig` or `ledger`.
        public var kind: String
        /// The rig's name, or `ledger`.
        public var owner: String
        public var name: String
        public var url: String
        /// Why it could not be reached, nil when it answered.
        public var error: String?

        public init(kind: String, owner: String, name: String, url: String, error: String?) {
            self.kind = kind
            self.owner = owner
            self.name = name
            self.url = url
            self.error = error
        }
    }

    /// The file system holding the town.
    public struct Disk: Codable, Sendable, Equatable {
        public var path: String
        public var freeBytes: Int64
        public var totalBytes: Int64

        public init(path: String, freeBytes: Int64, totalBytes: Int64) {
            self.path = path
            self.freeBytes = freeBytes
            self.totalBytes = totalBytes
        }
    }

    /// A polecat worktree on disk.
    public struct Worktree: Codable, Sendable, Equatable {
        public var rig: String
        public var polecat: String
        public var path: String
        /// Its hook names a bead (the polecat has work).
        public var hooked: Bool
        /// A session of this polecat is alive.
        public var sessionLive: Bool
        /// The branch checked out (nil: detached or unreadable).
        public var branch: String?
        /// The ledger knows this polecat (nil: the ledger could not be read).
        public var polecatKnown: Bool?
        /// The ledger knows the bead its work branch is for (nil: unknown; false also when the branch is no
        /// work branch).
        public var beadKnown: Bool?
        /// Uncommitted or untracked files (nil: unknown, `error` says why).
        public var dirtyFiles: [String]?
        public var error: String?

        public init(
            rig: String, polecat: String, path: String, hooked: Bool, sessionLive: Bool, branch: String? = nil,
            polecatKnown: Bool? = nil, beadKnown: Bool? = nil, dirtyFiles: [String]?, error: String? = nil
        ) {
            self.rig = rig
            self.polecat = polecat
            self.path = path
            self.hooked = hooked
            self.sessionLive = sessionLive
            self.branch = branch
            self.polecatKnown = polecatKnown
            self.beadKnown = beadKnown
            self.dirtyFiles = dirtyFiles
            self.error = error
        }

        /// Why it is stale (no hook, no live session, and its polecat or its bead is unknown to the ledger),
        /// nil when it is not. A finished polecat's worktree (its bead known) is not stale: the Deacon's
        /// `cleanup` Dog removes those within its disk budget, and the next sling replaces it.
        public var staleReason: String? {
            guard !hooked, !sessionLive else { return nil }
            if polecatKnown == false { return "the ledger has no polecat \(rig)/\(polecat)" }
            if beadKnown == false {
                return branch.map { "the ledger has no bead for its branch \($0)" } ?? "it is on no work branch"
            }
            return nil
        }
    }

    /// Worktrees git still lists for a rig whose directory is gone.
    public struct Prunable: Codable, Sendable, Equatable {
        public var rig: String
        public var names: [String]

        public init(rig: String, names: [String]) {
            self.rig = rig
            self.names = names
        }
    }

    /// A session of this town on its own tmux server (or process driver).
    public struct Session: Codable, Sendable, Equatable {
        /// Its exact name.
        public var name: String
        public var rig: String
        public var polecat: String
        public var epoch: Int
        /// The polecat's worktree exists.
        public var worktreeExists: Bool
        /// That worktree's hook, nil when it has none.
        public var hookSessionEpoch: Int?

        public init(
            name: String, rig: String, polecat: String, epoch: Int, worktreeExists: Bool, hookSessionEpoch: Int?
        ) {
            self.name = name
            self.rig = rig
            self.polecat = polecat
            self.epoch = epoch
            self.worktreeExists = worktreeExists
            self.hookSessionEpoch = hookSessionEpoch
        }
    }

    public var at: Double
    public var node: String
    /// `node` (gathered by the running node) or `local` (by `gt doctor`, no node running).
    public var source: String
    public var certificates: [Certificate] = []
    /// This town holds the CA key (it can renew its own certificate).
    public var holdsCA = false
    /// A node holding the CA key is connected (the running node can renew over the wire).
    public var caReachable = false
    /// nil: not measured (no node running).
    public var clocks: [PeerClock]?
    /// nil: not known (no node running).
    public var ledgerSync: [SyncRemote]?
    public var tmux: Tmux?
    public var remotes: [Remote] = []
    public var disk: Disk?
    /// The town's state directory accepts a new file (nil: not checked).
    public var stateWritable: Bool?
    public var worktrees: [Worktree] = []
    public var prunable: [Prunable] = []
    public var sessions: [Session] = []

    public init(at: Double, node: String, source: String) {
        self.at = at
        self.node = node
        self.source = source
    }
}

/// The doctor core (pure): observations in, findings out, one or more per check, problems first. No I/O, no
/// clock (`observations.at` is now). The shell (`gt doctor`, the Deacon's `doctor` Dog) gathers, calls
/// `diagnose`, prints, and with `--fix` carries out the `fix` of each finding: it MUST NOT do anything a finding
/// does not name, and MUST gather again afterwards rather than assume a fix worked. A caseless namespace.
public enum Doctor {
    /// Every check's findings, worst first (stable within a severity: the order of the checks).
    public static func diagnose(
        _ observed: DoctorObservations, settings: DoctorSettings = DoctorSettings()
    )
        -> [DoctorFinding]
    {
        var findings: [DoctorFinding] = []
        findings += certificates(observed, settings)
        findings += clocks(observed, settings)
        findings += ledgerSync(observed, settings)
        findings += tmux(observed)
        findings += remotes(observed)
        findings += disk(observed, settings)
        findings += worktrees(observed)
        findings += sessions(observed)
        return findings.enumerated().sorted { lhs, rhs in
            lhs.element.severity != rhs.element.severity
                ? lhs.element.severity > rhs.element.severity : lhs.offset < rhs.offset
        }.map(\.element)
    }

    /// The worst severity among `findings` (`ok` when empty).
    public static func worst(_ findings: [DoctorFinding]) -> DoctorSeverity {
        findings.map(\.severity).max() ?? .ok
    }

    /// `value` with `places` decimals (no Foundation here): `fixed(0.25, places: 3)` is `0.250`.
    static func fixed(_ value: Double, places: Int) -> String {
        var scale = 1.0
        for _ in 0..<max(0, places) { scale *= 10 }
        let scaled = Int64((abs(value) * scale).rounded())
        let whole = scaled / Int64(scale)
        var fraction = String(scaled % Int64(scale))
        while fraction.count < places { fraction = "0" + fraction }
        return (value < 0 && scaled != 0 ? "-" : "") + "\(whole)" + (places > 0 ? "." + fraction : "")
    }

    /// `1 d 4 h`, `3 h 10 min`, `12 min`, `40 s`.
    static func duration(_ seconds: Double) -> String {
        let value = Int(abs(seconds).rounded())
        if value >= 86_400 { return "\(value / 86_400) d \(value % 86_400 / 3_600) h" }
        if value >= 3_600 { return "\(value / 3_600) h \(value % 3_600 / 60) min" }
        if value >= 60 { return "\(value / 60) min" }
        return "\(value) s"
    }

    static func certificates(_ observed: DoctorObservations, _ settings: DoctorSettings) -> [DoctorFinding] {
        let now = observed.at
        let canRenew = observed.holdsCA || observed.caReachable
        let renewHow =
            canRenew
            ? "'gt doctor --fix' or 'gt node cert renew' renews it"
            : "start a node holding the CA key (or connect this one to it), then 'gt node cert renew'"
        return observed.certificates.map { cert -> DoctorFinding in
            let check = cert.role == "node" ? "certificate" : "ca-certificate"
            if let error = cert.error {
                return DoctorFinding(
                    check: check, subject: cert.file, severity: cert.role == "ca-previous" ? .warn : .fail,
                    found: error,
                    action: cert.role == "node"
                        ? "join the cluster ('gt node join') or create it ('gt cluster init')"
                        : "restore the cluster's CA certificate from another node's .gt/pki/ca.crt")
            }
            let left = cert.notAfter - now
            if cert.role == "node" {
                let fix = canRenew ? DoctorFix(.renewCertificate) : nil
                if left <= 0 {
                    return DoctorFinding(
                        check: check, subject: cert.file, severity: .fail,
                        found:
                            "the node certificate of \(cert.subject) expired \(duration(-left)) ago: peers refuse it",
                        action: renewHow, fix: fix)
                }
                if now < cert.notBefore {
                    return DoctorFinding(
                        check: check, subject: cert.file, severity: .fail,
                        found:
                            "the node certificate of \(cert.subject) is not valid for \(duration(cert.notBefore - now)) "
                            + "yet: is this host's clock behind?",
                        action: "set the clock right (NTP), then 'gt node cert renew'")
                }
                if left < settings.certificateWarnSeconds {
                    return DoctorFinding(
                        check: check, subject: cert.file, severity: .warn,
                        found: "the node certificate of \(cert.subject) expires in \(duration(left))"
                            + (cert.renewAt.map { $0 <= now ? " (due for renewal since \(duration(now - $0)))" : "" }
                                ?? ""),
                        action: renewHow, fix: fix)
                }
                return DoctorFinding(
                    check: check, subject: cert.file, severity: .ok,
                    found: "the node certificate of \(cert.subject) is valid for \(duration(left))")
            }
            if left <= 0 {
                return DoctorFinding(
                    check: check, subject: cert.file, severity: cert.role == "ca" ? .fail : .warn,
                    found: "the CA certificate \(cert.subject) expired \(duration(-left)) ago",
                    action: cert.role == "ca"
                        ? "rotate the CA on the node holding its key: 'gt cluster rotate-ca'"
                        : "finish the CA rotation: 'gt cluster rotate-ca --complete' on the CA node")
            }
            if left < settings.caWarnSeconds {
                return DoctorFinding(
                    check: check, subject: cert.file, severity: .warn,
                    found: "the CA certificate \(cert.subject) expires in \(duration(left))",
                    action: "rotate the CA on the node holding its key: 'gt cluster rotate-ca'")
            }
            return DoctorFinding(
                check: check, subject: cert.file, severity: .ok,
                found: "the CA certificate \(cert.subject) is valid for \(duration(left))")
        }
    }

    static func clocks(_ observed: DoctorObservations, _ settings: DoctorSettings) -> [DoctorFinding] {
        guard let clocks = observed.clocks else {
            return [
                DoctorFinding(
                    check: "clock-skew", subject: "cluster", severity: .ok,
                    found: "not measured: no node runs here ('gt up' to check the peers' clocks)")
            ]
        }
        if clocks.isEmpty {
            return [DoctorFinding(check: "clock-skew", subject: "cluster", severity: .ok, found: "no connected peers")]
        }
        return clocks.map { clock in
            guard let offset = clock.offsetSeconds else {
                return DoctorFinding(
                    check: "clock-skew", subject: clock.peer, severity: .warn,
                    found: "could not read \(clock.peer)'s clock: \(clock.error ?? "no answer")",
                    action: "check the link to \(clock.peer) ('gt node ping \(clock.peer)')")
            }
            let skew = abs(offset)
            let direction = offset > 0 ? "ahead of" : "behind"
            let text = fixed(skew, places: 3)
            let action = "synchronize the clocks (NTP: 'timedatectl set-ntp true' on both hosts)"
            if skew > settings.clockSkewFailSeconds {
                return DoctorFinding(
                    check: "clock-skew", subject: clock.peer, severity: .fail,
                    found: "\(clock.peer)'s clock is \(text) s \(direction) this node's", action: action)
            }
            if skew > settings.clockSkewWarnSeconds {
                return DoctorFinding(
                    check: "clock-skew", subject: clock.peer, severity: .warn,
                    found: "\(clock.peer)'s clock is \(text) s \(direction) this node's", action: action)
            }
            return DoctorFinding(
                check: "clock-skew", subject: clock.peer, severity: .ok,
                found: "\(clock.peer)'s clock is within \(text) s of this node's")
        }
    }

    static func ledgerSync(_ observed: DoctorObservations, _ settings: DoctorSettings) -> [DoctorFinding] {
        guard let remotes = observed.ledgerSync else { return [] }
        return remotes.map { remote in
            let subject = "ledger remote \(remote.name)"
            let error = remote.lastError.map { ": \($0)" } ?? ""
            guard let last = remote.lastSuccessAt else {
                return DoctorFinding(
                    check: "ledger-sync", subject: subject, severity: remote.failures > 0 ? .fail : .ok,
                    found: remote.failures > 0
                        ? "never synced with \(remote.url) (\(remote.failures) failures\(error))"
                        : "first sync with \(remote.url) not done yet",
                    action: remote.failures > 0 ? "check the remote ('bd sync --status'), then 'bd sync'" : "")
            }
            let lag = max(0, observed.at - last)
            if lag > settings.syncLagFailSeconds && lag > settings.syncLagWarnIntervals * remote.intervalSeconds {
                return DoctorFinding(
                    check: "ledger-sync", subject: subject, severity: .fail,
                    found: "last synced with \(remote.url) \(duration(lag)) ago\(error)",
                    action: "check the remote ('bd sync --status'), then 'bd sync'")
            }
            if lag > settings.syncLagWarnIntervals * remote.intervalSeconds {
                return DoctorFinding(
                    check: "ledger-sync", subject: subject, severity: .warn,
                    found:
                        "last synced with \(remote.url) \(duration(lag)) ago (every \(duration(remote.intervalSeconds)))"
                        + error,
                    action: "check the remote ('bd sync --status'), then 'bd sync'")
            }
            return DoctorFinding(
                check: "ledger-sync", subject: subject, severity: .ok,
                found: "synced with \(remote.url) \(duration(lag)) ago")
        }
    }

    static func tmux(_ observed: DoctorObservations) -> [DoctorFinding] {
        guard let tmux = observed.tmux else { return [] }
        guard let path = tmux.path else {
            return [
                DoctorFinding(
                    check: "tmux", subject: "tmux", severity: .warn,
                    found: "tmux is not on PATH: sessions run under the process driver (no attach, no capture-pane)",
                    action: "install tmux 3 or newer ('apt-get install tmux')")
            ]
        }
        guard let version = tmux.version else {
            return [
                DoctorFinding(
                    check: "tmux", subject: path, severity: .warn,
                    found: "\(path) did not say its version (tmux 3 or newer is needed)",
                    action: "install tmux 3 or newer ('apt-get install tmux')")
            ]
        }
        if let error = tmux.error {
            return [
                DoctorFinding(
                    check: "tmux", subject: "tmux -L \(tmux.socket)", severity: .fail,
                    found: "the town's tmux server does not answer: \(error)",
                    action: "look at 'tmux -L \(tmux.socket) ls'; if it hangs, kill that server's process")
            ]
        }
        return [
            DoctorFinding(
                check: "tmux", subject: "tmux -L \(tmux.socket)", severity: .ok,
                found: "tmux \(version) at \(path); the town's server "
                    + (tmux.serverRunning ? "runs" : "is not running (it starts with the first session)"))
        ]
    }

    static func remotes(_ observed: DoctorObservations) -> [DoctorFinding] {
        observed.remotes.map { remote in
            let subject = remote.kind == "rig" ? "rig \(remote.owner) (\(remote.name))" : "ledger remote \(remote.name)"
            guard let error = remote.error else {
                return DoctorFinding(
                    check: "git-remote", subject: subject, severity: .ok, found: "\(remote.url) answers")
            }
            let action =
                remote.kind == "rig"
                ? "check the URL, the network and the credentials; the rig's repository \(remote.owner)/.repo.git "
                    + "fetches from it (its git_url is in mayor/rigs.json and \(remote.owner)/config.json)"
                : "check the URL and the network or credentials; replace it with 'bd remote remove \(remote.name)' "
                    + "and 'bd remote add \(remote.name) <url>'"
            return DoctorFinding(
                check: "git-remote", subject: subject, severity: .fail,
                found: "\(remote.url) cannot be reached: \(error)", action: action)
        }
    }

    static func disk(_ observed: DoctorObservations, _ settings: DoctorSettings) -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        if let writable = observed.stateWritable, !writable {
            findings.append(
                DoctorFinding(
                    check: "state-directory", subject: ".gt", severity: .fail,
                    found: "cannot create a file in the town's .gt directory",
                    action: "check its owner and permissions, and that the file system is not read-only"))
        }
        guard let disk = observed.disk else { return findings }
        let gib = { (bytes: Int64) -> String in fixed(Double(bytes) / Double(1 << 30), places: 1) + " GiB" }
        let found = "\(gib(disk.freeBytes)) free of \(gib(disk.totalBytes)) under \(disk.path)"
        let action =
            "free space (finished worktrees go with the Deacon's cleanup Dog; lower cleanup_disk_budget in "
            + "settings/deacon.json)"
        if disk.freeBytes < settings.minimumFreeBytes {
            findings.append(
                DoctorFinding(
                    check: "disk", subject: disk.path, severity: .fail,
                    found: found + " (minimum \(gib(settings.minimumFreeBytes)))", action: action))
        } else if disk.freeBytes < settings.warnFreeBytes {
            findings.append(
                DoctorFinding(check: "disk", subject: disk.path, severity: .warn, found: found, action: action))
        } else {
            findings.append(DoctorFinding(check: "disk", subject: disk.path, severity: .ok, found: found))
        }
        return findings
    }

    static func worktrees(_ observed: DoctorObservations) -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        for worktree in observed.worktrees {
            guard let reason = worktree.staleReason else { continue }
            let subject = "\(worktree.rig)/\(worktree.polecat)"
            let remove = "'gt polecat remove \(worktree.rig) \(worktree.polecat)'"
            guard let dirty = worktree.dirtyFiles else {
                findings.append(
                    DoctorFinding(
                        check: "stale-worktree", subject: subject, severity: .warn,
                        found: "\(worktree.path) is stale (no hook, no session; \(reason)) and its state cannot be "
                            + "read: " + (worktree.error ?? "unknown error"),
                        action: "look at it; remove it with \(remove) once nothing in it is needed"))
                continue
            }
            if dirty.isEmpty {
                findings.append(
                    DoctorFinding(
                        check: "stale-worktree", subject: subject, severity: .warn,
                        found: "\(worktree.path) is stale (no hook, no session; \(reason)), nothing uncommitted",
                        action: "'gt doctor --fix' removes it (its branch stays)",
                        fix: DoctorFix(.removeWorktree, target: worktree.polecat, rig: worktree.rig)))
            } else {
                let shown = dirty.prefix(5).joined(separator: ", ") + (dirty.count > 5 ? ", …" : "")
                findings.append(
                    DoctorFinding(
                        check: "stale-worktree", subject: subject, severity: .warn,
                        found: "\(worktree.path) is stale (no hook, no session; \(reason)) but has uncommitted "
                            + "work: \(shown)",
                        action: "commit or save that work, then remove it with \(remove) (the doctor never removes "
                            + "uncommitted work)"))
            }
        }
        for rig in observed.prunable where !rig.names.isEmpty {
            findings.append(
                DoctorFinding(
                    check: "stale-worktree", subject: "rig \(rig.rig)", severity: .warn,
                    found: "git still lists worktrees whose directory is gone: \(rig.names.joined(separator: ", "))",
                    action: "'gt doctor --fix' prunes them", fix: DoctorFix(.pruneWorktrees, rig: rig.rig)))
        }
        if findings.isEmpty {
            findings.append(
                DoctorFinding(
                    check: "stale-worktree", subject: "worktrees", severity: .ok,
                    found: "\(observed.worktrees.count) polecat worktrees, none stale"))
        }
        return findings
    }

    static func sessions(_ observed: DoctorObservations) -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        for session in observed.sessions {
            let why: String
            if !session.worktreeExists {
                why = "\(session.rig)/\(session.polecat) has no worktree"
            } else if let epoch = session.hookSessionEpoch {
                guard epoch != session.epoch else { continue }
                why =
                    "\(session.rig)/\(session.polecat)'s hook is for session epoch \(epoch), this one is e\(session.epoch)"
            } else {
                why = "\(session.rig)/\(session.polecat) has no hook"
            }
            findings.append(
                DoctorFinding(
                    check: "orphaned-session", subject: session.name, severity: .fail,
                    found: "session \(session.name) runs but \(why)",
                    action: "'gt doctor --fix' kills it (by its exact name, on the town's own tmux server)",
                    fix: DoctorFix(.killSession, target: session.name)))
        }
        if findings.isEmpty {
            findings.append(
                DoctorFinding(
                    check: "orphaned-session", subject: "sessions", severity: .ok,
                    found: "\(observed.sessions.count) sessions, each with its polecat's hook"))
        }
        return findings
    }
}
