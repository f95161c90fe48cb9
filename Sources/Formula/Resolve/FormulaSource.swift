/// A formula file's bytes and how errors should name it.
/// `Sendable`: plain value.
public struct FormulaText: Sendable, Hashable {
    /// The formula's name (the file name without `.formula.toml`).
    public var name: String
    /// How errors name the file: a path, or `builtin:<name>.formula.toml`.
    public var file: String
    public var bytes: [UInt8]

    public init(name: String, file: String, bytes: [UInt8]) {
        self.name = name
        self.file = file
        self.bytes = bytes
    }

    public init(name: String, file: String, text: String) {
        self.init(name: name, file: file, bytes: Array(text.utf8))
    }
}

/// Where formulas are found by name (`extends`, `compose.expand`, `compose.aspects`, and the formula a command
/// names). The core reads nothing itself: a shell reads a directory into an `InMemoryFormulaSource` (off the
/// cooperative pool) and layers it over the built-ins.
/// Implementations are `Sendable` values.
public protocol FormulaSource: Sendable {
    /// The text of formula `name`, or nil.
    func formula(named name: String) -> FormulaText?
    /// Every formula name it holds, sorted (for listings and "did you mean" hints).
    var names: [String] { get }
    /// Where it looks, for "not found" messages (`/town/.beads/formulas`, `built-in formulas`).
    var locations: [String] { get }
}

/// Formulas held in memory: read from a directory by a shell, or given by a test.
/// `Sendable`: plain value.
public struct InMemoryFormulaSource: FormulaSource {
    public var texts: [String: FormulaText]
    public var location: String

    public init(_ texts: [FormulaText], location: String) {
        self.texts = Dictionary(texts.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.location = location
    }

    /// A source from name → text (files are named `<name>.formula.toml` under `location`).
    public init(texts: [String: String], location: String) {
        self.init(
            texts.map { FormulaText(name: $0.key, file: "\(location)/\($0.key).formula.toml", text: $0.value) },
            location: location)
    }

    public func formula(named name: String) -> FormulaText? { texts[name] }
    public var names: [String] { texts.keys.sorted() }
    public var locations: [String] { [location] }
}

/// Several sources searched in order; the first that has a name wins (a town's `.beads/formulas/` before the
/// built-ins, so a town can override a built-in formula).
/// `Sendable`: holds `Sendable` sources.
public struct LayeredFormulaSource: FormulaSource {
    public var layers: [any FormulaSource]

    public init(_ layers: [any FormulaSource]) { self.layers = layers }

    public func formula(named name: String) -> FormulaText? {
        for layer in layers {
            if let text = layer.formula(named: name) { return text }
        }
        return nil
    }

    public var names: [String] { Array(Set(layers.flatMap(\.names))).sorted() }
    public var locations: [String] { layers.flatMap(\.locations) }
}

/// Limits of loading, resolving and cooking, so a hostile or runaway formula costs bounded time and memory.
/// `Sendable`: plain value.
public struct FormulaSettings: Sendable, Hashable {
    /// The TOML parser's limits.
    public var toml = TOMLSettings()
    /// How deep expansions may nest (an expansion's template children, an expanded step expanding again).
    /// Default 5, beads' `DefaultMaxExpansionDepth`.
    public var maxExpansionDepth = 5
    /// Most iterations one loop may expand to. Default 10,000.
    public var maxLoopIterations = 10_000
    /// Most beads one molecule may have. Default 100,000 (a 15-disk Towers of Hanoi has 32,769).
    public var maxBeads = 100_000

    public init() {}
}
