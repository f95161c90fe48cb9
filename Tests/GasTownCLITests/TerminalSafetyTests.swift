import Beads
import Foundation
import GasTownTestKit
import LedgerStore
import Testing

@testable import GasTownCLI

/// Issue 10: control characters are escaped in text output (never in --json), text that is not UTF-8 is refused,
/// credentials in remote URLs are redacted, and a bead is reachable by every command whichever scope holds it.
@Suite struct TerminalSafetyTests {
    static let hostile = "Evil \u{1B}]0;owned\u{07}\u{1B}[2J \u{9B}31m del\u{7F} cr\rend\nfake line\tTab"

    @Test func controlCharactersAreEscapedInTextButExactInJSON() async throws {
        try await TempDir.with(prefix: "bd-esc") { temp in
            let bd = BDHarness(temp: temp)
            #expect(await bd.run(["init", "--prefix", "bd"]).code == .success)
            let created = await bd.run(["create", Self.hostile, "-d", "line one\nline two \u{1B}[31mred", "--silent"])
            #expect(created.code == .success, "\(created)")
            let id = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            for words in [["list"], ["show", id], ["ready"], ["search", "Evil"]] {
                let run = await bd.run(words)
                #expect(run.code == .success, "\(words): \(run)")
                let bytes = Array(run.stdout.utf8)
                #expect(!bytes.contains(0x1B) && !bytes.contains(0x7F) && !bytes.contains(0x07), "\(words): \(run)")
                #expect(!run.stdout.unicodeScalars.contains { (0x80...0x9F).contains($0.value) || $0 == "\r" })
                #expect(run.stdout.contains("Evil \\x1b]0;owned\\x07\\x1b[2J \\u009b31m del\\x7f cr\\rend\\nfake line\\tTab"),
                    "\(words): \(run)")
                #expect(!run.stdout.contains("\nfake line"), "a title never fakes a line of output: \(run)")
            }
            let show = await bd.run(["show", id])
            #expect(show.stdout.contains("line one\nline two \\x1b[31mred"), "descriptions keep their lines: \(show)")
            let json = await bd.run(["show", id, "--json"])
            let value = try JSONValue.parse(json.stdout)
            let first = value.arrayValue?.first ?? value
            #expect(first["title"]?.stringValue == Self.hostile, "\(json)")
        }
    }

    @Test func textThatIsNotUTF8IsRefused() async throws {
        #expect(TerminalText.invalidUTF8Argument([Array("bd".utf8), Array("ok".utf8)]) == nil)
        let problem = try #require(
            TerminalText.invalidUTF8Argument([Array("bd".utf8), Array("create".utf8), [0x63, 0x61, 0x66, 0xE9]]))
        #expect(problem.contains("argument 2") && problem.contains("caf\\xe9") && problem.contains("UTF-8"))
        try await TempDir.with(prefix: "bd-utf8") { temp in
            let bd = BDHarness(temp: temp)
            #expect(await bd.run(["init", "--prefix", "bd"]).code == .success)
            let path = try BuiltBinaries.path(of: .bd)
            let result = try await BuiltBinaries.run(
                executable: "/bin/sh", ["-c", "\"$0\" -C \"$1\" create \"$(printf 'caf\\351')\"", path, temp.path])
            #expect(result.status == 2, "\(result)")
            #expect(result.stderr.contains("not valid UTF-8") && result.stderr.contains("caf\\xe9"), "\(result)")
            #expect(await bd.run(["list", "--json"]).stdout.contains("caf") == false, "nothing was created")
            // An import file that is not UTF-8: refused naming the line, nothing imported.
            let good = BeadCodec.encodeLine(Bead(id: "bd-good", title: "Good", createdAt: Timestamp(unixNanos: 1)))
            var bytes = Array((good + "\n").utf8)
            bytes += Array("{\"id\":\"bd-bad\",\"title\":\"caf".utf8) + [0xE9] + Array("\"}\n".utf8)
            try Data(bytes).write(to: URL(fileURLWithPath: temp.join("in.jsonl")))
            let imported = await bd.run(["import", "-i", temp.join("in.jsonl")])
            #expect(imported.code != .success, "\(imported)")
            #expect(imported.stderr.contains("line 2") && imported.stderr.contains("not valid UTF-8"), "\(imported)")
            #expect(await bd.run(["show", "bd-good"]).code != .success, "nothing imported")
        }
    }

    @Test func credentialsInRemoteURLsAreRedacted() async throws {
        try await TempDir.with(prefix: "bd-cred") { temp in
            let bd = BDHarness(temp: temp)
            #expect(await bd.run(["init", "--prefix", "bd"]).code == .success)
            let url = "https://alice:s3cretpass@127.0.0.1:1/ledger.git"
            let added = await bd.run(["remote", "add", "origin", url])
            #expect(added.code == .success, "\(added)")
            let list = await bd.run(["remote", "list"])
            let listJSON = await bd.run(["remote", "list", "--json"])
            let sync = await bd.run(["sync"])
            #expect(sync.code != .success)
            for run in [added, list, listJSON, sync] {
                #expect(!(run.stdout + run.stderr).contains("s3cretpass"), "\(run)")
            }
            #expect(list.stdout.contains("https://alice:***@127.0.0.1:1/ledger.git"), "\(list)")
            #expect(sync.stderr.contains("remote origin"), "\(sync)")
            let config = temp.join(".beads/config.json")
            let attributes = try FileManager.default.attributesOfItem(atPath: config)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            #expect(try String(contentsOfFile: config, encoding: .utf8).contains(url), "the URL itself is kept")
        }
    }

    /// A bead held by a scope its ID does not route to by prefix (`hq-x-1` imported into `hq`, then a scope `hq-x`
    /// added): show, update and delete reach it.
    @Test func everyListedBeadIsReachable() async throws {
        try await TempDir.with(prefix: "bd-route") { temp in
            let bd = BDHarness(temp: temp)
            #expect(await bd.run(["init", "--prefix", "hq"]).code == .success)
            let line = BeadCodec.encodeLine(Bead(id: "hq-x-1", title: "Held by hq", createdAt: Timestamp(unixNanos: 1)))
            try (line + "\n").write(toFile: temp.join("in.jsonl"), atomically: true, encoding: .utf8)
            let imported = await bd.run(["import", "-i", temp.join("in.jsonl")])
            #expect(imported.code == .success, "\(imported)")
            let layout = StoreLayout(beadsDirectory: temp.join(".beads"))
            try await DedicatedThread.run { () throws(LedgerDatabaseError) in
                let db = try LedgerDatabase.open(layout)
                defer { db.close() }
                try db.addScope("hq-x")
            }
            #expect(await bd.run(["list"]).stdout.contains("hq-x-1"))
            let show = await bd.run(["show", "hq-x-1"])
            #expect(show.code == .success && show.stdout.contains("Held by hq"), "\(show)")
            let update = await bd.run(["update", "hq-x-1", "--title", "Renamed"])
            #expect(update.code == .success, "\(update)")
            let deleted = await bd.run(["delete", "hq-x-1", "-f"])
            #expect(deleted.code == .success, "\(deleted)")
        }
    }
}
