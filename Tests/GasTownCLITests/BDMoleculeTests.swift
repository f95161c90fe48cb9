import Formula
import Foundation
import GasTownTestKit
import Testing

@testable import GasTownCLI

/// `bd formula`, `bd cook`, `bd mol`, `bd gate`, `bd close --continue` and `bd ready --mol` through the command tree
/// against a real store in a temporary directory.
@Suite struct BDMoleculeTests {
    func json(_ text: String) throws -> Any { try JSONSerialization.jsonObject(with: Data(text.utf8)) }

    func withStore(_ body: (BDHarness) async throws -> Void) async throws {
        try await TempDir.with(prefix: "bd-mol") { temp in
            let bd = BDHarness(temp: temp)
            let initialized = await bd.run(["init", "--prefix", "gt"])
            #expect(initialized.code == .success, "\(initialized)")
            try await body(bd)
        }
    }

    func writeFormula(_ bd: BDHarness, _ name: String, _ text: String) throws {
        let dir = bd.temp.join(".beads/formulas")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try text.write(toFile: dir + "/\(name).formula.toml", atomically: true, encoding: .utf8)
    }

    @Test func formulaListShowsTheBuiltInsAndTheStoresOwn() async throws {
        try await withStore { bd in
            try writeFormula(bd, "mine", "formula = \"mine\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\n")
            let list = await bd.run(["formula", "list", "--json"])
            #expect(list.code == .success, "\(list)")
            let rows = try #require(try json(list.stdout) as? [[String: Any]])
            let names = Set(rows.compactMap { $0["name"] as? String })
            #expect(names.isSuperset(of: ["towers-of-hanoi", "shiny", "mol-witness-patrol", "code-review", "mine"]))
            #expect(rows.first { $0["name"] as? String == "mine" }?["source"] as? String == "town")
            let show = await bd.run(["formula", "show", "shiny-enterprise"])
            #expect(show.code == .success, "\(show)")
            #expect(show.stdout.contains("implement.refine-4"))
            let cook = await bd.run(["cook", "towers-of-hanoi", "--json"])
            #expect(cook.code == .success, "\(cook)")
            let plan = try #require(try json(cook.stdout) as? [String: Any])
            #expect((plan["beads"] as? [Any])?.count == 10)
            // cook writes nothing.
            #expect(await bd.run(["list", "--json"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
        }
    }

    @Test func towersOfHanoiPoursAndRunsToCompletionWithCloseContinue() async throws {
        try await withStore { bd in
            let poured = await bd.run(["mol", "pour", "towers-of-hanoi", "--json"])
            #expect(poured.code == .success, "\(poured)")
            let root = try #require((try json(poured.stdout) as? [String: Any])?["root_id"] as? String)
            let ready = await bd.run(["ready", "--mol", root, "--json"])
            let first = try #require(try json(ready.stdout) as? [[String: Any]])
            #expect(first.compactMap { $0["id"] as? String } == ["\(root).setup"])
            var step = "\(root).setup"
            var order: [String] = []
            while true {
                order.append(step)
                let closed = await bd.run(["close", step, "--continue", "--json"])
                #expect(closed.code == .success, "\(closed)")
                let out = try #require(try json(closed.stdout) as? [String: Any])
                if out["complete"] as? Bool == true { break }
                let next = try #require(out["next"] as? [String: Any])
                #expect(next["status"] as? String == "in_progress")
                #expect(next["assignee"] as? String == "tester")
                step = try #require(next["id"] as? String)
                #expect(order.count < 20)
            }
            #expect(order == ["\(root).setup"] + (1...7).map { "\(root).move-\($0)" } + ["\(root).verify"])
            let progress = try #require(try json(await bd.run(["mol", "progress", root, "--json"]).stdout) as? [String: Any])
            #expect(progress["completed"] as? Int == 9)
            #expect(progress["complete"] as? Bool == true)
            let show = try #require(try json(await bd.run(["show", root, "--json"]).stdout) as? [[String: Any]])
            #expect(show.first?["status"] as? String == "closed")
        }
    }

    /// Bad formulas: each error names the file, the line and the field, exit 1, and nothing is poured.
    @Test(arguments: [
        (
            "syntax", "formula = \"syntax\"\n[[steps]]\nid \"a\"\n", ":3:", "expected '='"
        ),
        (
            "typo",
            "formula = \"typo\"\n[[steps]]\nid = \"design\"\ntitle = \"D\"\n[[steps]]\nid = \"impl\"\ntitle = \"I\"\nneeds = [\"desing\"]\n",
            ":8: steps[1].needs", "desing"
        ),
        (
            "cycle",
            "formula = \"cycle\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\nneeds = [\"b\"]\n[[steps]]\nid = \"b\"\ntitle = \"B\"\nneeds = [\"a\"]\n",
            "steps[", "cycle"
        ),
        (
            "needvar",
            "formula = \"needvar\"\n[vars.target]\ndescription = \"Where\"\nrequired = true\n[[steps]]\nid = \"a\"\ntitle = \"Go to {{target}}\"\n",
            ":2: vars.target", "needs a value"
        ),
        (
            "pattern",
            "formula = \"pattern\"\n[vars.version]\ndefault = \"1.0\"\npattern = \"^[0-9]+\\\\.[0-9]+$\"\n[[steps]]\nid = \"a\"\ntitle = \"Ship {{version}}\"\n",
            "vars.version", "version"
        ),
    ])
    func aBadFormulaPoursNothing(name: String, text: String, location: String, words: String) async throws {
        try await withStore { bd in
            try writeFormula(bd, name, text)
            _ = await bd.run(["q", "Existing work"])
            let before = await bd.fingerprint()
            var args = ["mol", "pour", name]
            if name == "pattern" { args += ["--var", "version=v2"] }
            let result = await bd.run(args)
            #expect(result.code == .failure, "\(result)")
            #expect(result.stderr.contains("\(name).formula.toml"), "\(result)")
            #expect(result.stderr.contains(location), "\(result)")
            #expect(result.stderr.contains(words), "\(result)")
            #expect(result.stderr.contains("nothing was poured"), "\(result)")
            #expect(await bd.fingerprint() == before)
            let wisp = await bd.run(["mol", "wisp"] + args.dropFirst(2))
            #expect(wisp.code == .failure)
            #expect(await bd.fingerprint() == before)
        }
    }

    @Test func gatesThroughTheCommands() async throws {
        try await withStore { bd in
            try writeFormula(
                bd, "gated",
                """
                formula = "gated"
                [[steps]]
                id = "approve"
                title = "Approve"
                gate = { type = "human" }
                [[steps]]
                id = "ci"
                title = "CI"
                gate = { type = "gh:pr", id = "7" }
                """)
            let poured = await bd.run(["mol", "wisp", "gated", "--json"])
            #expect(poured.code == .success, "\(poured)")
            let root = try #require((try json(poured.stdout) as? [String: Any])?["root_id"] as? String)
            #expect((try json(await bd.run(["ready", "--mol", root, "--json"]).stdout) as? [Any])?.isEmpty == true)
            let check = await bd.run(["gate", "check"])
            #expect(check.code == .success, "\(check)")
            #expect(check.stdout.contains("needs network access"), "\(check)")
            let list = try #require(try json(await bd.run(["gate", "list", "--json"]).stdout) as? [[String: Any]])
            #expect(list.count == 2)
            let resolved = await bd.run(["gate", "resolve", "\(root).gate-approve", "-r", "looks good"])
            #expect(resolved.code == .success, "\(resolved)")
            let ready = try #require(try json(await bd.run(["ready", "--mol", root, "--json"]).stdout) as? [[String: Any]])
            #expect(ready.compactMap { $0["id"] as? String } == ["\(root).approve"])
            #expect(await bd.run(["gate", "resolve", "\(root).approve"]).code == .failure)
            // The wisp is squashed into one persistent digest.
            let squashed = await bd.run(["mol", "squash", root, "--json"])
            #expect(squashed.code == .success, "\(squashed)")
            let digest = try #require(try json(squashed.stdout) as? [String: Any])
            #expect(digest["status"] as? String == "closed")
            #expect(digest["ephemeral"] == nil || digest["ephemeral"] as? Bool == false)
            let left = try #require(try json(await bd.run(["list", "--json"]).stdout) as? [[String: Any]])
            #expect(left.isEmpty, "\(left)")
        }
    }

    @Test func moleculeVerbsRefuseWhatIsNotAMolecule() async throws {
        try await withStore { bd in
            let missing = await bd.run(["mol", "show", "gt-nope"])
            #expect(missing.code == .failure)
            let bond = await bd.run(["mol", "bond", "shiny", "towers-of-hanoi"])
            #expect(bond.code == .failure)
            #expect(bond.stderr.contains("neither"), "\(bond)")
            let root = try #require(
                (try json(await bd.run(["mol", "pour", "towers-of-hanoi", "--json"]).stdout) as? [String: Any])?[
                    "root_id"] as? String)
            let cont = await bd.run(["close", root, "--continue"])
            #expect(cont.code == .failure, "\(cont)")
            let plain = await bd.run(["q", "Plain work"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let notStep = await bd.run(["close", plain, "--continue"])
            #expect(notStep.code == .failure, "\(notStep)")
            #expect(notStep.stderr.contains("not a step of a molecule"), "\(notStep)")
            #expect(notStep.stderr.contains("bd close \(plain)"), "\(notStep)")
            #expect(!notStep.stderr.contains("invalid operation"), "\(notStep)")
            #expect(await bd.run(["show", plain, "--json"]).stdout.contains("\"open\""))
            let bonded = await bd.run(["mol", "bond", root, "shiny", "--var", "feature=x", "--json"])
            #expect(bonded.code == .success, "\(bonded)")
            let burn = await bd.run(["mol", "burn", root, "--json"])
            #expect(burn.code == .success, "\(burn)")
        }
    }

    /// A patrol as a formula: Gas Town's built-in `mol-witness-patrol` poured as a wisp, walked step by step with
    /// `bd close --continue`, then squashed: one persistent digest stays, the wisp's beads go.
    @Test func theWitnessPatrolRunsAsAWispAndSquashesIntoADigest() async throws {
        try await withStore { bd in
            let poured = await bd.run(["mol", "wisp", "mol-witness-patrol", "--var", "rig=demo", "--json"])
            #expect(poured.code == .success, "\(poured)")
            let out = try #require(try json(poured.stdout) as? [String: Any])
            let root = try #require(out["root_id"] as? String)
            #expect(out["mode"] as? String == "wisp")
            #expect(out["created"] as? Int == 10)
            var step = try #require(
                (try json(await bd.run(["ready", "--mol", root, "--json"]).stdout) as? [[String: Any]])?.first?["id"]
                    as? String)
            var worked: [String] = []
            while worked.count < 20 {
                worked.append(String(step.dropFirst(root.count + 1)))
                let closed = try #require(
                    try json(await bd.run(["close", step, "--continue", "--json"]).stdout) as? [String: Any])
                if closed["complete"] as? Bool == true { break }
                step = try #require((closed["next"] as? [String: Any])?["id"] as? String)
            }
            #expect(worked.first == "inbox-check")
            #expect(worked.count == 9)
            let squashed = await bd.run(["mol", "squash", root, "--json"])
            #expect(squashed.code == .success, "\(squashed)")
            let all = try #require(try json(await bd.run(["list", "--all", "--json"]).stdout) as? [[String: Any]])
            #expect(all.count == 1, "\(all)")
            #expect((all.first?["title"] as? String)?.hasPrefix("Digest: ") == true)
        }
    }

    /// `bd export` leaves a wisp's ephemeral beads out, as beads' export and our sync do; `--include-ephemeral`
    /// keeps them. A poured (persistent) molecule is exported either way.
    @Test func exportLeavesWispsOutUnlessAskedFor() async throws {
        try await withStore { bd in
            let wisp = await bd.run(["mol", "wisp", "towers-of-hanoi", "--json"])
            #expect(wisp.code == .success, "\(wisp)")
            let pour = await bd.run(["mol", "pour", "towers-of-hanoi", "--json"])
            #expect(pour.code == .success, "\(pour)")
            let wispRoot = try #require((try json(wisp.stdout) as? [String: Any])?["root_id"] as? String)
            let pourRoot = try #require((try json(pour.stdout) as? [String: Any])?["root_id"] as? String)
            func exportedIDs(_ extra: [String]) async throws -> [String] {
                let out = await bd.run(["export"] + extra)
                #expect(out.code == .success, "\(out)")
                return try out.stdout.split(separator: "\n").map {
                    try #require((try json(String($0)) as? [String: Any])?["id"] as? String)
                }
            }
            let plain = try await exportedIDs([])
            #expect(plain.contains(pourRoot) && plain.count > 1)
            #expect(!plain.contains { $0 == wispRoot || $0.hasPrefix(wispRoot + ".") }, "\(plain)")
            let all = try await exportedIDs(["--include-ephemeral"])
            #expect(all.contains(wispRoot) && all.count == 2 * plain.count, "\(all.count) vs \(plain.count)")
        }
    }

    /// Our patrol formulas (`mol-refinery-patrol`, `mol-deacon-patrol`): each pours as a wisp, is worked step by step
    /// with `bd close --continue` and squashes into one digest; every `gt`/`bd` command their steps tell an agent to
    /// run names a real command of our trees.
    @Test func thePatrolFormulasRunAsWispsAndNameOnlyRealCommands() async throws {
        for (name, steps) in [("mol-refinery-patrol", 4), ("mol-deacon-patrol", 5)] {
            try await withStore { bd in
                let poured = await bd.run(["mol", "wisp", name, "--var", "rig=demo", "--json"])
                #expect(poured.code == .success, "\(name): \(poured)")
                let root = try #require((try json(poured.stdout) as? [String: Any])?["root_id"] as? String)
                var step = try #require(
                    (try json(await bd.run(["ready", "--mol", root, "--json"]).stdout) as? [[String: Any]])?
                        .first?["id"] as? String)
                var worked = 0
                while worked < 10 {
                    worked += 1
                    let closed = try #require(
                        try json(await bd.run(["close", step, "--continue", "--json"]).stdout) as? [String: Any])
                    if closed["complete"] as? Bool == true { break }
                    step = try #require((closed["next"] as? [String: Any])?["id"] as? String)
                }
                #expect(worked == steps, "\(name)")
                #expect(await bd.run(["mol", "squash", root]).code == .success)
            }
            let text = try #require(PatrolFormulas.texts[name])
            var named = 0
            for line in text.split(separator: "\n") {
                let words = line.trimmingCharacters(in: .whitespaces).split(separator: " ").map(String.init)
                guard let program = words.first, program == "gt" || program == "bd" else { continue }
                named += 1
                var configuration = (program == "gt" ? GT.program : BD.program).root.configuration
                for word in words.dropFirst().prefix(while: { !$0.hasPrefix("<") && !$0.hasPrefix("-") }) {
                    guard !configuration.subcommands.isEmpty else { break }
                    let sub = configuration.subcommands.first { $0.configuration.answers(to: word) }
                    #expect(sub != nil, "\(name): '\(line)' names no command")
                    guard let sub else { break }
                    configuration = sub.configuration
                }
                #expect(configuration.subcommands.isEmpty, "\(name): '\(line)' names a group, not a command")
            }
            #expect(named >= 4, "\(name)")
        }
    }
}
