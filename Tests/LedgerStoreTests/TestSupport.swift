import Foundation
import LedgerStore

#if canImport(Glibc)
    import Glibc
#endif

/// A temporary directory removed when the body ends, even when it throws.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("gt-store-test-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// Seeded SplitMix64, so every random test can be replayed from its seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}

/// A state that refuses records starting with "bad", to test that refused writes leave no trace.
struct StrictLog: WALReplayable {
    struct Refused: Error, CustomStringConvertible {
        var description: String { "records starting with 'bad' are refused" }
    }
    var records: [String] = []
    init() {}
    init(snapshot: Data) throws { records = try JSONDecoder().decode([String].self, from: snapshot) }
    mutating func apply(record: Data) throws {
        let text = String(decoding: record, as: UTF8.self)
        if text.hasPrefix("bad") { throw Refused() }
        records.append(text)
    }
    func snapshot() -> Data { (try? JSONEncoder().encode(records)) ?? Data() }
}

func settings(segmentBytes: Int = 64 << 20, snapshotEvery: Int = 0, lockWait: Duration = .zero) -> StoreSettings {
    var settings = StoreSettings()
    settings.segmentBytes = segmentBytes
    settings.snapshotEveryRecords = snapshotEvery
    settings.lockWaitTimeout = lockWait
    return settings
}

func texts(_ log: OpaqueRecordLog) -> [String] { log.records.map { String(decoding: $0, as: UTF8.self) } }

/// The WAL segment files of a store, oldest first.
func segmentFiles(_ layout: StoreLayout) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: layout.walDirectory).filter { $0.hasSuffix(".wal") }.sorted()
        .map { layout.walDirectory + "/" + $0 }
}

/// A `gt-testhelper` child process: stdout collected on a dedicated thread, exit awaited through
/// `terminationHandler` and a continuation (never on the cooperative pool). Call `kill()` in a `defer`.
final class Child: @unchecked Sendable {
    let process = Process()
    private let stdinPipe = Pipe()
    private let stdoutPipe = Pipe()
    private let condition = NSCondition()
    private var output = Data()
    private var exitStatus: Int32?
    private var reachedEOF = false
    private var exitWaiter: CheckedContinuation<Int32, Never>?

    static var helperPath: String {
        let directory =
            Bundle.main.executableURL?.deletingLastPathComponent()
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return directory.appendingPathComponent("gt-testhelper").path
    }

    init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: Self.helperPath)
        process.arguments = arguments
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        process.terminationHandler = { [self] process in
            condition.lock()
            exitStatus = process.terminationStatus
            let waiter = exitWaiter
            exitWaiter = nil
            condition.broadcast()
            condition.unlock()
            waiter?.resume(returning: process.terminationStatus)
        }
        try process.run()
        let reader = stdoutPipe.fileHandleForReading
        let thread = Thread { [self] in
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty {
                    condition.lock()
                    reachedEOF = true
                    condition.unlock()
                    break
                }
                condition.lock()
                output.append(chunk)
                condition.broadcast()
                condition.unlock()
            }
        }
        thread.start()
    }

    var pid: Int32 { process.processIdentifier }

    /// Complete lines printed so far (a line cut by kill -9 is not complete).
    var lines: [String] {
        condition.lock()
        defer { condition.unlock() }
        let text = String(decoding: output, as: UTF8.self)
        var parts = text.components(separatedBy: "\n")
        parts.removeLast()
        return parts
    }

    /// Waits (polling without blocking a thread) until a complete line starting with `prefix` appears.
    func waitForLine(prefix: String, timeout: Duration = .seconds(20)) async throws -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = lines.first(where: { $0.hasPrefix(prefix) }) { return line }
            try await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    func closeStdin() { try? stdinPipe.fileHandleForWriting.close() }

    /// SIGKILL, if still running. Safe to call more than once.
    func kill() {
        condition.lock()
        let running = exitStatus == nil
        condition.unlock()
        if running { Glibc.kill(pid, SIGKILL) }
    }

    func waitForExit() async -> Int32 {
        await withCheckedContinuation { continuation in
            condition.lock()
            if let exitStatus {
                condition.unlock()
                continuation.resume(returning: exitStatus)
            } else {
                exitWaiter = continuation
                condition.unlock()
            }
        }
    }

    private var isDrained: Bool {
        condition.lock()
        defer { condition.unlock() }
        return reachedEOF
    }

    /// Waits until stdout reached end of file (the child exited), so `lines` is final.
    func drain(timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if isDrained { return }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
