import Foundation
import Git
import Testing

/// OpenSSL must not clean itself up at `exit()` in a process that uses the Git module.
///
/// `git_libgit2_init()` initialises libssh2 and with it OpenSSL's libcrypto on a git thread, which then holds OpenSSL
/// thread-local state freed by a destructor when the thread ends. With OpenSSL's default atexit cleanup, `exit()`
/// freed OpenSSL's global state while a git thread was ending (its repository released at the end of `main`) and
/// still using it: `bd sync` crashed now and then after printing its result (SIGSEGV in libcrypto, or SIGABRT from a
/// double free). The race itself is too rare to test by repetition; these tests check its cause deterministically in
/// a child process (`gt-testhelper git-exit`, which does no process set-up of its own).
@Suite struct GitExitTests {
    static let marker = "OPENSSL_cleanup ran at exit"

    func probe(_ extra: [String]) async throws -> ProcessOutput {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let helper = buildProductsDirectory() + "/gt-testhelper"
        try #require(FileManager.default.isExecutableFile(atPath: helper), "gt-testhelper not built next to the tests")
        return try await runProcess(helper, ["git-exit", temp.sub("repo.git")] + extra)
    }

    @Test func gitModuleInitialisesOpenSSLWithoutAtexitCleanup() async throws {
        let output = try await probe([])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout == "READY\n")
        #expect(!output.stderr.contains(Self.marker), "OpenSSL cleaned up at exit: \(output.stderr)")
    }

    /// A crash report names the crashing thread by its system name: git threads must say they are git threads
    /// (the crash was first blamed on a pool thread, whose name they had inherited).
    @Test func gitThreadsCarryTheirOwnSystemName() async throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let repository = try await GitRepository.create(at: temp.sub("named.git"), bare: true)
        let name = await repository.runOnGitThread {
            (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
        }
        #expect(name.hasPrefix("gt.git init"), "git thread named '\(name)'")
    }

    /// The probe sees the cleanup when OpenSSL was initialised with its defaults before the Git module.
    @Test func probeSeesTheCleanupWhenOpenSSLWasInitialisedWithDefaults() async throws {
        let output = try await probe(["--openssl-default-first"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stderr.contains(Self.marker), "\(output.stderr)")
    }
}
