import Foundation
import Testing
@testable import GasTownCLI

/// The runner in-process: exit codes and where output goes, with captured sinks.
@Suite struct RunnerTests {
    struct Run {
        var code: ExitCode
        var stdout: String
        var stderr: String
    }

    func run(_ words: [String], environment: [String: String] = [:]) async -> Run {
        let out = BufferSink()
        let err = BufferSink()
        let code = await CommandRunner.run(
            ["bd"] + words, program: TestProgram.spec, stdout: out, stderr: err, environment: environment, cwd: "/")
        return Run(code: code, stdout: out.text, stderr: err.text)
    }

    @Test func successRunsTheCommand() async {
        let result = await run(["create", "hello"])
        #expect(result.code == .success)
        #expect(result.stdout == "created hello\n")
        #expect(result.stderr.isEmpty)
    }

    @Test func usageErrorsExitTwoWithOneLine() async {
        let result = await run(["create", "--prioritty", "1"])
        #expect(result.code == .usage)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == "bd create: unknown flag --prioritty; run 'bd create --help' for the flags\n")
        let invalid = await run(["create", "-fs"])
        #expect(invalid.code == .usage)
        #expect(invalid.stderr == "bd create: --force and --silent conflict\n")
    }

    @Test func usageErrorsAsJSON() async {
        let result = await run(["--json", "create", "-p", "7"])
        #expect(result.code == .usage)
        #expect(result.stderr.contains("\"code\": \"bad_value\""))
        #expect(result.stderr.contains("\"schema_version\": 1"))
    }

    @Test func failuresExitOneWithHint() async {
        let text = await run(["list"])
        #expect(text.code == .failure)
        #expect(text.stderr == "Error: issue not found: bd-x; run 'bd list'\n")
        let json = await run(["list", "--json"], environment: ["BD_JSON_ENVELOPE": "1"])
        #expect(json.code == .failure)
        #expect(json.stdout.isEmpty)
        #expect(json.stderr.hasPrefix("{\n  \"data\": {\n    \"code\": \"not_found\",\n"))
    }

    @Test func helpAndVersionGoToStdout() async {
        let help = await run(["help", "create"])
        #expect(help.code == .success)
        #expect(help.stdout.hasPrefix("Create an issue\n"))
        let bare = await run([])
        #expect(bare.code == .success)
        #expect(bare.stdout.contains("Available Commands:"))
        let version = await run(["--version"])
        #expect(version.stdout == "bd version 9.9.9\n")
    }
}
