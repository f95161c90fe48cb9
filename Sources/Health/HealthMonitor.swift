/// The Witness's health rules as a pure core (DESIGN §8): feed it one `HealthObservation` per polecat per patrol
/// with `onObservation`; it returns a `HealthVerdict` (state, action aimed at the polecat and session epoch,
/// evidence). It keeps, per polecat, what it needs across observations: when the pane last changed, how many
/// consecutive observations agreed, the nudges, restarts and crashes of the current assignment, the escalations
/// already raised. No I/O, no clock: time comes in the observations.
///
/// Rules, in order (the first that holds is the state): no session → `dead` (`done-stuck` when a `gt done` was
/// interrupted); the runtime's process gone → `zombie`; a rate-limit message → `rate-limited`; a known dialog →
/// `stalled-at-prompt`; a `gt done` not advancing → `done-stuck`; the same block repeated → `looping`; a fresh
/// heartbeat → `working`; no pane change, `gt` call or heartbeat for `hungAfter` → `hung`; at the ready prompt
/// with work hooked for `idleAfter` → `idle`; else `working`.
///
/// Actions: nothing until a bad state is seen in `confirmations` consecutive observations. Then: `dead`/`zombie`
/// → restart (each counted as a crash of the current step; the `crashLoopLimit`-th crash escalates once and
/// respawning stops); `stalled-at-prompt` → answer the dialog (then escalate once if it keeps coming back
/// unchanged); `hung`/`looping`/`idle` → nudge up to `nudgeLimit` times, then restart up to `restartLimit` times,
/// then re-sling elsewhere (with a lifecycle escalation); `done-stuck` → finish the `gt done` again (escalate after
/// `crashLoopLimit` tries); `rate-limited` → wait for the reset (the account is marked in `rateLimits`), then
/// nudge once. The same action is never repeated on one session within `actionInterval`.
///
/// The shell MUST carry out only actions that pass `HealthFence` against the polecat's current epoch and bead,
/// and MUST pass every verdict's `escalation` to an `EscalationBook`. `Sendable`: plain values.
public struct HealthMonitor: Sendable, Equatable {
    public var settings: HealthSettings
    /// What the monitor keeps about each polecat, by address.
    public private(set) var tracks: [String: Track] = [:]
    /// Accounts seen rate-limited (the account is the runtime's name).
    public private(set) var rateLimits = RateLimitBook()

    /// What is kept about one polecat. `Sendable`: plain values.
    public struct Track: Sendable, Equatable {
        public var sessionEpoch: Int
        /// The assignment (bead and lease epoch) the counters below belong to.
        public var bead: String
        public var leaseEpoch: Int
        public var paneHash: String
        /// When the pane last changed (or the session epoch began).
        public var paneChangedAt: Double
        /// The state seen in the last observations, and how many in a row.
        public var candidate: HealthState = .working
        public var seen = 0
        /// Nudges in the current episode (reset when the polecat is seen working on its own after the last action:
        /// see `progressed`).
        public var nudges = 0
        /// Observations whose pane differed from the one before, since the last action. The first change after a
        /// nudge is usually the nudge's own echo, so it is no sign of progress.
        public var paneChangesSinceAction = 0
        /// The last action on this session epoch and when.
        public var lastAction: HealthAction?
        public var lastActionAt: Double?
        /// Restarts for hung, looping or idle on this assignment.
        public var restarts = 0
        /// Crashes per step on this assignment.
        public var crashes: [String: Int] = [:]
        /// The session epoch whose crash was counted last (a crash counts once per epoch).
        public var crashCountedEpoch: Int?
        /// Dialog answers that did not take (the pane unchanged since the answer), and `gt done` retries on this
        /// assignment.
        public var dialogAnswers = 0
        public var doneRetries = 0
        /// Causes escalated on this assignment (each raised once).
        public var escalated: Set<String> = []
        /// The last verdict.
        public var verdict: HealthVerdict?

        /// Whether a working observation `o` ends the nudge episode: no action yet; a `gt` call or heartbeat after
        /// the last action; or, at least `actionInterval` after it, the pane changing again after the change the
        /// action's own keystrokes made. (A momentary "working" right after a nudge, while its echo breaks up a
        /// loop or counts as fresh output of a hung agent, used to reset the count, so a looping or hung agent
        /// could be nudged forever and never restarted.)
        func progressed(_ o: HealthObservation, _ s: HealthSettings) -> Bool {
            guard let actedAt = lastActionAt else { return true }
            if (o.lastGTCall ?? -.infinity) > actedAt || (o.lastHeartbeat ?? -.infinity) > actedAt { return true }
            return o.at - actedAt >= s.actionInterval && paneChangesSinceAction >= 2
        }
    }

    public init(settings: HealthSettings = HealthSettings()) { self.settings = settings }

    /// The last verdict of every polecat, sorted by address.
    public var verdicts: [HealthVerdict] { tracks.keys.sorted().compactMap { tracks[$0]?.verdict } }

    /// Forgets a polecat (removed, or no longer on this node).
    public mutating func forget(_ polecat: String) { tracks[polecat] = nil }

    /// Decides about one observation.
    public mutating func onObservation(_ observation: HealthObservation) -> HealthVerdict {
        let o = observation
        var track = updatedTrack(o)
        let patterns = RuntimePatterns.forRuntime(o.runtime)
        let (state, reason, evidence, extra) = classify(o, track: track, patterns: patterns)
        if state == track.candidate { track.seen += 1 } else { (track.candidate, track.seen) = (state, 1) }
        if state == .working, track.progressed(o, settings) { track.nudges = 0 }
        var verdict = HealthVerdict(
            polecat: o.polecat, sessionEpoch: o.sessionEpoch, state: state, action: .wait, reason: reason,
            evidence: evidence + baseEvidence(o, track: track), seen: track.seen, at: o.at)
        if case .rateLimit(let until, let line) = extra {
            rateLimits.mark(account: o.runtime, until: until, at: o.at, polecat: o.polecat, message: line)
        }
        decide(&verdict, o, &track, extra: extra)
        if verdict.action.acts {
            track.lastAction = verdict.action
            track.lastActionAt = o.at
            track.paneChangesSinceAction = 0
        }
        track.verdict = verdict
        tracks[o.polecat] = track
        return verdict
    }

    // MARK: - Tracking

    private func updatedTrack(_ o: HealthObservation) -> Track {
        guard var track = tracks[o.polecat] else {
            return Track(
                sessionEpoch: o.sessionEpoch, bead: o.bead, leaseEpoch: o.leaseEpoch, paneHash: o.paneHash,
                paneChangedAt: o.at)
        }
        if track.bead != o.bead || track.leaseEpoch != o.leaseEpoch {
            track = Track(
                sessionEpoch: o.sessionEpoch, bead: o.bead, leaseEpoch: o.leaseEpoch, paneHash: o.paneHash,
                paneChangedAt: o.at)
            return track
        }
        if track.sessionEpoch != o.sessionEpoch {
            track.sessionEpoch = o.sessionEpoch
            track.paneHash = o.paneHash
            track.paneChangedAt = o.at
            track.candidate = .working
            track.seen = 0
            track.nudges = 0
            track.lastAction = nil
            track.lastActionAt = nil
            track.dialogAnswers = 0
        } else if track.paneHash != o.paneHash {
            track.paneHash = o.paneHash
            track.paneChangedAt = o.at
            track.paneChangesSinceAction += 1
        }
        return track
    }

    /// What a classification found beyond the state. `Sendable`: plain values.
    enum Extra: Sendable, Equatable {
        case none
        case dialog(DialogPattern)
        case rateLimit(until: Double, line: String)
    }

    private func classify(_ o: HealthObservation, track: Track, patterns: RuntimePatterns)
        -> (HealthState, String, [HealthEvidence], Extra)
    {
        let s = settings
        if !o.sessionAlive {
            let exit = o.exitStatus.map { "exit status \($0)" } ?? "exit status unknown"
            if let steps = o.doneStepsCompleted {
                return (
                    .doneStuck, "gt done stopped after \(steps) step(s) and the session is gone",
                    [HealthEvidence("done_steps", "\(steps)")], .none
                )
            }
            guard o.hooked else { return (.idle, "no work hooked and no session", [], .none) }
            return (.dead, "the session is gone (\(exit)) with \(o.bead) hooked", [HealthEvidence("exit", exit)], .none)
        }
        if o.processAlive == false {
            return (.zombie, "the session runs but no \(o.runtime) process is left in it", [], .none)
        }
        let lines = PaneReading.lines(o.paneText)
        if let line = PaneReading.rateLimitLine(in: lines, patterns: patterns, tail: s.dialogTailLines) {
            let until =
                rateLimits.entries[o.runtime].flatMap { $0.message == line ? $0.until : nil }
                ?? RateLimitReset.parse(line, now: o.at, utcOffset: s.rateLimitUTCOffset, fallback: s.rateLimitDefault)
            return (
                .rateLimited, "\(o.runtime) is rate-limited until \(Int(until)) (\(line.trimmed))",
                [HealthEvidence("rate_limit", line.trimmed), HealthEvidence("until", "\(Int(until))")],
                .rateLimit(until: until, line: line)
            )
        }
        if let dialog = PaneReading.dialog(in: lines, patterns: patterns, tail: s.dialogTailLines) {
            return (
                .stalledAtPrompt, "waiting at a dialog (\(dialog.name))",
                [HealthEvidence("dialog", dialog.name), HealthEvidence("keys", dialog.keys.joined(separator: " "))],
                .dialog(dialog)
            )
        }
        if let steps = o.doneStepsCompleted {
            let since = o.at - (o.doneChangedAt ?? o.at)
            if since >= s.doneStuckAfter {
                return (
                    .doneStuck, "gt done has not advanced for \(Int(since)) s (after \(steps) step(s))",
                    [HealthEvidence("done_steps", "\(steps)")], .none
                )
            }
        }
        if let loop = PaneReading.loop(in: lines, repeats: s.loopRepeats, maxPeriod: s.loopMaxPeriod) {
            return (
                .looping, "the same \(loop.period)-line output repeats (\(loop.line.trimmed))",
                [HealthEvidence("loop_line", loop.line.trimmed), HealthEvidence("loop_period", "\(loop.period)")],
                .none
            )
        }
        if let beat = o.lastHeartbeat, o.at - beat < s.heartbeatValidity {
            return (.working, "heartbeat \(Int(o.at - beat)) s ago", [], .none)
        }
        let quietSince = max(track.paneChangedAt, o.lastGTCall ?? -.infinity, o.lastHeartbeat ?? -.infinity)
        let quiet = o.at - quietSince
        if o.hooked, quiet >= s.hungAfter {
            return (.hung, "no output, gt call or heartbeat for \(Int(quiet)) s", [], .none)
        }
        if o.hooked, PaneReading.atReadyPrompt(lines, prompt: patterns.readyPrompt), quiet >= s.idleAfter {
            return (.idle, "at the ready prompt with \(o.bead) hooked for \(Int(quiet)) s", [], .none)
        }
        if !o.hooked { return (.idle, "no work hooked", [], .none) }
        return (.working, "output \(Int(o.at - track.paneChangedAt)) s ago", [], .none)
    }

    private func baseEvidence(_ o: HealthObservation, track: Track) -> [HealthEvidence] {
        var evidence = [
            HealthEvidence("session_epoch", "\(o.sessionEpoch)"),
            HealthEvidence("pane_hash", o.paneHash),
            HealthEvidence("pane_changed_s", "\(Int(o.at - track.paneChangedAt))"),
        ]
        if let call = o.lastGTCall { evidence.append(HealthEvidence("last_gt_call_s", "\(Int(o.at - call))")) }
        if let beat = o.lastHeartbeat { evidence.append(HealthEvidence("heartbeat_s", "\(Int(o.at - beat))")) }
        if let hooked = o.hookedAt { evidence.append(HealthEvidence("hook_age_s", "\(Int(o.at - hooked))")) }
        if !o.bead.isEmpty { evidence.append(HealthEvidence("bead", "\(o.bead) e\(o.leaseEpoch)")) }
        return evidence
    }

    // MARK: - Deciding

    private func decide(_ verdict: inout HealthVerdict, _ o: HealthObservation, _ track: inout Track, extra: Extra) {
        let s = settings
        let state = verdict.state
        guard state != .working, !(state == .idle && !o.hooked) else { return }
        guard track.seen >= s.confirmations else {
            verdict.reason += " (confirming, \(track.seen)/\(s.confirmations))"
            return
        }
        let recent = track.lastActionAt.map { o.at - $0 < s.actionInterval } ?? false
        func escalate(_ category: EscalationCategory, cause: String, subject: String) {
            guard !track.escalated.contains(cause) else {
                verdict.reason += " (escalated)"
                return
            }
            track.escalated.insert(cause)
            verdict.action = .escalate(category)
            verdict.escalation = Escalation(
                cause: cause, category: category, polecat: o.polecat, subject: subject, evidence: verdict.evidence)
        }
        let assignment = "\(o.polecat):\(o.bead):e\(o.leaseEpoch)"
        switch state {
        case .dead, .zombie:
            if track.crashCountedEpoch != o.sessionEpoch {
                track.crashCountedEpoch = o.sessionEpoch
                track.crashes[o.step, default: 0] += 1
            }
            let crashes = track.crashes[o.step] ?? 0
            verdict.evidence.append(HealthEvidence("crashes", "\(crashes) on step \(o.step)"))
            if crashes >= s.crashLoopLimit {
                verdict.reason += "; crash loop (\(crashes) crashes on step \(o.step)): not respawning"
                escalate(
                    .failed, cause: "crash-loop:\(assignment):\(o.step)",
                    subject: "\(o.polecat) crash loop on \(o.bead) (\(crashes) crashes on step \(o.step))")
            } else if !(recent && track.lastAction == .restartSession) {
                verdict.action = .restartSession
            }
        case .stalledAtPrompt:
            guard case .dialog(let dialog) = extra else { return }
            if track.dialogAnswers >= s.nudgeLimit {
                verdict.reason += "; answered \(track.dialogAnswers) times and still there"
                escalate(
                    .blocked, cause: "dialog:\(assignment):\(dialog.name)",
                    subject: "\(o.polecat) stuck at \(dialog.name) on \(o.bead)")
            } else {
                let answered = track.lastAction == .dismissDialog(keys: dialog.keys)
                let unchangedSince = track.paneChangedAt <= (track.lastActionAt ?? -.infinity)
                if answered && unchangedSince {
                    if recent { return }
                    track.dialogAnswers += 1
                } else {
                    track.dialogAnswers = 0
                }
                verdict.action = .dismissDialog(keys: dialog.keys)
            }
        case .rateLimited:
            if case .rateLimit(let until, _) = extra, o.at >= until, !recent {
                verdict.reason += "; the reset has passed"
                verdict.action = .nudge(text: "The rate limit has reset. Continue the work on your hook.")
            }
        case .doneStuck:
            if track.doneRetries >= s.crashLoopLimit {
                escalate(
                    .failed, cause: "done-stuck:\(assignment)",
                    subject: "\(o.polecat): gt done for \(o.bead) keeps stopping")
            } else if !recent {
                track.doneRetries += 1
                verdict.action = .finishDone
            }
        case .hung, .looping, .idle:
            if recent { return }
            if track.nudges < s.nudgeLimit {
                track.nudges += 1
                verdict.action = .nudge(text: nudgeText(state))
            } else if track.restarts < s.restartLimit {
                track.restarts += 1
                verdict.action = .restartSession
            } else if !track.escalated.contains("resling:\(assignment)") {
                track.escalated.insert("resling:\(assignment)")
                verdict.action = .resling
                verdict.escalation = Escalation(
                    cause: "resling:\(assignment)", category: .lifecycle, polecat: o.polecat,
                    subject: "\(o.polecat) gave up \(o.bead) (\(state.rawValue) after \(track.restarts) restarts); re-slung",
                    evidence: verdict.evidence)
            }
        case .working:
            return
        }
    }

    private func nudgeText(_ state: HealthState) -> String {
        switch state {
        case .looping:
            "You seem to be repeating the same output. Stop, re-read your hook (gt prime) and try another approach."
        case .idle:
            "Work is on your hook: run gt prime and do it, then gt done."
        default:
            "Are you still working? If a long command runs, call gt heartbeat; otherwise continue your hooked work."
        }
    }
}

extension String {
    var trimmed: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
