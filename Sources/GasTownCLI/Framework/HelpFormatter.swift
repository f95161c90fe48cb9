/// Generates `--help` text from configurations, in cobra's layout (Usage, Aliases, Available Commands,
/// Flags, Global Flags). Pure.
public enum HelpFormatter {
    /// The help text for the command at the end of `path` (root first) in `program`.
    public static func help(for path: [any CLICommand.Type], program: ProgramSpec) -> String {
        let configs = path.map { $0.configuration }
        let config = configs[configs.count - 1]
        let commandPath = configs.map(\.name).joined(separator: " ")
        var lines: [String] = []
        lines.append(config.abstract)
        if !config.discussion.isEmpty {
            lines.append("")
            lines.append(config.discussion)
        }
        lines.append("")
        lines.append("Usage:")
        if !config.subcommands.isEmpty {
            lines.append("  \(commandPath) [command]")
        }
        if !config.isGroup {
            var usage = "  \(commandPath) [flags]"
            for argument in config.arguments {
                switch argument.arity {
                case .required: usage += " <\(argument.name)>"
                case .optional: usage += " [\(argument.name)]"
                case .variadic(let minimum): usage += minimum > 0 ? " <\(argument.name)>..." : " [\(argument.name)...]"
                }
            }
            lines.append(usage)
        }
        if !config.aliases.isEmpty {
            lines.append("")
            lines.append("Aliases:")
            lines.append("  " + ([config.name] + config.aliases).joined(separator: ", "))
        }
        let visible = config.subcommands.map { $0.configuration }.filter { !$0.hidden }
        if !visible.isEmpty {
            lines.append("")
            lines.append("Available Commands:")
            let width = visible.map(\.name.count).max() ?? 0
            for sub in visible {
                lines.append("  " + pad(sub.name, width) + "   " + sub.abstract)
            }
        }
        if !config.arguments.isEmpty {
            lines.append("")
            lines.append("Arguments:")
            let width = config.arguments.map(\.name.count).max() ?? 0
            for argument in config.arguments {
                lines.append("  " + pad(argument.name, width) + "   " + argument.help)
            }
        }
        let inherited = configs.dropLast().flatMap(\.options)
        let helpFlag = OptionSpec.flag("help", short: "h", help: "help for \(config.name)")
        lines.append("")
        lines.append("Flags:")
        let versionFlag = OptionSpec.flag("version", help: "print the version and exit")
        lines.append(contentsOf: optionLines(config.options + [helpFlag] + (configs.count == 1 ? [versionFlag] : [])))
        let globals = inherited + program.globalOptions
        if !globals.filter({ !$0.hidden }).isEmpty {
            lines.append("")
            lines.append("Global Flags:")
            lines.append(contentsOf: optionLines(globals))
        }
        if !visible.isEmpty {
            lines.append("")
            lines.append("Use \"\(commandPath) [command] --help\" for more information about a command.")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The left column of an option's help line: `-p, --priority N`.
    static func spelling(_ spec: OptionSpec) -> String {
        var text = spec.short.map { "-\($0), " } ?? "    "
        text += "--\(spec.long)"
        if spec.takesValue { text += " \(spec.valueName)" }
        return text
    }

    static func optionLines(_ specs: [OptionSpec]) -> [String] {
        let shown = specs.filter { !$0.hidden }
        let width = min(shown.map { spelling($0).count }.max() ?? 0, 32)
        return shown.map { spec in
            var help = spec.help
            if let defaultDescription = spec.defaultDescription { help += " (default \(defaultDescription))" }
            if spec.kind == .repeated || spec.kind == .commaList, !help.contains("(repeatable)") { help += " (repeatable)" }
            if case .choice(let words) = spec.valueType { help += " [" + words.joined(separator: "|") + "]" }
            let left = spelling(spec)
            if left.count > width { return "  \(left)\n  \(String(repeating: " ", count: width))   \(help)" }
            return "  " + pad(left, width) + "   " + help
        }
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
