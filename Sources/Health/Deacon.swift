/// Every interval and limit of the Deacon (docs/health.md), with documented defaults. Times are seconds.
/// `Sendable`: plain values.
public struct DeaconSettings: Sendable, Equatable, Codable {
    /// Delay before the first restart of a failed actor. Default 1 s.
    public var initialBackoff: Double = 1
    /// Each further consecutive failure multiplies the delay by this. Default 2.
    public var backoffMultiplier: Double = 2
    /// The delay never exceeds this. Default 60 s.
    public var maxBackoff: Double = 60
    /// A run at least this long before failing was healthy: the failure streak starts again. Default 60 s.
    public var resetAfter: Double = 60
    /// Consecutive failures of one actor after which it is not restarted any more (given up, loudly: an
    /// escalation). Default 6.
    public var giveUpAfter = 6
    /// Consecutive failures of one Dog after which one escalation is raised (once per streak). Default 3.
    public var dogEscalateAfter = 3
    /// How long the Deacon may go without a beat before the Node restarts it. Default 30 s.
    public var staleAfter: Double = 30
    /// Each Dog's interval (name → seconds); a Dog absent here does not run. Defaults: `ledger-sync` 30 s,
    /// `cleanup` 600 s, `doctor` 60 s, `checkpoint` 300 s.
    public var dogs: [String: Double] = [
        "ledger-sync": 30, "cleanup": 600, "doctor": 60, "checkpoint": 300, "repack": 3600, "compaction": 3600,
        "cert-renewal": 3600,
    ]
    /// When a Dog first runs after the Deacon starts, as a fraction of its interval (0: at once). Default 0.1.
    public var firstRunFraction: Double = 0.1

    public init() {}

    /// The restart delay after `failures` consecutive failures (1 = the first).
    public func backoff(afterConsecutiveFailures failures: Int) -> Double {
        guard failures > 0 else { return 0 }
        var delay = initialBackoff
        for _ in 1..<min(failures, 64) { delay *= backoffMultiplier }
        return min(maxBackoff, delay)
    }
}

/// The Deacon's decisions as a pure core (DESIGN §8): when a node actor that failed is restarted (capped
/// exponential backoff, the streak reset by a healthy run) or given up (one escalation, loud), and when each Dog
/// runs (its interval after it last started, never two runs of one Dog at once), with one escalation per streak of
/// failures of a Dog. Time is given, never read. `Sendable`: plain values.
///
/// The shell MUST call `onActorStarted` when an actor (re)starts and `onActorFailed` when it fails, and carry out
/// the returned directive; it MUST run each `.runDog` and report it with `onDogFinished`; it MUST call `onTick`
/// at least every second.
public struct DeaconCore: Sendable, Equatable {
    /// What the shell does. `Sendable`: plain values.
    public enum Directive: Sendable, Equatable {
        /// Start the actor again after this many seconds.
        case restart(actor: String, after: Double)
        /// Do not restart the actor; raise this escalation.
        case giveUp(actor: String, escalation: Escalation)
        /// Run this Dog now.
        case runDog(String)
        /// Raise this escalation (a Dog failing again and again).
        case escalate(Escalation)
    }

    /// One actor's record.
    public struct ActorTrack: Sendable, Equatable {
        public var startedAt: Double
        public var consecutiveFailures = 0
        public var failures = 0
        public var gaveUp = false
        public var lastError = ""
    }

    /// One Dog's record.
    public struct DogTrack: Sendable, Equatable {
        public var interval: Double
        public var nextAt: Double
        public var running = false
        public var runs = 0
        public var consecutiveFailures = 0
        public var escalated = false
        public var lastOutcome = ""
        public var lastAt: Double?
    }

    public let settings: DeaconSettings
    public private(set) var actors: [String: ActorTrack] = [:]
    public private(set) var dogs: [String: DogTrack] = [:]

    /// A core whose Dogs first run `firstRunFraction` of their interval after `now`.
    public init(settings: DeaconSettings = DeaconSettings(), now: Double) {
        self.settings = settings
        for (name, interval) in settings.dogs where interval > 0 {
            dogs[name] = DogTrack(interval: interval, nextAt: now + interval * max(0, settings.firstRunFraction))
        }
    }

    /// An actor started (first start or a restart).
    public mutating func onActorStarted(_ name: String, at now: Double) {
        var track = actors[name] ?? ActorTrack(startedAt: now)
        track.startedAt = now
        track.gaveUp = false
        actors[name] = track
    }

    /// An actor failed: restart it after a backoff, or give it up after `giveUpAfter` consecutive failures.
    public mutating func onActorFailed(_ name: String, error: String, at now: Double) -> Directive {
        var track = actors[name] ?? ActorTrack(startedAt: now)
        track.consecutiveFailures = now - track.startedAt >= settings.resetAfter ? 1 : track.consecutiveFailures + 1
        track.failures += 1
        track.lastError = error
        defer { actors[name] = track }
        if track.consecutiveFailures >= settings.giveUpAfter {
            track.gaveUp = true
            return .giveUp(
                actor: name,
                escalation: Escalation(
                    cause: "actor-gave-up:\(name):\(track.failures)", category: .failed, polecat: "deacon",
                    subject: "the node's \(name) failed \(track.consecutiveFailures) times in a row; not restarted",
                    evidence: [
                        HealthEvidence("actor", name), HealthEvidence("last_error", error),
                        HealthEvidence("failures", "\(track.failures)"),
                    ]))
        }
        return .restart(actor: name, after: settings.backoff(afterConsecutiveFailures: track.consecutiveFailures))
    }

    /// An operator (or the Node watching the Deacon) restarted a given-up actor by hand: its streak starts again.
    public mutating func onActorReset(_ name: String, at now: Double) {
        actors[name] = ActorTrack(startedAt: now)
    }

    /// The Dogs due at `now`, marked running (sorted by name).
    public mutating func onTick(at now: Double) -> [Directive] {
        var out: [Directive] = []
        for name in dogs.keys.sorted() {
            guard var dog = dogs[name], !dog.running, now >= dog.nextAt else { continue }
            dog.running = true
            dog.nextAt = now + dog.interval
            dogs[name] = dog
            out.append(.runDog(name))
        }
        return out
    }

    /// A Dog finished (`failure` nil: it succeeded). A failure streak of `dogEscalateAfter` raises one escalation;
    /// a success ends the streak.
    public mutating func onDogFinished(_ name: String, failure: String?, at now: Double) -> [Directive] {
        guard var dog = dogs[name] else { return [] }
        dog.running = false
        dog.runs += 1
        dog.lastAt = now
        defer { dogs[name] = dog }
        guard let failure else {
            dog.consecutiveFailures = 0
            dog.escalated = false
            dog.lastOutcome = "ok"
            return []
        }
        dog.consecutiveFailures += 1
        dog.lastOutcome = failure
        guard dog.consecutiveFailures >= settings.dogEscalateAfter, !dog.escalated else { return [] }
        dog.escalated = true
        return [
            .escalate(
                Escalation(
                    cause: "dog-failing:\(name):\(dog.runs)", category: .failed, polecat: "deacon",
                    subject: "the \(name) Dog failed \(dog.consecutiveFailures) times in a row",
                    evidence: [HealthEvidence("dog", name), HealthEvidence("last_failure", failure)]))
        ]
    }

    /// Whether the Deacon, last beating at `lastBeat`, is stale at `now` (the Node's watch).
    public func isStale(lastBeat: Double, now: Double) -> Bool { now - lastBeat > settings.staleAfter }
}
