import Foundation
import Health
import Town

/// What the Witness publishes after every patrol, in `<town>/.gt/witness/status.json`: each hooked polecat's
/// latest verdict, the accounts seen rate-limited, and the escalations raised (`gt health`, `gt witness status`,
/// `gt escalations` read it). `Sendable`: plain values.
public struct WitnessReport: Codable, Sendable, Equatable {
    /// One polecat's line. `Sendable`: plain values.
    public struct Polecat: Codable, Sendable, Equatable {
        public var agent: String
        public var state: String
        public var action: String
        public var reason: String
        public var sessionEpoch: Int
        public var bead: String
        public var seen: Int
        public var at: Double
        public var evidence: [String: String]

        enum CodingKeys: String, CodingKey {
            case agent, state, action, reason, bead, seen, at, evidence
            case sessionEpoch = "session_epoch"
        }

        public init(_ verdict: HealthVerdict, bead: String) {
            agent = verdict.polecat
            state = verdict.state.rawValue
            action = verdict.action.name
            reason = verdict.reason
            sessionEpoch = verdict.sessionEpoch
            self.bead = bead
            seen = verdict.seen
            at = verdict.at
            evidence = Dictionary(verdict.evidence.map { ($0.name, $0.value) }, uniquingKeysWith: { _, last in last })
        }
    }

    /// One limited account. `Sendable`: plain values.
    public struct RateLimit: Codable, Sendable, Equatable {
        public var account: String
        public var until: Double
        public var seenAt: Double
        public var polecat: String
        public var message: String

        enum CodingKeys: String, CodingKey {
            case account, until, polecat, message
            case seenAt = "seen_at"
        }
    }

    /// One escalation cause. `Sendable`: plain values.
    public struct EscalationLine: Codable, Sendable, Equatable {
        public var cause: String
        public var category: String
        public var agent: String
        public var subject: String
        public var recipient: String
        public var count: Int
        public var firstAt: Double
        public var lastAt: Double
        public var sentAt: Double?

        enum CodingKeys: String, CodingKey {
            case cause, category, agent, subject, recipient, count
            case firstAt = "first_at"
            case lastAt = "last_at"
            case sentAt = "sent_at"
        }

        public init(_ record: EscalationBook.Record) {
            cause = record.escalation.cause
            category = record.escalation.category.rawValue
            agent = record.escalation.polecat
            subject = record.escalation.subject
            recipient = record.recipient
            count = record.count
            firstAt = record.firstAt
            lastAt = record.lastAt
            sentAt = record.sentAt
        }
    }

    public var node: String
    /// When the patrol ran (Unix seconds).
    public var at: Double
    public var polecats: [Polecat]
    public var rateLimits: [RateLimit]
    /// The runtime accounts rate-limited anywhere in the cluster, as this node's Mayor last read them from
    /// membership (this node's own among them, under their account names); nil when no Mayor runs.
    public var clusterRateLimits: [ClusterRateLimit]?
    public var escalations: [EscalationLine]
    /// The cluster's freeze (`gt estop`) when it holds this node's sessions; nil otherwise.
    public var freeze: FreezeRecord?

    enum CodingKeys: String, CodingKey {
        case node, at, polecats, escalations, freeze
        case rateLimits = "rate_limits"
        case clusterRateLimits = "cluster_rate_limits"
    }

    public init(
        node: String, at: Double, polecats: [Polecat], rateLimits: [RateLimit], escalations: [EscalationLine],
        freeze: FreezeRecord? = nil, clusterRateLimits: [ClusterRateLimit]? = nil
    ) {
        self.clusterRateLimits = clusterRateLimits
        self.node = node
        self.at = at
        self.polecats = polecats
        self.rateLimits = rateLimits
        self.escalations = escalations
        self.freeze = freeze
    }

    /// The report file of `layout`.
    public static func path(_ layout: TownLayout) -> String { layout.stateDirectory + "/witness/status.json" }

    /// The last report, or nil when the Witness has not written one.
    public static func read(_ layout: TownLayout) throws(TownError) -> WitnessReport? {
        try TownJSON.read(WitnessReport.self, from: path(layout))
    }
}

/// The health settings of a town: the defaults, overridden by `<town>/settings/health.json` (a JSON object whose
/// keys are the snake_case names of `HealthSettings`' fields, e.g. `{"hung_after": 600, "confirmations": 3}`;
/// `patrol_interval` sets the Witness's patrol interval in seconds). A caseless namespace.
public enum HealthSettingsFile {
    /// The file of `layout`.
    public static func path(_ layout: TownLayout) -> String { layout.root + "/settings/health.json" }

    /// The settings, and the patrol interval when the file sets one. A file that is not a JSON object, or a key
    /// with a value of the wrong type, is an error naming the file and the key; unknown keys are errors too (a typo
    /// must not silently leave a default).
    public static func load(_ layout: TownLayout) throws(TownError) -> (HealthSettings, Duration?) {
        let file = path(layout)
        guard let data = FileManager.default.contents(atPath: file) else { return (HealthSettings(), nil) }
        return try parse(data, file: file)
    }

    /// Parses the file's bytes (see `load`).
    public static func parse(_ data: Data, file: String) throws(TownError) -> (HealthSettings, Duration?) {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .io("\(file) is not a JSON object; fix it (see docs/health.md) or remove it for the defaults")
        }
        var settings = HealthSettings()
        var interval: Duration?
        func number(_ key: String) throws(TownError) -> Double {
            guard let value = object[key] as? NSNumber, value.doubleValue.isFinite, value.doubleValue >= 0
            else { throw .io("\(file): \"\(key)\" must be a number ≥ 0") }
            return value.doubleValue
        }
        func count(_ key: String) throws(TownError) -> Int {
            let value = try number(key)
            guard value == value.rounded(), value < 1_000_000 else {
                throw .io("\(file): \"\(key)\" must be a whole number")
            }
            return Int(value)
        }
        for key in object.keys.sorted() {
            switch key {
            case "confirmations": settings.confirmations = max(1, try count(key))
            case "hung_after": settings.hungAfter = try number(key)
            case "heartbeat_validity": settings.heartbeatValidity = try number(key)
            case "idle_after": settings.idleAfter = try number(key)
            case "done_stuck_after": settings.doneStuckAfter = try number(key)
            case "loop_repeats": settings.loopRepeats = max(2, try count(key))
            case "loop_max_period": settings.loopMaxPeriod = max(1, try count(key))
            case "dialog_tail_lines": settings.dialogTailLines = max(1, try count(key))
            case "nudge_limit": settings.nudgeLimit = try count(key)
            case "action_interval": settings.actionInterval = try number(key)
            case "restart_limit": settings.restartLimit = try count(key)
            case "crash_loop_limit": settings.crashLoopLimit = max(1, try count(key))
            case "escalation_dedup_window": settings.escalationDedupWindow = try number(key)
            case "escalation_rate_limit": settings.escalationRateLimit = try count(key)
            case "escalation_rate_window": settings.escalationRateWindow = try number(key)
            case "rate_limit_default": settings.rateLimitDefault = try number(key)
            case "rate_limit_utc_offset":
                guard let value = object[key] as? NSNumber else { throw .io("\(file): \"\(key)\" must be a number") }
                settings.rateLimitUTCOffset = value.doubleValue
            case "patrol_interval":
                let seconds = try number(key)
                guard seconds >= 0.05 else { throw .io("\(file): \"patrol_interval\" must be at least 0.05 s") }
                interval = .milliseconds(Int64(seconds * 1000))
            case "routes":
                guard let routes = object[key] as? [String: String] else {
                    throw .io("\(file): \"routes\" must map categories (failed, blocked, decision, lifecycle) to addresses")
                }
                for (name, address) in routes {
                    guard let category = EscalationCategory(rawValue: name) else {
                        throw .io("\(file): routes: '\(name)' is not a category (failed, blocked, decision, lifecycle)")
                    }
                    settings.routes[category] = address
                }
            default:
                throw .io("\(file): unknown key \"\(key)\" (docs/health.md lists the keys)")
            }
        }
        return (settings, interval)
    }
}
