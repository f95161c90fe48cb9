import Foundation
import LedgerStore

#if canImport(Glibc)
import Glibc
#endif

/// Creates a town on disk (`gt install`): Gas Town's layout plus `.gt/` for node state.
///
/// ```
/// <dir>/mayor/town.json     identity (type "town", version 2, name, owner, public_name, created_at)
/// <dir>/mayor/rigs.json     rig registry ({"version": 1, "rigs": {}})
/// <dir>/.beads/             town-wide ledger, prefix "hq" (metadata.json, routes.jsonl, config.json)
/// <dir>/.gt/pki/ wal/ logs/ node state (pki is mode 0700)
/// ```
///
/// All or nothing: the tree is built in a staging directory (a hidden sibling of `<dir>`, or inside an
/// existing `<dir>`) and renamed into place; on any failure the staging directory is removed and nothing
/// else has changed. Blocking (it fsyncs): call it through `BlockingWork.run`.
public struct TownInstaller: Sendable {
    /// The town-wide ledger prefix.
    public static let townPrefix = "hq"
    /// The entries `gt install` creates inside `<dir>`; any one already present means refusal.
    public static let entries = ["mayor", ".beads", ".gt"]

    /// What was installed.
    public struct Result: Codable, Sendable, Equatable {
        /// The town root.
        public var path: String
        /// The town's name.
        public var name: String
        /// The ledger prefix.
        public var prefix: String
        /// When it was created.
        public var createdAt: String

        enum CodingKeys: String, CodingKey {
            case path, name, prefix
            case createdAt = "created_at"
        }
    }

    /// The absolute directory to make a town in.
    public var directory: String
    /// The town's name (default: the directory's last component).
    public var name: String
    /// The owner recorded in `town.json`, if any.
    public var owner: String?
    /// The creation time, RFC 3339 (passed in so tests and callers choose the clock).
    public var createdAt: String
    /// Fault injection for tests: fail when this many build/move steps have completed.
    var failAfterSteps: Int?

    /// Describes an installation; checks the name.
    public init(directory: String, name: String?, owner: String?, createdAt: String) throws(CLIError) {
        self.directory = directory
        let chosen = name ?? Discovery.lastComponent(directory)
        guard TownInstaller.isValidName(chosen) else {
            throw CLIError(
                "invalid town name '\(chosen)'", hint: "use letters, digits, '.', '_' or '-' (pass --name NAME)",
                code: "bad_name")
        }
        self.name = chosen
        self.owner = owner
        self.createdAt = createdAt
    }

    /// Town names: 1–64 of letters, digits, `.`, `_`, `-`, not starting with `.` or `-`.
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.unicodeScalars.count <= 64 else { return false }
        if first == "." || first == "-" { return false }
        return name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "._-".unicodeScalars.contains(scalar))
        }
    }

    /// Creates the town. Refuses (nothing changed) when `<dir>` is already a town, is a file, or already
    /// holds one of `mayor/`, `.beads/`, `.gt/`.
    public func install() throws(CLIError) -> Result {
        let files = FileManager.default
        var isDirectory: ObjCBool = false
        let exists = files.fileExists(atPath: directory, isDirectory: &isDirectory)
        if exists && !isDirectory.boolValue {
            throw CLIError("\(directory) exists and is not a directory", hint: "choose another path", code: "exists")
        }
        if files.fileExists(atPath: Discovery.join(directory, Discovery.townMarker)) {
            throw CLIError(
                "\(directory) is already a Gas Town (\(Discovery.townMarker) exists)",
                hint: "use it as is, or choose another directory", code: "exists")
        }
        if exists {
            for entry in TownInstaller.entries where files.fileExists(atPath: Discovery.join(directory, entry)) {
                throw CLIError(
                    "\(Discovery.join(directory, entry)) already exists", hint: "choose an empty directory",
                    code: "exists")
            }
        }
        let parent = Discovery.absolute(directory + "/..", cwd: "/")
        guard files.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CLIError("parent directory \(parent) does not exist", hint: "create it first", code: "no_parent")
        }
        let token = UUID().uuidString.prefix(8)
        let staging = exists
            ? Discovery.join(directory, ".gt-install-\(token)")
            : Discovery.join(parent, ".\(Discovery.lastComponent(directory)).gt-install-\(token)")
        let steps = Steps(limit: failAfterSteps)
        do {
            try build(in: staging, steps: steps)
            if exists {
                try moveEntries(from: staging, to: directory, steps: steps)
                try? files.removeItem(atPath: staging)
            } else {
                try rename(staging, directory)
            }
            Durability.syncDirectory(exists ? directory : parent)
        } catch {
            try? files.removeItem(atPath: staging)
            throw CLIError("could not create the town at \(directory): \(error)", hint: "nothing was changed")
        }
        return Result(path: directory, name: name, prefix: TownInstaller.townPrefix, createdAt: createdAt)
    }

    /// Counts completed steps and throws when `failAfterSteps` is reached (tests only).
    final class Steps {
        var done = 0
        let limit: Int?
        init(limit: Int?) { self.limit = limit }
        func next() throws {
            if let limit, done >= limit { throw CLIError("injected failure after \(done) steps") }
            done += 1
        }
    }

    func build(in root: String, steps: Steps) throws {
        let files = FileManager.default
        try files.createDirectory(atPath: root, withIntermediateDirectories: false)
        try steps.next()
        try makeDirectory(Discovery.join(root, "mayor"))
        let town = TownConfig(name: name, owner: owner, publicName: name, createdAt: createdAt)
        try Durability.writeFile(Discovery.join(root, "mayor/town.json"), try town.encoded())
        try steps.next()
        try Durability.writeFile(Discovery.join(root, "mayor/rigs.json"), try RigsConfig().encoded())
        try steps.next()
        try TownInstaller.initLedger(at: Discovery.join(root, ".beads"), prefix: TownInstaller.townPrefix)
        try steps.next()
        let routes = [
            JSONRoute(prefix: "\(TownInstaller.townPrefix)-", path: "."),
            JSONRoute(prefix: "\(TownInstaller.townPrefix)-cv-", path: "."),
        ]
        let routeLines = try routes.map { String(decoding: try JSONEncoder.compactSorted.encode($0), as: UTF8.self) }
        // The store wrote a routes.jsonl for its scope; the town's adds the convoy route, so it replaces that one.
        try? FileManager.default.removeItem(atPath: Discovery.join(root, ".beads/routes.jsonl"))
        try Durability.writeFile(
            Discovery.join(root, ".beads/routes.jsonl"), Data((routeLines.joined(separator: "\n") + "\n").utf8))
        try steps.next()
        try makeDirectory(Discovery.join(root, ".gt"))
        try makeDirectory(Discovery.join(root, ".gt/pki"), permissions: 0o700)
        try makeDirectory(Discovery.join(root, ".gt/wal"))
        try makeDirectory(Discovery.join(root, ".gt/logs"))
        for directory in ["mayor", ".beads", ".gt", ".gt/pki", ".gt/wal", ".gt/logs", ""] {
            Durability.syncDirectory(Discovery.join(root, directory))
        }
        try steps.next()
    }

    /// Creates the town-wide ledger store at `path` (`<town>/.beads`) with its first scope `prefix`: the durable
    /// store (write-ahead log with the replica ID and the scope, snapshots directory, lock file), `config.json`,
    /// `metadata.json` and `routes.jsonl` (`LedgerDatabase.initialize`). Blocking; runs inside the installer's
    /// staging directory, so a failure here leaves nothing behind.
    public static func initLedger(at path: String, prefix: String) throws {
        do {
            let db = try LedgerDatabase.initialize(StoreLayout(beadsDirectory: path), prefix: prefix)
            db.close()
        } catch {
            throw CLIError("cannot create the town ledger at \(path): \(error)", code: "io")
        }
    }

    func makeDirectory(_ path: String, permissions: Int = 0o755) throws {
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: permissions])
    }

    func moveEntries(from staging: String, to directory: String, steps: Steps) throws {
        var moved: [String] = []
        do {
            for entry in TownInstaller.entries {
                try steps.next()
                try rename(Discovery.join(staging, entry), Discovery.join(directory, entry))
                moved.append(entry)
            }
        } catch {
            for entry in moved { try? rename(Discovery.join(directory, entry), Discovery.join(staging, entry)) }
            throw error
        }
    }

    func rename(_ from: String, _ to: String) throws {
        guard Glibc.rename(from, to) == 0 else {
            throw CLIError("rename \(from) → \(to) failed: \(String(cString: strerror(errno)))")
        }
    }
}

/// One line of `.beads/routes.jsonl`: bead IDs with `prefix` live in the store at `path` (town-relative).
struct JSONRoute: Codable {
    var prefix: String
    var path: String
}

extension JSONEncoder {
    /// Compact JSON with sorted keys and unescaped slashes (one JSONL line).
    static var compactSorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

/// Durable file writes for the installer: write, fsync the file; fsync directories after renames.
enum Durability {
    static func writeFile(_ path: String, _ data: Data) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CLIError("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var offset = 0
        while offset < data.count {
            let written = data.withUnsafeBytes { buffer in
                write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw CLIError("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
        guard fsync(descriptor) == 0 else {
            throw CLIError("cannot fsync \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func syncDirectory(_ path: String) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        close(descriptor)
    }
}
