import Foundation
import GasTownTestKit
import Node
import Testing
import Town

/// The soak run of issue 14 (`make test-soak`, which sets `GT_SOAK_SECONDS=600`): a healthy agent that runs silently
/// for the whole run and calls `gt heartbeat` is never acted on by the Witness, while a silent agent beside it that
/// does not beat is flagged hung at the threshold (so the Witness is shown to be watching). Thresholds are short
/// (hung after 30 s, heartbeats valid 45 s), so a 10-minute run spans twenty hang thresholds. Skipped in `make test`.
@Suite(.serialized) struct WitnessSoakTests {
    static let seconds = ProcessInfo.processInfo.environment["GT_SOAK_SECONDS"].flatMap { Double($0) }

    @Test(.enabled(if: seconds != nil, "set GT_SOAK_SECONDS (make test-soak) to run the soak"))
    func healthyHeartbeatingAgentIsNeverTouchedOverTheSoak() async throws {
        let duration = try #require(Self.seconds)
        try await TownFixture.with { town in
            try expectOK(try await town.gt(["cluster", "init", "--name", "soak"]))
            try town.directory.write(
                "town/settings/health.json", #"{"hung_after": 30, "heartbeat_validity": 45, "patrol_interval": 1}"#)
            try await town.up()
            try town.directory.write(
                "healthy.sh",
                """
                echo "running the gate (a long silent test run)"
                while true; do gt heartbeat -m gate >/dev/null 2>&1 || echo "heartbeat failed"; sleep 10; done
                """)
            try town.directory.write("silent.sh", "echo 'working on it'\nexec sleep 100000\n")
            try expectOK(
                try await town.gt(["rig", "add", "demo", town.source, "--runtime", "exec:'true'", "--max-polecats", "2"]))
            var agents: [String: String] = [:]
            for name in ["healthy", "silent"] {
                let bead = try await town.createBead("Soak \(name)", scope: "demo")
                let output = try await town.gt([
                    "sling", bead, "demo", "--runtime", "exec:'sh \(town.directory.join("\(name).sh"))'", "--json",
                ])
                try expectOK(output)
                let result = try JSONDecoder().decode(SlingResult.self, from: Data(output.stdout.utf8))
                agents[name] = AgentAddress.canonical(
                    result.polecat.contains("/") ? result.polecat : "demo/\(result.polecat)")
            }
            func actions(_ name: String) -> [[String: String]] {
                TownEvents.read(town.layout.eventsFile).filter { $0["type"] == "witness" && $0["agent"] == agents[name] }
            }
            let end = ContinuousClock.now + .seconds(duration)
            while ContinuousClock.now < end {
                try await Task.sleep(for: .seconds(5))
                #expect(actions("healthy").isEmpty, "the Witness acted on the healthy agent: \(actions("healthy"))")
                if !actions("healthy").isEmpty { break }
            }
            #expect(actions("silent").contains { $0["state"] == "hung" }, "the silent agent was never flagged hung")
            let report = try #require(try WitnessReport.read(town.layout))
            #expect(report.polecats.first { $0.agent == agents["healthy"] }?.state == "working")
        }
    }
}
