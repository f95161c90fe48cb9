import Foundation
import Testing

@testable import Beads

@Suite struct SampleRoundTripTests {
    @Test func sampleExportIsByteIdentical() throws {
        let text = try Samples.beadsJSONL()
        let beads = try BeadCodec.decodeJSONL(text)
        #expect(beads.count == 679)
        let out = BeadCodec.encodeJSONL(beads)
        #expect(out.split(separator: "\n").count == 679)
        if out != text {
            let a = text.split(separator: "\n")
            let b = out.split(separator: "\n")
            for (x, y) in zip(a, b) where x != y {
                Issue.record("first differing line:\n\(x)\n\(y)")
                break
            }
        }
        #expect(out == text)
    }

    @Test func sampleObjectsEqualPerBead() throws {
        let text = try Samples.beadsJSONL()
        let beads = try BeadCodec.decodeJSONL(text)
        for (line, bead) in zip(text.split(separator: "\n"), beads) {
            let original = try JSONValue.parse(String(line))
            #expect(original.semanticallyEquals(BeadCodec.encode(bead)), "bead \(bead.id)")
            #expect(original == BeadCodec.encode(bead), "key order of \(bead.id)")
        }
    }

    @Test func sampleCountsMatchReadme() throws {
        let beads = try BeadCodec.decodeJSONL(try Samples.beadsJSONL())
        var statuses: [String: Int] = [:]
        var types: [String: Int] = [:]
        var deps: [String: Int] = [:]
        for b in beads {
            statuses[b.status.rawValue, default: 0] += 1
            types[b.issueType.rawValue, default: 0] += 1
            for d in b.dependencies { deps[d.type.rawValue, default: 0] += 1 }
        }
        #expect(statuses == ["closed": 382, "tombstone": 251, "open": 37, "deferred": 6, "pinned": 3])
        #expect(
            types == [
                "task": 414, "bug": 90, "feature": 66, "merge-request": 40, "epic": 35, "molecule": 16,
                "message": 12, "agent": 4, "role": 1, "chore": 1,
            ])
        #expect(
            deps == [
                "parent-child": 207, "blocks": 199, "discovered-from": 32, "supersedes": 2,
                "replies-to": 2, "duplicates": 1,
            ])
        #expect(beads.reduce(0) { $0 + $1.labels.count } == 36)
        #expect(beads.reduce(0) { $0 + $1.comments.count } == 6)
        #expect(beads.filter { $0.id.contains(".") }.count == 142)
        #expect(beads.allSatisfy { $0.extra.isEmpty })
    }
}
