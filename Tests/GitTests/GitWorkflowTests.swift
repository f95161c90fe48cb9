import Foundation
import Testing

@testable import Git

@Suite struct GitWorkflowTests {
    @Test func worktreesAddListRemovePrune() async throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let repo = try await GitRepository.create(at: temp.sub("main"), bare: false)
        let tree = try await repo.writeTree(files: ["src/app.swift": bytes("print(1)\n")])
        let root = try await repo.commit(
            tree: tree, parents: [], message: "root\n", author: testAuthor,
            updateReference: "refs/heads/main")
        let first = try await repo.addWorktree(name: "polecat-1", path: temp.sub("wt1"), newBranch: "work/1", at: root)
        #expect(first.name == "polecat-1" && !first.isLocked && !first.isPrunable)
        #expect(FileManager.default.fileExists(atPath: temp.sub("wt1/src/app.swift")))
        try await repo.addWorktree(name: "polecat-2", path: temp.sub("wt2"), newBranch: "work/2", at: root)
        #expect(try await repo.worktrees().map(\.name) == ["polecat-1", "polecat-2"])
        #expect(try await repo.branches().map(\.name) == ["main", "work/1", "work/2"])

        // The worktree is a repository of its own, on its branch, clean until a file changes.
        let inside = try await GitRepository.open(at: temp.sub("wt1"))
        #expect(try await inside.headBranch() == "work/1")
        #expect(try await inside.isClean())
        try bytes("print(2)\n").write(to: URL(fileURLWithPath: temp.sub("wt1/src/app.swift")))
        #expect(try await inside.dirtyFiles().map(\.path) == ["src/app.swift"])

        do {
            try await repo.removeWorktree("polecat-1")
            Issue.record("removing a dirty worktree must need force")
        } catch {
            #expect(error.kind == .conflict)
            #expect(error.message.contains("src/app.swift"))
        }
        try await repo.removeWorktree("polecat-1", force: true)
        #expect(!FileManager.default.fileExists(atPath: temp.sub("wt1")))
        #expect(try await repo.worktrees().map(\.name) == ["polecat-2"])
        #expect(try await repo.branches().map(\.name).contains("work/1"), "the branch outlives its worktree")

        // A worktree whose directory vanished is pruned.
        try FileManager.default.removeItem(atPath: temp.sub("wt2"))
        #expect(try await repo.worktrees().first?.isPrunable == true)
        #expect(try await repo.pruneWorktrees() == ["polecat-2"])
        #expect(try await repo.worktrees().isEmpty)

        do {
            try await repo.addWorktree(name: "again", path: temp.sub("wt3"), newBranch: "work/2", at: root)
            Issue.record("a worktree on an existing branch name must fail")
        } catch { #expect(error.kind == .alreadyExists) }
        do {
            try await repo.removeWorktree("nope")
            Issue.record("removing an unknown worktree must fail")
        } catch { #expect(error.kind == .notFound || error.kind == .other, "\(error)") }
    }

    @Test func rebaseCleanAndWithConflicts() async throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let repo = try await GitRepository.create(at: temp.sub("r.git"), bare: true)
        let base = try await repo.writeTree(files: [
            "shared.txt": bytes("line 1\nline 2\nline 3\n"),
            "other.txt": bytes("o\n"),
        ])
        let root = try await repo.commit(
            tree: base, parents: [], message: "root\n", author: testAuthor,
            updateReference: "refs/heads/main")
        // main: edits other.txt; feature: two commits adding files.
        let mainTree = try await repo.updateTree(base: root, changes: ["other.txt": bytes("o main\n")])
        let mainTip = try await repo.commit(
            tree: mainTree, parents: [root], message: "main edit\n",
            author: testAuthor, updateReference: "refs/heads/main")
        let f1Tree = try await repo.updateTree(base: root, changes: ["feature/a.txt": bytes("a\n")])
        let f1 = try await repo.commit(tree: f1Tree, parents: [root], message: "feature a\n", author: testAuthor)
        let f2Tree = try await repo.updateTree(base: f1, changes: ["feature/b.txt": bytes("b\n")])
        let f2 = try await repo.commit(tree: f2Tree, parents: [f1], message: "feature b\n", author: testAuthor)
        try await repo.createBranch("feature", at: f2)

        let result = try await repo.rebase("feature", onto: "main", committer: testCommitter)
        guard case .rebased(let head, let commits) = result else {
            Issue.record("expected a clean rebase, got \(result)")
            return
        }
        #expect(commits == 2)
        #expect(try await repo.resolve("feature") == head)
        #expect(try await repo.commitInfo("feature~1").parents == [mainTip])
        #expect(
            try await repo.listFiles(at: "feature") == [
                "feature/a.txt", "feature/b.txt", "other.txt",
                "shared.txt",
            ])
        #expect(try await repo.readFile("other.txt", at: "feature") == bytes("o main\n"))
        #expect(try await repo.commitInfo("feature").author == testAuthor)
        #expect(try await repo.commitInfo("feature").committer == testCommitter)
        #expect(try await repo.rebase("feature", onto: "main", committer: testCommitter) == .upToDate(head: head))

        // Both sides change the same line of shared.txt: the rebase reports the file and moves nothing.
        let mine = try await repo.updateTree(
            base: root,
            changes: [
                "shared.txt": bytes("line 1\nMINE\nline 3\n"),
                "clean.txt": bytes("c\n"),
            ])
        let mineCommit = try await repo.commit(tree: mine, parents: [root], message: "mine\n", author: testAuthor)
        try await repo.createBranch("topic", at: mineCommit)
        let theirs = try await repo.updateTree(
            base: mainTip,
            changes: ["shared.txt": bytes("line 1\nTHEIRS\nline 3\n")])
        _ = try await repo.commit(
            tree: theirs, parents: [mainTip], message: "theirs\n", author: testAuthor,
            updateReference: "refs/heads/main")
        let conflicted = try await repo.rebase("topic", onto: "main", committer: testCommitter)
        #expect(conflicted == .conflicts(commit: mineCommit, files: ["shared.txt"]))
        #expect(try await repo.resolve("topic") == mineCommit)
    }

    @Test func repackPacksLooseObjectsAndKeepsEverythingReadable() async throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let repo = try await GitRepository.create(at: temp.sub("r.git"), bare: true)
        var parent: GitOID?
        var commits: [GitOID] = []
        for index in 0..<60 {
            let tree = try await repo.writeTree(files: [
                "issues.jsonl": bytes(
                    String(
                        repeating: "{\"n\":\(index)}\n",
                        count: 50)),
                "dir/\(index % 7).txt": bytes("\(index)"),
            ])
            parent = try await repo.commit(
                tree: tree, parents: parent.map { [$0] } ?? [], message: "c\(index)\n",
                author: testAuthor, updateReference: "refs/heads/main")
            commits.append(parent!)
        }
        let unreachable = try await repo.writeBlob(bytes("dangling but kept"))
        let looseBefore = await repo.looseObjectCount()
        #expect(looseBefore > 100)
        let first = try await repo.repack()
        #expect(first.objects >= looseBefore)
        #expect(first.looseObjectsRemoved == looseBefore)
        #expect(await repo.looseObjectCount() == 0)
        #expect(first.bytesAfter < first.bytesBefore)

        // A second round after more commits folds the first pack in.
        let tree = try await repo.updateTree(base: parent!, changes: ["late": bytes("late")])
        let late = try await repo.commit(
            tree: tree, parents: [parent!], message: "late\n", author: testAuthor,
            updateReference: "refs/heads/main")
        let second = try await repo.repack()
        #expect(second.packsRemoved == 1)
        #expect(await repo.looseObjectCount() == 0)

        // Every object is still readable, from this handle and from a fresh one.
        let fresh = try await GitRepository.open(at: temp.sub("r.git"))
        for reader in [repo, fresh] {
            #expect(try await reader.commitCount("main") == 61)
            #expect(
                try await reader.readFile("issues.jsonl", at: commits[10].hex)
                    == bytes(String(repeating: "{\"n\":10}\n", count: 50)))
            #expect(try await reader.readFile("late", at: late.hex) == bytes("late"))
            #expect(await reader.contains(unreachable))
        }
        let packs = try FileManager.default.contentsOfDirectory(atPath: temp.sub("r.git/objects/pack"))
        #expect(packs.filter { $0.hasSuffix(".pack") }.count == 1)
    }
}

@Suite struct GitWorkflowMoreTests {
    /// Rebasing the branch a working tree has checked out also updates the files on disk.
    @Test func rebaseOfTheCheckedOutBranchUpdatesTheWorkingTree() async throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let path = temp.sub("work")
        let repo = try await GitRepository.create(at: path, bare: false)
        let base = try await repo.writeTree(files: ["a.txt": bytes("a\n")])
        let root = try await repo.commit(
            tree: base, parents: [], message: "root\n", author: testAuthor,
            updateReference: "refs/heads/main")
        let upstreamTree = try await repo.updateTree(base: root, changes: ["up.txt": bytes("up\n")])
        let upstream = try await repo.commit(tree: upstreamTree, parents: [root], message: "up\n", author: testAuthor)
        try await repo.createBranch("upstream", at: upstream)
        let worktree = try await GitRepository.clone(from: path, to: temp.sub("clone"))
        _ = try await worktree.fetch(from: "origin", refspecs: ["+refs/heads/*:refs/remotes/origin/*"])
        let localTree = try await worktree.updateTree(base: root, changes: ["mine.txt": bytes("mine\n")])
        let local = try await worktree.commit(
            tree: localTree, parents: [root], message: "mine\n",
            author: testAuthor, updateReference: "refs/heads/main")
        // Make the working tree match the new commit first, as a user's commit would.
        try await worktree.checkoutHead(force: true)
        #expect(try await worktree.isClean())
        #expect(FileManager.default.fileExists(atPath: temp.sub("clone/mine.txt")))
        #expect(try await worktree.commitInfo("HEAD").id == local)
        let result = try await worktree.rebase("main", onto: "origin/upstream", committer: testCommitter)
        guard case .rebased = result else {
            Issue.record("expected a rebase, got \(result)")
            return
        }
        #expect(FileManager.default.fileExists(atPath: temp.sub("clone/up.txt")))
        #expect(try await worktree.isClean())
    }

    /// The benchmark functions run (small sizes) and the compare-and-swap push loses nothing in-process too.
    @Test func benchmarksRun() async throws {
        let cas = try await GitBenchmarks.casPushes(writers: 3, each: 15)
        #expect(cas.landed == 45)
        #expect(cas.lost == 0)
        let plain = try await GitBenchmarks.plainPushes(writers: 2, each: 10)
        #expect(plain.landed == 20)
        let repack = try await GitBenchmarks.repackSize(commits: 50)
        #expect(repack.looseAfter == 0 && repack.looseBefore > 50)
    }
}

@Suite struct GitRepackConcurrencyTests {
    /// The Dog repacks the shared remote while writers push to it: nothing landed is lost, every object stays
    /// readable, and `git fsck` is clean at the end.
    @Test func repackWhileWritersPush() async throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let (remote, _) = try await seededRemote(temp)
        let remotePath = temp.sub("remote.git")
        let dog = try await GitRepository.open(at: remotePath)
        let writersDone = SharedCounter()
        let landed = try await withThrowingTaskGroup(of: [GitOID].self) { group in
            for writer in 0..<2 {
                group.addTask {
                    defer { writersDone.add(1) }
                    var settings = GitSettings()
                    settings.loosePushCommitLimit = writer == 0 ? 32 : 0  // writer 0 pushes loose objects, 1 packs
                    let repository = try await GitRepository.create(
                        at: temp.sub("w\(writer).git"), bare: true,
                        settings: settings)
                    var ids: [GitOID] = []
                    _ = try await GitBenchmarks.pushLoop(
                        repository: repository, remote: remotePath, branch: "main",
                        count: 40, tag: "w\(writer)"
                    ) { ids.append($0) }
                    return ids
                }
            }
            group.addTask {
                var repacks = 0
                while writersDone.current < 2 || repacks == 0 {
                    _ = try await dog.repack()
                    repacks += 1
                }
                return []
            }
            var all: [GitOID] = []
            for try await ids in group { all += ids }
            return all
        }
        let history = Set(try await remote.log("main"))
        #expect(landed.count == 80)
        #expect(landed.allSatisfy { history.contains($0) })
        for id in landed { #expect(try await remote.commitInfo(id.hex).id == id) }
        let fsck = try await systemGit(["--git-dir", remotePath, "fsck", "--strict", "--no-dangling"], in: temp.path)
        #expect(fsck.status == 0, "\(fsck.stdout) \(fsck.stderr)")
    }
}
