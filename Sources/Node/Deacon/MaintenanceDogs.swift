import Foundation
import Git
import LedgerStore
import Town

/// The `repack` Dog: packs the loose objects of the town's git repositories on this node (every rig's shared
/// repository `<town>/<rig>/.repo.git` and the ledger's sync repository `<town>/.beads/repo`) through libgit2's
/// packbuilder (`GitRepository.repack`: one new pack, then the loose objects and older packs it holds are
/// deleted). A repository with fewer than `repack_minimum_loose_objects` loose objects is left alone. A caseless
/// namespace.
public enum RepackDog {
    /// What one run did. `Sendable`: plain values.
    public struct Report: Sendable, Equatable {
        /// "<name>: <objects> objects, <loose> loose removed, <before> → <after> bytes" per repository packed.
        public var packed: [String] = []
        public var failed: [String] = []
        public init() {}
        /// One line for the `dog` event ("" when nothing was packed).
        public var summary: String { packed.isEmpty ? "" : "repacked " + packed.joined(separator: "; ") }
    }

    /// The repositories the Dog looks at: (name for messages, git directory), those that exist.
    static func repositories(_ layout: TownLayout) -> [(String, String)] {
        var out = PolecatWorktrees.rigs(layout).map { ($0, layout.bareRepository($0)) }
        let ledger = StoreLayout(beadsDirectory: layout.beadsDirectory).repoDirectory
        if FileManager.default.fileExists(atPath: ledger + "/HEAD") { out.append(("ledger", ledger)) }
        return out
    }

    /// The loose objects of the git directory `gitDirectory` (files under `objects/<two hex digits>/`).
    public static func looseObjects(_ gitDirectory: String) -> Int {
        let objects = gitDirectory + "/objects"
        let fm = FileManager.default
        var count = 0
        for name in (try? fm.contentsOfDirectory(atPath: objects)) ?? []
        where name.count == 2 && name.allSatisfy(\.isHexDigit) {
            count += ((try? fm.contentsOfDirectory(atPath: objects + "/" + name)) ?? []).count
        }
        return count
    }

    /// Runs once.
    public static func run(layout: TownLayout, minimumLooseObjects: Int) async -> Report {
        var report = Report()
        for (name, path) in repositories(layout) {
            let loose = await NodeBlocking.run { looseObjects(path) }
            guard loose > 0, loose >= minimumLooseObjects else { continue }
            do throws(GitError) {
                let repository = try await GitRepository.open(at: path)
                let result = try await repository.repack()
                report.packed.append(
                    "\(name): \(result.objects) objects, \(result.looseObjectsRemoved) loose removed, "
                        + "\(result.bytesBefore) → \(result.bytesAfter) bytes")
            } catch {
                report.failed.append("repack of \(name) (\(path)) failed: \(error)")
            }
        }
        return report
    }
}

/// The `compaction` Dog: writes a snapshot of the town ledger and drops the write-ahead-log segments it covers
/// (`LedgerDatabase.compact`), so a restart replays little even when the store's own thresholds
/// (`snapshotEveryRecords`, `snapshotEveryBytes`) are not reached for a long time. It runs only when this node
/// or a sync wrote to the ledger since its last run. A caseless namespace.
public enum CompactionDog {
    /// The WAL's next sequence at the last run (kept across runs of one Deacon). `Sendable`: an actor.
    public actor Memo {
        var lastWrites: UInt64?
        public init() {}
        func changed(to writes: UInt64) -> Bool {
            defer { lastWrites = writes }
            return lastWrites != writes
        }
    }

    /// Runs once; returns what it did ("" when nothing was written since the last run).
    public static func run(_ database: LedgerDatabase, memo: Memo) async throws -> String {
        guard await memo.changed(to: database.nextWALSequence) else { return "" }
        do throws(StoreError) {
            let position = try await database.compact()
            return "compacted the ledger: snapshot at record \(position.sequence)"
        } catch {
            throw DogFailure("ledger compaction failed: \(error)")
        }
    }
}
