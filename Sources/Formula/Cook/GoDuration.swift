/// Go's `time.ParseDuration` syntax, which formula gate timeouts use (`30m`, `24h`, `1h30m`, `1.5h`, `500ms`):
/// a sign, then one or more decimal numbers each with a unit (ns, us, µs, ms, s, m, h); `0` alone is zero.
public enum GoDuration {
    /// The duration in nanoseconds, or nil when `text` is not a Go duration or overflows 64 bits.
    public static func nanoseconds(_ text: String) -> Int64? {
        var s = Substring(text)
        var negative = false
        if let first = s.first, first == "-" || first == "+" {
            negative = first == "-"
            s = s.dropFirst()
        }
        if s == "0" { return 0 }
        guard !s.isEmpty else { return nil }
        var total: Double = 0
        while !s.isEmpty {
            let number = s.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, number != ".", number.filter({ $0 == "." }).count <= 1,
                let value = Double(number.hasPrefix(".") ? "0" + number : String(number))
            else { return nil }
            s = s.dropFirst(number.count)
            let unit = s.prefix { !($0.isASCII && ($0.isNumber || $0 == ".")) }
            guard let scale = units[String(unit)] else { return nil }
            s = s.dropFirst(unit.count)
            total += value * scale
        }
        guard total < 9.2e18 else { return nil }
        return negative ? -Int64(total) : Int64(total)
    }

    static let units: [String: Double] = [
        "ns": 1, "us": 1e3, "µs": 1e3, "μs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9,
    ]
}
