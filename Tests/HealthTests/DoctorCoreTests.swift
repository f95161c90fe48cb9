import Testing

@testable import Health

/// The doctor's pure core: every check's ok, warn and fail boundaries, which findings carry a fix (and which never
/// do: uncommitted work, unreachable remotes, a CA nobody can reach), and the order (worst first, stable).
@Suite struct DoctorCoreTests {
    let now = 1_800_000_000.0
    let day = 86_400.0

    func observed(_ edit: (inout DoctorObservations) -> Void = { _ in }) -> DoctorObservations {
        var value = DoctorObservations(at: now, node: "alpha", source: "node")
        edit(&value)
        return value
    }

    func only(
        _ check: String, _ value: DoctorObservations, settings: DoctorSettings = DoctorSettings()
    )
        -> [DoctorFinding]
    {
        Doctor.diagnose(value, settings: settings).filter { $0.check == check }
    }

    func node(notBefore: Double, notAfter: Double) -> DoctorObservations.Certificate {
        DoctorObservations.Certificate(
            role: "node", file: ".gt/pki/node.crt", subject: "alpha", notBefore: notBefore, notAfter: notAfter,
            renewAt: notBefore + (notAfter - notBefore) * 2 / 3)
    }

    @Test func nodeCertificateExpiredExpiringValidNotYetValidAndMissing() {
        let expired = only(
            "certificate",
            observed {
                $0.certificates = [node(notBefore: now - 91 * day, notAfter: now - day)]
                $0.holdsCA = true
            })
        #expect(expired.count == 1 && expired[0].severity == .fail)
        #expect(expired[0].found.contains("expired 1 d 0 h ago") && expired[0].fix == DoctorFix(.renewCertificate))

        let soon = only(
            "certificate",
            observed {
                $0.certificates = [node(notBefore: now - 80 * day, notAfter: now + 10 * day)]
                $0.caReachable = true
            })
        #expect(soon[0].severity == .warn && soon[0].fix == DoctorFix(.renewCertificate))
        #expect(soon[0].found.contains("expires in 10 d 0 h") && soon[0].found.contains("due for renewal since"))

        let edge = only(
            "certificate", observed { $0.certificates = [node(notBefore: now - 76 * day, notAfter: now + 14 * day)] })
        #expect(edge[0].severity == .ok, "exactly the warning window is not inside it")

        let valid = only(
            "certificate", observed { $0.certificates = [node(notBefore: now - day, notAfter: now + 89 * day)] })
        #expect(valid[0].severity == .ok && valid[0].fix == nil && valid[0].action.isEmpty)

        let future = only(
            "certificate", observed { $0.certificates = [node(notBefore: now + 3_600, notAfter: now + 90 * day)] })
        #expect(future[0].severity == .fail && future[0].found.contains("clock") && future[0].fix == nil)

        let missing = only(
            "certificate",
            observed {
                $0.certificates = [
                    DoctorObservations.Certificate(
                        role: "node", file: ".gt/pki/node.crt", error: ".gt/pki/node.crt is missing")
                ]
            })
        #expect(missing[0].severity == .fail && missing[0].action.contains("gt node join"))
    }

    @Test func certificateFixOnlyWhenACAIsHereOrReachable() {
        let cert = node(notBefore: now - 91 * day, notAfter: now - 1)
        let alone = only("certificate", observed { $0.certificates = [cert] })
        #expect(alone[0].severity == .fail && alone[0].fix == nil)
        #expect(alone[0].action.contains("start a node holding the CA key"))
        let local = only(
            "certificate",
            observed {
                $0.certificates = [cert]
                $0.holdsCA = true
            })
        #expect(local[0].fix != nil && local[0].action.contains("gt doctor --fix"))
        let wire = only(
            "certificate",
            observed {
                $0.certificates = [cert]
                $0.caReachable = true
            })
        #expect(wire[0].fix != nil)
    }

    @Test func caCertificates() {
        func ca(_ role: String, _ notAfter: Double) -> DoctorObservations.Certificate {
            DoctorObservations.Certificate(
                role: role, file: ".gt/pki/\(role).crt", subject: "town cluster CA", notBefore: now - 100 * day,
                notAfter: notAfter)
        }
        let findings = only(
            "ca-certificate",
            observed {
                $0.certificates = [
                    ca("ca", now + 3_000 * day), ca("ca", now + 30 * day), ca("ca", now - 1),
                    ca("ca-previous", now - 1),
                ]
            })
        #expect(findings.map(\.severity) == [.fail, .warn, .warn, .ok])
        #expect(findings[0].action.contains("rotate-ca") && findings.allSatisfy { $0.fix == nil })
        #expect(findings[1].found.contains("expires in 30 d") || findings[2].found.contains("expires in 30 d"))
        #expect(findings.contains { $0.action.contains("--complete") }, "an expired previous CA: finish the rotation")
        let missing = only(
            "ca-certificate",
            observed {
                $0.certificates = [DoctorObservations.Certificate(role: "ca", file: ".gt/pki/ca.crt", error: "missing")]
            })
        #expect(missing[0].severity == .fail)
    }

    @Test func clockSkewBoundsAndDirection() {
        let clocks: [DoctorObservations.PeerClock] = [
            .init(peer: "b", offsetSeconds: 0.25, roundTripSeconds: 0.001),
            .init(peer: "c", offsetSeconds: -2.5, roundTripSeconds: 0.001),
            .init(peer: "d", offsetSeconds: 31, roundTripSeconds: 0.001),
            .init(peer: "e", offsetSeconds: nil, roundTripSeconds: nil, error: "timed out"),
            .init(peer: "f", offsetSeconds: 2, roundTripSeconds: 0.001),
        ]
        let findings = only("clock-skew", observed { $0.clocks = clocks })
        let by = Dictionary(uniqueKeysWithValues: findings.map { ($0.subject, $0) })
        #expect(by["b"]?.severity == .ok && by["b"]?.found.contains("within 0.250 s") == true)
        #expect(by["c"]?.severity == .warn && by["c"]?.found.contains("2.500 s behind") == true)
        #expect(by["d"]?.severity == .fail && by["d"]?.found.contains("31.000 s ahead of") == true)
        #expect(by["e"]?.severity == .warn && by["e"]?.found.contains("timed out") == true)
        #expect(by["f"]?.severity == .ok, "the warning bound itself is still ok")
        #expect(findings.allSatisfy { $0.fix == nil })
        #expect(only("clock-skew", observed { $0.clocks = nil })[0].found.contains("not measured"))
        #expect(only("clock-skew", observed { $0.clocks = [] })[0].found == "no connected peers")
    }

    @Test func ledgerSyncLag() {
        func remote(
            _ name: String, last: Double?, failures: Int = 0, error: String? = nil
        ) -> DoctorObservations.SyncRemote {
            .init(
                name: name, url: "/srv/\(name).git", intervalSeconds: 30, lastSuccessAt: last, failures: failures,
                lastError: error)
        }
        let findings = only(
            "ledger-sync",
            observed {
                $0.ledgerSync = [
                    remote("fresh", last: now - 10), remote("late", last: now - 100),
                    remote("gone", last: now - 7_200, error: "refused"),
                    remote("never", last: nil, failures: 3, error: "no such path"), remote("new", last: nil),
                ]
            })
        let by = Dictionary(uniqueKeysWithValues: findings.map { ($0.subject, $0) })
        #expect(by["ledger remote fresh"]?.severity == .ok)
        #expect(by["ledger remote late"]?.severity == .warn)
        #expect(
            by["ledger remote gone"]?.severity == .fail && by["ledger remote gone"]?.found.contains("refused") == true)
        #expect(
            by["ledger remote never"]?.severity == .fail
                && by["ledger remote never"]?.found.contains("3 failures") == true)
        #expect(by["ledger remote new"]?.severity == .ok)
        #expect(only("ledger-sync", observed { $0.ledgerSync = nil }).isEmpty, "not known without a node")
        var settings = DoctorSettings()
        settings.syncLagFailSeconds = 60
        let strict = only(
            "ledger-sync", observed { $0.ledgerSync = [remote("late", last: now - 100)] }, settings: settings)
        #expect(strict[0].severity == .fail)
    }

    @Test func tmuxStates() {
        func tmux(_ edit: (inout DoctorObservations.Tmux) -> Void) -> DoctorFinding {
            var facts = DoctorObservations.Tmux(
                path: "/usr/bin/tmux", version: "3.3", socket: "gt-abc", serverRunning: true)
            edit(&facts)
            return only("tmux", observed { $0.tmux = facts })[0]
        }
        #expect(tmux { _ in }.severity == .ok && tmux { _ in }.found.contains("server runs"))
        #expect(tmux { $0.serverRunning = false }.found.contains("not running"))
        #expect(tmux { $0.path = nil }.severity == .warn)
        #expect(tmux { $0.version = nil }.severity == .warn)
        let broken = tmux { $0.error = "timed out" }
        #expect(broken.severity == .fail && broken.action.contains("tmux -L gt-abc"))
        #expect(only("tmux", observed()).isEmpty)
    }

    @Test func remotesReachableOrNotNeverFixed() {
        let findings = only(
            "git-remote",
            observed {
                $0.remotes = [
                    .init(kind: "rig", owner: "app", name: "origin", url: "/srv/app.git", error: nil),
                    .init(
                        kind: "rig", owner: "web", name: "origin", url: "git://127.0.0.1:9/web",
                        error: "connection refused"),
                    .init(kind: "ledger", owner: "ledger", name: "hub", url: "/gone/ledger.git", error: "no such path"),
                ]
            })
        #expect(findings.map(\.severity) == [.fail, .fail, .ok])
        #expect(findings.allSatisfy { $0.fix == nil })
        #expect(findings[0].subject == "rig web (origin)" && findings[0].action.contains("web/.repo.git"))
        #expect(findings[1].subject == "ledger remote hub" && findings[1].action.contains("bd remote remove hub"))
        #expect(findings[1].found.contains("/gone/ledger.git cannot be reached: no such path"))
    }

    @Test func diskAndStateDirectory() {
        func disk(_ free: Int64) -> DoctorObservations {
            observed { $0.disk = .init(path: "/t", freeBytes: free, totalBytes: 100 << 30) }
        }
        #expect(only("disk", disk(10 << 30))[0].severity == .ok)
        #expect(only("disk", disk(2 << 30))[0].severity == .warn)
        let low = only("disk", disk(512 << 20))[0]
        #expect(low.severity == .fail && low.found.contains("0.5 GiB free of 100.0 GiB"))
        #expect(only("state-directory", observed { $0.stateWritable = false })[0].severity == .fail)
        #expect(only("state-directory", observed { $0.stateWritable = true }).isEmpty)
    }

    @Test func staleWorktreesCleanDirtyUnknownAndPrunable() {
        func worktree(
            _ name: String, hooked: Bool = false, live: Bool = false, polecat: Bool? = true, bead: Bool? = false,
            dirty: [String]? = []
        ) -> DoctorObservations.Worktree {
            .init(
                rig: "app", polecat: name, path: "/t/app/polecats/\(name)", hooked: hooked, sessionLive: live,
                branch: "polecat/alpha/\(name)/app-1/e1", polecatKnown: polecat, beadKnown: bead, dirtyFiles: dirty,
                error: dirty == nil ? "bad index" : nil)
        }
        let findings = only(
            "stale-worktree",
            observed {
                $0.worktrees = [
                    worktree("clean"), worktree("dirty", dirty: ["a.txt", "b.txt"]), worktree("hooked", hooked: true),
                    worktree("live", live: true), worktree("finished", bead: true),
                    worktree("unknown", polecat: nil, bead: nil),
                    worktree("nopolecat", polecat: false, bead: true), worktree("unreadable", dirty: nil),
                ]
                $0.prunable = [.init(rig: "app", names: ["old"]), .init(rig: "web", names: [])]
            })
        let by = Dictionary(uniqueKeysWithValues: findings.map { ($0.subject, $0) })
        #expect(Set(by.keys) == ["app/clean", "app/dirty", "app/nopolecat", "app/unreadable", "rig app"])
        #expect(by["app/clean"]?.fix == DoctorFix(.removeWorktree, target: "clean", rig: "app"))
        #expect(by["app/clean"]?.found.contains("no bead for its branch") == true)
        #expect(by["app/dirty"]?.fix == nil && by["app/dirty"]?.found.contains("a.txt, b.txt") == true)
        #expect(by["app/dirty"]?.action.contains("never removes uncommitted work") == true)
        #expect(by["app/nopolecat"]?.found.contains("no polecat app/nopolecat") == true)
        #expect(by["app/unreadable"]?.fix == nil && by["app/unreadable"]?.found.contains("bad index") == true)
        #expect(by["rig app"]?.fix == DoctorFix(.pruneWorktrees, rig: "app"))
        #expect(findings.allSatisfy { $0.severity == .warn })
        let healthy = only("stale-worktree", observed { $0.worktrees = [worktree("finished", bead: true)] })
        #expect(healthy.count == 1 && healthy[0].severity == .ok && healthy[0].found.contains("1 polecat worktrees"))
        var detached = worktree("detached")
        detached.branch = nil
        #expect(only("stale-worktree", observed { $0.worktrees = [detached] })[0].found.contains("no work branch"))
    }

    @Test func orphanedSessions() {
        func session(_ name: String, exists: Bool, hook: Int?, epoch: Int = 2) -> DoctorObservations.Session {
            .init(
                name: "gt-x-app-\(name)-e\(epoch)", rig: "app", polecat: name, epoch: epoch, worktreeExists: exists,
                hookSessionEpoch: hook)
        }
        let findings = only(
            "orphaned-session",
            observed {
                $0.sessions = [
                    session("good", exists: true, hook: 2), session("ghost", exists: false, hook: nil),
                    session("idle", exists: true, hook: nil), session("old", exists: true, hook: 3),
                ]
            })
        #expect(findings.map(\.subject) == ["gt-x-app-ghost-e2", "gt-x-app-idle-e2", "gt-x-app-old-e2"])
        #expect(
            findings.allSatisfy { $0.severity == .fail && $0.fix?.kind == .killSession && $0.fix?.target == $0.subject }
        )
        #expect(findings[0].found.contains("has no worktree") && findings[1].found.contains("has no hook"))
        #expect(findings[2].found.contains("session epoch 3"))
        let fine = only("orphaned-session", observed { $0.sessions = [session("good", exists: true, hook: 2)] })
        #expect(fine.count == 1 && fine[0].severity == .ok)
    }

    @Test func worstFirstStableAndWorst() {
        let value = observed {
            $0.disk = .init(path: "/t", freeBytes: 2 << 30, totalBytes: 10 << 30)
            $0.stateWritable = true
            $0.remotes = [.init(kind: "ledger", owner: "ledger", name: "a", url: "/a", error: "x")]
            $0.clocks = [.init(peer: "b", offsetSeconds: 0, roundTripSeconds: 0)]
            $0.sessions = [
                .init(name: "s", rig: "app", polecat: "p", epoch: 1, worktreeExists: false, hookSessionEpoch: nil)
            ]
        }
        let findings = Doctor.diagnose(value)
        #expect(findings.map(\.severity) == findings.map(\.severity).sorted(by: >))
        #expect(findings.prefix(2).map(\.check) == ["git-remote", "orphaned-session"], "fails first, in check order")
        #expect(Doctor.worst(findings) == .fail && Doctor.worst([]) == .ok)
        #expect(Doctor.worst(Doctor.diagnose(observed())) == .ok)
    }

    @Test func formatting() {
        #expect(Doctor.fixed(0.25, places: 3) == "0.250" && Doctor.fixed(31, places: 3) == "31.000")
        #expect(Doctor.fixed(-2.5, places: 1) == "-2.5" && Doctor.fixed(0.04, places: 1) == "0.0")
        #expect(Doctor.fixed(1.96, places: 1) == "2.0" && Doctor.fixed(7, places: 0) == "7")
        #expect(Doctor.duration(40) == "40 s" && Doctor.duration(720) == "12 min")
        #expect(Doctor.duration(3 * 3_600 + 600) == "3 h 10 min" && Doctor.duration(-(86_400 + 4 * 3_600)) == "1 d 4 h")
    }
}
