import Foundation
import GasTownTestKit
import Testing

@testable import Sessions

@Suite struct SessionNameTests {
    let town = TownID(townRoot: "/home/me/gt")

    @Test func renderedNameCarriesTownRigPolecatAndEpoch() throws {
        let name = SessionName(town: town, rig: "gastown", polecat: "nux", epoch: 7)
        #expect(name.rendered == "gt-\(town.rawValue)-gastown-nux-e7")
        #expect(SessionName.parse(name.rendered) == name)
        #expect(town.rawValue.count == 8)
        let encoded = try JSONEncoder().encode([name])
        #expect(String(decoding: encoded, as: UTF8.self) == "[\"\(name.rendered)\"]")
        #expect(try JSONDecoder().decode([SessionName].self, from: encoded) == [name])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([SessionName].self, from: Data("[\"x\"]".utf8)) }
    }

    @Test func townIDIsStableAndDiffersBetweenTowns() throws {
        #expect(TownID(townRoot: "/home/me/gt") == TownID(townRoot: "/home/me/gt"))
        #expect(TownID(townRoot: "/home/me/gt/") == TownID(townRoot: "/home/me/./gt"))
        #expect(TownID(townRoot: "/home/me/gt") != TownID(townRoot: "/home/me/gt2"))
        let directory = try TempDir(prefix: "gt-sessions")
        let link = directory.path + "-link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: directory.path)
        defer { unlink(link) }
        #expect(TownID(townRoot: link) == TownID(townRoot: directory.path), "symlinks are resolved")
        #expect(TownID(rawValue: "abc") == nil)
        #expect(TownID(rawValue: "ABCDEFGH") == nil)
        #expect(TownID(rawValue: town.rawValue) == town)
    }

    @Test func awkwardNamesAreEscapedInjectivelyAndTmuxLegal() {
        let names = ["my-rig", "my_rig", "my.rig", "a:b", "ünï", "x_2d", "-", "_", "rig name", "e1"]
        var rendered = Set<String>()
        for rig in names {
            for polecat in names {
                let name = SessionName(town: town, rig: rig, polecat: polecat, epoch: 1)
                #expect(SessionName.parse(name.rendered) == name)
                #expect(name.rendered.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_".contains($0)) })
                rendered.insert(name.rendered)
            }
        }
        #expect(rendered.count == names.count * names.count, "no two identities share a session name")
    }

    @Test func foreignAndMalformedNamesAreRejected() {
        let good = SessionName(town: town, rig: "r", polecat: "p", epoch: 3).rendered
        for text in [
            "", "gt-", "hq-mayor", "gastown-nux", good + "x", good.replacingOccurrences(of: "-e3", with: "-e"),
            good.replacingOccurrences(of: "-e3", with: "-e03"), good.replacingOccurrences(of: "-e3", with: "-3"),
            "gt-\(town.rawValue)--p-e1", "gt-\(town.rawValue)-r_2-p-e1", "gt-\(town.rawValue)-r_41-p-e1",
            "gt-\(town.rawValue)-r-p-q-e1", "gt-\(town.rawValue)-r-p-e99999999999999999999999",
        ] {
            #expect(SessionName.parse(text) == nil, "\(text)")
        }
        #expect(SessionName.parse(good) != nil)
    }

    @Test func parserSurvivesMutatedInput() {
        var random = SeededRandom(seed: 0x5e55_1045)
        let seeds = [
            SessionName(town: town, rig: "gastown", polecat: "nux", epoch: 12).rendered,
            SessionName(town: town, rig: "my-rig", polecat: "ünï", epoch: 0).rendered,
        ]
        let alphabet = Array("gt-e0123456789_abcdefxyz:.ü\u{0}")
        for _ in 0..<5000 {
            var characters = Array(seeds[Int(random.next() % 2)])
            for _ in 0..<(1 + random.next() % 4) {
                let position = Int(random.next() % UInt64(characters.count + 1))
                switch random.next() % 3 {
                case 0: characters.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: position)
                case 1: if position < characters.count { characters.remove(at: position) }
                default:
                    if position < characters.count {
                        characters[position] = alphabet[Int(random.next() % UInt64(alphabet.count))]
                    }
                }
            }
            let text = String(characters)
            if let parsed = SessionName.parse(text) {
                #expect(parsed.rendered == text, "a parsed name renders back to exactly its text")
            }
        }
    }
}

/// SplitMix64: a seeded generator for fuzz tests.
struct SeededRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
