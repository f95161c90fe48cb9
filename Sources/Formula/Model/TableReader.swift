/// Reads typed fields out of one TOML table of a formula, remembering which keys it used so the rest can be kept
/// as unknown keys (with a warning). Type mismatches are `FormulaError`s naming the file, line and field.
/// Not `Sendable`-relevant: a local helper of the decoder.
struct TableReader {
    let table: TOMLTable
    /// The field path of the table (`steps[1]`); empty for the document.
    let path: String
    let file: String
    /// Which entries were read, by position.
    private(set) var used: [Bool]

    init(_ table: TOMLTable, path: String, file: String) {
        self.table = table
        self.path = path
        self.file = file
        self.used = Array(repeating: false, count: table.count)
    }

    func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
    func line(_ key: String) -> Int? { table.location(of: key)?.line }
    var tableLine: Int { table.location.line }
    func location(_ subpath: String, line: Int?) -> FormulaSourceLocation {
        FormulaSourceLocation(file: file, path: subpath, line: line)
    }

    func wrongType(_ key: String, expected: String, found: TOMLValue) -> FormulaError {
        FormulaError(
            .wrongType, file: file, line: line(key), field: field(key),
            "expected \(expected), found \(article(found.typeName)) \(found.typeName)")
    }

    func invalid(_ key: String, _ message: String) -> FormulaError {
        FormulaError(.invalidValue, file: file, line: line(key), field: field(key), message)
    }

    mutating func raw(_ key: String) -> TOMLValue? {
        guard let i = table.position(of: key) else { return nil }
        used[i] = true
        return table.entries[i].value
    }

    mutating func string(_ key: String) throws(FormulaError) -> String? {
        guard let value = raw(key) else { return nil }
        guard case .string(let s) = value else { throw wrongType(key, expected: "a string", found: value) }
        return s
    }

    mutating func requiredString(_ key: String, what: String) throws(FormulaError) -> String {
        guard let s = try string(key) else {
            throw FormulaError(
                .missingField, file: file, line: tableLine, field: field(key), "\(what) needs `\(key) = \"…\"`")
        }
        return s
    }

    /// A string, or a scalar written as its text (`default = 3` is "3").
    mutating func scalarText(_ key: String) throws(FormulaError) -> String? {
        guard let value = raw(key) else { return nil }
        switch value {
        case .string(let s): return s
        case .integer(let i): return String(i)
        case .float(let d): return "\(d)"
        case .boolean(let b): return b ? "true" : "false"
        case .datetime(let d): return d.rfc3339
        case .array, .table: throw wrongType(key, expected: "a string", found: value)
        }
    }

    mutating func int(_ key: String) throws(FormulaError) -> Int? {
        guard let value = raw(key) else { return nil }
        guard case .integer(let i) = value, let n = Int(exactly: i) else {
            throw wrongType(key, expected: "an integer", found: value)
        }
        return n
    }

    mutating func bool(_ key: String) throws(FormulaError) -> Bool? {
        guard let value = raw(key) else { return nil }
        guard case .boolean(let b) = value else { throw wrongType(key, expected: "true or false", found: value) }
        return b
    }

    mutating func strings(_ key: String) throws(FormulaError) -> [String]? {
        guard let value = raw(key) else { return nil }
        guard case .array(let elements) = value else {
            throw wrongType(key, expected: "an array of strings", found: value)
        }
        var out: [String] = []
        for element in elements {
            guard case .string(let s) = element else {
                throw wrongType(key, expected: "an array of strings", found: element)
            }
            out.append(s)
        }
        return out
    }

    mutating func table(_ key: String) throws(FormulaError) -> TOMLTable? {
        guard let value = raw(key) else { return nil }
        guard case .table(let t) = value else { throw wrongType(key, expected: "a table", found: value) }
        return t
    }

    /// An array of tables (`[[key]]`); a single table is accepted as one element when `allowSingle`.
    mutating func tables(_ key: String, allowSingle: Bool = false) throws(FormulaError) -> [TOMLTable]? {
        guard let value = raw(key) else { return nil }
        if allowSingle, case .table(let t) = value { return [t] }
        guard case .array(let elements) = value else {
            throw wrongType(key, expected: "an array of tables ([[\(field(key))]])", found: value)
        }
        var out: [TOMLTable] = []
        for element in elements {
            guard case .table(let t) = element else {
                throw wrongType(key, expected: "an array of tables ([[\(field(key))]])", found: element)
            }
            out.append(t)
        }
        return out
    }

    /// A table of strings (`expand_vars`, `args`).
    mutating func stringTable(_ key: String) throws(FormulaError) -> [String: String]? {
        guard let t = try table(key) else { return nil }
        var out: [String: String] = [:]
        for entry in t {
            guard case .string(let s) = entry.value else {
                throw FormulaError(
                    .wrongType, file: file, line: entry.location.line, field: "\(field(key)).\(entry.key)",
                    "expected a string, found \(article(entry.value.typeName)) \(entry.value.typeName)")
            }
            out[entry.key] = s
        }
        return out
    }

    /// The keys not read, kept as written.
    func unknownKeys() -> [UnknownKey] {
        zip(table.entries, used).filter { !$0.1 }.map {
            UnknownKey(key: $0.0.key, value: $0.0.value, line: $0.0.location.line)
        }
    }

    /// One warning per unknown key.
    func unknownKeyWarnings(_ unknown: [UnknownKey], kept: Bool = true) -> [FormulaWarning] {
        unknown.map {
            FormulaWarning(
                file: file, line: $0.line, field: field($0.key),
                kept ? "unknown key (kept, not used)" : "unknown key (ignored)")
        }
    }

    /// The key lines of the table (for `Step.fieldLines`).
    var keyLines: [String: Int] {
        var out: [String: Int] = [:]
        for entry in table { out[entry.key] = entry.location.line }
        return out
    }
}

/// `a` or `an` before a type name.
func article(_ word: String) -> String {
    guard let first = word.first else { return "a" }
    return "aeiou".contains(first) ? "an" : "a"
}
