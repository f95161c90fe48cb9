/// An RFC 3339 timestamp as beads writes it (Go `time.Time` JSON: 0–9 fractional digits, `Z` or an offset),
/// kept as its original text for a byte-exact round trip, plus the instant in Unix nanoseconds for
/// comparisons. Ordering and equality use the instant first and the text second, so two spellings of one
/// instant are distinct but adjacent.
///
/// `Sendable`: plain value.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The text as read or written (e.g. `2025-12-28T10:05:16.123-08:00`).
    public let text: String
    /// Whole seconds since 1970-01-01T00:00:00Z (any year 0000–9999, like Go's `time.Time`).
    public let unixSeconds: Int64
    /// Nanoseconds within the second, 0–999 999 999.
    public let nanosecond: Int32

    /// Nanoseconds since the Unix epoch, saturated to the `Int64` range (years 1678–2262 are exact; Go's
    /// `UnixNano` is undefined outside it).
    public var unixNanos: Int64 {
        let (product, overflow) = unixSeconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return unixSeconds < 0 ? .min : .max }
        let (sum, overflow2) = product.addingReportingOverflow(Int64(nanosecond))
        return overflow2 ? .max : sum
    }

    /// Parses an RFC 3339 timestamp; nil when `text` is not one.
    public init?(_ text: String) {
        var contiguous = text  // native strings are already contiguous: `withUTF8` then copies nothing
        guard let (seconds, nanos) = contiguous.withUTF8({ Timestamp.parse($0) }) else { return nil }
        self.text = text
        self.unixSeconds = seconds
        self.nanosecond = nanos
    }

    /// The instant `unixNanos`, written in UTC the way Go does (`Z`, trailing zeros of the fraction trimmed).
    public init(unixNanos: Int64) {
        var seconds = unixNanos / 1_000_000_000
        var nanos = unixNanos % 1_000_000_000
        if nanos < 0 {
            nanos += 1_000_000_000
            seconds -= 1
        }
        self.unixSeconds = seconds
        self.nanosecond = Int32(nanos)
        self.text = Timestamp.format(seconds: seconds, nanos: nanos)
    }

    /// The instant `unixMillis` (milliseconds), written in UTC.
    public init(unixMillis: Int64) { self.init(unixNanos: unixMillis &* 1_000_000) }

    /// Milliseconds since the Unix epoch (floor).
    public var unixMillis: Int64 { unixSeconds &* 1000 &+ Int64(nanosecond / 1_000_000) }

    public var description: String { text }

    public static func < (a: Timestamp, b: Timestamp) -> Bool {
        if a.unixSeconds != b.unixSeconds { return a.unixSeconds < b.unixSeconds }
        if a.nanosecond != b.nanosecond { return a.nanosecond < b.nanosecond }
        return a.text < b.text
    }

    /// True when both denote the same instant (whatever their spelling).
    public func isSameInstant(as other: Timestamp) -> Bool {
        unixSeconds == other.unixSeconds && nanosecond == other.nanosecond
    }

    static func parse(_ b: UnsafeBufferPointer<UInt8>) -> (Int64, Int32)? {
        // YYYY-MM-DDTHH:MM:SS[.fffffffff](Z|±HH:MM)
        guard b.count >= 20 else { return nil }
        func digits(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var v = 0
            for i in from..<(from + count) {
                guard b[i] >= 0x30 && b[i] <= 0x39 else { return nil }
                v = v * 10 + Int(b[i] - 0x30)
            }
            return v
        }
        guard let year = digits(0, 4), b[4] == UInt8(ascii: "-"), let month = digits(5, 2), b[7] == UInt8(ascii: "-"),
            let day = digits(8, 2), b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"),
            let hour = digits(11, 2), b[13] == UInt8(ascii: ":"), let minute = digits(14, 2),
            b[16] == UInt8(ascii: ":"), let second = digits(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year, month), hour < 24, minute < 60,
            second < 60
        else { return nil }
        var i = 19
        var fraction: Int32 = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var n = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                guard n < 9 else { return nil }
                fraction = fraction * 10 + Int32(b[i] - 0x30)
                n += 1
                i += 1
            }
            guard n > 0 else { return nil }
            for _ in n..<9 { fraction *= 10 }
        }
        guard i < b.count else { return nil }
        var offsetSeconds = 0
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            guard let oh = digits(i + 1, 2), b.count > i + 3, b[i + 3] == UInt8(ascii: ":"), let om = digits(i + 4, 2),
                oh < 24, om < 60
            else { return nil }
            offsetSeconds = (oh * 3600 + om * 60) * (b[i] == UInt8(ascii: "-") ? -1 : 1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let days = daysFromCivil(year, month, day)
        let seconds = Int64(days) * 86400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetSeconds)
        return (seconds, fraction)
    }

    static func daysInMonth(_ y: Int, _ m: Int) -> Int {
        switch m {
        case 2: return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    static func format(seconds: Int64, nanos: Int64) -> String {
        var days = Int(seconds / 86400)
        var rem = Int(seconds % 86400)
        if rem < 0 {
            rem += 86400
            days -= 1
        }
        let (y, m, d) = civilFromDays(days)
        func pad(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        var text =
            "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(rem / 3600, 2)):\(pad(rem / 60 % 60, 2)):\(pad(rem % 60, 2))"
        if nanos != 0 {
            var frac = pad(Int(nanos), 9)
            while frac.hasSuffix("0") { frac.removeLast() }
            text += "." + frac
        }
        return text + "Z"
    }
}
