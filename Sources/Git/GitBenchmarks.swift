import Foundation

/// Benchmarks of the `Git` module for `gt-bench`, and the push loop the multi-process test's children run.
///
/// Sendable: a namespace with no state.
public enum GitBenchmarks {
    /// Figures from `casPushes(writers:each:)` and `plainPushes(writers:each:)`.
    public struct PushFigures: Sendable, CustomStringConvertible {
        /// Pushes reported as landed.
        public let landed: Int
        /// Landed pushes missing from the remote branch's history afterwards (must be 0 for ours).
        public let lost: Int
        /// Pushes rejected (and retried) because another writer moved the branch first.
        public let rejections: Int
        /// Wall time of the whole run, in seconds.
        public let seconds: Double
        /// Landed pushes per second.
        public var pushesPerSecond: Double { seconds > 0 ? Double(landed) / seconds : 0 }

        public var description: String {
            String(
                format: "%d landed, %d lost, %d rejections, %.1f pushes/s", landed, lost, rejections,
                pushesPerSecond)
        }
    }

    /// The fetch → commit on top → compare-and-swap push → retry loop one writer runs: `count` commits, each
    /// adding the file `writes/<tag>-<n>`, pushed to `branch` of `remote`. Calls `onLanded` with each commit id
    /// once its push landed. Returns the number of rejections (retries).
    public static func pushLoop(
        repository: GitRepository, remote: String, branch: String, count: Int, tag: String,
        onLanded: (GitOID) -> Void
    ) async throws(GitError) -> Int {
        var rejections = 0
        var landed = 0
        let tracking = "refs/remotes/bench/\(branch)"
        let signature = GitSignature(name: "writer \(tag)", email: "\(tag)@gastown.invalid", time: 1_700_000_000)
        while landed < count {
            _ = try await repository.fetch(from: remote, refspecs: ["+refs/heads/\(branch):\(tracking)"])
            let tip = try await repository.referenceTarget(tracking)
            let commit = try await writeCommit(repository, on: tip, tag: tag, number: landed, author: signature)
            switch try await repository.push(commit, to: remote, branch: branch, expecting: tip) {
            case .pushed:
                landed += 1
                onLanded(commit)
            case .rejected:
                rejections += 1
            }
        }
        return rejections
    }

    /// `writers` concurrent writers (each its own repository, actor and git thread) push `each` commits to one
    /// bare path remote with the compare-and-swap push; then counts how many landed pushes the remote lost.
    public static func casPushes(writers: Int = 4, each: Int = 100) async throws -> PushFigures {
        try await runWriters(writers: writers, each: each, plain: false)
    }

    /// The same run with libgit2's own `git_remote_push` (for comparison: it loses concurrent pushes).
    public static func plainPushes(writers: Int = 4, each: Int = 100) async throws -> PushFigures {
        try await runWriters(writers: writers, each: each, plain: true)
    }

    private static func runWriters(writers: Int, each: Int, plain: Bool) async throws -> PushFigures {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("gt-git-bench-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let remotePath = root + "/remote.git"
        let remote = try await GitRepository.create(at: remotePath, bare: true)
        let start = Date()
        let results = try await withThrowingTaskGroup(of: (landed: [GitOID], rejections: Int).self) { group in
            for writer in 0..<writers {
                group.addTask {
                    let repository = try await GitRepository.create(at: root + "/w\(writer)", bare: true)
                    var landed: [GitOID] = []
                    if plain {
                        let rejections = try await plainLoop(
                            repository, remote: remotePath, count: each,
                            tag: "w\(writer)"
                        ) { landed.append($0) }
                        return (landed, rejections)
                    }
                    let rejections = try await pushLoop(
                        repository: repository, remote: remotePath, branch: "main",
                        count: each, tag: "w\(writer)"
                    ) { landed.append($0) }
                    return (landed, rejections)
                }
            }
            var all: [(landed: [GitOID], rejections: Int)] = []
            for try await result in group { all.append(result) }
            return all
        }
        let seconds = Date().timeIntervalSince(start)
        let history = Set(try await remote.log("refs/heads/main"))
        let landed = results.flatMap(\.landed)
        return PushFigures(
            landed: landed.count, lost: landed.filter { !history.contains($0) }.count,
            rejections: results.map(\.rejections).reduce(0, +), seconds: seconds)
    }

    /// Commits the file `writes/<tag>-<number>` on top of `tip` (or as a root commit): one writer's next write.
    private static func writeCommit(
        _ repository: GitRepository, on tip: GitOID?, tag: String, number: Int, author: GitSignature
    ) async throws(GitError) -> GitOID {
        let path = "writes/\(tag)-\(number)"
        let content = Data("\(tag) \(number)\n".utf8)
        let tree =
            if let tip {
                try await repository.updateTree(base: tip, changes: [path: content])
            } else {
                try await repository.writeTree(files: [path: content])
            }
        return try await repository.commit(
            tree: tree, parents: tip.map { [$0] } ?? [], message: "\(tag) write \(number)\n", author: author)
    }

    private static func plainLoop(
        _ repository: GitRepository, remote: String, count: Int, tag: String,
        onLanded: (GitOID) -> Void
    ) async throws(GitError) -> Int {
        var rejections = 0
        var landed = 0
        let signature = GitSignature(name: "writer \(tag)", email: "\(tag)@gastown.invalid", time: 1_700_000_000)
        while landed < count {
            _ = try await repository.fetch(from: remote, refspecs: ["+refs/heads/main:refs/remotes/bench/main"])
            let tip = try await repository.referenceTarget("refs/remotes/bench/main")
            let commit = try await writeCommit(repository, on: tip, tag: tag, number: landed, author: signature)
            if try await repository.libgit2Push(commit, to: remote, branch: "main") {
                landed += 1
                onLanded(commit)
            } else {
                rejections += 1
            }
        }
        return rejections
    }

    /// Figures from `repackSize(commits:)`.
    public struct RepackFigures: Sendable, CustomStringConvertible {
        /// Commits written before the repack (one file changed per commit, in a tree of `files` files).
        public let commits: Int
        /// Disk space used by `objects/` before and after, in bytes.
        public let bytesBefore: Int, bytesAfter: Int
        /// Loose objects before and after.
        public let looseBefore: Int, looseAfter: Int
        /// Wall time of the repack, in seconds.
        public let seconds: Double

        public var description: String {
            "\(commits) commits: \(bytesBefore) → \(bytesAfter) bytes, loose \(looseBefore) → \(looseAfter), "
                + String(format: "repack %.3f s", seconds)
        }
    }

    /// Writes `commits` commits (each changing one line of a 1,000-line JSONL file) into a fresh bare
    /// repository, then repacks it and reports the sizes.
    public static func repackSize(commits: Int = 1_000) async throws -> RepackFigures {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("gt-git-repack-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let repository = try await GitRepository.create(at: root, bare: true)
        var lines = (0..<1_000).map { "{\"id\":\"gt-\($0)\",\"title\":\"bead \($0)\",\"status\":\"open\"}" }
        let signature = GitSignature(name: "bench", email: "bench@gastown.invalid", time: 1_700_000_000)
        var parent: GitOID?
        for index in 0..<commits {
            lines[index % lines.count] = "{\"id\":\"gt-\(index % lines.count)\",\"title\":\"edit \(index)\"}"
            let tree = try await repository.writeTree(files: ["issues.jsonl": Data(lines.joined(separator: "\n").utf8)])
            parent = try await repository.commit(
                tree: tree, parents: parent.map { [$0] } ?? [],
                message: "batch \(index)\n", author: signature,
                updateReference: "refs/heads/main")
        }
        let looseBefore = await repository.looseObjectCount()
        let start = Date()
        let result = try await repository.repack()
        let seconds = Date().timeIntervalSince(start)
        return RepackFigures(
            commits: commits, bytesBefore: result.bytesBefore, bytesAfter: result.bytesAfter,
            looseBefore: looseBefore, looseAfter: await repository.looseObjectCount(),
            seconds: seconds)
    }
}
