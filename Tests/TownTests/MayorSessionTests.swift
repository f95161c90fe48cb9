import Foundation
import GasTownTestKit
import Testing

/// `gt mayor attach` with no terminal (CI): the Mayor's session starts detached with its role context and the
/// command says how to attach; a second call finds it running.
@Suite(.serialized) struct MayorSessionTests {
    @Test func attachWithNoTerminalStartsTheMayorDetachedAndSaysHowToAttach() async throws {
        try await TownFixture.with { town in
            let seen = town.directory.join("mayor-saw.txt")
            try town.directory.write(
                "mayor.sh",
                """
                #!/bin/sh
                { echo "role=$GT_ROLE scope=$GT_SCOPE dir=$(pwd)"; cat "$GT_ROLE_CONTEXT"; } > \(seen)
                sleep 60
                """)
            let runtime = "exec:'sh \(town.directory.join("mayor.sh"))'"
            let first = try await town.gt(["mayor", "attach", "--runtime", runtime])
            try expectOK(first)
            #expect(first.stdout.contains("Started the Mayor's session"), "\(first)")
            #expect(
                first.stdout.contains("attach with  tmux -L gt-") && first.stdout.contains(" attach -t gt-"), "\(first)")
            let ran = try await town.waitUntil(timeout: .seconds(30)) {
                (town.directory.read("mayor-saw.txt") ?? "").contains("global coordinator")
            }
            let saw = town.directory.read("mayor-saw.txt") ?? ""
            #expect(ran, "the Mayor's agent did not get its role context: \(saw)")
            #expect(saw.contains("role=mayor scope=town dir=\(town.town)/mayor"), "\(saw)")

            let second = try await town.gt(["mayor", "attach", "--runtime", runtime, "--json"])
            try expectOK(second)
            let reply = try #require(
                try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any], "\(second)")
            #expect(reply["started"] as? Bool == false, "a running session is reused: \(second.stdout)")
            #expect((reply["session"] as? String ?? "").contains("-hq-mayor-e0"), "\(second.stdout)")

            let bad = try await town.gt(["mayor", "attach", "--runtime", "nosuchruntime"])
            #expect(bad.status != 0, "\(bad)")
        }
    }
}
