import Foundation
import GasTownTestKit
import Testing

@testable import Formula

/// Seeded random and mutated documents for the TOML parser and the formula parser: each input gives a value or the
/// typed error, never a crash or a hang; what parses, parses the same again; errors point inside the document.
@Suite struct TOMLFuzzTests {
    static func corpus() throws -> [[UInt8]] {
        let list = String(decoding: try SharedSamples.bytes("toml-test/tests/files-toml-1.0.0"), as: UTF8.self)
        var docs = try list.split(separator: "\n").filter { $0.hasPrefix("valid/") && $0.hasSuffix(".toml") }
            .map { try SharedSamples.bytes("toml-test/tests/\($0)") }
        docs += try SampleFormulas.names.map { try SampleFormulas.bytes($0) }
        return docs
    }

    static let alphabet: [UInt8] =
        Array("[]{}=\"'.,#\n\r\t _-+:0123456789abcdefxobintrueTZz\\u".utf8) + [
            0x00, 0x7F, 0xC3, 0xA9, 0xE2, 0x80, 0xFF,
        ]

    static func mutate(_ doc: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var b = doc
        for _ in 0..<(1 + Int(rng.next() % 5)) {
            guard !b.isEmpty else {
                b.append(alphabet[Int(rng.next() % UInt64(alphabet.count))])
                continue
            }
            let i = Int(rng.next() % UInt64(b.count))
            switch rng.next() % 7 {
            case 0: b[i] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
            case 1: b.remove(at: i)
            case 2: b.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: i)
            case 3: b = Array(b[..<i])
            case 4:
                let j = min(b.count, i + Int(rng.next() % 60))
                b.insert(contentsOf: b[i..<j], at: i)
            case 5:
                let j = Int(rng.next() % UInt64(b.count))
                b.swapAt(i, j)
            default: b[i] = UInt8(truncatingIfNeeded: rng.next())
            }
        }
        return b
    }

    @Test func parserSurvivesSeededRandomAndMutatedDocuments() throws {
        let corpus = try Self.corpus()
        var rng = SplitMix64(seed: 15)
        var parsed = 0
        var refused = 0
        for n in 0..<40_000 {
            let input: [UInt8]
            if n % 8 == 0 {
                input = (0..<Int(rng.next() % 120)).map { _ in
                    Self.alphabet[Int(rng.next() % UInt64(Self.alphabet.count))]
                }
            } else {
                let doc = corpus[Int(rng.next() % UInt64(corpus.count))]
                input = Self.mutate(n % 4 == 0 ? doc : Array(doc.prefix(1_500)), &rng)
            }
            do {
                let table = try TOML.parse(bytes: input)
                parsed += 1
                #expect(try TOML.parse(bytes: input) == table)
                _ = TOMLTaggedJSON.encode(table)
            } catch {
                refused += 1
                let lines = input.filter { $0 == 0x0A }.count + 1
                #expect(error.line >= 1 && error.line <= lines && error.column >= 1, "\(error)")
            }
            if n % 5 == 0 {
                do {
                    _ = try FormulaParser.parse(bytes: input, file: "fuzz.formula.toml")
                } catch {
                    #expect(!error.description.isEmpty)
                }
            }
        }
        #expect(parsed > 2_000 && refused > 20_000, "parsed \(parsed), refused \(refused)")
    }

    @Test func deepNestingIsRefusedNotAStackOverflow() {
        let deep: [String] = [
            "a = " + String(repeating: "[", count: 100_000),
            "a = " + String(repeating: "{b = ", count: 50_000),
            "a" + String(repeating: ".a", count: 100_000) + " = 1",
            "[" + String(repeating: "a.", count: 100_000) + "a]",
            String(repeating: "[[a]]\n", count: 2) + "[" + String(repeating: "a.", count: 300) + "b]",
        ]
        for text in deep {
            #expect(throws: TOMLError.self) { try TOML.parse(text) }
        }
        // Just under the limit is fine.
        #expect(throws: Never.self) {
            try TOML.parse("a = " + String(repeating: "[", count: 127) + String(repeating: "]", count: 127))
        }
        var small = TOMLSettings()
        small.maxBytes = 5
        #expect(throws: TOMLError.self) { try TOML.parse(bytes: Array(repeating: 0x20, count: 10), settings: small) }
    }

    @Test func largeDocumentsParse() throws {
        // A 15-disk Hanoi (32,769 steps, 4.9 MB) parses and cooks; no time is asserted (gt-bench measures).
        let text = HanoiFormula.text(disks: 15)
        let library = FormulaLibrary(source: InMemoryFormulaSource(texts: ["towers-of-hanoi-15": text], location: "t"))
        let plan = try library.cook("towers-of-hanoi-15")
        #expect(plan.beads.count == 32_770)
        #expect(plan.beads.last?.dependencies.last == PlannedDependency(.blocks, "move-32767"))
    }
}
