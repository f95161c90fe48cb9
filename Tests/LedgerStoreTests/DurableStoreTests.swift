import Foundation
import Testing

@testable import LedgerStore

@Suite struct DurableStoreTests {
    @Test func appendsSurviveReopenAndLayoutIsCreated() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            let store = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
            let first = try await store.append(Data("a".utf8))
            let second = try store.appendSync(Data("b".utf8))
            #expect(first.sequence == 1 && second.sequence == 2)
            let lockText = try String(contentsOfFile: layout.lockFile, encoding: .utf8)
            #expect(lockText.hasPrefix("pid=\(getpid()) command="))
            await store.closeAsync()
            #expect(try String(contentsOfFile: layout.lockFile, encoding: .utf8).isEmpty)
            var isDirectory: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: layout.walDirectory, isDirectory: &isDirectory))
            #expect(FileManager.default.fileExists(atPath: layout.snapshotDirectory))

            let reopened = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
            #expect(reopened.read(texts) == ["a", "b"])
            #expect(reopened.nextSequence == 3)
            #expect(try await reopened.append(Data("c".utf8)).sequence == 3)
            await reopened.closeAsync()
        }
    }

    @Test func secondOpenInTheSameProcessIsRefusedNamingTheHolder() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            let store = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings(), holder: "pid=1 x")
            await #expect(throws: StoreError.self) {
                _ = try await DurableStore<OpaqueRecordLog>.open(
                    layout, settings: settings(lockWait: .milliseconds(60)))
            }
            do throws(StoreError) {
                _ = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
            } catch {
                guard case .locked(let path, let holder, _) = error else {
                    Issue.record("expected .locked, got \(error)")
                    return
                }
                #expect(path == layout.lockFile && holder == "pid=1 x")
                #expect(error.description.contains("held by another writer (pid=1 x)"))
            }
            await store.closeAsync()
            let again = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
            await again.closeAsync()
        }
    }

    /// Group commit: many concurrent appends share fsyncs; every acknowledged record replays.
    @Test func concurrentAppendsShareFsyncs() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            let store = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
            let writers = 16
            let perWriter = 40
            let acknowledged = try await withThrowingTaskGroup(of: [String].self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        var done: [String] = []
                        for index in 0..<perWriter {
                            let name = "w\(writer)-\(index)"
                            _ = try await store.append(Data(name.utf8))
                            done.append(name)
                        }
                        return done
                    }
                }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
            let stats = store.statistics
            #expect(stats.records == writers * perWriter)
            #expect(stats.fsyncs < stats.records)
            #expect(stats.fsyncs >= 1)
            await store.closeAsync()
            let reopened = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
            #expect(Set(reopened.read(texts)) == Set(acknowledged))
            #expect(reopened.read(texts).count == writers * perWriter)
            await reopened.closeAsync()
        }
    }

    @Test func refusedRecordLeavesNoTrace() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            let store = try await DurableStore<StrictLog>.open(layout, settings: settings())
            _ = try await store.append(Data("good".utf8))
            await #expect(throws: StoreError.rejected(reason: "records starting with 'bad' are refused")) {
                _ = try await store.append(Data("bad one".utf8))
            }
            #expect(store.nextSequence == 2)
            var tooBig = settings()
            tooBig.maxRecordBytes = 64
            await store.closeAsync()
            let small = try await DurableStore<StrictLog>.open(layout, settings: tooBig)
            #expect(throws: StoreError.recordTooLarge(bytes: 100, limit: 55)) {
                _ = try small.appendSync(Data(repeating: 65, count: 100))
            }
            #expect(small.read { $0.records } == ["good"])
            await small.closeAsync()
            let reopened = try await DurableStore<StrictLog>.open(layout, settings: settings())
            #expect(reopened.read { $0.records } == ["good"])
            await reopened.closeAsync()
        }
    }

    @Test func transactReturnsResultAndLogsItsRecord() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            let store = try await DurableStore<StrictLog>.open(layout, settings: settings())
            let (count, position) = try await store.transact { (state: inout StrictLog) throws(StrictLog.Refused) in
                try? state.apply(record: Data("minted".utf8))
                return (Data("minted".utf8), state.records.count)
            }
            #expect(count == 1 && position.sequence == 1)
            await store.closeAsync()
            let reopened = try await DurableStore<StrictLog>.open(layout, settings: settings())
            #expect(reopened.read { $0.records } == ["minted"])
            await reopened.closeAsync()
        }
    }

    /// Truncate the WAL at every byte offset of the last record, as a crash during its write leaves it (the
    /// watermark still the one of the clean close before that write): every earlier record is kept, a writer cuts
    /// the rest, reports it and keeps the cut bytes aside, and the store accepts new records after the repair.
    @Test func tornTailAtEveryOffsetKeepsEarlierRecords() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            let store = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
            for name in ["first", "second", "third"] { _ = try await store.append(Data(name.utf8)) }
            await store.closeAsync()
            let watermark = try Data(contentsOf: URL(fileURLWithPath: layout.watermarkFile))
            let beforeLast = try Data(contentsOf: URL(fileURLWithPath: try segmentFiles(layout)[0])).count
            let writer = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
            _ = try await writer.append(Data("the last record".utf8))
            await writer.closeAsync()
            let segment = try segmentFiles(layout)[0]
            let full = try Data(contentsOf: URL(fileURLWithPath: segment))
            for cut in beforeLast..<full.count {
                try full.prefix(cut).write(to: URL(fileURLWithPath: segment))
                try watermark.write(to: URL(fileURLWithPath: layout.watermarkFile))
                let reopened = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
                #expect(reopened.read(texts) == ["first", "second", "third"], "cut at \(cut)")
                #expect(reopened.recovery.truncatedTailBytes == cut - beforeLast)
                #expect((reopened.recovery.tornTailReason != nil) == (cut > beforeLast))
                if cut > beforeLast {
                    let tail = try #require(reopened.recovery.tail)
                    #expect(tail.isCut && !tail.isSuspicious && tail.acknowledgedRecords == 0)
                    #expect(tail.validBytes == beforeLast && tail.firstMissing == 4)
                    let kept = try #require(tail.keptAt)
                    #expect(try Data(contentsOf: URL(fileURLWithPath: kept)) == full[beforeLast..<cut])
                    #expect(reopened.recovery.warnings.count == 1)
                } else {
                    #expect(reopened.recovery.tail == nil && reopened.recovery.warnings.isEmpty)
                }
                _ = try await reopened.append(Data("after".utf8))
                await reopened.closeAsync()
                let again = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
                #expect(again.read(texts) == ["first", "second", "third", "after"])
                #expect(again.recovery.tail == nil)
                await again.closeAsync()
            }
        }
    }

    @Test func corruptionInTheMiddleIsAClearError() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            let store = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
            for index in 0..<10 { _ = try await store.append(Data("record-\(index)".utf8)) }
            await store.closeAsync()
            let segment = try segmentFiles(layout)[0]
            var bytes = try Data(contentsOf: URL(fileURLWithPath: segment))
            let original = bytes
            let thirdRecord = WALFormat.headerSize + 2 * (WALFormat.frameSize + WALFormat.payloadPrefix + 8)
            bytes[thirdRecord + WALFormat.frameSize + WALFormat.payloadPrefix + 2] ^= 0x20
            try bytes.write(to: URL(fileURLWithPath: segment))
            do throws(StoreError) {
                _ = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
                Issue.record("a store with a corrupt record in the middle opened")
            } catch {
                guard case .corruptLog(let name, let offset, let reason) = error else {
                    Issue.record("expected .corruptLog, got \(error)")
                    return
                }
                #expect(name == (segment as NSString).lastPathComponent)
                #expect(offset == thirdRecord)
                #expect(reason.hasPrefix("checksum mismatch"))
                #expect(error.description.contains("restore .beads"))
            }
            let untouched = try Data(contentsOf: URL(fileURLWithPath: segment))
            #expect(untouched == bytes && untouched != original)
        }
    }

    /// Seeded random damage to a real store's only segment: opening either fails with a `StoreError` or yields
    /// every record (all but the last when the damage hit the last record, a torn tail); it never crashes and
    /// never silently drops a record from the middle.
    @Test(arguments: [7, 8, 9] as [UInt64])
    func randomDamageIsDetectedOrConfinedToTheTail(seed: UInt64) async throws {
        try await withTemporaryDirectory { dir in
            var random = SeededGenerator(seed: seed)
            let layout = StoreLayout(directory: dir)
            let store = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
            let originals = (0..<30).map { "record-\($0)-" + String(repeating: "z", count: $0 % 7) }
            for name in originals { _ = try await store.append(Data(name.utf8)) }
            await store.closeAsync()
            let segment = URL(fileURLWithPath: try segmentFiles(layout)[0])
            let pristine = try Data(contentsOf: segment)
            var outcomes = (errors: 0, torn: 0, intact: 0)
            for _ in 0..<60 {
                var bytes = pristine
                for _ in 0..<Int.random(in: 1...3, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= UInt8.random(in: 1...255, using: &random)
                }
                try bytes.write(to: segment)
                do throws(StoreError) {
                    let reopened = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
                    let stored = reopened.read(texts)
                    await reopened.closeAsync()
                    if stored == originals {
                        outcomes.intact += 1
                    } else {
                        #expect(stored == Array(originals.dropLast()), "records lost from the middle")
                        outcomes.torn += 1
                    }
                } catch {
                    #expect(!error.description.isEmpty)
                    outcomes.errors += 1
                }
            }
            #expect(outcomes.errors > 0)
        }
    }

    @Test func damagedClosedSegmentIsAnErrorNotATornTail() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            let store = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings(segmentBytes: 100))
            for index in 0..<20 { _ = try await store.append(Data("record-\(index)".utf8)) }
            await store.closeAsync()
            let segments = try segmentFiles(layout)
            #expect(segments.count > 2)
            let victim = URL(fileURLWithPath: segments[1])
            let bytes = try Data(contentsOf: victim)
            try bytes.prefix(bytes.count - 3).write(to: victim)
            await #expect(throws: StoreError.self) {
                _ = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
            }
            try FileManager.default.removeItem(at: victim)
            do throws(StoreError) {
                _ = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
                Issue.record("a store with a missing segment opened")
            } catch {
                guard case .sequenceGap = error else {
                    Issue.record("expected .sequenceGap, got \(error)")
                    return
                }
            }
        }
    }

    @Test func snapshotsBoundReplayCompactSegmentsAndFallBack() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            let store = try await DurableStore<OpaqueRecordLog>.open(
                layout, settings: settings(segmentBytes: 200, snapshotEvery: 25))
            for index in 0..<100 { _ = try await store.append(Data("record-\(index)".utf8)) }
            _ = try await store.recordAbsorbedCommit("commit-1")
            let covered = try await store.snapshot()
            #expect(covered.sequence == 101)
            let stats = store.statistics
            #expect(stats.snapshots == 5)
            #expect(stats.segmentsCompacted > 0)
            await store.closeAsync()
            let snapshots = try FileManager.default.contentsOfDirectory(atPath: layout.snapshotDirectory)
            #expect(snapshots.count == 2)

            let expected = (0..<100).map { "record-\($0)" }
            let reopened = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
            #expect(reopened.read(texts) == expected)
            #expect(reopened.recovery.snapshotSequence == 101)
            #expect(reopened.recovery.replayedRecords == 0)
            #expect(reopened.absorbedCommit == "commit-1")
            await reopened.closeAsync()

            // A damaged newest snapshot: the older one plus the segments kept for it rebuild the same state.
            let newest = layout.snapshotPath(coveredSequence: 101)
            var bytes = try Data(contentsOf: URL(fileURLWithPath: newest))
            bytes[bytes.count / 2] ^= 0xFF
            try bytes.write(to: URL(fileURLWithPath: newest))
            let fallback = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
            #expect(fallback.read(texts) == expected)
            #expect(fallback.recovery.skippedSnapshots.count == 1)
            #expect(fallback.recovery.snapshotSequence == 100)
            #expect(fallback.absorbedCommit == "commit-1")
            await fallback.closeAsync()
        }
    }

    @Test func absorbedCommitIsReplayedFromTheLog() async throws {
        try await withTemporaryDirectory { dir in
            let layout = StoreLayout(directory: dir)
            let store = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
            #expect(store.absorbedCommit == nil)
            _ = try await store.recordAbsorbedCommit("aaa")
            _ = try await store.append(Data("x".utf8))
            _ = try store.recordAbsorbedCommitSync("bbb")
            await store.closeAsync()
            let reopened = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings())
            #expect(reopened.absorbedCommit == "bbb")
            #expect(reopened.read(texts) == ["x"])
            await reopened.closeAsync()
        }
    }

    @Test func closedStoreRefusesWrites() async throws {
        try await withTemporaryDirectory { dir in
            let store = try await DurableStore<OpaqueRecordLog>.open(StoreLayout(directory: dir), settings: settings())
            await store.closeAsync()
            await #expect(throws: StoreError.closed) { _ = try await store.append(Data("late".utf8)) }
        }
    }

    @Test func atomicFileReplacesWholeFiles() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/issues.jsonl"
            try AtomicFile.write(Array("one\n".utf8), to: path)
            try AtomicFile.write(Data("two\n".utf8), to: path)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "two\n")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["issues.jsonl"])
            #expect(throws: StoreError.self) { try AtomicFile.write([1], to: dir + "/missing/dir/file") }
            let layout = StoreLayout(directory: dir)
            try AtomicFile.write(Array("{}\n".utf8), to: layout.exportedJSONL(scope: "hq"), createDirectory: true)
            #expect(try String(contentsOfFile: dir + "/.beads/export/hq/issues.jsonl", encoding: .utf8) == "{}\n")
        }
    }

    @Test func readWithPositionIsConsistent() async throws {
        try await withTemporaryDirectory { dir in
            let store = try await DurableStore<OpaqueRecordLog>.open(StoreLayout(directory: dir), settings: settings())
            #expect(store.readWithPosition { $1.sequence } == 0)
            _ = try await store.append(Data("a".utf8))
            _ = try await store.recordAbsorbedCommit("c")
            _ = try await store.append(Data("b".utf8))
            #expect(
                store.readWithPosition { state, position in "\(state.records.count)@\(position.sequence)" } == "2@3")
            await store.closeAsync()
        }
    }

    /// The benchmark runs end to end (its timing is reported by gt-bench, never asserted here).
    @Test func benchmarkCountsAppendsAndFsyncs() async throws {
        let result = try await StoreBenchmarks.durableAppends(writers: 4, count: 200)
        #expect(result.appends == 200)
        #expect(result.fsyncs >= 1 && result.fsyncs <= 200)
    }
}
