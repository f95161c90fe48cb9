import Testing

@testable import GasTownCLI

/// Every command of `gt` and `bd`, walked from the roots: the help texts and the short flags people carry from one
/// command (and one program) to the next.
@Suite struct FlagConsistencyTests {
    /// Each command type with its path (`gt mail send`).
    static func commands(_ program: ProgramSpec) -> [(path: String, type: any CLICommand.Type, chain: [any CLICommand.Type])] {
        var out: [(String, any CLICommand.Type, [any CLICommand.Type])] = []
        func walk(_ type: any CLICommand.Type, _ chain: [any CLICommand.Type]) {
            let chain = chain + [type]
            out.append((chain.map { $0.configuration.name }.joined(separator: " "), type, chain))
            for sub in type.configuration.subcommands { walk(sub, chain) }
        }
        walk(program.root, [])
        return out
    }

    /// Help once said "(repeatable) (repeatable)" where a spec's text and the formatter both said it.
    @Test(arguments: ["gt", "bd"])
    func noHelpTextRepeatsItself(_ name: String) {
        let program = name == "gt" ? GT.program : BD.program
        for command in Self.commands(program) {
            let help = HelpFormatter.help(for: command.chain, program: program)
            #expect(!help.contains("(repeatable) (repeatable)"), "\(command.path)")
        }
    }

    /// A short flag typed in `gt` means what it means in `bd`: `-a` was `--assignee` in `bd` but `--all` in
    /// `gt mail inbox`. Within `bd` the letters are beads' own (`-p` is `--prefix` in `bd init`, `--priority`
    /// elsewhere). The documented exceptions (docs/cli.md) are Gas Town's mail spellings, which its agent prompts
    /// type: `-s` `--subject` (`--status` in `bd`) and `-u` `--unread` (`--unassigned` in `bd ready`).
    @Test func gtShortFlagsMeanWhatTheyMeanInBD() {
        func meanings(_ program: ProgramSpec) -> [Character: [String: [String]]] {
            var out: [Character: [String: [String]]] = [:]
            for command in Self.commands(program) {
                for option in command.type.configuration.options + program.globalOptions {
                    guard let short = option.short else { continue }
                    out[short, default: [:]][option.long, default: []].append(command.path)
                }
            }
            return out
        }
        let gt = meanings(GT.program)
        let bd = meanings(BD.program)
        let exceptions: [Character: Set<String>] = ["s": ["subject"], "u": ["unread"]]
        for (short, gtLongs) in gt {
            guard let bdLongs = bd[short] else { continue }
            let differing = Set(gtLongs.keys).subtracting(bdLongs.keys)
            #expect(
                differing.isSubset(of: exceptions[short] ?? []),
                "-\(short) is \(differing.sorted()) in \(differing.flatMap { gtLongs[$0]! }) but \(bdLongs.keys.sorted()) in bd")
        }
    }
}
