import Foundation

/// What a notification is about (docs/notify-costs.md). `Sendable`: a plain enum.
public enum NotifyKind: String, Sendable, Equatable, Codable, CaseIterable {
    /// An agent waits at a prompt the Witness could not answer (a `dialog:` escalation, category blocked).
    case needsInput = "needs-input"
    /// Any other escalation (crash loop, re-sling, done stuck, the Deacon's).
    case escalation
    /// A polecat finished: `gt done` filed its merge request.
    case done
    /// A merge request was merged by the Refinery.
    case merged
    /// A convoy landed.
    case convoyLanded = "convoy-landed"
}

/// One event as notifications see it: its kind, the key two copies of it share (`cause`, merge request, convoy),
/// the agent and rig it is about, one line of text, and the event's fields as events.jsonl holds them.
/// `Sendable`: plain values.
public struct NotifyEvent: Sendable, Equatable {
    public var kind: NotifyKind
    public var key: String
    public var agent: String
    public var rig: String
    public var text: String
    public var fields: [String: String]
    /// Set for `gt notify test`: only this rule is asked, and it always counts as new.
    public var onlyRule: String?

    public init(
        kind: NotifyKind, key: String, agent: String, rig: String, text: String, fields: [String: String],
        onlyRule: String? = nil
    ) {
        self.kind = kind
        self.key = key
        self.agent = agent
        self.rig = rig
        self.text = text
        self.fields = fields
        self.onlyRule = onlyRule
    }

    /// The notification an events.jsonl event stands for, or nil when it is none: `escalation` (a `dialog:` cause is
    /// `needs-input`), `done`, `mq-merged`, `convoy_landed`, and `notify_test` (written by `gt notify test`).
    public static func classify(_ fields: [String: String]) -> NotifyEvent? {
        let rigOf: (String) -> String = { agent in agent.split(separator: "/").first.map(String.init) ?? "" }
        switch fields["type"] ?? "" {
        case "escalation":
            let cause = fields["cause"] ?? ""
            let agent = fields["agent"] ?? ""
            let kind: NotifyKind = cause.hasPrefix("dialog:") ? .needsInput : .escalation
            let text =
                kind == .needsInput
                ? "\(agent) needs input (a prompt the Witness cannot answer): \(cause)"
                : "escalation [\(fields["category"] ?? "")] \(agent): \(cause)"
            return NotifyEvent(kind: kind, key: cause, agent: agent, rig: rigOf(agent), text: text, fields: fields)
        case "done":
            let rig = fields["rig"] ?? ""
            let agent = "\(rig)/polecats/\(fields["polecat"] ?? "")"
            let request = fields["merge_request"] ?? ""
            return NotifyEvent(
                kind: .done, key: "\(fields["bead"] ?? ""):\(request)", agent: agent, rig: rig,
                text: "\(agent) finished \(fields["bead"] ?? "") (merge request \(request))", fields: fields)
        case "mq-merged":
            let rig = fields["rig"] ?? ""
            let request = fields["merge_request"] ?? ""
            return NotifyEvent(
                kind: .merged, key: request, agent: fields["worker"] ?? "", rig: rig,
                text:
                    "merged \(fields["bead"] ?? "") in \(rig) (\(request), \(String((fields["commit"] ?? "").prefix(12))))",
                fields: fields)
        case "convoy_landed":
            let convoy = fields["convoy"] ?? ""
            return NotifyEvent(
                kind: .convoyLanded, key: convoy, agent: "", rig: "",
                text: "convoy \(convoy) (\(fields["name"] ?? "")) landed", fields: fields)
        case "notify_test":
            guard let rule = fields["rule"], let kind = NotifyKind(rawValue: fields["kind"] ?? "") else { return nil }
            return NotifyEvent(
                kind: kind, key: "test:\(fields["ts"] ?? "")", agent: fields["agent"] ?? "", rig: fields["rig"] ?? "",
                text: "test of notification rule \(rule)", fields: fields, onlyRule: rule)
        default:
            return nil
        }
    }
}

/// One rule of `<town>/settings/notify.json`: which events (kinds, optionally one rig or agent) and what to do
/// (run a command, send mail, show on the dashboard). `Sendable`: plain values.
public struct NotifyRule: Sendable, Equatable {
    public var name: String
    public var on: [NotifyKind]
    /// Only events about this rig (nil: any).
    public var rig: String?
    /// Only events about this agent; a trailing `*` matches a prefix (nil: any).
    public var agent: String?
    /// The command's argv (empty: no command). It gets the event as JSON on stdin and `GT_NOTIFY_*` variables.
    public var run: [String]
    /// Mail to this address (nil: none).
    public var mail: String?
    /// Show it on the dashboard (a `notification` event in the live stream).
    public var dashboard: Bool

    public init(
        name: String, on: [NotifyKind], rig: String? = nil, agent: String? = nil, run: [String] = [],
        mail: String? = nil, dashboard: Bool = false
    ) {
        self.name = name
        self.on = on
        self.rig = rig
        self.agent = agent
        self.run = run
        self.mail = mail
        self.dashboard = dashboard
    }

    /// Whether `event` is one of this rule's.
    public func matches(_ event: NotifyEvent) -> Bool {
        if let only = event.onlyRule { return only == name }
        guard on.contains(event.kind) else { return false }
        if let rig, rig != event.rig { return false }
        if let agent {
            if agent.hasSuffix("*") { return event.agent.hasPrefix(String(agent.dropLast())) }
            return agent == event.agent
        }
        return true
    }

    /// What is wrong with the rule, or nil.
    public var problem: String? {
        if name.isEmpty || name.count > 64 || !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        {
            return "rule name '\(name)' must be 1–64 letters, digits, '-' or '_'"
        }
        if on.isEmpty {
            return "rule '\(name)' names no event (on: \(NotifyKind.allCases.map(\.rawValue).joined(separator: ", ")))"
        }
        if run.isEmpty && mail == nil && !dashboard {
            return "rule '\(name)' does nothing: give it a command (run), a mail address (mail) or dashboard: true"
        }
        if let first = run.first, first.isEmpty { return "rule '\(name)': the command's first word is empty" }
        if let mail, mail.isEmpty { return "rule '\(name)': the mail address is empty" }
        return nil
    }
}

/// The notifications' settings: the rules, and the deduplication and rate limit (the escalations' core,
/// `EscalationBook`), and the command timeout. `Sendable`: plain values.
public struct NotifySettings: Sendable, Equatable {
    public var rules: [NotifyRule] = []
    /// One event key is notified once per rule within this window. Default 3600 s.
    public var dedupWindow: Double = 3600
    /// At most this many notifications per `rateWindow` (the rest are held and sent later). Default 20.
    public var rateLimit = 20
    /// Default 600 s.
    public var rateWindow: Double = 600
    /// A rule's command is killed after this long. Default 10 s.
    public var commandTimeout: Double = 10

    public init(rules: [NotifyRule] = []) { self.rules = rules }

    /// Parses the file's bytes: a JSON object with `rules` (an array) and optional `dedup_window`, `rate_limit`,
    /// `rate_window`, `command_timeout`. Anything wrong (not JSON, an unknown key, a wrong type, an unknown event
    /// kind, two rules of one name, a rule that does nothing) is an error naming the file and what to fix.
    public static func parse(_ data: Data, file: String) throws(NotifyFileError) -> NotifySettings {
        func fail(_ what: String) -> NotifyFileError { NotifyFileError(file: file, problem: what) }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw fail("is not a JSON object")
        }
        var settings = NotifySettings()
        let known: Set = ["rules", "dedup_window", "rate_limit", "rate_window", "command_timeout"]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw fail("unknown key \"\(unknown)\" (known: \(known.sorted().joined(separator: ", ")))")
        }
        func number(_ key: String) throws(NotifyFileError) -> Double? {
            guard let raw = object[key] else { return nil }
            guard let value = raw as? NSNumber, value.doubleValue.isFinite, value.doubleValue >= 0
            else { throw fail("\"\(key)\" must be a number ≥ 0") }
            return value.doubleValue
        }
        if let value = try number("dedup_window") { settings.dedupWindow = value }
        if let value = try number("rate_window") { settings.rateWindow = value }
        if let value = try number("command_timeout") { settings.commandTimeout = max(0.1, value) }
        if let value = try number("rate_limit") {
            guard value == value.rounded(), value < 1_000_000 else {
                throw fail("\"rate_limit\" must be a whole number")
            }
            settings.rateLimit = Int(value)
        }
        let rawRules: Any = object["rules"] ?? [Any]()
        guard let rules = rawRules as? [Any] else { throw fail("\"rules\" must be an array") }
        var names: Set<String> = []
        for (index, raw) in rules.enumerated() {
            guard let rule = raw as? [String: Any] else { throw fail("rules[\(index)] is not an object") }
            let parsed = try parseRule(rule, index: index, fail: fail)
            guard names.insert(parsed.name).inserted else { throw fail("two rules are named '\(parsed.name)'") }
            settings.rules.append(parsed)
        }
        return settings
    }

    private static func parseRule(
        _ rule: [String: Any], index: Int, fail: (String) -> NotifyFileError
    ) throws(NotifyFileError) -> NotifyRule {
        let known: Set = ["name", "on", "rig", "agent", "run", "mail", "dashboard"]
        if let unknown = rule.keys.sorted().first(where: { !known.contains($0) }) {
            throw fail("rules[\(index)]: unknown key \"\(unknown)\" (known: \(known.sorted().joined(separator: ", ")))")
        }
        guard let name = rule["name"] as? String else { throw fail("rules[\(index)]: \"name\" must be a string") }
        guard let on = rule["on"] as? [String] else {
            throw fail("rule '\(name)': \"on\" must be an array of event kinds")
        }
        var kinds: [NotifyKind] = []
        for word in on {
            guard let kind = NotifyKind(rawValue: word) else {
                throw fail(
                    "rule '\(name)': unknown event '\(word)' (events: "
                        + NotifyKind.allCases.map(\.rawValue).joined(separator: ", ") + ")")
            }
            kinds.append(kind)
        }
        func optionalString(_ key: String) throws(NotifyFileError) -> String? {
            guard let raw = rule[key] else { return nil }
            guard let value = raw as? String else { throw fail("rule '\(name)': \"\(key)\" must be a string") }
            return value
        }
        let run: [String]
        if let raw = rule["run"] {
            guard let argv = raw as? [String] else {
                throw fail("rule '\(name)': \"run\" must be an array of strings (the command's argv)")
            }
            run = argv
        } else {
            run = []
        }
        var dashboard = false
        if let raw = rule["dashboard"] {
            guard let value = raw as? Bool else { throw fail("rule '\(name)': \"dashboard\" must be true or false") }
            dashboard = value
        }
        let parsed = NotifyRule(
            name: name, on: kinds, rig: try optionalString("rig"), agent: try optionalString("agent"), run: run,
            mail: try optionalString("mail"), dashboard: dashboard)
        if let problem = parsed.problem { throw fail(problem) }
        return parsed
    }

    /// The settings as the file holds them (the one writer's encoding; `parse` reads it back).
    public var jsonObject: [String: Any] {
        [
            "dedup_window": dedupWindow, "rate_limit": rateLimit, "rate_window": rateWindow,
            "command_timeout": commandTimeout,
            "rules": rules.map { rule -> [String: Any] in
                var object: [String: Any] = ["name": rule.name, "on": rule.on.map(\.rawValue)]
                if let rig = rule.rig { object["rig"] = rig }
                if let agent = rule.agent { object["agent"] = agent }
                if !rule.run.isEmpty { object["run"] = rule.run }
                if let mail = rule.mail { object["mail"] = mail }
                if rule.dashboard { object["dashboard"] = true }
                return object
            },
        ]
    }
}

/// A notify.json that cannot be used: which file and what is wrong. `Sendable`: plain values.
public struct NotifyFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var problem: String
    public var description: String { "\(file): \(problem)" }
}

/// What the notifier shell must do for one event. `Sendable`: plain values.
public enum NotifyDirective: Sendable, Equatable {
    /// Run the rule's command with the event (JSON on stdin, `GT_NOTIFY_*` variables), killed after the timeout.
    case run(rule: String, argv: [String], event: NotifyEvent)
    /// Mail the event to `to`.
    case mail(rule: String, to: String, event: NotifyEvent)
    /// Record a `notification` event, which the dashboard's live stream shows.
    case dashboard(rule: String, event: NotifyEvent)
    /// Sent already for this key within the window: counted, nothing done.
    case suppressed(rule: String, event: NotifyEvent, count: Int)
    /// Over the rate limit: held, sent by a later `onEvent` or `onTick`.
    case held(rule: String, event: NotifyEvent)
}

/// The notifications' pure core: events in, directives out. Rules decide which events count; one `EscalationBook`
/// (the escalations' core: one record per cause, deduplicated for `dedupWindow`, at most `rateLimit` per
/// `rateWindow`, held ones sent later, never dropped) decides whether a (rule, event key) is sent now. No I/O, no
/// clock: `at` is given. `Sendable`: plain values.
public struct NotifyCore: Sendable, Equatable {
    public private(set) var settings: NotifySettings
    public private(set) var book: EscalationBook

    public init(settings: NotifySettings = NotifySettings(), book: EscalationBook? = nil) {
        self.settings = settings
        self.book = book ?? EscalationBook()
        self.book.settings = NotifyCore.bookSettings(settings)
    }

    /// New rules (the file changed); the book (what was sent) is kept.
    public mutating func onSettings(_ settings: NotifySettings) {
        self.settings = settings
        book.settings = NotifyCore.bookSettings(settings)
    }

    /// One events.jsonl event (its fields): directives for every rule it matches, then for held ones now due.
    public mutating func onEvent(_ fields: [String: String], at: Double) -> [NotifyDirective] {
        guard let event = NotifyEvent.classify(fields) else { return onTick(at: at) }
        var out: [NotifyDirective] = []
        for rule in settings.rules where rule.matches(event) {
            let escalation = Escalation(
                cause: "\(rule.name)|\(event.kind.rawValue)|\(event.key)", category: .lifecycle, polecat: event.agent,
                subject: event.text,
                evidence: event.fields.sorted { $0.key < $1.key }.map { HealthEvidence($0.key, $0.value) })
            switch book.raise(escalation, at: at) {
            case .send: out += actions(rule, event)
            case .duplicate(let count): out.append(.suppressed(rule: rule.name, event: event, count: count))
            case .held: out.append(.held(rule: rule.name, event: event))
            }
        }
        return out + onTick(at: at)
    }

    /// Held notifications the rate limit now admits.
    public mutating func onTick(at: Double) -> [NotifyDirective] {
        book.prune(sentBefore: at - settings.dedupWindow)
        var out: [NotifyDirective] = []
        for record in book.due(at: at) {
            let ruleName = String(record.escalation.cause.split(separator: "|").first ?? "")
            var fields: [String: String] = [:]
            for item in record.escalation.evidence { fields[item.name] = item.value }
            guard let rule = settings.rules.first(where: { $0.name == ruleName }),
                let event = NotifyEvent.classify(fields)
            else { continue }
            out += actions(rule, event)
        }
        return out
    }

    private func actions(_ rule: NotifyRule, _ event: NotifyEvent) -> [NotifyDirective] {
        var out: [NotifyDirective] = []
        if !rule.run.isEmpty { out.append(.run(rule: rule.name, argv: rule.run, event: event)) }
        if let to = rule.mail { out.append(.mail(rule: rule.name, to: to, event: event)) }
        if rule.dashboard { out.append(.dashboard(rule: rule.name, event: event)) }
        return out
    }

    static func bookSettings(_ settings: NotifySettings) -> HealthSettings {
        var health = HealthSettings()
        health.escalationDedupWindow = settings.dedupWindow
        health.escalationRateLimit = settings.rateLimit
        health.escalationRateWindow = settings.rateWindow
        return health
    }
}
