import Foundation
import Testing

@testable import Git

@Suite struct GitRepositoryTests {
    @Test func createCommitAndReadBack() async throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let repo = try await GitRepository.create(at: temp.sub("repo"), bare: false, initialHead: "main")
        #expect(await repo.isBare == false)
        #expect(try await repo.headBranch() == "main")
        #expect(try await repo.resolve("HEAD") == nil)
        #expect(try await repo.commitCount("HEAD") == 0)

        let tree = try await repo.writeTree(files: [
            "README": bytes("hello\n"), "a/b/c.txt": bytes("deep\n"),
            "a/x.txt": bytes("x\n"),
        ])
        let first = try await repo.commit(
            tree: tree, parents: [], message: "first\n", author: testAuthor,
            committer: testCommitter, updateReference: "refs/heads/main")
        #expect(try await repo.resolve("HEAD") == first)
        #expect(try await repo.readFile("a/b/c.txt", at: "main") == bytes("deep\n"))
        #expect(try await repo.readFile("README", at: first.hex) == bytes("hello\n"))
        #expect(try await repo.readFile("missing", at: "main") == nil)
        #expect(try await repo.readFile("a", at: "main") == nil)
        #expect(try await repo.listFiles(at: "main") == ["README", "a/b/c.txt", "a/x.txt"])
        let blob = try #require(try await repo.blobID("a/b/c.txt", at: "main"))
        #expect(try await repo.readBlob(blob) == bytes("deep\n"))
        #expect(try await repo.blobID("a/b", at: "main") == nil)
        #expect(try await repo.blobID("nope", at: "main") == nil)
        await #expect(throws: GitError.self) { _ = try await repo.readBlob(tree) }
        await #expect(throws: GitError.self) {
            _ = try await repo.readBlob(GitOID(hex: String(repeating: "0", count: 40))!)
        }

        let info = try await repo.commitInfo("main")
        #expect(info.id == first && info.tree == tree && info.parents.isEmpty)
        #expect(info.message == "first\n" && info.author == testAuthor && info.committer == testCommitter)

        // A side branch and a merge commit with two parents.
        let sideTree = try await repo.updateTree(base: first, changes: ["a/b/c.txt": nil, "side.txt": bytes("s")])
        let side = try await repo.commit(tree: sideTree, parents: [first], message: "side\n", author: testAuthor)
        try await repo.createBranch("side", at: side)
        let mainTree = try await repo.updateTree(base: first, changes: ["main.txt": bytes("m")])
        let second = try await repo.commit(
            tree: mainTree, parents: [first], message: "second\n", author: testAuthor,
            updateReference: "refs/heads/main")
        let mergedTree = try await repo.writeTree(files: ["README": bytes("hello\n"), "merged": bytes("both")])
        let merge = try await repo.commit(
            tree: mergedTree, parents: [second, side], message: "merge\n",
            author: testAuthor, updateReference: "refs/heads/main")
        #expect(try await repo.commitInfo("main").parents == [second, side])
        #expect(try await repo.commitCount("main") == 4)
        #expect(try await repo.log("main", limit: 2).first == merge)
        #expect(try await repo.mergeBase(second, side) == first)
        #expect(try await repo.isDescendant(merge, of: side))
        #expect(try await repo.isDescendant(side, of: second) == false)
        #expect(try await repo.listFiles(at: "side") == ["README", "a/x.txt", "side.txt"])
        let branches = try await repo.branches().map(\.name)
        #expect(branches == ["main", "side"])

        // A commit that names a reference moves it only from its first parent.
        await #expect(throws: GitError.self) {
            _ = try await repo.commit(
                tree: tree, parents: [first], message: "stale\n", author: testAuthor,
                updateReference: "refs/heads/main")
        }
        #expect(try await repo.resolve("main") == merge)
    }

    @Test func bareRepositoryAndTypedErrors() async throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let repo = try await GitRepository.create(at: temp.sub("bare.git"), bare: true, initialHead: "trunk")
        #expect(await repo.isBare)
        #expect(try await repo.headBranch() == "trunk")
        do {
            _ = try await GitRepository.create(at: temp.sub("bare.git"), bare: true)
            Issue.record("creating over a repository must fail")
        } catch { #expect(error.kind == .alreadyExists) }
        do {
            _ = try await GitRepository.open(at: temp.path)
            Issue.record("opening a plain directory must fail")
        } catch {
            #expect(error.kind == .notARepository)
            #expect(error.repository == temp.path)
            #expect(error.description.contains("open"))
        }
        for bad in ["", "/abs", "a//b", "a/../b", "./a", ".git/config"] {
            do {
                _ = try await repo.writeTree(files: [bad: bytes("x")])
                Issue.record("path \(bad) must be refused")
            } catch { #expect(error.kind == .invalidInput) }
        }
        do {
            _ = try await repo.writeTree(files: ["a": bytes("file"), "a/b": bytes("dir")])
            Issue.record("file/directory clash must be refused")
        } catch { #expect(error.kind == .invalidInput) }
        do {
            _ = try await repo.readFile("x", at: "nope")
            Issue.record("unknown revision must fail")
        } catch { #expect(error.kind == .notFound) }
        do {
            _ = try await repo.dirtyFiles()
            Issue.record("status of a bare repository must fail")
        } catch { #expect(error.kind == .invalidInput) }
        let tree = try await repo.writeTree(files: [:])
        do {
            _ = try await repo.commit(tree: tree, parents: [], message: "", author: testAuthor)
            Issue.record("empty message must be refused")
        } catch { #expect(error.kind == .invalidInput) }
    }

    @Test func referenceCompareAndSwap() async throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let repo = try await GitRepository.create(at: temp.sub("r.git"), bare: true)
        let tree = try await repo.writeTree(files: ["f": bytes("1")])
        let one = try await repo.commit(tree: tree, parents: [], message: "1\n", author: testAuthor)
        let two = try await repo.commit(tree: tree, parents: [one], message: "2\n", author: testAuthor)
        #expect(try await repo.updateReference("refs/heads/x", to: one, expecting: nil) == .updated)
        #expect(try await repo.updateReference("refs/heads/x", to: two, expecting: nil) == .stale(current: one))
        #expect(try await repo.updateReference("refs/heads/x", to: two, expecting: two) == .stale(current: one))
        #expect(try await repo.updateReference("refs/heads/x", to: two, expecting: one) == .updated)
        #expect(try await repo.updateReference("refs/heads/y", to: two, expecting: one) == .stale(current: nil))
        try await repo.deleteReference("refs/heads/x")
        try await repo.deleteReference("refs/heads/x")
        #expect(try await repo.referenceTarget("refs/heads/x") == nil)
    }

    @Test func workingTreeStatus() async throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let path = temp.sub("work")
        let repo = try await GitRepository.create(at: path, bare: false)
        #expect(try await repo.isClean())
        try bytes("new").write(to: URL(fileURLWithPath: path + "/untracked.txt"))
        try FileManager.default.createDirectory(atPath: path + "/dir", withIntermediateDirectories: true)
        try bytes("n").write(to: URL(fileURLWithPath: path + "/dir/nested.txt"))
        let dirty = try await repo.dirtyFiles()
        #expect(dirty.map(\.path) == ["dir/nested.txt", "untracked.txt"])
        #expect(dirty.allSatisfy { $0.isUntracked })
        #expect(try await repo.isClean() == false)
    }

    @Test func objectIDParsingSurvivesRandomInput() {
        var generator = SystemRandomNumberGenerator()
        var seeded = SeededGenerator(seed: 0x5eed)
        let alphabet = Array("0123456789abcdefABCDEFxyz -\u{0}é")
        for _ in 0..<5_000 {
            let length = Int.random(in: 0...44, using: &seeded)
            let text = String((0..<length).map { _ in alphabet.randomElement(using: &seeded)! })
            if let oid = GitOID(hex: text) {
                #expect(oid.hex == text.lowercased())
            }
        }
        for _ in 0..<200 {
            let raw = (0..<20).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let oid = GitOID(bytes: raw)!
            #expect(GitOID(hex: oid.hex) == oid)
            #expect(GitOID(oid.raw) == oid)
        }
        #expect(GitOID(bytes: [1, 2, 3]) == nil)
        #expect(GitRemoteURL.isLocal("/srv/x.git") && GitRemoteURL.isLocal("file:///srv/x"))
        #expect(GitRemoteURL.isLocal("relative/x"))
        #expect(!GitRemoteURL.isLocal("git@host:x.git") && !GitRemoteURL.isLocal("https://h/x"))
        #expect(GitRemoteURL.localPath("file:///srv/a%20b") == "/srv/a b")
    }
}

/// A small deterministic generator (SplitMix64) for fuzz-style tests.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct GitFuzzTests {
    /// Random and mutated paths, refspecs and remote strings give a result or a `GitError`, never a crash.
    @Test(arguments: [1, 2, 3])
    func randomInputsNeverCrash(seed: UInt64) async throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let (_, root) = try await seededRemote(temp)
        let repo = try await GitRepository.clone(from: temp.sub("remote.git"), to: temp.sub("l.git"), bare: true)
        var random = SeededGenerator(seed: seed)
        let alphabet = Array("ab/.:*+^~?[]\\ -_@{}\u{0}é\n")
        func randomString(_ maxLength: Int) -> String {
            String(
                (0..<Int.random(in: 0...maxLength, using: &random)).map { _ in alphabet.randomElement(using: &random)! }
            )
        }
        for _ in 0..<150 {
            let path = randomString(12)
            do {
                let tree = try await repo.writeTree(files: [path: bytes("x"), "keep": bytes("k")])
                #expect(try await repo.updateTree(base: tree, changes: [path: nil]) != tree || path == "keep")
            } catch {
                #expect(error.kind == .invalidInput || error.kind == .other, "\(path.debugDescription): \(error)")
            }
        }
        let valid = "+refs/heads/main:refs/remotes/x/main"
        for _ in 0..<60 {
            var spec = Array(valid)
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let index = Int.random(in: 0..<spec.count, using: &random)
                spec[index] = alphabet.randomElement(using: &random)!
            }
            do {
                _ = try await repo.fetch(from: temp.sub("remote.git"), refspecs: [String(spec)])
            } catch {
                #expect(!error.message.isEmpty)
            }
            let revision = randomString(10)
            do { _ = try await repo.resolve(revision) } catch { #expect(!error.message.isEmpty) }
            do { _ = try await repo.readFile(randomString(8), at: revision) } catch { #expect(!error.message.isEmpty) }
        }
        for _ in 0..<60 {
            // Local-looking garbage only: nothing here may reach for the network.
            let url = "/" + randomString(16).replacingOccurrences(of: ":", with: "")
            _ = GitRemoteURL.isLocal(url)
            do {
                _ = try await repo.push(root, to: url, branch: "main", expecting: nil)
            } catch {
                #expect([.unreachable, .notARepository, .invalidInput, .other].contains(error.kind), "\(error)")
            }
        }
        #expect(try await repo.resolve("refs/remotes/origin/main") == root)
    }
}
