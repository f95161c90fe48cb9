import Foundation
import GasTownCLI
import GasTownTestKit
import Testing

/// The progress bar's rendering core (pure: lines, throttling, byte counts, when a bar is shown at all), and
/// `gt rig add` for real: no bar when stderr is not a terminal (CI, pipes, `--json`), a bar reaching 100% on a
/// pseudo-terminal.
struct ProgressBarTests {
    @Test func linesShowTheFractionDoneAndTheCount() {
        let bar = ProgressBar(label: "cloning web", width: 10)
        #expect(bar.line(done: 0, total: 200, unit: "objects") == "cloning web [░░░░░░░░░░]   0%  0/200 objects")
        #expect(
            bar.line(done: 50, total: 200, unit: "objects", detail: "3.1 KiB")
                == "cloning web [██░░░░░░░░]  25%  50/200 objects, 3.1 KiB")
        #expect(bar.line(done: 200, total: 200, unit: "deltas") == "cloning web [██████████] 100%  200/200 deltas")
        // Out of range counts are clamped; an unknown total shows the count alone.
        #expect(bar.line(done: 500, total: 200, unit: "objects").contains("[██████████] 100%  200/200"))
        #expect(bar.line(done: -3, total: 200, unit: "objects").contains("[░░░░░░░░░░]   0%  0/200"))
        #expect(bar.line(done: 7, total: 0, unit: "objects") == "cloning web  7 objects")
        // Every line of a bar has the same width while the count's digits do not change.
        let widths = Set(stride(from: 100, through: 999, by: 37).map { bar.line(done: $0, total: 999, unit: "o").count })
        #expect(widths.count == 1, "\(widths)")
    }

    @Test func redrawsAreThrottledButTheFinalStateIsAlwaysDrawn() {
        var bar = ProgressBar(label: "x", width: 4, intervalMilliseconds: 100)
        #expect(bar.draw(done: 1, total: 10, unit: "o", now: 0) != nil)
        #expect(bar.draw(done: 2, total: 10, unit: "o", now: 50) == nil, "sooner than the interval")
        #expect(bar.draw(done: 2, total: 10, unit: "o", now: 150) != nil)
        #expect(bar.draw(done: 2, total: 10, unit: "o", now: 400) == nil, "the same line is not drawn twice")
        #expect(bar.draw(done: 10, total: 10, unit: "o", now: 401, final: true)?.contains("100%") == true)
        #expect(bar.lastDrawn?.at == 401)
    }

    @Test func bytesAndWhenABarIsShown() {
        #expect(ProgressBar.bytes(0) == "0 B" && ProgressBar.bytes(1023) == "1023 B")
        #expect(ProgressBar.bytes(1536) == "1.5 KiB")
        #expect(ProgressBar.bytes(12 * 1024 * 1024) == "12.0 MiB")
        #expect(ProgressBar.bytes(3 * 1024 * 1024 * 1024) == "3.0 GiB")
        #expect(ProgressBar.enabled(stderrIsTerminal: true, jsonMode: false))
        #expect(!ProgressBar.enabled(stderrIsTerminal: false, jsonMode: false))
        #expect(!ProgressBar.enabled(stderrIsTerminal: true, jsonMode: true))
        // A console whose stderr is not a terminal (a buffer, as in tests) never gets a bar.
        let console = Console(stdout: BufferSink(), stderr: BufferSink())
        #expect(TerminalProgressBar.make(label: "x", console: console) == nil)
    }

    /// A repository with enough objects that the clone reports progress.
    static func repository(_ temp: TempDir) async throws -> String {
        let source = temp.join("src")
        let created = try await BuiltBinaries.run(executable: "/usr/bin/git", ["init", "-q", "-b", "main", source])
        try #require(created.status == 0, "\(created)")
        for file in 0..<40 { try temp.write("src/file\(file).txt", String(repeating: "line \(file)\n", count: 200)) }
        for arguments in [
            ["-C", source, "add", "-A"], ["-C", source, "-c", "user.name=t", "-c", "user.email=t@gt", "commit", "-qm", "files"],
        ] {
            let result = try await BuiltBinaries.run(executable: "/usr/bin/git", arguments)
            try #require(result.status == 0, "\(result)")
        }
        return source
    }

    @Test func rigAddDrawsABarOnlyOnATerminal() async throws {
        let temp = try TempDir(prefix: "gt-progress")
        let source = try await Self.repository(temp)
        let gt = try BuiltBinaries.path(of: .gt)
        for town in ["piped", "tty", "json"] {
            let installed = try await BuiltBinaries.run(.gt, ["install", temp.join(town)])
            try #require(installed.status == 0, "\(installed)")
        }
        // A file:// URL: libgit2 fetches it with its transport, which reports progress (a plain path is copied).
        // stderr a file (as in CI): no bar, no carriage returns.
        let url = "file://" + source
        let piped = try await BuiltBinaries.run(.gt, ["--town", temp.join("piped"), "rig", "add", "web", url])
        #expect(piped.status == 0, "\(piped)")
        #expect(!piped.stderr.contains("\r") && !piped.stderr.contains("█"), "\(piped)")
        // On a pseudo-terminal (script(1) gives the command one): a bar per clone, reaching 100%.
        let command = "'\(gt)' --town '\(temp.join("tty"))' rig add web '\(url)'"
        let tty = try await BuiltBinaries.run(executable: "/usr/bin/script", ["-qec", command, "/dev/null"])
        #expect(tty.status == 0, "\(tty)")
        #expect(tty.stdout.contains("cloning web [") && tty.stdout.contains("100%"), "\(tty)")
        #expect(tty.stdout.contains("cloning web (the Refinery's copy) ["), "\(tty)")
        #expect(tty.stdout.contains("Added rig 'web'"), "\(tty)")
        // --json on a terminal: no bar either.
        let json = try await BuiltBinaries.run(
            executable: "/usr/bin/script", ["-qec", "'\(gt)' --json --town '\(temp.join("json"))' rig add web '\(url)'", "/dev/null"])
        #expect(json.status == 0 && json.stdout.contains("\"name\"") && !json.stdout.contains("█"), "\(json)")
    }

    /// `bd sync` of a ledger someone else filled: the fetch draws a bar on a terminal, none in a pipe.
    @Test func bdSyncDrawsABarOnlyOnATerminal() async throws {
        let temp = try TempDir(prefix: "gt-progress-sync")
        let bd = try BuiltBinaries.path(of: .bd)
        let remote = temp.join("ledger.git")
        let created = try await BuiltBinaries.run(executable: "/usr/bin/git", ["init", "-q", "--bare", remote])
        try #require(created.status == 0, "\(created)")
        let url = "file://" + remote
        for store in ["full", "piped", "tty"] {
            try FileManager.default.createDirectory(atPath: temp.join(store), withIntermediateDirectories: true)
            let initialized = try await BuiltBinaries.run(.bd, ["-C", temp.join(store), "init", "--prefix", "pb", "-q"])
            try #require(initialized.status == 0, "\(initialized)")
            let added = try await BuiltBinaries.run(.bd, ["-C", temp.join(store), "remote", "add", "origin", url])
            try #require(added.status == 0, "\(added)")
        }
        for index in 0..<30 {
            let made = try await BuiltBinaries.run(.bd, ["-C", temp.join("full"), "q", "bead \(index)"])
            try #require(made.status == 0, "\(made)")
        }
        let pushed = try await BuiltBinaries.run(.bd, ["-C", temp.join("full"), "sync"])
        try #require(pushed.status == 0, "\(pushed)")

        let piped = try await BuiltBinaries.run(.bd, ["-C", temp.join("piped"), "sync"])
        #expect(piped.status == 0 && !piped.stderr.contains("\r") && !piped.stderr.contains("█"), "\(piped)")
        let tty = try await BuiltBinaries.run(
            executable: "/usr/bin/script", ["-qec", "'\(bd)' -C '\(temp.join("tty"))' sync", "/dev/null"])
        #expect(tty.status == 0, "\(tty)")
        #expect(tty.stdout.contains("fetching the ledger [") && tty.stdout.contains("100%"), "\(tty)")
        let count = try await BuiltBinaries.run(.bd, ["-C", temp.join("tty"), "count"])
        #expect(count.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "30", "\(count)")
    }
}
