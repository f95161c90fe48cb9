import CGit2
import Foundation
import Testing

@testable import Git

/// A bare remote with one commit on `main`, made through our API.
func seededRemote(_ temp: TempDirectory, name: String = "remote.git") async throws -> (GitRepository, GitOID) {
    let remote = try await GitRepository.create(at: temp.sub(name), bare: true)
    let tree = try await remote.writeTree(files: ["issues.jsonl": bytes("{\"id\":\"gt-1\"}\n")])
    let root = try await remote.commit(
        tree: tree, parents: [], message: "root\n", author: testAuthor,
        updateReference: "refs/heads/main")
    return (remote, root)
}

@Suite struct GitRemoteTests {
    @Test func cloneByPathAndFileURLThenFetchAndPrune() async throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let (remote, root) = try await seededRemote(temp)
        _ = try await remote.updateReference("refs/heads/extra", to: root, expecting: nil)

        let byPath = try await GitRepository.clone(from: temp.sub("remote.git"), to: temp.sub("clone"))
        #expect(try await byPath.resolve("HEAD") == root)
        #expect(try await byPath.readFile("issues.jsonl", at: "origin/main") == bytes("{\"id\":\"gt-1\"}\n"))
        #expect(FileManager.default.fileExists(atPath: temp.sub("clone/issues.jsonl")))
        #expect(try await byPath.remotes().map(\.name) == ["origin"])
        #expect(try await byPath.branches(.remote).map(\.name).contains("origin/extra"))

        let byURL = try await GitRepository.clone(
            from: "file://" + temp.sub("remote.git"), to: temp.sub("c.git"),
            bare: true)
        #expect(await byURL.isBare)
        #expect(try await byURL.resolve("refs/heads/main") == root)

        // The remote moves on and loses a branch: fetch brings the new commit, prune drops the stale branch.
        let tree = try await remote.updateTree(base: root, changes: ["second": bytes("2")])
        let next = try await remote.commit(
            tree: tree, parents: [root], message: "next\n", author: testAuthor,
            updateReference: "refs/heads/main")
        try await remote.deleteReference("refs/heads/extra")
        let fetched = try await byPath.fetch(from: "origin", prune: true)
        #expect(fetched.updatedTips.contains { $0.reference == "refs/remotes/origin/main" && $0.new == next })
        #expect(try await byPath.resolve("refs/remotes/origin/main") == next)
        #expect(try await byPath.referenceTarget("refs/remotes/origin/extra") == nil)

        // Fetch by URL with an explicit refspec.
        _ = try await byURL.fetch(from: temp.sub("remote.git"), refspecs: ["+refs/heads/main:refs/remotes/r/main"])
        #expect(try await byURL.referenceTarget("refs/remotes/r/main") == next)
        #expect(try await byURL.readFile("second", at: "refs/remotes/r/main") == bytes("2"))
    }

    /// A push killed while it held the remote's ref lock leaves `refs/heads/main.lock` behind; a lock that old is
    /// stale and the next push removes it instead of failing for good. A lock a live writer just took is left alone.
    @Test func staleRefLockLeftByAKilledPushIsBroken() async throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let (_, root) = try await seededRemote(temp)
        var settings = GitSettings()
        settings.refLockRetries = 5
        settings.staleRefLockAge = .milliseconds(300)
        let local = try await GitRepository.clone(
            from: "file://" + temp.sub("remote.git"), to: temp.sub("l.git"), bare: true, settings: settings)
        let lock = temp.sub("remote.git") + "/refs/heads/main.lock"
        #expect(FileManager.default.createFile(atPath: lock, contents: Data()))
        let tree = try await local.updateTree(base: root, changes: ["a": bytes("a")])
        let mine = try await local.commit(tree: tree, parents: [root], message: "mine\n", author: testAuthor)
        #expect(try await local.push(mine, to: "origin", branch: "main", expecting: root) == .pushed)
        #expect(!FileManager.default.fileExists(atPath: lock))
        // A lock that is replaced while we wait belongs to a live writer: it is not removed.
        #expect(FileManager.default.createFile(atPath: lock, contents: Data()))
        let waiter = Task.detached { GitRepository.breakStaleLock(at: lock, olderThan: .milliseconds(400)) }
        try await Task.sleep(for: .milliseconds(100))
        try FileManager.default.removeItem(atPath: lock)
        #expect(FileManager.default.createFile(atPath: lock, contents: Data("live".utf8)))
        #expect(await waiter.value == false)
        #expect(FileManager.default.fileExists(atPath: lock))
    }

    /// A fetch (or branch move) killed while it held a local ref lock leaves `refs/remotes/…/x.lock` behind; once
    /// stale the next fetch breaks it instead of failing "failed to lock file" for good (issue 10: the flaky
    /// killedSyncsLoseNothing).
    @Test func staleLocalRefLockLeftByAKilledFetchIsBroken() async throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let (remote, root) = try await seededRemote(temp)
        var settings = GitSettings()
        settings.refLockRetries = 5
        settings.staleRefLockAge = .milliseconds(300)
        let local = try await GitRepository.create(at: temp.sub("l.git"), bare: true, settings: settings)
        let spec = "+refs/heads/*:refs/remotes/origin/ledger/*"
        _ = try await local.fetch(from: temp.sub("remote.git"), refspecs: [spec], prune: true)
        #expect(try await local.referenceTarget("refs/remotes/origin/ledger/main") == root)
        let lock = temp.sub("l.git") + "/refs/remotes/origin/ledger/main.lock"
        #expect(FileManager.default.createFile(atPath: lock, contents: Data()))
        let tree = try await remote.updateTree(base: root, changes: ["b": bytes("b")])
        let next = try await remote.commit(
            tree: tree, parents: [root], message: "next\n", author: testAuthor, updateReference: "refs/heads/main")
        _ = try await local.fetch(from: temp.sub("remote.git"), refspecs: [spec], prune: true)
        #expect(try await local.referenceTarget("refs/remotes/origin/ledger/main") == next)
        #expect(!FileManager.default.fileExists(atPath: lock))
        // The same for a local branch moved by createBranch.
        _ = try await local.fetch(from: temp.sub("remote.git"), refspecs: ["+refs/heads/main:refs/heads/main"])
        let branchLock = temp.sub("l.git") + "/refs/heads/ledger/t.lock"
        try await local.createBranch("ledger/t", at: root)
        #expect(FileManager.default.createFile(atPath: branchLock, contents: Data()))
        try await local.createBranch("ledger/t", at: next, force: true)
        #expect(try await local.referenceTarget("refs/heads/ledger/t") == next)
        #expect(GitRepository.fetchDestinations([spec, "refs/heads/a:refs/x/a"]) == ["refs/remotes/origin/ledger/", "refs/x/a"])
    }

    @Test func compareAndSwapPushToPathRemote() async throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let (remote, root) = try await seededRemote(temp)
        let local = try await GitRepository.clone(
            from: "file://" + temp.sub("remote.git"), to: temp.sub("l.git"),
            bare: true)
        let tree = try await local.updateTree(base: root, changes: ["a": bytes("a"), "dir/b": bytes("b")])
        let mine = try await local.commit(tree: tree, parents: [root], message: "mine\n", author: testAuthor)
        // Someone else lands first.
        let theirsTree = try await remote.updateTree(base: root, changes: ["t": bytes("t")])
        let theirs = try await remote.commit(
            tree: theirsTree, parents: [root], message: "theirs\n",
            author: testAuthor, updateReference: "refs/heads/main")
        let stale = try await local.push(mine, to: "origin", branch: "main", expecting: root)
        guard case .rejected(let current, _) = stale else {
            Issue.record("a push expecting a moved branch must be rejected, got \(stale)")
            return
        }
        #expect(current == theirs)
        #expect(try await remote.resolve("main") == theirs)
        #expect(await remote.contains(mine))  // objects were copied; the branch was not moved

        // Fetch, merge (both parents), push again: lands.
        _ = try await local.fetch(from: "origin")
        let mergedTree = try await local.updateTree(base: theirs, changes: ["a": bytes("a"), "dir/b": bytes("b")])
        let merge = try await local.commit(
            tree: mergedTree, parents: [theirs, mine], message: "merge\n",
            author: testAuthor)
        #expect(try await local.push(merge, to: "origin", branch: "main", expecting: theirs) == .pushed)
        #expect(try await remote.resolve("main") == merge)
        #expect(try await remote.readFile("dir/b", at: "main") == bytes("b"))
        #expect(try await remote.commitCount("main") == 4)

        // A new branch: expected nil means "must not exist yet".
        #expect(try await local.push(mine, to: temp.sub("remote.git"), branch: "feature", expecting: nil) == .pushed)
        let again = try await local.push(merge, to: temp.sub("remote.git"), branch: "feature", expecting: nil)
        #expect(again == .rejected(current: mine, reason: "refs/heads/feature is at \(mine.hex), not nothing"))

        // Not a fast-forward of the expected value: refused before touching the remote.
        do {
            _ = try await local.push(mine, to: "origin", branch: "main", expecting: merge)
            Issue.record("a non-fast-forward push must be refused")
        } catch { #expect(error.kind == .nonFastForward) }
        #expect(try await remote.resolve("main") == merge)
    }

    /// Why the compare-and-swap push exists: libgit2's own push to a path remote reads the remote's refs when it
    /// connects and force-writes the branch at the end, so a push that lands in between is lost although both
    /// were reported successful. Made deterministic by landing the other push from libgit2's `push_negotiation`
    /// callback, which runs after the refs were read and before the ref is written.
    @Test func libgit2PlainPushLosesAConcurrentUpdate() async throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let (_, root) = try await seededRemote(temp)
        let remotePath = temp.sub("remote.git")
        let local = try await GitRepository.clone(from: remotePath, to: temp.sub("l.git"), bare: true)
        let tree = try await local.updateTree(base: root, changes: ["mine": bytes("m")])
        let mine = try await local.commit(tree: tree, parents: [root], message: "mine\n", author: testAuthor)

        let other = try await GitRepository.clone(from: remotePath, to: temp.sub("o.git"), bare: true)
        let otherTree = try await other.updateTree(base: root, changes: ["other": bytes("o")])
        let theirs = try await other.commit(tree: otherTree, parents: [root], message: "theirs\n", author: testAuthor)
        #expect(try await other.push(theirs, to: remotePath, branch: "main", expecting: root) == .pushed)
        // Reset the remote so both start from root; the other push re-lands during our libgit2 push.
        let remoteRepo = try await GitRepository.open(at: remotePath)
        #expect(try await remoteRepo.updateReference("refs/heads/main", to: root, expecting: theirs) == .updated)

        let reported = try await local.libgit2Push(mine, to: remotePath, branch: "main") {
            // The concurrent writer lands its commit (a compare-and-swap that succeeds: root → theirs).
            let handle = try? GitRepository.openHandle(remotePath, operation: "concurrent push")
            guard let handle else { return }
            defer { git_repository_free(handle) }
            _ = try? GitRepository.compareAndSwap(
                handle, "refs/heads/main", to: theirs, expecting: root,
                message: "concurrent", repository: remotePath,
                settings: GitSettings())
        }
        #expect(reported, "libgit2 reports the push as successful")
        let history = try await remoteRepo.log("main")
        #expect(history.contains(mine))
        #expect(!history.contains(theirs), "the concurrent push that landed in between was overwritten")

        // Ours, in the same situation, refuses instead of overwriting.
        #expect(try await remoteRepo.updateReference("refs/heads/main", to: root, expecting: mine) == .updated)
        let tree2 = try await local.updateTree(base: root, changes: ["mine2": bytes("m2")])
        let mine2 = try await local.commit(tree: tree2, parents: [root], message: "mine2\n", author: testAuthor)
        #expect(try await remoteRepo.updateReference("refs/heads/main", to: theirs, expecting: root) == .updated)
        let outcome = try await local.push(mine2, to: remotePath, branch: "main", expecting: root)
        #expect(outcome == .rejected(current: theirs, reason: "refs/heads/main is at \(theirs.hex), not \(root.hex)"))
    }

    @Test func badRemotesGiveClearTypedErrors() async throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let (_, root) = try await seededRemote(temp)
        let local = try await GitRepository.clone(from: temp.sub("remote.git"), to: temp.sub("l.git"), bare: true)
        try FileManager.default.createDirectory(atPath: temp.sub("plain"), withIntermediateDirectories: true)

        for (url, kind) in [
            (temp.sub("missing"), GitError.Kind.unreachable),
            ("file://" + temp.sub("missing"), .unreachable),
            (temp.sub("plain"), .notARepository),
        ] {
            do {
                _ = try await local.fetch(from: url, refspecs: ["+refs/heads/*:refs/remotes/x/*"])
                Issue.record("fetch from \(url) must fail")
            } catch {
                #expect(error.kind == kind, "\(url): \(error)")
                #expect(error.description.contains(url) || error.description.contains("missing"))
            }
            do {
                _ = try await local.push(root, to: url, branch: "main", expecting: nil)
                Issue.record("push to \(url) must fail")
            } catch { #expect(error.kind == kind, "\(url): \(error)") }
            do {
                _ = try await GitRepository.clone(from: url, to: temp.sub("c-\(UUID())"))
                Issue.record("clone of \(url) must fail")
            } catch { #expect(error.kind == .notARepository || error.kind == kind, "\(url): \(error)") }
        }
        // Nothing listens on port 1: the network transports report the remote as unreachable.
        for url in ["ssh://git@127.0.0.1:1/x.git", "http://127.0.0.1:1/x.git", "git://127.0.0.1:1/x.git"] {
            do {
                _ = try await local.fetch(from: url, refspecs: ["+refs/heads/*:refs/remotes/x/*"])
                Issue.record("fetch from \(url) must fail")
            } catch { #expect(error.kind == .unreachable, "\(url): \(error)") }
            do {
                _ = try await local.push(root, to: url, branch: "main", expecting: nil)
                Issue.record("push to \(url) must fail")
            } catch { #expect(error.kind == .unreachable, "\(url): \(error)") }
        }
        do {
            _ = try await local.fetch(from: "no-such-remote")
            Issue.record("an unknown remote name must fail")
        } catch { #expect(error.kind == .unreachable || error.kind == .notARepository, "\(error)") }
        do {
            try await local.addRemote("origin", url: "/elsewhere")
            Issue.record("a duplicate remote must fail")
        } catch { #expect(error.kind == .alreadyExists) }
        do {
            _ = try await local.fetch(from: temp.sub("remote.git"))
            Issue.record("a fetch from a URL without refspecs must be refused")
        } catch { #expect(error.kind == .invalidInput, "\(error)") }
        do {
            _ = try await local.fetch(from: "foo://host/x.git", refspecs: ["+refs/heads/*:refs/remotes/x/*"])
            Issue.record("an unknown URL scheme must fail")
        } catch { #expect(error.kind == .invalidInput, "\(error)") }
        // A non-bare remote refuses a push to its checked-out branch (as git's receive.denyCurrentBranch).
        let nonBare = try await GitRepository.create(at: temp.sub("nonbare"), bare: false)
        let tree = try await nonBare.writeTree(files: ["f": bytes("f")])
        _ = try await nonBare.commit(
            tree: tree, parents: [], message: "root\n", author: testAuthor, updateReference: "refs/heads/main")
        do {
            _ = try await local.push(root, to: temp.sub("nonbare"), branch: "main", expecting: nil)
            Issue.record("a push to a checked-out branch must be refused")
        } catch {
            #expect(error.kind == .pushRefused)
            #expect(error.message.contains("checked out"))
        }
        #expect(try await local.push(root, to: temp.sub("nonbare"), branch: "other", expecting: nil) == .pushed)
        // A commit the local repository does not have cannot be pushed.
        let unknown = GitOID(hex: String(repeating: "ab", count: 20))!
        do {
            _ = try await local.push(unknown, to: "origin", branch: "main", expecting: root)
            Issue.record("pushing an unknown commit must fail")
        } catch { #expect(error.kind == .notFound) }
    }
}

/// Credentials in remote URLs never reach output (issue 10).
@Suite struct RemoteURLRedactionTests {
    @Test func credentialsAreRedacted() {
        let cases: [(String, String)] = [
            ("https://alice:s3cret@host/x.git", "https://alice:***@host/x.git"),
            ("https://ghp_0123456789abcdefghij@github.com/o/r.git", "https://***@github.com/o/r.git"),
            ("https://ghp_0123456789abcdefghij:x-oauth-basic@github.com/r", "https://***:***@github.com/r"),
            ("ssh://git:pw@host:22/r.git", "ssh://git:***@host:22/r.git"),
            ("ssh://git@host/r.git", "ssh://git@host/r.git"),
            ("git@github.com:o/r.git", "git@github.com:o/r.git"),
            ("/srv/ledger.git", "/srv/ledger.git"),
            ("file:///srv/a@b/ledger.git", "file:///srv/a@b/ledger.git"),
            ("https://host/path@x", "https://host/path@x"),
        ]
        for (url, expected) in cases { #expect(GitRemoteURL.redacted(url) == expected, "\(url)") }
        let url = "https://alice:p%40ssw0rd@host/x.git"
        let message = "failed to connect to alice:p%40ssw0rd@host; auth p@ssw0rd refused for \(url)"
        let redacted = GitRemoteURL.redacting(message, url: url)
        #expect(!redacted.contains("p%40ssw0rd") && !redacted.contains("p@ssw0rd"), "\(redacted)")
        #expect(redacted.contains("https://alice:***@host/x.git"))
        #expect(GitRemoteURL.redacting("plain text", url: "/srv/x") == "plain text")
    }
}
