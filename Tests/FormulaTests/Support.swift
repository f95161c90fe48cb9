import Foundation
import GasTownTestKit
import Testing

@testable import Formula

/// The sample formulas (shared/samples/formulas, Gas Town's own files) as a formula source, read at test time.
enum SampleFormulas {
    static let names = [
        "code-review", "mol-gastown-boot", "mol-polecat-work", "mol-witness-patrol", "rule-of-five",
        "security-audit", "shiny", "shiny-enterprise", "shiny-secure", "towers-of-hanoi",
    ]

    static func bytes(_ name: String) throws -> [UInt8] {
        try SharedSamples.bytes("formulas/\(name).formula.toml")
    }

    static func source() throws -> InMemoryFormulaSource {
        InMemoryFormulaSource(
            try names.map { FormulaText(name: $0, file: "\($0).formula.toml", bytes: try bytes($0)) },
            location: SharedSamples.path("formulas"))
    }

    static func library(extra: [String: String] = [:]) throws -> FormulaLibrary {
        var layers: [any FormulaSource] = []
        if !extra.isEmpty { layers.append(InMemoryFormulaSource(texts: extra, location: "test")) }
        layers.append(try source())
        return FormulaLibrary(source: LayeredFormulaSource(layers))
    }
}

/// A step graph as (id, needs) pairs in order, children included (depth first), for exact comparisons.
func graph(_ steps: [Step]) -> [String] {
    var out: [String] = []
    func visit(_ list: [Step]) {
        for s in list {
            out.append("\(s.id) <- [\(s.allNeeds.joined(separator: ", "))]")
            visit(s.children)
        }
    }
    visit(steps)
    return out
}

/// A plan as "suffix type <- [type:target, …]" lines, in plan order.
func planGraph(_ plan: MoleculePlan) -> [String] {
    plan.beads.map { bead in
        let edges = bead.dependencies.map { "\($0.type.rawValue):\($0.target.isEmpty ? "(root)" : $0.target)" }
        return
            "\(bead.suffix.isEmpty ? "(root)" : bead.suffix) \(bead.issueType.rawValue) <- [\(edges.joined(separator: ", "))]"
    }
}

/// Runs `body`, expecting a `FormulaError`, and returns it.
func expectFormulaError(
    _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
) -> FormulaError? {
    do {
        try body()
        Issue.record("expected a FormulaError", sourceLocation: sourceLocation)
        return nil
    } catch let error as FormulaError {
        return error
    } catch {
        Issue.record("expected a FormulaError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
