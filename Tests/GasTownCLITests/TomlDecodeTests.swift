import Formula
import Foundation
import GasTownTestKit
import Testing

@testable import GasTownCLI

/// `gt toml decode` through the built binary, on toml-test's own files: what toml-test's runner would run.
@Suite struct TomlDecodeTests {
    static func suite(_ file: String) -> String { SharedSamples.path("toml-test/tests/" + file) }

    /// JSON text as a Foundation value, for structural comparison.
    static func json(_ text: String) throws -> NSObject {
        try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) as! NSObject
    }

    @Test func validDocumentsPrintTheirExpectedTaggedJSON() async throws {
        // Files whose values are strings, integers, booleans and tables: the tagged text is exact.
        let files = [
            "valid/integer/integer.toml", "valid/string/escapes.toml", "valid/string/multiline.toml",
            "valid/table/array-implicit.toml", "valid/inline-table/nest.toml", "valid/key/dotted-empty.toml",
        ]
        for file in files {
            let result = try await BuiltBinaries.run(.gt, ["toml", "decode"], stdinPath: Self.suite(file))
            #expect(result.status == 0, "\(file): \(result)")
            #expect(result.stderr.isEmpty)
            let expected = try String(contentsOfFile: Self.suite(file.dropLast(5) + ".json"), encoding: .utf8)
            #expect(try Self.json(result.stdout) == Self.json(expected), "\(file)")
        }
        // The file can be named instead of piped.
        let named = try await BuiltBinaries.run(.gt, ["toml", "decode", Self.suite("valid/integer/integer.toml")])
        #expect(named.status == 0)
        #expect(
            try Self.json(named.stdout)
                == Self.json(try String(contentsOfFile: Self.suite("valid/integer/integer.json"), encoding: .utf8)))
    }

    @Test func invalidDocumentsExitOneWithTheLineOnStderr() async throws {
        let duplicate = try await BuiltBinaries.run(
            .gt, ["toml", "decode"], stdinPath: Self.suite("invalid/table/duplicate-key-01.toml"))
        #expect(duplicate.status == 1)
        #expect(duplicate.stdout.isEmpty)
        #expect(duplicate.stderr == "Error: line 4, column 1: table [a] is defined twice (first at line 1)\n")

        let utf8 = try await BuiltBinaries.run(
            .gt, ["toml", "decode"], stdinPath: Self.suite("invalid/encoding/bad-utf8-in-string.toml"))
        #expect(utf8.status == 1)
        #expect(utf8.stderr.contains("invalid UTF-8"))

        let path = Self.suite("invalid/integer/leading-zero-01.toml")
        let named = try await BuiltBinaries.run(.gt, ["toml", "decode", path])
        #expect(named.status == 1)
        #expect(named.stderr.hasPrefix("Error: \(path): line 1, column "))

        let missing = try await BuiltBinaries.run(.gt, ["toml", "decode", "/nonexistent.toml"])
        #expect(missing.status == 1)
        #expect(missing.stderr == "Error: cannot read /nonexistent.toml; check the path\n")
    }
}

/// A town's `.beads/formulas/` over the built-in formulas, read from disk.
@Suite struct TownFormulasTests {
    @Test func aTownDirectoryOverridesBuiltinsAndErrorsNameTheFile() async throws {
        try await TempDir.with { temp in
            let town = temp.path
            // No directory yet: the built-ins alone.
            let builtins = try await TownFormulas.library(town: town)
            #expect(try builtins.cook("towers-of-hanoi").beads.count == 10)
            try temp.write(
                ".beads/formulas/towers-of-hanoi.formula.toml",
                "formula = \"towers-of-hanoi\"\n[[steps]]\nid = \"one\"\ntitle = \"One move\"\n")
            try temp.write(".beads/formulas/broken.formula.toml", "formula = \"broken\"\n[[steps]\n")
            try temp.write(".beads/formulas/README.md", "not a formula")
            let library = try await TownFormulas.library(town: town)
            #expect(try library.cook("towers-of-hanoi").beads.map(\.suffix) == ["", "one"])
            #expect(library.source.names.contains("shiny"))
            #expect(library.source.names.contains("broken"))
            #expect(!library.source.names.contains("README"))
            do throws(FormulaError) {
                _ = try library.load("broken")
                Issue.record("a broken formula loaded")
            } catch {
                #expect(error.description.hasPrefix("\(town)/.beads/formulas/broken.formula.toml:2:"))
            }
        }
    }
}
