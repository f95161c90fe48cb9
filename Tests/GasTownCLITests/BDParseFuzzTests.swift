import Testing
@testable import GasTownCLI

/// Random `bd` command lines built from its real verbs and flags: parsing and every command's `init(parsed:)` (which
/// reads priorities, statuses, dependency types, `--deps`, `--set-metadata`) must return or throw a `UsageError`,
/// never crash, and be deterministic.
@Suite struct BDParseFuzzTests {
    static let vocabulary = [
        "create", "new", "q", "show", "list", "search", "update", "close", "reopen", "delete", "ready", "blocked",
        "dep", "add", "remove", "tree", "cycles", "label", "comments", "comment", "count", "stats", "import", "export",
        "init", "bd-abc", "bd-abc.1", "title", "-p", "P1", "9", "-1", "p", "-s", "open", "in-progress", "bogus", "-t",
        "blocks", "parent-child", "weird", "--deps", "blocks:bd-1", ":", "x:", "blocks:", ",,", "--set-metadata",
        "k=v", "=v", "k=", "--claim", "--add-label", "a,b", "-n", "0", "-5", "--limit=3", "--by-status", "--by-type",
        "--sort", "oldest", "hybrid", "--parent", "--json", "-C", "/tmp", "--title", "", "--id", "-r", "--force", "-i",
        "--prefix", "9x", "ok", "--direction", "up", "--max-depth", "0", "-e", "12", "--no-cycle-check", "--",
    ]

    struct SeededRandom: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    func outcome(_ words: [String]) -> String {
        do {
            let parsed = try CommandLineParser.parse(words, program: BD.program)
            guard parsed.action == .run else { return "help" }
            _ = try parsed.command.init(parsed: parsed.values)
            return "run:\(parsed.pathNames.joined(separator: " "))"
        } catch {
            return "error:\(error.description)"
        }
    }

    @Test func randomBDCommandLinesNeverCrash() {
        var random = SeededRandom(state: 0x6264_6675_7a7a)
        var kinds: [String: Int] = [:]
        var verbs = Set<String>()
        for _ in 0..<15_000 {
            let count = Int.random(in: 1..<7, using: &random)
            var words = (0..<count).map { _ in Self.vocabulary.randomElement(using: &random)! }
            if Int.random(in: 0..<3, using: &random) == 0, var last = words.popLast(), !last.isEmpty {
                last.removeLast()
                words.append(last)
            }
            let first = outcome(words)
            #expect(first == outcome(words), "not deterministic: \(words)")
            let kind = String(first.prefix { $0 != ":" })
            kinds[kind, default: 0] += 1
            if kind == "run" { verbs.insert(String(first.dropFirst(4))) }
        }
        #expect((kinds["run"] ?? 0) > 500)
        #expect((kinds["error"] ?? 0) > 500)
        #expect(verbs.count > 15, "reached verbs: \(verbs.sorted())")
    }
}
