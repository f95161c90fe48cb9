extension TOMLParser {
    /// A value at `pos`: string, number, boolean, date/time, array or inline table. `depth` counts the tables and
    /// arrays around it.
    mutating func parseValue(depth: Int) throws(TOMLError) -> TOMLValue {
        guard depth <= settings.maxDepth else {
            throw error("values nested deeper than \(settings.maxDepth) levels")
        }
        guard pos < end else { throw error("expected a value, found the end of the file") }
        switch bytes[pos] {
        case Byte.quote:
            return .string(startsTriple(Byte.quote) ? try parseMultilineBasicString() : try parseBasicString())
        case Byte.apostrophe:
            return .string(startsTriple(Byte.apostrophe) ? try parseMultilineLiteralString() : try parseLiteralString())
        case Byte.openBracket:
            return try parseArray(depth: depth)
        case Byte.openBrace:
            return try parseInlineTable(depth: depth)
        case UInt8(ascii: "t"):
            return try parseKeyword("true", .boolean(true))
        case UInt8(ascii: "f"):
            return try parseKeyword("false", .boolean(false))
        case UInt8(ascii: "i"), UInt8(ascii: "n"), Byte.plus, Byte.minus, Byte.zero...Byte.nine:
            return try parseNumberOrDate()
        case Byte.lf, Byte.cr:
            throw error("expected a value, found a newline; the value must start on the same line as its key")
        default:
            throw error("expected a value, found \(describeHere()); strings must be quoted")
        }
    }

    mutating func parseKeyword(_ word: StaticString, _ value: TOMLValue) throws(TOMLError) -> TOMLValue {
        let count = word.utf8CodeUnitCount
        let matches = pos + count <= end && (0..<count).allSatisfy { bytes[pos + $0] == word.utf8Start[$0] }
        guard matches else { throw error("expected a value, found \(describeHere()); strings must be quoted") }
        pos += count
        return value
    }

    // MARK: Arrays and inline tables

    /// `[ v, v, … ]`: newlines and comments allowed between elements, a trailing comma allowed.
    mutating func parseArray(depth: Int) throws(TOMLError) -> TOMLValue {
        pos += 1
        var elements: [TOMLValue] = []
        while true {
            try skipWhitespaceCommentsAndNewlines()
            guard pos < end else { throw error("unterminated array: expected ']' before the end of the file") }
            if bytes[pos] == Byte.closeBracket {
                pos += 1
                return .array(elements)
            }
            if bytes[pos] == Byte.comma {
                throw error("expected a value in the array, found ','")
            }
            elements.append(try parseValue(depth: depth + 1))
            try skipWhitespaceCommentsAndNewlines()
            guard pos < end else { throw error("unterminated array: expected ']' before the end of the file") }
            switch bytes[pos] {
            case Byte.comma: pos += 1
            case Byte.closeBracket:
                pos += 1
                return .array(elements)
            default:
                throw error("expected ',' or ']' after an array element, found \(describeHere())")
            }
        }
    }

    /// `{ k = v, … }` on one line, no trailing comma (TOML 1.0). The result is closed: nothing can add to it later.
    mutating func parseInlineTable(depth: Int) throws(TOMLError) -> TOMLValue {
        let node = TOMLNode(kind: .inline, location: mark(), depth: depth)
        pos += 1
        skipWhitespace()
        if pos < end && bytes[pos] == Byte.closeBrace {
            pos += 1
            return .table(node.freeze())
        }
        while true {
            skipWhitespace()
            guard pos < end, bytes[pos] != Byte.lf, bytes[pos] != Byte.cr else {
                throw error(
                    "unterminated inline table: expected a key and '}' on the same line (TOML 1.0 inline "
                        + "tables cannot span lines)")
            }
            if bytes[pos] == Byte.closeBrace || bytes[pos] == Byte.comma {
                throw error(
                    "expected a key in the inline table, found \(describeHere()) (TOML 1.0 allows no "
                        + "trailing or doubled comma)")
            }
            let parts = try parseKey()
            skipWhitespace()
            guard pos < end, bytes[pos] == Byte.equals else {
                throw error("expected '=' after key '\(keyPath(parts))', found \(describeHere())")
            }
            pos += 1
            skipWhitespace()
            let value = try parseValue(depth: depth + parts.count)
            try insert(parts, value, into: node)
            skipWhitespace()
            guard pos < end else { throw error("unterminated inline table: expected '}' before the end of the file") }
            switch bytes[pos] {
            case Byte.comma: pos += 1
            case Byte.closeBrace:
                pos += 1
                return .table(node.freeze())
            case Byte.lf, Byte.cr:
                throw error(
                    "expected ',' or '}' in the inline table, found a newline (TOML 1.0 inline tables "
                        + "cannot span lines)")
            default:
                throw error("expected ',' or '}' in the inline table, found \(describeHere())")
            }
        }
    }

    // MARK: Strings

    /// `"…"` with escapes, on one line.
    mutating func parseBasicString() throws(TOMLError) -> String {
        pos += 1
        var out: [UInt8] = []
        var runStart = pos
        while true {
            guard pos < end else { throw error("unterminated string: expected '\"' before the end of the file") }
            let c = bytes[pos]
            if c == Byte.quote {
                if out.isEmpty {
                    defer { pos += 1 }
                    return text(runStart, pos)
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<pos]))
                pos += 1
                return String(decoding: out, as: UTF8.self)
            }
            if c == Byte.backslash {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<pos]))
                try parseEscape(into: &out)
                runStart = pos
                continue
            }
            if c == Byte.lf || c == Byte.cr {
                throw error(
                    "unterminated string: a newline before the closing '\"' (use \"\"\"…\"\"\" for "
                        + "multi-line strings)")
            }
            if Byte.isForbiddenControl(c) {
                throw error("control character \(describeHere()) in a string; write it as an escape like \\u0000")
            }
            pos += 1
        }
    }

    /// `"""…"""`: a newline right after the opening quotes is dropped; a `\` at the end of a line drops the newline
    /// and the whitespace after it; up to two quotes may stand before the closing three.
    mutating func parseMultilineBasicString() throws(TOMLError) -> String {
        pos += 3
        try skipFirstNewline()
        var out: [UInt8] = []
        var runStart = pos
        while true {
            guard pos < end else { throw error("unterminated string: expected '\"\"\"' before the end of the file") }
            let c = bytes[pos]
            if c == Byte.quote {
                let quotes = countRun(of: Byte.quote)
                if quotes >= 3 {
                    guard quotes <= 5 else { throw error("too many quotes: at most five may close a '\"\"\"' string") }
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<(pos + quotes - 3)]))
                    pos += quotes
                    return String(decoding: out, as: UTF8.self)
                }
                pos += quotes
                continue
            }
            if c == Byte.backslash {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<pos]))
                if try skipLineEndingBackslash() {
                    runStart = pos
                    continue
                }
                try parseEscape(into: &out)
                runStart = pos
                continue
            }
            if c == Byte.lf || c == Byte.cr {
                try consumeNewline()
                continue
            }
            if Byte.isForbiddenControl(c) {
                throw error("control character \(describeHere()) in a string; write it as an escape like \\u0000")
            }
            pos += 1
        }
    }

    /// `'…'`: no escapes, one line.
    mutating func parseLiteralString() throws(TOMLError) -> String {
        pos += 1
        let start = pos
        while true {
            guard pos < end else { throw error("unterminated string: expected \"'\" before the end of the file") }
            let c = bytes[pos]
            if c == Byte.apostrophe {
                defer { pos += 1 }
                return text(start, pos)
            }
            if c == Byte.lf || c == Byte.cr {
                throw error(
                    "unterminated string: a newline before the closing \"'\" (use '''…''' for multi-line "
                        + "strings)")
            }
            if Byte.isForbiddenControl(c) {
                throw error(
                    "control character \(describeHere()) in a literal string (literal strings have no "
                        + "escapes; use a \"basic string\")")
            }
            pos += 1
        }
    }

    /// `'''…'''`: no escapes; a newline right after the opening quotes is dropped.
    mutating func parseMultilineLiteralString() throws(TOMLError) -> String {
        pos += 3
        try skipFirstNewline()
        let start = pos
        while true {
            guard pos < end else { throw error("unterminated string: expected \"'''\" before the end of the file") }
            let c = bytes[pos]
            if c == Byte.apostrophe {
                let quotes = countRun(of: Byte.apostrophe)
                if quotes >= 3 {
                    guard quotes <= 5 else { throw error("too many quotes: at most five may close a ''' string") }
                    let text = text(start, pos + quotes - 3)
                    pos += quotes
                    return text
                }
                pos += quotes
                continue
            }
            if c == Byte.lf || c == Byte.cr {
                try consumeNewline()
                continue
            }
            if Byte.isForbiddenControl(c) {
                throw error("control character \(describeHere()) in a literal string")
            }
            pos += 1
        }
    }

    /// How many `quote` bytes start at `pos`.
    func countRun(of quote: UInt8) -> Int {
        var n = 0
        while pos + n < end && bytes[pos + n] == quote { n += 1 }
        return n
    }

    mutating func skipFirstNewline() throws(TOMLError) {
        if pos < end && (bytes[pos] == Byte.lf || bytes[pos] == Byte.cr) { try consumeNewline() }
    }

    /// At a `\` in a multi-line basic string: if only whitespace follows it on the line, skips it, the newline and
    /// all whitespace and newlines after, and returns true.
    mutating func skipLineEndingBackslash() throws(TOMLError) -> Bool {
        var i = pos + 1
        while i < end && (bytes[i] == Byte.space || bytes[i] == Byte.tab) { i += 1 }
        guard i < end, bytes[i] == Byte.lf || bytes[i] == Byte.cr else { return false }
        pos = i
        while pos < end {
            switch bytes[pos] {
            case Byte.space, Byte.tab: pos += 1
            case Byte.lf, Byte.cr: try consumeNewline()
            default: return true
            }
        }
        return true
    }

    /// An escape at `pos` (a `\`) in a basic string, appended to `out` as UTF-8.
    mutating func parseEscape(into out: inout [UInt8]) throws(TOMLError) {
        let start = pos
        guard pos + 1 < end else { throw error("unterminated string: a '\\' at the end of the file") }
        let c = bytes[pos + 1]
        pos += 2
        switch c {
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "t"): out.append(Byte.tab)
        case UInt8(ascii: "n"): out.append(Byte.lf)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "r"): out.append(Byte.cr)
        case Byte.quote: out.append(Byte.quote)
        case Byte.backslash: out.append(Byte.backslash)
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let width = c == UInt8(ascii: "u") ? 4 : 8
            var value: UInt32 = 0
            for i in 0..<width {
                guard pos + i < end, let digit = hexValue(bytes[pos + i]) else {
                    throw error(
                        "escape \\\(Character(Unicode.Scalar(c))) needs exactly \(width) hex digits",
                        atOffset: start)
                }
                value = value << 4 | digit
            }
            pos += width
            guard let scalar = Unicode.Scalar(value) else {
                throw error(
                    "escape \\\(Character(Unicode.Scalar(c)))\(hex(value, width: width)) is not a Unicode "
                        + "scalar value (surrogates and values above 10FFFF are not allowed)", atOffset: start)
            }
            out.append(contentsOf: String(Character(scalar)).utf8)
        default:
            throw error(
                "invalid escape \\\(describe(at: start + 1)); TOML 1.0 allows \\b \\t \\n \\f \\r \\\" "
                    + "\\\\ \\uXXXX \\UXXXXXXXX", atOffset: start)
        }
    }

    func hexValue(_ c: UInt8) -> UInt32? {
        switch c {
        case Byte.zero...Byte.nine: UInt32(c - Byte.zero)
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(c - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
