import Beads
import Foundation
import Git
import LedgerStore

/// What `gt done` did. `Sendable`: a plain value.
public struct DoneResult: Sendable, Codable, Equatable {
    public var bead: String
    public var epoch: Int
    public var branch: String
    public var commit: String
    public var mergeRequest: String
    /// The steps this run carried out (a resumed run lists only the rest; an already finished one, none).
    public var stepsRun: [String]

    enum CodingKeys: String, CodingKey {
        case bead, epoch, branch, commit
        case mergeRequest = "merge_request"
        case stepsRun = "steps_run"
    }
}

extension TownWorkflow {
    /// `gt done` in the worktree enclosing `directory`: checks it is clean (else `.dirtyWorktree` listing the
    /// files, nothing changed), then runs the steps of `DoneProgress`, recording each in `.gt/done.json`: push the
    /// branch to the rig's remote, file the merge-request bead (ID derived from bead, epoch and commit), release
    /// the claim and the hook, idle the polecat (CV + 1). Re-running resumes where a crash stopped it; once
    /// finished it only reports.
    public func done(from directory: String) async throws(TownError) -> DoneResult {
        guard let worktree = TownLayout.enclosingWorktree(of: directory) else { throw .notInWorktree(directory) }
        let donePath = TownLayout.doneFile(worktree: worktree)
        return try await withLedger { ledger throws(TownError) in
            var progress: DoneProgress
            if let saved = try TownJSON.read(DoneProgress.self, from: donePath) {
                progress = saved
            } else {
                guard let hook = try Hook.read(worktree: worktree) else { throw .notInWorktree(directory) }
                let rig = try rig(hook.rig)
                let current = ledger.bead(hook.bead)?.leaseEpoch ?? 0
                guard current == hook.epoch else {
                    throw .staleEpoch(bead: hook.bead, hooked: hook.epoch, current: current)
                }
                let commit: String
                do {
                    let repository = try await GitRepository.open(at: worktree)
                    let dirty = try await repository.dirtyFiles()
                    guard dirty.isEmpty else { throw TownError.dirtyWorktree(path: worktree, files: dirty.map(\.path)) }
                    guard let head = try await repository.resolve("HEAD") else {
                        throw TownError.git("the worktree has no HEAD commit")
                    }
                    commit = head.hex
                } catch let error as TownError {
                    throw error
                } catch let error as GitError {
                    throw .git("cannot inspect \(worktree): \(error.message)")
                } catch {
                    throw .git("\(error)")
                }
                progress = DoneProgress(hook: hook, commit: commit, prefix: rig.beads.prefix)
                try TownJSON.write(progress, to: donePath)
            }
            var ran: [String] = []
            while let step = progress.next {
                try await run(step, progress: progress, worktree: worktree, ledger: ledger)
                if step == crashBeforeRecording {
                    throw .io("injected crash after \(step.rawValue), before recording it")
                }
                progress.complete(step)
                try TownJSON.write(progress, to: donePath)
                ran.append(step.rawValue)
            }
            if !ran.isEmpty {
                events.record(
                    "done",
                    [
                        "bead": progress.bead, "rig": progress.rig, "polecat": progress.polecat,
                        "epoch": String(progress.epoch), "branch": progress.branch, "commit": progress.commit,
                        "merge_request": progress.mergeRequest,
                    ])
            }
            return DoneResult(
                bead: progress.bead, epoch: progress.epoch, branch: progress.branch, commit: progress.commit,
                mergeRequest: progress.mergeRequest, stepsRun: ran)
        }
    }

    /// Carries out one step; each checks first whether its effect is already there.
    func run(_ step: DoneProgress.Step, progress: DoneProgress, worktree: String, ledger: TownLedger)
        async throws(TownError)
    {
        let rig = try rig(progress.rig)
        let agent = "\(progress.rig)/polecats/\(progress.polecat)"
        switch step {
        case .push:
            try await push(progress, worktree: worktree)
        case .fileMergeRequest:
            guard ledger.bead(progress.mergeRequest) == nil else { return }
            let current = ledger.bead(progress.bead)?.leaseEpoch ?? 0
            guard current == progress.epoch else {
                throw .staleEpoch(bead: progress.bead, hooked: progress.epoch, current: current)
            }
            let title = ledger.bead(progress.bead)?.title ?? progress.bead
            // A bead another organization delegated to us goes back to it (docs/federation.md): its merge request
            // targets `federation`, which our Refinery never merges; the node's federation component returns it.
            let delegated = ledger.bead(progress.bead)?.labels.contains("delegated") == true
            let target = delegated ? "federation" : rig.defaultBranch
            // The merge request takes its bead's priority, so the Refinery's queue (priority, then age) follows it.
            let priority = ledger.bead(progress.bead)?.priority ?? NewBead(title: "").priority
            // The runtime the work was done on, for the CV the Refinery counts the verdict on.
            let runtime = polecats(rig: rig, in: ledger).first { $0.name == progress.polecat }?.runtime ?? ""
            try await ledger.write(scope: rig.beads.prefix) { ledger, clock, actor throws(LedgerError) in
                var spec = NewBead(title: String("Merge \(progress.bead): \(title)".prefix(500)))
                spec.explicitID = progress.mergeRequest
                spec.issueType = .mergeRequest
                spec.assignee = "\(progress.rig)/refinery"
                spec.priority = priority
                spec.description = """
                    branch: \(progress.branch)
                    target: \(target)
                    source_issue: \(progress.bead)
                    commit: \(progress.commit)
                    lease_epoch: \(progress.epoch)
                    worker: \(agent)
                    """
                spec.metadata = [
                    JSONMember("branch", .string(progress.branch)), JSONMember("commit", .string(progress.commit)),
                    JSONMember("lease_epoch", .int(progress.epoch)), JSONMember("source_bead", .string(progress.bead)),
                    JSONMember("target", .string(target)), JSONMember("worker", .string(agent)),
                ] + (runtime.isEmpty ? [] : [JSONMember("runtime", .string(runtime))])
                return try ledger.prepareCreate(spec, actor: actor, stamp: clock.stamp, time: clock.time)
            }
            // The node's Refinery of this rig wakes now instead of at its next poll.
            heldLedger?.workFiled(scopes: [rig.beads.prefix])
        case .releaseHook:
            if let bead = ledger.bead(progress.bead), bead.assignee == agent, bead.leaseEpoch == progress.epoch {
                let id = progress.bead
                let request = progress.mergeRequest
                // A molecule step the agent already closed (`bd close --continue`) stays closed.
                let keepClosed = bead.status == .closed
                try await ledger.batch(routing: id) { _ throws(LedgerError) in
                    [.setMetadata(id: id, key: "merge_request", value: .string(request))]
                        + (keepClosed ? [] : [.update(id: id, fields: [.status(.inProgress)])])
                        + [.release(id: id, assignee: agent)]
                }
            }
            unlink(TownLayout.hookFile(worktree: worktree))
        case .idlePolecat:
            guard var polecat = polecats(rig: rig, in: ledger).first(where: { $0.name == progress.polecat }),
                polecat.hookBead == progress.bead, polecat.hookEpoch == progress.epoch
            else { return }
            polecat.state = "idle"
            polecat.hookBead = ""
            polecat.completed += 1
            polecat.restarts = 0
            try await save(polecat, prefix: rig.beads.prefix, ledger: ledger)
        }
    }

    /// Pushes the work branch to the rig's remote (`origin`); a branch already there at this commit counts as
    /// pushed (a retried step).
    func push(_ progress: DoneProgress, worktree: String) async throws(TownError) {
        do {
            let repository = try await GitRepository.open(at: worktree)
            guard let commit = GitOID(hex: progress.commit) else {
                throw TownError.git("bad commit \(progress.commit)")
            }
            switch try await repository.push(commit, to: "origin", branch: progress.branch, expecting: nil) {
            case .pushed:
                return
            case .rejected(let current, let reason):
                if current == commit { return }
                throw TownError.git(
                    "the remote already has \(progress.branch) at \(current?.hex ?? "?") (\(reason)); "
                        + "this lease's branch must not move")
            }
        } catch let error as TownError {
            throw error
        } catch let error as GitError {
            throw .git("cannot push \(progress.branch): \(error.message)")
        } catch {
            throw .git("\(error)")
        }
    }
}
