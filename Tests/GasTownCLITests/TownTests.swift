import Foundation
import GasTownTestKit
import Testing
@testable import GasTownCLI

@Suite struct TownConfigTests {
    static let samplePath = "/work/shared/samples/gastown/town-pr820/mayor/town.json"

    @Test func readsTheRealSample() throws {
        let data = try #require(FileManager.default.contents(atPath: Self.samplePath))
        let config = try TownConfig.decode(data, path: Self.samplePath)
        #expect(config.type == "town")
        #expect(config.version == 2)
        #expect(config.name == "gt")
        #expect(config.publicName == "gt")
        #expect(config.owner == nil)
        #expect(config.createdAt == "2026-01-19T18:04:28.197630366+11:00")
        let again = try TownConfig.decode(try config.encoded(), path: "round trip")
        #expect(again == config)
        let original = try JSONSerialization.jsonObject(with: data) as? NSDictionary
        let written = try JSONSerialization.jsonObject(with: try config.encoded()) as? NSDictionary
        #expect(original == written)
    }

    @Test func rejectsWrongFiles() {
        for text in ["{", "{\"type\":\"rig\",\"version\":1,\"name\":\"x\",\"created_at\":\"\"}",
                     "{\"type\":\"town\",\"version\":2,\"name\":\"\",\"created_at\":\"\"}", "[]"] {
            #expect(throws: CLIError.self, "\(text)") { try TownConfig.decode(Data(text.utf8), path: "t.json") }
        }
    }

    @Test func rigsRegistryShape() throws {
        let sample = "/work/shared/samples/gastown/town-pr820/mayor/rigs.json"
        let data = try #require(FileManager.default.contents(atPath: sample))
        #expect(try JSONDecoder().decode(RigsConfig.self, from: data) == RigsConfig())
        var rigs = RigsConfig()
        rigs.rigs["gastown"] = .init(
            gitURL: "https://x/y.git", addedAt: "2026-01-01T00:00:00Z", beads: .init(repo: "local", prefix: "gt"))
        let text = String(decoding: try rigs.encoded(), as: UTF8.self)
        #expect(text.contains("\"git_url\": \"https://x/y.git\""))
        #expect(try JSONDecoder().decode(RigsConfig.self, from: rigs.encoded()) == rigs)
    }

    @Test func townNames() {
        for good in ["gt", "my-town", "a.b_c", "T1"] { #expect(TownInstaller.isValidName(good), "\(good)") }
        for bad in ["", ".hidden", "-x", "a b", "a/b", "é", String(repeating: "a", count: 65)] {
            #expect(!TownInstaller.isValidName(bad), "\(bad)")
        }
    }
}

/// `TownInstaller` in-process: layout, refusal, no leftovers.
@Suite struct TownInstallerTests {
    @Test func installsIntoAnExistingEmptyDirectoryWithoutLeftovers() throws {
        let temp = try TempDir()
        try TempDir.makeDirectory(temp.join("town"))
        let installer = try TownInstaller(
            directory: temp.join("town"), name: nil, owner: nil, createdAt: "2026-01-01T00:00:00Z")
        let result = try installer.install()
        #expect(result.name == "town")
        #expect(temp.listing().filter { $0.contains("gt-install") }.isEmpty)
        #expect(temp.exists("town/mayor/town.json"))
        #expect(TownInstaller.entries.allSatisfy { temp.exists("town/\($0)") })
    }

    @Test func refusesPartialTownsAndFiles() throws {
        let temp = try TempDir()
        try temp.write("partial/.gt/keep", "x")
        try temp.write("afile", "x")
        let before = temp.listing()
        for dir in ["partial", "afile", "missing-parent/town"] {
            let installer = try TownInstaller(directory: temp.join(dir), name: "n", owner: nil, createdAt: "now")
            #expect(throws: CLIError.self, "\(dir)") { try installer.install() }
        }
        #expect(temp.listing() == before)
    }

    /// A failure at every step of building (and of moving entries into an existing directory) leaves the
    /// directory exactly as it was.
    @Test func failureAtAnyStepLeavesNothing() throws {
        let temp = try TempDir()
        try TempDir.makeDirectory(temp.join("existing"))
        try temp.write("existing/README", "keep me")
        let before = temp.listing()
        var failures = 0
        for target in ["fresh", "existing"] {
            for step in 0..<12 {
                var installer = try TownInstaller(
                    directory: temp.join(target), name: "n", owner: nil, createdAt: "now")
                installer.failAfterSteps = step
                do {
                    _ = try installer.install()
                    // The step count exceeded the steps there are: the install completed; undo it.
                    for entry in TownInstaller.entries {
                        try FileManager.default.removeItem(atPath: temp.join("\(target)/\(entry)"))
                    }
                    if target == "fresh" { try FileManager.default.removeItem(atPath: temp.join(target)) }
                } catch {
                    failures += 1
                    #expect("\(error)".contains("injected failure"), "\(target) step \(step)")
                }
                #expect(temp.listing() == before, "\(target) step \(step)")
            }
        }
        #expect(failures >= 12)
    }
}

/// `town.json` is outside input: mutated bytes of the real sample must decode or throw `CLIError`, never crash.
@Suite struct TownConfigFuzzTests {
    @Test func mutatedTownFilesNeverCrash() throws {
        let sample = try #require(FileManager.default.contents(atPath: TownConfigTests.samplePath))
        var random = ParserFuzzTests.SeededRandom(state: 0x746f_776e)
        var decoded = 0
        var rejected = 0
        for round in 0..<5_000 {
            var bytes = [UInt8](sample)
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                guard !bytes.isEmpty else { break }
                let position = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0: bytes[position] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes.remove(at: position)
                case 2: bytes.insert(Array("{}[]\",:0\\".utf8).randomElement(using: &random)!, at: position)
                default: bytes = Array(bytes.prefix(position))
                }
            }
            if round % 10 == 0 {
                bytes = (0..<Int.random(in: 0..<64, using: &random)).map { _ in .random(in: 0...255, using: &random) }
            }
            do {
                let config = try TownConfig.decode(Data(bytes), path: "fuzz")
                #expect(config.type == "town" && !config.name.isEmpty)
                decoded += 1
            } catch {
                #expect(!error.message.isEmpty)
                rejected += 1
            }
            _ = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))
        }
        #expect(decoded > 0)
        #expect(rejected > 0)
    }
}
