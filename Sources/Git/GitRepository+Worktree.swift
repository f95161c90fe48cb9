import CGit2
import Foundation

/// A linked worktree of a repository.
///
/// Sendable: yes, a plain value.
public struct GitWorktree: Sendable, Equatable {
    /// Its name (the directory under `.git/worktrees/`).
    public let name: String
    /// Its working directory.
    public let path: String
    /// Whether it is locked against pruning.
    public let isLocked: Bool
    /// Whether it is stale (its directory is gone) and `pruneWorktrees()` would remove it.
    public let isPrunable: Bool
}

/// One changed file in a working tree.
///
/// Sendable: yes, a plain value.
public struct GitFileStatus: Sendable, Equatable {
    /// Path relative to the working directory.
    public let path: String
    /// `git_status_t` flags (index and working tree changes, untracked, conflicted).
    public let flags: UInt32
    /// Whether the file is not tracked at all.
    public var isUntracked: Bool { flags & GIT_STATUS_WT_NEW.rawValue != 0 }
}

extension GitRepository {
    /// Adds a worktree at `path` named `name`, checked out on a new branch `branch` created at `commit`.
    /// - Throws: `.alreadyExists` when the branch or worktree exists.
    @discardableResult
    public func addWorktree(
        name: String, path worktreePath: String, newBranch branch: String,
        at commit: GitOID
    ) throws(GitError) -> GitWorktree {
        let operation = "add worktree \(name) at \(worktreePath)"
        try createBranch(branch, at: commit)
        var reference: OpaquePointer?
        try check(git_reference_lookup(&reference, handle, "refs/heads/\(branch)"), operation)
        defer { git_reference_free(reference) }
        var options = git_worktree_add_options()
        git_worktree_add_options_init(&options, UInt32(GIT_WORKTREE_ADD_OPTIONS_VERSION))
        options.ref = reference
        var worktree: OpaquePointer?
        let code = git_worktree_add(&worktree, handle, name, worktreePath, &options)
        if code < 0 {
            let error = GitError.last(code, operation: operation, repository: path)
            try? deleteReference("refs/heads/\(branch)")
            throw error
        }
        defer { git_worktree_free(worktree) }
        return try describe(worktree!, name: name)
    }

    /// The linked worktrees, sorted by name.
    public func worktrees() throws(GitError) -> [GitWorktree] {
        var names = git_strarray()
        try check(git_worktree_list(&names, handle), "list worktrees")
        defer { git_strarray_dispose(&names) }
        var result: [GitWorktree] = []
        for index in 0..<names.count {
            let name = String(cString: names.strings[index]!)
            var worktree: OpaquePointer?
            try check(git_worktree_lookup(&worktree, handle, name), "look up worktree \(name)")
            defer { git_worktree_free(worktree) }
            result.append(try describe(worktree!, name: name))
        }
        return result.sorted { $0.name < $1.name }
    }

    /// Removes the worktree `name`: its working directory and its administrative files. Its branch stays.
    /// - Parameter force: remove it even when it has uncommitted or untracked files, or is locked.
    /// - Throws: `.conflict` (naming the files) when it is dirty and `force` is false; `.notFound`.
    public func removeWorktree(_ name: String, force: Bool = false) throws(GitError) {
        let operation = "remove worktree \(name)"
        var worktree: OpaquePointer?
        try check(git_worktree_lookup(&worktree, handle, name), operation)
        defer { git_worktree_free(worktree) }
        if !force, git_worktree_validate(worktree) == 0 {
            var repo: OpaquePointer?
            try check(git_repository_open_from_worktree(&repo, worktree), operation)
            defer { git_repository_free(repo) }
            let dirty = try Self.status(repo!, operation: operation, repository: path)
            guard dirty.isEmpty else {
                throw failure(
                    .conflict, operation,
                    "it has uncommitted files (\(dirty.map(\.path).joined(separator: ", "))): "
                        + "commit them or remove with force")
            }
        }
        var options = git_worktree_prune_options()
        git_worktree_prune_options_init(&options, UInt32(GIT_WORKTREE_PRUNE_OPTIONS_VERSION))
        options.flags = GIT_WORKTREE_PRUNE_VALID.rawValue | GIT_WORKTREE_PRUNE_WORKING_TREE.rawValue
        if force { options.flags |= GIT_WORKTREE_PRUNE_LOCKED.rawValue }
        try check(git_worktree_prune(worktree, &options), operation)
    }

    /// Removes the administrative files of every worktree whose directory is gone. Returns their names.
    @discardableResult
    public func pruneWorktrees() throws(GitError) -> [String] {
        var pruned: [String] = []
        for worktree in try worktrees() where worktree.isPrunable {
            var object: OpaquePointer?
            try check(git_worktree_lookup(&object, handle, worktree.name), "prune worktree \(worktree.name)")
            defer { git_worktree_free(object) }
            var options = git_worktree_prune_options()
            git_worktree_prune_options_init(&options, UInt32(GIT_WORKTREE_PRUNE_OPTIONS_VERSION))
            try check(git_worktree_prune(object, &options), "prune worktree \(worktree.name)")
            pruned.append(worktree.name)
        }
        return pruned
    }

    private func describe(_ worktree: OpaquePointer, name: String) throws(GitError) -> GitWorktree {
        var options = git_worktree_prune_options()
        git_worktree_prune_options_init(&options, UInt32(GIT_WORKTREE_PRUNE_OPTIONS_VERSION))
        let locked = git_worktree_is_locked(nil, worktree)
        try check(locked, "worktree \(name): lock state")
        return GitWorktree(
            name: name, path: git_worktree_path(worktree).map { String(cString: $0) } ?? "",
            isLocked: locked > 0, isPrunable: git_worktree_is_prunable(worktree, &options) > 0)
    }

    /// The files of the working tree that differ from HEAD or are untracked (ignored files excluded).
    /// - Throws: `.invalidInput` for a bare repository.
    public func dirtyFiles() throws(GitError) -> [GitFileStatus] {
        guard !isBare else {
            throw failure(.invalidInput, "status", "a bare repository has no working tree to check")
        }
        return try Self.status(handle, operation: "status", repository: path)
    }

    /// Whether the working tree has no changes and no untracked files.
    public func isClean() throws(GitError) -> Bool {
        try dirtyFiles().isEmpty
    }

    static func status(_ repo: OpaquePointer, operation: String, repository: String) throws(GitError)
        -> [GitFileStatus]
    {
        var options = git_status_options()
        git_status_options_init(&options, UInt32(GIT_STATUS_OPTIONS_VERSION))
        options.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR
        options.flags =
            GIT_STATUS_OPT_INCLUDE_UNTRACKED.rawValue | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS.rawValue
            | GIT_STATUS_OPT_EXCLUDE_SUBMODULES.rawValue
        var list: OpaquePointer?
        let code = git_status_list_new(&list, repo, &options)
        if code < 0 { throw GitError.last(code, operation: operation, repository: repository) }
        defer { git_status_list_free(list) }
        var result: [GitFileStatus] = []
        for index in 0..<git_status_list_entrycount(list) {
            guard let entry = git_status_byindex(list, index) else { continue }
            let delta = entry.pointee.index_to_workdir ?? entry.pointee.head_to_index
            let file = delta?.pointee.new_file.path ?? delta?.pointee.old_file.path
            result.append(
                GitFileStatus(
                    path: file.map { String(cString: $0) } ?? "",
                    flags: entry.pointee.status.rawValue))
        }
        return result.sorted { $0.path < $1.path }
    }
}
