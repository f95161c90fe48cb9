import Testing
@testable import GasTownCLI

/// Random and mutated command lines: parsing must return or throw a `UsageError`, never crash, and be
/// deterministic; help generation must work for whatever it selects.
@Suite struct ParserFuzzTests {
    /// SplitMix64: a seeded generator so failures reproduce.
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

    static let vocabulary = [
        "create", "new", "dep", "add", "list", "help", "internal-thing", "--", "-", "--json", "-C", "-C/x",
        "--directory=", "--actor", "-p", "-p1", "-p=", "-pp", "--priority", "--priority=", "--priority=4",
        "-t", "story", "bug", "-l", "a,,b", ",", "--labels=", "--deps", "-fs", "-fsp", "-h", "--help", "--help=1",
        "--version", "--force=", "--force=maybe", "-f=true", "=", "-=", "---", "--=x", "-n", "-n-1", "x", "",
        "-\u{0}", "--\u{1F600}", "é", "-é", "-9", "--limit=99999999999999999999",
    ]

    func randomWord(_ random: inout SeededRandom) -> String {
        if Int.random(in: 0..<4, using: &random) == 0 {
            let length = Int.random(in: 0..<6, using: &random)
            let alphabet = Array("-=,pfslhCt0 é\u{0}x")
            return String((0..<length).map { _ in alphabet.randomElement(using: &random)! })
        }
        return Self.vocabulary.randomElement(using: &random)!
    }

    @Test func randomCommandLinesNeverCrash() {
        var random = SeededRandom(state: 0x6774_6366_7a7a)
        var outcomes: [String: Int] = [:]
        for _ in 0..<20_000 {
            let words = (0..<Int.random(in: 0..<8, using: &random)).map { _ in randomWord(&random) }
            let first = outcome(words)
            #expect(first == outcome(words), "not deterministic: \(words)")
            outcomes[first.split(separator: ":").first.map(String.init) ?? "", default: 0] += 1
        }
        // The generator must reach successes, help, and errors, or the test proves nothing.
        #expect((outcomes["run"] ?? 0) > 100)
        #expect((outcomes["help"] ?? 0) > 100)
        #expect((outcomes["error"] ?? 0) > 100)
    }

    @Test func mutatedValidLinesNeverCrash() {
        var random = SeededRandom(state: 42)
        let valid = [
            ["create", "-p", "1", "-t", "bug", "-l", "a,b", "--deps", "blocks:x", "title"],
            ["--json", "dep", "add", "-t", "related", "a", "b"],
            ["list", "-n", "5", "a", "b", "--", "-c"],
        ]
        for _ in 0..<5_000 {
            var words = valid.randomElement(using: &random)!
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let position = Int.random(in: 0...words.count, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0 where position < words.count: words.remove(at: position)
                case 1: words.insert(randomWord(&random), at: position)
                case 2 where position < words.count:
                    var scalars = Array(words[position].unicodeScalars)
                    if !scalars.isEmpty { scalars[Int.random(in: 0..<scalars.count, using: &random)] = "-" }
                    words[position] = String(String.UnicodeScalarView(scalars))
                default: words.shuffle(using: &random)
                }
            }
            _ = outcome(words)
        }
    }

    /// The values with sorted keys, so equal values print equally.
    func canonical(_ values: ParsedValues) -> String {
        let options = values.options.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let arguments = values.arguments.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return "\(options) \(arguments)"
    }

    func outcome(_ words: [String]) -> String {
        do {
            let parsed = try TestProgram.parse(words)
            let help = HelpFormatter.help(for: parsed.path, program: TestProgram.spec)
            if help.isEmpty { return "error: empty help" }
            switch parsed.action {
            case .help: return "help:\(parsed.pathNames)"
            case .version: return "version"
            case .run: return "run:\(parsed.pathNames) \(canonical(parsed.values)) \(canonical(parsed.globals))"
            }
        } catch {
            return "error:\(error.description)"
        }
    }
}
