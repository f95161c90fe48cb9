import Beads
import Foundation
import Sessions

/// A hooked polecat as `gt hook` lists it. `Sendable`: a plain value.
public struct HookView: Sendable, Codable, Equatable {
    public var agent: String
    public var bead: String
    public var title: String
    public var epoch: Int
    public var status: String
    public var branch: String?
    public var worktree: String
    public var session: String
    public var sessionAlive: Bool

    enum CodingKeys: String, CodingKey {
        case agent, bead, title, epoch, status, branch, worktree, session
        case sessionAlive = "session_alive"
    }
}

extension TownWorkflow {
    /// `gt hook`: the hook of the worktree enclosing `directory`, else every hooked polecat of the town.
    public func hooks(from directory: String) async throws(TownError) -> [HookView] {
        let inside = TownLayout.enclosingWorktree(of: directory).flatMap { try? Hook.read(worktree: $0) }
        let rigs = try rigConfigs()
        return try await withLedger(mode: .read) { ledger throws(TownError) in
            var views: [HookView] = []
            for rig in rigs.values.sorted(by: { $0.name < $1.name }) {
                for polecat in polecats(rig: rig, in: ledger) where !polecat.isIdle {
                    if let inside, inside.rig != rig.name || inside.polecat != polecat.name { continue }
                    let bead = ledger.bead(polecat.hookBead)
                    let worktree = layout.polecatWorktree(rig.name, polecat.name)
                    let session = polecat.sessionName(townRoot: layout.root)
                    views.append(
                        HookView(
                            agent: polecat.address, bead: polecat.hookBead, title: bead?.title ?? "",
                            epoch: polecat.hookEpoch, status: bead?.status.rawValue ?? "missing",
                            branch: (try? Hook.read(worktree: worktree))??.branch, worktree: worktree,
                            session: session.description,
                            sessionAlive: ((try? await sessions.isAlive(session)) ?? false)))
                }
            }
            return views
        }
    }

    /// `gt prime`: the role context and the hooked work, as text for the agent to read (its first prompt, and
    /// what runtimes' hooks print at session start).
    public func prime(from directory: String) async throws(TownError) -> String {
        guard let worktree = TownLayout.enclosingWorktree(of: directory) else { throw .notInWorktree(directory) }
        guard let hook = try Hook.read(worktree: worktree) else {
            return "You are a polecat in \(worktree). Your hook is empty: your work is done (gt done has run).\n"
        }
        return try await withLedger(mode: .read) { ledger throws(TownError) in
            let bead = ledger.bead(hook.bead)
            let unread = unreadMail(for: hook.agent, ledger: ledger).count
            var text = """
                # Gas Town: you are polecat \(hook.polecat) of rig \(hook.rig) (town \(hook.town))

                You are a worker. The work on your hook is yours: do it now, without asking (GUPP: if there is work
                on your hook, you run it).

                ## Your hook
                - bead: \(hook.bead) (lease epoch \(hook.epoch))
                - title: \(hook.title)
                - branch: \(hook.branch)
                - worktree: \(worktree)
                """
            if let bead {
                text +=
                    "\n- status: \(bead.status.rawValue), priority P\(bead.priority), type \(bead.issueType.rawValue)"
                if !bead.description.isEmpty { text += "\n\n## Description\n\(bead.description)" }
                if !bead.acceptanceCriteria.isEmpty { text += "\n\n## Acceptance criteria\n\(bead.acceptanceCriteria)" }
                text += moleculeSection(hooked: bead.id, agent: hook.agent, ledger: ledger) ?? ""
            }
            text += """


                ## When you are finished
                Commit your changes on this branch (keep the worktree clean), then run `gt done`: it pushes the branch,
                files a merge request for the Refinery and frees you for the next bead.
                Mail: \(unread) unread (`gt mail inbox`). Ledger: `bd show \(hook.bead)` (BEADS_DIR is set for you).

                """
            return text
        }
    }

    /// `gt nudge <agent> <text>`: types `text` into the polecat's current session.
    public func nudge(agent address: String, text: String) async throws(TownError) -> String {
        guard let (rigName, name) = AgentAddress.polecat(address) else { throw .noSuchAgent(address) }
        let rig = try rig(rigName)
        let session = try await withLedger { ledger throws(TownError) in
            guard let polecat = polecats(rig: rig, in: ledger).first(where: { $0.name == name }) else {
                throw .noSuchPolecat(rig: rigName, name: name)
            }
            return polecat.sessionName(townRoot: layout.root)
        }
        do { try await sessions.sendText(text, to: session) } catch { throw .session(error.description) }
        events.record("nudge", ["agent": AgentAddress.canonical(address), "session": session.description])
        return session.description
    }

    /// `gt handoff` from inside a worktree: the hook stays, the session is replaced by a fresh one (next session
    /// epoch) that starts from the hook again; an optional note is mailed to the polecat itself first.
    public func handoff(from directory: String, note: String?) async throws(TownError) -> String {
        guard let worktree = TownLayout.enclosingWorktree(of: directory), var hook = try Hook.read(worktree: worktree)
        else { throw .notInWorktree(directory) }
        if let note, !note.isEmpty {
            _ = try await sendMail(from: hook.agent, to: hook.agent, subject: "Handoff", body: note, replyTo: nil)
        }
        let rig = try rig(hook.rig)
        let (old, new) = try await withLedger { ledger throws(TownError) in
            guard var polecat = polecats(rig: rig, in: ledger).first(where: { $0.name == hook.polecat }) else {
                throw .noSuchPolecat(rig: hook.rig, name: hook.polecat)
            }
            let old = polecat.sessionName(townRoot: layout.root)
            polecat.sessionEpoch += 1
            try await save(polecat, prefix: rig.beads.prefix, ledger: ledger)
            hook.sessionEpoch = polecat.sessionEpoch
            try hook.write(worktree: worktree)
            try await startSession(hook: hook, worktree: worktree)
            return (old, polecat.sessionName(townRoot: layout.root))
        }
        events.record(
            "handoff", ["agent": hook.agent, "bead": hook.bead, "from": old.description, "to": new.description])
        _ = try? await sessions.kill(old)
        return new.description
    }
}
