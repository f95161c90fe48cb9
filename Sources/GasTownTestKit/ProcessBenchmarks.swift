/// Whole-process benchmarks of the built binaries (for `gt-bench`; never timed in tests).
public enum ProcessBenchmarks {
    /// Runs `tool arguments` `runs` times as a child process and returns the mean wall time per run in
    /// milliseconds (process start, parse, run, exit). Throws `BuiltBinaries.NotFound` if not built.
    public static func meanMilliseconds(
        _ tool: BuiltBinaries.Tool, _ arguments: [String] = ["--version"], runs: Int = 20, cwd: String? = nil
    ) async throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<runs {
            let output = try await BuiltBinaries.run(tool, arguments, cwd: cwd)
            precondition(output.status == 0, "benchmark run failed: \(output)")
        }
        let components = (clock.now - start).components
        let seconds = Double(components.seconds) + Double(components.attoseconds) / 1e18
        return seconds * 1000 / Double(max(runs, 1))
    }
}
