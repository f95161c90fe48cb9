import CGit2
import Foundation

extension GitRepository {
    /// Writes `data` as a blob and returns its id (no working tree involved).
    public func writeBlob(_ data: Data) throws(GitError) -> GitOID {
        var oid = git_oid()
        let code = data.withUnsafeBytes { buffer in
            git_blob_create_from_buffer(&oid, handle, buffer.baseAddress, buffer.count)
        }
        try check(code, "write blob")
        return GitOID(oid)
    }

    /// Writes a tree holding exactly `files` (paths such as `a/b/c.txt`, with nested directories built as
    /// subtrees) and returns its id. An empty map gives the empty tree.
    /// - Throws: `.invalidInput` for an empty path, a `.`/`..` component, or a path that is both a file and a
    ///   directory.
    public func writeTree(files: [String: Data]) throws(GitError) -> GitOID {
        var root = TreeNode()
        for (path, data) in files.sorted(by: { $0.key < $1.key }) {
            let components = try pathComponents(path, operation: "write tree")
            try root.insert(components[...], data: data, fullPath: path, repository: self.path)
        }
        return try write(root)
    }

    /// Writes a tree that is `base` (a tree or a commit's tree) with `changes` applied: a `Data` value adds or
    /// replaces the file at that path, `nil` removes it. Intermediate directories are created and emptied ones
    /// removed, as `git_tree_create_updated` does.
    public func updateTree(base: GitOID, changes: [String: Data?]) throws(GitError) -> GitOID {
        let baseTree = try lookupTree(base, operation: "update tree")
        defer { git_tree_free(baseTree) }
        var updates: [git_tree_update] = []
        var paths: [UnsafeMutablePointer<CChar>] = []
        defer { for cPath in paths { free(cPath) } }
        for (path, data) in changes.sorted(by: { $0.key < $1.key }) {
            _ = try pathComponents(path, operation: "update tree")
            guard let cPath = strdup(path) else { throw failure(.other, "update tree", "out of memory") }
            paths.append(cPath)
            var update = git_tree_update()
            update.path = UnsafePointer(cPath)
            if let data {
                update.action = GIT_TREE_UPDATE_UPSERT
                update.id = try writeBlob(data).raw
                update.filemode = GIT_FILEMODE_BLOB
            } else {
                update.action = GIT_TREE_UPDATE_REMOVE
            }
            updates.append(update)
        }
        var oid = git_oid()
        try check(git_tree_create_updated(&oid, handle, baseTree, updates.count, updates), "update tree")
        return GitOID(oid)
    }

    /// Creates a commit object with `tree` and `parents` (any number, first parent first). It moves no
    /// reference unless `updateReference` names one: then that reference moves to the new commit only if it still
    /// points at `parents.first` (or does not exist when there are no parents), else `.modified` is thrown.
    public func commit(
        tree: GitOID, parents: [GitOID], message: String, author: GitSignature,
        committer: GitSignature? = nil, updateReference: String? = nil
    ) throws(GitError) -> GitOID {
        let operation = "commit"
        guard !message.isEmpty else { throw failure(.invalidInput, operation, "a commit needs a message") }
        let treeObject = try lookupTree(tree, operation: operation)
        defer { git_tree_free(treeObject) }
        var parentObjects: [OpaquePointer?] = []
        defer { for parent in parentObjects { git_commit_free(parent) } }
        for parent in parents {
            var raw = parent.raw
            var object: OpaquePointer?
            try check(git_commit_lookup(&object, handle, &raw), "commit: look up parent \(parent)")
            parentObjects.append(object)
        }
        let authorSignature = try makeSignature(author, operation: operation)
        defer { git_signature_free(authorSignature) }
        let committerSignature = try makeSignature(committer ?? author, operation: operation)
        defer { git_signature_free(committerSignature) }
        var oid = git_oid()
        let code = parentObjects.withUnsafeMutableBufferPointer { buffer in
            git_commit_create(
                &oid, handle, nil, authorSignature, committerSignature, "UTF-8", message, treeObject,
                buffer.count, buffer.baseAddress)
        }
        try check(code, operation)
        let id = GitOID(oid)
        if let updateReference {
            let outcome = try self.updateReference(
                updateReference, to: id, expecting: parents.first,
                message: "commit: \(message.prefix(60))")
            if case .stale(let current) = outcome {
                throw failure(
                    .modified, "commit to \(updateReference)",
                    "the reference moved to \(current?.hex ?? "nothing") meanwhile")
            }
        }
        return id
    }

    /// Reads the commit `revision` names (an id, a branch, `HEAD`, `main~2`, …).
    public func commitInfo(_ revision: String) throws(GitError) -> GitCommitInfo {
        let commit = try lookupCommit(revision, operation: "read commit \(revision)")
        defer { git_commit_free(commit) }
        var parents: [GitOID] = []
        for index in 0..<git_commit_parentcount(commit) {
            parents.append(GitOID(git_commit_parent_id(commit, index)))
        }
        return GitCommitInfo(
            id: GitOID(git_commit_id(commit)), tree: GitOID(git_commit_tree_id(commit)), parents: parents,
            message: git_commit_message(commit).map { String(cString: $0) } ?? "",
            author: GitSignature(git_commit_author(commit)), committer: GitSignature(git_commit_committer(commit)))
    }

    /// The contents of the file at `path` in the commit `revision` names, or `nil` when there is no such file.
    /// - Throws: `.notFound` when the revision does not exist.
    public func readFile(_ path: String, at revision: String) throws(GitError) -> Data? {
        let commit = try lookupCommit(revision, operation: "read \(path) at \(revision)")
        defer { git_commit_free(commit) }
        var tree: OpaquePointer?
        try check(git_commit_tree(&tree, commit), "read \(path) at \(revision)")
        defer { git_tree_free(tree) }
        var entry: OpaquePointer?
        let found = git_tree_entry_bypath(&entry, tree, path)
        if found == GIT_ENOTFOUND.rawValue { return nil }
        try check(found, "read \(path) at \(revision)")
        defer { git_tree_entry_free(entry) }
        guard git_tree_entry_type(entry) == GIT_OBJECT_BLOB else { return nil }
        var blob: OpaquePointer?
        try check(git_blob_lookup(&blob, handle, git_tree_entry_id(entry)), "read \(path) at \(revision)")
        defer { git_blob_free(blob) }
        let size = Int(git_blob_rawsize(blob))
        guard size > 0, let content = git_blob_rawcontent(blob) else { return Data() }
        return Data(bytes: content, count: size)
    }

    /// What the tree of the commit `revision` holds at `path`: "blob" (a file), "tree" (a directory), "commit" (a
    /// submodule), or nil when nothing is there.
    public func entryKind(_ path: String, at revision: String) throws(GitError) -> String? {
        let operation = "find \(path) at \(revision)"
        let commit = try lookupCommit(revision, operation: operation)
        defer { git_commit_free(commit) }
        var tree: OpaquePointer?
        try check(git_commit_tree(&tree, commit), operation)
        defer { git_tree_free(tree) }
        var entry: OpaquePointer?
        let found = git_tree_entry_bypath(&entry, tree, path)
        if found == GIT_ENOTFOUND.rawValue { return nil }
        try check(found, operation)
        defer { git_tree_entry_free(entry) }
        switch git_tree_entry_type(entry) {
        case GIT_OBJECT_BLOB: return "blob"
        case GIT_OBJECT_TREE: return "tree"
        case GIT_OBJECT_COMMIT: return "commit"
        default: return "other"
        }
    }

    /// The id of the blob at `path` in the commit `revision` names, or `nil` when there is no such file. Comparing
    /// ids tells whether a file changed between two commits without reading either.
    public func blobID(_ path: String, at revision: String) throws(GitError) -> GitOID? {
        let operation = "find \(path) at \(revision)"
        let commit = try lookupCommit(revision, operation: operation)
        defer { git_commit_free(commit) }
        var tree: OpaquePointer?
        try check(git_commit_tree(&tree, commit), operation)
        defer { git_tree_free(tree) }
        var entry: OpaquePointer?
        let found = git_tree_entry_bypath(&entry, tree, path)
        if found == GIT_ENOTFOUND.rawValue { return nil }
        try check(found, operation)
        defer { git_tree_entry_free(entry) }
        guard git_tree_entry_type(entry) == GIT_OBJECT_BLOB else { return nil }
        return GitOID(git_tree_entry_id(entry))
    }

    /// The contents of the blob `id`.
    /// - Throws: `.notFound` when there is no such object; `.invalidInput` when it is not a blob.
    public func readBlob(_ id: GitOID) throws(GitError) -> Data {
        var raw = id.raw
        var blob: OpaquePointer?
        let code = git_blob_lookup(&blob, handle, &raw)
        if code < 0 {
            if contains(id) { throw failure(.invalidInput, "read blob \(id)", "the object is not a blob") }
            throw failure(.notFound, "read blob \(id)", "no such object")
        }
        defer { git_blob_free(blob) }
        let size = Int(git_blob_rawsize(blob))
        guard size > 0, let content = git_blob_rawcontent(blob) else { return Data() }
        return Data(bytes: content, count: size)
    }

    /// The paths of every file in the commit `revision` names, sorted.
    public func listFiles(at revision: String) throws(GitError) -> [String] {
        let commit = try lookupCommit(revision, operation: "list files at \(revision)")
        defer { git_commit_free(commit) }
        var tree: OpaquePointer?
        try check(git_commit_tree(&tree, commit), "list files at \(revision)")
        defer { git_tree_free(tree) }
        final class Collector { var paths: [String] = [] }
        let collector = Collector()
        let code = git_tree_walk(
            tree, GIT_TREEWALK_PRE,
            { root, entry, payload in
                guard let entry, let payload else { return 0 }
                if git_tree_entry_type(entry) == GIT_OBJECT_BLOB {
                    let prefix = root.map { String(cString: $0) } ?? ""
                    let name = String(cString: git_tree_entry_name(entry))
                    Unmanaged<Collector>.fromOpaque(payload).takeUnretainedValue().paths.append(prefix + name)
                }
                return 0
            }, Unmanaged.passUnretained(collector).toOpaque())
        try check(code, "list files at \(revision)")
        return collector.paths.sorted()
    }

    /// Whether the object database holds `id`.
    public func contains(_ id: GitOID) -> Bool {
        var odb: OpaquePointer?
        guard git_repository_odb(&odb, handle) == 0 else { return false }
        defer { git_odb_free(odb) }
        var raw = id.raw
        return git_odb_exists(odb, &raw) != 0
    }

    // MARK: helpers

    func lookupCommit(_ revision: String, operation: String) throws(GitError) -> OpaquePointer {
        var object: OpaquePointer?
        let code = git_revparse_single(&object, handle, revision)
        if code == GIT_ENOTFOUND.rawValue {
            throw failure(.notFound, operation, "no commit named \(revision)")
        }
        try check(code, operation)
        defer { git_object_free(object) }
        var commit: OpaquePointer?
        try check(git_object_peel(&commit, object, GIT_OBJECT_COMMIT), operation)
        return commit!
    }

    func lookupTree(_ id: GitOID, operation: String) throws(GitError) -> OpaquePointer {
        var raw = id.raw
        var object: OpaquePointer?
        try check(git_object_lookup(&object, handle, &raw, GIT_OBJECT_ANY), "\(operation): look up \(id)")
        defer { git_object_free(object) }
        var tree: OpaquePointer?
        try check(git_object_peel(&tree, object, GIT_OBJECT_TREE), "\(operation): \(id) is not a tree or commit")
        return tree!
    }

    func makeSignature(_ signature: GitSignature, operation: String) throws(GitError)
        -> UnsafeMutablePointer<git_signature>
    {
        var raw: UnsafeMutablePointer<git_signature>?
        try check(
            git_signature_new(
                &raw, signature.name, signature.email, git_time_t(signature.time),
                signature.offsetMinutes), "\(operation): signature")
        return raw!
    }

    func pathComponents(_ path: String, operation: String) throws(GitError) -> [String] {
        let components = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !path.isEmpty, !components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." || $0 == ".git" })
        else {
            throw failure(
                .invalidInput, operation,
                "bad path \"\(path)\": use relative paths like dir/file.txt, without empty, ., .. or .git")
        }
        return components
    }

    private func write(_ node: TreeNode) throws(GitError) -> GitOID {
        var builder: OpaquePointer?
        try check(git_treebuilder_new(&builder, handle, nil), "write tree")
        defer { git_treebuilder_free(builder) }
        for (name, data) in node.files {
            var blob = try writeBlob(data).raw
            try check(git_treebuilder_insert(nil, builder, name, &blob, GIT_FILEMODE_BLOB), "write tree: \(name)")
        }
        for (name, child) in node.directories {
            var subtree = try write(child).raw
            try check(git_treebuilder_insert(nil, builder, name, &subtree, GIT_FILEMODE_TREE), "write tree: \(name)")
        }
        var oid = git_oid()
        try check(git_treebuilder_write(&oid, builder), "write tree")
        return GitOID(oid)
    }
}

/// A directory being assembled by `writeTree(files:)`.
private struct TreeNode {
    var files: [String: Data] = [:]
    var directories: [String: TreeNode] = [:]

    mutating func insert(
        _ components: ArraySlice<String>, data: Data, fullPath: String,
        repository: String
    ) throws(GitError) {
        let name = components.first!
        if components.count == 1 {
            guard directories[name] == nil else { throw clash(fullPath, repository) }
            files[name] = data
            return
        }
        guard files[name] == nil else { throw clash(fullPath, repository) }
        var child = directories[name] ?? TreeNode()
        try child.insert(components.dropFirst(), data: data, fullPath: fullPath, repository: repository)
        directories[name] = child
    }

    private func clash(_ path: String, _ repository: String) -> GitError {
        GitError(
            .invalidInput, operation: "write tree", repository: repository,
            message: "\"\(path)\" would be both a file and a directory")
    }
}
