import Foundation
import GasTownTestKit
import LedgerStore
import Testing

/// Readers (`StoreOpenMode.read`): a shared lock, no file created, removed, rewritten or touched, writes refused;
/// readers share the store with each other but never with the writer.
@Suite struct StoreReaderTests {
    @Test func readerChangesNoFileAndRefusesWrites() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            var settings = settings(segmentBytes: 300, snapshotEvery: 0)
            settings.snapshotEveryBytes = 0
            let store = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings)
            for index in 0..<40 { _ = try await store.append(Data("record-\(index)".utf8)) }
            await store.closeAsync()
            // Leftovers a writer's open would clean up or act on: a snapshot temp file, and (with a byte trigger)
            // enough log to make a writer snapshot at open.
            try Data("partial".utf8).write(to: URL(fileURLWithPath: layout.snapshotDirectory + "/.snap.tmp-1-2"))
            settings.snapshotEveryBytes = 64
            let before = FileTreeDigest(layout.root)

            let reader = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings, mode: .read)
            #expect(reader.read(texts) == (0..<40).map { "record-\($0)" })
            #expect(!reader.isWritable && reader.nextSequence == 41)
            #expect(reader.readWithPosition { $1.sequence } == 40)
            await #expect(throws: StoreError.readOnly) { _ = try await reader.append(Data("no".utf8)) }
            #expect(throws: StoreError.readOnly) { _ = try reader.recordAbsorbedCommitSync("c") }
            await #expect(throws: StoreError.readOnly) { _ = try await reader.snapshot() }
            await reader.closeAsync()
            #expect(FileTreeDigest(layout.root).differences(from: before) == [])

            // The same open as a writer does change things (so the check above can fail).
            let writer = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings)
            await writer.closeAsync()
            #expect(!FileTreeDigest(layout.root).differences(from: before).isEmpty)
        }
    }

    @Test func readerOfAMissingStoreCreatesNothing() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            let reader = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings(), mode: .read)
            #expect(reader.read { $0.records.isEmpty } && reader.nextSequence == 1)
            await reader.closeAsync()
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == [])
        }
    }

    @Test func readersShareTheLockAndExcludeTheWriter() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            let store = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
            _ = try await store.append(Data("a".utf8))

            // A writer holds it: a reader waits its bound, then is told who holds it.
            do throws(StoreError) {
                _ = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings(), mode: .read)
                Issue.record("a reader opened while the writer held the lock")
            } catch {
                guard case .locked(_, let holder, _) = error else {
                    Issue.record("expected .locked, got \(error)")
                    return
                }
                #expect(holder.hasPrefix("pid=\(getpid())"))
            }
            await store.closeAsync()

            let first = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings(), mode: .read)
            let second = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings(), mode: .read)
            #expect(first.read(texts) == ["a"] && second.read(texts) == ["a"])
            do throws(StoreError) {
                _ = try await DurableStore<OpaqueRecordLog>.open(
                    layout, settings: settings(lockWait: .milliseconds(60)))
                Issue.record("a writer opened while readers held the lock")
            } catch {
                guard case .locked(_, let holder, _) = error else {
                    Issue.record("expected .locked, got \(error)")
                    return
                }
                #expect(holder.isEmpty)
                #expect(error.description.contains("a reader such as bd list"))
            }
            await first.closeAsync()
            await second.closeAsync()
            let writer = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
            await writer.closeAsync()
        }
    }
}
