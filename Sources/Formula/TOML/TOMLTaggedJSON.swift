import Beads

/// toml-test's "tagged JSON" form of a TOML document (toml-test README, "JSON encoding"): tables become objects,
/// arrays become arrays, and every other value becomes `{"type": "<toml type>", "value": "<text>"}`. This is what
/// `gt toml decode` prints, so the toml-test runner can check our decoder.
public enum TOMLTaggedJSON {
    /// The tagged JSON of a table, as a JSON value (keys in document order).
    public static func value(of table: TOMLTable) -> JSONValue {
        .object(table.entries.map { JSONMember($0.key, value(of: $0.value)) })
    }

    /// The tagged JSON of one TOML value.
    public static func value(of value: TOMLValue) -> JSONValue {
        switch value {
        case .table(let table): return self.value(of: table)
        case .array(let elements): return .array(elements.map { self.value(of: $0) })
        case .string(let s): return tagged("string", s)
        case .integer(let i): return tagged("integer", String(i))
        case .float(let d): return tagged("float", floatText(d))
        case .boolean(let b): return tagged("bool", b ? "true" : "false")
        case .datetime(let d):
            let type: String
            switch d.kind {
            case .offsetDateTime: type = "datetime"
            case .localDateTime: type = "datetime-local"
            case .localDate: type = "date-local"
            case .localTime: type = "time-local"
            }
            return tagged(type, d.rfc3339)
        }
    }

    /// Compact JSON text of a document's tagged form, with a final newline.
    public static func encode(_ table: TOMLTable) -> String { value(of: table).compactText + "\n" }

    /// `inf`, `-inf`, `nan`, or the shortest decimal that reads back as the same double.
    static func floatText(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        return "\(d)"
    }

    static func tagged(_ type: String, _ text: String) -> JSONValue {
        .object([JSONMember("type", .string(type)), JSONMember("value", .string(text))])
    }
}
