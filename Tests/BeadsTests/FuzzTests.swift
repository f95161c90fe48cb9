import GasTownTestKit
import Testing

@testable import Beads

/// Seeded random and mutated inputs for every decoder of outside bytes: none may crash; each either decodes
/// or throws its typed error, and whatever decodes re-encodes to something that decodes to the same value.
@Suite struct FuzzTests {
    static func mutate(_ line: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var b = line
        let interesting: [UInt8] =
            Array("{}[]\",:\\0123456789-+.eEtrufalsn \u{7F}".utf8) + [0x00, 0x0A, 0xC3, 0xFF, 0xE2, 0x80]
        for _ in 0..<(1 + Int(rng.next() % 4)) {
            guard !b.isEmpty else { break }
            let i = Int(rng.next() % UInt64(b.count))
            switch rng.next() % 6 {
            case 0: b[i] = interesting[Int(rng.next() % UInt64(interesting.count))]
            case 1: b.remove(at: i)
            case 2: b.insert(interesting[Int(rng.next() % UInt64(interesting.count))], at: i)
            case 3: b = Array(b[..<i])
            case 4:
                let j = min(b.count, i + Int(rng.next() % 40))
                b.insert(contentsOf: b[i..<j], at: i)
            default: b[i] = UInt8(truncatingIfNeeded: rng.next())
            }
        }
        return b
    }

    @Test func jsonlDecoderSurvives100kMutatedLines() throws {
        let lines = try Samples.beadsJSONL().split(separator: "\n").map { Array($0.utf8) }
        var rng = SplitMix64(seed: 2026)
        var decoded = 0
        var refused = 0
        for n in 0..<100_000 {
            let input: [UInt8]
            if n % 10 == 0 {
                input = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                let base = lines[Int(rng.next() % UInt64(lines.count))]
                // Keep the fuzz affordable: mutate a prefix-bounded copy of long lines most of the time.
                let cut = n % 3 == 0 ? base : Array(base.prefix(400)) + Array("\"}".utf8)
                input = Self.mutate(cut, &rng)
            }
            let text = String(decoding: input, as: UTF8.self)
            do {
                let beads = try BeadCodec.decodeJSONL(text)
                decoded += 1
                let again = try BeadCodec.decodeJSONL(BeadCodec.encodeJSONL(beads))
                #expect(again.sorted { $0.id < $1.id } == beads.sorted { $0.id < $1.id })
            } catch {
                refused += 1
                #expect(error.line >= 1 || input.isEmpty)
                #expect(!error.description.isEmpty)
            }
        }
        #expect(decoded > 100 && refused > 50_000)
    }

    @Test func decoderErrorsNameLineAndField() {
        let good =
            #"{"id":"bd-1","title":"A","status":"open","priority":1,"issue_type":"task","#
            + #""created_at":"2025-01-01T00:00:00Z","updated_at":"2025-01-01T00:00:00Z"}"#
        func err(_ text: String) -> String {
            do {
                _ = try BeadCodec.decodeJSONL(text)
                return "decoded"
            } catch { return error.description }
        }
        #expect(
            err(good + "\n" + good.replacingOccurrences(of: "\"priority\":1", with: "\"priority\":\"high\""))
                == #"line 2: field priority: expected integer 0-4, got "high""#)
        #expect(
            err(good.replacingOccurrences(of: "\"open\"", with: "\"later\"")).hasPrefix(
                "line 1: field status: unknown status \"later\""))
        #expect(err(good + "\n" + good) == #"line 2: field id: duplicate id "bd-1" (first on line 1)"#)
        #expect(
            err(good.replacingOccurrences(of: ",\"title\":\"A\"", with: ""))
                == "line 1: field title: required field is missing")
        #expect(err("\n\n{").hasPrefix("line 3: invalid JSON: unexpected end of JSON"))
        #expect(
            err(good.replacingOccurrences(of: "\"2025-01-01T00:00:00Z\",\"updated", with: "\"yesterday\",\"updated"))
                == #"line 1: field created_at: expected an RFC 3339 timestamp, got "yesterday""#)
        let dep = good.replacingOccurrences(
            of: "\"issue_type\":\"task\"",
            with:
                #""issue_type":"task","dependencies":[{"issue_id":"bd-1","depends_on_id":"bd-2","#
                + #""type":"loves","created_at":"2025-01-01T00:00:00Z"}]"#
        )
        #expect(err(dep) == #"line 1: field dependencies[0].type: unknown dependency type "loves""#)
        #expect(err(good.replacingOccurrences(of: "}", with: ",\"zz_future\":{\"a\":[1,2]}}")) == "decoded")
    }

    @Test func opAndStampDecodersSurviveMutations() throws {
        var h = Harness()
        var rng = SplitMix64(seed: 77)
        var ops: [LedgerOp] = []
        for step in 0..<300 {
            let ids = h.ledger.beads.keys.sorted()
            let op = RandomOps.op(rng: &rng, ledger: h.ledger, ids: ids, stamp: h.nextStamp(), time: h.time, step: step)
            if (try? h.ledger.apply(op)) != nil { ops.append(op) }
        }
        let opLines = ops.map { Array($0.jsonLine.utf8) }
        let stampLines = h.ledger.exportStampsJSONL().split(separator: "\n").map { Array($0.utf8) }
        for n in 0..<30_000 {
            let opInput = String(decoding: Self.mutate(opLines[n % opLines.count], &rng), as: UTF8.self)
            if let op = try? LedgerOp(jsonLine: opInput) { #expect((try? LedgerOp(jsonLine: op.jsonLine)) == op) }
            let stampInput = String(decoding: Self.mutate(stampLines[n % stampLines.count], &rng), as: UTF8.self)
            if let s = try? BeadStamps.decodeJSONL(stampInput) {
                #expect((try? BeadStamps.decodeJSONL(BeadStamps.encodeJSONL(s))) == s)
            }
        }
    }
}

@Suite struct OpReplayTests {
    /// The WAL contract: ops written as JSON lines and replayed into an empty ledger rebuild it exactly.
    @Test func replayingSerializedOpsIsDeterministic() throws {
        for seed in [UInt64(3), 4, 5] {
            var h = Harness()
            var rng = SplitMix64(seed: seed)
            var wal: [String] = []
            for step in 0..<600 {
                let ids = h.ledger.beads.keys.sorted()
                let op = RandomOps.op(
                    rng: &rng, ledger: h.ledger, ids: ids, stamp: h.nextStamp(), time: h.time, step: step)
                if (try? h.ledger.apply(op)) != nil { wal.append(op.jsonLine) }
            }
            var replayed = Ledger(prefix: "t")
            for line in wal { try replayed.apply(try LedgerOp(jsonLine: line)) }
            #expect(replayed == h.ledger)
            #expect(replayed.exportJSONL() == h.ledger.exportJSONL())
            #expect(replayed.exportStampsJSONL() == h.ledger.exportStampsJSONL())
            #expect(wal.count > 300)
            // Snapshot path: JSONL + stamps reload into an equal ledger.
            let reloaded = try Ledger(
                prefix: "t", beads: try BeadCodec.decodeJSONL(h.ledger.exportJSONL()),
                stamps: try BeadStamps.decodeJSONL(h.ledger.exportStampsJSONL()))
            #expect(reloaded == h.ledger)
        }
    }

    @Test func importOpTakesBeadsAsTheyAreAndStampsChanges() throws {
        let beads = try BeadCodec.decodeJSONL(try Samples.beadsJSONL())
        var ledger = Ledger(prefix: "bd")
        let stamp = HLCStamp(wallMillis: 1_767_225_600_000, node: "import")
        let op = LedgerOp(
            actor: "me", stamp: stamp, time: Timestamp(unixMillis: stamp.wallMillis), change: .importBeads(beads))
        try ledger.apply(try LedgerOp(jsonLine: op.jsonLine))
        #expect(ledger.exportJSONL() == (try Samples.beadsJSONL()))
        var edited = beads[0]
        edited.title = "Edited elsewhere"
        let later = HLCStamp(wallMillis: stamp.wallMillis + 5, node: "import")
        try ledger.apply(
            LedgerOp(
                actor: "me", stamp: later, time: Timestamp(unixMillis: later.wallMillis),
                change: .importBeads([edited])))
        #expect(ledger.stamps[edited.id]?.stamp(of: .title) == later)
        #expect(ledger.stamps[edited.id]?.stamp(of: .priority) == stamp)
    }
}
