// Child process for GitExitTests: does OpenSSL clean itself up at exit in a process that uses the Git module?
//
//   gt-testhelper git-exit <repo> [--openssl-default-first]
//
// Creates a bare repository at <repo> through the Git module (libgit2, and with it libssh2 and OpenSSL's libcrypto,
// initialised on the repository's git thread), registers an `OPENSSL_atexit` handler that prints
// `OPENSSL_cleanup ran at exit` on stderr, releases the repository (its git thread ends) and exits 0.
// `OPENSSL_cleanup` at exit frees OpenSSL's global state while a git thread may still be ending and using it, the
// crash of `bd sync` after its result line; the marker must not appear. `--openssl-default-first` initialises OpenSSL
// with its defaults before the Git module does (what the Git module must prevent), so the marker appears: it shows
// the probe can see the cleanup. It runs before any other set-up of gt-testhelper's `main`.
import CShims
import Foundation
import Git

func runGitExitProbe(_ arguments: [String]) async -> Never {
    guard arguments.count == 3 || (arguments.count == 4 && arguments[3] == "--openssl-default-first") else {
        FileHandle.standardError.write(Data("usage: gt-testhelper git-exit <repo> [--openssl-default-first]\n".utf8))
        exit(2)
    }
    if arguments.count == 4 { _ = OPENSSL_init_crypto(UInt64(OPENSSL_INIT_LOAD_CRYPTO_STRINGS), nil) }
    do {
        let repository = try await GitRepository.create(at: arguments[2], bare: true)
        _ = await repository.isBare
    } catch {
        FileHandle.standardError.write(Data("gt-testhelper: \(error)\n".utf8))
        exit(1)
    }
    _ = OPENSSL_atexit {
        let marker = "OPENSSL_cleanup ran at exit\n"
        _ = marker.withCString { write(2, $0, strlen($0)) }
    }
    FileHandle.standardOutput.write(Data("READY\n".utf8))
    exit(0)
}
