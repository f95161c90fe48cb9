/// When a rate-limit message says the limit resets, read from its text. A caseless namespace; pure.
///
/// Understood forms (the first that matches wins): a Unix time after a bar (`…limit reached|1767225600`, the
/// Claude CLI's machine form); a relative time (`try again in 2 hours 5 minutes`, `resets in 45m`, `in 30s`);
/// a wall-clock time (`resets 3pm`, `reset at 3:30 PM`, `resets at 15:00`), taken as the next such time after
/// `now` at `utcOffset` seconds east of UTC. Otherwise `now + fallback`.
public enum RateLimitReset {
    /// The reset time in `text` (seconds, the clock of `now`), or `now + fallback`.
    public static func parse(_ text: String, now: Double, utcOffset: Double, fallback: Double) -> Double {
        if let unix = barUnixTime(text) { return unix }
        let lower = text.lowercased()
        if let relative = relative(lower) { return now + relative }
        if let wall = wallClock(lower, now: now, utcOffset: utcOffset) { return wall }
        return now + fallback
    }

    /// The index just past the first occurrence of `needle` in `text`.
    static func after(_ needle: String, in text: String) -> String.Index? {
        let pattern = Array(needle)
        var index = text.startIndex
        while index < text.endIndex {
            if text[index...].starts(with: pattern) {
                return text.index(index, offsetBy: pattern.count)
            }
            index = text.index(after: index)
        }
        return nil
    }

    static func barUnixTime(_ text: String) -> Double? {
        guard let bar = text.lastIndex(of: "|") else { return nil }
        let digits = text[text.index(after: bar)...].prefix(while: { $0.isNumber })
        guard digits.count >= 9, digits.count <= 11, let value = Double(digits) else { return nil }
        return value
    }

    static func relative(_ lower: String) -> Double? {
        guard let start = after(" in ", in: lower) else { return nil }
        var words = lower[start...]
        var total: Double = 0
        var found = false
        while true {
            words = words.drop(while: { $0 == " " || $0 == "," })
            if words.hasPrefix("and ") { words = words.dropFirst(4) }
            let number = words.prefix(while: { $0.isNumber || $0 == "." })
            guard !number.isEmpty, let value = Double(number) else { break }
            words = words.dropFirst(number.count).drop(while: { $0 == " " })
            let unit = words.prefix(while: { $0.isLetter })
            let seconds: Double
            switch unit {
            case "h", "hr", "hrs", "hour", "hours": seconds = 3600
            case "m", "min", "mins", "minute", "minutes": seconds = 60
            case "s", "sec", "secs", "second", "seconds": seconds = 1
            case "d", "day", "days": seconds = 86400
            default: return found ? total : nil
            }
            total += value * seconds
            found = true
            words = words.dropFirst(unit.count)
        }
        return found ? total : nil
    }

    static func wallClock(_ lower: String, now: Double, utcOffset: Double) -> Double? {
        guard let start = after("reset", in: lower) else { return nil }
        var rest = lower[start...]
        rest = rest.drop(while: { $0.isLetter }).drop(while: { $0 == " " })
        if rest.hasPrefix("at ") { rest = rest.dropFirst(3) }
        let hourText = rest.prefix(while: { $0.isNumber })
        guard !hourText.isEmpty, hourText.count <= 2, var hour = Int(hourText) else { return nil }
        rest = rest.dropFirst(hourText.count)
        var minute = 0
        if rest.first == ":" {
            let minuteText = rest.dropFirst().prefix(while: { $0.isNumber })
            guard minuteText.count == 2, let value = Int(minuteText) else { return nil }
            minute = value
            rest = rest.dropFirst(1 + minuteText.count)
        }
        rest = rest.drop(while: { $0 == " " })
        if rest.hasPrefix("am") || rest.hasPrefix("pm") {
            guard (1...12).contains(hour) else { return nil }
            hour = hour % 12 + (rest.hasPrefix("pm") ? 12 : 0)
        } else if hourText.count < 2 && minute == 0 && !lower.contains(":") {
            return nil
        }
        guard hour < 24, minute < 60 else { return nil }
        let local = now + utcOffset
        let dayStart = (local / 86400).rounded(.down) * 86400
        var candidate = dayStart + Double(hour * 3600 + minute * 60)
        if candidate <= local { candidate += 86400 }
        return candidate - utcOffset
    }
}

/// Which runtime accounts are rate-limited and until when. A value the Witness keeps and publishes.
/// `Sendable`: plain values.
public struct RateLimitBook: Sendable, Equatable, Codable {
    /// One limited account. `Sendable`: plain values.
    public struct Entry: Sendable, Equatable, Codable {
        public var account: String
        /// When the limit resets.
        public var until: Double
        /// When it was seen, by whom, and the line that said so.
        public var seenAt: Double
        public var polecat: String
        public var message: String
    }

    /// The entries by account.
    public private(set) var entries: [String: Entry] = [:]

    public init() {}

    /// Marks `account` limited until `until`; a later reset than the known one extends it. Returns whether this
    /// is news (the account was not limited at `at`, or the reset moved).
    @discardableResult
    public mutating func mark(account: String, until: Double, at: Double, polecat: String, message: String) -> Bool {
        if let known = entries[account], known.until > at, known.until >= until { return false }
        entries[account] = Entry(account: account, until: until, seenAt: at, polecat: polecat, message: message)
        return true
    }

    /// Whether `account` is limited at `at`.
    public func isLimited(_ account: String, at: Double) -> Bool { (entries[account]?.until ?? 0) > at }

    /// The accounts limited at `at`, sorted by name.
    public func active(at: Double) -> [Entry] {
        entries.values.filter { $0.until > at }.sorted { $0.account < $1.account }
    }

    /// Forgets entries whose reset has passed.
    public mutating func expire(at: Double) { entries = entries.filter { $0.value.until > at } }
}
