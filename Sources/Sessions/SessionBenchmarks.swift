import Foundation

/// Benchmarks of the session drivers, run by `gt-bench` (never timed in tests). A namespace; `Sendable`
/// trivially.
public enum SessionBenchmarks {
    /// The outcome of `startLatency`. `Sendable`: numbers.
    public struct StartLatencyResult: Sendable, CustomStringConvertible {
        /// Which driver.
        public var driver: SessionDriverKind
        /// Sessions started.
        public var sessions: Int
        /// Per session: from `start` called to the command's first output seen by `capture`, in ms.
        public var millisecondsToOutput: [Double]

        /// Median of `millisecondsToOutput`.
        public var median: Double {
            let sorted = millisecondsToOutput.sorted()
            return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        }
        /// Worst of `millisecondsToOutput`.
        public var worst: Double { millisecondsToOutput.max() ?? 0 }

        public var description: String {
            String(
                format: "%@ session start → output: %d sessions, median %.1f ms, worst %.1f ms", driver.rawValue,
                sessions, median, worst)
        }
    }

    /// Starts `sessions` sessions one after another in a temporary town with the given driver kind (tmux at
    /// `tmuxPath`, or plain processes), each running `echo ready; sleep 30`, and measures how long each takes
    /// from `start` to its output showing in `capture`. Kills every session, the town's tmux server and the
    /// temporary directory afterwards.
    public static func startLatency(
        kind: SessionDriverKind, sessions: Int = 10, tmuxPath: String = "/usr/bin/tmux"
    ) async throws -> StartLatencyResult {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("gt-bench-sessions-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root + "/work", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        var settings = SessionSettings()
        settings.pollInterval = .milliseconds(5)
        let driver: any SessionDriver =
            kind == .tmux
            ? TmuxDriver(townRoot: root, tmuxPath: tmuxPath, settings: settings)
            : ProcessDriver(townRoot: root, settings: settings)
        let town = TownID(townRoot: root)
        var timings: [Double] = []
        var started: [SessionName] = []
        do {
            let clock = ContinuousClock()
            for index in 0..<sessions {
                let name = SessionName(town: town, rig: "bench", polecat: "p\(index)", epoch: 1)
                let begin = clock.now
                _ = try await driver.start(
                    SessionSpec(name: name, workingDirectory: root + "/work", command: "echo ready; sleep 30"))
                started.append(name)
                while try await driver.capture(name)?.text.contains("ready") != true {
                    try await Task.sleep(for: settings.pollInterval)
                }
                timings.append((clock.now - begin).seconds * 1000)
            }
        } catch {
            await cleanUp(driver, started)
            throw error
        }
        await cleanUp(driver, started)
        return StartLatencyResult(driver: kind, sessions: sessions, millisecondsToOutput: timings)
    }

    private static func cleanUp(_ driver: any SessionDriver, _ names: [SessionName]) async {
        for name in names {
            _ = try? await driver.kill(name)
            _ = try? await driver.forget(name)
        }
        if let tmux = driver as? TmuxDriver { try? await tmux.killServer() }
    }
}
