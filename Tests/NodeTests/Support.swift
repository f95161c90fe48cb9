import Foundation
import GasTownTestKit
import Node
import Testing

/// A town made with the built `gt install` in a temporary directory, driven by the built `gt`.
/// Every node process it starts is killed by pid (SIGKILL) in `stopEverything()`, which tests call in a
/// `defer`; the temporary directory is removed when the `TempDir` is released.
final class TestTown: Sendable {
    let root: String
    let paths: TownPaths

    init(in directory: TempDir, name: String) async throws {
        root = directory.join(name)
        paths = TownPaths(root: root)
        let output = try await BuiltBinaries.run(.gt, ["install", root])
        try #require(output.status == 0, "gt install: \(output)")
    }

    /// Runs `gt --town <root> args…`.
    @discardableResult
    func gt(_ arguments: [String], timeout: Duration = .seconds(60)) async throws -> BuiltBinaries.Output {
        try await BuiltBinaries.run(.gt, ["--town", root] + arguments, cwd: root, timeout: timeout)
    }

    /// Runs `gt` and requires exit status 0.
    @discardableResult
    func ok(_ arguments: [String]) async throws -> String {
        let output = try await gt(arguments)
        try #require(output.status == 0, "gt \(arguments.joined(separator: " ")): \(output)")
        return output.stdout
    }

    /// Runs `gt … --json` and decodes stdout.
    func json(_ arguments: [String]) async throws -> [String: Any] {
        let text = try await ok(arguments + ["--json"])
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
    }

    /// The running node's pid and address, from `node.json`.
    var runtime: NodeRuntimeInfo? { NodeRuntimeInfo.load(paths) }

    /// The pid `gt up` recorded.
    var recordedPid: Int32? {
        (try? String(contentsOfFile: paths.pidFile, encoding: .utf8))
            .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Kills (SIGKILL, by pid) every node process this town recorded that is still alive.
    func stopEverything() {
        for pid in Set([recordedPid, runtime?.pid].compactMap { $0 }) where pid > 0 && isNodeProcess(pid) {
            kill(pid, SIGKILL)
        }
    }
}

/// True when `pid` is alive (not a zombie).
func isAlive(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return true }
    let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
    return state != "Z" && state != "X"
}

/// True when `pid` runs `gt node run` (never signal a recycled pid).
func isNodeProcess(_ pid: Int32) -> Bool {
    guard isAlive(pid), let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
    let words = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    guard let index = words.firstIndex(of: "node") else { return false }
    return words.count > index + 1 && words[index + 1] == "run"
}

/// The names of the connected peers in a `gt status --json` object.
func connectedPeers(_ status: [String: Any]) -> Set<String> {
    let peers = status["peers"] as? [[String: Any]] ?? []
    return Set(peers.filter { ($0["connected"] as? Bool) == true }.compactMap { $0["name"] as? String })
}
