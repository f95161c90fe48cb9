import Beads
import Foundation
import Git

extension LedgerSync {
    /// The commit being built for a scope during one sync: its id, lines, the ledger rendered into it, replicas.
    struct Tip {
        var commit: GitOID?
        var lines: ScopeLines
        var ledger: Ledger?
        var replicas: [String: ReplicaEntry]
    }

    /// Syncs one scope with one remote: commit local changes, then (fetch,) merge and push until a push lands or
    /// nothing needs pushing; records the result as the absorbed commit.
    func syncScope(
        _ scope: String, with remote: SyncRemote, database: LedgerDatabase, repo: GitRepository
    ) async throws(SyncError) -> SyncScopeResult {
        let store = database.store
        var result = SyncScopeResult(scope: scope, remote: remote.name)
        let absorbed = LedgerSync.absorbedMap(store.absorbedCommit)
        let cache = try await loadCache(scope, absorbed: absorbed, repo: repo)
        let (replicaID, ledger) = store.read { ($0.replicaID, $0.scopes[scope]!) }
        let (lines, changed) = LedgerSync.render(ledger, cache)
        var tip = Tip(commit: cache.commit, lines: cache.lines, ledger: cache.ledger, replicas: cache.replicas)
        let tracking = "refs/remotes/\(remote.name)/ledger/\(scope)"
        let remoteHasScope: Bool
        do { remoteHasScope = try await repo.referenceTarget(tracking) != nil } catch { throw .repository(error) }
        // A scope never committed here: commit it unless it is empty and the remote has it (a clone adopts).
        if changed > 0 || (tip.commit == nil && !remoteHasScope) {
            let merged = tip.replicas[replicaID]?.merged ?? ""
            tip.replicas[replicaID] = replicaEntry(replicaID, merged: merged, ledger: ledger)
            let parents = tip.commit.map { [$0] } ?? []
            tip.commit = try await commit(
                scope, lines, tip.replicas, parents: parents, repo: repo, replica: replicaID,
                message: "ledger \(scope): \(changed) bead\(changed == 1 ? "" : "s") from \(replicaID)")
            tip.lines = lines
            tip.ledger = ledger
            result.sent = changed
            result.commits += 1
        }
        let seenKey = remote.name + "/" + scope
        var attempt = 0
        while true {
            let current: GitOID?
            do { current = try await repo.referenceTarget(tracking) } catch { throw .repository(error) }
            guard current != tip.commit else { break }
            if let current, let seen = seenRemote[seenKey], seen != current,
                !((try? await repo.isDescendant(current, of: seen)) ?? true)
            {
                result.warnings.append(
                    "remote \(remote.name): ledger/\(scope) was rewritten (force-push?): it no longer contains "
                        + "\(seen.hex.prefix(12)); merged by state, nothing lost")
            }
            if let current { seenRemote[seenKey] = current }
            var contains = current == nil
            if let current, let mine = tip.commit {
                contains = (try? await repo.isDescendant(mine, of: current)) ?? false
            }
            if let current, !contains {
                let adopted = try await mergeRemote(
                    current, into: &tip, scope: scope, remote: remote, database: database, repo: repo,
                    result: &result)
                if adopted { break }
            }
            result.pushes += 1
            let outcome: GitPushResult
            do {
                outcome = try await repo.push(
                    tip.commit!, to: remote.url, branch: "ledger/\(scope)", expecting: current)
            } catch {
                throw .remote(name: remote.name, url: remote.url, error)
            }
            if case .pushed = outcome {
                _ = try? await repo.updateReference(tracking, to: tip.commit!, expecting: current, message: "pushed")
                seenRemote[seenKey] = tip.commit!
                pushHook?(scope, tip.commit!)
                break
            }
            attempt += 1
            if attempt >= settings.maxPushAttempts {
                throw .contended(remote: remote.name, scope: scope, attempts: attempt)
            }
            try? await Task.sleep(for: settings.backoff(attempt: attempt - 1))
            try await fetch(remote, repo)
        }
        try await finish(scope, tip, absorbed: absorbed, store: store, repo: repo)
        result.commit = tip.commit
        return result
    }

    /// Makes `tip` the scope's synced commit: local branch, cache and the store's absorbed commit (a WAL record,
    /// so the store is never exported over a newer commit).
    func finish(
        _ scope: String, _ tip: Tip, absorbed: [String: String], store: DurableStore<TownLedgerState>,
        repo: GitRepository
    ) async throws(SyncError) {
        guard let commit = tip.commit else { return }
        do { try await repo.createBranch("ledger/\(scope)", at: commit, force: true) } catch {
            throw .repository(error)
        }
        caches[scope] = ScopeCache(commit: commit, ledger: tip.ledger, lines: tip.lines, replicas: tip.replicas)
        var map = LedgerSync.absorbedMap(store.absorbedCommit)
        guard map[scope] != commit.hex else { return }
        map[scope] = commit.hex
        do { _ = try await store.recordAbsorbedCommit(LedgerSync.absorbedText(map)) } catch {
            throw .store(.store(error))
        }
    }

    /// Merges the remote commit `remote` into the store and `tip`: parses only the lines that differ from the tip's,
    /// checks every bead as a local write would (`Ledger.validateRecord`), writes a merge record of the ones that
    /// pass, prunes behind the oldest live replica, and either adopts `remote` (the merged state is exactly its
    /// content: returns true) or makes a merge commit with both parents (returns false).
    ///
    /// What it cannot take in is quarantined (`quarantine`): lines that are not UTF-8 or have no bead ID are carried
    /// into the merge commit byte for byte, and refused beads the store does not hold keep their remote line (held
    /// lines), so a push never erases from the remote what this replica could not read.
    func mergeRemote(
        _ remoteCommit: GitOID, into tip: inout Tip, scope: String, remote: SyncRemote, database: LedgerDatabase,
        repo: GitRepository, result: inout SyncScopeResult
    ) async throws(SyncError) -> Bool {
        let store = database.store
        let files: (issues: Data, stamps: Data, replicas: Data?, issuesMissing: String?)
        let commitMillis: Int64
        do {
            files = try await LedgerSync.readFiles(remoteCommit, repo)
            commitMillis = try await repo.commitInfo(remoteCommit.hex).committer.time * 1_000
        } catch {
            throw .repository(error)
        }
        let where_ = "remote \(remote.name): ledger/\(scope) at \(remoteCommit.hex.prefix(12))"
        if let missing = files.issuesMissing {
            result.warnings.append(
                "\(where_): \(missing), so it holds no beads; a ledger branch holds issues.jsonl, stamps.jsonl and "
                    + "replicas.jsonl: check what pushed it (the next push writes issues.jsonl as a file)")
        }
        let (issues, badIssues) = ScopeLines.split(files.issues)
        let (stamps, badStamps) = ScopeLines.split(files.stamps)
        let (remoteReplicas, badReplicas) = ReplicaEntry.decode(files.replicas)
        var quarantined: [Quarantined] = []
        let carriedBefore = Set(tip.lines.carried)
        for line in badIssues where !carriedBefore.contains(line.bytes) {
            quarantined.append(Quarantined(number: line.number, id: nil, why: line.why, bytes: line.bytes))
        }
        if !badStamps.isEmpty || badReplicas > 0 {
            result.warnings.append(
                "\(where_): \(badStamps.count + badReplicas) unreadable stamps/replicas lines skipped")
        }
        let current = store.read { $0.scopes[scope]! }
        var parsed = LedgerSync.parseChanged(
            issues: issues, stamps: stamps, against: tip.lines, commitMillis: commitMillis, where: where_,
            validating: current)
        result.warnings += parsed.warnings
        var refusedIDs = Set<String>()
        for refusal in parsed.refused {
            refusedIDs.insert(refusal.id)
            quarantined.append(
                Quarantined(
                    number: ScopeLines.lineNumber(of: refusal.id, in: files.issues), id: refusal.id, why: refusal.why,
                    bytes: Array(issues[refusal.id]!.utf8)))
        }
        // DESIGN §3: a stamp more than maxDrift ahead of the local clock is refused (it would win every merge).
        let limit = settings.wallClockNanos() / 1_000_000 + HLCSettings().maxDriftMillis
        for i in parsed.stamps.indices.reversed() where parsed.stamps[i].newest.wallMillis > limit {
            result.warnings.append(
                "\(where_): bead \(parsed.beads[i].id) carries stamp \(parsed.stamps[i].newest), more than "
                    + "\(HLCSettings().maxDriftMillis / 1_000) s ahead of this clock: skipped (check that node's clock)"
            )
            refusedIDs.insert(parsed.beads[i].id)
            parsed.beads.remove(at: i)
            parsed.stamps.remove(at: i)
        }
        if !parsed.beads.isEmpty {
            let record = TownLedgerState.mergeRecord(
                scope: scope, remote: remote.name, commit: remoteCommit.hex, beads: parsed.beads, stamps: parsed.stamps)
            let (beads, beadStamps) = (parsed.beads, parsed.stamps)
            do {
                let (report, _) = try await store.transact {
                    (state: inout TownLedgerState) throws(LedgerDatabaseError) -> (record: Data, result: MergeReport) in
                    (record, try state.mergeRemote(scope: scope, beads: beads, stamps: beadStamps))
                }
                result.received += beads.count
                result.lostClaims += report.lostClaims
                result.reIDs += report.reIDs.map { "\($0.old) → \($0.new)" }
                // Told once, at the sync that re-IDs (docs/sync.md "Re-IDs"): the bead that landed first keeps the ID.
                for reID in report.reIDs {
                    result.warnings.append(
                        "\(where_): another replica minted \(reID.old) for a different bead, which landed first and "
                            + "keeps that ID; this replica's bead is now \(reID.new) (its edges here follow; "
                            + "\(reID.old) is kept as its alias, and 'bd show \(reID.old)' names both)")
                }
            } catch let error as LedgerDatabaseError {
                throw .store(error)
            } catch let error as StoreError {
                throw .store(.store(error))
            } catch {
                throw .store(.badRecord("\(error)"))
            }
        }
        var replicas = ReplicaEntry.merge(tip.replicas, remoteReplicas)
        result.pruned += try await pruneIfDue(scope, replicas: replicas, store: store)
        let ledger = store.read { $0.scopes[scope]! }
        var lines: ScopeLines
        if let previous = tip.ledger {
            lines = tip.lines.updated(from: previous, to: ledger).0
        } else {
            lines = ScopeLines(ledger: ledger)
        }
        // Held lines: exactly the remote's lines of beads this store refused and does not hold; carried lines:
        // exactly the remote's unreadable ones.
        for id in Array(lines.issues.keys) where ledger.beads[id] == nil {
            lines.issues[id] = nil
            lines.stamps[id] = nil
        }
        for (id, line) in issues where ledger.beads[id] == nil {
            if refusedIDs.contains(id) || LedgerSync.isHeld(line, in: ledger) {
                lines.issues[id] = line
                lines.stamps[id] = stamps[id]
            }
        }
        lines.carried = badIssues.map(\.bytes)
        if !quarantined.isEmpty {
            result.warnings += await quarantine(
                quarantined, scope: scope, remote: remote.name, commit: remoteCommit, where: where_, ledger: ledger)
        }
        if lines.issues == issues && lines.stamps == stamps && replicas == remoteReplicas
            && badStamps.isEmpty && badReplicas == 0 && files.issuesMissing == nil
        {
            tip = Tip(commit: remoteCommit, lines: lines, ledger: ledger, replicas: replicas)
            return true
        }
        let replicaID = store.read { $0.replicaID }
        replicas[replicaID] = replicaEntry(replicaID, merged: remoteCommit.hex, ledger: ledger)
        let parents = (tip.commit.map { [$0] } ?? []) + [remoteCommit]
        let merge = try await commit(
            scope, lines, replicas, parents: parents, repo: repo, replica: replicaID,
            message: "ledger \(scope): merge \(remote.name) \(remoteCommit.hex.prefix(12)) into \(replicaID)")
        result.commits += 1
        tip = Tip(commit: merge, lines: lines, ledger: ledger, replicas: replicas)
        return false
    }

    /// A remote `issues.jsonl` line a sync did not take in.
    struct Quarantined: Sendable {
        var number: Int?
        var id: String?
        var why: String
        var bytes: [UInt8]
    }

    /// Keeps `lines` in `quarantine/<scope>/<remote>-<commit>.jsonl` (as they were) and `.why` (numbers and
    /// reasons), and returns the warnings naming remote, commit and line.
    func quarantine(
        _ lines: [Quarantined], scope: String, remote: String, commit: GitOID, where where_: String, ledger: Ledger
    ) async -> [String] {
        let base = "\(layout.quarantineDirectory)/\(scope)/\(remote)-\(commit.hex.prefix(12))"
        var data: [UInt8] = []
        var why = "lines of issues.jsonl on remote \(remote), ledger/\(scope) at commit \(commit.hex), not taken in:\n"
        for line in lines {
            data += line.bytes
            data.append(0x0A)
            why += "line \(line.number.map(String.init) ?? "?")"
            if let id = line.id { why += " (bead \(LedgerSync.shown(id)))" }
            why += ": \(line.why)\n"
        }
        let (bytes, text) = (data, why)
        let saved: Bool = await DedicatedThread.run { () -> Bool in
            do throws(StoreError) {
                try AtomicFile.write(bytes, to: base + ".jsonl", mode: 0o600, createDirectory: true)
                try AtomicFile.write(Array(text.utf8), to: base + ".why", mode: 0o600)
                return true
            } catch {
                return false
            }
        }
        let kept = saved ? "quarantined in \(base).jsonl" : "could not be saved under \(layout.quarantineDirectory)"
        var out: [String] = []
        for line in lines.prefix(10) {
            var what = "\(where_): issues.jsonl line \(line.number.map(String.init) ?? "?")"
            var fate = "kept on the remote as it is"
            if let id = line.id {
                what += " (bead \(LedgerSync.shown(id)))"
                if ledger.beads[id] != nil { fate = "this replica's version of the bead replaces it at the next push" }
            }
            out.append("\(what): \(line.why): not taken in; \(kept); \(fate)")
        }
        if lines.count > 10 { out.append("\(where_): \(lines.count - 10) more lines not taken in: see \(base).why") }
        return out
    }

    /// An ID for a message: at most 60 characters.
    static func shown(_ id: String) -> String {
        id.count > 60 ? String(id.prefix(60)) + "… (\(id.count) characters)" : id
    }

    /// The beads (and stamps) of the remote lines that differ from `base`, parsed and checked with
    /// `ledger.validateRecord` (the checks of a local write): the ones refused are returned with the reason. A
    /// changed issue line whose stamps line did not change (or is missing) was edited by another tool: what
    /// changed is stamped with the commit's time (beyond the bead's older stamps, so it wins), the same way on
    /// every replica.
    static func parseChanged(
        issues: [String: String], stamps: [String: String], against base: ScopeLines, commitMillis: Int64,
        where where_: String, validating ledger: Ledger
    ) -> (beads: [Bead], stamps: [BeadStamps], warnings: [String], refused: [(id: String, why: String)]) {
        var beads: [Bead] = []
        var out: [BeadStamps] = []
        var warnings: [String] = []
        var refused: [(id: String, why: String)] = []
        for id in issues.keys.sorted() {
            let line = issues[id]!
            let stampLine = stamps[id]
            if base.issues[id] == line && base.stamps[id] == stampLine { continue }
            let bead: Bead
            do { bead = try BeadCodec.decode(try JSONValue.parse(line)) } catch {
                refused.append((id, "not a valid bead (\(error))"))
                continue
            }
            guard bead.id == id else {
                refused.append((id, "not a valid bead (its id is not \(shown(id)))"))
                continue
            }
            do { try ledger.validateRecord(bead) } catch {
                refused.append((id, "refused as a local write would be (\(error))"))
                continue
            }
            var beadStamps: BeadStamps?
            if let stampLine, stampLine != base.stamps[id] {
                do {
                    let s = try BeadStamps(json: try JSONValue.parse(stampLine))
                    if s.id == id { beadStamps = s }
                } catch {
                    warnings.append("\(where_): stamps.jsonl line of \(id) is unreadable (\(error)): stamped at import")
                }
            }
            if beadStamps == nil {
                let old = base.issues[id].flatMap { try? BeadCodec.decode(try JSONValue.parse($0)) }
                let oldStamps = base.stamps[id].flatMap { try? BeadStamps(json: try JSONValue.parse($0)) }
                var stamp = HLCStamp(wallMillis: commitMillis, counter: 0, node: "git-import")
                if let newest = oldStamps?.newest, stamp <= newest {
                    stamp = HLCStamp(wallMillis: newest.wallMillis, counter: newest.counter + 1, node: "git-import")
                }
                if let old {
                    var s = oldStamps ?? BeadStamps(newBead: old, stamp: .zero)
                    s.stampDifferences(from: old, to: bead, with: stamp)
                    beadStamps = s
                } else {
                    beadStamps = BeadStamps(newBead: bead, stamp: stamp)
                }
            }
            beads.append(bead)
            out.append(beadStamps!)
        }
        return (beads, out, warnings, refused)
    }

    /// Prunes tombstones behind the oldest live replica (and never within the horizon) when that point moved.
    func pruneIfDue(
        _ scope: String, replicas: [String: ReplicaEntry], store: DurableStore<TownLedgerState>
    ) async throws(SyncError) -> Int {
        let now = settings.wallClockNanos() / 1_000_000
        let cutoff = now - settings.pruneHorizonMillis
        let live = replicas.values.filter { $0.wallMillis >= cutoff }
        guard let oldest = live.map(\.stamp).min() else { return 0 }
        let horizon = min(oldest, HLCStamp(wallMillis: cutoff, counter: 0, node: ""))
        guard
            pruneHorizons[scope].map({ horizon > $0.horizon && now - $0.checkedMillis >= settings.pruneCheckMillis })
                ?? true
        else { return 0 }
        pruneHorizons[scope] = (horizon, now)
        let due = store.read { state -> Bool in
            guard let ledger = state.scopes[scope] else { return false }
            return LedgerSync.hasPrunable(ledger, before: horizon)
        }
        guard due else { return 0 }
        let record = TownLedgerState.pruneRecord(scope: scope, before: horizon)
        do {
            let (dropped, _) = try await store.transact {
                (state: inout TownLedgerState) throws(LedgerDatabaseError) -> (record: Data, result: Int) in
                (record, try state.prune(scope: scope, before: horizon).count)
            }
            return dropped
        } catch let error as LedgerDatabaseError {
            throw .store(error)
        } catch let error as StoreError {
            throw .store(.store(error))
        } catch {
            throw .store(.badRecord("\(error)"))
        }
    }

    /// Whether `Ledger.prune(before:)` would drop anything (a read-only scan, no copy).
    static func hasPrunable(_ ledger: Ledger, before horizon: HLCStamp) -> Bool {
        for (id, s) in ledger.stamps {
            if s.newest < horizon, ledger.beads[id]?.status == .tombstone { return true }
            for set in [s.labels, s.dependencies, s.comments] {
                for e in set.values where !e.isPresent {
                    if let removed = e.removed, removed < horizon { return true }
                }
            }
        }
        return false
    }

    func replicaEntry(_ replica: String, merged: String, ledger: Ledger) -> ReplicaEntry {
        ReplicaEntry(
            replica: replica, merged: merged, stamp: ledger.newestStamp,
            wallMillis: settings.wallClockNanos() / 1_000_000)
    }

    /// Writes the scope's tree and a commit of it (no reference moves).
    func commit(
        _ scope: String, _ lines: ScopeLines, _ replicas: [String: ReplicaEntry], parents: [GitOID],
        repo: GitRepository, replica: String, message: String
    ) async throws(SyncError) -> GitOID {
        let files: [String: Data] = [
            "issues.jsonl": lines.issuesData, "stamps.jsonl": Data(lines.stampsText.utf8),
            "replicas.jsonl": Data(ReplicaEntry.encode(replicas).utf8),
        ]
        let seconds = settings.wallClockNanos() / 1_000_000_000
        let signature = GitSignature(
            name: "gastown ledger \(replica)", email: "\(replica)@ledger.gastown", time: seconds)
        do {
            let tree = try await repo.writeTree(files: files)
            return try await repo.commit(tree: tree, parents: parents, message: message, author: signature)
        } catch {
            throw .repository(error)
        }
    }
}
