/// The values a command line gave one command: options by long name, flags, positional arguments.
/// Produced by `CommandLineParser`; read by a command's `init(parsed:)`. Accessors that convert a value
/// throw a `UsageError` naming the command and the flag.
///
/// A plain value (`Sendable`).
public struct ParsedValues: Sendable, Equatable {
    /// The command path (`bd create`), used in error messages.
    public var commandPath: String
    /// Option values by long name, in command-line order (flags store "true"/"false").
    public var options: [String: [String]]
    /// Positional argument values by argument name.
    public var arguments: [String: [String]]

    /// Empty values for the command at `commandPath`.
    public init(commandPath: String, options: [String: [String]] = [:], arguments: [String: [String]] = [:]) {
        self.commandPath = commandPath
        self.options = options
        self.arguments = arguments
    }

    /// Whether the option or flag appeared at all.
    public func has(_ long: String) -> Bool { options[long] != nil }

    /// A flag's value: false when absent, else the last occurrence (`--force=false` gives false).
    public func flag(_ long: String) -> Bool { options[long]?.last == "true" }

    /// A single option's value (the last occurrence), or nil.
    public func string(_ long: String) -> String? { options[long]?.last }

    /// Every value of a repeatable option, in order (empty when absent).
    public func strings(_ long: String) -> [String] { options[long] ?? [] }

    /// A single option's value as an integer, or nil when absent.
    public func int(_ long: String) throws(UsageError) -> Int? {
        guard let text = string(long) else { return nil }
        guard let value = Int(text) else {
            throw UsageError(
                command: commandPath, reason: .badValue(flag: "--\(long)", value: text, expected: "an integer"))
        }
        return value
    }

    /// A required positional argument's value (the parser has checked that it is there).
    public func argument(_ name: String) -> String { arguments[name]?.first ?? "" }

    /// An optional positional argument's value.
    public func optionalArgument(_ name: String) -> String? { arguments[name]?.first }

    /// A variadic positional argument's values.
    public func argumentList(_ name: String) -> [String] { arguments[name] ?? [] }

    /// A `UsageError` for this command with a custom message (for checks the parser cannot make).
    public func invalid(_ message: String) -> UsageError {
        UsageError(command: commandPath, reason: .invalid(message))
    }
}
