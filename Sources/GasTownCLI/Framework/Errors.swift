/// A process exit status with the conventions of `gt` and `bd`: 0 ok, 1 failure, 2 usage error.
///
/// A plain value (`Sendable`).
public struct ExitCode: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The number the process exits with.
    public var rawValue: Int32

    /// Wraps a raw status.
    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    /// The command did what was asked.
    public static let success = ExitCode(0)
    /// The command ran and failed (missing store, bad data, refused operation).
    public static let failure = ExitCode(1)
    /// The command line was wrong (unknown flag, missing value, bad value); nothing was done.
    public static let usage = ExitCode(2)

    public var description: String { "\(rawValue)" }
}

/// A command line that cannot be parsed: unknown flag or command, missing or bad value, wrong argument count.
/// Always exit status 2; the message is one line naming the command and saying what to do.
///
/// A plain value (`Sendable`).
public struct UsageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong.
    public enum Reason: Sendable, Equatable {
        case unknownFlag(String)
        case unknownCommand(String)
        /// A command of the original tool that this one does not have yet, and what to use instead
        /// (`ProgramSpec.missingCommands`).
        case notBuilt(String, instead: String)
        case missingValue(flag: String)
        case badValue(flag: String, value: String, expected: String)
        case missingArgument(String)
        case unexpectedArgument(String)
        case flagTakesNoValue(flag: String)
        /// A command's own validation of its values (`priority must be 0-4`).
        case invalid(String)
    }

    /// The command path as typed by the user, canonical names (`bd create`).
    public var command: String
    /// What was wrong.
    public var reason: Reason

    /// Makes an error for the command at `command` (e.g. `"bd create"`).
    public init(command: String, reason: Reason) {
        self.command = command
        self.reason = reason
    }

    /// The one-line message, e.g. `bd create: unknown flag --prioritty; run 'bd create --help' for the flags`.
    public var description: String {
        let help = "run '\(command) --help'"
        switch reason {
        case .unknownFlag(let flag):
            return "\(command): unknown flag \(flag); \(help) for the flags"
        case .unknownCommand(let word):
            return "\(command): unknown command '\(word)'; \(help) for the commands"
        case .notBuilt(let word, let instead):
            return "\(command): '\(word)' is not built here yet; \(instead)"
        case .missingValue(let flag):
            return "\(command): flag \(flag) needs a value; \(help) for usage"
        case .badValue(let flag, let value, let expected):
            return "\(command): bad value '\(value)' for \(flag): expected \(expected)"
        case .missingArgument(let name):
            return "\(command): missing argument <\(name)>; \(help) for usage"
        case .unexpectedArgument(let word):
            return "\(command): unexpected argument '\(word)'; \(help) for usage"
        case .flagTakesNoValue(let flag):
            return "\(command): flag \(flag) takes no value (or true/false); \(help) for the flags"
        case .invalid(let message):
            return "\(command): \(message)"
        }
    }

    /// A short machine code for `--json` errors.
    public var code: String {
        switch reason {
        case .unknownFlag: "unknown_flag"
        case .unknownCommand, .notBuilt: "unknown_command"
        case .missingValue: "missing_value"
        case .badValue: "bad_value"
        case .missingArgument: "missing_argument"
        case .unexpectedArgument: "unexpected_argument"
        case .flagTakesNoValue: "flag_takes_no_value"
        case .invalid: "invalid_usage"
        }
    }
}

/// Ends a command with a non-zero exit status after it has printed its own report (e.g. `gt status` of a node
/// that does not answer): the runner prints nothing more. A plain value (`Sendable`).
public struct CommandExit: Error, Sendable, Equatable {
    /// The exit status.
    public var exitCode: ExitCode

    /// Makes one.
    public init(_ exitCode: ExitCode) { self.exitCode = exitCode }
}

/// A failure while running a command, with an optional hint saying what to do and an exit code.
/// Commands throw it (or any other `Error`, which is reported with exit status 1).
///
/// A plain value (`Sendable`).
public struct CLIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, one line.
    public var message: String
    /// What to do about it, if there is something to say.
    public var hint: String?
    /// A short machine code for `--json` errors (`not_found`, `exists`), if any.
    public var code: String?
    /// The exit status (default 1).
    public var exitCode: ExitCode

    /// Makes an error.
    public init(_ message: String, hint: String? = nil, code: String? = nil, exitCode: ExitCode = .failure) {
        self.message = message
        self.hint = hint
        self.code = code
        self.exitCode = exitCode
    }

    public var description: String {
        if let hint { return "\(message); \(hint)" }
        return message
    }
}
