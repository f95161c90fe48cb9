import CGit2
import Foundation

extension GitRepository {
    /// libgit2's own `git_remote_push` of `commit` to `branch` of `url` (non-forced refspec), kept only to
    /// measure and demonstrate why `push(_:to:branch:expecting:)` does not use it on path remotes: there it checks
    /// fast-forward against the refs read at connect time and then force-writes the ref, so a push that lands in
    /// between is silently overwritten. `beforeUpdate` runs after the remote's refs were read and before the ref
    /// is written (libgit2's `push_negotiation` callback).
    /// - Returns: whether libgit2 reported success (no error and no rejection status).
    func libgit2Push(
        _ commit: GitOID, to url: String, branch: String,
        beforeUpdate: (() -> Void)? = nil
    ) throws(GitError) -> Bool {
        let reference = branch.hasPrefix("refs/") ? branch : "refs/heads/\(branch)"
        let operation = "libgit2 push to \(url) \(reference)"
        let remote = try openRemote(url, operation: operation)
        defer { git_remote_free(remote) }
        let source = "refs/gt-push/plain-\(UInt64.random(in: 0...UInt64.max))"
        _ = try updateReference(source, to: commit, expecting: nil, message: "push source")
        defer { try? deleteReference(source) }
        let callbacks = RemoteCallbacks(settings: settings)
        callbacks.remoteURL = RemoteCallbacks.url(of: remote)
        callbacks.onPushNegotiation = beforeUpdate
        var options = git_push_options()
        git_push_options_init(&options, UInt32(GIT_PUSH_OPTIONS_VERSION))
        callbacks.install(into: &options.callbacks)
        let code = withStringArray(["\(source):\(reference)"]) { specs in
            withExtendedLifetime(callbacks) { git_remote_push(remote, specs, &options) }
        }
        if code == GIT_ENONFASTFORWARD.rawValue { return false }
        try check(code, operation)
        return callbacks.pushRejections.isEmpty
    }
}
