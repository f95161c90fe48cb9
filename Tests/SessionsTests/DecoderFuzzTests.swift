import Foundation
import GasTownTestKit
import Testing

@testable import Sessions

/// The other decoders of outside bytes: `/proc/<pid>/stat` text and process records on disk.
@Suite struct DecoderFuzzTests {
    @Test func procStatParsesRealAndAwkwardCommandNames() throws {
        let real = try #require(FileManager.default.contents(atPath: "/proc/self/stat"))
        let stat = try #require(ProcessStat.parse(String(decoding: real, as: UTF8.self), pid: getpid()))
        #expect(stat.startTime > 0 && stat.isRunning)
        let fields = (3...52).map { $0 == 3 ? "S" : $0 == 5 ? "4242" : $0 == 22 ? "987654" : "0" }
        let awkward = "4242 (a) b (c) d) " + fields.joined(separator: " ") + "\n"
        let parsed = try #require(ProcessStat.parse(awkward, pid: 4242))
        #expect(parsed.processGroup == 4242 && parsed.startTime == 987_654 && parsed.state == "S")
        #expect(ProcessStat.parse("4242 (zombie) Z 1 4242", pid: 4242) == nil, "too few fields")
    }

    @Test func procStatParserSurvivesMutations() throws {
        var random = SeededRandom(seed: 0x57a7)
        let seed = Array(try #require(FileManager.default.contents(atPath: "/proc/self/stat")))
        for _ in 0..<5000 {
            var bytes = seed
            for _ in 0..<(1 + Int(random.next() % 5)) {
                let position = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 3 {
                case 0: bytes[position] = UInt8(truncatingIfNeeded: random.next())
                case 1: bytes.remove(at: position)
                default:
                    let inserted: [UInt8] = [UInt8(ascii: ")"), UInt8(ascii: " "), 0xff]
                    bytes.insert(inserted[Int(random.next() % 3)], at: position)
                }
                if bytes.isEmpty { bytes = [0] }
            }
            if let stat = ProcessStat.parse(String(decoding: bytes, as: UTF8.self), pid: 1) {
                #expect(stat.pid == 1)
            }
        }
    }

    @Test func processRecordsSurviveMutations() async throws {
        try await withProcessTown { driver, town in
            let name = sessionName(town)
            let record = ProcessRecord(
                version: 1, session: name.rendered,
                process: ProcessIdentity(pid: 999_999, startTime: 12, bootID: "b"), command: "sleep 1",
                workingDirectory: town.path, logPath: town.join("l"), startedAt: "2026-01-01T00:00:00Z")
            let seed = Array(try JSONEncoder().encode(record))
            try FileManager.default.createDirectory(atPath: driver.state.path, withIntermediateDirectories: true)
            var random = SeededRandom(seed: 0x4ec0)
            var rejected = 0
            for _ in 0..<400 {
                var bytes = seed
                for _ in 0..<(1 + Int(random.next() % 4)) {
                    let position = Int(random.next() % UInt64(bytes.count))
                    bytes[position] = UInt8(truncatingIfNeeded: random.next())
                }
                try Data(bytes).write(to: URL(fileURLWithPath: driver.state.recordPath(name)))
                do {
                    _ = try await driver.record(name)
                    #expect(try await !driver.isAlive(name), "pid 999999 with a made-up start time is never ours")
                } catch {
                    rejected += 1
                    #expect("\(error)".contains(driver.state.recordPath(name)))
                }
            }
            #expect(rejected > 0)
            unlink(driver.state.recordPath(name))
        }
    }
}
