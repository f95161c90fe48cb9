import Beads
import Foundation
import GasTownCLI
import GasTownTestKit
import Git
import Health
import Node
import Sessions
import Testing
import Town
import Transport
import Wire

/// A rig made with libgit2 in `<town>/demo/`: the shared bare repository (`.gt/` excluded, as `gt rig add`
/// does) with one commit on `main`, and polecat worktrees added on work branches of node `n1`.
struct DogRig {
    let layout: TownLayout
    let bare: GitRepository
    let base: GitOID
    static let signature = GitSignature(name: "t", email: "t@t", time: 1_700_000_000)

    init(_ directory: TempDir) async throws {
        layout = TownLayout(root: directory.join("town"))
        bare = try await GitRepository.create(at: layout.bareRepository("demo"), bare: true)
        try directory.write("town/demo/.repo.git/info/exclude", ".gt/\n")
        let tree = try await bare.writeTree(files: [
            "README.md": Data("hello\n".utf8), "gone.txt": Data("bye\n".utf8), "src/a.txt": Data("a\n".utf8),
        ])
        base = try await bare.commit(
            tree: tree, parents: [], message: "init", author: Self.signature, updateReference: "refs/heads/main")
    }

    /// Adds the worktree of `polecat` on the work branch for `bead`; with `hooked`, a hook file as `gt sling`
    /// writes it.
    @discardableResult
    func addPolecat(_ polecat: String, bead: String, hooked: Bool = true) async throws -> String {
        let path = layout.polecatWorktree("demo", polecat)
        let branch = Hook.branchName(node: "n1", polecat: polecat, bead: bead, epoch: 1)
        try FileManager.default.createDirectory(
            atPath: layout.polecatsDirectory("demo"), withIntermediateDirectories: true)
        try await bare.addWorktree(name: polecat, path: path, newBranch: branch, at: base)
        if hooked {
            try Hook(
                town: "town", rig: "demo", polecat: polecat, bead: bead, title: "t", epoch: 1, branch: branch,
                base: base.hex, node: "n1", runtime: "exec", sessionEpoch: 1, slungAt: "2026-01-01T00:00:00Z"
            ).write(worktree: path)
        }
        return path
    }
}

func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

struct CheckpointDogTests {
    @Test func checkpointSavesUncommittedWorkWithoutTouchingHeadIndexOrFiles() async throws {
        let directory = try TempDir(prefix: "gt-dog-checkpoint")
        let rig = try await DogRig(directory)
        let nux = try await rig.addPolecat("nux", bead: "dm-1")
        try await rig.addPolecat("ace", bead: "dm-2")  // working, clean: nothing to save
        let idle = try await rig.addPolecat("idle", bead: "dm-3", hooked: false)  // not working
        try "dirty but idle\n".write(toFile: idle + "/README.md", atomically: true, encoding: .utf8)

        try "hello, changed\n".write(toFile: nux + "/README.md", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: nux + "/gone.txt")
        try FileManager.default.createDirectory(atPath: nux + "/new", withIntermediateDirectories: true)
        try "brand new\n".write(toFile: nux + "/new/file.txt", atomically: true, encoding: .utf8)

        let admin = rig.layout.bareRepository("demo") + "/worktrees/nux"
        let headBefore = bytes(admin + "/HEAD")
        let indexBefore = bytes(admin + "/index")
        #expect(indexBefore != nil)
        let filesBefore = FileTreeDigest(nux)
        let worktree = try await GitRepository.open(at: nux)
        let statusBefore = try await worktree.dirtyFiles()
        #expect(statusBefore.map(\.path) == ["README.md", "gone.txt", "new/file.txt"])
        let headCommit = try #require(try await worktree.resolve("HEAD"))

        let report = await CheckpointDog.run(layout: rig.layout, node: "n1", settings: DogSettings())
        #expect(report.failed.isEmpty)
        #expect(report.saved == ["demo/nux"])

        // Nothing of the worktree moved: HEAD, the index file, the files, their status.
        #expect(bytes(admin + "/HEAD") == headBefore)
        #expect(bytes(admin + "/index") == indexBefore)
        #expect(FileTreeDigest(nux).differences(from: filesBefore).isEmpty)
        #expect(try await worktree.dirtyFiles() == statusBefore)
        #expect(try await worktree.resolve("HEAD") == headCommit)

        // The checkpoint holds the uncommitted content, not the workflow files, on top of HEAD.
        let reference = "refs/gt/checkpoints/nux"
        let first = try #require(try await rig.bare.referenceTarget(reference))
        #expect(try await rig.bare.readFile("README.md", at: first.hex) == Data("hello, changed\n".utf8))
        #expect(try await rig.bare.readFile("gone.txt", at: first.hex) == nil)
        #expect(try await rig.bare.readFile("new/file.txt", at: first.hex) == Data("brand new\n".utf8))
        #expect(try await rig.bare.readFile("src/a.txt", at: first.hex) == Data("a\n".utf8))
        #expect(try await rig.bare.listFiles(at: first.hex).allSatisfy { !$0.hasPrefix(".gt/") })
        #expect(try await rig.bare.commitInfo(first.hex).parents == [headCommit])
        #expect(try await rig.bare.referenceTarget("refs/gt/checkpoints/ace") == nil)
        #expect(try await rig.bare.referenceTarget("refs/gt/checkpoints/idle") == nil)

        // Nothing new: no new commit. New work: the next checkpoint's parent is the previous one.
        let again = await CheckpointDog.run(layout: rig.layout, node: "n1", settings: DogSettings())
        #expect(again.saved.isEmpty && again.unchanged == ["demo/nux"])
        #expect(try await rig.bare.referenceTarget(reference) == first)
        try "more\n".write(toFile: nux + "/new/file.txt", atomically: true, encoding: .utf8)
        let third = await CheckpointDog.run(layout: rig.layout, node: "n1", settings: DogSettings())
        #expect(third.saved == ["demo/nux"])
        let second = try #require(try await rig.bare.referenceTarget(reference))
        #expect(second != first)
        #expect(try await rig.bare.commitInfo(second.hex).parents == [first])
        #expect(try await rig.bare.readFile("new/file.txt", at: second.hex) == Data("more\n".utf8))
        #expect(bytes(admin + "/index") == indexBefore)
        #expect(bytes(admin + "/HEAD") == headBefore)
    }
}

struct CleanupDogTests {
    @Test func cleanupRemovesOnlyFinishedCleanWorktreesWithoutSessionsAndMergedBranches() async throws {
        let directory = try TempDir(prefix: "gt-dog-cleanup")
        let rig = try await DogRig(directory)
        let done = try await rig.addPolecat("done", bead: "dm-1")
        let dirty = try await rig.addPolecat("dirty", bead: "dm-2")
        let live = try await rig.addPolecat("live", bead: "dm-3")
        let open = try await rig.addPolecat("open", bead: "dm-4")
        try "not committed\n".write(toFile: dirty + "/extra.txt", atomically: true, encoding: .utf8)
        try await rig.bare.createBranch("polecat/n1/old/dm-5/e1", at: rig.base)  // merged, no worktree
        try await rig.bare.createBranch("polecat/n1/old/dm-6/e1", at: rig.base)  // bead still open
        try await rig.bare.createBranch("polecat/n2/old/dm-5/e1", at: rig.base)  // another node's
        _ = await CheckpointDog.run(layout: rig.layout, node: "n1", settings: DogSettings())
        #expect(try await rig.bare.referenceTarget("refs/gt/checkpoints/dirty") != nil)
        _ = try await rig.bare.updateReference("refs/gt/checkpoints/done", to: rig.base, expecting: nil)
        let finished: Set<String> = ["dm-1", "dm-2", "dm-3", "dm-5"]

        // Within a large budget finished worktrees stay; merged branches without a worktree go.
        let roomy = try await CleanupDog.run(
            layout: rig.layout, node: "n1", budget: 1 << 40, finished: { $0.intersection(finished) },
            liveSessions: { ["demo/live"] })
        #expect(roomy.failed.isEmpty)
        #expect(roomy.removed.isEmpty)
        #expect(roomy.deletedBranches == ["demo:polecat/n1/old/dm-5/e1"])
        #expect(FileManager.default.fileExists(atPath: done))

        // Over budget (0: no room): only the finished, clean worktree without a session goes, with its branch and
        // checkpoint; the dirty one, the live one and the unfinished one stay.
        let tight = try await CleanupDog.run(
            layout: rig.layout, node: "n1", budget: 0, finished: { $0.intersection(finished) },
            liveSessions: { ["demo/live"] })
        #expect(tight.failed.isEmpty)
        #expect(tight.removed == ["demo/done"])
        #expect(tight.deletedBranches == ["demo:polecat/n1/done/dm-1/e1"])
        #expect(!FileManager.default.fileExists(atPath: done))
        for kept in [dirty, live, open] { #expect(FileManager.default.fileExists(atPath: kept + "/README.md")) }
        #expect(FileManager.default.fileExists(atPath: dirty + "/extra.txt"))
        #expect(try await rig.bare.worktrees().map(\.name) == ["dirty", "live", "open"])
        let branches = Set(try await rig.bare.branches(.local).map(\.name))
        #expect(
            branches == [
                "main", "polecat/n1/dirty/dm-2/e1", "polecat/n1/live/dm-3/e1", "polecat/n1/open/dm-4/e1",
                "polecat/n1/old/dm-6/e1", "polecat/n2/old/dm-5/e1",
            ])
        #expect(try await rig.bare.referenceTarget("refs/gt/checkpoints/done") == nil)
        #expect(try await rig.bare.referenceTarget("refs/gt/checkpoints/dirty") != nil)
        #expect(tight.plan.stillOverBudget)
    }

    @Test func cleanupPlanRemovesOldestFinishedFirstUntilWithinBudget() {
        func facts(_ name: String, bytes: Int64, at: Double, finished: Bool = true) -> WorktreeFacts {
            WorktreeFacts(
                rig: "r", polecat: name, path: "/t/r/polecats/\(name)", branch: "polecat/n/\(name)/b-\(name)/e1",
                bytes: bytes, lastChange: at, finished: finished, dirty: false, sessionLive: false)
        }
        let plan = CleanupPlan(
            worktrees: [
                facts("new", bytes: 50, at: 30), facts("old", bytes: 50, at: 10), facts("mid", bytes: 50, at: 20),
                facts("busy", bytes: 100, at: 1, finished: false),
            ],
            branches: [
                BranchFacts(
                    rig: "r", name: "polecat/n/old/b-old/e1", finished: true, checkedOutAt: "/t/r/polecats/old"),
                BranchFacts(
                    rig: "r", name: "polecat/n/new/b-new/e1", finished: true, checkedOutAt: "/t/r/polecats/new"),
            ], budget: 200)
        #expect(plan.bytesBefore == 250)
        #expect(plan.removeWorktrees.map(\.polecat) == ["old"])
        #expect(plan.bytesAfter == 200 && !plan.stillOverBudget)
        #expect(plan.deleteBranches.map(\.name) == ["polecat/n/old/b-old/e1"])
        #expect(BranchFacts.bead(ofBranch: "polecat/n1/nux/dm-7/e3") == "dm-7")
        #expect(BranchFacts.bead(ofBranch: "main") == nil)
    }
}

/// A component whose every start fails.
final class AlwaysFailing: NodeComponent, @unchecked Sendable {
    struct Broken: Error, CustomStringConvertible { var description: String { "cannot open its database" } }
    let name = "failing"
    private let lock = NSLock()
    private var count = 0
    var starts: Int { lock.withLock { count } }
    func start(in context: NodeContext) async throws {
        lock.withLock { count += 1 }
        throw Broken()
    }
}

/// Makes an installed town (ledger, mailboxes) with a cluster identity for node `name`.
func makeInstalledTown(_ directory: TempDir, name: String) throws -> TownPaths {
    let root = directory.join(name)
    _ = try TownInstaller(directory: root, name: name, owner: nil, createdAt: "2026-01-01T00:00:00Z").install()
    let town = TownPaths(root: root)
    try PKI.initCluster(at: town.pki, clusterName: "test", nodeName: try NodeName(name))
    return town
}

struct DeaconNodeTests {
    @Test func aComponentFailingAgainAndAgainIsGivenUpWithOneEscalation() async throws {
        let directory = try TempDir(prefix: "gt-deacon-giveup")
        let town = try makeInstalledTown(directory, name: "giveup")
        var settings = NodeSettings()
        settings.supervisor.initialBackoff = 0.01
        settings.supervisor.maxBackoff = 0.02
        settings.deacon.giveUpAfter = 4
        let failing = AlwaysFailing()
        let node = Node(
            town: town.root, options: NodeOptions(listen: "127.0.0.1:0", settings: settings, components: [failing]))
        try await node.start()
        let events = { TownEvents.read(town.eventsFile) }
        #expect(await eventually(10) { events().contains { $0["type"] == "component_gave_up" } })
        // Given up: not started again, and the escalation was mailed once.
        try await Task.sleep(nanoseconds: 300_000_000)
        #expect(failing.starts == 4)
        let client = try await NodeClient.connect(town)
        let status = try await client.request(NodeMessageType.status, EmptyBody(), as: NodeStatus.self)
        client.close()
        #expect(status.components.first { $0.name == "failing" }?.state == "gave-up")
        let workflow = try await TownWorkflow(layout: TownLayout(root: town.root), actor: "test", gtExecutable: "gt")
        #expect(await eventually(10) { events().contains { $0["type"] == "escalation" } })
        await node.shutdown()
        let all = events()
        #expect(all.filter { $0["type"] == "component_gave_up" }.count == 1)
        #expect(all.filter { $0["type"] == "deacon_escalation" }.map { $0["cause"] } == ["actor-gave-up:failing:4"])
        #expect(all.filter { $0["type"] == "escalation" }.count == 1)
        #expect(all.filter { $0["type"] == "component_failed" }.count == 3)
        let mail = try await workflow.inbox(for: "mayor/", all: true).filter { $0.from == "deacon" }
        #expect(mail.count == 1)
        #expect(mail.first?.subject.contains("failing failed 4 times in a row") == true)
        #expect(mail.first?.body.contains("cannot open its database") == true)
        let log = try String(contentsOfFile: town.logFile, encoding: .utf8)
        #expect(log.contains("component given up"))
        #expect(log.contains("Deacon escalation"))
    }

    @Test func theNodeRestartsAStalledDeaconAndLeavesABeatingOneAlone() async throws {
        let directory = try TempDir(prefix: "gt-deacon-stall")
        let town = try makeTown(directory, name: "stall")
        var settings = NodeSettings()
        settings.deacon.staleAfter = 0.6
        settings.deaconTickInterval = 0.05
        settings.deaconWatchInterval = 0.1
        let node = Node(
            town: town.root, options: NodeOptions(listen: "127.0.0.1:0", settings: settings, components: []))
        try await node.start()
        let first = try #require(await node.currentDeacon)
        #expect(first.generation == 1)
        // Beating: left alone well past `stale_after`.
        try await Task.sleep(nanoseconds: 1_500_000_000)
        #expect(await node.currentDeacon?.generation == 1)
        #expect(!first.isStale())

        await first.stallForTesting()
        #expect(await eventually(10) { await node.currentDeacon?.generation == 2 })
        let second = try #require(await node.currentDeacon)
        let beat = second.lastBeat
        #expect(await eventually(5) { second.lastBeat > beat })
        let stalledBeat = first.lastBeat
        try await Task.sleep(nanoseconds: 300_000_000)
        #expect(first.lastBeat == stalledBeat, "the stalled Deacon was cancelled")
        await node.shutdown()
        let restarts = TownEvents.read(town.eventsFile).filter { $0["type"] == "deacon_restarted" }
        #expect(restarts.map { $0["generation"] } == ["2"])
        let log = try String(contentsOfFile: town.logFile, encoding: .utf8)
        #expect(log.contains("the Deacon stopped beating; restarting it"))
    }
}

struct DeaconSettingsFileTests {
    @Test func settingsFileOverridesDefaultsAndRefusesTyposAndBadValues() throws {
        let good =
            #"{"give_up_after": 3, "stale_after": 10, "cleanup_disk_budget": 1024, "dogs": {"checkpoint": 60, "doctor": 0}}"#
        let (deacon, dogs) = try DeaconSettingsFile.parse(
            Data(good.utf8), file: "deacon.json", deacon: DeaconSettings(), dogs: DogSettings())
        #expect(deacon.giveUpAfter == 3 && deacon.staleAfter == 10)
        #expect(deacon.dogs["checkpoint"] == 60 && deacon.dogs["doctor"] == 0 && deacon.dogs["cleanup"] == 600)
        #expect(dogs.cleanupDiskBudget == 1024)
        #expect(DeaconCore(settings: deacon, now: 0).dogs["doctor"] == nil, "interval 0 stops the Dog")
        for (text, says) in [
            (#"{"give_up_afer": 3}"#, "unknown setting \"give_up_afer\""),
            (#"{"stale_after": "soon"}"#, "\"stale_after\" must be a number"),
            (#"{"dogs": {"fetch": 10}}"#, "there is no Dog \"fetch\""),
            (#"{"give_up_after": 2.5}"#, "must be a whole number"), ("[1]", "is not a JSON object"),
        ] {
            #expect(throws: TownError.self) {
                try DeaconSettingsFile.parse(
                    Data(text.utf8), file: "deacon.json", deacon: DeaconSettings(), dogs: DogSettings())
            }
            do {
                _ = try DeaconSettingsFile.parse(
                    Data(text.utf8), file: "deacon.json", deacon: DeaconSettings(), dogs: DogSettings())
            } catch {
                #expect(error.description.contains(says), "\(error.description)")
                #expect(error.description.contains("deacon.json"))
            }
        }
    }
}

struct DeaconPolicyTests {
    @Test func theDeaconCoreDecidesRestartDelaysAndGivesUpOnce() async throws {
        let directory = try TempDir(prefix: "gt-deacon-policy")
        let clock = ManualClock()
        let sink = EventSink()
        let log = NodeLogger(label: "test", path: directory.join("node.log"))
        let events = EventLog(path: directory.join("events.jsonl"), node: "test")
        var settings = DeaconSettings()
        settings.initialBackoff = 1
        settings.backoffMultiplier = 3
        settings.giveUpAfter = 3
        let escalations = DeaconEscalations(
            town: DeaconTown(layout: TownLayout(root: directory.join("no-town")), ledger: nil), log: log,
            events: events)
        let deacon = NodeDeacon(
            settings: settings, clock: clock, dogs: [], escalations: escalations, log: log, events: events)
        let supervisor = Supervisor(clock: clock, onEvent: sink.add)
        await supervisor.setPolicy(deacon)
        let flaky = Flaky(failFirst: 100)
        await supervisor.supervise("worker", body: { _ = try flaky.run() }, cleanup: { flaky.cleanup() })
        // The core's backoff (1 s, then ×3), not SupervisorSettings' 100 ms.
        #expect(await settle { sink.failures.count == 1 && clock.sleeping == 1 })
        clock.advance(by: 0.9)
        #expect(flaky.counts.runs == 1)
        clock.advance(by: 0.1)
        #expect(await settle { sink.failures.count == 2 && clock.sleeping == 1 })
        clock.advance(by: 3)
        #expect(await settle { await supervisor.status()[0].state == .gaveUp })
        let delays = sink.failures.compactMap { if case .failed(_, _, _, let delay) = $0 { delay } else { nil } }
        #expect(delays == [1, 3])
        #expect(sink.all.filter { if case .gaveUp = $0 { true } else { false } }.count == 1)
        clock.advance(by: 1000)
        try await Task.sleep(nanoseconds: 50_000_000)
        #expect(flaky.counts == (3, 3))
        let raised = await escalations.raised
        #expect(raised.map(\.cause) == ["actor-gave-up:worker:3"])
        #expect(raised.first?.category == .failed)
        #expect(await deacon.state.actors["worker"]?.gaveUp == true)
        events.flush()
        let recorded = TownEvents.read(directory.join("events.jsonl")).map { $0["type"] ?? "" }
        #expect(recorded.filter { $0 == "deacon_escalation" }.count == 1)
        // No town here: the mail could not be sent, and that is recorded rather than lost silently.
        #expect(recorded.contains("escalation_failed"))
        await supervisor.stopAll()
    }
}

struct LedgerSyncDogTests {
    @Test func theLedgerSyncDogKicksOnlyAnOverdueRemote() async throws {
        let directory = try TempDir(prefix: "gt-dog-sync")
        var settings = LedgerSyncLoopSettings()
        settings.pathInterval = .seconds(600)
        settings.notices = false
        let remote = try await LoopbackLedgerTown.bareRemote(directory)
        let town = try await LoopbackLedgerTown(directory, name: "a", remote: remote, settings: settings)
        do {
            #expect(
                await eventually(10) {
                    let status = await town.status
                    return status?.lastSuccessAt != nil && status?.state == "idle"
                })
            let before = try #require(await town.status)
            // Synced moments ago: the loop is on time, nothing to kick.
            #expect(try await LedgerSyncDog.run(town.sync, dogInterval: 30) == "")
            #expect(await town.status?.syncs == before.syncs)
            // Twice its interval later without a sync: kicked once.
            let late = Date().addingTimeInterval(1300)
            let did = try await LedgerSyncDog.run(town.sync, dogInterval: 30, now: late)
            #expect(did.contains("kicked the ledger sync with origin"), "\(did)")
            #expect(await town.status?.syncs == before.syncs + 1)
        } catch {
            Issue.record("\(error)")
        }
        await town.stop()
    }
}

struct CleanupDogTownTests {
    @Test func finishedBeadsComeFromTheLedgerAndLiveSessionsFromTheSessionDriver() async throws {
        let directory = try TempDir(prefix: "gt-dog-town")
        let town = try makeInstalledTown(directory, name: "dogs")
        let layout = TownLayout(root: town.root)
        try directory.write("dogs/.gt/session-driver", "process\n")
        let ledger = try await TownLedger.open(layout, actor: "test", wait: .seconds(5))
        for id in ["hq-merged", "hq-rejected", "hq-open"] {
            try await ledger.write(scope: "hq") { ledger, clock, actor throws(LedgerError) in
                var spec = NewBead(title: id)
                spec.explicitID = id
                return try ledger.prepareCreate(spec, actor: actor, stamp: clock.stamp, time: clock.time)
            }
        }
        try await ledger.batch(routing: "hq-merged") { _ throws(LedgerError) in
            [
                .setMetadata(id: "hq-merged", key: "merge_commit", value: .string("abc")),
                .close(id: "hq-merged", reason: "merged in abc"),
            ]
        }
        try await ledger.batch(routing: "hq-rejected") { _ throws(LedgerError) in
            [.close(id: "hq-rejected", reason: "rejected")]
        }
        await ledger.close()

        let deaconTown = DeaconTown(layout: layout, ledger: nil)
        let finished = try await CleanupDog.finishedBeads(
            ["hq-merged", "hq-rejected", "hq-open", "hq-missing"], town: deaconTown)
        #expect(finished == ["hq-merged"])

        // A real session (the process driver) of demo/live; none of demo/gone.
        let workflow = try await deaconTown.workflow()
        let name = SessionName(town: TownID(townRoot: town.root), rig: "demo", polecat: "live", epoch: 1)
        let started = try await workflow.sessions.start(
            SessionSpec(name: name, workingDirectory: directory.path, command: "sleep 30"))
        defer { kill(started.pid, SIGKILL) }
        #expect(try await CleanupDog.liveSessions(town: deaconTown) == ["demo/live"])
        _ = try await workflow.sessions.kill(name)
        #expect(await eventually(5) { (try? await CleanupDog.liveSessions(town: deaconTown)) == [] })
    }
}
