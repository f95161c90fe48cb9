import Beads
import Foundation
import LedgerStore

/// What `gt release` did to one bead. `Sendable`: a plain value.
public struct ReleaseResult: Sendable, Codable, Equatable {
    public var bead: String
    /// Who held it ("" when only its status said it was taken).
    public var from: String
    /// The lease epoch after the release (one more than before: the old holder's `gt done` is refused).
    public var epoch: Int
    /// The polecat that was hooked to it and is now idle, if any.
    public var polecat: String?
}

extension TownWorkflow {
    /// `gt release <bead>` (Gas Town's `gt release`/`gt unsling`): gives a bead back to the town. In one
    /// all-or-nothing write the holder's claim is released, the lease epoch goes up by one (so the old holder's
    /// `gt done` is refused: a claim by the releasing actor is taken and let go at once) and the status is `open`;
    /// `reason` becomes a comment. A polecat of this town hooked to it is unhooked: its session stopped, its hook
    /// file removed, the polecat idle. A closed bead, or one nobody holds, is refused with nothing changed.
    public func release(bead id: String, reason: String?) async throws(TownError) -> ReleaseResult {
        let rigs = try rigConfigs()
        return try await withLedger { ledger throws(TownError) in
            guard let bead = ledger.bead(id) else { throw .noSuchBead(id) }
            if bead.status == .closed || bead.status == .tombstone {
                throw .nothingToRelease(id: bead.id, why: "is closed; reopen it with 'bd reopen \(bead.id)'")
            }
            let holder = bead.assignee
            guard !holder.isEmpty || bead.status == .hooked || bead.status == .inProgress else {
                throw .nothingToRelease(id: bead.id, why: "is \(bead.status.rawValue) and nobody holds it")
            }
            let (actor, node, epoch) = (self.actor, self.node, bead.leaseEpoch)
            var text =
                "Released by \(actor)\(holder.isEmpty ? "" : " from \(holder)") with 'gt release' (lease epoch "
                + "\(epoch) → \(epoch + 1))"
            if let reason, !reason.isEmpty { text += ": \(reason)" }
            let comment = TownWorkflow.comment(on: bead, by: actor, text)
            let released = try await ledger.batch(routing: bead.id) { _ throws(LedgerError) in
                (holder.isEmpty ? [] : [LedgerChange.release(id: bead.id, assignee: holder)]) + [
                    .claim(id: bead.id, assignee: actor, node: node, expectedEpoch: epoch),
                    .release(id: bead.id, assignee: actor), .update(id: bead.id, fields: [.status(.open)]),
                    .addComment(id: bead.id, comment),
                ]
            }
            let polecat = holder.isEmpty ? nil : try await unhook(holder, bead: bead.id, rigs: rigs, ledger: ledger)
            let after = released.compactMap { $0 }.last?.leaseEpoch ?? epoch + 1
            events.record(
                "release", ["bead": bead.id, "from": holder, "by": actor, "epoch": String(after)])
            return ReleaseResult(bead: bead.id, from: holder, epoch: after, polecat: polecat)
        }
    }

    /// The changes that take `bead` over from its holder for `agent`, with `gt sling --force`: the holder's claim
    /// released (before the new claim, in the same write) and a comment naming who forced it over whom; none when
    /// nobody holds it.
    func takeoverChanges(
        _ bead: Bead, to agent: String, by actor: String
    )
        -> (release: [LedgerChange], comment: [LedgerChange])
    {
        guard !bead.assignee.isEmpty else { return ([], []) }
        let text =
            "Taken over from \(bead.assignee) for \(agent) by \(actor) with 'gt sling --force' (lease epoch "
            + "\(bead.leaseEpoch) → \(bead.leaseEpoch + 1))"
        return (
            [.release(id: bead.id, assignee: bead.assignee)],
            [.addComment(id: bead.id, TownWorkflow.comment(on: bead, by: actor, text))]
        )
    }

    /// Unhooks the polecat at `address` from `bead`, if it is one of this town's polecats hooked to it: its
    /// session is stopped, its hook file removed, the polecat set idle. Returns the polecat's address, or nil.
    @discardableResult
    func unhook(
        _ address: String, bead: String, rigs: [String: RigConfig], ledger: TownLedger
    )
        async throws(TownError) -> String?
    {
        guard let (rigName, name) = AgentAddress.polecat(address), let rig = rigs[rigName],
            var polecat = polecats(rig: rig, in: ledger).first(where: { $0.name == name }),
            !polecat.isIdle, polecat.hookBead == bead
        else { return nil }
        let session = polecat.sessionName(townRoot: layout.root)
        polecat.state = "idle"
        polecat.hookBead = ""
        polecat.restarts = 0
        try await save(polecat, prefix: rig.beads.prefix, ledger: ledger)
        _ = try? await sessions.kill(session)
        unlink(TownLayout.hookFile(worktree: layout.polecatWorktree(rig.name, name)))
        return polecat.address
    }

    /// A comment on `bead` by `actor`, stamped with the wall clock now (read here, in the shell).
    static func comment(on bead: Bead, by actor: String, _ text: String) -> Comment {
        Comment(
            id: (bead.comments.map(\.id).max() ?? 0) + 1, issueID: bead.id, author: actor, text: text,
            createdAt: Timestamp(unixNanos: LedgerDatabaseSettings.systemWallClock()))
    }
}
