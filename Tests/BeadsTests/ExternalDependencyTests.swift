import GasTownTestKit
import Testing

@testable import Beads

@Suite struct ExternalDependencyTests {
    static let now = Timestamp("2026-01-01T00:00:00Z")!

    func bead(_ id: String, dependsOn target: String, metadata: String? = nil) -> String {
        let meta = metadata.map { #","metadata":"\#($0.replacingOccurrences(of: "\"", with: "\\\""))""# } ?? ""
        return #"{"id":"\#(id)","title":"local","status":"open","priority":2,"issue_type":"task","created_at":"2025-12-01T00:00:00Z","updated_at":"2025-12-01T00:00:00Z","dependencies":[{"issue_id":"\#(id)","depends_on_id":"\#(target)","type":"blocks","created_at":"2025-12-01T00:00:00Z"\#(meta)}]}"#
    }

    @Test func aRemoteBeadBlocksUntilRecordedClosed() throws {
        let open = bead("t-1", dependsOn: "external:hop://beta/api/ap-7")
        let closed = bead(
            "t-2", dependsOn: "external:hop://beta/api/ap-8",
            metadata: ExternalDependency.metadata(status: "closed", checkedAt: "2026-01-01T00:00:00Z"))
        let stillOpen = bead(
            "t-3", dependsOn: "external:hop://beta/api/ap-9",
            metadata: ExternalDependency.metadata(status: "in_progress", checkedAt: "2026-01-01T00:00:00Z"))
        let beadsStyle = bead("t-4", dependsOn: "external:someproject:capability")
        let beads = try BeadCodec.decodeJSONL([open, closed, stillOpen, beadsStyle].joined(separator: "\n") + "\n")
        let ledger = try Ledger(prefix: "t", beads: beads)
        let ready = Set(ledger.ready(now: Self.now).map(\.id))
        #expect(ready == ["t-2", "t-4"])
        #expect(ledger.blockedIDs == ["t-1", "t-3"])
        #expect(ledger.directBlockers(of: ledger.bead("t-1")!) == ["external:hop://beta/api/ap-7"])
    }

    @Test func recordingClosedUnblocksIncrementally() throws {
        var ledger = try Ledger(
            prefix: "t", beads: try BeadCodec.decodeJSONL(bead("t-1", dependsOn: "external:hop://beta/api/ap-7") + "\n"))
        #expect(ledger.blockedIDs == ["t-1"])
        var clock = HybridLogicalClock(node: "n1")
        let wall: Int64 = 1_767_225_600_000
        let edge = ledger.bead("t-1")!.dependencies[0]
        var resolved = edge
        resolved.metadata = ExternalDependency.metadata(status: "closed", checkedAt: "2026-01-01T00:00:00Z")
        try ledger.apply(
            LedgerOp(
                actor: "federation/", stamp: try clock.tick(wallMillis: wall), time: Timestamp(unixMillis: wall),
                change: .removeDependency(id: "t-1", edge.key)))
        try ledger.apply(
            LedgerOp(
                actor: "federation/", stamp: try clock.tick(wallMillis: wall + 1), time: Timestamp(unixMillis: wall + 1),
                change: .addDependency(id: "t-1", resolved, allowCycles: true)))
        #expect(ledger.blockedIDs.isEmpty)
        #expect(ledger.ready(now: Self.now).map(\.id) == ["t-1"])
    }

    @Test func hopAddressesParseStrictly() {
        #expect(HopAddress("hop://beta/api/ap-7") == HopAddress(organization: "beta", rig: "api", beadID: "ap-7"))
        for bad in [
            "hop://Beta/api/x", "hop://beta/api", "hop://beta/api/x/y", "hop:///api/x", "hop://-b/api/x",
            "hop://beta/a pi/x", "hop://beta//x", "http://beta/api/x", "hop://" + String(repeating: "a", count: 64) + "/r/x",
        ] {
            #expect(HopAddress(bad) == nil, "\(bad)")
        }
        var rng = SplitMix64(seed: 16)
        let alphabet = Array("hop:/abz09-._ \u{00e9}/".unicodeScalars)
        for _ in 0..<20_000 {
            let text = String(String.UnicodeScalarView((0..<Int.random(in: 0..<40, using: &rng)).map { _ in
                alphabet.randomElement(using: &rng)!
            }))
            if let parsed = HopAddress(text) { #expect(parsed.description == text) }
        }
    }
}
