/// Benchmarks of the CLI framework, run by `gt-bench` (never timed in tests).
public enum CLIBenchmarks {
    /// One benchmark's figures.
    public struct Figure: Sendable, CustomStringConvertible {
        /// What was measured.
        public var name: String
        /// How many operations.
        public var iterations: Int
        /// Total wall time.
        public var elapsed: Duration

        /// Mean time per operation, in microseconds.
        public var microsecondsPerOperation: Double {
            let components = elapsed.components
            let seconds = Double(components.seconds) + Double(components.attoseconds) / 1e18
            return seconds * 1e6 / Double(max(iterations, 1))
        }

        public var description: String {
            "\(name): \(iterations) ops, \((microsecondsPerOperation * 100).rounded() / 100) µs/op"
        }
    }

    /// Parses a 10-word `gt install` command line (long options, `=` and separate values, globals mixed in)
    /// `iterations` times, then generates `gt install --help` a tenth as many times.
    public static func parseAndHelp(iterations: Int = 100_000) -> [Figure] {
        let words = [
            "install", "--json", "town", "--name=alpha", "--owner", "me@example.com", "--town", "/t", "--actor", "a",
        ]
        let clock = ContinuousClock()
        var checksum = 0
        let parseTime = clock.measure {
            for _ in 0..<iterations {
                if let parsed = try? CommandLineParser.parse(words, program: GT.program) {
                    checksum &+= parsed.values.options.count
                }
            }
        }
        let path: [any CLICommand.Type] = [GT.Root.self, InstallCommand.self]
        let helpTime = clock.measure {
            for _ in 0..<iterations / 10 {
                checksum &+= HelpFormatter.help(for: path, program: GT.program).utf8.count
            }
        }
        precondition(checksum != 0, "benchmark work was optimized away")
        return [
            Figure(name: "cli.parse(gt install, 10 words)", iterations: iterations, elapsed: parseTime),
            Figure(name: "cli.help(gt install)", iterations: iterations / 10, elapsed: helpTime),
        ]
    }
}
