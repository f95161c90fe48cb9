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

    /// Runs `tool arguments` `runs` times as a child process and returns each run's wall time in milliseconds.
    public static func runMilliseconds(
        _ tool: BuiltBinaries.Tool, _ arguments: [String], runs: Int, cwd: String? = nil
    ) async throws -> [Double] {
        let clock = ContinuousClock()
        var times: [Double] = []
        for _ in 0..<runs {
            let start = clock.now
            let output = try await BuiltBinaries.run(tool, arguments, cwd: cwd)
            let components = (clock.now - start).components
            precondition(output.status == 0, "benchmark run failed: \(output)")
            times.append((Double(components.seconds) + Double(components.attoseconds) / 1e18) * 1000)
        }
        return times
    }

    /// The median and the 95th percentile of `values`.
    public static func medianAndP95(_ values: [Double]) -> (median: Double, p95: Double) {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return (0, 0) }
        let p95 = sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.95).rounded(.up)) - 1)]
        return (sorted[sorted.count / 2], p95)
    }
}
