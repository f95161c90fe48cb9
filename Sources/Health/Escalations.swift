/// What an escalation is about, which decides where it goes (`HealthSettings.routes`). `Sendable`: a plain enum.
public enum EscalationCategory: String, Sendable, Equatable, Codable, CaseIterable {
    /// Work failed and the Witness stopped trying (crash loop, gave up after restarts).
    case failed
    /// An agent is stuck on something the Witness cannot answer (an unknown dialog, a rate limit).
    case blocked
    /// A person must decide.
    case decision
    /// Lifecycle news (work re-slung elsewhere).
    case lifecycle
}

/// One thing to tell the Mayor or a person. `cause` identifies it: two escalations with one cause are one.
/// `Sendable`: plain values.
public struct Escalation: Sendable, Equatable, Codable {
    public var cause: String
    public var category: EscalationCategory
    public var polecat: String
    public var subject: String
    public var evidence: [HealthEvidence]

    public init(
        cause: String, category: EscalationCategory, polecat: String, subject: String, evidence: [HealthEvidence]
    ) {
        self.cause = cause
        self.category = category
        self.polecat = polecat
        self.subject = subject
        self.evidence = evidence
    }
}

/// The escalations raised, deduplicated by cause and rate-limited: the Witness never floods the Mayor's inbox.
/// A cause is sent once, then counted (not sent) for `escalationDedupWindow`; at most `escalationRateLimit` are
/// sent per `escalationRateWindow`, the others held and sent by a later `raise` or `due` once the window allows.
/// `Sendable`: plain values.
public struct EscalationBook: Sendable, Equatable, Codable {
    /// One cause's record. `Sendable`: plain values.
    public struct Record: Sendable, Equatable, Codable {
        public var escalation: Escalation
        public var recipient: String
        public var firstAt: Double
        public var lastAt: Double
        /// How many times it was raised.
        public var count: Int
        /// When it was last sent; nil while held by the rate limit.
        public var sentAt: Double?
    }

    /// What `raise` decided. `Sendable`: plain values.
    public enum Decision: Sendable, Equatable {
        /// Send it to this address now.
        case send(recipient: String)
        /// Already sent for this cause; counted (the count so far).
        case duplicate(count: Int)
        /// Held: too many sent in the window.
        case held
    }

    public var settings: HealthSettings
    /// Records by cause.
    public private(set) var records: [String: Record] = [:]
    /// When escalations were sent, oldest first (for the rate limit).
    public private(set) var sent: [Double] = []

    public init(settings: HealthSettings = HealthSettings()) { self.settings = settings }

    /// The address an escalation of `category` goes to.
    public func recipient(_ category: EscalationCategory) -> String { settings.routes[category] ?? "mayor/" }

    /// Raises `escalation` at `at`.
    public mutating func raise(_ escalation: Escalation, at: Double) -> Decision {
        let recipient = recipient(escalation.category)
        if var record = records[escalation.cause] {
            record.count += 1
            record.lastAt = at
            if let sentAt = record.sentAt, at - sentAt < settings.escalationDedupWindow {
                records[escalation.cause] = record
                return .duplicate(count: record.count)
            }
            record.escalation = escalation
            records[escalation.cause] = record
        } else {
            records[escalation.cause] = Record(
                escalation: escalation, recipient: recipient, firstAt: at, lastAt: at, count: 1, sentAt: nil)
        }
        guard admits(at: at) else { return .held }
        records[escalation.cause]?.sentAt = at
        sent.append(at)
        return .send(recipient: recipient)
    }

    /// Held escalations the rate limit now admits, marked sent (oldest first).
    public mutating func due(at: Double) -> [Record] {
        var out: [Record] = []
        for cause in records.values.filter({ $0.sentAt == nil }).sorted(by: { $0.firstAt < $1.firstAt })
            .map(\.escalation.cause)
        {
            guard admits(at: at) else { break }
            records[cause]?.sentAt = at
            sent.append(at)
            if let record = records[cause] { out.append(record) }
        }
        return out
    }

    /// Forgets the records sent before `horizon` (their deduplication window has passed, so a new raise is sent
    /// anyway): keeps a long-lived book (notifications) small. Held records are kept.
    public mutating func prune(sentBefore horizon: Double) {
        records = records.filter { _, record in record.sentAt.map { $0 >= horizon } ?? true }
    }

    /// Forgets `cause` (resolved): the next raise is sent again.
    public mutating func resolve(_ cause: String) { records[cause] = nil }

    /// Every record, newest first.
    public var all: [Record] { records.values.sorted { ($0.lastAt, $0.escalation.cause) > ($1.lastAt, $1.escalation.cause) } }

    private mutating func admits(at: Double) -> Bool {
        sent.removeAll { at - $0 >= settings.escalationRateWindow }
        return sent.count < settings.escalationRateLimit
    }
}
