import Foundation
import Town

/// Benchmarks of the Witness's health rules with the built `gt` (for `gt-bench health`; never timed in tests): how
/// long after each kind of failure the node's Witness acts, with its default patrol (2 s) and confirmations (2),
/// and the silent-hang threshold set to `hungAfter` so the run stays short. Real tmux sessions run scripted agents
/// (the `exec` runtime): one that dies, one that stops at Claude Code's permission dialog, one that hangs silently,
/// and a healthy one that runs silently and calls `gt heartbeat`, which must never be acted on. Each records the
/// wall clock of its failure once (a restarted session does not overwrite it).
public enum HealthBenchmarks {
    /// Figures of `detection`. `Sendable`: numbers.
    public struct Detection: Sendable, CustomStringConvertible {
        /// Seconds from the agent's exit to the Witness's first action on the dead session.
        public var deadSeconds: Double
        /// Seconds from the dialog appearing to the Witness answering it.
        public var promptSeconds: Double
        /// Seconds from the agent's last output to the Witness flagging it hung; never below `hungAfter`.
        public var hungSeconds: Double
        public var hungAfter: Double
        /// Witness actions on the healthy agent over the run (goal 0).
        public var healthyActions: Int
        public var description: String {
            String(
                format: "dead session acted on %.1f s after exit (goal ≤ 10 s); permission dialog answered %.1f s after "
                    + "it appeared (goal ≤ 30 s); silent hang flagged %.1f s after its last output with the threshold "
                    + "at %.0f s (goal: at the threshold, never before); actions on the healthy heartbeating agent: %d",
                deadSeconds, promptSeconds, hungSeconds, hungAfter, healthyActions)
        }
    }

    static let scenarios: [String: String] = [
        "dies": "echo 'about to fail'; [ -e \"$STAMP\" ] || date +%s%N > \"$STAMP\"; exit 3",
        "prompt": """
            echo "● Bash(make test)"
            echo "╭──────────────────────────────────────────────────────────────╮"
            echo "│ Bash command                                                 │"
            echo "│   make test                                                  │"
            echo "│ Do you want to proceed?                                      │"
            echo "│ ❯ 1. Yes                                                     │"
            echo "│   2. No, and tell Claude what to do differently (esc)        │"
            echo "╰──────────────────────────────────────────────────────────────╯"
            [ -e "$STAMP" ] || date +%s%N > "$STAMP"
            read answer
            echo "approved"
            exec sleep 600
            """,
        "hangs": "echo 'working on it'; [ -e \"$STAMP\" ] || date +%s%N > \"$STAMP\"; exec sleep 600",
        "healthy": """
            echo "running the gate (a long silent test run)"
            [ -e "$STAMP" ] || date +%s%N > "$STAMP"
            while true; do gt heartbeat -m gate >/dev/null 2>&1; sleep 1; done
            """,
    ]

    /// Slings one bead per scenario and waits for the Witness's `witness` events (up to `hungAfter` + 60 s).
    public static func detection(hungAfter: Double = 20) async throws -> Detection {
        try await TownBenchmarks.withTown(name: "bench-health") { town in
            try await town.run(["cluster", "init", "--name", "bench"])
            try town.directory.write(
                "town/settings/health.json", "{\"hung_after\": \(hungAfter), \"heartbeat_validity\": \(hungAfter)}")
            try await town.run(["up", "--listen", "127.0.0.1:0"])
            town.nodePID = town.directory.read("town/.gt/node.pid").flatMap {
                Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            for (name, body) in scenarios { try town.directory.write("\(name).sh", body + "\n") }
            let dispatch = town.directory.join("agent.sh")
            try town.directory.write(
                "agent.sh",
                "STAMP=\"\(town.directory.path)/stamp-$GT_BEAD_TITLE\"; export STAMP\n"
                    + ". \"\(town.directory.path)/$GT_BEAD_TITLE.sh\"\n")
            try await town.run([
                "rig", "add", "demo", town.source, "--runtime", "exec:'sh \(dispatch)'", "--max-polecats", "4",
            ])
            var polecats: [String: String] = [:]
            for name in scenarios.keys.sorted() {
                let bead = try await town.createBead(name)
                let output = try await BuiltBinaries.run(.gt, ["--town", town.town, "sling", bead, "demo", "--json"])
                guard output.status == 0,
                    let object = try? JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any],
                    let polecat = object["polecat"] as? String
                else { throw TownBenchmarks.BenchmarkFailure(message: "gt sling \(name): \(output)") }
                polecats[name] = "demo/polecats/" + polecat
            }
            let events = town.town + "/.gt/events.jsonl"
            func firstAction(_ name: String, _ matches: ([String: String]) -> Bool) -> Double? {
                TownEvents.read(events).first { $0["type"] == "witness" && $0["agent"] == polecats[name] && matches($0) }
                    .flatMap { $0["ts"] }.flatMap(parseTimestamp)
            }
            func stamp(_ name: String) -> Double? {
                town.directory.read("stamp-\(name)").flatMap {
                    Double($0.trimmingCharacters(in: .whitespacesAndNewlines))
                }.map { $0 / 1e9 }
            }
            var dead: Double?
            var prompt: Double?
            var hung: Double?
            let deadline = Date().addingTimeInterval(hungAfter + 60)
            while Date() < deadline && (dead == nil || prompt == nil || hung == nil) {
                try await Task.sleep(for: .milliseconds(200))
                dead = dead ?? firstAction("dies") { $0["state"] == "dead" || $0["state"] == "zombie" }
                prompt = prompt ?? firstAction("prompt") { $0["action"] == "dismiss-dialog" }
                hung = hung ?? firstAction("hangs") { $0["state"] == "hung" }
            }
            guard let dead, let prompt, let hung, let died = stamp("dies"), let shown = stamp("prompt"),
                let silent = stamp("hangs")
            else {
                throw TownBenchmarks.BenchmarkFailure(
                    message: "the Witness did not act on every failure in time (dead \(String(describing: dead)), "
                        + "prompt \(String(describing: prompt)), hung \(String(describing: hung)))")
            }
            let healthy = TownEvents.read(events).filter {
                $0["type"] == "witness" && $0["agent"] == polecats["healthy"]
            }.count
            try? await town.run(["rig", "remove", "demo", "--force"])
            try? await town.run(["down"])
            return Detection(
                deadSeconds: dead - died, promptSeconds: prompt - shown, hungSeconds: hung - silent,
                hungAfter: hungAfter, healthyActions: healthy)
        }
    }

    /// An event's `ts` (RFC 3339 with fractional seconds) as seconds since 1970.
    static func parseTimestamp(_ text: String) -> Double? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)?.timeIntervalSince1970
    }
}
