import Beads
import Foundation
import Git
import LedgerStore
import Scheduling
import Sessions
import Town
import Transport
import Wire

/// The second half of a delegation (docs/federation.md, "Delegation"): the receiver pushes the finished branch to
/// the remote the requester named, the requester finds it there, runs the acceptance gate in a sandbox and merges
/// through its Refinery or returns the work with the gate's output, and tells the receiver.
extension FederationComponent {
    /// The branch a receiver pushes finished work to: `delegated/<receiver>/<requester's bead id>`.
    static func returnBranch(receiver: String, bead: String) -> String { "delegated/\(receiver)/\(bead)" }

    /// How long an acceptance gate may run. 10 minutes.
    static let gateTimeout: Duration = .seconds(600)

    // MARK: Receiver: return the branch

    /// Every linked bead whose polecat finished (`gt done` filed a merge request targeting `federation`) gets its
    /// branch pushed to the requester's remote; the merge request is closed (our Refinery never merges it).
    func returnFinishedWork(now: Int64) async {
        guard let context, let database = ledger?.database else { return }
        let town = context.town
        let finished: [(String, Bead, DelegationRecord, Bead)] = database.read { state in
            var out: [(String, Bead, DelegationRecord, Bead)] = []
            for (scope, led) in state.scopes {
                for bead in led.list() {
                    guard let record = DelegationRecord(bead), record.role == "receiver", record.state == .accepted,
                        let mr = bead.metadataValue("merge_request")?.stringValue, let request = led.bead(mr)
                    else { continue }
                    out.append((scope, bead, record, request))
                }
            }
            return out
        }
        for (scope, bead, record, request) in finished {
            var receiver = Delegation.Receiver(request: record.request, peer: record.peer)
            _ = receiver.onLinkedBeadCreated(bead.id)
            let target = Self.returnBranch(receiver: organization, bead: record.originBead)
            let directives = receiver.onWorkDone(branch: target, now: now)
            do {
                for case .returnBranch(let branch) in directives {
                    guard let commitHex = request.metadataString("commit"), let commit = GitOID(hex: commitHex) else {
                        throw ErrorReply(code: .internalError, message: "merge request \(request.id) names no commit")
                    }
                    guard !record.returnTo.isEmpty else {
                        throw ErrorReply(code: .internalError, message: "the delegation names no remote to return to")
                    }
                    let rigs = try await NodeBlocking.run { () throws(TownError) in
                        try RigRegistry(layout: TownLayout(root: town.root)).rigs()
                    }
                    guard let rig = rigs.first(where: { $0.value.prefix == scope })?.key else {
                        throw ErrorReply(code: .internalError, message: "no rig has scope \(scope)")
                    }
                    let repository = try await GitRepository.open(at: TownLayout(root: town.root).bareRepository(rig))
                    let result = try await repository.push(
                        commit, to: record.returnTo, branch: branch, expecting: nil, requireFastForward: false)
                    if case .rejected(let current, let reason) = result, current != commit {
                        throw ErrorReply(
                            code: .internalError,
                            message:
                                "\(record.returnTo) already has \(branch) at \(current?.hex.prefix(12) ?? "?"): \(reason)"
                        )
                    }
                    context.log.info(
                        "delegated work returned", ["bead": bead.id, "to": record.returnTo, "branch": branch])
                    context.events.record(
                        "delegation_returned",
                        ["bead": bead.id, "organization": record.peer, "branch": branch, "commit": commitHex])
                }
                let requestID = request.id
                var changes: [LedgerChange] = [.close(id: requestID, reason: "returned to \(record.peer) as \(target)")]
                if case .returnBranch? = directives.first {
                } else {
                    // Too late: the receiver's own directives close the linked bead.
                    try await carryOut(directives, receiver: record, state: receiver.state, bead: bead, scope: scope)
                    changes = [.close(id: requestID, reason: "deadline passed; not returned")]
                }
                var updated = record
                updated.state = receiver.state
                if receiver.state == .returned {
                    changes.append(.setMetadata(id: bead.id, key: DelegationRecord.key, value: updated.json))
                }
                let list = changes
                _ = try await NodeBlocking.run { () throws(LedgerDatabaseError) -> [Bead?] in
                    try database.write(scope: scope, routing: requestID, actor: "federation/") { _ in list }
                }
            } catch {
                context.log.warning("delegated work not returned", ["bead": bead.id, "error": "\(error)"])
            }
        }
    }

    // MARK: Requester: find the branch, gate, merge

    /// Every delegation of ours still out whose branch is on its return remote: the gate runs (one at a time per
    /// bead, in its own task), then the bead merges through the Refinery or comes back with the gate's output.
    func collectReturnedWork(now: Int64) async {
        guard let database = ledger?.database else { return }
        let out: [(String, Bead, DelegationRecord)] = database.read { state in
            var found: [(String, Bead, DelegationRecord)] = []
            for (scope, led) in state.scopes {
                for bead in led.list() {
                    guard let record = DelegationRecord(bead), record.role == "requester",
                        record.state == .accepted || record.state == .returned, !record.returnTo.isEmpty,
                        GitRemoteURL.isLocal(record.returnTo)
                    else { continue }
                    found.append((scope, bead, record))
                }
            }
            return found
        }
        for (scope, bead, record) in out where !gating.contains(bead.id) {
            let branch = Self.returnBranch(receiver: record.peer, bead: bead.id)
            guard let repository = try? await GitRepository.open(at: GitRemoteURL.localPath(record.returnTo)),
                (try? await repository.referenceTarget("refs/heads/" + branch)) ?? nil != nil
            else { continue }
            gating.insert(bead.id)
            Task { await self.gate(bead: bead.id, scope: scope, record: record, branch: branch, now: now) }
        }
    }

    func gate(bead id: String, scope: String, record: DelegationRecord, branch: String, now: Int64) async {
        defer { gating.remove(id) }
        // From accepted (a returned record whose gate was interrupted is gated again).
        var requester = Delegation.Requester(request: record.request, peer: record.peer)
        _ = requester.onAccepted(remoteBead: record.remote)
        var current = record
        do {
            let returned = requester.onBranchReturned(branch, now: now)
            current.state = requester.state
            try await carryOut(returned, requester: current, bead: id, scope: scope)
            guard case .runGate(let command, let branch)? = returned.last else { return }
            context?.log.info("delegation gate running", ["bead": id, "branch": branch, "gate": command])
            let (passed, output) = await Self.runSandboxedGate(command, remote: record.returnTo, branch: branch)
            let finished = requester.onGateFinished(passed: passed, output: output)
            current.state = requester.state
            try await carryOut(finished, requester: current, bead: id, scope: scope)
            context?.events.record(
                "delegation_gate", ["bead": id, "organization": record.peer, "passed": passed ? "true" : "false"])
        } catch {
            context?.log.warning("delegation gate not recorded", ["bead": id, "error": "\(error)"])
        }
    }

    /// Runs the acceptance gate `command` on `branch` of `remote` in a sandbox: a fresh clone in a temporary
    /// directory outside the town, the command's working directory; an environment of only PATH, HOME and TMPDIR
    /// (inside the sandbox), LANG and GT_DELEGATION_BRANCH, so no variable leads to the town, `.gt/pki` or a
    /// credential; killed after `gateTimeout`. Returns whether it passed and the tail of its output (8 KB).
    /// The clone and the directory are removed afterwards.
    public static func runSandboxedGate(_ command: String, remote: String, branch: String) async -> (Bool, String) {
        let root = NSTemporaryDirectory() + "gt-delegation-gate-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        for directory in ["home", "tmp"] {
            try? FileManager.default.createDirectory(atPath: root + "/" + directory, withIntermediateDirectories: true)
        }
        let checkout = root + "/checkout"
        do {
            // A new repository fetching only that branch (the remote's HEAD may name a branch it does not have).
            let repository = try await GitRepository.create(at: checkout, bare: false, initialHead: "gate")
            _ = try await repository.fetch(from: remote, refspecs: ["+refs/heads/\(branch):refs/heads/gate"])
            guard try await repository.referenceTarget("refs/heads/gate") != nil else {
                throw GitError(.notFound, operation: "fetch", repository: remote, message: "no branch \(branch)")
            }
            try await repository.setHead(branch: "gate")
            try await repository.checkoutHead(force: true)
        } catch {
            return (false, "the returned branch \(branch) could not be checked out from \(remote): \(error)")
        }
        let log = root + "/gate.log"
        let environment = [
            "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": root + "/home", "TMPDIR": root + "/tmp", "LANG": "C.UTF-8",
            "GT_DELEGATION_BRANCH": branch,
        ]
        do {
            let outcome = try await LoggedCommand.run(
                command, in: checkout, environment: environment, logPath: log, timeout: gateTimeout,
                inheritEnvironment: false)
            var output = LoggedCommand.tail(of: log, limit: 8000)
            if outcome.timedOut { output += "\n(gate timed out)" }
            if !outcome.succeeded && output.isEmpty { output = "exit status \(outcome.status)" }
            return (outcome.succeeded, output)
        } catch {
            return (false, "the gate could not start: \(error)")
        }
    }

    // MARK: Receiver: the verdict

    /// The requester says how it ended: the linked bead is closed with it, and the requester's reputation here
    /// follows.
    func serveVerdict(_ message: InboundMessage, from peer: PeerOrganization) async throws -> [UInt8] {
        let verdict: FederatedDelegationVerdict
        do { verdict = try FederatedDelegationVerdict.decode(message.envelope.body) } catch {
            throw ErrorReply(code: .badRequest, message: "bad delegation verdict: \(error)")
        }
        guard let database = ledger?.database else {
            throw ErrorReply(code: .unavailable, message: "the ledger of \(organization) is not open; retry")
        }
        let org = peer.organization.rawValue
        let label = Self.delegatedFromLabel(org)
        let found: (String, Bead, DelegationRecord)? = database.read { state in
            for (scope, led) in state.scopes {
                for bead in led.list() where bead.labels.contains(label) && bead.externalRef == verdict.origin {
                    if let record = DelegationRecord(bead), record.role == "receiver", !record.state.isFinal {
                        return (scope, bead, record)
                    }
                }
            }
            return nil
        }
        // Nothing open for it (already closed here, or never ours): nothing to do; the answer is the same.
        guard let (scope, bead, record) = found else { return [] }
        var receiver = record.receiver(bead.id)
        let directives: [Delegation.Receiver.Directive]
        switch verdict.verdict {
        case 0: directives = receiver.onVerdict(.accepted)
        case 1: directives = receiver.onVerdict(.rejected(gateOutput: verdict.output))
        case 3: directives = receiver.onVerdict(.withdrawn(.budgetExhausted))
        default: directives = receiver.onVerdict(.withdrawn(.expired))
        }
        guard !directives.isEmpty else { return [] }
        try await carryOut(directives, receiver: record, state: receiver.state, bead: bead, scope: scope)
        context?.events.record(
            "delegation_verdict", ["bead": bead.id, "organization": org, "state": receiver.state.rawValue])
        return []
    }
}
