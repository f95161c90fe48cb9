import Foundation
import GasTownTestKit
import Testing

@testable import GasTownCLI

/// What a new user tripped on, through the built `bd` and `gt` (issue 10): the actor, Gas Town commands we lack,
/// unknown issue types, and a claim held by someone else.
@Suite struct NewUserTests {
    /// `bd create --json` in `cwd` with exactly `environment` added (the isolated variables removed), returning
    /// the new bead's created_by.
    func createdBy(_ store: String, cwd: String, _ environment: [String: String]) async throws -> String? {
        let output = try await BuiltBinaries.run(
            .bd, ["-C", store, "create", "Who made me", "--json"], environment: environment, cwd: cwd)
        #expect(output.status == 0, "\(output)")
        let object = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any]
        return object?["created_by"] as? String
    }

    /// beads' order: --actor, BEADS_ACTOR, BD_ACTOR, git's user.name (the repository's, else the global one),
    /// USER, unknown; git's config is read through libgit2.
    @Test func actorFollowsBeadsOrder() async throws {
        try await TempDir.with { temp in
            let store = temp.join("store")
            try TempDir.makeDirectory(store)
            let initialized = try await BuiltBinaries.run(.bd, ["-C", store, "init", "--prefix", "t", "-q"])
            #expect(initialized.status == 0, "\(initialized)")
            try temp.write("home/.gitconfig", "[user]\n\tname = Home Git\n")
            try TempDir.makeDirectory(temp.join("xdg"))
            try TempDir.makeDirectory(temp.join("empty-home"))
            let base = ["HOME": temp.join("home"), "XDG_CONFIG_HOME": temp.join("xdg"), "USER": "login-name"]
            let plain = temp.join("store")

            #expect(
                try await createdBy(store, cwd: plain, base.merging(["BD_ACTOR": "rig/polecats/nux"]) { $1 })
                    == "rig/polecats/nux")
            #expect(
                try await createdBy(
                    store, cwd: plain, base.merging(["BD_ACTOR": "d", "BEADS_ACTOR": "b"]) { $1 }) == "b")
            #expect(try await createdBy(store, cwd: plain, base) == "Home Git")

            // Inside a repository, its own user.name wins over the global one, as `git config user.name` there.
            let repo = temp.join("repo")
            let made = try await BuiltBinaries.run(executable: "/usr/bin/git", ["init", "-q", repo])
            #expect(made.status == 0, "\(made)")
            let named = try await BuiltBinaries.run(
                executable: "/usr/bin/git", ["-C", repo, "config", "user.name", "Repo Git"])
            #expect(named.status == 0, "\(named)")
            #expect(try await createdBy(store, cwd: repo, base) == "Repo Git")

            // No git identity anywhere: USER.
            #expect(
                try await createdBy(store, cwd: plain, base.merging(["HOME": temp.join("empty-home")]) { $1 })
                    == "login-name")
        }
    }

    /// A Gas Town command we lack names what to use instead (exit 2); a real typo still says "unknown command".
    @Test func missingGasTownCommandsSayWhatToUse() async throws {
        let cat = try await BuiltBinaries.run(.gt, ["cat", "x-1"])
        #expect(cat.status == 2 && cat.stdout.isEmpty, "\(cat)")
        #expect(cat.stderr.contains("gt: 'cat' is not built here yet; use 'bd show"), "\(cat)")
        let unsling = try await BuiltBinaries.run(.gt, ["unsling", "x-1"])
        #expect(unsling.stderr.contains("use 'gt release <bead>'"), "\(unsling)")
        let dog = try await BuiltBinaries.run(.gt, ["dog", "--json"])
        #expect(dog.status == 2 && dog.stderr.contains("\"code\": \"unknown_command\""), "\(dog)")
        #expect(dog.stderr.contains("planned"), "\(dog)")
        let help = try await BuiltBinaries.run(.gt, ["help", "mountain"])
        #expect(help.status == 2 && help.stderr.contains("'mountain' is not built here yet"), "\(help)")
        let typo = try await BuiltBinaries.run(.gt, ["slingg"])
        #expect(typo.stderr == "gt: unknown command 'slingg'; run 'gt --help' for the commands\n", "\(typo)")
    }

    /// Every command the table tells the user to run exists, and no entry shadows a command we have.
    @Test func everySuggestedCommandExists() throws {
        let root = GT.program.root.configuration
        for (name, instead) in GTMissingCommands.table {
            #expect(!root.subcommands.contains { $0.configuration.answers(to: name) }, "\(name) is built")
            var rest = Substring(instead)
            while let start = rest.range(of: "'gt ") {
                let tail = rest[start.upperBound...]
                guard let end = tail.firstIndex(of: "'") else { break }
                let words = tail[..<end].split(separator: " ").map(String.init)
                    .prefix { !$0.hasPrefix("<") && !$0.hasPrefix("[") && !$0.hasPrefix("-") && $0 == $0.lowercased() }
                var configuration = root
                for word in words {
                    guard !configuration.subcommands.isEmpty else { break }
                    let sub = configuration.subcommands.first { $0.configuration.answers(to: word) }
                    #expect(sub != nil, "\(name): 'gt \(words.joined(separator: " "))' names no command")
                    guard let sub else { break }
                    configuration = sub.configuration
                }
                rest = tail[tail.index(after: end)...]
            }
        }
    }

    func withStore(_ body: (BDHarness) async throws -> Void) async throws {
        try await TempDir.with(prefix: "bd-new-user") { temp in
            let bd = BDHarness(temp: temp)
            let initialized = await bd.run(["init", "--prefix", "bd"])
            #expect(initialized.code == .success, "\(initialized)")
            try await body(bd)
        }
    }

    /// An issue type beads does not know is refused with the valid ones (exit 2, nothing stored), unless the
    /// store lists it in "types.custom".
    @Test func unknownIssueTypesAreRefusedUnlessConfigured() async throws {
        try await withStore { bd in
            let before = await bd.fingerprint()
            for words in [["create", "A story", "-t", "story"], ["q", "A story", "-t", "story"]] {
                let refused = await bd.run(words)
                #expect(refused.code == .usage, "\(refused)")
                #expect(
                    refused.stderr.contains("invalid issue type 'story': use one of bug, feature, task, epic, chore")
                        && refused.stderr.contains("\"types.custom\""), "\(refused)")
            }
            let task = await bd.run(["q", "A task"])
            let id = task.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let retype = await bd.run(["update", id, "-t", "story"])
            #expect(retype.code == .usage && retype.stderr.contains("invalid issue type 'story'"), "\(retype)")
            #expect(await bd.run(["show", id, "--json"]).stdout.contains("\"issue_type\": \"task\""))
            #expect(await bd.fingerprint() != before)  // the task, and nothing else

            let config = bd.temp.join(".beads/config.json")
            try Data("{\n  \"prefix\": \"bd\",\n  \"types.custom\": \"story, spike\"\n}\n".utf8)
                .write(to: URL(fileURLWithPath: config))
            let story = await bd.run(["create", "A story", "-t", "story", "--json"])
            #expect(story.code == .success && story.stdout.contains("\"issue_type\": \"story\""), "\(story)")
            let other = await bd.run(["create", "An epic tale", "-t", "saga"])
            #expect(other.code == .usage && other.stderr.contains("gate, agent, role, rig, convoy, story, spike"))
            for builtIn in ["bug", "feature", "epic", "chore", "message", "merge-request", "molecule", "agent"] {
                #expect(await bd.run(["q", "x", "-t", builtIn]).code == .success, "\(builtIn)")
            }
        }
    }

    /// A claim someone holds is refused with the way past it; --claim --force takes it over in one write (epoch
    /// + 1, a comment naming both); --force alone is a usage error.
    @Test func aForcedClaimTakesOverAndIsRecorded() async throws {
        try await withStore { bd in
            let id = await bd.run(["q", "Contested"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(await bd.run(["update", id, "--claim", "--actor", "alice"]).code == .success)
            let refused = await bd.run(["update", id, "--claim", "--actor", "bob"])
            #expect(refused.code == .failure, "\(refused)")
            #expect(
                refused.stderr
                    == "Error: bead \(id) is already claimed by alice (epoch 1); take it over with 'bd update \(id) "
                    + "--claim --force' (recorded in a comment; the lease epoch goes up, so alice's 'gt done' is "
                    + "refused), or ask alice to release it\n", "\(refused)")
            let json = await bd.run(["update", id, "--claim", "--actor", "bob", "--json"])
            #expect(json.stderr.contains("\"code\": \"claimed\""), "\(json)")
            let alone = await bd.run(["update", id, "--force"])
            #expect(alone.code == .usage && alone.stderr.contains("--force goes with --claim"), "\(alone)")

            let forced = await bd.run(["update", id, "--claim", "--force", "--actor", "bob", "--json"])
            #expect(forced.code == .success, "\(forced)")
            let shown = await bd.run(["show", id, "--json"]).stdout
            #expect(shown.contains("\"assignee\": \"bob\"") && shown.contains("\"lease_epoch\": 2"), "\(shown)")
            #expect(shown.contains("Claim forced by bob over alice (lease epoch 1 → 2)"), "\(shown)")
            // The holder forcing its own claim is an ordinary re-claim: no takeover comment.
            #expect(await bd.run(["update", id, "--claim", "--force", "--actor", "bob"]).code == .success)
            let again = await bd.run(["show", id, "--json"]).stdout
            #expect(again.components(separatedBy: "Claim forced").count == 2, "\(again)")
        }
    }
}
