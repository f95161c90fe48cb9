/// Finding the town root, the `bd` store and the actor, the same way in every command (DESIGN §10).
/// Pure: every input (flag value, environment, working directory, a file-exists test) is a parameter.
public enum Discovery {
    /// Where a discovered location came from, for messages.
    public enum Source: String, Sendable, Equatable {
        case flag, environment, search
    }

    /// A discovered directory and where it came from.
    public struct Location: Sendable, Equatable {
        /// The absolute, normalized path.
        public var path: String
        /// Which rule found it.
        public var source: Source
    }

    /// The file whose presence marks a town root.
    public static let townMarker = "mayor/town.json"
    /// The directory that holds a beads store.
    public static let storeDirectoryName = ".beads"

    /// The town root: `--town DIR`, else `$GT_TOWN`, else the nearest parent of `cwd` (itself included)
    /// holding `mayor/town.json`. Flag and environment values are taken as given (relative to `cwd`);
    /// only the search consults `fileExists`. Throws a `CLIError` saying what to do when nothing is found.
    public static func townRoot(
        flag: String?, environment: [String: String], cwd: String, fileExists: (String) -> Bool
    ) throws(CLIError) -> Location {
        if let flag, !flag.isEmpty { return Location(path: absolute(flag, cwd: cwd), source: .flag) }
        if let value = environment["GT_TOWN"], !value.isEmpty {
            return Location(path: absolute(value, cwd: cwd), source: .environment)
        }
        for directory in ancestors(of: absolute(cwd, cwd: "/")) where fileExists(join(directory, townMarker)) {
            return Location(path: directory, source: .search)
        }
        throw CLIError(
            "not inside a Gas Town (no \(townMarker) in \(absolute(cwd, cwd: "/")) or any parent)",
            hint: "run 'gt install <dir>' to create one, or pass --town DIR or set GT_TOWN",
            code: "no_town")
    }

    /// The `.beads` store directory: `-C DIR` (DIR itself when it is a `.beads` directory, else
    /// `DIR/.beads`), else `$BEADS_DIR` (the `.beads` directory itself, as in beads), else the nearest
    /// parent of `cwd` holding `.beads/`. Throws a `CLIError` saying what to do when nothing is found.
    public static func beadsStore(
        flag: String?, environment: [String: String], cwd: String, fileExists: (String) -> Bool
    ) throws(CLIError) -> Location {
        if let flag, !flag.isEmpty {
            let directory = absolute(flag, cwd: cwd)
            let path = lastComponent(directory) == storeDirectoryName ? directory : join(directory, storeDirectoryName)
            return Location(path: path, source: .flag)
        }
        if let value = environment["BEADS_DIR"], !value.isEmpty {
            return Location(path: absolute(value, cwd: cwd), source: .environment)
        }
        for directory in ancestors(of: absolute(cwd, cwd: "/")) where fileExists(join(directory, storeDirectoryName)) {
            return Location(path: join(directory, storeDirectoryName), source: .search)
        }
        throw CLIError(
            "no beads store found (no \(storeDirectoryName)/ in \(absolute(cwd, cwd: "/")) or any parent)",
            hint: "run 'bd init' to create one, or pass -C DIR or set BEADS_DIR",
            code: "no_store")
    }

    /// The actor set explicitly, in beads' order (`cmd/bd/main.go`, `getActorWithGit`): `--actor`, else
    /// `$BEADS_ACTOR`, else `$BD_ACTOR` (beads' older name, which Gas Town's sessions set); nil when none is.
    public static func explicitActor(flag: String?, environment: [String: String]) -> String? {
        for candidate in [flag, environment["BEADS_ACTOR"], environment["BD_ACTOR"]] {
            if let candidate, !candidate.isEmpty { return candidate }
        }
        return nil
    }

    /// The actor recorded on writes, in beads' order: `--actor`, else `$BEADS_ACTOR`, else `$BD_ACTOR`, else git's
    /// `user.name` as seen from the working directory (`gitUserName`, read by the caller), else `$USER`, else
    /// `"unknown"`.
    public static func actor(flag: String?, environment: [String: String], gitUserName: String?) -> String {
        if let explicit = explicitActor(flag: flag, environment: environment) { return explicit }
        for candidate in [gitUserName, environment["USER"]] {
            if let candidate, !candidate.isEmpty { return candidate }
        }
        return "unknown"
    }

    /// `path` made absolute against `cwd` and normalized (`.`/`..`/duplicate slashes removed).
    public static func absolute(_ path: String, cwd: String) -> String {
        let full = path.hasPrefix("/") ? path : cwd + "/" + path
        var parts: [Substring] = []
        for part in full.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if !parts.isEmpty { parts.removeLast() }
                continue
            }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// `directory` and each of its parents up to `/`, nearest first.
    public static func ancestors(of directory: String) -> [String] {
        var result: [String] = []
        var current = absolute(directory, cwd: "/")
        while true {
            result.append(current)
            if current == "/" { return result }
            let parent = current[..<(current.lastIndex(of: "/") ?? current.startIndex)]
            current = parent.isEmpty ? "/" : String(parent)
        }
    }

    /// Joins two path pieces with one slash.
    public static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    static func lastComponent(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? ""
    }
}
