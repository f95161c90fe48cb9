import Beads
import Foundation
import GasTownTestKit
import Testing
import Town

/// Molecules in a town with the built `gt` and `bd`, real git and tmux, and a scripted `exec` agent that works the
/// molecule step by step: it reads its current step from `gt prime`, closes it with `bd close --continue` (which
/// claims the next), and runs `gt done` when no step is left.
@Suite(.serialized) struct TownMoleculeTests {
    func writeMoleculeAgent(_ town: TownFixture) throws -> String {
        let script = """
            #!/bin/sh
            : > ../primes.log
            i=0
            while [ $i -lt 30 ]; do
              i=$((i+1))
              gt prime > ../prime.txt 2>&1 || true
              cat ../prime.txt >> ../primes.log
              step=$(sed -n 's/^Current step: \\([^ ]*\\) .*/\\1/p' ../prime.txt | head -1)
              [ -z "$step" ] && break
              echo "$step" >> ../steps.log
              bd close "$step" --continue -r "done by $GT_POLECAT" >> ../close.log 2>&1 || break
            done
            cp ../steps.log "work-$GT_BEAD.txt"
            git add "work-$GT_BEAD.txt"
            git -c user.name="$GT_POLECAT" -c user.email=polecat@gt commit -qm "molecule $GT_BEAD" || true
            gt done
            """
        try town.directory.write("mol-agent.sh", script)
        return town.directory.join("mol-agent.sh")
    }

    @Test func slingAFormulaOnABeadAndThePolecatWorksItStepByStep() async throws {
        try await TownFixture.with { town in
            let agent = try writeMoleculeAgent(town)
            try expectOK(try await town.gt(["rig", "add", "demo", town.source, "--runtime", "exec:'sh \(agent)'"]))
            let bead = try await town.createBead("Solve the puzzle", scope: "demo")
            let slung = try await town.gt(["sling", "towers-of-hanoi", "--on", bead, "--json"])
            try expectOK(slung)
            let result = try JSONDecoder().decode(MoleculeSlingResult.self, from: Data(slung.stdout.utf8))
            #expect(result.poured)
            #expect(result.molecule.hasPrefix("demo-"))
            #expect(result.slung.map(\.bead) == ["\(result.molecule).setup"])
            let root = result.molecule
            let finished = try await town.waitUntil(timeout: .seconds(120)) {
                let all = try await town.beads(scope: "demo")
                return all.first { $0.id == root }?.status == .closed
                    && all.contains { $0.issueType == .mergeRequest }
            }
            let log = town.directory.read("town/demo/polecats/steps.log") ?? ""
            let closeLog = town.directory.read("town/demo/polecats/close.log") ?? ""
            #expect(finished, "the molecule did not finish; steps: \(log) close: \(closeLog)")
            let all = try await town.beads(scope: "demo")
            let steps = all.filter { $0.id.hasPrefix(root + ".") }
            #expect(steps.count == 9)
            #expect(steps.allSatisfy { $0.status == .closed }, "\(steps.map { "\($0.id) \($0.status)" })")
            #expect(all.first { $0.id == root }?.dependencies.contains { $0.dependsOnID == bead && $0.type == .tracks } == true)
            // The order the agent worked them in respects needs.
            let worked = log.split(separator: "\n").map { String($0.dropFirst(root.count + 1)) }
            #expect(worked == ["setup"] + (1...7).map { "move-\($0)" } + ["verify"], "\(log)")
            let primes = town.directory.read("town/demo/polecats/primes.log") ?? ""
            #expect(primes.contains("## Molecule \(root)"), "\(primes)")
            #expect(primes.contains("Current step: \(root).move-1"), "\(primes)")
        }
    }

    @Test func slingAMoleculeSlingsItsReadySteps() async throws {
        try await TownFixture.with { town in
            let agent = try town.writeAgent(delay: 0.1)
            try expectOK(try await town.gt(["rig", "add", "demo", town.source, "--runtime", "exec:'sh \(agent)'"]))
            let poured = try await town.bd(["mol", "pour", "shiny", "--rig", "demo", "--var", "feature=x", "--json"])
            try expectOK(poured)
            let root = try #require(
                (try JSONSerialization.jsonObject(with: Data(poured.stdout.utf8)) as? [String: Any])?["root_id"]
                    as? String)
            let slung = try await town.gt(["sling", root, "--json"])
            try expectOK(slung)
            let result = try JSONDecoder().decode(MoleculeSlingResult.self, from: Data(slung.stdout.utf8))
            #expect(!result.poured)
            #expect(result.slung.map(\.bead) == ["\(root).design"])
            // gt formula and gt mol are bd's verbs, finding the town's store and formulas.
            let formulas = try await town.gt(["formula", "list", "--json"])
            try expectOK(formulas)
            #expect(formulas.stdout.contains("\"towers-of-hanoi\""))
            let show = try await town.gt(["mol", "show", root])
            try expectOK(show)
            #expect(show.stdout.contains("\(root).design"), "\(show)")
            // A formula that is not there changes nothing.
            let bad = try await town.gt(["sling", "no-such-formula", "--on", "demo-zzz"])
            #expect(bad.status != 0)
            #expect(bad.stderr.contains("no-such-formula"), "\(bad)")
        }
    }
}
