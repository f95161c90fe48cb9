import Beads
import Foundation
import Node
import Scheduling
import Testing
import Town

/// The pure parts of the town workflow: `gt done`'s state machine, derived IDs, runtimes, names, addresses.
struct TownCoreTests {
    static let hook = Hook(
        town: "/t", rig: "demo", polecat: "nux", bead: "demo-abc", title: "Fix", epoch: 3,
        branch: "polecat/n1/nux/demo-abc/e3", base: "00", node: "n1", runtime: "exec:'true'", sessionEpoch: 1,
        slungAt: "2026-01-01T00:00:00Z")

    @Test func doneStepsRunInOrderAndRecordOnce() {
        var progress = DoneProgress(hook: TownCoreTests.hook, commit: "abc123", prefix: "demo")
        #expect(progress.next == .push)
        progress.complete(.releaseHook)
        #expect(progress.completed.isEmpty, "a step out of order is not recorded")
        for step in DoneProgress.Step.allCases {
            #expect(progress.next == step)
            progress.complete(step)
            progress.complete(step)
        }
        #expect(progress.isFinished && progress.next == nil)
        #expect(progress.completed == DoneProgress.Step.allCases)
    }

    @Test func doneProgressSurvivesAJSONRoundTripAtEveryStep() throws {
        var progress = DoneProgress(hook: TownCoreTests.hook, commit: "abc123", prefix: "demo")
        while true {
            let decoded = try JSONDecoder().decode(DoneProgress.self, from: JSONEncoder().encode(progress))
            #expect(decoded == progress)
            guard let step = progress.next else { break }
            progress.complete(step)
        }
    }

    @Test func mergeRequestIDIsDerivedFromBeadEpochAndCommit() {
        let id = DoneProgress.mergeRequestID(prefix: "demo", bead: "demo-abc", epoch: 3, commit: "c1")
        #expect(id == DoneProgress.mergeRequestID(prefix: "demo", bead: "demo-abc", epoch: 3, commit: "c1"))
        #expect(id.hasPrefix("demo-mr-") && id.count == "demo-mr-".count + 10)
        #expect(id != DoneProgress.mergeRequestID(prefix: "demo", bead: "demo-abc", epoch: 4, commit: "c1"))
        #expect(id != DoneProgress.mergeRequestID(prefix: "demo", bead: "demo-abc", epoch: 3, commit: "c2"))
        #expect(id != DoneProgress.mergeRequestID(prefix: "demo", bead: "demo-abd", epoch: 3, commit: "c1"))
        #expect(
            DoneProgress(hook: TownCoreTests.hook, commit: "c1", prefix: "demo").mergeRequest
                == DoneProgress.mergeRequestID(prefix: "demo", bead: "demo-abc", epoch: 3, commit: "c1"))
    }

    @Test func namesAndAddresses() {
        for good in ["demo", "web-app", "r2", "a_b", "0day"] { #expect(TownNames.isValid(good), "\(good)") }
        for bad in ["", "Demo", "-x", "_x", "a b", "a/b", "a.b", String(repeating: "a", count: 41), "é"] {
            #expect(!TownNames.isValid(bad), "\(bad)")
        }
        #expect(AgentAddress.polecat("demo/polecats/nux")! == ("demo", "nux"))
        #expect(AgentAddress.polecat("demo/nux")! == ("demo", "nux"))
        #expect(AgentAddress.polecat("demo/witness") == nil)
        #expect(AgentAddress.polecat("mayor/") == nil)
        #expect(AgentAddress.canonical("demo/nux") == "demo/polecats/nux")
        #expect(AgentAddress.canonical("overseer") == "overseer")
        #expect(AgentAddress.canonical("mayor") == "mayor/" && AgentAddress.polecat("mayor/x") == nil)
        #expect(AgentAddress.polecat("demo/polecats") == nil)
        let fromRole: [([String: String], String?)] = [
            (["GT_ROLE": "demo/polecats/nux"], "demo/polecats/nux"), (["GT_ROLE": "demo/nux"], "demo/polecats/nux"),
            (["GT_ROLE": "polecat", "GT_RIG": "demo", "GT_POLECAT": "nux"], "demo/polecats/nux"),
            (["GT_ROLE": "polecat", "GT_RIG": "demo"], nil),
            (["GT_ROLE": "crew", "GT_RIG": "demo", "GT_CREW": "al"], "demo/crew/al"),
            (["GT_ROLE": "witness", "GT_RIG": "demo"], "demo/witness"), (["GT_ROLE": "mayor"], "mayor/"),
            (["GT_RIG": "demo", "GT_POLECAT": "nux"], nil), (["GT_ROLE": "polecat"], nil),
        ]
        for (environment, address) in fromRole {
            #expect(AgentAddress.fromEnvironment(environment) == address, "\(environment)")
        }
        #expect(Hook.branchName(node: "n1", polecat: "nux", bead: "demo-abc", epoch: 3) == "polecat/n1/nux/demo-abc/e3")
        let session = PolecatState(rig: "demo", name: "nux").sessionName(townRoot: "/tmp/some-town")
        #expect(session.rendered == "gt-\(TownLayout(root: "/tmp/some-town").hostID)-demo-nux-e0")
        #expect(TownWorkflow.defaultPrefix(rig: "gastown") == "gast")
        #expect(TownWorkflow.defaultPrefix(rig: "hq") == "hqr")
        #expect(TownWorkflow.defaultPrefix(rig: "2d-game") == "r2dg")
        #expect(BeadID.isValidPrefix(TownWorkflow.defaultPrefix(rig: "0day")))
    }

    @Test func polecatStateRoundTripsThroughAnAgentBead() {
        var state = PolecatState(rig: "demo", name: "nux")
        state.state = "working"
        state.hookBead = "demo-abc"
        state.hookEpoch = 4
        state.sessionEpoch = 7
        state.completed = 12
        state.merges = 3
        state.failures = 1
        state.restarts = 2
        state.runtime = "exec:'x'"
        var bead = Bead(id: "demo-demo-polecat-nux", title: "p", createdAt: Timestamp(unixNanos: 0))
        bead.metadata = [JSONMember(PolecatState.metadataKey, state.json)]
        #expect(PolecatState(bead: bead) == state)
        bead.metadata = []
        #expect(PolecatState(bead: bead) == nil)
        bead.metadata = [JSONMember(PolecatState.metadataKey, .string("garbage"))]
        #expect(PolecatState(bead: bead) == nil)
        // With a per-label record.
        state.count(.merge, labels: ["skill:swift", "gt:rework"], runtime: "exec:'x'")
        state.count(.rework, labels: ["skill:swift"], runtime: "codex")
        bead.metadata = [JSONMember(PolecatState.metadataKey, state.json)]
        #expect(PolecatState(bead: bead) == state)
    }

    @Test func theCVCountsEachOutcomePerLabelAndRuntime() throws {
        var state = PolecatState(rig: "demo", name: "nux")
        state.count(.merge, labels: ["skill:swift", "gt:agent"], runtime: "claude")
        state.count(.merge, labels: ["skill:swift", "area:ui"], runtime: "claude")
        state.count(.failure, labels: ["skill:swift"], runtime: "exec:'sh a.sh'")
        state.count(.rework, labels: [], runtime: "codex")
        #expect((state.merges, state.failures, state.rework) == (2, 1, 1))
        #expect(
            state.record == [
                PolecatCVEntry(label: "*", runtime: "claude", merges: 2),
                PolecatCVEntry(label: "*", runtime: "codex", rework: 1),
                PolecatCVEntry(label: "*", runtime: "exec", failures: 1),
                PolecatCVEntry(label: "area:ui", runtime: "claude", merges: 1),
                PolecatCVEntry(label: "skill:swift", runtime: "claude", merges: 2),
                PolecatCVEntry(label: "skill:swift", runtime: "exec", failures: 1),
            ])
        #expect(state.entry(runtime: "claude")?.placementRecord == Placement.Record(merges: 2))
        // Codable (gt polecat --json) round trip.
        let data = try JSONEncoder().encode(state)
        #expect(try JSONDecoder().decode(PolecatState.self, from: data) == state)
    }

    /// The CV has its own metadata key, merged apart from the assignment: a count written on another node from an
    /// older copy (still idle) leaves the hook the polecat's own node wrote meanwhile, and wins for the CV.
    @Test func aCVCountFromAnotherNodeKeepsTheAssignment() throws {
        var stale = PolecatState(rig: "demo", name: "alpha-nux")
        stale.count(.merge, labels: ["skill:swift"], runtime: "claude")
        var hooked = stale
        hooked.state = "working"
        hooked.hookBead = "demo-x1"
        hooked.hookEpoch = 1
        stale.count(.merge, labels: ["skill:swift"], runtime: "claude")
        var bead = Bead(id: "demo-demo-polecat-alpha-nux", title: "p", createdAt: Timestamp(unixNanos: 0))
        bead.metadata = [
            JSONMember(PolecatState.metadataKey, hooked.json), JSONMember(PolecatState.cvMetadataKey, stale.cvJSON),
        ]
        let state = try #require(PolecatState(bead: bead))
        #expect((state.state, state.hookBead, state.hookEpoch) == ("working", "demo-x1", 1))
        #expect(state.merges == 2)
        #expect(state.entry(label: "skill:swift", runtime: "claude")?.merges == 2)
    }

    @Test func aCVWrittenBeforeRecordsStillReads() throws {
        // The agent-bead metadata of a polecat from before rework and record were kept.
        let old: JSONValue = .object([
            JSONMember("rig", .string("demo")), JSONMember("name", .string("nux")),
            JSONMember("state", .string("idle")), JSONMember("hook_bead", .string("")),
            JSONMember("hook_epoch", .int(3)), JSONMember("session_epoch", .int(5)),
            JSONMember("runtime", .string("claude")), JSONMember("restarts", .int(0)),
            JSONMember("completed", .int(4)), JSONMember("merges", .int(3)), JSONMember("failures", .int(1)),
        ])
        var bead = Bead(id: "demo-demo-polecat-nux", title: "p", createdAt: Timestamp(unixNanos: 0))
        bead.metadata = [JSONMember(PolecatState.metadataKey, old)]
        let state = try #require(PolecatState(bead: bead))
        #expect((state.merges, state.failures, state.rework, state.completed) == (3, 1, 0, 4))
        #expect(state.record.isEmpty)
        let json =
            #"{"rig":"demo","name":"nux","state":"idle","hook_bead":"","hook_epoch":3,"session_epoch":5,"#
            + #""runtime":"claude","restarts":0,"completed":4,"merges":3,"failures":1}"#
        let decoded = try JSONDecoder().decode(PolecatState.self, from: Data(json.utf8))
        #expect(decoded == state)
        // A damaged record entry is skipped, the rest kept.
        var damaged = state
        damaged.count(.merge, labels: ["skill:go"], runtime: "claude")
        guard case .object(var members) = damaged.json else {
            Issue.record("not an object")
            return
        }
        members.removeAll { $0.key == "record" }
        let garbage: [JSONValue] = [.string("garbage"), .object([JSONMember("label", .int(1))])]
        members.append(JSONMember("record", .array(garbage + (damaged.json["record"]?.arrayValue ?? []))))
        bead.metadata = [JSONMember(PolecatState.metadataKey, .object(members))]
        #expect(PolecatState(bead: bead)?.record == damaged.record)
    }

    /// Hook and progress files are outside bytes (an agent can write anything into its worktree): seeded random and
    /// mutated inputs must give a typed error or a value, never a crash.
    @Test func hookAndProgressDecodersSurviveFuzz() throws {
        var generator = SeededGenerator(seed: 0x7e57_7041)
        let valid = [
            try JSONEncoder().encode(TownCoreTests.hook),
            try JSONEncoder().encode(DoneProgress(hook: TownCoreTests.hook, commit: "c", prefix: "demo")),
        ]
        let directory = NSTemporaryDirectory() + "gt-hook-fuzz-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory + "/.gt", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var decodedSome = 0
        var refused = 0
        for round in 0..<2_000 {
            var bytes = Array(valid[round % 2])
            if round % 3 == 0 {
                bytes = (0..<Int(generator.next() % 200)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            } else {
                for _ in 0...(generator.next() % 6) where !bytes.isEmpty {
                    let index = Int(generator.next() % UInt64(bytes.count))
                    switch generator.next() % 3 {
                    case 0: bytes[index] = UInt8(truncatingIfNeeded: generator.next())
                    case 1: bytes.remove(at: index)
                    default: bytes.insert(UInt8(truncatingIfNeeded: generator.next()), at: index)
                    }
                }
            }
            if round % 100 == 0 {
                try Data(bytes).write(to: URL(fileURLWithPath: TownLayout.hookFile(worktree: directory)))
                _ = try? Hook.read(worktree: directory)
            }
            do {
                _ = try Hook.decode(Data(bytes), path: "hook.json")
                decodedSome += 1
            } catch {
                guard case .badHookFile = error else {
                    Issue.record("unexpected error \(error)")
                    continue
                }
                #expect(error.description.contains("re-sling"))
                refused += 1
            }
            _ = try? JSONDecoder().decode(DoneProgress.self, from: Data(bytes))
        }
        #expect(decodedSome > 0 && refused > 0)
    }
}

/// A small deterministic generator (SplitMix64) for fuzz inputs.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
