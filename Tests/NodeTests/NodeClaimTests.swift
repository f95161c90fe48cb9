import Beads
import Foundation
import GasTownTestKit
import LedgerStore
import Node
import Scheduling
import Testing

/// Claims inside running nodes (docs/sync.md "Claims"): `ClaimRunner` with the store the node holds and the engine
/// of its sync loop, while the loops themselves sync every 50 ms, on two nodes sharing one path remote.
@Suite struct NodeClaimTests {
    @Test func claimsRacingOnTwoNodesThroughTheirSyncLoopsHaveExactlyOneWinner() async throws {
        let directory = try TempDir(prefix: "gt-node-claim")
        var settings = LedgerSyncLoopSettings()
        settings.pathInterval = .milliseconds(50)
        settings.debounce = .milliseconds(10)
        guard let (a, b) = try await LoopbackLedgerTown.pair(directory, settings: settings) else {
            Issue.record("the two nodes did not settle")
            return
        }
        do { try await race(a, b) } catch { Issue.record("\(error)") }
        await b.stop()
        await a.stop()
    }

    func race(_ a: LoopbackLedgerTown, _ b: LoopbackLedgerTown) async throws {
        var ids: [String] = []
        for i in 0..<3 { ids.append(try await a.create("contended \(i)")) }
        for _ in 0..<200 where !ids.allSatisfy(b.has) { try await Task.sleep(for: .milliseconds(50)) }
        #expect(ids.allSatisfy(b.has), "b's loop brought the beads in")
        let now = Timestamp(unixMillis: 1_767_225_600_000)
        for id in ids {
            guard let ea = await a.sync.engine(), let eb = await b.sync.engine() else {
                Issue.record("the loops have no engine")
                return
            }
            let (ra, rb) = (a.database.read { $0.replicaID }, b.database.read { $0.replicaID })
            async let one = ClaimRunner.claim(
                ClaimRunner.Request(id: id, claimant: Claimant(assignee: "alice", node: ra), time: now),
                database: a.database, engine: ea)
            async let two = ClaimRunner.claim(
                ClaimRunner.Request(id: id, claimant: Claimant(assignee: "bob", node: rb), time: now),
                database: b.database, engine: eb)
            let (first, second) = await (one, two)
            let winners = [first, second].filter { $0.outcome.isWon }
            #expect(winners.count == 1, "\(id): \(first.outcome) / \(second.outcome)")
            guard case .won(let lease)? = winners.first?.outcome else { continue }
            let loser = first.outcome.isWon ? second : first
            #expect(loser.outcome == .lost(to: lease), "\(id): \(loser.outcome)")
            // The loops carry the winner's claim to both stores.
            func holds(_ town: LoopbackLedgerTown) -> Bool {
                town.database.read { $0.scopes["hq"]?.bead(id).map(Lease.init) } == lease
            }
            for _ in 0..<200 where !(holds(a) && holds(b)) { try await Task.sleep(for: .milliseconds(50)) }
            #expect(holds(a) && holds(b), "\(id): both nodes hold the winner's claim")
        }
    }
}

/// A re-ID by the node's sync loop is told once (docs/sync.md "Re-IDs"): a warning in the log and a `ledger_reid`
/// event in `events.jsonl`.
@Suite struct NodeReIDTests {
    @Test func aSyncThatReIDsRecordsOneEvent() async throws {
        let directory = try TempDir(prefix: "gt-node-reid")
        var settings = LedgerSyncLoopSettings()
        settings.pathInterval = .seconds(600)
        settings.notices = false
        // The test syncs by hand: a local write must not start a loop sync 100 ms later either (under load that
        // sync raced the explicit ones and took the re-ID this test asserts on).
        settings.debounce = .seconds(600)
        guard let (a, b) = try await LoopbackLedgerTown.pair(directory, settings: settings) else {
            Issue.record("the two nodes did not settle")
            return
        }
        do {
            for (town, title) in [(a, "A's bead"), (b, "B's bead")] {
                let database = town.database
                _ = try await DedicatedThread.run { () throws(LedgerDatabaseError) in
                    try database.write(scope: "hq", routing: nil) { ledger, clock throws(LedgerError) in
                        var spec = NewBead(title: title)
                        spec.explicitID = "hq-dup"
                        return try ledger.prepareCreate(spec, actor: title, stamp: clock.stamp, time: clock.time)
                    }
                }
            }
            _ = try await a.sync.syncNow()
            let reply = try await b.sync.syncNow()
            let reIDs = reply.scopes.flatMap(\.reIDs)
            #expect(reIDs.count == 1 && reIDs.first?.hasPrefix("hq-dup → ") == true, "\(reply)")
            _ = try await b.sync.syncNow()
            let events = (try? String(contentsOfFile: b.town.eventsFile, encoding: .utf8)) ?? ""
            let lines = events.split(separator: "\n").filter { $0.contains("\"ledger_reid\"") }
            #expect(lines.count == 1, "one ledger_reid event: \(events)")
            #expect(lines.first?.contains("hq-dup") == true)
            let newID = String(reIDs.first?.dropFirst("hq-dup → ".count) ?? "")
            #expect(b.database.read { $0.scopes["hq"]?.beads[newID]?.title } == "B's bead")
            #expect(b.database.read { $0.scopes["hq"]?.aliases["hq-dup"] } == newID)
        } catch {
            Issue.record("\(error)")
        }
        await b.stop()
        await a.stop()
    }
}
