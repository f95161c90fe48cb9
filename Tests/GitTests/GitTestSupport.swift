import Foundation
import Git

/// A temporary directory for one test, removed by `remove()` (call it in a `defer`).
struct TempDirectory {
    let path: String

    init(_ label: String = "git") throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("gt-\(label)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func sub(_ name: String) -> String { path + "/" + name }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

let testAuthor = GitSignature(name: "Test Author", email: "author@gastown.invalid", time: 1_700_000_000)
let testCommitter = GitSignature(name: "Test Committer", email: "committer@gastown.invalid", time: 1_700_000_100)

func bytes(_ text: String) -> Data { Data(text.utf8) }

/// The output and exit status of a finished child process.
struct ProcessOutput: Sendable {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs `executable` with `arguments` as a child process, waiting for it off the cooperative pool (its
/// termination handler resumes us). The child is killed by pid if the waiting task is cancelled or anything throws.
func runProcess(
    _ executable: String, _ arguments: [String], in directory: String? = nil,
    environment: [String: String]? = nil
) async throws -> ProcessOutput {
    let scratch = try TempDirectory("proc")
    defer { scratch.remove() }
    let outPath = scratch.sub("out")
    let errPath = scratch.sub("err")
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    let outHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    defer {
        try? outHandle.close()
        try? errHandle.close()
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = outHandle
    process.standardError = errHandle
    process.standardInput = FileHandle.nullDevice
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    if let environment { process.environment = environment }
    defer {
        // Stop the child (by its pid, only ours) if we leave before it ended.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { finished in continuation.resume(returning: finished.terminationStatus) }
        do {
            try process.run()
        } catch {
            process.terminationHandler = nil
            continuation.resume(throwing: error)
        }
    }
    let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    return ProcessOutput(status: status, stdout: out, stderr: err)
}

/// Runs the system `git` (used only as an independent checker of what we wrote).
func systemGit(_ arguments: [String], in directory: String) async throws -> ProcessOutput {
    try await runProcess(
        "/usr/bin/git", arguments, in: directory,
        environment: ["PATH": "/usr/bin:/bin", "HOME": directory, "GIT_CONFIG_NOSYSTEM": "1"])
}

/// The directory holding the built products (the test bundle and `gt-testhelper`).
func buildProductsDirectory() -> String {
    let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var directory = executable.deletingLastPathComponent()
    // On Linux the test runner is `<products>/GasTownPackageTests.xctest`; walk up until gt-testhelper is there.
    for _ in 0..<4 {
        if FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("gt-testhelper").path) {
            return directory.path
        }
        directory = directory.deletingLastPathComponent()
    }
    return executable.deletingLastPathComponent().path
}
