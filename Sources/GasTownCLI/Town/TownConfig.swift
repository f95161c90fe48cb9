import Foundation

/// The town identity file `mayor/town.json`, in Gas Town's shape (`internal/config` `TownConfig`):
/// `type` ("town"), `version` (2), `name`, optional `owner` and `public_name`, `created_at` (RFC 3339, kept
/// as written so a file read and written back is unchanged).
///
/// A plain value (`Sendable`).
public struct TownConfig: Codable, Sendable, Equatable {
    /// The `type` every town file carries.
    public static let fileType = "town"
    /// The schema version written by `gt install` (Gas Town's current one).
    public static let currentVersion = 2

    /// Always `"town"`.
    public var type: String
    /// The schema version.
    public var version: Int
    /// The town's identifier.
    public var name: String
    /// The owner's identity (an email in Gas Town), if recorded.
    public var owner: String?
    /// The display name, if different from `name`.
    public var publicName: String?
    /// When the town was created, RFC 3339 as written.
    public var createdAt: String

    enum CodingKeys: String, CodingKey {
        case type, version, name, owner
        case publicName = "public_name"
        case createdAt = "created_at"
    }

    /// A new town's identity.
    public init(name: String, owner: String? = nil, publicName: String? = nil, createdAt: String) {
        self.type = TownConfig.fileType
        self.version = TownConfig.currentVersion
        self.name = name
        self.owner = owner
        self.publicName = publicName
        self.createdAt = createdAt
    }

    /// Decodes and checks a `town.json`: it must be JSON with `type` "town" and a non-empty `name`.
    public static func decode(_ data: Data, path: String) throws(CLIError) -> TownConfig {
        let config: TownConfig
        do {
            config = try JSONDecoder().decode(TownConfig.self, from: data)
        } catch {
            throw CLIError(
                "\(path) is not a valid town config: \(error)", hint: "fix the JSON or re-create the town",
                code: "bad_config")
        }
        guard config.type == fileType else {
            throw CLIError(
                "\(path) has type '\(config.type)', expected 'town'", hint: "point --town at a Gas Town root",
                code: "bad_config")
        }
        guard !config.name.isEmpty else {
            throw CLIError("\(path) has an empty name", hint: "set \"name\" in the file", code: "bad_config")
        }
        return config
    }

    /// Reads `<townRoot>/mayor/town.json`.
    public static func load(townRoot: String) throws(CLIError) -> TownConfig {
        let path = Discovery.join(townRoot, Discovery.townMarker)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError("cannot read \(path)", hint: "check that \(townRoot) is a Gas Town root", code: "no_town")
        }
        return try decode(data, path: path)
    }

    /// The file's bytes: Go-style indented JSON with a trailing newline.
    public func encoded() throws -> Data {
        Data(try JSONValue(encoding: self).formatted.utf8)
    }
}

/// The rig registry `mayor/rigs.json`, in Gas Town's shape: `version` and `rigs` by name.
///
/// A plain value (`Sendable`).
public struct RigsConfig: Codable, Sendable, Equatable {
    /// One registered rig.
    public struct Entry: Codable, Sendable, Equatable {
        /// The rig's git remote.
        public var gitURL: String
        /// When it was added, RFC 3339.
        public var addedAt: String
        /// Its beads settings (`repo`, `prefix`), if any.
        public var beads: BeadsSettings?

        enum CodingKeys: String, CodingKey {
            case gitURL = "git_url"
            case addedAt = "added_at"
            case beads
        }

        /// Makes an entry.
        public init(gitURL: String, addedAt: String, beads: BeadsSettings? = nil) {
            self.gitURL = gitURL
            self.addedAt = addedAt
            self.beads = beads
        }
    }

    /// A rig's ledger settings.
    public struct BeadsSettings: Codable, Sendable, Equatable {
        /// "local", a path, or a git URL.
        public var repo: String
        /// The bead ID prefix (`gt`).
        public var prefix: String

        /// Makes settings.
        public init(repo: String, prefix: String) {
            self.repo = repo
            self.prefix = prefix
        }
    }

    /// The schema version (1).
    public var version: Int
    /// Registered rigs by name.
    public var rigs: [String: Entry]

    /// An empty registry.
    public init(version: Int = 1, rigs: [String: Entry] = [:]) {
        self.version = version
        self.rigs = rigs
    }

    /// The file's bytes: Go-style indented JSON with a trailing newline.
    public func encoded() throws -> Data {
        Data(try JSONValue(encoding: self).formatted.utf8)
    }
}
