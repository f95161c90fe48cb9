import Foundation
import GasTownTestKit
import Testing

@testable import Formula

/// `extends`, `compose.expand` and `compose.aspects` resolve into the step graphs Gas Town and beads produce:
/// shiny-enterprise as Gas Town's own test `TestResolve_ShinyEnterprise` asserts (internal/formula/parser_test.go),
/// shiny-secure as beads' `ApplyAdvice` (the code behind `bd cook`) inserts the security-audit aspect.
@Suite struct CompositionTests {
    @Test func shinyEnterpriseExpandsImplementWithTheRuleOfFive() throws {
        let library = try SampleFormulas.library()
        let f = try library.resolve("shiny-enterprise")
        #expect(
            graph(f.steps) == [
                "design <- []",
                "implement.draft <- [design]",
                "implement.refine-1 <- [implement.draft]",
                "implement.refine-2 <- [implement.refine-1]",
                "implement.refine-3 <- [implement.refine-2]",
                "implement.refine-4 <- [implement.refine-3]",
                "review <- [implement.refine-4]",
                "test <- [review]",
                "submit <- [test]",
            ])
        #expect(f.extends.isEmpty)
        #expect(
            f.description == "Enterprise-grade engineering workflow. Shiny + Rule of Five expansion on implement step.")
        #expect(f.variable("feature")?.required == true)  // inherited from shiny
        let draft = f.steps[1]
        #expect(draft.title == "Draft: Implement {{feature}}")
        #expect(draft.description.hasPrefix("Initial attempt at: Write the code for {{feature}}. Follow the design."))
        #expect(draft.origin.file == "rule-of-five.formula.toml")
        #expect(draft.origin.path == "template[0]")
        #expect(f.steps[0].origin.file == "shiny.formula.toml")
        #expect(f.steps[0].sourceFormula == "shiny")

        let plan = try library.cook("shiny-enterprise", options: CookOptions(variables: ["feature": "login"]))
        #expect(
            plan.beads.map(\.suffix) == [
                "", "design", "implement.draft", "implement.refine-1", "implement.refine-2", "implement.refine-3",
                "implement.refine-4", "review", "test", "submit",
            ])
        #expect(plan.bead("implement.draft")?.title == "Draft: Implement login")
        #expect(
            plan.bead("review")?.dependencies == [
                PlannedDependency(.parentChild, ""), PlannedDependency(.blocks, "implement.refine-4"),
            ])
        #expect(plan.root.title == "shiny-enterprise")
        #expect(plan.root.issueType == .molecule)
    }

    @Test func shinySecureWrapsImplementAndSubmitWithSecurityScans() throws {
        let library = try SampleFormulas.library()
        let f = try library.resolve("shiny-secure")
        #expect(
            graph(f.steps) == [
                "design <- []",
                "implement-security-prescan <- []",
                "implement <- [design, implement-security-prescan]",
                "implement-security-postscan <- [implement]",
                "review <- [implement]",
                "test <- [review]",
                "submit-security-prescan <- []",
                "submit <- [test, submit-security-prescan]",
                "submit-security-postscan <- [submit]",
            ])
        let prescan = f.steps[1]
        #expect(prescan.title == "Security prescan for implement")
        #expect(prescan.description.hasPrefix("Pre-implementation security check."))
        #expect(prescan.origin.file == "security-audit.formula.toml")
        #expect(prescan.origin.path == "advice[0].around.before[0]")
        #expect(prescan.sourceFormula == "security-audit")
    }

    @Test func pointcutsLimitWhereAdviceApplies() throws {
        let aspect = """
            formula = "log-all"
            type = "aspect"
            [[advice]]
            target = "*"
            [advice.before]
            id = "log-{step.id}"
            [[pointcuts]]
            glob = "*.refine-*"
            """
        let wrapper = """
            formula = "wrapped"
            extends = ["shiny-enterprise"]
            [compose]
            aspects = ["log-all"]
            """
        let library = try SampleFormulas.library(extra: ["log-all": aspect, "wrapped": wrapper])
        let f = try library.resolve("wrapped")
        #expect(
            f.steps.map(\.id) == [
                "design", "implement.draft", "log-implement.refine-1", "implement.refine-1", "log-implement.refine-2",
                "implement.refine-2", "log-implement.refine-3", "implement.refine-3", "log-implement.refine-4",
                "implement.refine-4", "review", "test", "submit",
            ])
        #expect(f.steps[3].needs == ["implement.draft", "log-implement.refine-1"])
        #expect(f.steps[2].title == "log-implement.refine-1")  // no title: the ID
    }

    @Test func childOverridesParentStepsAndVariablesByName() throws {
        let child = """
            formula = "shiny-fast"
            extends = ["shiny"]
            [vars.feature]
            default = "anything"
            [[steps]]
            id = "review"
            title = "Skim it"
            needs = ["implement"]
            [[steps]]
            id = "celebrate"
            title = "Celebrate {{feature}}"
            needs = ["submit"]
            """
        let library = try SampleFormulas.library(extra: ["shiny-fast": child])
        let f = try library.resolve("shiny-fast")
        #expect(f.steps.map(\.id) == ["design", "implement", "review", "test", "submit", "celebrate"])
        #expect(f.steps[2].title == "Skim it")
        #expect(f.variable("feature")?.defaultValue == "anything")
        #expect(
            f.description
                == "Engineer in a Box - the canonical right way. Design before you code. Review before you ship. Test before you submit."
        )
        let plan = try library.cook("shiny-fast")
        #expect(plan.bead("celebrate")?.title == "Celebrate anything")
    }

    @Test func multipleParentsMergeInOrder() throws {
        let a = "formula = \"a\"\n[vars]\nx = \"from-a\"\n[[steps]]\nid = \"one\"\ntitle = \"One\"\n"
        let b =
            "formula = \"b\"\n[vars]\nx = \"from-b\"\ny = \"from-b\"\n[[steps]]\nid = \"two\"\ntitle = \"Two\"\nneeds = [\"one\"]\n"
        let c =
            "formula = \"c\"\nextends = [\"a\", \"b\"]\n[[steps]]\nid = \"three\"\ntitle = \"Three {{x}} {{y}}\"\nneeds = [\"two\"]\n"
        let library = try SampleFormulas.library(extra: ["a": a, "b": b, "c": c])
        let f = try library.resolve("c")
        #expect(graph(f.steps) == ["one <- []", "two <- [one]", "three <- [two]"])
        let plan = try library.cook("c")
        #expect(plan.bead("three")?.title == "Three from-a from-b")
    }

    @Test func inlineExpandAndMapRewireDependents() throws {
        let expansion = """
            formula = "twice"
            type = "expansion"
            [vars]
            what = "check"
            [[template]]
            id = "{target}.first"
            title = "First {what} of {target.title}"
            [[template]]
            id = "{target}.second"
            title = "Second {what}"
            needs = ["{target}.first"]
            """
        let workflow = """
            formula = "flow"
            [[steps]]
            id = "prepare"
            title = "Prepare"
            [[steps]]
            id = "build"
            title = "Build"
            needs = ["prepare"]
            expand = "twice"
            expand_vars = { what = "pass" }
            [[steps]]
            id = "ship"
            title = "Ship"
            needs = ["build"]
            [[steps]]
            id = "docs.write"
            title = "Docs"
            [compose]
            [[compose.map]]
            select = "docs.*"
            with = "twice"
            """
        let library = try SampleFormulas.library(extra: ["twice": expansion, "flow": workflow])
        let f = try library.resolve("flow")
        #expect(
            graph(f.steps) == [
                "prepare <- []",
                "build.first <- [prepare]",
                "build.second <- [build.first]",
                "ship <- [build.second]",
                "docs.write.first <- []",
                "docs.write.second <- [docs.write.first]",
            ])
        #expect(f.steps[1].title == "First pass of Build")
        #expect(f.steps[4].title == "First check of Docs")
    }

    @Test func loopsExpandIterationsInOrder() throws {
        let text = """
            formula = "loops"
            [vars]
            n = "2"
            [[steps]]
            id = "start"
            title = "Start"
            [[steps]]
            id = "rounds"
            needs = ["start"]
            [steps.loop]
            count = 2
            [[steps.loop.body]]
            id = "work"
            title = "Work"
            [[steps.loop.body]]
            id = "check"
            title = "Check"
            needs = ["work"]
            [[steps]]
            id = "moves"
            needs = ["rounds"]
            [steps.loop]
            range = "1..2^{n}"
            var = "i"
            [[steps.loop.body]]
            id = "move"
            title = "Move {i}"
            [[steps]]
            id = "poll"
            needs = ["moves"]
            [steps.loop]
            until = "{{done}}"
            max = 5
            [[steps.loop.body]]
            id = "look"
            title = "Look"
            """
        let library = try SampleFormulas.library(extra: ["loops": text])
        let f = try library.resolve("loops")
        #expect(
            graph(f.steps) == [
                "start <- []",
                "rounds.iter1.work <- [start]",
                "rounds.iter1.check <- [rounds.iter1.work]",
                "rounds.iter2.work <- [rounds.iter1.check]",
                "rounds.iter2.check <- [rounds.iter2.work]",
                "moves.iter1.move <- [rounds.iter2.check]",
                "moves.iter2.move <- [moves.iter1.move]",
                "moves.iter3.move <- [moves.iter2.move]",
                "moves.iter4.move <- [moves.iter3.move]",
                "poll.iter1.look <- [moves.iter4.move]",
            ])
        #expect(f.steps[8].title == "Move 4")
        #expect(f.steps[9].metadata?["loop"]?.tableValue?["max"] == .integer(5))
        // A variable changes the range.
        #expect(try library.resolve("loops", variables: ["n": "3"]).steps.count == 1 + 4 + 8 + 1)
        let plan = try library.cook("loops")
        #expect(plan.bead("poll.iter1.look")?.metadata.first?.key == "loop")
    }
}
