/// A place in a TOML document: 1-based line, and 1-based column counted in Unicode scalars.
/// `Sendable`: plain value.
public struct TOMLLocation: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public static func < (a: TOMLLocation, b: TOMLLocation) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }

    /// `line 12, column 7`.
    public var description: String { "line \(line), column \(column)" }
}

/// One TOML value: the seven TOML types plus arrays and tables.
/// `Sendable`: plain value.
public enum TOMLValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case boolean(Bool)
    /// Any of the four date and time types (see `TOMLDateTime.Kind`).
    case datetime(TOMLDateTime)
    case array([TOMLValue])
    case table(TOMLTable)

    /// The TOML type's name as an error message says it (`string`, `integer`, `table`, `local date`…).
    public var typeName: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .float: "float"
        case .boolean: "boolean"
        case .datetime(let d): d.kind.name
        case .array: "array"
        case .table: "table"
        }
    }

    /// The string payload, or nil.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The integer payload, or nil.
    public var integerValue: Int64? {
        if case .integer(let i) = self { return i }
        return nil
    }

    /// The boolean payload, or nil.
    public var booleanValue: Bool? {
        if case .boolean(let b) = self { return b }
        return nil
    }

    /// The array elements, or nil.
    public var arrayValue: [TOMLValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The table, or nil.
    public var tableValue: TOMLTable? {
        if case .table(let t) = self { return t }
        return nil
    }

    /// Equality as TOML data: NaN equals NaN (so a parsed document equals itself), tables ignore key order.
    public static func == (a: TOMLValue, b: TOMLValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): x == y
        case (.integer(let x), .integer(let y)): x == y
        case (.float(let x), .float(let y)): x == y || (x.isNaN && y.isNaN)
        case (.boolean(let x), .boolean(let y)): x == y
        case (.datetime(let x), .datetime(let y)): x == y
        case (.array(let x), .array(let y)): x == y
        case (.table(let x), .table(let y)): x == y
        default: false
        }
    }
}

/// A TOML table: keys in the order they were defined, each with its value and where its key was written.
/// Lookups are by key through an index. Equality ignores key order and locations.
/// `Sendable`: plain value.
public struct TOMLTable: Sendable, Equatable, Sequence {
    /// One key of a table.
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: TOMLValue
        /// Where the key was written (for a table from a `[header]`, where the header is).
        public var location: TOMLLocation

        public init(key: String, value: TOMLValue, location: TOMLLocation) {
            self.key = key
            self.value = value
            self.location = location
        }
    }

    /// The entries in definition order.
    public private(set) var entries: [Entry] = []
    /// Key → entry index, built once a table outgrows a linear search (most formula tables have a handful of keys).
    private var index: [String: Int]?
    static let indexThreshold = 12
    /// Where the table was opened: its `[header]`, `{`, or line 1 for the document.
    public var location: TOMLLocation

    /// An empty table opened at `location`.
    public init(location: TOMLLocation = TOMLLocation(line: 1, column: 1)) { self.location = location }

    /// The position of `key` in `entries`, or nil.
    public func position(of key: String) -> Int? {
        if let index { return index[key] }
        return entries.firstIndex { $0.key == key }
    }

    /// The value for `key`, or nil.
    public subscript(key: String) -> TOMLValue? {
        guard let i = position(of: key) else { return nil }
        return entries[i].value
    }

    /// The entry for `key`, or nil.
    public func entry(_ key: String) -> Entry? {
        guard let i = position(of: key) else { return nil }
        return entries[i]
    }

    /// Where `key` was written, or nil.
    public func location(of key: String) -> TOMLLocation? { entry(key)?.location }

    /// The keys in definition order.
    public var keys: [String] { entries.map(\.key) }
    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    /// Sets `key` (replacing its value in place if present, else appending it).
    public mutating func set(_ key: String, _ value: TOMLValue, at location: TOMLLocation? = nil) {
        if let i = position(of: key) {
            entries[i].value = value
            if let location { entries[i].location = location }
        } else {
            append(key, value, at: location ?? self.location)
        }
    }

    /// Appends a key known not to be there yet (the parser's duplicate checks already ran).
    mutating func append(_ key: String, _ value: TOMLValue, at location: TOMLLocation) {
        if index != nil {
            index![key] = entries.count
        } else if entries.count >= Self.indexThreshold {
            var built: [String: Int] = [:]
            for (i, e) in entries.enumerated() { built[e.key] = i }
            built[key] = entries.count
            index = built
        }
        entries.append(Entry(key: key, value: value, location: location))
    }

    public func makeIterator() -> IndexingIterator<[Entry]> { entries.makeIterator() }

    public static func == (a: TOMLTable, b: TOMLTable) -> Bool {
        guard a.entries.count == b.entries.count else { return false }
        for entry in a.entries {
            guard let other = b[entry.key], other == entry.value else { return false }
        }
        return true
    }
}

/// A TOML date, time, or both, with an offset or without (local). Seconds may be 60 (a leap second); fractions
/// beyond nanoseconds are truncated, as TOML allows.
/// `Sendable`: plain value.
public struct TOMLDateTime: Sendable, Hashable {
    /// Which of TOML's four date and time types this is.
    public enum Kind: Sendable, Hashable {
        case offsetDateTime, localDateTime, localDate, localTime

        /// `offset date-time`, `local date-time`, `local date`, `local time`.
        public var name: String {
            switch self {
            case .offsetDateTime: "offset date-time"
            case .localDateTime: "local date-time"
            case .localDate: "local date"
            case .localTime: "local time"
            }
        }
    }

    public var year = 0, month = 0, day = 0
    public var hour = 0, minute = 0, second = 0, nanosecond = 0
    /// Offset from UTC in minutes, for offset date-times (`Z` is 0).
    public var offsetMinutes: Int?
    public var kind: Kind

    public init(kind: Kind) { self.kind = kind }

    /// RFC 3339 text: `1979-05-27T07:32:00.5-07:00`, `1979-05-27T07:32:00`, `1979-05-27`, `07:32:00`; an offset of
    /// zero is written `Z`, and the fraction without trailing zeros.
    public var rfc3339: String {
        var out = ""
        if kind != .localTime {
            out += pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2)
        }
        if kind == .localDate { return out }
        if kind != .localTime { out += "T" }
        out += pad(hour, 2) + ":" + pad(minute, 2) + ":" + pad(second, 2)
        if nanosecond > 0 {
            var fraction = pad(nanosecond, 9)
            while fraction.hasSuffix("0") { fraction.removeLast() }
            out += "." + fraction
        }
        if let offset = offsetMinutes {
            if offset == 0 {
                out += "Z"
            } else {
                out += (offset < 0 ? "-" : "+") + pad(abs(offset) / 60, 2) + ":" + pad(abs(offset) % 60, 2)
            }
        }
        return out
    }

    private func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
