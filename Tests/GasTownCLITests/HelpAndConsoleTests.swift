import Foundation
import Testing
@testable import GasTownCLI

@Suite struct HelpTests {
    @Test func commandHelpListsEverything() throws {
        let parsed = try TestProgram.parse(["create", "--help"])
        let help = HelpFormatter.help(for: parsed.path, program: TestProgram.spec)
        #expect(help.hasPrefix("Create an issue\n\nCreates one issue.\n\nUsage:\n  bd create [flags] [title]\n"))
        #expect(help.contains("Aliases:\n  create, new\n"))
        #expect(help.contains("  -p, --priority N "))
        #expect(help.contains("priority (default 2)"))
        #expect(help.contains("labels (repeatable)"))
        #expect(help.contains("issue type [bug|task|epic]"))
        #expect(help.contains("  -h, --help "))
        #expect(!help.contains("secret"))
        #expect(help.contains("Global Flags:\n"))
        #expect(help.contains("  -C, --directory DIR "))
        #expect(!help.contains("--version"))
    }

    @Test func groupHelpListsVisibleCommands() throws {
        let help = HelpFormatter.help(for: try TestProgram.parse([]).path, program: TestProgram.spec)
        #expect(help.contains("Usage:\n  bd [command]\n"))
        #expect(help.contains("Available Commands:\n  create   Create an issue\n  dep      Manage dependencies\n"))
        #expect(!help.contains("internal-thing"))
        #expect(help.contains("--version"))
        #expect(help.contains("Use \"bd [command] --help\" for more information about a command."))
    }

    @Test func variadicUsage() throws {
        let help = HelpFormatter.help(for: try TestProgram.parse(["list", "-h"]).path, program: TestProgram.spec)
        #expect(help.contains("  bd list [flags] [ids...]\n"))
    }
}

@Suite struct ConsoleTests {
    struct Issue: Encodable {
        var id: String
        var priority: Int
        var labels: [String]
        var closed: Bool
        var notes: String?
    }

    @Test func goStyleFormatting() throws {
        let value = try JSONValue(encoding: Issue(id: "bd-1/x", priority: 1, labels: [], closed: false, notes: nil))
        #expect(value.formatted == """
            {
              "closed": false,
              "id": "bd-1/x",
              "labels": [],
              "priority": 1
            }

            """)
        #expect(JSONValue.object([:]).formatted == "{}\n")
        #expect(JSONValue.array([.int(1), .string("a\n\"\u{1}")]).formatted == "[\n  1,\n  \"a\\n\\\"\\u0001\"\n]\n")
        #expect(JSONValue.double(2.5).formatted == "2.5\n")
        #expect(JSONValue.double(3).formatted == "3\n")
    }

    @Test func legacyShapeInjectsSchemaVersionIntoObjectsOnly() throws {
        let out = BufferSink()
        let console = Console(stdout: out, stderr: BufferSink(), jsonMode: true, jsonStyle: .legacy)
        try console.json(Issue(id: "bd-1", priority: 0, labels: ["a"], closed: true, notes: "n"))
        #expect(out.text.hasSuffix("  \"priority\": 0,\n  \"schema_version\": 1\n}\n"))
        #expect(out.text.hasPrefix("{\n  \"closed\": true,"))
        let list = BufferSink()
        try Console(stdout: list, stderr: BufferSink(), jsonMode: true).json([Issue(
            id: "bd-2", priority: 2, labels: [], closed: false, notes: nil)])
        #expect(list.text.hasPrefix("[\n  {\n"))
        #expect(!list.text.contains("schema_version"))
    }

    @Test func envelopeShapeWrapsEverything() throws {
        let out = BufferSink()
        let console = Console(stdout: out, stderr: BufferSink(), jsonMode: true, jsonStyle: .envelope)
        try console.json(["a", "b"])
        #expect(out.text == "{\n  \"data\": [\n    \"a\",\n    \"b\"\n  ],\n  \"schema_version\": 1\n}\n")
        #expect(JSONOutputStyle.from(environment: ["BD_JSON_ENVELOPE": "1"]) == .envelope)
        #expect(JSONOutputStyle.from(environment: [:]) == .legacy)
    }

    @Test func errorsAsJSONOnStderr() throws {
        let out = BufferSink()
        let err = BufferSink()
        let console = Console(stdout: out, stderr: err, jsonMode: true)
        console.reportError("issue not found: bd-x", hint: nil, code: "not_found")
        #expect(out.text.isEmpty)
        #expect(err.text == """
            {
              "code": "not_found",
              "error": "issue not found: bd-x",
              "schema_version": 1
            }

            """)
        let text = BufferSink()
        Console(stdout: out, stderr: text).reportError("boom", hint: "try again", code: nil)
        #expect(text.text == "Error: boom; try again\n")
    }
}

@Suite struct BenchmarkSmokeTests {
    /// The benchmark runs and its parse line is valid (a parse failure would make it measure errors).
    @Test func parseBenchmarkRunsValidLines() throws {
        let figures = CLIBenchmarks.parseAndHelp(iterations: 50)
        #expect(figures.map(\.name) == ["cli.parse(gt install, 10 words)", "cli.help(gt install)"])
        #expect(figures[0].iterations == 50)
        let parsed = try CommandLineParser.parse(
            ["install", "--json", "town", "--name=alpha", "--owner", "me@example.com", "--town", "/t", "--actor", "a"],
            program: GT.program)
        #expect(parsed.pathNames == ["gt", "install"])
        #expect(parsed.values.string("name") == "alpha")
    }
}
