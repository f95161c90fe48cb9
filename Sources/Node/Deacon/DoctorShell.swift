import Dispatch
import Foundation
import Git
import Health
import LedgerStore
import Sessions
import Town
import Transport
import Wire

/// Gathers the doctor's observations (`DoctorObservations`) of a town on this host: certificates, tmux and the
/// town's server, git remotes (each rig repository's remotes and the ledger's), disk, polecat worktrees and the
/// town's sessions. The running node adds the peers' clocks and its ledger sync loop's view (`Node.doctor`).
/// Blocking work (libgit2 network, file system walks, `statvfs`) runs off the cooperative pool: git calls on
/// each repository's own thread, the rest through `NodeBlocking`. A caseless namespace.
public enum DoctorGather {
    /// Everything a process on this host can see without the node's live state.
    public static func local(
        layout: TownLayout, pki: PKIDirectory, node: String, sessions: any SessionDriver, source: String,
        ledger: LedgerFacts? = nil, probeRemotes: Bool = true, now: Date = Date()
    ) async -> DoctorObservations {
        var observed = DoctorObservations(at: now.timeIntervalSince1970, node: node, source: source)
        observed.holdsCA = pki.holdsCA
        observed.certificates = await NodeBlocking.run { certificates(pki) }
        let (disk, writable) = await NodeBlocking.run { () -> (DoctorObservations.Disk?, Bool) in
            (diskFacts(layout.root), stateWritable(layout.stateDirectory))
        }
        observed.disk = disk
        observed.stateWritable = writable
        let listed: [SessionName]
        if let tmux = sessions as? TmuxDriver {
            let version = await TmuxDriver.version(tmuxPath: tmux.tmuxPath)
            var facts = DoctorObservations.Tmux(
                path: tmux.tmuxPath, version: version.map { "\($0.0).\($0.1)" }, socket: tmux.socketName,
                serverRunning: false)
            do {
                listed = try await tmux.list()
                facts.serverRunning = !listed.isEmpty  // tmux ends a server when its last session ends
            } catch {
                listed = []
                facts.error = error.description
            }
            observed.tmux = facts
        } else {
            observed.tmux = DoctorObservations.Tmux(path: nil, version: nil, socket: "", serverRunning: false)
            listed = (try? await sessions.list()) ?? []
        }
        var live: Set<String> = []
        for name in listed where (try? await sessions.isAlive(name)) == true {
            live.insert("\(name.rig)/\(name.polecat)")
        }
        for (rig, polecat, path) in PolecatWorktrees.all(layout) {
            let hook = try? Hook.read(worktree: path)
            var worktree = DoctorObservations.Worktree(
                rig: rig, polecat: polecat, path: path, hooked: hook != nil,
                sessionLive: live.contains("\(rig)/\(polecat)"), dirtyFiles: nil)
            if hook == nil && !worktree.sessionLive {
                do {
                    let repository = try await GitRepository.open(at: path)
                    worktree.branch = try await repository.headBranch()
                    worktree.dirtyFiles = try await repository.dirtyFiles().map(\.path)
                } catch {
                    worktree.error = error.message
                }
            }
            observed.worktrees.append(worktree)
        }
        let idle = observed.worktrees.indices.filter {
            !observed.worktrees[$0].hooked && !observed.worktrees[$0].sessionLive
        }
        if !idle.isEmpty, let ledger {
            let beads = Set(idle.compactMap { observed.worktrees[$0].branch.flatMap(BranchFacts.bead(ofBranch:)) })
            if let known = await ledger(beads) {
                for index in idle {
                    let worktree = observed.worktrees[index]
                    observed.worktrees[index].polecatKnown = known.polecats.contains(
                        "\(worktree.rig)/\(worktree.polecat)")
                    observed.worktrees[index].beadKnown =
                        worktree.branch.flatMap(BranchFacts.bead(ofBranch:)).map(known.beads.contains) ?? false
                }
            }
        }
        for name in listed where name.rig != "hq" {
            let path = layout.polecatWorktree(name.rig, name.polecat)
            let exists = FileManager.default.fileExists(atPath: path + "/.git")
            let hook = exists ? (try? Hook.read(worktree: path)) ?? nil : nil
            observed.sessions.append(
                DoctorObservations.Session(
                    name: name.rendered, rig: name.rig, polecat: name.polecat, epoch: Int(name.epoch),
                    worktreeExists: exists, hookSessionEpoch: hook?.sessionEpoch))
        }
        for rig in PolecatWorktrees.rigs(layout) {
            guard let bare = try? await GitRepository.open(at: layout.bareRepository(rig)) else { continue }
            let gone = ((try? await bare.worktrees()) ?? []).filter(\.isPrunable).map(\.name)
            if !gone.isEmpty { observed.prunable.append(DoctorObservations.Prunable(rig: rig, names: gone)) }
            guard probeRemotes else { continue }
            for (name, url) in (try? await bare.remotes()) ?? [] {
                observed.remotes.append(
                    DoctorObservations.Remote(
                        kind: "rig", owner: rig, name: name, url: url, error: await probe(bare, name)))
            }
        }
        let ledgerRemotes = SyncConfig.remotes(StoreLayout(beadsDirectory: layout.beadsDirectory))
        if probeRemotes, !ledgerRemotes.isEmpty {
            let prober = await probeRepository(layout)
            for remote in ledgerRemotes {
                let error: String?
                if let prober { error = await probe(prober, remote.url) } else { error = "no repository to probe from" }
                observed.remotes.append(
                    DoctorObservations.Remote(
                        kind: "ledger", owner: "ledger", name: remote.name, url: remote.url, error: error))
            }
        }
        return observed
    }

    /// Which of the given beads the ledger has, and its polecats (`rig/name`); nil when it cannot be read.
    public typealias LedgerFacts =
        @Sendable (_ beads: Set<String>) async -> (polecats: Set<String>, beads: Set<String>)?

    /// `LedgerFacts` read through `workflow` (its held ledger in the node, else the store as a reader).
    public static func ledgerFacts(_ workflow: TownWorkflow) -> LedgerFacts {
        { beads in
            guard let polecats = try? await workflow.listPolecats(rig: nil) else { return nil }
            let known = try? await workflow.withLedger(mode: .read) { ledger throws(TownError) -> Set<String> in
                Set(beads.filter { ledger.bead($0) != nil })
            }
            guard let known else { return nil }
            return (Set(polecats.map { "\($0.rig)/\($0.name)" }), known)
        }
    }

    /// Probes one remote; the error's message, nil when it answered.
    static func probe(_ repository: GitRepository, _ remote: String) async -> String? {
        do {
            _ = try await repository.probeRemote(remote)
            return nil
        } catch {
            return error.message
        }
    }

    /// A repository to make anonymous remotes in for the ledger remotes: the ledger's own repository when it
    /// has one, else `<town>/.gt/doctor/probe.git` (an empty bare repository made once).
    static func probeRepository(_ layout: TownLayout) async -> GitRepository? {
        let ledger = StoreLayout(beadsDirectory: layout.beadsDirectory).repoDirectory
        if let repository = try? await GitRepository.open(at: ledger) { return repository }
        let path = layout.stateDirectory + "/doctor/probe.git"
        if let repository = try? await GitRepository.open(at: path) { return repository }
        return try? await GitRepository.create(at: path, bare: true)
    }

    /// `node.crt`, `ca.crt` and (during a CA rotation) `ca-previous.crt`. Blocking (file reads).
    static func certificates(_ pki: PKIDirectory) -> [DoctorObservations.Certificate] {
        var result: [DoctorObservations.Certificate] = []
        let files: [(String, URL)] = [
            ("node", pki.nodeCertificate), ("ca", pki.caCertificate), ("ca-previous", pki.previousCACertificate),
        ]
        for (role, url) in files {
            let file = ".gt/pki/" + url.lastPathComponent
            guard let pem = try? String(contentsOf: url, encoding: .utf8) else {
                if role == "ca-previous" { continue }
                result.append(DoctorObservations.Certificate(role: role, file: file, error: "\(file) is missing"))
                continue
            }
            do {
                let certificate = try Certificate(pem: pem)
                result.append(
                    DoctorObservations.Certificate(
                        role: role, file: file, subject: certificate.commonName,
                        notBefore: certificate.notBefore.timeIntervalSince1970,
                        notAfter: certificate.notAfter.timeIntervalSince1970,
                        renewAt: role == "node" ? PKI.renewalDate(of: certificate).timeIntervalSince1970 : nil))
            } catch {
                result.append(
                    DoctorObservations.Certificate(role: role, file: file, error: "\(file) is unreadable: \(error)"))
            }
        }
        return result
    }

    /// Free and total bytes of the file system holding `path`. Blocking.
    static func diskFacts(_ path: String) -> DoctorObservations.Disk? {
        var fs = statvfs()
        guard statvfs(path, &fs) == 0 else { return nil }
        return DoctorObservations.Disk(
            path: path, freeBytes: Int64(fs.f_bavail) * Int64(fs.f_frsize),
            totalBytes: Int64(fs.f_blocks) * Int64(fs.f_frsize))
    }

    /// True when a file can be made in `directory` (it is removed again). Blocking.
    static func stateWritable(_ directory: String) -> Bool {
        let probe = directory + "/.doctor-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(probe) }
        return FileManager.default.createFile(atPath: probe, contents: Data("ok".utf8))
    }

    /// Each connected peer's clock, read with a `clock` request over the node's link: offset = the peer's
    /// wall clock − the middle of the round trip here.
    static func clocks(_ context: NodeContext, timeout: TimeInterval = 5) async -> [DoctorObservations.PeerClock] {
        var result: [DoctorObservations.PeerClock] = []
        for peer in await context.manager.connectedPeers().sorted(by: { $0.rawValue < $1.rawValue }) {
            let sent = Date().timeIntervalSince1970
            let start = DispatchTime.now().uptimeNanoseconds
            do {
                let reply = try await context.request(NodeMessageType.clock, body: [], to: peer, timeout: timeout)
                let trip = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                let clock = try NodeJSON.decode(PeerClockReply.self, from: reply.body)
                result.append(
                    DoctorObservations.PeerClock(
                        peer: peer.rawValue, offsetSeconds: clock.wall - (sent + trip / 2), roundTripSeconds: trip))
            } catch {
                result.append(
                    DoctorObservations.PeerClock(
                        peer: peer.rawValue, offsetSeconds: nil, roundTripSeconds: nil, error: "\(error)"))
            }
        }
        return result
    }

    /// The ledger sync loop's view of each remote, nil when the node has no sync loop running.
    static func ledgerSync(_ sync: LedgerSyncComponent?) async -> [DoctorObservations.SyncRemote]? {
        guard let sync, let remotes = try? await sync.remoteStatus() else { return nil }
        return remotes.map {
            DoctorObservations.SyncRemote(
                name: $0.name, url: $0.url, intervalSeconds: $0.intervalSeconds,
                lastSuccessAt: $0.lastSuccessAt?.timeIntervalSince1970, failures: $0.failures,
                lastError: $0.lastError)
        }
    }
}

/// A peer's answer to a `clock` request: its wall clock (seconds since 1970). `Sendable`: a number.
public struct PeerClockReply: Codable, Sendable, Equatable {
    public var wall: Double
    public init(wall: Double) { self.wall = wall }
}

/// Carries out the safe fixes the doctor core named (`gt doctor --fix`): nothing else. A caseless namespace.
public enum DoctorRepair {
    /// What one fix did: `done` says it worked, `message` what happened (or why not).
    public struct Outcome: Codable, Sendable, Equatable {
        public var fix: DoctorFix
        public var done: Bool
        public var message: String
    }

    /// Carries out each distinct fix of `findings`, in order. `renew` renews this node's certificate (over the
    /// running node, or locally with the CA key) and returns a line saying so; sessions are killed by their
    /// exact name through `sessions` (the town's own tmux server); worktrees are removed unforced, so git
    /// refuses one that became dirty since it was observed.
    public static func apply(
        _ findings: [DoctorFinding], layout: TownLayout, sessions: any SessionDriver,
        renew: @Sendable () async throws -> String
    ) async -> [Outcome] {
        var seen: Set<DoctorFix> = []
        var outcomes: [Outcome] = []
        let town = TownID(townRoot: layout.root)
        for fix in findings.compactMap(\.fix) where seen.insert(fix).inserted {
            switch fix.kind {
            case .renewCertificate:
                do {
                    outcomes.append(Outcome(fix: fix, done: true, message: try await renew()))
                } catch {
                    outcomes.append(
                        Outcome(fix: fix, done: false, message: "renewing the certificate failed: \(error)"))
                }
            case .killSession:
                guard let name = SessionName.parse(fix.target), name.town == town else {
                    outcomes.append(
                        Outcome(fix: fix, done: false, message: "\(fix.target) is not a session of this town"))
                    continue
                }
                do {
                    let killed = try await sessions.kill(name)
                    _ = try? await sessions.forget(name)
                    outcomes.append(
                        Outcome(
                            fix: fix, done: killed,
                            message: killed ? "killed session \(fix.target)" : "session \(fix.target) was already gone")
                    )
                } catch {
                    outcomes.append(Outcome(fix: fix, done: false, message: "killing \(fix.target) failed: \(error)"))
                }
            case .removeWorktree:
                guard let rig = fix.rig else { continue }
                do {
                    let bare = try await GitRepository.open(at: layout.bareRepository(rig))
                    let path = layout.polecatWorktree(rig, fix.target)
                    try await bare.removeWorktree(fix.target, force: false)
                    try? FileManager.default.removeItem(atPath: path)
                    outcomes.append(Outcome(fix: fix, done: true, message: "removed the worktree \(path)"))
                } catch {
                    outcomes.append(
                        Outcome(
                            fix: fix, done: false, message: "removing \(rig)/\(fix.target) failed: \(error.message)"))
                }
            case .pruneWorktrees:
                guard let rig = fix.rig else { continue }
                do {
                    let bare = try await GitRepository.open(at: layout.bareRepository(rig))
                    let pruned = try await bare.pruneWorktrees()
                    outcomes.append(
                        Outcome(
                            fix: fix, done: true,
                            message:
                                "pruned \(pruned.count) worktree entries of \(rig): \(pruned.joined(separator: ", "))"))
                } catch {
                    outcomes.append(Outcome(fix: fix, done: false, message: "pruning \(rig) failed: \(error.message)"))
                }
            }
        }
        return outcomes
    }
}

extension Node {
    /// The doctor's observations as the running node sees them (`gt doctor` over `node.sock`, the `doctor` Dog):
    /// the local ones plus the peers' clocks and the ledger sync loop's remotes.
    func doctorObservations() async throws -> DoctorObservations {
        guard let context else { throw ErrorReply(code: .unavailable, message: "the node is not serving yet") }
        let layout = TownLayout(root: context.town.root)
        let town = deaconServices?.town ?? DeaconTown(layout: layout, ledger: nil)
        let workflow: TownWorkflow
        do { workflow = try await town.workflow() } catch {
            throw ErrorReply(code: .unavailable, message: "the town's workflow is unusable: \(error.description)")
        }
        return await Self.doctorObservations(
            context: context, layout: layout, workflow: workflow,
            sync: options.components.compactMap { $0 as? LedgerSyncComponent }.first)
    }

    /// The node's observations: local, plus clocks and ledger sync; a connected peer counts as a way to the CA.
    static func doctorObservations(
        context: NodeContext, layout: TownLayout, workflow: TownWorkflow, sync: LedgerSyncComponent?
    ) async -> DoctorObservations {
        var observed = await DoctorGather.local(
            layout: layout, pki: context.town.pki, node: context.name.rawValue, sessions: workflow.sessions,
            source: "node", ledger: DoctorGather.ledgerFacts(workflow))
        observed.clocks = await DoctorGather.clocks(context)
        observed.ledgerSync = await DoctorGather.ledgerSync(sync)
        observed.caReachable = observed.holdsCA || !(observed.clocks ?? []).isEmpty
        return observed
    }
}
