import Foundation
import GasTownTestKit
import Testing

/// `bd sync` used to crash now and then *after* its work (SIGSEGV/SIGABRT in libcrypto): `exit()` ran OpenSSL's
/// atexit cleanup while libgit2's thread was still inside libcrypto. Receiving syncs in real processes must all
/// exit 0.
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
