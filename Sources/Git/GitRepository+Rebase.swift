import CGit2
import Foundation

/// The outcome of `GitRepository.rebase(_:onto:committer:)`.
///
/// Sendable: yes, a plain value.
public enum GitRebaseResult: Sendable, Equatable {
    /// The branch already contains `onto`: nothing was rewritten.
    case upToDate(head: GitOID)
    /// The branch was replayed onto `onto` and now points at `head`; `commits` were rewritten.
    case rebased(head: GitOID, commits: Int)
    /// Replaying `commit` conflicted in `files`: the rebase was abandoned and the branch left where it was.
    case conflicts(commit: GitOID, files: [String])
}

extension GitRepository {
    /// Replays the commits of local branch `branch` that `onto` lacks on top of `onto` (a revision), in memory
    /// (no working tree needed, so bare repositories work), then moves the branch with a compare-and-swap. When
    /// the branch is this repository's checked-out HEAD, the working tree is updated with a safe checkout.
    /// - Throws: `.modified` when the branch moved while the rebase ran; `.notFound` for unknown names.
    public func rebase(_ branch: String, onto: String, committer: GitSignature) throws(GitError) -> GitRebaseResult {
        let operation = "rebase \(branch) onto \(onto)"
        let reference = branch.hasPrefix("refs/") ? branch : "refs/heads/\(branch)"
        guard let original = try referenceTarget(reference) else {
            throw failure(.notFound, operation, "no branch \(reference)")
        }
        guard let upstream = try resolve(onto) else { throw failure(.notFound, operation, "no commit \(onto)") }
        var containsUpstream = upstream == original
        if !containsUpstream { containsUpstream = try isDescendant(original, of: upstream) }
        if containsUpstream {
            return .upToDate(head: original)
        }
        var branchRaw = original.raw
        var upstreamRaw = upstream.raw
        var branchCommit: OpaquePointer?
        var upstreamCommit: OpaquePointer?
        try check(git_annotated_commit_lookup(&branchCommit, handle, &branchRaw), operation)
        defer { git_annotated_commit_free(branchCommit) }
        try check(git_annotated_commit_lookup(&upstreamCommit, handle, &upstreamRaw), operation)
        defer { git_annotated_commit_free(upstreamCommit) }

        var options = git_rebase_options()
        git_rebase_options_init(&options, UInt32(GIT_REBASE_OPTIONS_VERSION))
        options.inmemory = 1
        var rebase: OpaquePointer?
        try check(git_rebase_init(&rebase, handle, branchCommit, upstreamCommit, nil, &options), operation)
        defer { git_rebase_free(rebase) }
        let signature = try makeSignature(committer, operation: operation)
        defer { git_signature_free(signature) }

        var head = upstream
        var rewritten = 0
        while true {
            var step: UnsafeMutablePointer<git_rebase_operation>?
            let next = git_rebase_next(&step, rebase)
            if next == GIT_ITEROVER.rawValue { break }
            try check(next, operation)
            let replayed = GitOID(step!.pointee.id)
            var index: OpaquePointer?
            try check(git_rebase_inmemory_index(&index, rebase), operation)
            defer { git_index_free(index) }
            if git_index_has_conflicts(index) != 0 {
                let files = try conflictedPaths(index!, operation: operation)
                _ = git_rebase_abort(rebase)
                return .conflicts(commit: replayed, files: files)
            }
            var newID = git_oid()
            let committed = git_rebase_commit(&newID, rebase, nil, signature, nil, nil)
            if committed == GIT_EAPPLIED.rawValue { continue }
            try check(committed, operation)
            head = GitOID(newID)
            rewritten += 1
        }
        try check(git_rebase_finish(rebase, signature), operation)
        let moved = try updateReference(reference, to: head, expecting: original, message: operation)
        if case .stale(let current) = moved {
            throw failure(
                .modified, operation,
                "\(reference) moved to \(current?.hex ?? "nothing") during the rebase; run it again")
        }
        if !isBare, try headBranch().map({ "refs/heads/\($0)" }) == reference {
            try checkout(head, from: original, operation: "\(operation): update the working tree")
        }
        return .rebased(head: head, commits: rewritten)
    }

    /// Updates the working tree and index from commit `old`'s tree to commit `new`'s, keeping local changes
    /// (a safe checkout with `old` as the baseline).
    private func checkout(_ new: GitOID, from old: GitOID, operation: String) throws(GitError) {
        let newTree = try lookupTree(new, operation: operation)
        defer { git_tree_free(newTree) }
        let oldTree = try lookupTree(old, operation: operation)
        defer { git_tree_free(oldTree) }
        var options = git_checkout_options()
        git_checkout_options_init(&options, UInt32(GIT_CHECKOUT_OPTIONS_VERSION))
        options.checkout_strategy = GIT_CHECKOUT_SAFE.rawValue
        options.baseline = oldTree
        try check(git_checkout_tree(handle, newTree, &options), operation)
    }

    /// Makes the working tree and index match HEAD's commit. Without `force`, files with local changes are left
    /// alone (and a conflict is reported); with it, they are overwritten.
    public func checkoutHead(force: Bool = false) throws(GitError) {
        guard !isBare else { throw failure(.invalidInput, "checkout", "a bare repository has no working tree") }
        var options = git_checkout_options()
        git_checkout_options_init(&options, UInt32(GIT_CHECKOUT_OPTIONS_VERSION))
        options.checkout_strategy = force ? GIT_CHECKOUT_FORCE.rawValue : GIT_CHECKOUT_SAFE.rawValue
        try check(git_checkout_head(handle, &options), "checkout HEAD")
    }

    private func conflictedPaths(_ index: OpaquePointer, operation: String) throws(GitError) -> [String] {
        var iterator: OpaquePointer?
        try check(git_index_conflict_iterator_new(&iterator, index), operation)
        defer { git_index_conflict_iterator_free(iterator) }
        var paths = Set<String>()
        while true {
            var ancestor: UnsafePointer<git_index_entry>?
            var ours: UnsafePointer<git_index_entry>?
            var theirs: UnsafePointer<git_index_entry>?
            let code = git_index_conflict_next(&ancestor, &ours, &theirs, iterator)
            if code == GIT_ITEROVER.rawValue { break }
            try check(code, operation)
            if let entry = ours ?? theirs ?? ancestor, let name = entry.pointee.path {
                paths.insert(String(cString: name))
            }
        }
        return paths.sorted()
    }
}
