import CGit2
import Foundation

/// What `checkpoint` did.
///
/// Sendable: yes, a plain value.
public enum GitCheckpoint: Sendable, Equatable {
    /// The working tree holds nothing that HEAD does not (no checkpoint needed); the reference was left alone.
    case clean
    /// The working tree is what the previous checkpoint (`commit`) already saved; nothing written.
    case unchanged(commit: GitOID)
    /// A checkpoint commit was written and the reference moved to it.
    case written(commit: GitOID, tree: GitOID, parents: [GitOID])
}

extension GitRepository {
    /// Saves everything in this working tree that HEAD does not hold (modified, staged, deleted and untracked
    /// files; ignored ones excluded) as a commit on `reference` (e.g. `refs/gt/checkpoints/<polecat>`), without
    /// touching HEAD, the index file or any file of the working tree: the tree is built in a temporary index
    /// (a copy of the index, in memory, never written back) and only objects and `reference` are written.
    ///
    /// The new commit's first parent is the previous checkpoint (what `reference` held), so checkpoints form a
    /// chain; HEAD is added as a parent when the chain does not contain it yet (the first checkpoint, or after the
    /// agent committed), so the checkpoint's history holds the work it is based on. The reference moves by
    /// compare-and-swap: a concurrent checkpoint makes this one fail with `.modified`.
    /// - Throws: `.invalidInput` for a bare repository; `.modified` when `reference` moved meanwhile.
    public func checkpoint(
        reference: String, message: String, author: GitSignature
    ) throws(GitError)
        -> GitCheckpoint
    {
        let operation = "checkpoint \(reference)"
        guard !isBare else { throw failure(.invalidInput, operation, "a bare repository has no working tree") }
        let tree = try worktreeTree(operation: operation)
        let head = try resolve("HEAD")
        if let head, try commitInfo(head.hex).tree == tree { return .clean }
        let previous = try referenceTarget(reference)
        if let previous, try commitInfo(previous.hex).tree == tree { return .unchanged(commit: previous) }
        var parents: [GitOID] = []
        if let previous { parents.append(previous) }
        if let head, head != previous {
            var contained = false
            if let previous { contained = try isDescendant(previous, of: head) }
            if !contained { parents.append(head) }
        }
        let commit = try self.commit(tree: tree, parents: parents, message: message, author: author)
        if case .stale(let current) = try updateReference(
            reference, to: commit, expecting: previous, message: "checkpoint")
        {
            throw failure(.modified, operation, "the reference moved to \(current?.hex ?? "nothing") meanwhile")
        }
        return .written(commit: commit, tree: tree, parents: parents)
    }

    /// The tree of the working tree's contents, built in a temporary copy of the index on a second handle of
    /// this repository (so this actor's handle keeps its own index).
    func worktreeTree(operation: String) throws(GitError) -> GitOID {
        let repo = try Self.openHandle(path, operation: operation)
        defer { git_repository_free(repo) }
        guard let gitDirectory = git_repository_path(repo).map({ String(cString: $0) }) else {
            throw failure(.other, operation, "the repository has no git directory")
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gt-checkpoint-\(getpid())-\(UUID().uuidString)"
        ).path
        defer {
            try? FileManager.default.removeItem(atPath: scratch)
            try? FileManager.default.removeItem(atPath: scratch + ".lock")
        }
        if let bytes = FileManager.default.contents(atPath: gitDirectory + "index") {
            guard FileManager.default.createFile(atPath: scratch, contents: bytes) else {
                throw failure(.other, operation, "cannot write a temporary index at \(scratch)")
            }
        }
        var index: OpaquePointer?
        try check(git_index_open(&index, scratch), "\(operation): open a temporary index")
        defer { git_index_free(index) }
        try check(git_repository_set_index(repo, index), "\(operation): use the temporary index")
        try check(
            git_index_add_all(index, nil, GIT_INDEX_ADD_DEFAULT.rawValue, nil, nil), "\(operation): add the files")
        try check(git_index_update_all(index, nil, nil, nil), "\(operation): drop deleted files")
        var oid = git_oid()
        try check(git_index_write_tree_to(&oid, index, repo), "\(operation): write the tree")
        return GitOID(oid)
    }
}
