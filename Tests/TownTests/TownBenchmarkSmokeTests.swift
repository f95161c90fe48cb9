import Foundation
import GasTownTestKit
import Testing

/// The town benchmark functions run and clean up (no timing is asserted). With `GT_TOWN_BENCH_FULL=1` they run
/// at full size and print their figures (how BENCHMARKS.md's town figures were taken in a debug build).
@Suite(.serialized) struct TownBenchmarkSmokeTests {
    static var full: Bool { ProcessInfo.processInfo.environment["GT_TOWN_BENCH_FULL"] == "1" }

    @Test func slingToRunningRuns() async throws {
        let result = try await TownBenchmarks.slingToRunning(beads: Self.full ? 20 : 2)
        #expect(result.milliseconds.count == (Self.full ? 20 : 2))
        #expect(result.milliseconds.allSatisfy { $0 > 0 })
        print("TownBenchmarks.slingToRunning: \(result)")
    }

    @Test func nodeResourcesRuns() async throws {
        let result =
            Self.full
            ? try await TownBenchmarks.nodeResources()
            : try await TownBenchmarks.nodeResources(
                idlePolecats: 2, workingPolecats: 1, window: .seconds(1), settle: .milliseconds(500))
        #expect(result.idleRSSMiB > 0 && result.baselineRSSMiB > 0)
        print("TownBenchmarks.nodeResources: \(result)")
    }
}
