import Foundation
import GasTownTestKit
import Testing

@testable import GasTownCLI

/// Each bad input of issue 3: a one-line error saying what to do, a non-zero exit, and the store unchanged (same
/// exported JSONL, same WAL size).
@Suite struct BDBadInputTests {
    /// A store with two issues, `a` depending on `b` (blocks).
    func withStore(_ body: (BDHarness, _ a: String, _ b: String) async throws -> Void) async throws {
        try await TempDir.with(prefix: "bd-bad") { temp in
            let bd = BDHarness(temp: temp)
            let initialized = await bd.run(["init", "--prefix", "bd"])
            #expect(initialized.code == .success, "\(initialized)")
            let a = await bd.run(["q", "issue a"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let b = await bd.run(["q", "issue b"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(a.hasPrefix("bd-") && b.hasPrefix("bd-"))
            let dep = await bd.run(["dep", "add", a, b])
            #expect(dep.code == .success, "\(dep)")
            try await body(bd, a, b)
        }
    }

    /// Runs `words`, expects a failure whose one-line stderr contains every one of `fragments`, and an unchanged store.
    func expectRefused(
        _ bd: BDHarness, _ words: [String], code: ExitCode = .failure, _ fragments: String...,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        let before = await bd.fingerprint()
        let result = await bd.run(words)
        #expect(result.code == code, "\(words): \(result)", sourceLocation: sourceLocation)
        #expect(result.stdout.isEmpty, "\(words): \(result)", sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(words): expected one line: \(result)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(
                result.stderr.contains(fragment), "\(words): missing '\(fragment)': \(result)",
                sourceLocation: sourceLocation)
        }
        let after = await bd.fingerprint()
        #expect(before == after, "\(words) changed the store", sourceLocation: sourceLocation)
    }

    @Test func malformedJSONLLineNamesLineAndFieldAndImportsNothing() async throws {
        try await withStore { bd, _, _ in
            let good1 =
                #"{"id":"bd-new1","title":"one","status":"open","priority":1,"issue_type":"task","#
                + #""created_at":"2025-12-01T10:00:00Z","updated_at":"2025-12-01T10:00:00Z"}"#
            let good2 = good1.replacingOccurrences(of: "bd-new1", with: "bd-new2")
            let badField = good1.replacingOccurrences(of: "bd-new1", with: "bd-new3")
                .replacingOccurrences(of: #""priority":1"#, with: #""priority":"high""#)
            try bd.temp.write("bad-field.jsonl", [good1, good2, badField].joined(separator: "\n") + "\n")
            await expectRefused(
                bd, ["import", "-i", bd.temp.join("bad-field.jsonl")], "line 3", "priority",
                "nothing imported")
            try bd.temp.write("bad-json.jsonl", good1 + "\n" + #"{"id":"bd-x","title":"# + "\n" + good2 + "\n")
            await expectRefused(bd, ["import", "-i", bd.temp.join("bad-json.jsonl")], "line 2", "invalid JSON")
            let noTitle = good1.replacingOccurrences(of: #""title":"one","#, with: "")
            try bd.temp.write("no-title.jsonl", good2 + "\n" + noTitle + "\n")
            await expectRefused(bd, ["import", "-i", bd.temp.join("no-title.jsonl")], "line 2", "title")
            let foreign = good1.replacingOccurrences(of: "bd-new1", with: "zz-new1")
            try bd.temp.write("foreign.jsonl", good2 + "\n" + foreign + "\n")
            await expectRefused(bd, ["import", "-i", bd.temp.join("foreign.jsonl")], "zz-new1", "nothing imported")
        }
    }

    @Test func titleEmptyOrTooLong() async throws {
        try await withStore { bd, a, _ in
            await expectRefused(bd, ["create", ""], "title is required")
            await expectRefused(bd, ["create", String(repeating: "x", count: 501)], "501 characters", "at most 500")
            await expectRefused(bd, ["update", a, "--title", ""], "title is required")
            let ok = await bd.run(["create", String(repeating: "y", count: 500), "--silent"])
            #expect(ok.code == .success, "\(ok)")
        }
    }

    @Test func priorityOutOfRange() async throws {
        try await withStore { bd, a, _ in
            for bad in ["5", "-1", "high", "P7"] {
                await expectRefused(
                    bd, ["create", "t", "-p", bad], code: .usage, "invalid priority '\(bad)'", "0 (critical) to 4")
            }
            await expectRefused(bd, ["update", a, "-p", "9"], code: .usage, "invalid priority '9'")
        }
    }

    @Test func oneCommandIsOneAllOrNothingWrite() async throws {
        try await withStore { bd, a, _ in
            // The priority change is valid, the label is not: neither is stored.
            await expectRefused(bd, ["update", a, "-p", "0", "--add-label", "bad,label"], "invalid label")
            let ok = await bd.run(["update", a, "-p", "0", "--add-label", "good", "--claim"])
            #expect(ok.code == .success, "\(ok)")
            #expect(ok.stdout.contains(a))
        }
    }

    @Test func unknownStatus() async throws {
        try await withStore { bd, a, _ in
            await expectRefused(
                bd, ["update", a, "-s", "bogus"], code: .usage, "unknown status 'bogus'", "in_progress")
            await expectRefused(bd, ["list", "-s", "finished"], code: .usage, "unknown status 'finished'")
        }
    }

    @Test func unknownDependencyType() async throws {
        try await withStore { bd, a, b in
            await expectRefused(
                bd, ["dep", "add", a, b, "-t", "weird"], code: .usage, "unknown dependency type 'weird'",
                "parent-child")
            await expectRefused(bd, ["create", "x", "--deps", "weird:\(a)"], code: .usage, "unknown dependency type")
        }
    }

    @Test func dependencyOnMissingBead() async throws {
        try await withStore { bd, a, _ in
            await expectRefused(bd, ["dep", "add", a, "bd-zzzz"], "bd-zzzz", "no such bead")
            await expectRefused(bd, ["create", "x", "--deps", "blocks:bd-zzzz"], "bd-zzzz", "no such bead")
            await expectRefused(bd, ["create", "x", "--parent", "bd-zzzz"], "bd-zzzz")
            await expectRefused(bd, ["dep", "add", "bd-nope", a], "bd-nope")
        }
    }

    @Test func blocksCycleUnlessNoCycleCheck() async throws {
        try await withStore { bd, a, b in
            await expectRefused(bd, ["dep", "add", b, a], "cycle", "--no-cycle-check")
            let allowed = await bd.run(["dep", "add", b, a, "--no-cycle-check"])
            #expect(allowed.code == .success, "\(allowed)")
            let cycles = await bd.run(["dep", "cycles", "--json"])
            #expect(cycles.stdout.contains(a) && cycles.stdout.contains(b), "\(cycles)")
        }
    }

    @Test func unknownFlag() async throws {
        try await withStore { bd, _, _ in
            await expectRefused(
                bd, ["create", "x", "--prioritty", "1"], code: .usage,
                "bd create: unknown flag --prioritty; run 'bd create --help' for the flags")
            await expectRefused(bd, ["ready", "--bogus"], code: .usage, "unknown flag --bogus")
        }
    }

    @Test func missingStore() async throws {
        try await TempDir.with(prefix: "bd-nostore") { temp in
            let bd = BDHarness(temp: temp)
            for words in [["list"], ["create", "x"], ["ready", "--json"]] {
                let result = await bd.run(words)
                #expect(result.code == .failure, "\(result)")
                #expect(result.stderr.contains("no beads store found"), "\(result)")
                #expect(result.stderr.contains("bd init"), "\(result)")
                #expect(result.stdout.isEmpty)
            }
            #expect(!temp.exists(".beads"), "a failed command must not create a store")
            let searched = await bd.runRaw(["list"])
            #expect(searched.code == .failure)
            #expect(searched.stderr.contains("no beads store found"), "\(searched)")
        }
    }
}
