/// TOML 1.0.0 (https://toml.io/en/v1.0.0), parsed by our own code: every valid document of toml-test's 1.0 suite
/// decodes to its expected value and every invalid one is rejected with a `TOMLError` naming the line and column.
///
/// The parser works on the document's UTF-8 bytes (validated up front), never on `String` indices.
public enum TOML {
    /// Parses a document.
    public static func parse(_ text: String, settings: TOMLSettings = TOMLSettings()) throws(TOMLError) -> TOMLTable {
        try parse(bytes: Array(text.utf8), settings: settings)
    }

    /// Parses a document given as bytes (which must be UTF-8; a UTF-8 byte-order mark at the start is skipped).
    public static func parse(bytes: [UInt8], settings: TOMLSettings = TOMLSettings()) throws(TOMLError) -> TOMLTable {
        guard bytes.count <= settings.maxBytes else {
            throw TOMLError(
                "document is \(bytes.count) bytes, more than the limit of \(settings.maxBytes)",
                at: TOMLLocation(line: 1, column: 1))
        }
        let result: Result<TOMLTable, TOMLError> = bytes.withUnsafeBufferPointer { buffer in
            var parser = TOMLParser(bytes: buffer, settings: settings)
            do throws(TOMLError) {
                return .success(try parser.parseDocument())
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

/// Byte values the parser compares against.
enum Byte {
    static let tab: UInt8 = 0x09
    static let lf: UInt8 = 0x0A
    static let cr: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let quote: UInt8 = 0x22
    static let hash: UInt8 = 0x23
    static let apostrophe: UInt8 = 0x27
    static let plus: UInt8 = 0x2B
    static let comma: UInt8 = 0x2C
    static let minus: UInt8 = 0x2D
    static let dot: UInt8 = 0x2E
    static let zero: UInt8 = 0x30
    static let nine: UInt8 = 0x39
    static let colon: UInt8 = 0x3A
    static let equals: UInt8 = 0x3D
    static let openBracket: UInt8 = 0x5B
    static let backslash: UInt8 = 0x5C
    static let closeBracket: UInt8 = 0x5D
    static let underscore: UInt8 = 0x5F
    static let openBrace: UInt8 = 0x7B
    static let closeBrace: UInt8 = 0x7D
    static let del: UInt8 = 0x7F

    static func isDigit(_ c: UInt8) -> Bool { c >= zero && c <= nine }
    static func isBareKey(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || isDigit(c) || c == minus || c == underscore
    }
    /// A control character not allowed in comments and strings (all but tab).
    static func isForbiddenControl(_ c: UInt8) -> Bool { (c < 0x20 && c != tab) || c == del }
}

/// One part of a (possibly dotted) key, with the byte offset where it starts.
struct TOMLKeyPart {
    var name: String
    var location: TOMLLocation
}

/// The parser's state over one document. Not `Sendable`: lives inside one `TOML.parse` call.
struct TOMLParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let end: Int
    let settings: TOMLSettings
    var pos = 0
    var line = 1
    var lineStart = 0
    /// The last location `mark()` computed, so marking keys along a long line stays linear.
    var markOffset = 0
    var markColumn = 1

    init(bytes: UnsafeBufferPointer<UInt8>, settings: TOMLSettings) {
        self.bytes = bytes
        self.end = bytes.count
        self.settings = settings
    }

    // MARK: Document

    mutating func parseDocument() throws(TOMLError) -> TOMLTable {
        try validateUTF8()
        if end >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF {
            pos = 3
            lineStart = 3
        }
        let root = TOMLNode(kind: .explicit, location: TOMLLocation(line: 1, column: 1), depth: 0)
        var current = root
        while true {
            skipWhitespace()
            guard pos < end else { break }
            switch bytes[pos] {
            case Byte.lf, Byte.cr:
                try consumeNewline()
            case Byte.hash:
                try skipComment()
            case Byte.openBracket:
                current = try parseHeader(root: root)
                try expectLineEnd(after: "the table header")
            default:
                try parseKeyValue(into: current)
                try expectLineEnd(after: "the value")
            }
        }
        return root.freeze()
    }

    /// After a header or key/value pair: optional whitespace and comment, then a newline or the end of the file.
    mutating func expectLineEnd(after what: String) throws(TOMLError) {
        skipWhitespace()
        if pos < end && bytes[pos] == Byte.hash { try skipComment() }
        guard pos < end else { return }
        guard bytes[pos] == Byte.lf || bytes[pos] == Byte.cr else {
            throw error(
                "expected a newline after \(what), found \(describeHere()); put each key/value pair on "
                    + "its own line")
        }
        try consumeNewline()
    }

    // MARK: Key/value pairs and headers

    mutating func parseKeyValue(into table: TOMLNode) throws(TOMLError) {
        let parts = try parseKey()
        skipWhitespace()
        guard pos < end, bytes[pos] == Byte.equals else {
            throw error("expected '=' after key '\(keyPath(parts))', found \(describeHere())")
        }
        pos += 1
        skipWhitespace()
        let value = try parseValue(depth: table.depth + parts.count)
        try insert(parts, value, into: table)
    }

    /// A bare, quoted or dotted key. Whitespace around the dots is allowed; multi-line strings are not keys.
    mutating func parseKey() throws(TOMLError) -> [TOMLKeyPart] {
        var parts: [TOMLKeyPart] = []
        while true {
            skipWhitespace()
            let at = mark()
            guard pos < end else { throw error("expected a key, found the end of the file") }
            let c = bytes[pos]
            let name: String
            if c == Byte.quote {
                if startsTriple(Byte.quote) { throw error("a multi-line string cannot be a key; use \"key\"") }
                name = try parseBasicString()
            } else if c == Byte.apostrophe {
                if startsTriple(Byte.apostrophe) { throw error("a multi-line string cannot be a key; use 'key'") }
                name = try parseLiteralString()
            } else if Byte.isBareKey(c) {
                let start = pos
                while pos < end && Byte.isBareKey(bytes[pos]) { pos += 1 }
                name = text(start, pos)
            } else {
                throw error(
                    "expected a key, found \(describeHere()); bare keys may use A-Z a-z 0-9 - _, "
                        + "other keys must be quoted")
            }
            parts.append(TOMLKeyPart(name: name, location: at))
            skipWhitespace()
            guard pos < end, bytes[pos] == Byte.dot else { return parts }
            pos += 1
        }
    }

    /// Adds `parts = value` to `table`, creating the dotted tables on the way.
    mutating func insert(_ parts: [TOMLKeyPart], _ value: TOMLValue, into table: TOMLNode) throws(TOMLError) {
        var node = table
        for i in 0..<(parts.count - 1) {
            let part = parts[i]
            if let slot = node[part.name] {
                switch slot {
                case .table(let child, _) where child.kind == .dotted:
                    node = child
                case .table(_, let at):
                    throw TOMLError(
                        "cannot add to table '\(keyPath(parts[...i]))' with a dotted key: it was opened by a "
                            + "[header] at line \(at.line); put the key under that header", at: part.location)
                default:
                    throw TOMLError(
                        "'\(keyPath(parts[...i]))' is already \(slot.described) (line \(slot.location.line)), so "
                            + "it cannot hold keys", at: part.location)
                }
            } else {
                let child = try makeNode(.dotted, parent: node, at: part.location)
                node.add(part.name, .table(child, part.location))
                node = child
            }
        }
        let last = parts[parts.count - 1]
        if let slot = node[last.name] {
            throw TOMLError(
                "duplicate key '\(keyPath(parts))': already defined at line \(slot.location.line)", at: last.location)
        }
        node.add(last.name, .value(value, last.location))
    }

    /// `[a.b]` or `[[a.b]]`; returns the table that the following key/value pairs go into.
    mutating func parseHeader(root: TOMLNode) throws(TOMLError) -> TOMLNode {
        let at = mark()
        let isArray = pos + 1 < end && bytes[pos + 1] == Byte.openBracket
        pos += isArray ? 2 : 1
        let parts = try parseKey()
        skipWhitespace()
        if isArray {
            guard pos + 1 < end, bytes[pos] == Byte.closeBracket, bytes[pos + 1] == Byte.closeBracket else {
                throw error(
                    "expected ']]' to close the array-of-tables header [[\(keyPath(parts))]], found "
                        + describeHere())
            }
            pos += 2
        } else {
            guard pos < end, bytes[pos] == Byte.closeBracket else {
                throw error("expected ']' to close the table header [\(keyPath(parts))], found \(describeHere())")
            }
            pos += 1
        }
        var node = root
        for i in 0..<(parts.count - 1) {
            let part = parts[i]
            if let slot = node[part.name] {
                switch slot {
                case .table(let child, _): node = child
                case .tableArray(let array, _): node = array.elements[array.elements.count - 1]
                case .value:
                    throw TOMLError(
                        "cannot open [\(keyPath(parts))]: '\(keyPath(parts[...i]))' is already \(slot.described) "
                            + "(line \(slot.location.line))", at: part.location)
                }
            } else {
                let child = try makeNode(.implicit, parent: node, at: at)
                node.add(part.name, .table(child, at))
                node = child
            }
        }
        let name = parts[parts.count - 1].name
        var path: String { keyPath(parts) }
        let existing = node[name]
        if isArray {
            switch existing {
            case nil:
                let element = try makeNode(.explicit, parent: node, at: at)
                node.add(name, .tableArray(TOMLNodeArray(element), at))
                return element
            case .tableArray(let array, _)?:
                let element = try makeNode(.explicit, parent: node, at: at)
                array.elements.append(element)
                return element
            case let slot?:
                throw TOMLError(
                    "cannot use [[\(path)]]: '\(path)' is already \(slot.described) (line \(slot.location.line))",
                    at: at)
            }
        }
        switch existing {
        case nil:
            let table = try makeNode(.explicit, parent: node, at: at)
            node.add(name, .table(table, at))
            return table
        case .table(let table, let first)?:
            switch table.kind {
            case .implicit:
                table.kind = .explicit
                return table
            case .dotted:
                throw TOMLError(
                    "table [\(path)] was already defined with dotted keys at line \(first.line); a header cannot "
                        + "define it again", at: at)
            case .explicit, .inline:
                throw TOMLError("table [\(path)] is defined twice (first at line \(first.line))", at: at)
            }
        case .tableArray(_, let first)?:
            throw TOMLError(
                "[\(path)] is an array of tables (line \(first.line)); use [[\(path)]] to add an element", at: at)
        case let slot?:
            throw TOMLError(
                "cannot open table [\(path)]: '\(path)' is already \(slot.described) (line \(slot.location.line))",
                at: at)
        }
    }

    func makeNode(_ kind: TOMLNode.Kind, parent: TOMLNode, at: TOMLLocation) throws(TOMLError) -> TOMLNode {
        guard parent.depth < settings.maxDepth else {
            throw TOMLError("tables nested deeper than \(settings.maxDepth) levels", at: at)
        }
        return TOMLNode(kind: kind, location: at, depth: parent.depth + 1)
    }

    /// `a.b."c d"` for messages (cut to about 200 characters).
    func keyPath<C: Collection>(_ parts: C) -> String where C.Element == TOMLKeyPart {
        let path = parts.prefix(20).map { part in
            !part.name.isEmpty && part.name.utf8.allSatisfy(Byte.isBareKey) ? part.name : "\"\(part.name)\""
        }.joined(separator: ".")
        return path.count > 200 || parts.count > 20 ? String(path.prefix(200)) + "…" : path
    }

    // MARK: Whitespace, newlines, comments

    /// Skips spaces and tabs.
    mutating func skipWhitespace() {
        while pos < end {
            let c = bytes[pos]
            guard c == Byte.space || c == Byte.tab else { return }
            pos += 1
        }
    }

    /// Skips whitespace, comments and newlines (inside arrays).
    mutating func skipWhitespaceCommentsAndNewlines() throws(TOMLError) {
        while pos < end {
            switch bytes[pos] {
            case Byte.space, Byte.tab: pos += 1
            case Byte.lf, Byte.cr: try consumeNewline()
            case Byte.hash: try skipComment()
            default: return
            }
        }
    }

    /// Consumes LF or CR LF at `pos`; a CR alone is an error.
    mutating func consumeNewline() throws(TOMLError) {
        if bytes[pos] == Byte.cr {
            guard pos + 1 < end, bytes[pos + 1] == Byte.lf else {
                throw error("a carriage return must be followed by a line feed (use LF or CR LF line endings)")
            }
            pos += 1
        }
        pos += 1
        line += 1
        lineStart = pos
    }

    /// Skips a comment from `#` up to (not including) the newline; control characters other than tab are errors.
    mutating func skipComment() throws(TOMLError) {
        pos += 1
        while pos < end {
            let c = bytes[pos]
            if c == Byte.lf { return }
            if c == Byte.cr && pos + 1 < end && bytes[pos + 1] == Byte.lf { return }
            if Byte.isForbiddenControl(c) {
                throw error("control character \(describeHere()) in a comment")
            }
            pos += 1
        }
    }

    // MARK: Locations and errors

    /// Where `pos` is.
    var here: TOMLLocation { location(at: pos) }

    /// Where `pos` is, counting columns on from the previous mark of the same line (for the location of every key,
    /// so a line of 100,000 dotted keys costs linear time, not quadratic).
    mutating func mark() -> TOMLLocation {
        if markOffset < lineStart || markOffset > pos {
            markOffset = lineStart
            markColumn = 1
        }
        while markOffset < pos {
            if bytes[markOffset] & 0xC0 != 0x80 { markColumn += 1 }
            markOffset += 1
        }
        return TOMLLocation(line: line, column: markColumn)
    }

    /// The location of byte `offset` (counting columns in Unicode scalars).
    func location(at offset: Int) -> TOMLLocation {
        var lineNumber = line
        var start = lineStart
        if offset < lineStart {
            lineNumber = 1
            start = 0
            for i in 0..<offset where bytes[i] == Byte.lf {
                lineNumber += 1
                start = i + 1
            }
        }
        var column = 1
        var i = start
        let stop = min(offset, end)
        while i < stop {
            if bytes[i] & 0xC0 != 0x80 { column += 1 }
            i += 1
        }
        return TOMLLocation(line: lineNumber, column: column)
    }

    func error(_ message: String) -> TOMLError { TOMLError(message, at: here) }

    func error(_ message: String, atOffset offset: Int) -> TOMLError {
        TOMLError(message, at: location(at: offset))
    }

    /// What is at `pos`, for messages: `'x'`, `a newline`, `the end of the file`, `U+0000`.
    func describeHere() -> String { describe(at: pos) }

    func describe(at offset: Int) -> String {
        guard offset < end else { return "the end of the file" }
        let c = bytes[offset]
        switch c {
        case Byte.lf: return "a newline"
        case Byte.cr: return "a carriage return"
        case Byte.tab: return "a tab"
        case Byte.space: return "a space"
        case 0..<0x20, Byte.del: return "U+" + hex(UInt32(c), width: 4)
        case 0x20..<0x80: return "'\(Character(Unicode.Scalar(c)))'"
        default:
            var length = 1
            while offset + length < end && length < 4 && bytes[offset + length] & 0xC0 == 0x80 { length += 1 }
            return "'\(text(offset, offset + length))'"
        }
    }

    func hex(_ value: UInt32, width: Int) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// The bytes `start..<stop` as a string (the document is valid UTF-8).
    func text(_ start: Int, _ stop: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<stop]), as: UTF8.self)
    }

    /// Whether three `quote` bytes start at `pos`.
    func startsTriple(_ quote: UInt8) -> Bool {
        pos + 2 < end && bytes[pos] == quote && bytes[pos + 1] == quote && bytes[pos + 2] == quote
    }
}
