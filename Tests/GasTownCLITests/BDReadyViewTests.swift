import Beads
import Foundation
import GasTownTestKit
import LedgerStore
import Testing

@testable import GasTownCLI

/// Embedded `bd ready` and `bd blocked` on a store whose snapshot has nothing after it read only the snapshot's ready
/// view (docs/ledger-store.md, "Ready view"); their output is that of the whole ledger, and stays so after a write
/// (which makes them load in full).
@Suite struct BDReadyViewTests {
    func ids(_ text: String) throws -> [String] {
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
        return rows.compactMap { ($0["id"] as? String) ?? (($0["issue"] as? [String: Any])?["id"] as? String) }
    }

    @Test func readyAndBlockedFromTheViewMatchTheWholeLedger() async throws {
        try await TempDir.with(prefix: "bd-ready-view") { temp in
            try LedgerBenchmarks.prepareReadyStore(in: temp.path, count: 1_200)
            let layout = StoreLayout(directory: temp.path)
            var eager = LedgerDatabaseSettings()
            eager.store.snapshotEveryBytes = 1
            try LedgerDatabase.open(layout, settings: eager).close()
            let view = try LedgerDatabase.open(layout, mode: .read, readyView: true)
            #expect(view.isReadyView)
            view.close()
            func expected() throws -> (ready: [String], blocked: Int) {
                let db = try LedgerDatabase.open(layout, mode: .read)
                defer { db.close() }
                let ledger = db.read { $0.scopes["bd"]! }
                var all = BeadFilter()
                all.limit = 0
                return (ledger.ready(now: BDSupport.now(), filter: all).map(\.id), ledger.blocked().count)
            }
            let bd = BDHarness(temp: temp)
            let ready = await bd.run(["ready", "-n", "0", "--json"])
            #expect(ready.code == .success, "\(ready)")
            let want = try expected()
            #expect(try ids(ready.stdout) == want.ready)
            #expect(!want.ready.isEmpty)
            let blocked = await bd.run(["blocked", "--json"])
            #expect(blocked.code == .success, "\(blocked)")
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(blocked.stdout.utf8)) as? [Any])
            #expect(rows.count == want.blocked && want.blocked > 0)

            let created = await bd.run(["create", "after the snapshot", "--silent"])
            #expect(created.code == .success, "\(created)")
            let after = await bd.run(["ready", "-n", "0", "--json"])
            let wantAfter = try expected()
            #expect(try ids(after.stdout) == wantAfter.ready)
            #expect(wantAfter.ready.count == want.ready.count + 1)
        }
    }
}
