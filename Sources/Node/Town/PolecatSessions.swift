import Foundation

/// A polecat session's identity: town (host ID), rig, polecat and session epoch, rendered as the tmux session
/// name `gt-<town>-<rig>-<polecat>-e<epoch>`. Two towns never share a name (nor a tmux server), and an action
/// aimed at epoch N finds nothing once epoch N+1 runs (DESIGN §8).
/// `Sendable`: a plain value.
public struct PolecatSessionName: Sendable, Hashable, CustomStringConvertible {
    public var town: String
    public var rig: String
    public var polecat: String
    public var epoch: Int

    public init(town: String, rig: String, polecat: String, epoch: Int) {
        self.town = town
        self.rig = rig
        self.polecat = polecat
        self.epoch = epoch
    }

    /// The rendered name.
    public var description: String { "gt-\(town)-\(rig)-\(polecat)-e\(epoch)" }
}

/// What the workflow needs from a session driver: start an agent in a worktree, see whether it runs, type into
/// it, stop it. `TmuxPolecatSessions` is the implementation; every name is exact (identity and epoch).
public protocol PolecatSessions: Sendable {
    /// Starts `command` (via `/bin/sh -c`) in `directory` with `environment`, its output appended to `log`.
    func start(
        _ name: PolecatSessionName, directory: String, environment: [String: String], command: String, log: String
    ) async throws(TownError)
    /// Whether exactly this session runs.
    func isAlive(_ name: PolecatSessionName) async -> Bool
    /// The rendered names of this town's live sessions.
    func list() async -> [String]
    /// Types `text` and Enter into the session.
    func sendText(_ text: String, to name: PolecatSessionName) async throws(TownError)
    /// Stops the session; false when there was none.
    @discardableResult func kill(_ name: PolecatSessionName) async -> Bool
}

/// Polecat sessions in tmux: one private tmux server per town (`tmux -L gt-<town host ID> -f /dev/null`), so
/// two towns on one host never see each other's sessions and stopping one town's server leaves the other's alone.
///
/// `Sendable`: immutable values.
public struct TmuxPolecatSessions: PolecatSessions {
    /// The tmux executable.
    public let tmux: String
    /// The socket name (`-L`).
    public let socket: String
    /// The town's host ID, the prefix every listed session must carry.
    public let town: String
    public let timeout: Duration

    /// The sessions of `layout`; nil when tmux is not installed.
    public init?(layout: TownLayout, settings: TownSettings) {
        guard let tmux = TownProcess.which("tmux") else { return nil }
        self.tmux = tmux
        town = layout.hostID
        socket = "gt-" + layout.hostID
        timeout = settings.tmuxTimeout
    }

    func run(_ arguments: [String]) async throws(TownError) -> TownProcess.Output {
        try await TownProcess.run(tmux, ["-L", socket, "-f", "/dev/null"] + arguments, timeout: timeout)
    }

    public func start(
        _ name: PolecatSessionName, directory: String, environment: [String: String], command: String, log: String
    ) async throws(TownError) {
        try? FileManager.default.createDirectory(
            atPath: (log as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        var arguments = ["new-session", "-d", "-s", name.description, "-c", directory, "-x", "200", "-y", "50"]
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) { arguments += ["-e", "\(key)=\(value)"] }
        let quotedLog = TmuxPolecatSessions.quote(log)
        // tmux 3.3 gives new sessions the client's PATH whatever -e says, so PATH is set in the command itself.
        let path = environment["PATH"].map { "PATH=\(TmuxPolecatSessions.quote($0)) " } ?? ""
        arguments.append("{ \(path)/bin/sh -c \(TmuxPolecatSessions.quote(command)); } 2>&1 | tee -a \(quotedLog)")
        let output = try await run(arguments)
        guard output.status == 0 else {
            throw .session("tmux new-session \(name) failed (\(output.status)): \(output.stderr)")
        }
    }

    public func isAlive(_ name: PolecatSessionName) async -> Bool {
        guard let output = try? await run(["has-session", "-t", "=" + name.description]) else { return false }
        return output.status == 0
    }

    public func list() async -> [String] {
        guard let output = try? await run(["list-sessions", "-F", "#{session_name}"]), output.status == 0 else {
            return []
        }
        return output.stdout.split(separator: "\n").map(String.init).filter { $0.hasPrefix("gt-\(town)-") }
    }

    public func sendText(_ text: String, to name: PolecatSessionName) async throws(TownError) {
        guard await isAlive(name) else { throw .session("no session \(name) (it ended, or a newer epoch replaced it)") }
        let typed = try await run(["send-keys", "-t", "=" + name.description + ":", "-l", text])
        let enter = try await run(["send-keys", "-t", "=" + name.description + ":", "Enter"])
        guard typed.status == 0, enter.status == 0 else {
            throw .session("tmux send-keys to \(name) failed: \(typed.stderr)\(enter.stderr)")
        }
    }

    @discardableResult
    public func kill(_ name: PolecatSessionName) async -> Bool {
        guard let output = try? await run(["kill-session", "-t", "=" + name.description]) else { return false }
        return output.status == 0
    }

    /// Stops this town's tmux server (every session of this town; other towns' servers are untouched).
    public func killServer() async {
        _ = try? await run(["kill-server"])
    }

    /// `text` as one single-quoted shell word.
    static func quote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
