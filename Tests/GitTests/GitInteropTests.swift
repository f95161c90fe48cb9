import Foundation
import Testing

@testable import Git

@Suite struct GitInteropTests {
    /// The system `git` client, used only as an independent checker, reads the commits we built from memory and
    /// finds the repository sound (`git fsck`) after our repack and after a compare-and-swap push.
    @Test func systemGitReadsOurCommitsAndFsckIsCleanAfterRepack() async throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let path = temp.sub("r.git")
        var settings = GitSettings()
        settings.loosePushCommitLimit = 2  // the first push (5 commits) goes as a pack, the next one loose
        let repo = try await GitRepository.create(at: path, bare: true, settings: settings)
        var parent: GitOID?
        for index in 0..<5 {
            let tree = try await repo.writeTree(files: [
                "issues.jsonl": bytes("{\"id\":\"gt-\(index)\"}\n"),
                "nested/deep/file.txt": bytes("v\(index)\n"),
            ])
            parent = try await repo.commit(
                tree: tree, parents: parent.map { [$0] } ?? [],
                message: "sync batch \(index)\n", author: testAuthor,
                committer: testCommitter, updateReference: "refs/heads/ledger/hq")
        }
        let log = try await systemGit(
            ["--git-dir", path, "log", "--format=%H %an <%ae> %s", "ledger/hq"],
            in: temp.path)
        #expect(log.status == 0, "\(log.stderr)")
        let lines = log.stdout.split(separator: "\n")
        #expect(lines.count == 5)
        #expect(lines.first == "\(parent!.hex) Test Author <author@gastown.invalid> sync batch 4")
        let show = try await systemGit(["--git-dir", path, "show", "ledger/hq:nested/deep/file.txt"], in: temp.path)
        #expect(show.stdout == "v4\n")
        let committer = try await systemGit(
            ["--git-dir", path, "show", "-s", "--format=%cn %ct", "ledger/hq"],
            in: temp.path)
        #expect(committer.stdout == "Test Committer 1700000100\n")

        // Push into a second bare repository with the compare-and-swap push, then repack both.
        let remotePath = temp.sub("remote.git")
        let remote = try await GitRepository.create(at: remotePath, bare: true)
        #expect(try await repo.push(parent!, to: remotePath, branch: "ledger/hq", expecting: nil) == .pushed)
        let packs = try FileManager.default.contentsOfDirectory(atPath: remotePath + "/objects/pack")
        #expect(packs.contains { $0.hasSuffix(".pack") })
        let tree = try await repo.updateTree(base: parent!, changes: ["issues.jsonl": bytes("{\"id\":\"gt-5\"}\n")])
        let next = try await repo.commit(
            tree: tree, parents: [parent!], message: "sync batch 5\n", author: testAuthor,
            updateReference: "refs/heads/ledger/hq")
        #expect(try await repo.push(next, to: remotePath, branch: "ledger/hq", expecting: parent) == .pushed)
        #expect(await remote.looseObjectCount() == 3)  // commit, root tree, blob: nested/ is unchanged
        let before = try await systemGit(["--git-dir", remotePath, "fsck", "--strict", "--no-dangling"], in: temp.path)
        #expect(before.status == 0, "fsck before repack: \(before.stdout) \(before.stderr)")
        _ = try await repo.repack()
        _ = try await remote.repack()
        for checked in [path, remotePath] {
            let fsck = try await systemGit(["--git-dir", checked, "fsck", "--strict", "--no-dangling"], in: temp.path)
            #expect(fsck.status == 0, "fsck \(checked): \(fsck.stdout) \(fsck.stderr)")
            let count = try await systemGit(["--git-dir", checked, "count-objects", "-v"], in: temp.path)
            #expect(count.stdout.contains("count: 0\n"), "no loose objects left: \(count.stdout)")
        }
        let clone = try await systemGit(
            ["clone", "-q", "--branch", "ledger/hq", remotePath, temp.sub("checkout")],
            in: temp.path)
        #expect(clone.status == 0, "\(clone.stderr)")
        #expect(try String(contentsOfFile: temp.sub("checkout/issues.jsonl"), encoding: .utf8) == "{\"id\":\"gt-5\"}\n")
        #expect(try String(contentsOfFile: temp.sub("checkout/nested/deep/file.txt"), encoding: .utf8) == "v4\n")
    }

    /// The compare-and-swap push across processes: 4 child processes (`gt-testhelper cas-push`) × 100 pushes to one
    /// bare path remote, each fetching, committing on top and retrying on rejection. Every commit a child reports
    /// as landed must be in the remote branch's history afterwards: 0 lost.
    @Test func fourProcessesTimesHundredPushesLoseNothing() async throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let helper = buildProductsDirectory() + "/gt-testhelper"
        try #require(FileManager.default.isExecutableFile(atPath: helper), "gt-testhelper not built next to the tests")
        let (remote, root) = try await seededRemote(temp)
        let remotePath = temp.sub("remote.git")
        let processes = 4
        let each = 100
        let outputs = try await withThrowingTaskGroup(of: ProcessOutput.self) { group in
            for writer in 0..<processes {
                group.addTask {
                    try await runProcess(
                        helper,
                        [
                            "cas-push", remotePath, temp.sub("w\(writer).git"), "main",
                            "\(each)", "p\(writer)",
                        ])
                }
            }
            var all: [ProcessOutput] = []
            for try await output in group { all.append(output) }
            return all
        }
        var landed: [GitOID] = []
        for output in outputs {
            #expect(output.status == 0, "child failed: \(output.stderr)")
            let ids = output.stdout.split(separator: "\n").filter { $0.hasPrefix("LANDED ") }
                .compactMap { GitOID(hex: String($0.dropFirst("LANDED ".count))) }
            #expect(ids.count == each)
            landed += ids
        }
        let history = try await remote.log("main")
        let historySet = Set(history)
        let lost = landed.filter { !historySet.contains($0) }
        #expect(landed.count == processes * each)
        #expect(lost.isEmpty, "\(lost.count) landed pushes lost")
        #expect(history.count == processes * each + 1)
        #expect(history.last == root)
        // The final tree holds every writer's every file.
        #expect(try await remote.listFiles(at: "main").count == processes * each + 1)
        let fsck = try await systemGit(["--git-dir", remotePath, "fsck", "--no-dangling"], in: temp.path)
        #expect(fsck.status == 0, "\(fsck.stderr)")
    }
}
