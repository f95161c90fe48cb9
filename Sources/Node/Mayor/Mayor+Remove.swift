import Beads
import Foundation
import Membership
import Town
import Transport
import Wire

/// `gt node remove <name>` (docs/operations.md "Removing a dead node"): the Mayor's part. The CLI checks first
/// (`dryRun`), then the CA node revokes the certificates, then the Mayor takes the node out of membership (left, so
/// it no longer counts for the majority rule) and gives its hooked beads back to the cluster at a new lease epoch,
/// placing each on another node now (or queueing it here). Every step can be run again: a second run finds the
/// member left and no bead held there.
extension Mayor {
    /// Checks, and unless `request.dryRun` carries out, the removal of `request.node`.
    public func remove(_ request: MayorRemoveRequest) async throws(ErrorReply) -> MayorRemoveReport {
        guard let context, let shell = membership.shell else {
            throw ErrorReply(code: .unavailable, message: "membership is not running on this node: nothing to remove")
        }
        let name = request.node
        guard name != me else {
            throw ErrorReply(
                code: .refused,
                message: "\(me) cannot remove itself: stop it with 'gt node leave', or run 'gt node remove \(me)' on "
                    + "another node once it is down")
        }
        let member = await shell.member(named: name)
        let held = heldOn(name)
        guard member != nil || !held.isEmpty else {
            let names = await memberNames().filter { $0 != me }
            throw ErrorReply(
                code: .badRequest,
                message: "no member named \(name) is known here and no bead is held on it (members: "
                    + "\(names.isEmpty ? "none" : names.joined(separator: ", "))); see gt node list")
        }
        let status = member.map { "\($0.status)" } ?? "unknown"
        if let member, member.status == .alive || member.status == .suspect, !request.force {
            throw ErrorReply(
                code: .refused,
                message:
                    "\(name) is \(member.status) (not dead): gt node remove is for dead nodes. To take a live node "
                    + "out, run 'gt node drain --move' and then 'gt node leave' on \(name); pass --force to remove it "
                    + "anyway (its certificate is revoked and its work is taken over at a new epoch)")
        }
        var report = MayorRemoveReport(
            node: name, statusBefore: status, membership: status, dryRun: request.dryRun, moved: [], queued: [])
        if request.dryRun {
            report.moved = held.map {
                MayorMove(
                    bead: $0.id, from: $0.assignee, branch: "", status: "to-release", node: "", epoch: $0.leaseEpoch,
                    reason: "")
            }
            return report
        }
        if let after = await shell.forceLeave(name) { report.membership = "\(after.status)" }
        context.log.warning("node removed from the cluster", ["node": name, "was": status, "beads": "\(held.count)"])
        context.events.record("node-removed", ["node": name, "was": status, "beads": "\(held.count)"])
        for bead in held where !inFlight.contains(bead.id) {
            report.moved.append(await reclaim(bead, from: name, context: context))
        }
        report.queued = queue.map(\.bead)
        return report
    }

    /// The beads hooked by polecats on `node` (claimed there), by id.
    func heldOn(_ node: String) -> [Bead] {
        guard let database = ledger.database else { return [] }
        return database.read { state in
            var out: [Bead] = []
            for scope in state.scopes.values {
                for bead in scope.beads.values
                where bead.claimNode == node && bead.assignee.contains("/polecats/")
                    && (bead.status == .hooked || bead.status == .inProgress)
                {
                    out.append(bead)
                }
            }
            return out.sorted { $0.id < $1.id }
        }
    }

    /// Gives one bead of a removed node back (released here at a new epoch: the removed node's late `gt done` is
    /// refused) and places it on a live node, or queues it.
    func reclaim(_ bead: Bead, from node: String, context: NodeContext) async -> MayorMove {
        var move = MayorMove(
            bead: bead.id, from: bead.assignee, branch: "", status: "failed", node: "", epoch: bead.leaseEpoch,
            reason: "")
        let rig = AgentAddress.polecat(bead.assignee)?.0 ?? rigName(for: bead)
        inFlight.insert(bead.id)
        do {
            let workflow = try await makeWorkflow(context)
            let released = try await workflow.release(
                bead: bead.id, reason: "\(node) was removed from the cluster (gt node remove on \(me))")
            move.epoch = released.epoch
        } catch {
            inFlight.remove(bead.id)
            move.reason = "could not release it: \(error); release it with 'gt release \(bead.id)'"
            return move
        }
        inFlight.remove(bead.id)
        do {
            let placement = try await place(bead: bead.id, rig: rig, runtime: nil, require: [:], node: nil)
            move.status = placement.status
            move.node = placement.node
            if placement.admitted { move.epoch = placement.epoch }
            move.reason = placement.reason
        } catch {
            move.reason = "released but not placed: \(error.message); sling it with gt sling \(bead.id)"
        }
        context.events.record(
            "mayor-reclaim", ["bead": bead.id, "from": node, "to": move.node, "status": move.status])
        return move
    }
}

/// Body of `mayor-remove` (305, local): remove `node` (`gt node remove`). `dryRun` only checks and lists the beads
/// it would give back. `Sendable`: a plain value.
public struct MayorRemoveRequest: Codable, Sendable, Equatable {
    public var node: String
    public var force: Bool
    public var dryRun: Bool

    public init(node: String, force: Bool = false, dryRun: Bool = false) {
        self.node = node
        self.force = force
        self.dryRun = dryRun
    }

    enum CodingKeys: String, CodingKey {
        case node, force
        case dryRun = "dry_run"
    }
}

/// Answer to `mayor-remove`. `Sendable`: a plain value.
public struct MayorRemoveReport: Codable, Sendable, Equatable {
    public var node: String
    /// Its membership status before (`dead`, `left`, `alive` with --force, `unknown`).
    public var statusBefore: String
    /// Its membership status now (`left` once removed).
    public var membership: String
    public var dryRun: Bool
    /// The beads it held, each released at a new epoch and placed again (`admitted` on `node`, `queued`, `failed`).
    public var moved: [MayorMove]
    /// This node's Mayor queue after the removal.
    public var queued: [String]

    enum CodingKeys: String, CodingKey {
        case node, membership, moved, queued
        case statusBefore = "status_before"
        case dryRun = "dry_run"
    }
}
