import Beads
import Foundation
import GasTownTestKit
import Git
import LedgerStore

/// One replica of a ledger for tests: its own store directory, `LedgerDatabase` and `LedgerSync` engine, with
/// the remote `origin` configured. Writes run on a dedicated thread (the store's blocking API), never the pool.
final class TestReplica: @unchecked Sendable {
    let directory: TempDir
    let layout: StoreLayout
    let db: LedgerDatabase
    let engine: LedgerSync
    let name: String
    /// The remote made by `pair()`, kept alive (its temporary directory) as long as a replica of it is.
    private var owner: TestRemote?

    init(name: String, remote: String?, prefix: String = "t", settings: SyncSettings = TestReplica.fastSettings)
        throws
    {
        self.name = name
        directory = try TempDir(prefix: "gt-sync-\(name)")
        layout = StoreLayout(directory: directory.path)
        db = try LedgerDatabase.initialize(layout, prefix: prefix)
        engine = LedgerSync(layout: layout, settings: settings)
        if let remote { try SyncConfig.add(SyncRemote(name: "origin", url: remote), to: layout) }
    }

    /// Backoff short enough for tests; many attempts since replicas push at once.
    static var fastSettings: SyncSettings {
        var s = SyncSettings()
        s.backoffBase = .milliseconds(5)
        s.backoffCap = .milliseconds(100)
        s.maxPushAttempts = 50
        s.pruneCheckMillis = 0
        return s
    }

    var replicaID: String { db.read { $0.replicaID } }
    var ledger: Ledger { db.read { $0.scopes["t"]! } }

    /// Runs one write; returns the op and the bead after it, or the core's refusal.
    func write(
        _ make: @escaping @Sendable (Ledger, WriteClock) throws(LedgerError) -> LedgerOp
    ) async -> Result<(LedgerOp, Bead?), LedgerDatabaseError> {
        let db = self.db
        return await DedicatedThread.run { () -> Result<(LedgerOp, Bead?), LedgerDatabaseError> in
            do throws(LedgerDatabaseError) {
                let r = try db.write(scope: nil, routing: nil, make)
                return .success((r.op, r.bead))
            } catch {
                return .failure(error)
            }
        }
    }

    func create(_ title: String, actor: String = "tester") async throws -> String {
        let result = await write { ledger, clock throws(LedgerError) in
            try ledger.prepareCreate(NewBead(title: title), actor: actor, stamp: clock.stamp, time: clock.time)
        }
        return try result.get().0.beadID!
    }

    func change(_ change: LedgerChange, actor: String = "tester") async -> Result<
        (LedgerOp, Bead?), LedgerDatabaseError
    > {
        await write { _, clock in LedgerOp(actor: actor, stamp: clock.stamp, time: clock.time, change: change) }
    }

    @discardableResult
    func sync() async throws -> SyncReport { try await engine.sync(db) }

    func close() { db.close() }

    /// A fresh bare remote and two replicas of it, "a" and "b": the set-up most sync tests start from.
    static func pair() async throws -> (remote: TestRemote, a: TestReplica, b: TestReplica) {
        let remote = try await TestRemote()
        let (a, b) = (try TestReplica(name: "a", remote: remote.path), try TestReplica(name: "b", remote: remote.path))
        a.owner = remote
        b.owner = remote
        return (remote, a, b)
    }

    /// Closes every replica given.
    static func close(_ replicas: TestReplica...) { for replica in replicas { replica.close() } }

    /// The scope's exported files, as the store holds them.
    var exported: (issues: String, stamps: String) {
        db.read { ($0.scopes["t"]!.exportJSONL(), $0.scopes["t"]!.exportStampsJSONL()) }
    }
}

/// A bare remote repository in a temporary directory.
final class TestRemote: @unchecked Sendable {
    let directory: TempDir
    var path: String { directory.path + "/remote.git" }

    init() async throws {
        directory = try TempDir(prefix: "gt-sync-remote")
        _ = try await GitRepository.create(at: directory.path + "/remote.git", bare: true)
    }

    func branch(_ scope: String = "t") async throws -> GitOID? {
        let repo = try await GitRepository.open(at: path)
        return try await repo.referenceTarget("refs/heads/ledger/\(scope)")
    }

    func file(_ name: String, scope: String = "t") async throws -> String {
        let repo = try await GitRepository.open(at: path)
        return String(
            decoding: try await repo.readFile(name, at: "refs/heads/ledger/\(scope)") ?? Data(), as: UTF8.self)
    }
}

/// Runs the system `git` (used only as an independent checker), returning status and output.
func runGit(_ arguments: [String], in directory: String? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    var env = ProcessInfo.processInfo.environment
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["HOME"] = NSTemporaryDirectory()
    process.environment = env
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Starts a built binary with output to a file and sends it SIGKILL (by its pid) after `killAfterMillis`, if
/// given; returns its exit status (128 + signal when killed) and what it printed. The wait is a termination
/// handler resuming a continuation, so no pool thread blocks.
enum KillableProcess {
    static func run(
        executable: String, _ arguments: [String], output: String, killAfterMillis: Int?,
        started: (@Sendable (pid_t) -> Void)? = nil
    ) async throws -> (status: Int32, output: String) {
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for key in BuiltBinaries.isolatedVariables { env[key] = nil }
        process.environment = env
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { p in
                continuation.resume(
                    returning: p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus)
            }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
                return
            }
            started?(process.processIdentifier)
            if let delay = killAfterMillis {
                let pid = process.processIdentifier
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(delay)) { kill(pid, SIGKILL) }
            }
        }
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        return (status, text)
    }
}

extension TestRemote {
    /// Moves `ledger/<scope>` of the remote to a new commit holding `files` (as another tool or a force-push
    /// would), with the current value as parent unless `rewrite`.
    func commitFiles(_ files: [String: String], scope: String = "t", rewrite: Bool = false) async throws {
        let repo = try await GitRepository.open(at: path)
        let current = try await repo.referenceTarget("refs/heads/ledger/\(scope)")
        let tree = try await repo.writeTree(files: files.mapValues { Data($0.utf8) })
        let sig = GitSignature(name: "someone", email: "someone@example.com", time: Int64(Date().timeIntervalSince1970))
        let commit = try await repo.commit(
            tree: tree, parents: rewrite ? [] : (current.map { [$0] } ?? []), message: "edited elsewhere", author: sig)
        _ = try await repo.updateReference("refs/heads/ledger/\(scope)", to: commit, expecting: current)
    }
}
