import Foundation
import GasTownTestKit
import Node
import Testing
import Town

/// A torn write at the end of the town ledger's log is never cut silently: `gt` warns on stderr, the node logs a
/// warning, and both record a `ledger_recovery` event naming what was cut and where its bytes are kept.
@Suite(.serialized) struct TownLedgerRecoveryTests {
    /// The first bytes of a record frame announcing 300 bytes, appended to the town ledger's last segment: a write
    /// cut short by a crash, never acknowledged.
    static let torn: [UInt8] = [0x2C, 0x01, 0, 0, 9, 8, 7, 6, 5, 4, 3]

    static func tearTheLog(_ town: TownFixture) throws {
        let wal = town.layout.beadsDirectory + "/wal"
        let segments = try FileManager.default.contentsOfDirectory(atPath: wal).filter { $0.hasSuffix(".wal") }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: wal + "/" + (try #require(segments.max()))))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(torn))
        try handle.close()
    }

    static func recoveryEvent(_ town: TownFixture) -> [String: String]? {
        TownEvents.read(town.layout.eventsFile).first { $0["type"] == "ledger_recovery" }
    }

    @Test func gtWarnsAndRecordsAnEventWhenItCutsATornWrite() async throws {
        try await TownFixture.with { town in
            _ = try await town.createBead("before the crash", scope: "hq")
            try Self.tearTheLog(town)
            // A command that only reads warns and leaves the log as it is.
            let digest = FileTreeDigest(town.layout.beadsDirectory)
            let inbox = try await town.gt(["mail", "inbox"])
            try expectOK(inbox)
            #expect(inbox.stderr.contains("warning: the write-ahead log ended in a torn write"), "\(inbox)")
            #expect(inbox.stderr.contains("left in place"), "\(inbox)")
            #expect(FileTreeDigest(town.layout.beadsDirectory).differences(from: digest) == [])
            #expect(Self.recoveryEvent(town) == nil)
            // A writer cuts it, says so, and records it.
            let sent = try await town.gt(["mail", "send", "mayor", "-s", "after the crash"])
            try expectOK(sent)
            #expect(sent.stderr.contains("warning: the write-ahead log ended in a torn write"), "\(sent)")
            let event = try #require(Self.recoveryEvent(town))
            #expect(event["cut_bytes"] == "\(Self.torn.count)" && event["records"] == "1")
            #expect(event["acknowledged_records"] == "0")
            let kept = try #require(event["kept_at"])
            #expect(FileManager.default.contents(atPath: kept) == Data(Self.torn))
            let again = try await town.gt(["mail", "inbox"])
            #expect(again.stderr.isEmpty, "\(again)")
        }
    }

    @Test func nodeLogsAndRecordsTheRecoveryWhenItOpensTheLedger() async throws {
        try await TownFixture.with { town in
            try expectOK(try await town.gt(["cluster", "init", "--name", "recovery"]))
            let agent = try town.writeAgent()
            try expectOK(try await town.gt(["rig", "add", "demo", town.source, "--runtime", "exec:'sh \(agent)'"]))
            try Self.tearTheLog(town)
            try await town.up()
            let recorded = try await town.waitUntil(timeout: .seconds(20)) { Self.recoveryEvent(town) != nil }
            #expect(recorded, "no ledger_recovery event")
            let event = try #require(Self.recoveryEvent(town))
            #expect(event["cut_bytes"] == "\(Self.torn.count)" && event["kept_at"].map { !$0.isEmpty } == true)
            let log = (try? String(contentsOfFile: TownPaths(root: town.town).logFile, encoding: .utf8)) ?? ""
            #expect(log.contains("town ledger recovery") && log.contains("torn write"), "\(log)")
            try expectOK(try await town.gt(["down"]))
        }
    }
}
