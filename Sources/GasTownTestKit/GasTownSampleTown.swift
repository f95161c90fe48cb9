import Foundation
import Git

/// A Gas Town town for `gt migrate` tests, built from the real files of `shared/samples/gastown/town-pr820/` plus
/// what a town in use has: the rig `gastown` registered in mayor/rigs.json with a local repository
/// (`gastown/.repo.git`, one commit) and rig-level settings (`gastown/settings/config.json`, Gas Town's
/// `examples/rig-settings.example.json`), rig beads routed to `gastown/mayor/rig/.beads/`, a bead hooked on a polecat
/// with its worktree directory, a bead in progress on another polecat, the polecat's agent bead, a crew workspace, a
/// message, and a bead whose prefix no rig owns.
/// `Sendable`: a caseless namespace.
public enum GasTownSampleTown {
    /// The beads the built town holds beyond the sample's own nine.
    public static let hookedBead = "gt-h00k"
    public static let openRigBead = "gt-0pen"
    public static let mailBead = "hq-ma1l"
    public static let orphanBead = "zz-0rph"
    /// In progress on a polecat (a hook in flight as Gas Town wrote it before the `hooked` status).
    public static let workingBead = "gt-w0rk"
    /// The polecat nux's agent bead, holding `hookedBead` on its hook in its description, as Gas Town writes it.
    public static let polecatAgentBead = "gt-gastown-polecat-nux"

    /// Builds the town at `root` (which must not exist) and returns every bead ID it holds.
    @discardableResult
    public static func build(at root: String) async throws -> [String] {
        let sample = SharedSamples.path("gastown/town-pr820")
        let manager = FileManager.default
        guard let walker = manager.enumerator(atPath: sample) else { throw SharedSamples.Missing(path: sample) }
        while let relative = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if !manager.fileExists(atPath: sample + "/" + relative, isDirectory: &isDirectory) || isDirectory.boolValue {
                continue
            }
            try write(root, relative, try Data(contentsOf: URL(fileURLWithPath: sample + "/" + relative)))
        }
        // The rig's own settings (they override the town's for it): Gas Town's documented example, as is.
        try write(
            root, "gastown/settings/config.json",
            try Data(contentsOf: URL(fileURLWithPath: SharedSamples.path("gastown/examples/rig-settings.example.json"))))
        let repository = root + "/gastown/.repo.git"
        let repo = try await GitRepository.create(at: repository, bare: true)
        let tree = try await repo.writeTree(files: ["README.md": Data("gastown\n".utf8)])
        _ = try await repo.commit(
            tree: tree, parents: [], message: "initial",
            author: GitSignature(name: "t", email: "t@example.org", time: 1_768_000_000),
            updateReference: "refs/heads/main")
        try write(
            root, "mayor/rigs.json",
            Data(
                """
                {"version": 1, "rigs": {"gastown": {"git_url": "\(root)/no-such-remote.git",
                 "added_at": "2026-01-19T14:44:01+11:00", "beads": {"repo": "local", "prefix": "gt"}}}}
                """.utf8))
        let time = "2026-01-20T10:00:00Z"
        let rigBeads = [
            #"{"id":"\#(hookedBead)","title":"Fix the thing","status":"hooked","priority":1,"issue_type":"task","assignee":"gastown/polecats/nux","created_at":"\#(time)","updated_at":"\#(time)"}"#,
            #"{"id":"\#(openRigBead)","title":"Later","status":"open","priority":2,"issue_type":"task","created_at":"\#(time)","updated_at":"\#(time)"}"#,
            #"{"id":"\#(workingBead)","title":"Half done","status":"in_progress","priority":2,"issue_type":"bug","assignee":"gastown/polecats/furiosa","created_at":"\#(time)","updated_at":"\#(time)"}"#,
            #"{"id":"\#(polecatAgentBead)","title":"gastown/polecats/nux","description":"role_type: polecat\nrig: gastown\nagent_state: working\nhook_bead: \#(hookedBead)","status":"open","priority":2,"issue_type":"agent","created_at":"\#(time)","updated_at":"\#(time)","labels":["gt:agent"]}"#,
        ]
        try write(root, "gastown/mayor/rig/.beads/issues.jsonl", Data((rigBeads.joined(separator: "\n") + "\n").utf8))
        var town = try Data(contentsOf: URL(fileURLWithPath: root + "/.beads/issues.jsonl"))
        town.append(
            Data(
                (#"{"id":"\#(mailBead)","title":"Hello","description":"body","status":"open","priority":2,"issue_type":"message","assignee":"gastown/polecats/nux","created_at":"\#(time)","updated_at":"\#(time)","sender":"mayor"}"#
                    + "\n"
                    + #"{"id":"\#(orphanBead)","title":"Elsewhere","status":"open","priority":2,"issue_type":"task","created_at":"\#(time)","updated_at":"\#(time)"}"#
                    + "\n").utf8))
        try write(root, ".beads/issues.jsonl", town)
        for worktree in ["polecats/nux", "polecats/furiosa", "crew/max"] {
            try manager.createDirectory(atPath: root + "/gastown/" + worktree, withIntermediateDirectories: true)
        }
        var ids: [String] = []
        for file in [".beads/issues.jsonl", "gastown/mayor/rig/.beads/issues.jsonl"] {
            let text = try String(contentsOfFile: root + "/" + file, encoding: .utf8)
            for line in text.split(separator: "\n") {
                if let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                    let id = object["id"] as? String
                {
                    ids.append(id)
                }
            }
        }
        return ids
    }

    static func write(_ root: String, _ relative: String, _ data: Data) throws {
        let path = root + "/" + relative
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
    }
}
