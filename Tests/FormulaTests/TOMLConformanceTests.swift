import Foundation
import GasTownTestKit
import Testing

@testable import Formula

/// toml-test's TOML 1.0.0 suite (shared/samples/toml-test, the 919 files of `tests/files-toml-1.0.0`): every valid
/// document decodes to exactly its expected tagged JSON, compared with toml-test's own rules, and every invalid one
/// is rejected with a `TOMLError`.
@Suite struct TOMLConformanceTests {
    static let suite = "toml-test/tests"

    static func listed() throws -> [String] {
        let list = String(decoding: try SharedSamples.bytes(suite + "/files-toml-1.0.0"), as: UTF8.self)
        return list.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }

    @Test func everyValidDocumentDecodesToItsExpectedJSON() throws {
        let valid = try Self.listed().filter { $0.hasPrefix("valid/") && $0.hasSuffix(".toml") }
        #expect(valid.count == 210)
        var failures: [String] = []
        for file in valid {
            let bytes = try SharedSamples.bytes(Self.suite + "/" + file)
            let expectedPath = Self.suite + "/" + file.dropLast(5) + ".json"
            let expected = try JSONSerialization.jsonObject(
                with: Data(try SharedSamples.bytes(expectedPath)), options: [.fragmentsAllowed])
            do {
                let table = try TOML.parse(bytes: bytes)
                let encoded = TOMLTaggedJSON.encode(table)
                let have = try JSONSerialization.jsonObject(with: Data(encoded.utf8), options: [.fragmentsAllowed])
                if let problem = TaggedJSONComparison.difference(want: expected, have: have, key: "") {
                    failures.append("\(file): \(problem)")
                }
            } catch {
                failures.append("\(file): rejected: \(error)")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) failures:\n\(failures.joined(separator: "\n"))")
    }

    @Test func everyInvalidDocumentIsRejectedWithALocation() throws {
        let invalid = try Self.listed().filter { $0.hasPrefix("invalid/") }
        #expect(invalid.count == 499)
        var accepted: [String] = []
        for file in invalid {
            let bytes = try SharedSamples.bytes(Self.suite + "/" + file)
            do {
                let table = try TOML.parse(bytes: bytes)
                accepted.append("\(file): accepted as \(TOMLTaggedJSON.encode(table))")
            } catch {
                // Every error names a real place in the document.
                let lines = bytes.filter { $0 == 0x0A }.count + 1
                if error.line < 1 || error.line > lines || error.column < 1 {
                    accepted.append("\(file): error at an impossible place: \(error)")
                }
            }
        }
        #expect(accepted.isEmpty, "\(accepted.count) invalid documents accepted:\n\(accepted.joined(separator: "\n"))")
    }

    @Test func errorsNameLineAndColumn() {
        let cases: [(String, String)] = [
            ("a = 1\nb 2\n", "line 2, column 3: expected '=' after key 'b', found '2'"),
            ("[a]\nx = 1\n[a]\n", "line 3, column 1: table [a] is defined twice (first at line 1)"),
            (
                "name = \"Tom\"\nname = \"Pradyun\"\n",
                "line 2, column 1: duplicate key 'name': already defined at line 1"
            ),
            (
                "s = \"a\\qb\"\n",
                "line 1, column 7: invalid escape \\'q'; TOML 1.0 allows \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX"
            ),
            ("x = [1, 2\n", "line 2, column 1: unterminated array: expected ']' before the end of the file"),
            (
                "ä = 1",
                "line 1, column 1: expected a key, found 'ä'; bare keys may use A-Z a-z 0-9 - _, other keys must be quoted"
            ),
            (
                "t = {a = 1,}\n",
                "line 1, column 12: expected a key in the inline table, found '}' (TOML 1.0 allows no trailing or doubled comma)"
            ),
            ("d = 2100-02-29\n", "line 1, column 13: invalid date: 2100-02-29 has no day 29"),
            ("n = 0x_1\n", "line 1, column 5: invalid number '0x_1': an underscore must stand between two digits"),
            ("k = \"ok\"\n# bad \u{7f}\n", "line 2, column 7: control character U+007F in a comment"),
        ]
        for (text, message) in cases {
            #expect(throws: TOMLError.self) { try TOML.parse(text) }
            do {
                _ = try TOML.parse(text)
            } catch {
                #expect(error.description == message)
            }
        }
    }

    @Test func invalidUTF8IsReportedWhereItIs() {
        let bytes: [UInt8] = Array("a = 1\nb = \"x".utf8) + [0xC3, 0x28] + Array("\"\n".utf8)
        do {
            _ = try TOML.parse(bytes: bytes)
            Issue.record("accepted invalid UTF-8")
        } catch {
            #expect(error.location == TOMLLocation(line: 2, column: 7))
            #expect(error.message.contains("invalid UTF-8"))
        }
    }

    @Test func keysRememberWhereTheyWereWritten() throws {
        let table = try TOML.parse("a = 1\n\n[t]\n  b.c = \"x\"\n[[arr]]\nk = 2\n")
        #expect(table.location(of: "a") == TOMLLocation(line: 1, column: 1))
        #expect(table.location(of: "t") == TOMLLocation(line: 3, column: 1))
        let t = try #require(table["t"]?.tableValue)
        #expect(t.location(of: "b") == TOMLLocation(line: 4, column: 3))
        let element = try #require(table["arr"]?.arrayValue?.first?.tableValue)
        #expect(element.location == TOMLLocation(line: 5, column: 1))
        #expect(element.location(of: "k") == TOMLLocation(line: 6, column: 1))
    }
}
