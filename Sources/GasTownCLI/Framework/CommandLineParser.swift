/// Pure parsing of a command line into a `ParsedCommand`, with the spellings of Go's cobra/pflag
/// (which beads and Gas Town use): `--name=value`, `--name value`, `-n value`, `-nvalue`, combined short
/// flags `-abc`, `--flag=false`, `--` to end options, a lone `-` as a positional word. Global options
/// are accepted anywhere; `--help`/`-h` on every command; `help <command…>` and `--version` on the root.
///
/// No I/O, no state: `parse` is a function of its inputs.
public enum CommandLineParser {
    /// Parses `arguments` (without the program name) for `program`.
    public static func parse(_ arguments: [String], program: ProgramSpec) throws(UsageError) -> ParsedCommand {
        var state = State(program: program)
        var index = 0
        while index < arguments.count {
            let word = arguments[index]
            index += 1
            if state.endOfOptions || word == "-" || !word.hasPrefix("-") {
                try state.positional(word)
            } else if word == "--" {
                state.endOfOptions = true
            } else if word.hasPrefix("--") {
                try state.longOption(word, arguments: arguments, index: &index)
            } else {
                try state.shortOptions(word, arguments: arguments, index: &index)
            }
        }
        return try state.finish()
    }

    private struct State {
        let program: ProgramSpec
        var path: [any CLICommand.Type]
        var configs: [CommandConfiguration]
        var options: [String: [String]] = [:]
        var globals: [String: [String]] = [:]
        var positionals: [String] = []
        var endOfOptions = false
        var helpRequested = false
        var helpCommandWords: [String]?
        var versionRequested = false

        init(program: ProgramSpec) {
            self.program = program
            self.path = [program.root]
            self.configs = [program.root.configuration]
        }

        var current: CommandConfiguration { configs[configs.count - 1] }
        var commandPath: String { configs.map(\.name).joined(separator: " ") }

        func error(_ reason: UsageError.Reason) -> UsageError {
            UsageError(command: commandPath, reason: reason)
        }

        /// An unknown command word: at the root, a command of the original tool we lack names what to use.
        func unknownCommand(_ word: String) -> UsageError {
            if configs.count == 1, let instead = program.missingCommands[word] {
                return error(.notBuilt(word, instead: instead))
            }
            return error(.unknownCommand(word))
        }

        /// Finds an option by a predicate: the current command, then its ancestors, then the globals.
        func lookup(_ matches: (OptionSpec) -> Bool) -> (spec: OptionSpec, global: Bool)? {
            for config in configs.reversed() {
                if let spec = config.options.first(where: matches) { return (spec, false) }
            }
            if let spec = program.globalOptions.first(where: matches) { return (spec, true) }
            return nil
        }

        mutating func positional(_ word: String) throws(UsageError) {
            if helpCommandWords != nil {
                helpCommandWords?.append(word)
                return
            }
            if positionals.isEmpty && !endOfOptions && !current.subcommands.isEmpty {
                if configs.count == 1 && word == "help" {
                    helpCommandWords = []
                    return
                }
                if let sub = current.subcommands.first(where: { $0.configuration.answers(to: word) }) {
                    path.append(sub)
                    configs.append(sub.configuration)
                    return
                }
                if current.arguments.isEmpty { throw unknownCommand(word) }
            }
            positionals.append(word)
        }

        mutating func longOption(_ word: String, arguments: [String], index: inout Int) throws(UsageError) {
            let body = word.dropFirst(2)
            let name: String
            let inline: String?
            if let equals = body.firstIndex(of: "=") {
                name = String(body[..<equals])
                inline = String(body[body.index(after: equals)...])
            } else {
                name = String(body)
                inline = nil
            }
            if name == "help" && inline == nil {
                helpRequested = true
                return
            }
            if name == "version" && inline == nil && configs.count == 1 && lookup({ $0.answers(toLong: name) }) == nil {
                versionRequested = true
                return
            }
            guard let (spec, global) = lookup({ $0.answers(toLong: name) }) else {
                throw error(.unknownFlag("--\(name)"))
            }
            let value: String
            if spec.takesValue {
                if let inline {
                    value = inline
                } else if index < arguments.count {
                    value = arguments[index]
                    index += 1
                } else {
                    throw error(.missingValue(flag: "--\(spec.long)"))
                }
            } else {
                value = try flagValue(inline, flag: "--\(spec.long)")
            }
            try record(spec, value: value, spelled: "--\(spec.long)", global: global)
        }

        mutating func shortOptions(_ word: String, arguments: [String], index: inout Int) throws(UsageError) {
            let letters = Array(word.dropFirst())
            var position = 0
            while position < letters.count {
                let letter = letters[position]
                position += 1
                guard let (spec, global) = lookup({ $0.short == letter }) else {
                    if letter == "h" {
                        helpRequested = true
                        continue
                    }
                    throw error(.unknownFlag("-\(letter)"))
                }
                let spelled = "-\(letter)"
                if spec.takesValue {
                    var rest = String(letters[position...])
                    if rest.hasPrefix("=") { rest.removeFirst() }
                    let value: String
                    if position < letters.count {
                        value = rest
                    } else if index < arguments.count {
                        value = arguments[index]
                        index += 1
                    } else {
                        throw error(.missingValue(flag: spelled))
                    }
                    try record(spec, value: value, spelled: spelled, global: global)
                    return
                }
                if position < letters.count && letters[position] == "=" {
                    let value = try flagValue(String(letters[(position + 1)...]), flag: spelled)
                    try record(spec, value: value, spelled: spelled, global: global)
                    return
                }
                try record(spec, value: "true", spelled: spelled, global: global)
            }
        }

        func flagValue(_ inline: String?, flag: String) throws(UsageError) -> String {
            guard let inline else { return "true" }
            switch inline.lowercased() {
            case "true", "1", "t", "yes": return "true"
            case "false", "0", "f", "no": return "false"
            default: throw error(.flagTakesNoValue(flag: flag))
            }
        }

        mutating func record(_ spec: OptionSpec, value: String, spelled: String, global: Bool) throws(UsageError) {
            var values: [String]
            switch spec.kind {
            case .flag, .single, .repeated: values = [value]
            case .commaList: values = value.split(separator: ",", omittingEmptySubsequences: true).map(String.init)
            }
            if spec.takesValue {
                for item in values { try check(item, for: spec, spelled: spelled) }
            }
            switch spec.kind {
            case .flag, .single:
                break
            case .repeated, .commaList:
                let earlier = (global ? globals[spec.long] : options[spec.long]) ?? []
                values = earlier + values
            }
            if global { globals[spec.long] = values } else { options[spec.long] = values }
        }

        func check(_ value: String, for spec: OptionSpec, spelled: String) throws(UsageError) {
            switch spec.valueType {
            case .string:
                return
            case .integer(let range):
                guard let number = Int(value) else {
                    throw error(.badValue(flag: spelled, value: value, expected: "an integer"))
                }
                if let range, !range.contains(number) {
                    throw error(.badValue(
                        flag: spelled, value: value,
                        expected: "an integer from \(range.lowerBound) to \(range.upperBound)"))
                }
            case .choice(let words):
                guard words.contains(value) else {
                    throw error(.badValue(
                        flag: spelled, value: value, expected: "one of " + words.joined(separator: ", ")))
                }
            }
        }

        mutating func finish() throws(UsageError) -> ParsedCommand {
            if let words = helpCommandWords {
                for word in words {
                    guard let sub = current.subcommands.first(where: { $0.configuration.answers(to: word) }) else {
                        throw unknownCommand(word)
                    }
                    path.append(sub)
                    configs.append(sub.configuration)
                }
                return parsed(.help)
            }
            if helpRequested { return parsed(.help) }
            if versionRequested { return parsed(.version) }
            if current.isGroup { return parsed(.help) }
            var assigned: [String: [String]] = [:]
            var remaining = positionals[...]
            for spec in current.arguments {
                switch spec.arity {
                case .required:
                    guard let word = remaining.popFirst() else { throw error(.missingArgument(spec.name)) }
                    assigned[spec.name] = [word]
                case .optional:
                    if let word = remaining.popFirst() { assigned[spec.name] = [word] }
                case .variadic(let minimum):
                    if remaining.count < minimum { throw error(.missingArgument(spec.name)) }
                    assigned[spec.name] = Array(remaining)
                    remaining = []
                }
            }
            if let extra = remaining.first { throw error(.unexpectedArgument(extra)) }
            var result = parsed(.run)
            result.values.arguments = assigned
            return result
        }

        func parsed(_ action: ParsedCommand.Action) -> ParsedCommand {
            ParsedCommand(
                action: action, path: path,
                values: ParsedValues(commandPath: commandPath, options: options),
                globals: ParsedValues(commandPath: commandPath, options: globals))
        }
    }
}
