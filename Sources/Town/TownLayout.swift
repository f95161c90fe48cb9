import Foundation
import Sessions

/// Where everything of a town's workflow lives on disk (DESIGN §10, Gas Town's layout):
///
/// ```
/// <town>/mayor/town.json, mayor/rigs.json        identity and rig registry
/// <town>/.beads/                                  the town ledger (hq + one scope per rig prefix)
/// <town>/.gt/events.jsonl                         one JSON object per event
/// <town>/.gt/logs/sessions/<session>.log          what each agent session printed
/// <town>/<rig>/config.json                        the rig's config (type "rig", git_url, beads.prefix, runtime)
/// <town>/<rig>/.repo.git/                         bare clone shared by every polecat worktree
/// <town>/<rig>/refinery/rig/                      the Refinery's clone
/// <town>/<rig>/polecats/<name>/                   a polecat's worktree (one assignment at a time)
/// <town>/<rig>/crew/<name>/                       a person's full clone
/// <worktree>/.gt/hook.json, .gt/done.json         the hook and `gt done`'s progress (git-ignored)
/// ```
///
/// `Sendable`: a plain value.
public struct TownLayout: Sendable, Equatable {
    /// The town root (holds `mayor/town.json`).
    public let root: String

    /// The layout of the town at `root` (an absolute path).
    public init(root: String) { self.root = root }

    public var townFile: String { root + "/mayor/town.json" }
    public var rigsFile: String { root + "/mayor/rigs.json" }
    public var beadsDirectory: String { root + "/.beads" }
    public var stateDirectory: String { root + "/.gt" }
    public var eventsFile: String { stateDirectory + "/events.jsonl" }
    public var sessionLogs: String { stateDirectory + "/logs/sessions" }
    /// Holds `process` to run this town's sessions as plain processes even where tmux is installed (every `gt`
    /// and the node read it, so they all see the same sessions). Absent: tmux when usable, else processes.
    public var sessionDriverFile: String { stateDirectory + "/session-driver" }

    public func rigDirectory(_ rig: String) -> String { root + "/" + rig }
    public func rigConfig(_ rig: String) -> String { rigDirectory(rig) + "/config.json" }
    public func bareRepository(_ rig: String) -> String { rigDirectory(rig) + "/.repo.git" }
    public func refineryClone(_ rig: String) -> String { rigDirectory(rig) + "/refinery/rig" }
    public func polecatsDirectory(_ rig: String) -> String { rigDirectory(rig) + "/polecats" }
    public func polecatWorktree(_ rig: String, _ name: String) -> String { polecatsDirectory(rig) + "/" + name }
    public func crewDirectory(_ rig: String) -> String { rigDirectory(rig) + "/crew" }
    public func crewClone(_ rig: String, _ name: String) -> String { crewDirectory(rig) + "/" + name }

    /// The hook file of a worktree.
    public static func hookFile(worktree: String) -> String { worktree + "/.gt/hook.json" }
    /// `gt done`'s progress file of a worktree.
    public static func doneFile(worktree: String) -> String { worktree + "/.gt/done.json" }

    /// The town's short identity on this host (`TownID`: 8 base-36 digits of FNV-1a over the town root's canonical
    /// path). Two towns on one host (even with the same name) get different tmux servers and session names.
    public var hostID: String { TownID(townRoot: root).rawValue }

    /// This node's name: `node.name` in `town.json`, else the town's `name`, else `local` (also when the file
    /// is missing or malformed).
    public func nodeName() -> String {
        guard let file = try? TownFile.load(townFile) else { return "local" }
        if let name = file.node.name, !name.isEmpty { return name }
        return file.name.flatMap { $0.isEmpty ? nil : $0 } ?? "local"
    }

    /// The nearest directory at or above `directory` holding `.gt/hook.json` or `.gt/done.json`: the polecat
    /// worktree an agent-facing command runs in, or nil outside any.
    public static func enclosingWorktree(of directory: String) -> String? {
        var url = URL(fileURLWithPath: directory).standardizedFileURL
        while true {
            let path = url.path
            let files = FileManager.default
            if files.fileExists(atPath: hookFile(worktree: path)) || files.fileExists(atPath: doneFile(worktree: path))
            {
                return path
            }
            if path == "/" || path.isEmpty { return nil }
            url.deleteLastPathComponent()
        }
    }
}

/// Names of rigs, polecats and crew members: 1–40 of `[a-z0-9_-]`, starting with a letter or digit, so they fit
/// in paths, branch names, bead IDs and tmux session names. A caseless namespace.
public enum TownNames {
    /// Whether `name` is usable as a rig, polecat or crew name.
    public static func isValid(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.unicodeScalars.count <= 40 else { return false }
        guard CharacterSet.lowercaseLetters.contains(first) || CharacterSet.decimalDigits.contains(first) else {
            return false
        }
        return name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII
                && (("a"..."z").contains(Character(scalar)) || ("0"..."9").contains(Character(scalar))
                    || scalar == "-" || scalar == "_")
        }
    }

    /// Polecat names handed out in order (Gas Town names its polecats; these are ours).
    public static let polecatPool = [
        "furiosa", "nux", "slit", "rictus", "toast", "capable", "dag", "cheedo", "ace", "keeper", "morsov", "max",
        "immortan", "organic", "prime", "scrotus", "vuvalini", "valkyrie", "corpus", "splendid", "angharad",
        "glory", "miss-giddy", "coma", "bullet", "people-eater", "doof", "buzzard", "rock-rider", "dementus",
    ]
}
