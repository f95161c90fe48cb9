import Foundation
import GasTownTestKit
import Testing

/// `bd sync` used to crash now and then *after* its work (SIGSEGV/SIGABRT in libcrypto): `exit()` ran OpenSSL's
/// atexit cleanup while the sync repository's git thread was ending and running OpenSSL's thread-exit destructor
/// (libgit2 initialises libssh2, and with it libcrypto, on that thread). Receiving syncs in real processes must all
/// exit 0. The race is rare; its cause is checked deterministically by `GitExitTests` (the Git module initialises
/// OpenSSL without the atexit cleanup) and every executable does the same first (`CommandRunner.prepareProcess`).
@Suite struct SyncExitTests {
    @Test func receivingSyncsExitCleanly() async throws {
        let remote = try await TestRemote()
        let a = try TempDir(prefix: "gt-exit-a")
        let b = try TempDir(prefix: "gt-exit-b")
        for store in [a, b] {
            let made = try await BuiltBinaries.run(.bd, ["-C", store.path, "init", "--prefix", "ex", "--remote", remote.path])
            #expect(made.status == 0, "\(made)")
        }
        for round in 0..<15 {
            let created = try await BuiltBinaries.run(.bd, ["-C", a.path, "create", "round \(round)", "--silent"])
            #expect(created.status == 0, "\(created)")
            for store in [a, b] {
                let synced = try await BuiltBinaries.run(.bd, ["-C", store.path, "sync"])
                #expect(synced.status == 0, "round \(round): \(synced)")
            }
        }
        let count = try await BuiltBinaries.run(.bd, ["-C", b.path, "count"])
        #expect(count.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "15", "\(count)")
    }
}
