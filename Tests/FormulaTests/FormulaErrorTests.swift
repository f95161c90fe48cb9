import Foundation
import GasTownTestKit
import Testing

@testable import Formula

/// Bad formulas are refused with a typed error naming the file, the line (where known) and the field.
@Suite struct FormulaErrorTests {
    func library(_ texts: [String: String]) throws -> FormulaLibrary {
        try SampleFormulas.library(extra: texts)
    }

    @Test func syntaxErrorNamesFileLineAndColumn() throws {
        let lib = try library(["bad": "formula = \"bad\"\n[[steps]]\nid \"a\"\n"])
        let error = expectFormulaError { _ = try lib.load("bad") }
        guard case .syntax(let toml)? = error?.kind else {
            Issue.record("not a syntax error: \(String(describing: error))")
            return
        }
        #expect(toml.location == TOMLLocation(line: 3, column: 4))
        #expect(error?.description == "test/bad.formula.toml:3:4: expected '=' after key 'id', found '\"'")
    }

    @Test func unknownStepInNeedsNamesTheStepAndSuggests() throws {
        let text = """
            formula = "typo"
            [[steps]]
            id = "design"
            title = "Design"

            [[steps]]
            id = "implement"
            title = "Implement"
            needs = ["desing"]
            """
        let lib = try library(["typo": text])
        let error = expectFormulaError { _ = try lib.cook("typo") }
        #expect(error?.kind == .unknownStep("desing"))
        #expect(
            error?.description == "test/typo.formula.toml:9: steps[1].needs: step 'implement' needs 'desing', "
                + "which is not a step of 'typo' (did you mean 'design'?)")
    }

    @Test func anInheritedMistakeNamesTheParentFile() throws {
        let parent = "formula = \"p\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\ndepends_on = [\"zzz\"]\n"
        let child = "formula = \"c\"\nextends = [\"p\"]\n[[steps]]\nid = \"b\"\ntitle = \"B\"\n"
        let lib = try library(["p": parent, "c": child])
        let error = expectFormulaError { _ = try lib.cook("c") }
        #expect(error?.kind == .unknownStep("zzz"))
        #expect(error?.file == "test/p.formula.toml")
        #expect(error?.line == 5)
        #expect(error?.field == "steps[0].depends_on")
    }

    @Test func aCycleIsRefusedWithTheStepsAroundIt() throws {
        let text = """
            formula = "loop"
            [[steps]]
            id = "a"
            title = "A"
            needs = ["c"]
            [[steps]]
            id = "b"
            title = "B"
            needs = ["a"]
            [[steps]]
            id = "c"
            title = "C"
            needs = ["b"]
            """
        let lib = try library(["loop": text])
        let error = expectFormulaError { _ = try lib.proto("loop") }
        #expect(error?.kind == .cycle(["a", "c", "b", "a"]))
        #expect(
            error?.description == "test/loop.formula.toml:9: steps[1].needs: the steps wait for each other in a "
                + "cycle: a needs c needs b needs a; remove one of these needs")
        // A parent that needs its own child deadlocks too.
        let parent = """
            formula = "own"
            [[steps]]
            id = "p"
            title = "P"
            needs = ["kid"]
            [[steps.children]]
            id = "kid"
            title = "Kid"
            """
        let own = expectFormulaError { _ = try (try library(["own": parent])).proto("own") }
        #expect(own?.kind == .cycle(["p", "kid", "p"]))
    }

    @Test func missingRequiredVariableNamesItsDeclaration() throws {
        let lib = try library([:])
        let error = expectFormulaError { _ = try lib.cook("shiny") }
        #expect(error?.kind == .missingVariable("feature"))
        #expect(
            error?.description == "shiny.formula.toml:43: vars.feature: variable 'feature' (The feature being "
                + "implemented) needs a value: pass --var feature=<value>")
        // mol-polecat-work's issue is required; its other variables have defaults.
        let polecat = expectFormulaError { _ = try lib.cook("mol-polecat-work") }
        #expect(polecat?.kind == .missingVariable("issue"))
        let plan = try lib.cook("mol-polecat-work", options: CookOptions(variables: ["issue": "gt-123"]))
        #expect(plan.variables["base_branch"] == "main")
        #expect(plan.bead("load-context")?.description.contains("gt-123") == true)
    }

    @Test func badVariablePatternAndEnum() throws {
        let text = """
            formula = "v"
            [vars.size]
            enum = ["s", "m"]
            default = "s"
            [vars.code]
            pattern = "([a-z"
            default = "x"
            [[steps]]
            id = "a"
            title = "A {{size}} {{code}}"
            """
        let lib = try library(["v": text])
        let pattern = expectFormulaError { _ = try lib.cook("v") }
        #expect(pattern?.kind == .invalidValue)
        #expect(pattern?.field == "vars.code.pattern")
        #expect(pattern?.line == 5)
        let size = expectFormulaError { _ = try lib.cook("v", options: CookOptions(variables: ["size": "xl"])) }
        #expect(size?.kind == .invalidVariable("size"))
        #expect(size?.line == 2)
    }

    @Test func wrongTypesNameTheField() throws {
        let cases: [(String, String)] = [
            (
                "formula = \"w\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\nneeds = \"b\"\n",
                "test/w.formula.toml:5: steps[0].needs: expected an array of strings, found a string"
            ),
            ("formula = 3\n", "test/w.formula.toml:1: formula: expected a string, found an integer"),
            ("description = \"no name\"\n", "test/w.formula.toml:1: formula: a formula needs `formula = \"…\"`"),
            (
                "formula = \"w\"\ntype = \"flow\"\n",
                "test/w.formula.toml:2: type: 'flow' is not a formula type; use workflow, expansion, aspect or convoy"
            ),
            (
                "formula = \"w\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\npriority = 9\n",
                "test/w.formula.toml:5: steps[0].priority: 9 is not a priority; use 0 (highest) to 4"
            ),
            (
                "formula = \"w\"\n[[steps]]\nid = \"a\"\n",
                "test/w.formula.toml:2: steps[0].title: step 'a' needs a title (only a step with `expand` or `loop` "
                    + "may leave it out)"
            ),
            (
                "formula = \"w\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\ngate = { type = \"timer\", timeout = \"soon\" }\n",
                "test/w.formula.toml:5: steps[0].gate.timeout: 'soon' is not a duration; write it like 30m, 24h or 1h30m"
            ),
            (
                "formula = \"w\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\n[[steps]]\nid = \"a\"\ntitle = \"again\"\n",
                "test/w.formula.toml:5: steps[1].id: duplicate step ID 'a' (first at steps[0], line 2)"
            ),
            (
                "formula = \"w\"\n[vars]\nn = 3\n",
                "test/w.formula.toml:3: vars.n: expected a default value (a string) or a table, found an integer"
            ),
            (
                "formula = \"w\"\nsteps = [1]\n",
                "test/w.formula.toml:2: steps: expected an array of tables ([[steps]]), found an integer"
            ),
        ]
        for (text, message) in cases {
            let lib = try library(["w": text])
            let error = expectFormulaError { _ = try lib.load("w") }
            #expect(error?.description == message)
        }
    }

    @Test func compositionErrors() throws {
        let missingParent = "formula = \"orphan\"\nextends = [\"nope\"]\n"
        let lib = try library([
            "orphan": missingParent,
            "ping": "formula = \"ping\"\nextends = [\"pong\"]\n",
            "pong": "formula = \"pong\"\nextends = [\"ping\"]\n",
            "bad-expand":
                "formula = \"bad-expand\"\nextends = [\"shiny\"]\n[[compose.expand]]\ntarget = \"design\"\nwith = \"shiny\"\n",
            "bad-target":
                "formula = \"bad-target\"\nextends = [\"shiny\"]\n[[compose.expand]]\ntarget = \"nope\"\nwith = \"rule-of-five\"\n",
            "bad-aspect": "formula = \"bad-aspect\"\nextends = [\"shiny\"]\n[compose]\naspects = [\"rule-of-five\"]\n",
            "cond": "formula = \"cond\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\ncondition = \"when it rains\"\n",
            "fan": "formula = \"fan\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\nwaits_for = \"some-children\"\n",
        ])
        let notFound = expectFormulaError { _ = try lib.resolve("orphan") }
        #expect(notFound?.kind == .notFound("nope"))
        #expect(notFound?.field == "extends[0]")
        #expect(notFound?.message.hasPrefix("formula 'nope' not found (searched: test, ") == true)
        let circular = expectFormulaError { _ = try lib.resolve("ping") }
        #expect(circular?.kind == .circularExtends(["ping", "pong", "ping"]))
        let wrongType = expectFormulaError { _ = try lib.resolve("bad-expand") }
        #expect(wrongType?.kind == .wrongFormulaType("shiny"))
        #expect(wrongType?.field == "compose.expand[0].with")
        #expect(wrongType?.line == 3)
        let target = expectFormulaError { _ = try lib.resolve("bad-target") }
        #expect(target?.kind == .unknownStep("nope"))
        #expect(target?.field == "compose.expand[0].target")
        let aspect = expectFormulaError { _ = try lib.resolve("bad-aspect") }
        #expect(aspect?.kind == .wrongFormulaType("rule-of-five"))
        #expect(aspect?.line == 4)
        let condition = expectFormulaError { _ = try lib.proto("cond") }
        #expect(condition?.field == "steps[0].condition")
        #expect(condition?.line == 5)
        let fan = expectFormulaError { _ = try lib.proto("fan") }
        #expect(fan?.field == "steps[0].waits_for")
    }

    @Test func limitsStopRunawayFormulas() throws {
        let selfExpanding = """
            formula = "forever"
            type = "expansion"
            [[template]]
            id = "{target}.again"
            title = "Again"
            expand = "forever"
            """
        let user = "formula = \"user\"\n[[steps]]\nid = \"s\"\ntitle = \"S\"\nexpand = \"forever\"\n"
        let bigLoop =
            "formula = \"big\"\n[[steps]]\nid = \"l\"\n[steps.loop]\ncount = 1000000\n[[steps.loop.body]]\nid = \"x\"\ntitle = \"X\"\n"
        let lib = try library(["forever": selfExpanding, "user": user, "big": bigLoop])
        let deep = expectFormulaError { _ = try lib.resolve("user") }
        #expect(deep?.kind == .limitExceeded)
        let big = expectFormulaError { _ = try lib.resolve("big") }
        #expect(big?.kind == .limitExceeded)
        #expect(big?.field == "steps[0].loop.count")
    }
}
