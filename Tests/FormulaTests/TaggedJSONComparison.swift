import Foundation

/// toml-test's comparison of tagged JSON (its `json.go`), written independently of the parser under test: tables
/// and arrays structurally; floats numerically (NaN equals NaN whatever its sign); datetimes by value (offset
/// date-times as instants, local ones field by field); everything else as strings.
enum TaggedJSONComparison {
    /// nil when equal, else a description of the first difference.
    static func difference(want: Any, have: Any, key: String) -> String? {
        if let wantArray = want as? [Any] {
            guard let haveArray = have as? [Any] else { return "\(key): expected an array, got \(have)" }
            guard wantArray.count == haveArray.count else {
                return "\(key): array lengths differ: expected \(wantArray.count), got \(haveArray.count)"
            }
            for (i, (w, h)) in zip(wantArray, haveArray).enumerated() {
                if let d = difference(want: w, have: h, key: "\(key)[\(i)]") { return d }
            }
            return nil
        }
        guard let wantMap = want as? [String: Any] else { return "\(key): expected output is not a map or list" }
        guard let haveMap = have as? [String: Any] else { return "\(key): expected a table, got \(have)" }
        if isValue(wantMap) != isValue(haveMap) {
            return "\(key): expected \(isValue(wantMap) ? "a value" : "a table"), got \(haveMap)"
        }
        if isValue(wantMap) { return valueDifference(wantMap, haveMap, key: key) }
        let wantKeys = Set(wantMap.keys)
        let haveKeys = Set(haveMap.keys)
        if wantKeys != haveKeys {
            return "\(key): keys differ: missing \(wantKeys.subtracting(haveKeys).sorted()), extra "
                + "\(haveKeys.subtracting(wantKeys).sorted())"
        }
        for k in wantKeys.sorted() {
            if let d = difference(want: wantMap[k]!, have: haveMap[k]!, key: key.isEmpty ? k : key + "." + k) {
                return d
            }
        }
        return nil
    }

    static func isValue(_ map: [String: Any]) -> Bool {
        map.count == 2 && map["type"] != nil && map["value"] != nil
    }

    static func valueDifference(_ want: [String: Any], _ have: [String: Any], key: String) -> String? {
        guard let wantType = want["type"] as? String, let haveType = have["type"] as? String,
            let wantValue = want["value"] as? String, let haveValue = have["value"] as? String
        else { return "\(key): malformed tagged value \(have)" }
        guard wantType == haveType else { return "\(key): expected type \(wantType), got \(haveType)" }
        let equal: Bool
        switch wantType {
        case "float": equal = floatsEqual(wantValue, haveValue)
        case "datetime", "datetime-local", "date-local", "time-local":
            guard let w = dateTimeKey(wantValue, kind: wantType), let h = dateTimeKey(haveValue, kind: wantType)
            else { return "\(key): cannot read \(wantValue) / \(haveValue) as \(wantType)" }
            equal = w == h
        case "bool": equal = wantValue.lowercased() == haveValue.lowercased()
        default: equal = wantValue == haveValue
        }
        return equal
            ? nil : "\(key): expected \(wantType) \(wantValue.debugDescription), got \(haveValue.debugDescription)"
    }

    static func floatsEqual(_ want: String, _ have: String) -> Bool {
        let w = want.lowercased()
        let h = have.lowercased()
        if w.hasSuffix("nan") || h.hasSuffix("nan") {
            return w.trimmingCharacters(in: CharacterSet(charactersIn: "+-"))
                == h.trimmingCharacters(in: CharacterSet(charactersIn: "+-"))
        }
        guard let a = double(w), let b = double(h) else { return false }
        return a == b
    }

    static func double(_ s: String) -> Double? {
        switch s {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        default: return Double(s)
        }
    }

    /// A comparable key for an RFC 3339 value: offset date-times reduce to (seconds since 0000-03-01 UTC,
    /// nanoseconds); local values to their fields.
    static func dateTimeKey(_ text: String, kind: String) -> [Int]? {
        let s = text.replacingOccurrences(of: " ", with: "T").replacingOccurrences(of: "t", with: "T")
            .replacingOccurrences(of: "z", with: "Z")
        let patterns = [
            "datetime": #"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$"#,
            "datetime-local": #"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?$"#,
            "date-local": #"^(\d{4})-(\d{2})-(\d{2})$"#,
            "time-local": #"^(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?$"#,
        ]
        guard let pattern = patterns[kind], let regex = try? NSRegularExpression(pattern: pattern),
            let match = regex.firstMatch(in: s, range: NSRange(s.startIndex..., in: s))
        else { return nil }
        func group(_ i: Int) -> String? {
            guard let range = Range(match.range(at: i), in: s) else { return nil }
            return String(s[range])
        }
        func nanos(_ fraction: String?) -> Int {
            guard let fraction else { return 0 }
            let digits = String(fraction.prefix(9))
            return Int(digits + String(repeating: "0", count: 9 - digits.count))!
        }
        switch kind {
        case "date-local": return (1...3).map { Int(group($0)!)! }
        case "time-local": return (1...3).map { Int(group($0)!)! } + [nanos(group(4))]
        case "datetime-local": return (1...6).map { Int(group($0)!)! } + [nanos(group(7))]
        default:
            let f = (1...6).map { Int(group($0)!)! }
            var offset = 0
            if let o = group(8), o != "Z" {
                let sign = o.hasPrefix("-") ? -1 : 1
                offset = sign * (Int(o.dropFirst().prefix(2))! * 60 + Int(o.suffix(2))!)
            }
            let seconds = daysFromCivil(f[0], f[1], f[2]) * 86_400 + f[3] * 3_600 + f[4] * 60 + f[5] - offset * 60
            return [seconds, nanos(group(7))]
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
