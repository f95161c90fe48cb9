import CGit2
import Foundation

/// Reads git configuration values through libgit2's config API, as `git config <key>` run in a directory would:
/// the configuration of the repository enclosing that directory (its `.git/config` over the global and system
/// files), or outside any repository the global, XDG and system files alone. Read-only; no `git` CLI.
///
/// A caseless namespace (`Sendable` trivially). Every read runs on a dedicated git thread, never on Swift's
/// cooperative pool.
public enum GitConfig {
    /// The value of `key` (e.g. `user.name`) seen from `directory`, or nil when it is unset, empty, or the
    /// configuration cannot be read.
    public static func string(_ key: String, from directory: String) async -> String? {
        let executor = GitThreadExecutor(name: "gt.git config")
        return await executor.perform { () -> String? in readString(key, from: directory) }
    }

    /// Reads `key` on the calling thread (which must not be a cooperative-pool thread).
    static func readString(_ key: String, from directory: String) -> String? {
        ensureGitLibrary()
        var config: OpaquePointer?
        var repository: OpaquePointer?
        defer {
            if let config { git_config_free(config) }
            if let repository { git_repository_free(repository) }
        }
        if git_repository_open_ext(&repository, directory, 0, nil) == 0, let repository {
            guard git_repository_config_snapshot(&config, repository) == 0 else { return nil }
        } else {
            var live: OpaquePointer?
            guard git_config_open_default(&live) == 0, let live else { return nil }
            defer { git_config_free(live) }
            guard git_config_snapshot(&config, live) == 0 else { return nil }
        }
        guard let config else { return nil }
        var buffer = git_buf()
        defer { git_buf_dispose(&buffer) }
        guard git_config_get_string_buf(&buffer, config, key) == 0, let pointer = buffer.ptr else { return nil }
        let value = String(cString: pointer).trimmingCharacters(in: .whitespacesAndNewlines)
        return value.isEmpty ? nil : value
    }
}
