import Beads
import Foundation
import Git
import Town
import Transport
import Wire

/// Draining (`gt node drain [--move]`, docs/operations.md "Draining a node") and the cluster view of `gt status`.
extension Mayor {
    /// Sets (or clears) this node's draining flag in its membership metadata, so no Mayor places new work here and
    /// this one refuses `mayor-admit`. With `move`, each bead hooked here is handed off at once (its work branch
    /// pushed to the rig's remote, its session stopped and its lease released at a new epoch by `gt release`, then
    /// placed again on another node, which claims it at the next epoch), and this node's queue is placed on other
    /// nodes now. Without `move`, running work finishes here.
    public func drain(_ request: MayorDrainRequest) async throws(ErrorReply) -> MayorDrainReport {
        guard let context, membership.shell != nil else {
            throw ErrorReply(code: .unavailable, message: "membership is not running on this node: nothing to drain")
        }
        do { try await membership.setDraining(request.draining) } catch {
            throw ErrorReply(code: .refused, message: error.description)
        }
        context.events.record(request.draining ? "node-drain" : "node-undrain", ["move": String(request.move)])
        await publish()
        var report = MayorDrainReport(node: me, draining: request.draining, moved: [], placedFromQueue: [], queued: [])
        if request.draining && request.move {
            for bead in hookedHere() where !inFlight.contains(bead.id) {
                report.moved.append(await moveOff(bead, context: context))
            }
            let before = Set(queue.map(\.bead))
            await retryQueue()
            let after = Set(queue.map(\.bead))
            report.placedFromQueue = before.subtracting(after).sorted()
        }
        report.queued = queue.map(\.bead)
        return report
    }

    /// The beads hooked by polecats on this node, by id.
    func hookedHere() -> [Bead] {
        guard let database = ledger.database else { return [] }
        let me = self.me
        return database.read { state in
            var out: [Bead] = []
            for scope in state.scopes.values {
                for bead in scope.beads.values
                where bead.claimNode == me && bead.assignee.contains("/polecats/")
                    && (bead.status == .hooked || bead.status == .inProgress)
                {
                    out.append(bead)
                }
            }
            return out.sorted { $0.id < $1.id }
        }
    }

    /// Hands one hooked bead to another node: releases it here (session stopped, epoch + 1), pushes the work
    /// branch, places it again (never here: this node is draining).
    func moveOff(_ bead: Bead, context: NodeContext) async -> MayorMove {
        var move = MayorMove(
            bead: bead.id, from: bead.assignee, branch: "", status: "failed", node: "", epoch: bead.leaseEpoch,
            reason: "")
        guard let (rig, name) = AgentAddress.polecat(bead.assignee) else {
            move.reason = "\(bead.assignee) is not a polecat address"
            return move
        }
        inFlight.insert(bead.id)
        defer { inFlight.remove(bead.id) }
        let worktree = TownLayout(root: context.town.root).polecatWorktree(rig, name)
        let hook = try? Hook.read(worktree: worktree)
        let branch = hook.flatMap { $0.bead == bead.id ? $0.branch : nil } ?? ""
        do {
            let workflow = try await makeWorkflow(context)
            let released = try await workflow.release(
                bead: bead.id,
                reason: "\(me) is draining (gt node drain --move); the work so far is on branch "
                    + (branch.isEmpty ? "(none)" : branch))
            move.epoch = released.epoch
        } catch {
            move.reason = "could not release it here: \(error)"
            return move
        }
        if !branch.isEmpty {
            do {
                let repository = try await GitRepository.open(at: worktree)
                if let head = try await repository.resolve("HEAD") {
                    _ = try await repository.push(
                        head, to: "origin", branch: branch, expecting: nil, requireFastForward: false)
                    move.branch = branch
                }
            } catch {
                move.reason = "branch \(branch) not pushed: \(error); "
                context.log.warning("drain: work branch not pushed", ["bead": bead.id, "branch": branch])
            }
        }
        inFlight.remove(bead.id)
        do {
            let placement = try await place(
                bead: bead.id, rig: rig, runtime: nil, require: [:], node: nil,
                base: move.branch.isEmpty ? nil : move.branch)
            move.status = placement.status
            move.node = placement.node
            if placement.admitted { move.epoch = placement.epoch }
            move.reason += placement.reason
        } catch {
            move.reason += "released but not placed: \(error.message); sling it with gt sling \(bead.id)"
        }
        context.events.record(
            "mayor-move",
            ["bead": bead.id, "from": bead.assignee, "to": move.node, "status": move.status, "branch": move.branch])
        return move
    }

    /// The cluster as this node sees it: every member with its slots, the polecats working on it (from the
    /// shared ledger), this node's queue, the open convoys.
    public func clusterStatus() async -> MayorClusterStatus {
        let candidates = await candidates()
        var statuses: [String: String] = [:]
        if let shell = membership.shell {
            for member in await shell.members { statuses[member.name] = "\(member.status)" }
        }
        var working: [String: [MayorClusterStatus.PolecatView]] = [:]
        if let database = ledger.database {
            working = database.read { state in
                var out: [String: [MayorClusterStatus.PolecatView]] = [:]
                for scope in state.scopes.values {
                    for bead in scope.beads.values
                    where !bead.claimNode.isEmpty && bead.assignee.contains("/polecats/")
                        && (bead.status == .hooked || bead.status == .inProgress)
                    {
                        out[bead.claimNode, default: []].append(
                            .init(agent: bead.assignee, bead: bead.id, epoch: bead.leaseEpoch))
                    }
                }
                return out
            }
        }
        let nodes = candidates.sorted { $0.name < $1.name }.map { node in
            MayorClusterStatus.NodeView(
                name: node.name, status: statuses[node.name] ?? "unknown", draining: node.draining, slots: node.slots,
                used: node.running + node.reserved, free: max(0, node.slots - node.running - node.reserved),
                reserved: node.reserved, rigs: node.rigs.sorted(),
                polecats: (working[node.name] ?? []).sorted { $0.bead < $1.bead })
        }
        var convoys: [MayorClusterStatus.ConvoySummary] = []
        if let context, let workflow = try? await makeWorkflow(context),
            let open = try? await workflow.convoys(all: false)
        {
            convoys = open.map { .init(id: $0.id, name: $0.name, done: $0.done, total: $0.total) }
        }
        let limits = await clusterLimits(now: Self.wallClock()).values.sorted { $0.account < $1.account }
        return MayorClusterStatus(
            node: me, nodes: nodes, queued: queue, convoys: convoys, rateLimits: limits.map(ClusterRateLimit.init))
    }

    /// `gt nudge <agent> <text>` in a cluster: typed into the agent's session here when it works here (or is idle,
    /// or its node is unknown), else forwarded with `mayor-nudge` to the node its hooked bead is claimed on, which
    /// types it there. A refusal there (no such session) comes back as the error.
    public func nudge(agent address: String, text: String) async throws(Refusal) -> MayorNudgeReply {
        guard let context else { throw Refusal(message: "the Mayor is not running") }
        let canonical = AgentAddress.canonical(address)
        let workflow: TownWorkflow
        do { workflow = try await makeWorkflow(context) } catch { throw Refusal(message: "\(error)") }
        let agents = (try? await workflow.listAgents()) ?? []
        let node = agents.first { $0.address == canonical }?.node ?? ""
        if node.isEmpty || node == me {
            do {
                let session = try await workflow.nudge(agent: address, text: text)
                return MayorNudgeReply(node: me, agent: canonical, session: session)
            } catch {
                throw Refusal(message: error.description)
            }
        }
        guard let name = try? NodeName(node) else {
            throw Refusal(message: "\(canonical) works on \(node), not a node name")
        }
        if context.box.peerTable[name]?.1.contains(.general) != true,
            let member = await membership.shell?.member(named: node),
            let address = try? PeerAddress(parsing: member.node.address)
        {
            await context.addPeer(name, at: address, purposes: [.general])
        }
        do {
            let envelope = try await context.request(
                MayorMessageType.nudge,
                body: NodeJSON.encode(MayorNudgeRequest(agent: canonical, text: text, from: me)),
                to: name, timeout: 60)
            let reply = try NodeJSON.decode(MayorNudgeReply.self, from: envelope.body)
            context.events.record("nudge-forwarded", ["agent": canonical, "to": node])
            return reply
        } catch {
            throw Refusal(message: "\(canonical) works on \(node), which did not take the nudge: \(error)")
        }
    }
}
