/// A JSON value that keeps what a byte-exact round trip needs: numbers as their literal text and object keys
/// in their original order. Used for beads' JSONL (fields we do not model are kept as `JSONValue`), for
/// `stamps.jsonl`, and for the serialized `LedgerOp`s the store writes into its WAL.
///
/// `Sendable`: a plain value made of strings and arrays.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    /// A number kept as its literal text (already validated against the JSON number grammar when parsed).
    case number(String)
    case string(String)
    case array([JSONValue])
    /// An object with its members in their original order (duplicate keys are kept as they came).
    case object([JSONMember])

    /// A number value from an integer.
    public static func int<T: BinaryInteger>(_ value: T) -> JSONValue { .number(String(value)) }

    /// The member value for `key` in an object (the first one with that key), else nil.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// The string payload, or nil when this is not a string.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The integer value of a number literal that is an integer (no fraction or exponent) fitting in `Int`.
    public var intValue: Int? {
        if case .number(let text) = self { return Int(text) }
        return nil
    }

    /// The members of an object, or nil.
    public var objectMembers: [JSONMember]? {
        if case .object(let m) = self { return m }
        return nil
    }

    /// The elements of an array, or nil.
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// Equality as JSON data: object key order does not matter, numbers compare by literal text.
    public func semanticallyEquals(_ other: JSONValue) -> Bool {
        switch (self, other) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b || Double(a) == Double(b)
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.semanticallyEquals($1) }
        case (.object(let a), .object(let b)):
            guard a.count == b.count else { return false }
            for member in a {
                guard let match = b.first(where: { $0.key == member.key }),
                    member.value.semanticallyEquals(match.value)
                else { return false }
            }
            return true
        default: return false
        }
    }
}

/// One `key: value` member of a JSON object. `Sendable` as a plain value.
public struct JSONMember: Sendable, Hashable {
    public var key: String
    public var value: JSONValue
    public init(_ key: String, _ value: JSONValue) {
        self.key = key
        self.value = value
    }
}

/// Why a JSON text was rejected, with the byte offset where the problem was found.
/// `Sendable`: plain value.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: Sendable, Equatable {
        case unexpectedEnd
        case unexpectedCharacter(UInt8)
        case invalidNumber
        case invalidEscape
        case invalidUnicodeEscape
        case invalidUTF8
        case controlCharacterInString(UInt8)
        case trailingData
        case tooDeep(limit: Int)
    }

    public var kind: Kind
    /// Byte offset (0-based) into the parsed text.
    public var offset: Int

    public var description: String {
        let what: String
        switch kind {
        case .unexpectedEnd: what = "unexpected end of JSON"
        case .unexpectedCharacter(let c):
            what =
                c >= 0x20 && c < 0x7F
                ? "unexpected character '\(Character(Unicode.Scalar(c)))'" : "unexpected byte 0x\(String(c, radix: 16))"
        case .invalidNumber: what = "invalid number"
        case .invalidEscape: what = "invalid escape sequence in string"
        case .invalidUnicodeEscape: what = "invalid \\u escape in string"
        case .invalidUTF8: what = "invalid UTF-8"
        case .controlCharacterInString(let c): what = "unescaped control character 0x\(String(c, radix: 16)) in string"
        case .trailingData: what = "extra data after the JSON value"
        case .tooDeep(let limit): what = "nesting deeper than \(limit) levels"
        }
        return "\(what) at byte \(offset)"
    }
}

extension JSONValue {
    /// Maximum nesting depth accepted by the parser (arrays and objects), so hostile input cannot overflow
    /// the stack.
    public static let maxParseDepth = 256

    /// Parses exactly one JSON value (RFC 8259, strict: no comments, no trailing commas, no leading zeros)
    /// surrounded by optional whitespace.
    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try parse(bytes: Array(text.utf8))
    }

    /// Parses exactly one JSON value from UTF-8 bytes.
    public static func parse(bytes: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> JSONValue {
        var parser = JSONParser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.index != bytes.count { throw JSONParseError(kind: .trailingData, offset: parser.index) }
        return value
    }

    /// Parses exactly one JSON value from UTF-8 bytes.
    public static func parse<C: Collection>(bytes: C) throws(JSONParseError) -> JSONValue where C.Element == UInt8 {
        let array = Array(bytes)
        let result: Result<JSONValue, JSONParseError> = array.withUnsafeBufferPointer { b in
            do throws(JSONParseError) { return .success(try parse(bytes: b)) } catch { return .failure(error) }
        }
        return try result.get()
    }
}

struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private func fail(_ kind: JSONParseError.Kind, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(kind: kind, offset: offset ?? index)
    }

    mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard index < bytes.count else { throw fail(.unexpectedEnd) }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw fail(.unexpectedCharacter(bytes[index]))
        }
    }

    private mutating func expectLiteral(_ literal: String) throws(JSONParseError) {
        let expected = Array(literal.utf8)
        let count = expected.count
        for i in 0..<count {
            guard index + i < bytes.count else { throw fail(.unexpectedEnd, at: index + i) }
            if bytes[index + i] != expected[i] {
                throw fail(.unexpectedCharacter(bytes[index + i]), at: index + i)
            }
        }
        index += count
    }

    private mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        if depth > JSONValue.maxParseDepth { throw fail(.tooDeep(limit: JSONValue.maxParseDepth)) }
        index += 1
        var members: [JSONMember] = []
        members.reserveCapacity(8)  // one allocation for most objects instead of growing 1, 2, 4, 8
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count else { throw fail(.unexpectedEnd) }
            guard bytes[index] == UInt8(ascii: "\"") else { throw fail(.unexpectedCharacter(bytes[index])) }
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count else { throw fail(.unexpectedEnd) }
            guard bytes[index] == UInt8(ascii: ":") else { throw fail(.unexpectedCharacter(bytes[index])) }
            index += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            members.append(JSONMember(key, value))
            skipWhitespace()
            guard index < bytes.count else { throw fail(.unexpectedEnd) }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return .object(members)
            default: throw fail(.unexpectedCharacter(bytes[index]))
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        if depth > JSONValue.maxParseDepth { throw fail(.tooDeep(limit: JSONValue.maxParseDepth)) }
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard index < bytes.count else { throw fail(.unexpectedEnd) }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return .array(elements)
            default: throw fail(.unexpectedCharacter(bytes[index]))
            }
        }
    }

    private mutating func parseNumber() throws(JSONParseError) -> String {
        let start = index
        func isDigit(_ i: Int) -> Bool { i < bytes.count && bytes[i] >= 0x30 && bytes[i] <= 0x39 }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard isDigit(index) else { throw fail(.invalidNumber, at: start) }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if isDigit(index) { throw fail(.invalidNumber, at: start) }
        } else {
            while isDigit(index) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard isDigit(index) else { throw fail(.invalidNumber, at: start) }
            while isDigit(index) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard isDigit(index) else { throw fail(.invalidNumber, at: start) }
            while isDigit(index) { index += 1 }
        }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
    }

    private mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail(.unexpectedEnd) }
        var value: UInt32 = 0
        for i in 0..<4 {
            let c = bytes[index + i]
            let digit: UInt32
            switch c {
            case 0x30...0x39: digit = UInt32(c - 0x30)
            case 0x41...0x46: digit = UInt32(c - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(c - 0x61 + 10)
            default: throw fail(.invalidUnicodeEscape, at: index + i)
            }
            value = value << 4 | digit
        }
        index += 4
        return value
    }

    /// Parses a string starting at the opening quote. Fast path: no escapes → one validated slice.
    mutating func parseString() throws(JSONParseError) -> String {
        index += 1
        let start = index
        var out: [UInt8] = []
        var hasEscapes = false
        var allBits: UInt8 = 0
        while true {
            guard index < bytes.count else { throw fail(.unexpectedEnd) }
            let c = bytes[index]
            allBits |= c
            if c == UInt8(ascii: "\"") {
                let result: String?
                if hasEscapes {
                    result = String(validating: out, as: UTF8.self)
                } else if allBits < 0x80 {
                    // All ASCII: valid UTF-8 by construction, so skip the (much slower) validating initializer.
                    result = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                } else {
                    result = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                }
                guard let string = result else { throw fail(.invalidUTF8, at: start) }
                index += 1
                return string
            }
            if c < 0x20 { throw fail(.controlCharacterInString(c)) }
            if c != UInt8(ascii: "\\") {
                if hasEscapes { out.append(c) }
                index += 1
                continue
            }
            if !hasEscapes {
                hasEscapes = true
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
            }
            index += 1
            guard index < bytes.count else { throw fail(.unexpectedEnd) }
            let e = bytes[index]
            index += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try parseHex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    // A high surrogate must pair with a following \uDC00–\uDFFF; otherwise, as Go does, it
                    // decodes to U+FFFD.
                    if index + 6 <= bytes.count, bytes[index] == UInt8(ascii: "\\"),
                        bytes[index + 1] == UInt8(ascii: "u")
                    {
                        let save = index
                        index += 2
                        let low = try parseHex4()
                        if low >= 0xDC00 && low < 0xE000 {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            index = save
                            scalar = 0xFFFD
                        }
                    } else {
                        scalar = 0xFFFD
                    }
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    scalar = 0xFFFD
                }
                out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
            default: throw fail(.invalidEscape, at: index - 2)
            }
        }
    }
}

extension JSONValue {
    /// Go `json.Marshal` compact form: no whitespace, `<` `>` `&` U+2028 U+2029 escaped, other non-ASCII raw.
    public var compactText: String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the Go compact encoding of this value to `out`.
    public func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, e) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                e.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, m) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(m.key, to: &out)
                out.append(UInt8(ascii: ":"))
                m.value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Go's `json.Encoder` with `SetIndent("", "  ")` (what beads and Gas Town print for `--json`): two-space
    /// indent, `"key": value`, `{}`/`[]` when empty, strings escaped as `write(to:)` does, and a trailing newline.
    /// Members keep their order (sort them first for Go's map order).
    public var indentedText: String {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        writeIndented(to: &out, depth: 0)
        out.append(UInt8(ascii: "\n"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the indented encoding of this value, its nested lines indented `depth + 1` levels.
    public func writeIndented(to out: inout [UInt8], depth: Int) {
        func newline(_ level: Int) {
            out.append(UInt8(ascii: "\n"))
            out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * level))
        }
        switch self {
        case .array(let elements) where !elements.isEmpty:
            out.append(UInt8(ascii: "["))
            for (i, e) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(depth + 1)
                e.writeIndented(to: &out, depth: depth + 1)
            }
            newline(depth)
            out.append(UInt8(ascii: "]"))
        case .object(let members) where !members.isEmpty:
            out.append(UInt8(ascii: "{"))
            for (i, m) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(depth + 1)
                JSONValue.writeString(m.key, to: &out)
                out.append(contentsOf: [UInt8(ascii: ":"), UInt8(ascii: " ")])
                m.value.writeIndented(to: &out, depth: depth + 1)
            }
            newline(depth)
            out.append(UInt8(ascii: "}"))
        default:
            write(to: &out)
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Writes a JSON string literal exactly as Go's encoding/json (with HTML escaping) does.
    public static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        let plain = s.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            for c in bytes where c < 0x20 || c == 0x22 || c == 0x5C || c == 0x3C || c == 0x3E || c == 0x26 || c == 0xE2
            {
                return false
            }
            out.append(contentsOf: bytes)
            return true
        }
        if plain == true {
            out.append(UInt8(ascii: "\""))
            return
        }
        var utf8 = Array(s.utf8)[...]
        while let c = utf8.first {
            utf8 = utf8.dropFirst()
            switch c {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x00..<0x20, UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "&"):
                out.append(contentsOf: [
                    0x5C, UInt8(ascii: "u"), 0x30, 0x30, hexDigits[Int(c >> 4)], hexDigits[Int(c & 0xF)],
                ])
            case 0xE2:
                // U+2028 / U+2029 are E2 80 A8 / E2 80 A9.
                if utf8.count >= 2, utf8[utf8.startIndex] == 0x80,
                    utf8[utf8.startIndex + 1] == 0xA8 || utf8[utf8.startIndex + 1] == 0xA9
                {
                    let last = utf8[utf8.startIndex + 1] == 0xA8 ? UInt8(ascii: "8") : UInt8(ascii: "9")
                    out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x32, 0x30, 0x32, last])
                    utf8 = utf8.dropFirst(2)
                } else {
                    out.append(c)
                }
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
