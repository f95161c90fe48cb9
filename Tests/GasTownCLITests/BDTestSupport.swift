import Foundation
import GasTownTestKit

@testable import GasTownCLI

/// Runs `bd` in-process against a store in a temporary directory, and reads what the store holds.
struct BDHarness {
    struct Run: CustomStringConvertible {
        var code: ExitCode
        var stdout: String
        var stderr: String
        var description: String { "exit \(code)\nstdout:\n\(stdout)\nstderr:\n\(stderr)" }
    }

    let temp: TempDir
    var environment: [String: String] = ["BEADS_ACTOR": "tester"]

    /// `bd <words>` with `-C <temp>`.
    func run(_ words: [String]) async -> Run {
        await runRaw(["-C", temp.path] + words)
    }

    /// `bd <words>` with the working directory `temp` and no `-C`.
    func runRaw(_ words: [String]) async -> Run {
        let out = BufferSink()
        let err = BufferSink()
        let code = await CommandRunner.run(
            ["bd"] + words, program: BD.program, stdout: out, stderr: err, environment: environment, cwd: temp.path)
        return Run(code: code, stdout: out.text, stderr: err.text)
    }

    /// What must not change when a write is refused: the exported JSONL and the WAL's size in bytes.
    struct StoreFingerprint: Equatable {
        var export: String
        var walBytes: Int
    }

    func fingerprint() async -> StoreFingerprint {
        let export = await run(["export"]).stdout
        var bytes = 0
        let wal = temp.join(".beads/wal")
        for name in (try? FileManager.default.contentsOfDirectory(atPath: wal)) ?? [] {
            let attributes = try? FileManager.default.attributesOfItem(atPath: wal + "/" + name)
            bytes += (attributes?[.size] as? Int) ?? 0
        }
        return StoreFingerprint(export: export, walBytes: bytes)
    }
}

/// Paths of the shared samples: `<repo root>/../shared/samples` (CI clones the repo with shared/ beside it).
enum Samples {
    static var repoRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    /// As `GasTownTestKit.SharedSamples` finds it (also from a worktree under /work/wt).
    static var beadsIssues: String { SharedSamples.path("beads/issues.jsonl") }
}
