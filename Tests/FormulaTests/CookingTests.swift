import Beads
import Foundation
import GasTownTestKit
import Testing

@testable import Formula

/// Cooking: formula → proto → molecule plan, and the plan written into a real `Ledger`.
@Suite struct CookingTests {
    @Test func towersOfHanoiCooksIntoAChain() throws {
        let library = try SampleFormulas.library()
        let plan = try library.cook("towers-of-hanoi")
        #expect(plan.mode == .pour)
        #expect(
            planGraph(plan) == [
                "(root) molecule <- []",
                "setup task <- [parent-child:(root)]",
                "move-1 task <- [parent-child:(root), blocks:setup]",
                "move-2 task <- [parent-child:(root), blocks:move-1]",
                "move-3 task <- [parent-child:(root), blocks:move-2]",
                "move-4 task <- [parent-child:(root), blocks:move-3]",
                "move-5 task <- [parent-child:(root), blocks:move-4]",
                "move-6 task <- [parent-child:(root), blocks:move-5]",
                "move-7 task <- [parent-child:(root), blocks:move-6]",
                "verify task <- [parent-child:(root), blocks:move-7]",
            ])
        #expect(plan.bead("move-1")?.title == "Move disk 1: A → C")
        #expect(plan.bead("move-4")?.description == "Move the largest disk from peg A to peg C.")
        #expect(plan.root.title == "towers-of-hanoi")
        #expect(plan.root.description.hasPrefix("AGENT EXECUTION PROTOCOL - Towers of Hanoi"))
        #expect(plan.variables == ["source_peg": "A", "target_peg": "C", "auxiliary_peg": "B"])
        #expect(plan.beads.allSatisfy { !$0.ephemeral && !$0.isTemplate && $0.priority == 2 })
        #expect(plan.bead("move-3")?.sourceLocation == "steps[3]")
        #expect(plan.bead("move-3")?.sourceFormula == "towers-of-hanoi")
    }

    @Test func generatedHanoiIsGasTownsFileAndCooks() throws {
        let text = HanoiFormula.text(disks: 10)
        // Gas Town's internal/formula/formulas/towers-of-hanoi-10.formula.toml at a8bd79bf, byte for byte.
        #expect(text.utf8.count == 148_720)
        #expect(
            SHA256.hexDigest(Array(text.utf8)) == "bbf4b2e3f027f3ade251a8bbbe9f0bfd6b515ad6d32d03c32b1e0fe65bb1ce8f")
        let library = FormulaLibrary(source: InMemoryFormulaSource(texts: ["towers-of-hanoi-10": text], location: "t"))
        let plan = try library.cook("towers-of-hanoi-10")
        #expect(plan.beads.count == 1 + 1_025)
        let steps = Array(plan.beads.dropFirst())
        #expect(steps.first?.suffix == "setup")
        #expect(steps.last?.suffix == "verify")
        for (i, bead) in steps.enumerated() {
            let expectedSuffix = i == 0 ? "setup" : i == steps.count - 1 ? "verify" : "move-\(i)"
            #expect(bead.suffix == expectedSuffix)
            let previous = i == 0 ? [] : [PlannedDependency(.blocks, steps[i - 1].suffix)]
            #expect(bead.dependencies == [PlannedDependency(.parentChild, "")] + previous)
        }
        let moves = HanoiFormula.moves(disks: 10)
        #expect(plan.bead("move-512")?.title == "Move disk 10: A → C")
        #expect(plan.bead("move-1")?.title == "Move disk 1: \(moves[0].from) → \(moves[0].to)")
        #expect(plan.bead("move-1023")?.description == "Move disk 1 from peg B to peg C. (Move 1023/1023)")
    }

    @Test func thePlanWritesIntoALedgerAndRunsInOrder() throws {
        let library = try SampleFormulas.library()
        let plan = try library.cook("towers-of-hanoi", options: CookOptions(mode: .wisp))
        #expect(plan.beads.allSatisfy { $0.ephemeral })
        var ledger = Ledger(prefix: "gt")
        var clock = HybridLogicalClock(node: "test")
        let time = Timestamp(unixMillis: 1_800_000_000_000)
        for spec in plan.newBeads(rootID: "gt-hanoi") {
            let op = try ledger.prepareCreate(
                spec, actor: "test", stamp: try clock.tick(wallMillis: time.unixMillis), time: time)
            try ledger.apply(op)
        }
        #expect(ledger.count == 10)
        let move1 = try #require(ledger.beads["gt-hanoi.move-1"])
        #expect(move1.ephemeral)
        #expect(move1.dependencies.map(\.key.text) == ["parent-child:gt-hanoi", "blocks:gt-hanoi.setup"])
        // Ready ignores ephemeral beads; pour the same plan to walk it.
        let poured = try library.cook("towers-of-hanoi")
        var live = Ledger(prefix: "gt")
        for spec in poured.newBeads(rootID: "gt-h") {
            try live.apply(
                try live.prepareCreate(
                    spec, actor: "test", stamp: try clock.tick(wallMillis: time.unixMillis), time: time))
        }
        var order: [String] = []
        while let next = live.ready(now: time).first {
            order.append(next.id)
            try live.apply(
                LedgerOp(
                    actor: "test", stamp: try clock.tick(wallMillis: time.unixMillis), time: time,
                    change: .close(id: next.id, reason: "done")))
        }
        #expect(order == ["gt-h.setup"] + (1...7).map { "gt-h.move-\($0)" } + ["gt-h.verify"])
    }

    @Test func childrenAndParallelContainers() throws {
        let library = try SampleFormulas.library()
        let plan = try library.cook("mol-gastown-boot")
        #expect(plan.mode == .pour)
        #expect(
            planGraph(plan) == [
                "(root) molecule <- []",
                "ensure-daemon task <- [parent-child:(root)]",
                "ensure-deacon task <- [parent-child:(root), blocks:ensure-daemon]",
                "ensure-witnesses epic <- [parent-child:(root), blocks:ensure-deacon]",
                "ensure-witnesses.ensure-gastown-witness task <- [parent-child:ensure-witnesses]",
                "ensure-witnesses.ensure-beads-witness task <- [parent-child:ensure-witnesses]",
                "ensure-refineries epic <- [parent-child:(root), blocks:ensure-deacon]",
                "ensure-refineries.ensure-gastown-refinery task <- [parent-child:ensure-refineries]",
                "ensure-refineries.ensure-beads-refinery task <- [parent-child:ensure-refineries]",
                "verify-town-health task <- [parent-child:(root), blocks:ensure-witnesses, blocks:ensure-refineries]",
            ])
    }

    @Test func codeReviewConvoyProducesItsLegsAndSynthesis() throws {
        let library = try SampleFormulas.library()
        let legs = [
            "correctness", "performance", "security", "elegance", "resilience", "style", "smells", "wiring",
            "commit-discipline", "test-quality",
        ]
        let plan = try library.cook("code-review", options: CookOptions(variables: ["pr": "123"]))
        #expect(plan.root.issueType == .convoy)
        #expect(plan.beads.map(\.suffix) == [""] + legs + ["synthesis"])
        for leg in legs {
            let bead = try #require(plan.bead(leg))
            #expect(bead.role == .leg)
            #expect(bead.dependencies == [PlannedDependency(.parentChild, "")])
        }
        #expect(plan.bead("security")?.title == "Security Review")
        #expect(
            plan.bead("security")?.metadata == [
                JSONMember("focus", .string("Security vulnerabilities and attack surface"))
            ])
        let synthesis = try #require(plan.bead("synthesis"))
        #expect(synthesis.title == "Review Synthesis")
        #expect(
            synthesis.dependencies == [PlannedDependency(.parentChild, "")]
                + legs.map { PlannedDependency(.blocks, $0) })

        let gate = try library.cook(
            "code-review", options: CookOptions(variables: ["files": "src/*.go"], preset: "gate"))
        #expect(gate.beads.map(\.suffix) == ["", "security", "smells", "wiring", "test-quality", "synthesis"])
        #expect(
            gate.bead("synthesis")?.dependencies.map(\.target) == ["", "security", "smells", "wiring", "test-quality"])

        let none = expectFormulaError { _ = try library.cook("code-review") }
        #expect(none?.kind == .missingVariable("pr"))
        #expect(
            none?.description == "code-review.formula.toml:50: inputs.pr: one of the inputs pr, files, branch "
                + "needs a value: pass --var pr=<value>")
        let notNumber = expectFormulaError {
            _ = try library.cook("code-review", options: CookOptions(variables: ["pr": "x"]))
        }
        #expect(notNumber?.kind == .invalidVariable("pr"))
        let badPreset = expectFormulaError {
            _ = try library.cook("code-review", options: CookOptions(variables: ["pr": "1"], preset: "nope"))
        }
        #expect(badPreset?.message.contains("presets: gate, full, security-focused, refactor") == true)
    }

    @Test func variablesDefaultsAndValidation() throws {
        let text = """
            formula = "deploy"
            [vars.version]
            required = true
            pattern = "^\\\\d+\\\\.\\\\d+\\\\.\\\\d+$"
            [vars.environment]
            default = "staging"
            enum = ["staging", "production"]
            [vars.replicas]
            type = "int"
            default = "2"
            [vars.title]
            default = "Deploy"
            [[steps]]
            id = "ship"
            title = "Ship {{version}} to {{environment}} x{{replicas}} {{unknown}}"
            assignee = "{{owner}}"
            """
        let library = try SampleFormulas.library(extra: ["deploy": text])
        let plan = try library.cook("deploy", options: CookOptions(variables: ["version": "1.2.3", "owner": "ops"]))
        #expect(plan.bead("ship")?.title == "Ship 1.2.3 to staging x2 {{unknown}}")
        #expect(plan.bead("ship")?.assignee == "ops")
        #expect(plan.root.title == "Deploy")  // `title` declared: the root is titled by it
        // An empty `title` (Gas Town's mol-convoy-feed declares one for its own use) falls back to the name.
        let untitled = try library.cook(
            "deploy", options: CookOptions(variables: ["version": "1.2.3", "owner": "ops", "title": ""]))
        #expect(untitled.root.title == "deploy")
        #expect(untitled.warnings.contains { $0.field == "vars.title" })

        let enumError = expectFormulaError {
            _ = try library.cook(
                "deploy", options: CookOptions(variables: ["version": "1.0.0", "environment": "prod"]))
        }
        #expect(enumError?.kind == .invalidVariable("environment"))
        #expect(
            enumError?.description == "test/deploy.formula.toml:5: vars.environment: 'prod' is not allowed for "
                + "variable 'environment'; use one of: staging, production")
        let patternError = expectFormulaError {
            _ = try library.cook("deploy", options: CookOptions(variables: ["version": "v1"]))
        }
        #expect(patternError?.kind == .invalidVariable("version"))
        #expect(patternError?.line == 2)
        let typeError = expectFormulaError {
            _ = try library.cook("deploy", options: CookOptions(variables: ["version": "1.0.0", "replicas": "many"]))
        }
        #expect(typeError?.kind == .invalidVariable("replicas"))
        let missing = expectFormulaError { _ = try library.cook("deploy") }
        #expect(missing?.kind == .missingVariable("version"))
        #expect(
            missing?.description == "test/deploy.formula.toml:2: vars.version: variable 'version' needs a value: "
                + "pass --var version=<value>")
    }

    @Test func conditionsGatesAndFanout() throws {
        let text = """
            formula = "release"
            phase = "vapor"
            [vars]
            run_tests = "yes"
            [[steps]]
            id = "build"
            title = "Build"
            [[steps]]
            id = "test"
            title = "Test"
            needs = ["build"]
            condition = "{{run_tests}}"
            [[steps]]
            id = "approve"
            title = "Approve"
            needs = ["test"]
            gate = { type = "human", id = "release-manager", timeout = "24h" }
            [[steps]]
            id = "fanout"
            title = "Fan out"
            needs = ["approve"]
            [[steps]]
            id = "collect"
            title = "Collect"
            needs = ["fanout"]
            waits_for = "all-children"
            labels = ["release"]
            priority = 1
            type = "chore"
            """
        let library = try SampleFormulas.library(extra: ["release": text])
        let plan = try library.cook("release")
        #expect(plan.mode == .wisp)  // phase = "vapor"
        #expect(
            planGraph(plan) == [
                "(root) molecule <- []",
                "build task <- [parent-child:(root)]",
                "test task <- [parent-child:(root), blocks:build]",
                "gate-approve gate <- [parent-child:(root)]",
                "approve task <- [parent-child:(root), blocks:gate-approve, blocks:test]",
                "fanout task <- [parent-child:(root), blocks:approve]",
                "collect chore <- [parent-child:(root), blocks:fanout, waits-for:fanout]",
            ])
        let gate = try #require(plan.bead("gate-approve"))
        #expect(gate.title == "Gate: human release-manager")
        #expect(gate.awaitType == "human")
        #expect(gate.awaitID == "release-manager")
        #expect(gate.timeout == 24 * 3_600_000_000_000)
        #expect(plan.bead("collect")?.labels == ["release", "gate:all-children"])
        #expect(plan.bead("collect")?.priority == 1)
        // The gate's wait and the source tracing reach the ledger.
        var ledger = Ledger(prefix: "gt")
        var clock = HybridLogicalClock(node: "test")
        let time = Timestamp(unixMillis: 1_800_000_000_000)
        for spec in plan.newBeads(rootID: "gt-rel") {
            let stamp = try clock.tick(wallMillis: time.unixMillis)
            try ledger.apply(try ledger.prepareCreate(spec, actor: "test", stamp: stamp, time: time))
        }
        let stored = try #require(ledger.beads["gt-rel.gate-approve"])
        #expect(stored.issueType == .gate)
        #expect(stored.awaitType == "human")
        #expect(stored.awaitID == "release-manager")
        #expect(stored.timeout == 24 * 3_600_000_000_000)
        #expect(stored.sourceLocation == "steps[2].gate")
        #expect(stored.sourceFormula == "release")
        #expect(
            ledger.beads["gt-rel.collect"]?.dependencies.map(\.key.text) == [
                "parent-child:gt-rel", "blocks:gt-rel.fanout", "waits-for:gt-rel.fanout",
            ])

        let skipped = try library.cook("release", options: CookOptions(variables: ["run_tests": "no"], mode: .pour))
        #expect(skipped.bead("test") == nil)
        #expect(skipped.bead("approve")?.dependencies.map(\.target) == ["", "gate-approve", "build"])
        #expect(skipped.warnings.contains { $0.message.contains("recommends vapor") })
    }

    @Test func aStandaloneExpansionCooksAroundMain() throws {
        let library = try SampleFormulas.library()
        let plan = try library.cook("rule-of-five")
        #expect(
            plan.beads.map(\.suffix) == [
                "", "main.draft", "main.refine-1", "main.refine-2", "main.refine-3", "main.refine-4",
            ])
        #expect(plan.bead("main.draft")?.title == "Draft: rule-of-five")
        let aspect = expectFormulaError { _ = try library.cook("security-audit") }
        #expect(aspect?.kind == .wrongFormulaType("security-audit"))
    }

    @Test func protoKeepsPlaceholdersAndConditions() throws {
        let library = try SampleFormulas.library()
        let proto = try library.proto("shiny")
        #expect(proto.beads.allSatisfy { $0.isTemplate })
        #expect(proto.beads[1].title == "Design {{feature}}")
        let plan = try proto.instantiate(CookOptions(variables: ["feature": "search"]))
        #expect(plan.beads[1].title == "Design search")
        #expect(
            plan.bead("submit")?.acceptance == "Clean git status, clear commit message, code pushed to feature branch")
        // The same proto instantiates again with other values.
        #expect(try proto.instantiate(CookOptions(variables: ["feature": "sort"])).beads[1].title == "Design sort")
    }
}
