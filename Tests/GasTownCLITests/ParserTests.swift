import Testing
@testable import GasTownCLI

@Suite struct ParserTests {
    @Test func selectsSubcommandAndAlias() throws {
        let parsed = try TestProgram.parse(["create", "hello"])
        #expect(parsed.pathNames == ["bd", "create"])
        #expect(parsed.action == .run)
        #expect(parsed.values.argument("title") == "hello")
        #expect(try TestProgram.parse(["new", "x"]).pathNames == ["bd", "create"])
        #expect(try TestProgram.parse(["dep", "add", "a", "b"]).pathNames == ["bd", "dep", "add"])
    }

    @Test(arguments: [
        ["create", "--priority=1"], ["create", "--priority", "1"], ["create", "-p", "1"], ["create", "-p1"],
        ["create", "-p=1"], ["create", "-fp1"], ["create", "-p", "0", "--priority", "1"],
    ])
    func everyValueSpelling(words: [String]) throws {
        let parsed = try TestProgram.parse(words)
        #expect(parsed.values.string("priority") == "1")
        #expect(try parsed.values.int("priority") == 1)
    }

    @Test func combinedShortFlagsAndBoolValues() throws {
        let parsed = try TestProgram.parse(["create", "-fs"])
        #expect(parsed.values.flag("force"))
        #expect(parsed.values.flag("silent"))
        let off = try TestProgram.parse(["create", "--force=false", "-s=true"])
        #expect(off.values.has("force"))
        #expect(!off.values.flag("force"))
        #expect(off.values.flag("silent"))
        #expect(try !TestProgram.parse(["create"]).values.flag("force"))
    }

    @Test func repeatedAndCommaListOptions() throws {
        let parsed = try TestProgram.parse([
            "create", "-l", "a,b", "--label", "c", "--labels=d", "--deps", "blocks:x", "--deps=related:y",
        ])
        #expect(parsed.values.strings("labels") == ["a", "b", "c", "d"])
        #expect(parsed.values.strings("deps") == ["blocks:x", "related:y"])
    }

    @Test func globalOptionsAnywhere() throws {
        for words in [
            ["--json", "-C", "/s", "create", "t", "--actor", "me"],
            ["create", "--json", "t", "-C/s", "--actor=me"],
            ["create", "t", "--actor", "me", "--directory", "/s", "--json"],
        ] {
            let parsed = try TestProgram.parse(words)
            #expect(parsed.globals.flag("json"), "\(words)")
            #expect(parsed.globals.string("directory") == "/s", "\(words)")
            #expect(parsed.globals.string("actor") == "me", "\(words)")
            #expect(parsed.values.argument("title") == "t", "\(words)")
            #expect(!parsed.values.has("json"))
        }
    }

    @Test func doubleDashEndsOptions() throws {
        let parsed = try TestProgram.parse(["create", "--", "--not-a-flag"])
        #expect(parsed.values.argument("title") == "--not-a-flag")
        let list = try TestProgram.parse(["list", "a", "--", "-b", "--json"])
        #expect(list.values.argumentList("ids") == ["a", "-b", "--json"])
        #expect(!list.globals.flag("json"))
        #expect(try TestProgram.parse(["create", "-"]).values.argument("title") == "-")
    }

    @Test func valueMayLookLikeAFlag() throws {
        let parsed = try TestProgram.parse(["create", "-d", "--force", "--description", "-x"])
        #expect(parsed.values.string("description") == "-x")
        #expect(!parsed.values.flag("force"))
    }

    @Test func helpEverywhere() throws {
        #expect(try TestProgram.parse(["create", "--help"]).action == .help)
        #expect(try TestProgram.parse(["create", "-h"]).pathNames == ["bd", "create"])
        #expect(try TestProgram.parse(["dep", "add", "-h"]).pathNames == ["bd", "dep", "add"])
        let help = try TestProgram.parse(["help", "dep", "add"])
        #expect(help.action == .help)
        #expect(help.pathNames == ["bd", "dep", "add"])
        #expect(try TestProgram.parse([]).action == .help)
        #expect(try TestProgram.parse(["dep"]).action == .help)
        #expect(try TestProgram.parse(["--version"]).action == .version)
        #expect(try TestProgram.parse(["create", "-fh"]).action == .help)
    }

    @Test func positionalArity() throws {
        #expect(try TestProgram.parse(["create"]).values.optionalArgument("title") == nil)
        #expect(try TestProgram.parse(["list"]).values.argumentList("ids") == [])
        #expect(try TestProgram.parse(["list", "a", "b"]).values.argumentList("ids") == ["a", "b"])
        let add = try TestProgram.parse(["dep", "add", "-t", "related", "x", "y"])
        #expect(add.values.argument("issue") == "x")
        #expect(add.values.argument("depends-on") == "y")
    }

    @Test func errorMessages() {
        let cases: [([String], String, UsageError.Reason)] = [
            (["create", "--prioritty", "1"],
             "bd create: unknown flag --prioritty; run 'bd create --help' for the flags", .unknownFlag("--prioritty")),
            (["create", "-x"], "bd create: unknown flag -x; run 'bd create --help' for the flags", .unknownFlag("-x")),
            (["frobnicate"], "bd: unknown command 'frobnicate'; run 'bd --help' for the commands",
             .unknownCommand("frobnicate")),
            (["dep", "rm"], "bd dep: unknown command 'rm'; run 'bd dep --help' for the commands",
             .unknownCommand("rm")),
            (["create", "-p"], "bd create: flag -p needs a value; run 'bd create --help' for usage",
             .missingValue(flag: "-p")),
            (["create", "--priority"], "bd create: flag --priority needs a value; run 'bd create --help' for usage",
             .missingValue(flag: "--priority")),
            (["create", "-p", "9"], "bd create: bad value '9' for -p: expected an integer from 0 to 4",
             .badValue(flag: "-p", value: "9", expected: "an integer from 0 to 4")),
            (["create", "--priority=high"], "bd create: bad value 'high' for --priority: expected an integer",
             .badValue(flag: "--priority", value: "high", expected: "an integer")),
            (["create", "-t", "story"], "bd create: bad value 'story' for -t: expected one of bug, task, epic",
             .badValue(flag: "-t", value: "story", expected: "one of bug, task, epic")),
            (["dep", "add", "x"], "bd dep add: missing argument <depends-on>; run 'bd dep add --help' for usage",
             .missingArgument("depends-on")),
            (["create", "a", "b"], "bd create: unexpected argument 'b'; run 'bd create --help' for usage",
             .unexpectedArgument("b")),
            (["create", "--force=maybe"],
             "bd create: flag --force takes no value (or true/false); run 'bd create --help' for the flags",
             .flagTakesNoValue(flag: "--force")),
            (["help", "nope"], "bd: unknown command 'nope'; run 'bd --help' for the commands", .unknownCommand("nope")),
            (["create", "--version"], "bd create: unknown flag --version; run 'bd create --help' for the flags",
             .unknownFlag("--version")),
        ]
        for (words, message, reason) in cases {
            let error = TestProgram.parseError(words)
            #expect(error?.description == message, "\(words)")
            #expect(error?.reason == reason, "\(words)")
        }
    }

    @Test func commandValidationIsAUsageError() throws {
        let parsed = try TestProgram.parse(["create", "-f", "-s"])
        #expect(throws: UsageError.self) { try TestProgram.Create(parsed: parsed.values) }
        do {
            _ = try TestProgram.Create(parsed: parsed.values)
        } catch {
            #expect(error.description == "bd create: --force and --silent conflict")
        }
    }
}
