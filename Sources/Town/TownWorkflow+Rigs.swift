import Beads
import Foundation
import Git
import LedgerStore
import Sessions
import Transport

extension TownWorkflow {
    /// The default bead prefix of a rig: its letters and digits, at most 4, never `hq`.
    public static func defaultPrefix(rig: String) -> String {
        let letters = String(rig.filter { $0.isLetter || $0.isNumber })
        let prefix = String((letters.first?.isLetter == true ? letters : "r" + letters).prefix(4))
        return prefix == "hq" ? "hqr" : prefix
    }

    /// `gt rig add`: clones `gitURL` bare into `<town>/<rig>/.repo.git` and into the Refinery's clone, writes the
    /// rig's config, adds the rig's ledger scope (its prefix routed in `routes.jsonl`) and registers it in
    /// `mayor/rigs.json`. The rig is built in a staging directory and renamed into place; a URL that is not a
    /// repository leaves nothing behind.
    public func addRig(
        name: String, gitURL: String, prefix requested: String?, runtime: String?, maxPolecats: Int? = nil,
        cloneFrom: String? = nil
    ) async throws(TownError) -> RigConfig {
        guard TownNames.isValid(name), !["mayor", "deacon", "settings"].contains(name) else {
            throw .invalidName(kind: "rig", name: name)
        }
        let rigs = try rigConfigs()
        if rigs[name] != nil || FileManager.default.fileExists(atPath: layout.rigDirectory(name)) {
            throw .rigExists(name)
        }
        let prefix = requested ?? TownWorkflow.defaultPrefix(rig: name)
        guard BeadID.isValidPrefix(prefix), prefix != "hq" else {
            throw .ledger(LedgerDatabaseError.invalidPrefix(prefix).description)
        }
        if let owner = rigs.values.first(where: { $0.beads.prefix == prefix }) {
            throw .prefixTaken(prefix: prefix, rig: owner.name)
        }
        if let runtime { _ = try resolveRuntime(runtime, rig: nil) }
        let staging = layout.root + "/.\(name).gt-rig-\(UUID().uuidString.prefix(8))"
        do {
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false)
        } catch {
            throw .io("cannot create \(staging): \(error)")
        }
        do {
            // `cloneFrom` (gt migrate: a local copy of the rig found in the old town) is cloned instead of the URL,
            // whose origin the clones then name, so pushes go to the rig's remote.
            let source = cloneFrom ?? gitURL
            let bare: GitRepository
            do {
                var settings = GitSettings()
                settings.transferProgress = transferProgress("cloning \(name)")
                bare = try await GitRepository.clone(
                    from: source, to: staging + "/.repo.git", bare: true, settings: settings)
            } catch {
                throw TownError.notARepository(url: source, reason: error.message)
            }
            let branch = (try? await bare.headBranch()) ?? "main"
            try TownWorkflow.excludeWorkflowFiles(bareRepository: staging + "/.repo.git")
            let refinery: GitRepository
            do {
                var settings = GitSettings()
                settings.transferProgress = transferProgress("cloning \(name) (the Refinery's copy)")
                refinery = try await GitRepository.clone(
                    from: source, to: staging + "/refinery/rig", bare: false, settings: settings)
            } catch {
                throw TownError.git("cannot clone the Refinery's copy: \(error.message)")
            }
            if cloneFrom != nil {
                do throws(GitError) {
                    for repository in [bare, refinery] { try await repository.setRemoteURL("origin", url: gitURL) }
                } catch {
                    throw TownError.git("cannot point origin at \(gitURL): \(error.message)")
                }
            }
            for directory in ["polecats", "crew"] {
                try? FileManager.default.createDirectory(
                    atPath: staging + "/" + directory, withIntermediateDirectories: true)
            }
            var config = RigConfig(
                name: name, gitURL: gitURL, defaultBranch: branch, createdAt: TownWorkflow.now(), prefix: prefix,
                runtime: runtime)
            config.maxPolecats = maxPolecats
            try TownJSON.write(config, to: staging + "/config.json")
            guard rename(staging, layout.rigDirectory(name)) == 0 else {
                throw TownError.io("cannot move the rig into \(layout.rigDirectory(name)): errno \(errno)")
            }
            do {
                try await withLedger { ledger throws(TownError) in
                    if !ledger.scopes.contains(prefix) { try await ledger.addScope(prefix) }
                }
                try RigRegistry(layout: layout).update(
                    name: name,
                    entry: [
                        "git_url": gitURL, "added_at": config.createdAt,
                        "beads": ["repo": "local", "prefix": prefix] as [String: Any],
                    ])
            } catch {
                try? FileManager.default.removeItem(atPath: layout.rigDirectory(name))
                throw error
            }
            events.record("rig-add", ["rig": name, "prefix": prefix, "git_url": gitURL])
            return config
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw (error as? TownError) ?? .io("\(error)")
        }
    }

    /// `gt rig set <rig> setup CMD` (empty: none): the command run in each new polecat worktree of the rig before
    /// its session starts, written to the rig's config under its lock.
    public func setRigSetup(rig name: String, command: String) throws(TownError) -> RigConfig {
        _ = try rig(name)
        let lock = layout.rigDirectory(name) + "/.config.json.lock"
        var result: Result<RigConfig, TownError> = .failure(.io("cannot lock \(lock)"))
        do {
            try FileLock.withLock(lock) { () throws(TransportError) in
                do throws(TownError) {
                    var config = try rig(name)
                    let trimmed = command.trimmingCharacters(in: .whitespacesAndNewlines)
                    config.setup = trimmed.isEmpty ? nil : command
                    try TownJSON.write(config, to: layout.rigConfig(name))
                    result = .success(config)
                } catch {
                    result = .failure(error)
                }
            }
        } catch {
            throw .io("cannot lock \(lock): \(error)")
        }
        let config = try result.get()
        events.record("rig-set", ["rig": name, "key": "setup", "value": command])
        return config
    }

    /// The path of the setup command's output in a polecat worktree.
    public static func setupLog(worktree: String) -> String { worktree + "/.gt/setup.log" }

    /// Runs the rig's setup command in a new polecat worktree (the hook's variables in its environment, output to
    /// `.gt/setup.log`, at most 10 minutes); a failure is an error naming the exit status, the last output lines
    /// and the log (the sling then releases the claim).
    func runSetup(_ command: String, hook: Hook, worktree: String) async throws(TownError) {
        let log = TownWorkflow.setupLog(worktree: worktree)
        unlink(log)
        let environment = [
            "GT_TOWN": layout.root, "GT_RIG": hook.rig, "GT_POLECAT": hook.polecat, "GT_BEAD": hook.bead,
            "GT_LEASE_EPOCH": String(hook.epoch), "BEADS_DIR": layout.beadsDirectory,
        ]
        let outcome: LoggedCommandOutcome
        do {
            outcome = try await LoggedCommand.run(
                command, in: worktree, environment: environment, logPath: log, timeout: .seconds(600))
        } catch {
            throw .session("the setup command of rig \(hook.rig) did not start: \(error.description)")
        }
        guard !outcome.succeeded else {
            events.record("setup", ["rig": hook.rig, "polecat": hook.polecat, "bead": hook.bead, "log": log])
            return
        }
        let why =
            outcome.timedOut
            ? "ran longer than 10 minutes" : outcome.signaled ? "was killed by signal \(outcome.status)"
            : "failed (exit \(outcome.status))"
        let output = FileManager.default.contents(atPath: log).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let tail = output.split(separator: "\n").suffix(5).joined(separator: " | ")
        events.record(
            "setup-failed", ["rig": hook.rig, "polecat": hook.polecat, "bead": hook.bead, "why": why, "log": log])
        throw .session(
            "the setup command of rig \(hook.rig) \(why) in \(worktree)\(tail.isEmpty ? "" : ": \(tail)"); "
                + "its output is in \(log); \(hook.bead) was released (fix it with gt rig set \(hook.rig) setup CMD)")
    }

    /// Adds `.gt/` to the bare repository's `info/exclude` (shared by all its worktrees), so hook and progress
    /// files never show as changes and are never committed.
    static func excludeWorkflowFiles(bareRepository: String) throws(TownError) {
        try exclude(".gt/", bareRepository: bareRepository)
    }

    /// Adds one pattern to the bare repository's `info/exclude` unless it is there.
    static func exclude(_ pattern: String, bareRepository: String) throws(TownError) {
        let path = bareRepository + "/info/exclude"
        let existing = FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let line = "/" + pattern.drop { $0 == "/" }
        guard !existing.split(separator: "\n").contains(where: { $0 == line || $0 == pattern }) else { return }
        let text = existing + (existing.isEmpty || existing.hasSuffix("\n") ? "" : "\n") + line + "\n"
        do {
            try FileManager.default.createDirectory(
                atPath: bareRepository + "/info", withIntermediateDirectories: true)
            try AtomicFile.write(Array(text.utf8), to: path)
        } catch {
            throw .io("cannot write \(path): \(error)")
        }
    }

    /// `gt rig remove`: refuses while a polecat of the rig is working (unless `force`); stops its sessions,
    /// unregisters it and deletes `<town>/<rig>/`. The rig's beads stay in the ledger.
    public func removeRig(name: String, force: Bool) async throws(TownError) {
        let config = try rig(name)
        try await withLedger { ledger throws(TownError) in
            let polecats = polecats(rig: config, in: ledger)
            if !force, let busy = polecats.first(where: { !$0.isIdle }) {
                throw .polecatBusy(rig: name, name: busy.name, bead: busy.hookBead)
            }
            for polecat in polecats { _ = try? await sessions.kill(polecat.sessionName(townRoot: layout.root)) }
        }
        try RigRegistry(layout: layout).update(name: name, entry: nil)
        try? FileManager.default.removeItem(atPath: layout.rigDirectory(name))
        events.record("rig-remove", ["rig": name])
    }

    /// `gt polecat add`: a new idle polecat with an agent bead.
    public func addPolecat(rig name: String, polecat: String) async throws(TownError) -> PolecatState {
        let config = try rig(name)
        return try await withLedger { ledger throws(TownError) in
            try await createPolecat(rig: config, name: polecat, ledger: ledger)
        }
    }

    /// `gt polecat list`: the polecats of one rig or of all.
    public func listPolecats(rig name: String?) async throws(TownError) -> [PolecatState] {
        let configs: [RigConfig]
        if let name {
            configs = [try rig(name)]
        } else {
            configs = try rigConfigs().values.sorted { $0.name < $1.name }
        }
        return try await withLedger(mode: .read) { ledger throws(TownError) in
            configs.flatMap { polecats(rig: $0, in: ledger) }
        }
    }

    /// `gt polecat remove`: refuses a working polecat unless `force` (which releases its claim); removes its
    /// worktree and closes its agent bead.
    public func removePolecat(rig name: String, polecat: String, force: Bool) async throws(TownError) {
        let config = try rig(name)
        try await withLedger { ledger throws(TownError) in
            guard let state = polecats(rig: config, in: ledger).first(where: { $0.name == polecat }) else {
                throw .noSuchPolecat(rig: name, name: polecat)
            }
            if !state.isIdle {
                guard force else { throw .polecatBusy(rig: name, name: polecat, bead: state.hookBead) }
                if let bead = ledger.bead(state.hookBead), bead.assignee == state.address {
                    try await ledger.write(routing: bead.id) { _, clock, actor in
                        LedgerOp(
                            actor: actor, stamp: clock.stamp, time: clock.time,
                            change: .release(id: bead.id, assignee: state.address))
                    }
                }
            }
            _ = try? await sessions.kill(state.sessionName(townRoot: layout.root))
            try await removeWorktree(rig: config, polecat: polecat)
            let id = PolecatState.beadID(prefix: config.beads.prefix, rig: name, name: polecat)
            try await ledger.write(routing: id) { _, clock, actor in
                LedgerOp(
                    actor: actor, stamp: clock.stamp, time: clock.time,
                    change: .close(id: id, reason: "polecat removed"))
            }
            events.record("polecat-remove", ["rig": name, "polecat": polecat])
        }
    }

    /// Removes the polecat's worktree (if any) and its directory.
    func removeWorktree(rig: RigConfig, polecat: String) async throws(TownError) {
        let path = layout.polecatWorktree(rig.name, polecat)
        do {
            let bare = try await GitRepository.open(at: layout.bareRepository(rig.name))
            if try await bare.worktrees().contains(where: { $0.name == polecat }) {
                try await bare.removeWorktree(polecat, force: true)
            }
        } catch {
            throw .git("cannot remove the worktree of \(rig.name)/\(polecat): \(error.message)")
        }
        try? FileManager.default.removeItem(atPath: path)
    }

    /// `gt crew add`: a full clone of the rig's repository for a person at `<town>/<rig>/crew/<name>/`.
    public func addCrew(rig name: String, member: String) async throws(TownError) -> String {
        let config = try rig(name)
        guard TownNames.isValid(member) else { throw .invalidName(kind: "crew", name: member) }
        let path = layout.crewClone(name, member)
        guard !FileManager.default.fileExists(atPath: path) else {
            throw .io("crew member \(member) exists at \(path)")
        }
        do {
            _ = try await GitRepository.clone(from: config.gitURL, to: path, bare: false)
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw .git("cannot clone \(config.gitURL) for \(member): \(error.message)")
        }
        events.record("crew-add", ["rig": name, "crew": member])
        return path
    }

    /// `gt crew list`: (rig, name, path) of every crew clone.
    public func listCrew(rig name: String?) throws(TownError) -> [(rig: String, name: String, path: String)] {
        let names: [String]
        if let name { names = [try rig(name).name] } else { names = try rigConfigs().keys.sorted() }
        return names.flatMap { rig in crewNames(rig: rig).map { (rig, $0, layout.crewClone(rig, $0)) } }
    }
}
