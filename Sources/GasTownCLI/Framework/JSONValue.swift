import Beads
import Foundation

/// A JSON document as a value, with a writer that formats like Go's `json.Encoder` with
/// `SetIndent("", "  ")` (what beads and Gas Town print): two-space indent, `"key": value`, object keys
/// sorted (Go sorts map keys), `{}`/`[]` when empty, no escaping of `/`, and a trailing newline.
///
/// A plain value (`Sendable`).
public enum JSONValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Converts any `Encodable` value (through `JSONEncoder`).
    public init<T: Encodable>(encoding value: T) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(value)
        self = try JSONDecoder().decode(JSONValue.self, from: data)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The document in Go's indented layout, ending with a newline, written by the ledger's one Go-style JSON
    /// writer (`Beads.JSONValue.indentedText`); object keys sorted, as Go sorts map keys.
    public var formatted: String { ledgerValue.indentedText }

    /// The same document as the ledger's JSON value (numbers as Go prints them, members sorted by key).
    var ledgerValue: LedgerJSON {
        switch self {
        case .null: .null
        case .bool(let value): .bool(value)
        case .int(let value): .number(String(value))
        case .double(let value): value.isFinite ? .number(JSONValue.format(value)) : .null
        case .string(let value): .string(value)
        case .array(let items): .array(items.map(\.ledgerValue))
        case .object(let members):
            .object(members.keys.sorted().map { JSONMember($0, members[$0, default: .null].ledgerValue) })
        }
    }

    static func format(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
