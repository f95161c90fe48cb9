// gt-bench: the benchmarks behind `make bench`. `gt-bench list` names the suites, `gt-bench all` runs every one,
// `gt-bench <suite>...` runs some. Figures go to stdout as Markdown, headed by the date and machine, so they can be
// pasted into BENCHMARKS.md as they are. Nothing here asserts a time: figures are measured and printed.
import Foundation
import GasTownCLI
import GasTownTestKit

CommandRunner.prepareProcess()
let requested = Array(CommandLine.arguments.dropFirst())
// `gt-bench prepare-ready-store DIR [COUNT]`: leaves a generated store in DIR, for timing `bd -C DIR ready --json` by
// hand (hyperfine, perf).
if requested.first == "prepare-ready-store", requested.count >= 2 {
    let count = requested.count > 2 ? Int(requested[2]) ?? 10_000 : 10_000
    try LedgerBenchmarks.prepareReadyStore(in: requested[1], count: count)
    exit(0)
}
let suites = BenchSuites.all
if requested.isEmpty || requested == ["list"] || requested.contains("--help") {
    print(
        "usage: gt-bench all | list | <suite>... | prepare-ready-store DIR [COUNT]\nsuites: "
            + suites.map(\.name).joined(separator: ", "))
    exit(requested.isEmpty ? 2 : 0)
}
let chosen = requested == ["all"] ? suites : suites.filter { requested.contains($0.name) }
let unknown = requested.filter { name in name != "all" && !suites.contains { $0.name == name } }
if !unknown.isEmpty {
    let message = "gt-bench: unknown suite \(unknown.joined(separator: ", ")); run 'gt-bench list'\n"
    FileHandle.standardError.write(Data(message.utf8))
    exit(2)
}
print(BenchMachine.header())
var failed = false
for suite in chosen {
    print("\n## \(suite.title)\n")
    do {
        for line in try await suite.run() { print(line) }
    } catch {
        failed = true
        print("suite \(suite.name) failed: \(error)")
    }
}
exit(failed ? 1 : 0)
