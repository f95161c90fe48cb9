import CGit2
import Foundation

/// The outcome of a compare-and-swap on a reference.
///
/// Sendable: yes, a plain value.
public enum GitRefUpdate: Sendable, Equatable {
    /// The reference now points at the new commit.
    case updated
    /// The reference did not hold the expected value; `current` is what it holds (`nil`: it does not exist).
    case stale(current: GitOID?)
}

extension GitRepository {
    /// The commit `revision` names (an id, `main`, `refs/remotes/origin/main`, `HEAD~1`, …), or `nil` when it
    /// names nothing (including an unborn HEAD).
    public func resolve(_ revision: String) throws(GitError) -> GitOID? {
        var object: OpaquePointer?
        let code = git_revparse_single(&object, handle, revision)
        if code == GIT_ENOTFOUND.rawValue || code == GIT_EUNBORNBRANCH.rawValue { return nil }
        try check(code, "resolve \(revision)")
        defer { git_object_free(object) }
        var commit: OpaquePointer?
        try check(git_object_peel(&commit, object, GIT_OBJECT_COMMIT), "resolve \(revision) to a commit")
        defer { git_object_free(commit) }
        return GitOID(git_object_id(commit))
    }

    /// The id a full reference name (`refs/heads/main`) points at, or `nil` when it does not exist.
    public func referenceTarget(_ name: String) throws(GitError) -> GitOID? {
        try Self.referenceTarget(handle, name, repository: path)
    }

    static func referenceTarget(_ repo: OpaquePointer, _ name: String, repository: String) throws(GitError)
        -> GitOID?
    {
        var oid = git_oid()
        let code = git_reference_name_to_id(&oid, repo, name)
        if code == GIT_ENOTFOUND.rawValue { return nil }
        if code < 0 { throw GitError.last(code, operation: "read reference \(name)", repository: repository) }
        return GitOID(oid)
    }

    /// The branch HEAD names (e.g. `main`), even when it has no commit yet; `nil` when HEAD is detached.
    public func headBranch() throws(GitError) -> String? {
        var head: OpaquePointer?
        try check(git_reference_lookup(&head, handle, "HEAD"), "read HEAD")
        defer { git_reference_free(head) }
        guard git_reference_type(head) == GIT_REFERENCE_SYMBOLIC, let target = git_reference_symbolic_target(head)
        else { return nil }
        let name = String(cString: target)
        return name.hasPrefix("refs/heads/") ? String(name.dropFirst("refs/heads/".count)) : name
    }

    /// The branches of `kind`, sorted by name. Symbolic references (`origin/HEAD`) are left out.
    public func branches(_ kind: GitBranchKind = .local) throws(GitError) -> [GitBranch] {
        let type: git_branch_t
        switch kind {
        case .local: type = GIT_BRANCH_LOCAL
        case .remote: type = GIT_BRANCH_REMOTE
        case .all: type = GIT_BRANCH_ALL
        }
        var iterator: OpaquePointer?
        try check(git_branch_iterator_new(&iterator, handle, type), "list branches")
        defer { git_branch_iterator_free(iterator) }
        var result: [GitBranch] = []
        while true {
            var reference: OpaquePointer?
            var branchType = GIT_BRANCH_LOCAL
            let code = git_branch_next(&reference, &branchType, iterator)
            if code == GIT_ITEROVER.rawValue { break }
            try check(code, "list branches")
            defer { git_reference_free(reference) }
            guard git_reference_type(reference) == GIT_REFERENCE_DIRECT, let target = git_reference_target(reference)
            else { continue }
            var shortName: UnsafePointer<CChar>?
            try check(git_branch_name(&shortName, reference), "list branches")
            result.append(
                GitBranch(
                    name: String(cString: shortName!), reference: String(cString: git_reference_name(reference)),
                    target: GitOID(target), isRemote: branchType == GIT_BRANCH_REMOTE))
        }
        return result.sorted { $0.reference < $1.reference }
    }

    /// Moves the reference `name` (full name, e.g. `refs/heads/main`) to `target` if and only if it currently
    /// points at `expected` (`nil`: it must not exist yet). This is an atomic compare-and-swap, safe against other
    /// processes writing the same repository (libgit2 takes `name.lock` and re-reads the value under the lock).
    /// - Returns: `.updated`, or `.stale(current:)` with the value actually found.
    /// - Throws: `.locked` when another writer held the lock for longer than the settings allow.
    public func updateReference(
        _ name: String, to target: GitOID, expecting expected: GitOID?,
        message: String = "update"
    ) throws(GitError) -> GitRefUpdate {
        try Self.compareAndSwap(
            handle, name, to: target, expecting: expected, message: message, repository: path,
            settings: settings)
    }

    static func compareAndSwap(
        _ repo: OpaquePointer, _ name: String, to target: GitOID, expecting expected: GitOID?,
        message: String, repository: String, settings: GitSettings
    ) throws(GitError)
        -> GitRefUpdate
    {
        let operation = "update \(name)"
        var attempt = 0
        var brokeStaleLock = false
        while true {
            var newID = target.raw
            var reference: OpaquePointer?
            let code: Int32
            if var oldID = expected?.raw {
                code = git_reference_create_matching(&reference, repo, name, &newID, 1, &oldID, message)
            } else {
                code = git_reference_create(&reference, repo, name, &newID, 0, message)
            }
            if code == 0 {
                git_reference_free(reference)
                return .updated
            }
            if code == GIT_EMODIFIED.rawValue || code == GIT_EEXISTS.rawValue || code == GIT_ENOTFOUND.rawValue {
                let current = try referenceTarget(repo, name, repository: repository)
                if current == expected {
                    // Raced with a writer that has since restored the expected value: try again.
                    attempt += 1
                    if attempt <= settings.refLockRetries { continue }
                }
                return .stale(current: current)
            }
            if code == GIT_ELOCKED.rawValue && attempt < settings.refLockRetries {
                attempt += 1
                usleep(settings.refLockRetryMicroseconds)
                continue
            }
            if code == GIT_ELOCKED.rawValue, !brokeStaleLock,
                let gitDirectory = git_repository_path(repo).map({ String(cString: $0) }),
                breakStaleLock(at: gitDirectory + name + ".lock", olderThan: settings.staleRefLockAge)
            {
                brokeStaleLock = true
                attempt = 0
                continue
            }
            throw GitError.last(code, operation: operation, repository: repository)
        }
    }

    /// A ref lock is held for the microseconds of one ref update; one that stays for `age` was left by a writer
    /// that died holding it (kill -9, power loss), and would refuse every later push to the remote until someone
    /// removed it by hand. Waits until the lock at `path` is `age` old; if the same file is still there, removes
    /// it and returns true (the caller retries under a fresh lock). Returns true at once when the lock is gone,
    /// false when a newer lock replaced it meanwhile (a live writer: leave it alone). Runs on the git thread.
    static func breakStaleLock(at path: String, olderThan age: Duration) -> Bool {
        var first = stat()
        guard stat(path, &first) == 0 else { return true }
        let modified = Double(first.st_mtim.tv_sec) + Double(first.st_mtim.tv_nsec) / 1e9
        let lockAge = Date().timeIntervalSince1970 - modified
        let limit = Double(age.components.seconds) + Double(age.components.attoseconds) / 1e18
        if lockAge < limit { usleep(UInt32(min(limit - lockAge, 60) * 1_000_000)) }
        var again = stat()
        guard stat(path, &again) == 0 else { return true }
        guard again.st_ino == first.st_ino, again.st_mtim.tv_sec == first.st_mtim.tv_sec,
            again.st_mtim.tv_nsec == first.st_mtim.tv_nsec
        else { return false }
        return unlink(path) == 0 || errno == ENOENT
    }

    /// Creates (or, with `force`, moves) the local branch `name` at `commit`.
    /// - Throws: `.alreadyExists` when it exists and `force` is false.
    public func createBranch(_ name: String, at commit: GitOID, force: Bool = false) throws(GitError) {
        var raw = commit.raw
        var object: OpaquePointer?
        try check(git_commit_lookup(&object, handle, &raw), "create branch \(name): look up \(commit)")
        defer { git_commit_free(object) }
        var reference: OpaquePointer?
        var code = git_branch_create(&reference, handle, name, object, force ? 1 : 0)
        if Self.isLockFailure(code), breakStaleRefLocks(["refs/heads/" + name]) {
            code = git_branch_create(&reference, handle, name, object, force ? 1 : 0)
        }
        try check(code, "create branch \(name)")
        git_reference_free(reference)
    }

    /// Whether a libgit2 call failed on a lock file someone holds (`GIT_ELOCKED`, or the OS-class "failed to lock
    /// file" error the loose-ref backend gives).
    static func isLockFailure(_ code: Int32) -> Bool {
        if code == GIT_ELOCKED.rawValue { return true }
        guard code < 0, let error = git_error_last(), let message = error.pointee.message else { return false }
        return String(cString: message).contains("failed to lock file")
    }

    /// Breaks the stale locks (`GitSettings.staleRefLockAge`, see `breakStaleLock`) of local references: `names`
    /// are full reference names, or prefixes ending in `/` (every lock under that directory), and `packed-refs`.
    /// A process killed while it updated a reference (a fetch updating remote-tracking refs, a branch move) leaves
    /// its lock behind, which would refuse that reference's updates for good. Returns whether any lock was there
    /// and is gone now (the caller retries once). Runs on the git thread (it may wait for a lock to turn stale).
    func breakStaleRefLocks(_ names: [String]) -> Bool {
        guard let gitDirectory = git_repository_path(handle).map({ String(cString: $0) }) else { return false }
        var locks: [String] = []
        let fm = FileManager.default
        for name in names {
            if name.hasSuffix("/") {
                let directory = gitDirectory + name
                guard let walker = fm.enumerator(atPath: directory) else { continue }
                while let entry = walker.nextObject() as? String {
                    if entry.hasSuffix(".lock") { locks.append(directory + entry) }
                }
            } else if fm.fileExists(atPath: gitDirectory + name + ".lock") {
                locks.append(gitDirectory + name + ".lock")
            }
        }
        if fm.fileExists(atPath: gitDirectory + "packed-refs.lock") { locks.append(gitDirectory + "packed-refs.lock") }
        guard !locks.isEmpty else { return false }
        var broke = true
        for lock in locks where !Self.breakStaleLock(at: lock, olderThan: settings.staleRefLockAge) { broke = false }
        return broke
    }

    /// Deletes the reference `name` (full name). Deleting a missing reference is not an error.
    public func deleteReference(_ name: String) throws(GitError) {
        var reference: OpaquePointer?
        let code = git_reference_lookup(&reference, handle, name)
        if code == GIT_ENOTFOUND.rawValue { return }
        try check(code, "delete \(name)")
        defer { git_reference_free(reference) }
        try check(git_reference_delete(reference), "delete \(name)")
    }

    /// Points HEAD at the branch `name` (`refs/heads/<name>`), which need not exist yet.
    public func setHead(branch name: String) throws(GitError) {
        try check(git_repository_set_head(handle, "refs/heads/\(name)"), "set HEAD to \(name)")
    }

    /// The best common ancestor of two commits, or `nil` when their histories are unrelated.
    public func mergeBase(_ one: GitOID, _ two: GitOID) throws(GitError) -> GitOID? {
        var out = git_oid()
        var first = one.raw
        var second = two.raw
        let code = git_merge_base(&out, handle, &first, &second)
        if code == GIT_ENOTFOUND.rawValue { return nil }
        try check(code, "merge base of \(one) and \(two)")
        return GitOID(out)
    }

    /// Whether `commit` has `ancestor` in its history (a commit is not its own descendant).
    public func isDescendant(_ commit: GitOID, of ancestor: GitOID) throws(GitError) -> Bool {
        var child = commit.raw
        var parent = ancestor.raw
        let code = git_graph_descendant_of(handle, &child, &parent)
        try check(code, "is \(commit) a descendant of \(ancestor)")
        return code == 1
    }

    /// The number of commits reachable from `revision` (itself included); 0 for an unborn branch.
    public func commitCount(_ revision: String) throws(GitError) -> Int {
        try log(revision, limit: nil).count
    }

    /// The ids of the commits reachable from `revision`, newest first (topological, then time order),
    /// at most `limit` of them. An unborn or missing revision gives `[]`.
    public func log(_ revision: String, limit: Int? = nil) throws(GitError) -> [GitOID] {
        guard let start = try resolve(revision) else { return [] }
        var walker: OpaquePointer?
        try check(git_revwalk_new(&walker, handle), "log \(revision)")
        defer { git_revwalk_free(walker) }
        try check(
            git_revwalk_sorting(walker, GIT_SORT_TOPOLOGICAL.rawValue | GIT_SORT_TIME.rawValue),
            "log \(revision)")
        var raw = start.raw
        try check(git_revwalk_push(walker, &raw), "log \(revision)")
        var result: [GitOID] = []
        var oid = git_oid()
        while limit.map({ result.count < $0 }) ?? true {
            let code = git_revwalk_next(&oid, walker)
            if code == GIT_ITEROVER.rawValue { break }
            try check(code, "log \(revision)")
            result.append(GitOID(oid))
        }
        return result
    }
}
