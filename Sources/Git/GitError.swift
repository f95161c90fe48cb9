import CGit2
import CShims

/// A failed git operation: which operation, on which repository (or remote), and libgit2's own code, class and
/// message, read with `git_error_last()` on the same thread right after the failing call.
///
/// Sendable: yes, a plain value.
public struct GitError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What kind of failure this is, for callers that react differently (retry, report, re-clone).
    public enum Kind: Sendable, Equatable {
        /// A reference, object, path or remote does not exist.
        case notFound
        /// Something to be created already exists (a branch, a worktree, a repository).
        case alreadyExists
        /// A compare-and-swap found a value other than the one expected.
        case modified
        /// A lock file is held by another writer (e.g. `refs/heads/x.lock`); retry shortly.
        case locked
        /// Conflicting changes (checkout, merge, rebase).
        case conflict
        /// The branch has no commit yet.
        case unbornBranch
        /// The update is not a fast-forward of the current value.
        case nonFastForward
        /// The path exists but is not a git repository.
        case notARepository
        /// The remote could not be reached (network, ssh, http or missing path).
        case unreachable
        /// The remote refused our credentials.
        case authentication
        /// The remote refused the push (see `message` for its reason).
        case pushRefused
        /// The caller passed something invalid (a bad path in a tree, an empty message, a bad URL).
        case invalidInput
        /// Anything else libgit2 reports.
        case other
    }

    /// The kind of failure.
    public let kind: Kind
    /// The operation that failed, e.g. `"fetch"`, `"push refs/heads/main"`, `"open"`.
    public let operation: String
    /// The repository path (or remote URL) the operation ran on.
    public let repository: String
    /// libgit2's return code (`git_error_code`, negative), 0 when the error is ours.
    public let code: Int32
    /// libgit2's error class (`git_error_t`), 0 when the error is ours.
    public let errorClass: Int32
    /// libgit2's message, or ours.
    public let message: String

    /// Creates an error; prefer `GitError.last(_:operation:repository:)` right after a failing libgit2 call.
    public init(
        _ kind: Kind, operation: String, repository: String, code: Int32 = 0, errorClass: Int32 = 0,
        message: String
    ) {
        self.kind = kind
        self.operation = operation
        self.repository = repository
        self.code = code
        self.errorClass = errorClass
        self.message = message
    }

    public var description: String {
        let libgit = code == 0 ? "" : " (libgit2 code \(code), class \(errorClass))"
        return "git \(operation) failed on \(repository): \(message)\(libgit)"
    }

    /// Builds the error for a failed libgit2 call. Must run on the thread that made the call, with nothing in
    /// between: libgit2 keeps its last error per thread.
    static func last(_ code: Int32, operation: String, repository: String) -> GitError {
        var message = "unknown libgit2 error"
        var errorClass: Int32 = 0
        if let last = git_error_last() {
            errorClass = last.pointee.klass
            if let text = last.pointee.message { message = String(cString: text) }
        }
        return GitError(
            kind(code: code, errorClass: errorClass), operation: operation, repository: repository,
            code: code, errorClass: errorClass, message: message)
    }

    private static func kind(code: Int32, errorClass: Int32) -> Kind {
        switch code {
        case GIT_ENOTFOUND.rawValue:
            if errorClass == Int32(GIT_ERROR_REPOSITORY.rawValue) { return .notARepository }
            return .notFound
        case GIT_EEXISTS.rawValue: return .alreadyExists
        case GIT_EMODIFIED.rawValue: return .modified
        case GIT_ELOCKED.rawValue: return .locked
        case GIT_ECONFLICT.rawValue, GIT_EMERGECONFLICT.rawValue: return .conflict
        case GIT_EUNBORNBRANCH.rawValue: return .unbornBranch
        case GIT_ENONFASTFORWARD.rawValue: return .nonFastForward
        case GIT_EAUTH.rawValue: return .authentication
        case GIT_EINVALIDSPEC.rawValue, GIT_EINVALID.rawValue, GIT_EAMBIGUOUS.rawValue: return .invalidInput
        default: break
        }
        switch errorClass {
        case Int32(GIT_ERROR_NET.rawValue), Int32(GIT_ERROR_SSH.rawValue), Int32(GIT_ERROR_HTTP.rawValue),
            Int32(GIT_ERROR_SSL.rawValue):
            return .unreachable
        case Int32(GIT_ERROR_REFERENCE.rawValue) where code == GIT_ENOTFOUND.rawValue:
            return .notFound
        default:
            return .other
        }
    }
}

/// `git_libgit2_init()`, run once (lazily, thread-safe as every Swift global) and never shut down.
///
/// `git_libgit2_init()` calls `libssh2_init()`, which initialises OpenSSL's libcrypto on the calling git thread (that
/// thread gets OpenSSL thread-local state, freed by a destructor when the thread ends). By default the first
/// OpenSSL initialisation also registers `OPENSSL_cleanup` with `atexit`, and `exit()` then frees OpenSSL's global
/// state while a git thread may be ending and running that destructor: a use-after-free (SIGSEGV, or SIGABRT from
/// a double free) in libcrypto after a `bd sync` printed its result (openssl/openssl#6214). So OpenSSL is
/// initialised first, without the atexit cleanup (the first initialisation decides), in every process that uses
/// this module, whatever its `main` does.
let gitLibraryInitialized: Bool = {
    gtshim_openssl_init_no_atexit()
    git_libgit2_init()
    return true
}()

/// Ensures libgit2 is initialized; call before any libgit2 function.
@inline(__always) func ensureGitLibrary() {
    _ = gitLibraryInitialized
}
