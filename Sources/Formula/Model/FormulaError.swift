/// Why a formula could not be loaded, resolved or cooked, naming the file, the line where it is known, and the field
/// (`steps[1].needs`, `vars.feature`), e.g.
/// `shiny.formula.toml:14: steps[1].needs: step 'implement' needs 'desing', which is not a step of this formula`.
/// `Sendable`: plain value.
public struct FormulaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem it is (tests and callers switch on it; `message` has the words).
    public enum Kind: Sendable, Equatable {
        /// The file is not valid TOML 1.0.
        case syntax(TOMLError)
        /// A field holds the wrong TOML type.
        case wrongType
        /// A field every formula, step or rule needs is missing.
        case missingField
        /// A field's value is not allowed (bad formula type, priority out of range, bad duration…).
        case invalidValue
        /// A formula named by `extends`, `compose` or a loader call is in no search location.
        case notFound(String)
        /// `needs`, `depends_on`, `waits_for`, an expansion target or a synthesis names no step.
        case unknownStep(String)
        /// Two steps share an ID.
        case duplicateStep(String)
        /// The steps' dependencies form a cycle (the step IDs around it, first repeated at the end).
        case cycle([String])
        /// `extends` leads back to a formula already being extended (the chain, first repeated at the end).
        case circularExtends([String])
        /// A variable without a default (or declared required) got no value.
        case missingVariable(String)
        /// A variable's value is not one of its `enum` values, does not match its `pattern`, or is not of its `type`.
        case invalidVariable(String)
        /// A formula of the wrong type was named (an expansion that is not `type = "expansion"`…).
        case wrongFormulaType(String)
        /// A limit of `FormulaSettings` was exceeded (expansion depth, loop size, step count).
        case limitExceeded
    }

    public var kind: Kind
    /// The formula file (as its source names it: `shiny.formula.toml`, or a path).
    public var file: String
    /// The line in `file`, where known.
    public var line: Int?
    /// The field, as a path into the formula (`steps[1].needs`); empty for the file as a whole.
    public var field: String
    /// What was wrong and what to do.
    public var message: String

    public init(_ kind: Kind, file: String, line: Int? = nil, field: String = "", _ message: String) {
        self.kind = kind
        self.file = file
        self.line = line
        self.field = field
        self.message = message
    }

    /// A syntax error from the TOML parser, in `file`.
    public static func syntax(_ error: TOMLError, file: String) -> FormulaError {
        FormulaError(.syntax(error), file: file, line: error.line, field: "", error.message)
    }

    /// `file:line: field: message` (`file:line:column: message` for a syntax error).
    public var description: String {
        var place = file
        if case .syntax(let toml) = kind { return "\(file):\(toml.line):\(toml.column): \(message)" }
        if let line { place += ":\(line)" }
        return field.isEmpty ? "\(place): \(message)" : "\(place): \(field): \(message)"
    }
}

/// Something in a formula that was accepted but deserves a look: an unknown key (kept, not used), a field that is
/// parsed but not acted on, a name that does not match its file.
/// `Sendable`: plain value.
public struct FormulaWarning: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var field: String
    public var message: String

    public init(file: String, line: Int?, field: String, _ message: String) {
        self.file = file
        self.line = line
        self.field = field
        self.message = message
    }

    /// `file:line: field: message`.
    public var description: String {
        let place = line.map { "\(file):\($0)" } ?? file
        return field.isEmpty ? "\(place): \(message)" : "\(place): \(field): \(message)"
    }
}
