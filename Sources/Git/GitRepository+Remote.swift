import CGit2
import Foundation

extension GitRepository {
    /// Adds a named remote (`git remote add name url`).
    /// - Throws: `.alreadyExists` when the name is taken, `.invalidInput` for a bad name or URL.
    public func addRemote(_ name: String, url: String) throws(GitError) {
        var remote: OpaquePointer?
        try check(git_remote_create(&remote, handle, name, url), "add remote \(name) \(url)")
        git_remote_free(remote)
    }

    /// Points a named remote at another URL, keeping its remote-tracking branches (`git remote set-url`).
    public func setRemoteURL(_ name: String, url: String) throws(GitError) {
        try check(git_remote_set_url(handle, name, url), "set the URL of remote \(name) to \(url)")
    }

    /// Removes a named remote and its remote-tracking branches. Removing a missing remote is `.notFound`.
    public func removeRemote(_ name: String) throws(GitError) {
        try check(git_remote_delete(handle, name), "remove remote \(name)")
    }

    /// The named remotes and their URLs, sorted by name.
    public func remotes() throws(GitError) -> [(name: String, url: String)] {
        var names = git_strarray()
        try check(git_remote_list(&names, handle), "list remotes")
        defer { git_strarray_dispose(&names) }
        var result: [(name: String, url: String)] = []
        for index in 0..<names.count {
            let name = String(cString: names.strings[index]!)
            result.append((name, try remoteURL(name)))
        }
        return result.sorted { $0.name < $1.name }
    }

    /// The URL of a named remote.
    public func remoteURL(_ name: String) throws(GitError) -> String {
        var remote: OpaquePointer?
        try check(git_remote_lookup(&remote, handle, name), "look up remote \(name)")
        defer { git_remote_free(remote) }
        return git_remote_url(remote).map { String(cString: $0) } ?? ""
    }

    /// Fetches from `remote` (a configured remote's name, or any URL/path).
    /// - Parameters:
    ///   - refspecs: what to fetch, e.g. `["+refs/heads/*:refs/remotes/origin/*"]`; empty means the remote's
    ///     configured refspecs (a named remote only).
    ///   - prune: delete local remote-tracking references the remote no longer has.
    /// - Throws: `.unreachable` (missing path, network), `.notARepository`, `.authentication`, `.notFound`.
    public func fetch(
        from remote: String, refspecs: [String] = [], prune: Bool = false
    ) throws(GitError)
        -> GitFetchResult
    {
        let operation = "fetch from \(remote)"
        let remoteObject = try openRemote(remote, operation: operation)
        defer { git_remote_free(remoteObject) }
        if refspecs.isEmpty && git_remote_name(remoteObject) == nil {
            throw failure(
                .invalidInput, operation,
                "a URL has no configured refspecs: pass some, e.g. +refs/heads/*:refs/remotes/<name>/*")
        }
        let callbacks = RemoteCallbacks(settings: settings)
        callbacks.remoteURL = RemoteCallbacks.url(of: remoteObject)
        var options = git_fetch_options()
        git_fetch_options_init(&options, UInt32(GIT_FETCH_OPTIONS_VERSION))
        callbacks.install(into: &options.callbacks)
        options.prune = prune ? GIT_FETCH_PRUNE : GIT_FETCH_NO_PRUNE
        options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE
        var code = withStringArray(refspecs) { specs in
            withExtendedLifetime(callbacks) {
                git_remote_fetch(remoteObject, refspecs.isEmpty ? nil : specs, &options, "fetch")
            }
        }
        // A fetch killed while it updated remote-tracking refs leaves their locks behind: break them once stale
        // and fetch again (the objects are already here).
        if Self.isLockFailure(code), breakStaleRefLocks(Self.fetchDestinations(refspecs)) {
            code = withStringArray(refspecs) { specs in
                withExtendedLifetime(callbacks) {
                    git_remote_fetch(remoteObject, refspecs.isEmpty ? nil : specs, &options, "fetch")
                }
            }
        }
        try checkRemote(code, operation)
        let stats = git_remote_stats(remoteObject)
        return GitFetchResult(
            updatedTips: callbacks.updatedTips,
            receivedObjects: Int(stats?.pointee.received_objects ?? 0))
    }

    /// Pushes `commit` to `branch` of `remote` (a configured remote's name, or a URL/path) as a compare-and-swap:
    /// the remote branch moves only if it still points at `expected` (`nil`: the branch must not exist yet).
    ///
    /// - Path and `file://` remotes: the missing objects are written into the remote's object database as a pack,
    ///   then the branch is moved with `git_reference_create_matching` (atomic under the remote's ref lock,
    ///   safe across processes). libgit2's own push is not used there: it force-writes the ref.
    /// - ssh/https/git remotes: the remote's advertised value is compared with `expected`, then the push is sent
    ///   with that value as the old one (the server refuses it if the branch moved meanwhile); any status the
    ///   remote reports through `push_update_reference` is a rejection.
    ///
    /// - Parameters:
    ///   - requireFastForward: refuse (`.nonFastForward`, before touching the remote) a commit that does not
    ///     contain `expected` in its history.
    /// - Returns: `.pushed`, or `.rejected(current:reason:)` when the branch held another value: fetch, merge,
    ///   and push again.
    /// - Throws: `.unreachable`, `.notARepository`, `.authentication`, `.nonFastForward`, `.pushRefused` (the
    ///   remote refused for a reason other than a moved branch), `.locked`.
    public func push(
        _ commit: GitOID, to remote: String, branch: String, expecting expected: GitOID?,
        requireFastForward: Bool = true
    ) throws(GitError) -> GitPushResult {
        let reference = branch.hasPrefix("refs/") ? branch : "refs/heads/\(branch)"
        let operation = "push \(commit.hex.prefix(12)) to \(remote) \(reference)"
        guard contains(commit) else {
            throw failure(.notFound, operation, "the commit to push is not in this repository")
        }
        if requireFastForward, let expected, expected != commit {
            guard contains(expected), try isDescendant(commit, of: expected) else {
                throw failure(
                    .nonFastForward, operation,
                    "\(commit) does not contain the expected remote value \(expected): merge it first")
            }
        }
        let url = (try? remoteURL(remote)) ?? remote
        if GitRemoteURL.isLocal(url) {
            return try pushToPath(commit, url: url, reference: reference, expected: expected, operation: operation)
        }
        return try pushToNetwork(
            commit, remote: remote, reference: reference, expected: expected,
            operation: operation)
    }

    // MARK: path remotes: copy objects, then compare-and-swap the branch

    private func pushToPath(
        _ commit: GitOID, url: String, reference: String, expected: GitOID?,
        operation: String
    ) throws(GitError) -> GitPushResult {
        let remotePath = GitRemoteURL.localPath(url)
        guard FileManager.default.fileExists(atPath: remotePath) else {
            throw GitError(
                .unreachable, operation: operation, repository: url,
                message: "no such path \(remotePath): check the remote's URL")
        }
        let remoteRepo = try Self.openHandle(remotePath, operation: operation)
        defer { git_repository_free(remoteRepo) }
        if git_repository_is_bare(remoteRepo) == 0, Self.checkedOutBranch(remoteRepo) == reference {
            // As git's receive.denyCurrentBranch: moving it would leave the remote's working tree out of date.
            throw GitError(
                .pushRefused, operation: operation, repository: url,
                message: "\(reference) is checked out in the remote's working tree: push to a bare repository")
        }
        try copyObjects(reaching: commit, into: remoteRepo, remotePath: remotePath, operation: operation)
        let outcome = try Self.compareAndSwap(
            remoteRepo, reference, to: commit, expecting: expected,
            message: "push", repository: url, settings: settings)
        switch outcome {
        case .updated: return .pushed
        case .stale(let current):
            let found = current?.hex ?? "nothing"
            return .rejected(current: current, reason: "\(reference) is at \(found), not \(expected?.hex ?? "nothing")")
        }
    }

    /// Writes every object reachable from `commit` that the remote cannot already reach (from its references)
    /// into the remote's object database, as one pack.
    func copyObjects(
        reaching commit: GitOID, into remoteRepo: OpaquePointer, remotePath: String,
        operation: String
    ) throws(GitError) {
        var remoteODB: OpaquePointer?
        try check(git_repository_odb(&remoteODB, remoteRepo), operation)
        defer { git_odb_free(remoteODB) }
        var commitRaw = commit.raw
        if git_odb_exists(remoteODB, &commitRaw) != 0 { return }

        var walker: OpaquePointer?
        try check(git_revwalk_new(&walker, handle), operation)
        defer { git_revwalk_free(walker) }
        /// Starts the walk at `commit`, hiding every commit the remote's references reach.
        func startWalk() throws(GitError) {
            try check(git_revwalk_push(walker, &commitRaw), operation)
            for tip in try Self.referenceTips(remoteRepo, repository: remotePath) where contains(tip) {
                var raw = tip.raw
                var object: OpaquePointer?
                guard git_object_lookup(&object, handle, &raw, GIT_OBJECT_COMMIT) == 0 else { continue }
                git_object_free(object)
                _ = git_revwalk_hide(walker, &raw)
            }
        }
        try startWalk()
        try check(git_revwalk_sorting(walker, GIT_SORT_TOPOLOGICAL.rawValue | GIT_SORT_REVERSE.rawValue), operation)
        var commits: [GitOID] = []
        var next = git_oid()
        while commits.count <= settings.loosePushCommitLimit {
            let code = git_revwalk_next(&next, walker)
            if code == GIT_ITEROVER.rawValue { break }
            try check(code, "\(operation): walk commits")
            commits.append(GitOID(next))
        }
        if commits.count <= settings.loosePushCommitLimit {
            // Oldest first, each object after everything it points at: an object in the remote always has its
            // whole history there too, even if this copy is interrupted.
            var localODB: OpaquePointer?
            try check(git_repository_odb(&localODB, handle), operation)
            defer { git_odb_free(localODB) }
            for commit in commits {
                try copyObject(commit, from: localODB!, to: remoteODB!, operation: operation)
            }
            return
        }
        try check(git_revwalk_reset(walker), operation)
        try startWalk()
        var builder: OpaquePointer?
        try check(git_packbuilder_new(&builder, handle), operation)
        defer { git_packbuilder_free(builder) }
        try check(git_packbuilder_insert_walk(builder, walker), "\(operation): collect objects")
        guard git_packbuilder_object_count(builder) > 0 else { return }
        let packDirectory = String(cString: git_repository_path(remoteRepo)) + "objects/pack"
        try check(git_packbuilder_write(builder, packDirectory, 0, nil, nil), "\(operation): write pack")
        try check(git_odb_refresh(remoteODB), operation)
    }

    /// Copies one object (and first, for a commit its tree, for a tree its entries) into `remoteODB` as loose
    /// objects, skipping whatever the remote already has.
    private func copyObject(
        _ id: GitOID, from localODB: OpaquePointer, to remoteODB: OpaquePointer,
        operation: String
    ) throws(GitError) {
        var raw = id.raw
        if git_odb_exists(remoteODB, &raw) != 0 { return }
        var object: OpaquePointer?
        try check(git_odb_read(&object, localODB, &raw), "\(operation): read \(id)")
        defer { git_odb_object_free(object) }
        let type = git_odb_object_type(object)
        if type == GIT_OBJECT_COMMIT {
            var commit: OpaquePointer?
            try check(git_commit_lookup(&commit, handle, &raw), "\(operation): read \(id)")
            let tree = GitOID(git_commit_tree_id(commit))
            git_commit_free(commit)
            try copyObject(tree, from: localODB, to: remoteODB, operation: operation)
        } else if type == GIT_OBJECT_TREE {
            var tree: OpaquePointer?
            try check(git_tree_lookup(&tree, handle, &raw), "\(operation): read \(id)")
            defer { git_tree_free(tree) }
            for index in 0..<git_tree_entrycount(tree) {
                guard let entry = git_tree_entry_byindex(tree, index) else { continue }
                let kind = git_tree_entry_type(entry)
                guard kind == GIT_OBJECT_TREE || kind == GIT_OBJECT_BLOB else { continue }  // submodule commits
                try copyObject(GitOID(git_tree_entry_id(entry)), from: localODB, to: remoteODB, operation: operation)
            }
        }
        var written = git_oid()
        try check(
            git_odb_write(&written, remoteODB, git_odb_object_data(object), git_odb_object_size(object), type),
            "\(operation): write \(id) into the remote")
    }

    /// The full name of the branch HEAD names, or `nil` when detached or unreadable.
    static func checkedOutBranch(_ repo: OpaquePointer) -> String? {
        var head: OpaquePointer?
        guard git_reference_lookup(&head, repo, "HEAD") == 0 else { return nil }
        defer { git_reference_free(head) }
        guard git_reference_type(head) == GIT_REFERENCE_SYMBOLIC else { return nil }
        return git_reference_symbolic_target(head).map { String(cString: $0) }
    }

    /// The direct targets of every reference of a repository.
    static func referenceTips(_ repo: OpaquePointer, repository: String) throws(GitError) -> [GitOID] {
        var names = git_strarray()
        let code = git_reference_list(&names, repo)
        if code < 0 { throw GitError.last(code, operation: "list references", repository: repository) }
        defer { git_strarray_dispose(&names) }
        var tips: [GitOID] = []
        for index in 0..<names.count {
            var oid = git_oid()
            if git_reference_name_to_id(&oid, repo, names.strings[index]) == 0 { tips.append(GitOID(oid)) }
        }
        return tips
    }

    // MARK: network remotes

    private func pushToNetwork(
        _ commit: GitOID, remote: String, reference: String, expected: GitOID?,
        operation: String
    ) throws(GitError) -> GitPushResult {
        let remoteObject = try openRemote(remote, operation: operation)
        defer { git_remote_free(remoteObject) }
        let callbacks = RemoteCallbacks(settings: settings)
        callbacks.remoteURL = RemoteCallbacks.url(of: remoteObject)
        var remoteCallbacks = git_remote_callbacks()
        git_remote_init_callbacks(&remoteCallbacks, UInt32(GIT_REMOTE_CALLBACKS_VERSION))
        callbacks.install(into: &remoteCallbacks)
        defer { withExtendedLifetime(callbacks) {} }
        do {
            try checkRemote(
                git_remote_connect(remoteObject, GIT_DIRECTION_PUSH, &remoteCallbacks, nil, nil),
                "\(operation): connect")
            defer { git_remote_disconnect(remoteObject) }
            let advertised = try advertisedValue(of: reference, remote: remoteObject, operation: operation)
            guard advertised == expected else {
                return .rejected(
                    current: advertised,
                    reason: "the remote has \(reference) at \(advertised?.hex ?? "nothing")")
            }
            // libgit2 pushes from a reference: point a private one at the commit for the duration of the push.
            let source = "refs/gt-push/\(UInt64.random(in: 0...UInt64.max))"
            _ = try updateReference(source, to: commit, expecting: nil, message: "push source")
            defer { try? deleteReference(source) }
            var options = git_push_options()
            git_push_options_init(&options, UInt32(GIT_PUSH_OPTIONS_VERSION))
            options.callbacks = remoteCallbacks
            let code = withStringArray(["\(source):\(reference)"]) { specs in
                git_remote_upload(remoteObject, specs, &options)
            }
            if code == GIT_ENONFASTFORWARD.rawValue {
                return .rejected(current: advertised, reason: "not a fast-forward of the remote's \(reference)")
            }
            try checkRemote(code, operation)
            if let status = callbacks.pushRejections[reference] {
                return .rejected(current: nil, reason: "the remote refused \(reference): \(status)")
            }
            guard callbacks.pushAccepted.contains(reference) else {
                throw failure(.pushRefused, operation, "the remote did not confirm the update of \(reference)")
            }
            return .pushed
        }
    }

    private func advertisedValue(
        of reference: String, remote: OpaquePointer, operation: String
    ) throws(GitError)
        -> GitOID?
    {
        var heads: UnsafeMutablePointer<UnsafePointer<git_remote_head>?>?
        var count = 0
        try check(git_remote_ls(&heads, &count, remote), "\(operation): list remote refs")
        for index in 0..<count {
            guard let head = heads?[index] else { continue }
            if String(cString: head.pointee.name) == reference { return GitOID(head.pointee.oid) }
        }
        return nil
    }

    /// Connects to `remote` (a configured remote's name, or a URL/path) for fetching and lists its references,
    /// downloading nothing: whether it can be reached now (`gt doctor`). Returns how many references it
    /// advertises. Runs on this repository's git thread, like every call here (never on the cooperative pool).
    /// - Throws: `.unreachable` (missing path, connection refused, host unknown), `.notARepository`,
    ///   `.authentication`.
    public func probeRemote(_ remote: String) throws(GitError) -> Int {
        let operation = "connect to \(remote)"
        let remoteObject = try openRemote(remote, operation: operation)
        defer { git_remote_free(remoteObject) }
        let callbacks = RemoteCallbacks(settings: settings)
        callbacks.remoteURL = RemoteCallbacks.url(of: remoteObject)
        var remoteCallbacks = git_remote_callbacks()
        git_remote_init_callbacks(&remoteCallbacks, UInt32(GIT_REMOTE_CALLBACKS_VERSION))
        callbacks.install(into: &remoteCallbacks)
        defer { withExtendedLifetime(callbacks) {} }
        try checkRemote(git_remote_connect(remoteObject, GIT_DIRECTION_FETCH, &remoteCallbacks, nil, nil), operation)
        defer { git_remote_disconnect(remoteObject) }
        var heads: UnsafeMutablePointer<UnsafePointer<git_remote_head>?>?
        var count = 0
        try checkRemote(git_remote_ls(&heads, &count, remoteObject), "\(operation): list remote refs")
        return count
    }

    /// A configured remote by name, or an anonymous one for a URL/path (checked first when local).
    func openRemote(_ remote: String, operation: String) throws(GitError) -> OpaquePointer {
        var object: OpaquePointer?
        if git_remote_lookup(&object, handle, remote) == 0, let object {
            if let url = git_remote_url(object).map({ String(cString: $0) }), GitRemoteURL.isLocal(url) {
                try checkLocalRemote(url, operation: operation)
            }
            return object
        }
        if GitRemoteURL.isLocal(remote) { try checkLocalRemote(remote, operation: operation) }
        let code = git_remote_create_anonymous(&object, handle, remote)
        if code < 0 {
            let error = GitError.last(code, operation: operation, repository: path)
            throw GitError(
                .invalidInput, operation: operation, repository: remote, code: code,
                errorClass: error.errorClass,
                message: "\"\(remote)\" is neither a configured remote nor a URL: \(error.message)")
        }
        return object!
    }

    private func checkLocalRemote(_ url: String, operation: String) throws(GitError) {
        let remotePath = GitRemoteURL.localPath(url)
        guard FileManager.default.fileExists(atPath: remotePath) else {
            throw GitError(
                .unreachable, operation: operation, repository: url,
                message: "no such path \(remotePath): check the remote's URL")
        }
        git_repository_free(try Self.openHandle(remotePath, operation: operation))
    }
}

extension GitError {
    /// An error of a call that talked to a remote: operating-system errors there (connection refused, host not
    /// found) mean the remote could not be reached.
    static func remote(_ code: Int32, operation: String, repository: String) -> GitError {
        let error = GitError.last(code, operation: operation, repository: repository)
        guard error.kind == .other, error.errorClass == Int32(GIT_ERROR_OS.rawValue) else { return error }
        return GitError(
            .unreachable, operation: operation, repository: repository, code: error.code,
            errorClass: error.errorClass, message: error.message)
    }
}

extension GitRepository {
    /// The local reference names (or directory prefixes ending in `/`) that `refspecs` write to; `refs/remotes/`
    /// when they are the remote's own.
    static func fetchDestinations(_ refspecs: [String]) -> [String] {
        guard !refspecs.isEmpty else { return ["refs/remotes/"] }
        return refspecs.compactMap { spec -> String? in
            guard let colon = spec.firstIndex(of: ":") else { return nil }
            let destination = String(spec[spec.index(after: colon)...])
            guard let star = destination.firstIndex(of: "*") else { return destination }
            let head = destination[..<star]
            guard let slash = head.lastIndex(of: "/") else { return nil }
            return String(head[...slash])
        }
    }

    func checkRemote(_ code: Int32, _ operation: @autoclosure () -> String) throws(GitError) {
        if code < 0 { throw GitError.remote(code, operation: operation(), repository: path) }
    }
}

/// Calls `body` with `strings` as a `git_strarray` (valid only during the call).
func withStringArray<T>(_ strings: [String], _ body: (UnsafeMutablePointer<git_strarray>) -> T) -> T {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeMutableBufferPointer { buffer in
        var array = git_strarray(strings: buffer.baseAddress, count: buffer.count)
        return body(&array)
    }
}
