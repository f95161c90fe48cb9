import Foundation
import GasTownTestKit
import Testing

@testable import Formula

/// Every formula in shared/samples/formulas loads unchanged into the model, with the fields Gas Town wrote.
@Suite struct FormulaLoadingTests {
    @Test func everySampleFormulaLoadsWithoutWarnings() throws {
        let library = try SampleFormulas.library()
        let expected: [String: (FormulaType, steps: Int)] = [
            "code-review": (.convoy, 0), "mol-gastown-boot": (.workflow, 5), "mol-polecat-work": (.workflow, 8),
            "mol-witness-patrol": (.workflow, 9), "rule-of-five": (.expansion, 0), "security-audit": (.aspect, 0),
            "shiny": (.workflow, 5), "shiny-enterprise": (.workflow, 0), "shiny-secure": (.workflow, 0),
            "towers-of-hanoi": (.workflow, 9),
        ]
        #expect(Set(expected.keys) == Set(SampleFormulas.names))
        for name in SampleFormulas.names {
            let f = try library.load(name)
            #expect(f.name == name)
            #expect(f.type == expected[name]!.0, "\(name)")
            #expect(f.steps.count == expected[name]!.steps, "\(name)")
            #expect(f.warnings.isEmpty, "\(name): \(f.warnings)")
            #expect(f.extra.isEmpty, "\(name)")
            // Resolving works for all of them (aspects and expansions resolve to themselves).
            _ = try library.resolve(name)
        }
    }

    @Test func fieldsAreReadAsWritten() throws {
        let library = try SampleFormulas.library()
        let polecat = try library.load("mol-polecat-work")
        #expect(polecat.version == 10)
        #expect(
            polecat.steps.map(\.id) == [
                "load-context", "branch-setup", "implement", "commit-changes", "self-review", "build-check",
                "pre-verify", "submit-and-exit",
            ])
        #expect(polecat.steps[1].needs == ["load-context"])
        #expect(polecat.variable("issue")?.required == true)
        #expect(polecat.variable("issue")?.defaultValue == nil)
        #expect(polecat.variable("base_branch")?.defaultValue == "main")
        #expect(polecat.variable("setup_command")?.defaultValue == "")
        #expect(
            polecat.vars.map(\.name) == [
                "issue", "base_branch", "setup_command", "typecheck_command", "test_command", "lint_command",
                "build_command",
            ])

        let patrol = try library.load("mol-witness-patrol")
        #expect(patrol.name == "mol-witness-patrol")  // a literal string ('…') in the file
        #expect(patrol.version == 12)
        #expect(patrol.variable("wisp_type")?.defaultValue == "patrol")
        #expect(patrol.steps.last?.id == "loop-or-exit")
        #expect(patrol.steps.last?.description.contains("{{prefix}}-{{rig}}-witness") == true)

        let boot = try library.load("mol-gastown-boot")
        #expect(boot.steps[2].type == "parallel")
        #expect(boot.steps[2].children.map(\.id) == ["ensure-gastown-witness", "ensure-beads-witness"])
        #expect(boot.steps[4].needs == ["ensure-witnesses", "ensure-refineries"])
        #expect(
            boot.steps[0].origin
                == FormulaSourceLocation(file: "mol-gastown-boot.formula.toml", path: "steps[0]", line: 22))

        let shiny = try library.load("shiny")
        #expect(shiny.steps[1].acceptance == "All files from the design doc are modified/created and committed")
        #expect(shiny.variable("feature")?.required == true)
        #expect(shiny.variable("assignee")?.description == "Who is assigned to this work")

        let audit = try library.load("security-audit")
        #expect(audit.advice.map(\.target) == ["implement", "submit"])
        #expect(audit.advice[0].before.map(\.id) == ["{step.id}-security-prescan"])
        #expect(audit.advice[0].after.map(\.id) == ["{step.id}-security-postscan"])
        #expect(audit.pointcuts.map(\.glob) == ["implement", "submit"])

        let five = try library.load("rule-of-five")
        #expect(
            five.template.map(\.id) == [
                "{target}.draft", "{target}.refine-1", "{target}.refine-2", "{target}.refine-3", "{target}.refine-4",
            ])

        let enterprise = try library.load("shiny-enterprise")
        #expect(enterprise.extends == ["shiny"])
        #expect(enterprise.compose.expand.map { "\($0.target)/\($0.with)" } == ["implement/rule-of-five"])
        #expect(try library.load("shiny-secure").compose.aspects == ["security-audit"])

        let review = try library.load("code-review")
        #expect(review.legs.count == 10)
        #expect(review.legs[0].focus == "Logical correctness and edge case handling")
        #expect(review.inputs.map(\.name) == ["pr", "files", "branch"])
        #expect(review.inputs[0].requiredUnless == ["files", "branch"])
        #expect(review.presets.map(\.name) == ["gate", "full", "security-focused", "refactor"])
        #expect(review.synthesis?.dependsOn.count == 10)
        #expect(review.prompts.map(\.name) == ["base"])
        #expect(review.output?.legPattern == "{{.leg.id}}-findings.md")
    }

    @Test func builtinsAreTheSampleFilesByteForByte() throws {
        let builtins = BuiltinFormulas()
        #expect(builtins.names == SampleFormulas.names.sorted())
        for name in SampleFormulas.names {
            let text = try #require(builtins.formula(named: name))
            #expect(text.bytes == (try SampleFormulas.bytes(name)), "\(name): run scripts/gen-builtin-formulas")
            #expect(text.file == "builtin:\(name).formula.toml")
        }
    }

    @Test func aTownFormulaOverridesABuiltin() throws {
        let town = InMemoryFormulaSource(
            texts: ["shiny": "formula = \"shiny\"\n[[steps]]\nid = \"only\"\ntitle = \"Only {{feature}}\"\n"],
            location: "/town/.beads/formulas")
        let library = FormulaLibrary(source: LayeredFormulaSource([town, BuiltinFormulas()]))
        #expect(try library.load("shiny").steps.map(\.id) == ["only"])
        // shiny-enterprise now extends the town's shiny; its expansion target is gone.
        let error = expectFormulaError { _ = try library.resolve("shiny-enterprise") }
        #expect(error?.kind == .unknownStep("implement"))
        #expect(error?.file == "builtin:shiny-enterprise.formula.toml")
        #expect(try library.resolve("towers-of-hanoi").steps.count == 9)
        #expect(library.source.locations == ["/town/.beads/formulas", "built-in formulas"])
    }

    @Test func unknownKeysAreKeptWithAWarning() throws {
        let text = """
            formula = "extra"
            colour = "blue"

            [[steps]]
            id = "a"
            title = "A"
            flavour = 3
            [steps.gate]
            type = "human"
            approvers = ["manager"]
            """
        let f = try FormulaParser.parse(text, file: "extra.formula.toml")
        #expect(f.extra.map(\.key) == ["colour"])
        #expect(f.steps[0].extra.map(\.key) == ["flavour"])
        #expect(f.steps[0].extra[0].value == .integer(3))
        #expect(f.steps[0].gate?.extra.map(\.key) == ["approvers"])
        #expect(
            f.warnings.map(\.description) == [
                "extra.formula.toml:2: colour: unknown key (kept, not used)",
                "extra.formula.toml:7: steps[0].flavour: unknown key (kept, not used)",
                "extra.formula.toml:10: steps[0].gate.approvers: unknown key (kept, not used)",
            ])
    }

    @Test func typeIsInferredWhenAbsent() throws {
        func type(_ text: String) throws -> FormulaType { try FormulaParser.parse(text, file: "t").type }
        #expect(try type("formula = \"a\"\n[[steps]]\nid = \"s\"\ntitle = \"S\"\n") == .workflow)
        #expect(try type("formula = \"a\"\n[[legs]]\nid = \"l\"\n") == .convoy)
        #expect(try type("formula = \"a\"\n[[template]]\nid = \"{target}.x\"\ntitle = \"X\"\n") == .expansion)
        #expect(try type("formula = \"a\"\n[[advice]]\ntarget = \"*\"\n") == .aspect)
        #expect(try type("formula = \"a\"\n") == .workflow)
    }
}
