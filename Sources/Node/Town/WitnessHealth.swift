import Foundation
import Health
import Sessions
import Town

/// The Witness's health patrol (DESIGN §8, docs/health.md): for each hooked polecat of this node it gathers an
/// observation (session alive, the runtime's process in it, the visible pane, the exit status, the
/// agent's `gt` calls and heartbeats, the hook's age, an unfinished `gt done`), asks the `HealthMonitor` core for a
/// verdict, and carries out its action fenced by the polecat's identity, session epoch and bead (a late action
/// finds no target), recording each action with its evidence as a `witness` event and a comment on the polecat's
/// agent bead. Escalations go through the `EscalationMailer`. After every patrol it writes the `WitnessReport`.
extension TownWitness {
    /// One health patrol at `now` (Unix seconds).
    func healthPatrol(now: Double = Date().timeIntervalSince1970) async {
        guard let workflow else { return }
        let targets: [HealthTarget]
        do { targets = try await workflow.healthTargets() } catch {
            log?.warning("witness health patrol could not read the polecats", ["error": error.description])
            return
        }
        var beads: [String: String] = [:]
        for target in targets {
            let observation = await observe(target, at: now, workflow: workflow)
            let verdict = monitor.onObservation(observation)
            beads[target.polecat.address] = target.polecat.hookBead
            let tail = PaneReading.lines(observation.paneText).suffix(12).joined(separator: "\n")
            var outcome: (String, String)?
            if verdict.action.acts {
                outcome = await carryOut(verdict, target: target, workflow: workflow)
                record(verdict, target: target, outcome: outcome!, paneTail: tail, workflow: workflow)
            }
            if let escalation = verdict.escalation {
                var raised = escalation
                if let outcome { raised.evidence.append(HealthEvidence("action", "\(outcome.0): \(outcome.1)")) }
                if var copy = mailer {
                    await copy.raise(raised, at: now, paneTail: tail, workflow: workflow)
                    mailer = copy
                }
            }
        }
        for address in monitor.tracks.keys where beads[address] == nil { monitor.forget(address) }
        if var copy = mailer {
            await copy.sendDue(at: now, workflow: workflow)
            mailer = copy
        }
        writeReport(now: now, beads: beads, workflow: workflow)
    }

    /// What the Witness sees of `target` now.
    func observe(_ target: HealthTarget, at now: Double, workflow: TownWorkflow) async -> HealthObservation {
        let sessions = workflow.sessions
        let name = target.session
        let alive = (try? await sessions.isAlive(name)) ?? false
        var pane = ""
        var processAlive: Bool?
        if alive {
            // The visible pane only: a dialog the agent cleared away must not be read back from the history.
            pane = (try? await sessions.capture(name))??.text ?? ""
            if !target.processNames.isEmpty, let pid = try? await sessions.processID(of: name) {
                processAlive = ProcessTree.any(named: target.processNames, under: pid)
            }
        }
        let activity = AgentActivity.read(worktree: target.worktree)
        var doneSteps: Int?
        var doneChanged: Double?
        let donePath = TownLayout.doneFile(worktree: target.worktree)
        if let progress = try? TownJSON.read(DoneProgress.self, from: donePath), !progress.isFinished,
            progress.bead == target.polecat.hookBead
        {
            doneSteps = progress.completed.count
            doneChanged = (try? FileManager.default.attributesOfItem(atPath: donePath)[.modificationDate] as? Date)?
                .timeIntervalSince1970
        }
        let slungAt = target.hook.flatMap { ISO8601DateFormatter.parseFractional($0.slungAt) }
        return HealthObservation(
            polecat: target.polecat.address, sessionEpoch: target.polecat.sessionEpoch, runtime: target.runtimeName,
            at: now, hooked: true, bead: target.polecat.hookBead, leaseEpoch: target.polecat.hookEpoch,
            sessionAlive: alive, processAlive: processAlive,
            exitStatus: alive ? nil : SessionStateDirectory(townRoot: workflow.layout.root).exitStatus(name),
            paneText: pane, lastGTCall: activity.lastCall, lastHeartbeat: activity.lastHeartbeat, hookedAt: slungAt,
            doneStepsCompleted: doneSteps, doneChangedAt: doneChanged)
    }

    /// Carries out `verdict`'s action on `target`, fenced by its session epoch and bead. Returns the outcome
    /// (`done`, `refused` or `failed`) and a detail.
    func carryOut(_ verdict: HealthVerdict, target: HealthTarget, workflow: TownWorkflow) async -> (String, String) {
        let address = verdict.polecat
        let (epoch, bead) = (verdict.sessionEpoch, target.polecat.hookBead)
        do throws(TownError) {
            switch verdict.action {
            case .wait:
                return ("done", "")
            case .nudge(let text):
                try await workflow.fencedNudge(address, epoch: epoch, bead: bead, text: text)
                return ("done", text)
            case .dismissDialog(let keys):
                try await workflow.fencedKeys(address, epoch: epoch, bead: bead, keys: keys)
                return ("done", "keys " + keys.joined(separator: " "))
            case .restartSession:
                let new = try await workflow.restartSession(address, epoch: epoch, bead: bead)
                return ("done", "started \(new.description)")
            case .finishDone:
                let result = try await workflow.done(from: target.worktree)
                return ("done", "gt done finished (\(result.mergeRequest))")
            case .resling:
                let result = try await workflow.giveUp(address, epoch: epoch, bead: bead, reason: verdict.reason)
                return ("done", "released \(result.bead) (lease epoch \(result.epoch)) for a sling elsewhere")
            case .escalate:
                guard verdict.state == .dead || verdict.state == .zombie || verdict.state == .doneStuck else {
                    return ("done", "escalated; the session is left as it is")
                }
                // A crash loop: respawning stops; the bead goes back to the town with the escalation.
                let result = try await workflow.giveUp(address, epoch: epoch, bead: bead, reason: verdict.reason)
                return ("done", "stopped respawning; released \(result.bead) (lease epoch \(result.epoch))")
            }
        } catch {
            if case .fenced(let why) = error { return ("refused", why) }
            return ("failed", error.description)
        }
    }

    /// Records an action as a `witness` event and, unless it was refused (the polecat moved on), as a comment on
    /// the polecat's agent bead, each with the evidence bundle.
    func record(
        _ verdict: HealthVerdict, target: HealthTarget, outcome: (String, String), paneTail: String,
        workflow: TownWorkflow
    ) {
        let evidence = verdict.evidence.map { "\($0.name)=\($0.value)" }.joined(separator: "; ")
        var fields = [
            "agent": verdict.polecat, "state": verdict.state.rawValue, "action": verdict.action.name,
            "reason": verdict.reason, "session_epoch": "\(verdict.sessionEpoch)", "bead": target.polecat.hookBead,
            "lease_epoch": "\(target.polecat.hookEpoch)", "outcome": outcome.0, "detail": outcome.1,
            "evidence": evidence, "pane_tail": paneTail, "observed_at": "\(verdict.at)",
        ]
        if let hook = target.hook { fields["hook"] = "\(hook.bead) \(hook.branch) slung \(hook.slungAt)" }
        workflow.events.record("witness", fields)
        log?.info(
            "witness action",
            ["agent": verdict.polecat, "state": verdict.state.rawValue, "action": verdict.action.name, "outcome": outcome.0])
        guard outcome.0 != "refused" else { return }
        let text = """
            Witness: \(verdict.state.rawValue) → \(verdict.action.name) (\(outcome.0)\(outcome.1.isEmpty ? "" : ": \(outcome.1)"))
            Why: \(verdict.reason)
            Session epoch \(verdict.sessionEpoch), bead \(target.polecat.hookBead) e\(target.polecat.hookEpoch)
            Evidence: \(evidence)
            Pane:
            \(paneTail)
            """
        let bead = target.agentBead
        Task { try? await workflow.comment(on: bead, text: text) }
    }

    /// Writes the report `gt health` and friends read.
    func writeReport(now: Double, beads: [String: String], workflow: TownWorkflow) {
        // This node's limits go to its Mayor, which publishes them in membership metadata (docs/health.md).
        let board = RateLimitBoard.board(town: workflow.layout.root)
        board.own = monitor.rateLimits.active(at: now)
        let cluster = board.cluster.map(ClusterRateLimit.init)
        let report = WitnessReport(
            node: workflow.node, at: now,
            polecats: monitor.verdicts.map { WitnessReport.Polecat($0, bead: beads[$0.polecat] ?? "") },
            rateLimits: monitor.rateLimits.active(at: now).map {
                WitnessReport.RateLimit(
                    account: $0.account, until: $0.until, seenAt: $0.seenAt, polecat: $0.polecat, message: $0.message)
            },
            escalations: (mailer?.book.all ?? []).map(WitnessReport.EscalationLine.init), freeze: freeze,
            clusterRateLimits: Mayor.running(town: workflow.layout.root) == nil ? nil : cluster)
        try? TownJSON.write(report, to: WitnessReport.path(workflow.layout))
    }
}

/// The process table, read from `/proc`. A caseless namespace.
enum ProcessTree {
    /// Each process's parent and names (its `comm`, and the base name of its first argument).
    static func table() -> (children: [Int32: [Int32]], names: [Int32: [String]]) {
        var children: [Int32: [Int32]] = [:]
        var namesByPID: [Int32: [String]] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, let parent = Int32(fields[1]) else { continue }
            children[parent, default: []].append(pid)
            var own: [String] = []
            if let open = stat.firstIndex(of: "(") { own.append(String(stat[stat.index(after: open)..<close])) }
            if let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
                let first = cmdline.split(separator: 0).first
            {
                own.append((String(decoding: first, as: UTF8.self) as NSString).lastPathComponent)
            }
            namesByPID[pid] = own
        }
        return (children, namesByPID)
    }

    /// `root` and every process below it, parents before children.
    static func descendants(of root: Int32, in children: [Int32: [Int32]]) -> [Int32] {
        var order: [Int32] = []
        var queue = [root]
        var seen: Set<Int32> = []
        while !queue.isEmpty {
            let pid = queue.removeFirst()
            guard seen.insert(pid).inserted else { continue }
            order.append(pid)
            queue += children[pid] ?? []
        }
        return order
    }

    /// Whether a process named one of `names` runs at `root` or below it.
    static func any(named names: [String], under root: Int32) -> Bool {
        let (children, namesByPID) = table()
        return descendants(of: root, in: children).contains { pid in
            namesByPID[pid]?.contains(where: names.contains) == true
        }
    }

    /// Sends `signal` to every process below `root`, and to `root` itself when `includeRoot` (parents first; for
    /// SIGSTOP the tree is read again until no new process appears, so a child forked meanwhile is stopped too).
    /// Returns the pids signalled.
    @discardableResult
    static func signal(_ signal: Int32, under root: Int32, includeRoot: Bool = true) -> [Int32] {
        var done: Set<Int32> = includeRoot ? [] : [root]
        var order: [Int32] = []
        for _ in 0..<5 {
            let fresh = descendants(of: root, in: table().children).filter { !done.contains($0) }
            if fresh.isEmpty { break }
            for pid in fresh where kill(pid, signal) == 0 || errno != ESRCH {
                done.insert(pid)
                order.append(pid)
            }
            if signal != SIGSTOP { break }
        }
        return order
    }
}

extension ISO8601DateFormatter {
    /// Parses RFC 3339 with or without fractional seconds, as Unix seconds.
    static func parseFractional(_ text: String) -> Double? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)?.timeIntervalSince1970
    }
}
