/// A table while the document is being parsed: mutable and shared by reference, so a header can reopen a table
/// made earlier. `freeze()` turns the finished tree into `TOMLTable` values. Used by one parser on one thread; not
/// `Sendable` and never escapes `TOML.parse`.
final class TOMLNode {
    /// How the table came to exist, which decides what may still be added to it (TOML 1.0, "Table").
    enum Kind {
        /// Created as a super-table by a header (`[a.b]` creates `a`): may be defined once later by its own header.
        case implicit
        /// Defined by a `[header]` or `[[header]]`, or the document root: never defined again.
        case explicit
        /// Created by a dotted key (`a.b = 1` creates `a`): more dotted keys may add to it; no header may define it.
        case dotted
        /// An inline table being parsed: it becomes a value (closed for good) when its `}` is read.
        case inline
    }

    var kind: Kind
    let location: TOMLLocation
    let depth: Int
    private(set) var keys: [String] = []
    private(set) var slots: [TOMLSlot] = []
    /// Key → position, built once the table outgrows a linear search.
    private var index: [String: Int]?

    init(kind: Kind, location: TOMLLocation, depth: Int) {
        self.kind = kind
        self.location = location
        self.depth = depth
    }

    subscript(key: String) -> TOMLSlot? {
        if let index { return index[key].map { slots[$0] } }
        guard let i = keys.firstIndex(of: key) else { return nil }
        return slots[i]
    }

    /// Adds a key that is not there yet.
    func add(_ key: String, _ slot: TOMLSlot) {
        if index != nil {
            index![key] = keys.count
        } else if keys.count >= TOMLTable.indexThreshold {
            var built: [String: Int] = [:]
            for (i, k) in keys.enumerated() { built[k] = i }
            built[key] = keys.count
            index = built
        }
        keys.append(key)
        slots.append(slot)
    }

    /// The finished table.
    func freeze() -> TOMLTable {
        var table = TOMLTable(location: location)
        for (key, slot) in zip(keys, slots) {
            switch slot {
            case .value(let value, let at): table.append(key, value, at: at)
            case .table(let node, let at): table.append(key, .table(node.freeze()), at: at)
            case .tableArray(let array, let at):
                table.append(key, .array(array.elements.map { .table($0.freeze()) }), at: at)
            }
        }
        return table
    }
}

/// The elements of an array of tables (`[[name]]`) while parsing; a header adds to the last one.
final class TOMLNodeArray {
    var elements: [TOMLNode]
    init(_ first: TOMLNode) { elements = [first] }
}

/// What a key of a table holds while parsing, and where the key was written.
enum TOMLSlot {
    /// A finished value: a scalar, a static array `[…]` or an inline table `{…}` (all closed to headers and dotted
    /// keys).
    case value(TOMLValue, TOMLLocation)
    case table(TOMLNode, TOMLLocation)
    case tableArray(TOMLNodeArray, TOMLLocation)

    var location: TOMLLocation {
        switch self {
        case .value(_, let at), .table(_, let at), .tableArray(_, let at): at
        }
    }

    /// `an integer`, `an inline table`, `a table`, `an array of tables`: for error messages.
    var described: String {
        switch self {
        case .value(.table, _): "an inline table"
        case .value(.array, _): "an array"
        case .value(let value, _):
            (value.typeName.first.map { "aeiou".contains($0) } == true ? "an " : "a ")
                + value.typeName
        case .table: "a table"
        case .tableArray: "an array of tables"
        }
    }
}
