/// The static description of one command or subcommand: its name, help texts, options, positional
/// arguments and subcommands. Parsing reads only this; it never runs anything.
///
/// A plain value (`Sendable`: every field is an immutable value or a metatype).
public struct CommandConfiguration: Sendable {
    /// The word that selects the command (`create` in `bd create`).
    public var name: String
    /// Other words that select it (`new` for `bd create`).
    public var aliases: [String]
    /// One line for command lists and the top of the help text.
    public var abstract: String
    /// Longer help, printed after the abstract in `--help`.
    public var discussion: String
    /// The command's own flags and options (`--help`/`-h` is added by the framework).
    public var options: [OptionSpec]
    /// Positional arguments in order.
    public var arguments: [ArgumentSpec]
    /// Subcommands, selected by the first positional word.
    public var subcommands: [any CLICommand.Type]
    /// Left out of the parent's command list (still runs, still has help).
    public var hidden: Bool

    /// Makes a configuration; only `name` and `abstract` are needed for most commands.
    public init(
        name: String,
        aliases: [String] = [],
        abstract: String,
        discussion: String = "",
        options: [OptionSpec] = [],
        arguments: [ArgumentSpec] = [],
        subcommands: [any CLICommand.Type] = [],
        hidden: Bool = false
    ) {
        self.name = name
        self.aliases = aliases
        self.abstract = abstract
        self.discussion = discussion
        self.options = options
        self.arguments = arguments
        self.subcommands = subcommands
        self.hidden = hidden
    }

    /// Whether `word` names this command (its name or an alias).
    public func answers(to word: String) -> Bool {
        name == word || aliases.contains(word)
    }

    /// A group has subcommands and no positional arguments of its own: run bare, it prints its help.
    public var isGroup: Bool { !subcommands.isEmpty && arguments.isEmpty }
}

/// One flag (`--force`, no value) or option (`--priority 1`, a value), with long and optional short spelling.
///
/// A plain value (`Sendable`).
public struct OptionSpec: Sendable, Equatable {
    /// Whether the option takes a value, and how often it may appear.
    public enum Kind: Sendable, Equatable {
        /// A boolean flag: `--force`, `-f`, `--force=false`.
        case flag
        /// One value; given twice, the last wins (pflag's rule).
        case single
        /// Repeatable: every occurrence adds a value (`--join a --join b`).
        case repeated
        /// Repeatable and each value split on commas (pflag's StringSlice: `-l a,b -l c`).
        case commaList
    }

    /// What a value must look like; checked while parsing so the error names the flag.
    public enum ValueType: Sendable, Equatable {
        /// Any string.
        case string
        /// A decimal integer, optionally within a range.
        case integer(ClosedRange<Int>?)
        /// One of a fixed set of words.
        case choice([String])
    }

    /// Long spelling without dashes (`priority`); also the key the value is stored under.
    public var long: String
    /// Other long spellings (`--labels` for `--label`).
    public var longAliases: [String]
    /// Short spelling (`p` for `-p`), if any. `h` is reserved for help.
    public var short: Character?
    /// Flag, single value, or repeatable.
    public var kind: Kind
    /// The value's shape, checked at parse time.
    public var valueType: ValueType
    /// The placeholder shown in help (`N`, `DIR`).
    public var valueName: String
    /// One line of help.
    public var help: String
    /// The default shown in help (not applied by the parser; the command applies it).
    public var defaultDescription: String?
    /// Left out of help.
    public var hidden: Bool

    /// A boolean flag.
    public static func flag(
        _ long: String, short: Character? = nil, aliases: [String] = [], help: String, hidden: Bool = false
    ) -> OptionSpec {
        OptionSpec(
            long: long, longAliases: aliases, short: short, kind: .flag, valueType: .string, valueName: "",
            help: help, defaultDescription: nil, hidden: hidden)
    }

    /// `--json`, the global flag of `gt` and `bd` that switches output to JSON.
    public static let jsonOutput = flag(
        "json", help: "output JSON (beads' schema_version shape; errors as JSON on stderr)")

    /// An option taking a value.
    public static func option(
        _ long: String, short: Character? = nil, aliases: [String] = [], value: String = "VALUE",
        type: ValueType = .string, kind: Kind = .single, help: String, default defaultDescription: String? = nil,
        hidden: Bool = false
    ) -> OptionSpec {
        OptionSpec(
            long: long, longAliases: aliases, short: short, kind: kind == .flag ? .single : kind, valueType: type,
            valueName: value, help: help, defaultDescription: defaultDescription, hidden: hidden)
    }

    /// Whether the option consumes a value.
    public var takesValue: Bool { kind != .flag }

    /// Whether `name` (without dashes) is one of the long spellings.
    public func answers(toLong name: String) -> Bool { long == name || longAliases.contains(name) }
}

/// A positional argument.
///
/// A plain value (`Sendable`).
public struct ArgumentSpec: Sendable, Equatable {
    /// How many words the argument takes.
    public enum Arity: Sendable, Equatable {
        /// Exactly one word.
        case required
        /// Zero or one word.
        case optional
        /// At least `min` words; must be the last argument.
        case variadic(min: Int)
    }

    /// The name shown in help (`<title>`) and the key the value is stored under.
    public var name: String
    /// One line of help.
    public var help: String
    /// How many words it takes.
    public var arity: Arity

    /// Makes an argument spec.
    public init(_ name: String, help: String, arity: Arity = .required) {
        self.name = name
        self.help = help
        self.arity = arity
    }
}
