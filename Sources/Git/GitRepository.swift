import CGit2
import Foundation

/// One git repository, opened through libgit2 and owned by this actor.
///
/// libgit2 objects are not thread-safe, so each `GitRepository` owns its own `git_repository` and runs every
/// libgit2 call on its own `GitThreadExecutor` thread: never on Swift's cooperative pool, so a slow fetch or a
/// large repack blocks only this repository. Open the same repository twice to work on it from two places.
///
/// Sendable: yes (an actor). Methods are synchronous inside the actor; callers `await` them.
public actor GitRepository {
    /// The executor whose thread runs every call on this repository.
    public nonisolated let executor: GitThreadExecutor
    /// The repository's path as given when it was opened (the `.git` directory's parent for a non-bare one).
    public nonisolated let path: String
    /// The settings it was opened with.
    public nonisolated let settings: GitSettings
    /// The libgit2 handle. Used only on `executor`'s thread (every method of this actor runs there).
    let handle: OpaquePointer

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private init(handle: OpaquePointer, path: String, executor: GitThreadExecutor, settings: GitSettings) {
        self.handle = handle
        self.path = path
        self.executor = executor
        self.settings = settings
    }

    /// Frees the handle on the git thread, after every call already queued on this repository.
    isolated deinit {
        git_repository_free(handle)
    }

    /// Moves a raw handle from the opening closure to the actor (it is used by one thread at a time).
    private struct HandleBox: @unchecked Sendable {
        let handle: OpaquePointer
    }

    private static func make(
        path: String, settings: GitSettings, operation: String,
        _ body: @escaping @Sendable () throws(GitError) -> HandleBox
    ) async throws(GitError)
        -> GitRepository
    {
        let executor = GitThreadExecutor(name: "gt.git \(operation) \(path)", stackSize: settings.threadStackSize)
        let box = try await executor.perform(body)
        return GitRepository(handle: box.handle, path: path, executor: executor, settings: settings)
    }

    /// Creates a new repository at `path` (creating the directory) whose HEAD names `initialHead`.
    /// - Parameters:
    ///   - bare: a bare repository (no working tree), as used for remotes and the ledger.
    ///   - initialHead: the branch HEAD points at, e.g. `main` (never libgit2's default `master`).
    /// - Throws: `.alreadyExists` when a repository is already there.
    public static func create(
        at path: String, bare: Bool, initialHead: String = "main",
        settings: GitSettings = GitSettings()
    ) async throws(GitError) -> GitRepository {
        try await make(path: path, settings: settings, operation: "init") { () throws(GitError) -> HandleBox in
            ensureGitLibrary()
            var probe: OpaquePointer?
            if git_repository_open_ext(&probe, path, UInt32(GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue), nil) == 0 {
                git_repository_free(probe)
                throw GitError(
                    .alreadyExists, operation: "init", repository: path,
                    message: "a repository already exists there; open it instead")
            }
            var options = git_repository_init_options()
            git_repository_init_options_init(&options, UInt32(GIT_REPOSITORY_INIT_OPTIONS_VERSION))
            options.flags = UInt32(GIT_REPOSITORY_INIT_MKPATH.rawValue)
            if bare { options.flags |= UInt32(GIT_REPOSITORY_INIT_BARE.rawValue) }
            var repo: OpaquePointer?
            let code = initialHead.withCString { head in
                options.initial_head = head
                return git_repository_init_ext(&repo, path, &options)
            }
            guard code == 0, let repo else { throw GitError.last(code, operation: "init", repository: path) }
            return HandleBox(handle: repo)
        }
    }

    /// Opens the repository at `path` exactly (no search upwards), bare or not.
    /// - Throws: `.notARepository` when `path` is not a git repository (or does not exist).
    public static func open(
        at path: String, settings: GitSettings = GitSettings()
    ) async throws(GitError)
        -> GitRepository
    {
        try await make(path: path, settings: settings, operation: "open") { () throws(GitError) -> HandleBox in
            try HandleBox(handle: openHandle(path, operation: "open"))
        }
    }

    /// Opens a repository by path on the calling thread (which must be a git thread).
    static func openHandle(_ path: String, operation: String) throws(GitError) -> OpaquePointer {
        ensureGitLibrary()
        var repo: OpaquePointer?
        let code = git_repository_open_ext(&repo, path, UInt32(GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue), nil)
        guard code == 0, let repo else {
            let error = GitError.last(code, operation: operation, repository: path)
            if code == GIT_ENOTFOUND.rawValue {
                throw GitError(
                    .notARepository, operation: operation, repository: path, code: error.code,
                    errorClass: error.errorClass,
                    message: "not a git repository (\(error.message)); check the path or create one")
            }
            throw error
        }
        return repo
    }

    /// Clones `url` (a path, `file://`, `ssh://`, `user@host:path` or `https://`) into `path`.
    /// - Parameters:
    ///   - bare: clone without a working tree.
    ///   - branch: the branch to check out (HEAD), or the remote's default.
    /// - Throws: `.unreachable`/`.notARepository` for a bad remote, `.alreadyExists` for a non-empty `path`.
    public static func clone(
        from url: String, to path: String, bare: Bool = false, branch: String? = nil,
        settings: GitSettings = GitSettings()
    ) async throws(GitError) -> GitRepository {
        let operation = "clone \(url)"
        return try await make(path: path, settings: settings, operation: "clone") {
            () throws(GitError) -> HandleBox in
            ensureGitLibrary()
            if GitRemoteURL.isLocal(url) {
                let remotePath = GitRemoteURL.localPath(url)
                var probe: OpaquePointer?
                let code = git_repository_open_ext(
                    &probe, remotePath,
                    UInt32(GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue), nil)
                guard code == 0 else {
                    throw GitError(
                        .notARepository, operation: operation, repository: url, code: code,
                        message: "the remote is not a git repository (or does not exist): \(remotePath)")
                }
                git_repository_free(probe)
            }
            let callbacks = RemoteCallbacks(settings: settings)
            callbacks.remoteURL = url
            var options = git_clone_options()
            git_clone_options_init(&options, UInt32(GIT_CLONE_OPTIONS_VERSION))
            options.bare = bare ? 1 : 0
            callbacks.install(into: &options.fetch_opts.callbacks)
            var repo: OpaquePointer?
            let code: Int32 = withExtendedLifetime(callbacks) {
                if let branch {
                    return branch.withCString { name in
                        options.checkout_branch = name
                        return git_clone(&repo, url, path, &options)
                    }
                }
                return git_clone(&repo, url, path, &options)
            }
            guard code == 0, let repo else { throw GitError.remote(code, operation: operation, repository: path) }
            return HandleBox(handle: repo)
        }
    }

    /// Whether the repository is bare (has no working tree).
    public var isBare: Bool { git_repository_is_bare(handle) != 0 }

    /// The `.git` directory (or the bare repository directory), ending in `/`.
    public var gitDirectory: String { String(cString: git_repository_path(handle)) }

    /// The working tree's directory, or `nil` for a bare repository.
    public var workingDirectory: String? { git_repository_workdir(handle).map { String(cString: $0) } }

    /// Throws a `GitError` for a failed libgit2 call on this repository (reads the error on this thread).
    func check(_ code: Int32, _ operation: @autoclosure () -> String) throws(GitError) {
        if code < 0 { throw GitError.last(code, operation: operation(), repository: path) }
    }

    /// An error of ours (not libgit2's) about this repository.
    func failure(_ kind: GitError.Kind, _ operation: String, _ message: String) -> GitError {
        GitError(kind, operation: operation, repository: path, message: message)
    }

    /// Runs `body` on this repository's git thread, blocking that thread (and only it) for as long as `body`
    /// runs. For tests and benchmarks of the executor; git work itself goes through the actor's methods.
    public func runOnGitThread<T: Sendable>(_ body: @Sendable () -> T) -> T {
        body()
    }
}

/// How a remote URL is classified: local paths and `file://` URLs get the compare-and-swap push.
public enum GitRemoteURL {
    /// Whether `url` names a repository on this machine (a path or a `file://` URL).
    public static func isLocal(_ url: String) -> Bool {
        if url.hasPrefix("file://") { return true }
        if url.contains("://") { return false }
        // scp-like `user@host:path` (a colon before any slash) is ssh.
        if let colon = url.firstIndex(of: ":") {
            let slash = url.firstIndex(of: "/")
            if slash == nil || colon < slash! { return false }
        }
        return true
    }

    /// `url` with the credentials it holds replaced by `***`, for output (errors, `bd remote list`, logs): the
    /// password of `scheme://user:password@host/…`, and the whole user part of an http(s) URL (where a user part
    /// alone is usually an access token, `https://TOKEN@host/…`). An ssh user name (`ssh://git@host`,
    /// `git@host:path`) is kept: it is no secret. Paths and URLs without credentials come back unchanged.
    public static func redacted(_ url: String) -> String {
        guard let (userinfo, range) = userinfo(url) else { return url }
        return url.replacingCharacters(in: range, with: redactedUserinfo(userinfo, url: url))
    }

    /// `text` (an error message, a log line) with the credentials of `url` replaced as `redacted(url)` does:
    /// the URL itself, its user part followed by `@`, and (percent-decoded too) a password or token of 6 or more
    /// characters wherever it appears, as libgit2's messages may quote them.
    public static func redacting(_ text: String, url: String) -> String {
        guard let (userinfo, _) = userinfo(url) else { return text }
        var out = text.replacingOccurrences(of: url, with: redacted(url))
        let replacement = redactedUserinfo(userinfo, url: url)
        out = out.replacingOccurrences(of: userinfo + "@", with: replacement + "@")
        for secret in secrets(userinfo, url: url) where secret.count >= 6 {
            out = out.replacingOccurrences(of: secret, with: "***")
            if let decoded = secret.removingPercentEncoding, decoded != secret, decoded.count >= 6 {
                out = out.replacingOccurrences(of: decoded, with: "***")
            }
        }
        return out
    }

    /// The user part of a `scheme://userinfo@host…` URL and its range, or nil.
    static func userinfo(_ url: String) -> (String, Range<String.Index>)? {
        guard let scheme = url.range(of: "://") else { return nil }
        let rest = url[scheme.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@") else { return nil }
        let range = authority.startIndex..<at
        guard !range.isEmpty else { return nil }
        return (String(url[range]), range)
    }

    static func isHTTP(_ url: String) -> Bool {
        let lower = url.lowercased()
        return lower.hasPrefix("http://") || lower.hasPrefix("https://")
    }

    static func redactedUserinfo(_ userinfo: String, url: String) -> String {
        if let colon = userinfo.firstIndex(of: ":") {
            return isHTTP(url) && userinfo[..<colon].count >= 20 ? "***:***" : userinfo[..<colon] + ":***"
        }
        return isHTTP(url) ? "***" : userinfo
    }

    static func secrets(_ userinfo: String, url: String) -> [String] {
        if let colon = userinfo.firstIndex(of: ":") {
            var out = [String(userinfo[userinfo.index(after: colon)...])]
            if isHTTP(url) && userinfo[..<colon].count >= 20 { out.append(String(userinfo[..<colon])) }
            return out
        }
        return isHTTP(url) ? [userinfo] : []
    }

    /// The filesystem path of a local remote URL (`file:///srv/x` → `/srv/x`).
    public static func localPath(_ url: String) -> String {
        if url.hasPrefix("file://") {
            let rest = String(url.dropFirst("file://".count))
            return rest.removingPercentEncoding ?? rest
        }
        return url
    }
}
