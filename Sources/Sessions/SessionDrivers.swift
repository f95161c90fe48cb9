import Foundation

/// Picks the session driver for a town: tmux when a tmux of version 3.0 or later (needed for
/// `new-session -e`) is on `PATH`, else plain processes. A namespace; `Sendable` trivially.
public enum SessionDrivers {
    /// The driver for the town rooted at `townRoot`. `path` defaults to this process's `PATH`.
    public static func select(
        townRoot: String, settings: SessionSettings = SessionSettings(), path: String? = nil
    ) async -> any SessionDriver {
        if settings.driver != .process,
            let tmux = findExecutable("tmux", path: path ?? ProcessInfo.processInfo.environment["PATH"] ?? ""),
            let (major, _) = await TmuxDriver.version(tmuxPath: tmux, timeout: settings.commandTimeout), major >= 3
        {
            return TmuxDriver(townRoot: townRoot, tmuxPath: tmux, settings: settings)
        }
        return ProcessDriver(townRoot: townRoot, settings: settings)
    }

    /// The first executable file named `name` in the colon-separated `path`, or nil.
    public static func findExecutable(_ name: String, path: String) -> String? {
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
                access(candidate, X_OK) == 0
            {
                return candidate
            }
        }
        return nil
    }
}
