import Foundation
import GasTownTestKit
import Git
import Health
import LedgerStore
import Node
import Testing
import Town

/// The `repack` and `compaction` Dogs (docs/health.md) on real git repositories and a real ledger store; the
/// `cert-renewal` Dog is in `RenewalTests`. A second or two.
@Suite struct MaintenanceDogsTests {
    @Test func repackPacksLooseObjectsOfTheRigsAndTheLedgerRepositoryAndLeavesFewAlone() async throws {
        let directory = try TempDir(prefix: "gt-dog-repack")
        let rig = try await DogRig(directory)
        for i in 0..<20 { _ = try await rig.bare.writeBlob(Data("loose \(i)\n".utf8)) }
        let ledgerPath = StoreLayout(beadsDirectory: rig.layout.beadsDirectory).repoDirectory
        let ledger = try await GitRepository.create(at: ledgerPath, bare: true, initialHead: "sync")
        let blob = try await ledger.writeBlob(Data("ledger line\n".utf8))
        let rigPath = rig.layout.bareRepository("demo")
        let looseBefore = RepackDog.looseObjects(rigPath)
        #expect(looseBefore >= 24, "20 blobs and the commit's objects are loose: \(looseBefore)")
        #expect(RepackDog.looseObjects(ledgerPath) == 1)

        // Below the threshold: nothing is touched.
        let idle = await RepackDog.run(layout: rig.layout, minimumLooseObjects: 1000)
        #expect(idle == RepackDog.Report() && idle.summary == "")
        #expect(RepackDog.looseObjects(rigPath) == looseBefore)

        let report = await RepackDog.run(layout: rig.layout, minimumLooseObjects: 1)
        #expect(report.failed.isEmpty, "\(report.failed)")
        #expect(report.packed.count == 2 && report.summary.hasPrefix("repacked demo: "), "\(report)")
        #expect(report.packed.last?.hasPrefix("ledger: ") == true, "\(report)")
        #expect(RepackDog.looseObjects(rigPath) == 0)
        let packs = try FileManager.default.contentsOfDirectory(atPath: rigPath + "/objects/pack")
        #expect(packs.contains { $0.hasSuffix(".pack") } && packs.contains { $0.hasSuffix(".idx") })
        // Everything reachable is still readable: the commit, and (the ledger's blob is unreferenced) nothing lost
        // that a reference holds.
        let reopened = try await GitRepository.open(at: rigPath)
        #expect(try await reopened.resolve("refs/heads/main") == rig.base)
        #expect(try await reopened.readFile("README.md", at: "refs/heads/main") == Data("hello\n".utf8))
        _ = blob
        // Nothing loose any more: the next run does nothing.
        #expect(await RepackDog.run(layout: rig.layout, minimumLooseObjects: 1).summary == "")
    }

    @Test func compactionSnapshotsTheLedgerOnlyWhenThisNodeWroteSinceItsLastRun() async throws {
        let directory = try TempDir(prefix: "gt-dog-compact")
        let layout = StoreLayout(beadsDirectory: directory.join("town/.beads"))
        try FileManager.default.createDirectory(atPath: layout.root, withIntermediateDirectories: true)
        let database = try LedgerDatabase.initialize(layout, prefix: "hq")
        defer { database.close() }
        try database.addScope("demo")
        let memo = CompactionDog.Memo()
        func snapshots() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: layout.snapshotDirectory)) ?? []).filter {
                $0.hasSuffix(".snap")
            }
        }
        let before = snapshots().count
        let first = try await CompactionDog.run(database, memo: memo)
        #expect(first.hasPrefix("compacted the ledger: snapshot at record "), "\(first)")
        #expect(snapshots().count == before + 1)
        #expect(try await CompactionDog.run(database, memo: memo) == "", "nothing written since: no snapshot")
        #expect(snapshots().count == before + 1)
        try database.addScope("other")
        #expect(try await CompactionDog.run(database, memo: memo) != "")
        // The store reopens from the snapshot with every scope.
        database.close()
        let reopened = try LedgerDatabase.open(layout)
        defer { reopened.close() }
        #expect(reopened.read { Set($0.scopes.keys) }.isSuperset(of: ["demo", "other"]))
    }

    @Test func theNewDogsHaveSchedulesAndTheSettingsFileReadsTheirKnob() throws {
        let defaults = DeaconSettings().dogs
        #expect(defaults["repack"] == 3600 && defaults["compaction"] == 3600 && defaults["cert-renewal"] == 3600)
        let text = #"{"repack_minimum_loose_objects": 10, "dogs": {"repack": 60, "compaction": 0, "cert-renewal": 600}}"#
        let (deacon, dogs) = try DeaconSettingsFile.parse(
            Data(text.utf8), file: "deacon.json", deacon: DeaconSettings(), dogs: DogSettings())
        #expect(dogs.repackMinimumLooseObjects == 10 && DogSettings().repackMinimumLooseObjects == 256)
        #expect(deacon.dogs["repack"] == 60 && deacon.dogs["compaction"] == 0 && deacon.dogs["cert-renewal"] == 600)
        #expect(throws: TownError.self) {
            try DeaconSettingsFile.parse(
                Data(#"{"repack_minimum_loose_objects": "many"}"#.utf8), file: "deacon.json",
                deacon: DeaconSettings(), dogs: DogSettings())
        }
    }
}
