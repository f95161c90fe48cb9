import Beads
import Foundation
import GasTownTestKit
import LedgerStore
import Node
import Testing
import Transport
import Wire

/// Two or three clusters on loopback, each with its own CA, in one process (real TLS, real listeners, real
/// ledgers): A reads B's allowed rig, a denied rig is refused, a cluster C that nobody added gets nothing even
/// with a certificate naming one of A's nodes, and a peer organization's certificate never passes on A's
/// cluster listener.
@Suite(.serialized) struct FederationTests {
    static func freePort() throws -> UInt16 {
        let listener = try Listener(
            host: "127.0.0.1", port: 0,
            context: try TLSContext(identity: try CertificateAuthority.create(clusterName: "p", now: Date()).makeIdentity(for: NodeName("p"))),
            local: try NodeName("p"), onConnection: { connection, _ in connection.close() })
        guard case .tcp(_, let port) = listener.address else { return 0 }
        return port
    }

    /// A town `name` of organization `org` with a rig `api` (prefix ap) and `web` (prefix wb), one bead in each.
    func makeOrg(_ directory: TempDir, name: String, org: String, federationPort: UInt16?) throws -> TownPaths {
        let town = TownPaths(root: directory.join(name))
        let listen = federationPort.map { #", "listen": "127.0.0.1:\#($0)""# } ?? ""
        try directory.write(
            "\(name)/mayor/town.json",
            #"{"name": "\#(name)", "type": "town", "version": 2, "federation": {"organization": "\#(org)"\#(listen)}}"#)
        try directory.write(
            "\(name)/mayor/rigs.json",
            #"{"rigs": {"api": {"git_url": "", "beads": {"prefix": "ap"}}, "web": {"git_url": "", "beads": {"prefix": "wb"}}}}"#)
        try PKI.initCluster(at: town.pki, clusterName: org, nodeName: try NodeName(name))
        let store = try LedgerDatabase.initialize(StoreLayout(beadsDirectory: town.root + "/.beads"), prefix: "hq")
        for (scope, id) in [("ap", "ap-1"), ("wb", "wb-1")] {
            try store.addScope(scope)
            let line = #"{"id":"\#(id)","title":"\#(org) bead \#(id)","status":"open","priority":1,"issue_type":"task","created_at":"2025-12-01T00:00:00Z","updated_at":"2025-12-01T00:00:00Z"}"#
            let bead = try BeadCodec.decodeJSONL(line + "\n")[0]
            _ = try store.write(scope: scope, routing: nil, actor: "test") { _ in [.create(bead, allowCycles: false)] }
        }
        store.close()
        return town
    }

    func startNode(_ town: TownPaths) async throws -> (Node, FederationComponent) {
        let (node, federation, _) = try await startNodeWithLedger(town)
        return (node, federation)
    }

    func startNodeWithLedger(_ town: TownPaths) async throws -> (Node, FederationComponent, NodeLedgerHandle) {
        let ledger = LedgerActor()
        let federation = FederationComponent(ledger: ledger.ledger, reloadInterval: .milliseconds(200))
        let node = Node(
            town: town.root, options: NodeOptions(listen: "127.0.0.1:0", components: [ledger, federation]))
        try await node.start()
        return (node, federation, ledger.ledger)
    }

    /// A local bead of A blocked by `external:hop://beta/api/ap-1` stays blocked until ap-1 closes in B; then A's
    /// node records the remote close on the edge and the bead is ready.
    @Test func aRemoteBeadBlocksALocalOneUntilItClosesInB() async throws {
        let directory = try TempDir(prefix: "gt-federation-ext")
        let portB = try Self.freePort()
        let a = try makeOrg(directory, name: "a1", org: "alpha", federationPort: nil)
        let b = try makeOrg(directory, name: "b1", org: "beta", federationPort: portB)
        // Poll external dependencies often.
        let townFile = a.root + "/mayor/town.json"
        let text = try String(contentsOfFile: townFile, encoding: .utf8)
            .replacingOccurrences(of: #""organization": "alpha""#, with: #""organization": "alpha", "poll_seconds": 0.2"#)
        try text.write(toFile: townFile, atomically: true, encoding: .utf8)
        _ = try FederationDirectory(URL(fileURLWithPath: a.stateDirectory + "/federation"))
            .add(bundle: export(b, org: "beta", port: portB), policy: .none, ownAuthorities: [])
        _ = try FederationDirectory(URL(fileURLWithPath: b.stateDirectory + "/federation"))
            .add(bundle: export(a, org: "alpha", port: nil), policy: FederationPolicy(read: .init(rigs: ["api"])), ownAuthorities: [])
        // A's wb-1 depends on B's ap-1.
        let store = try LedgerDatabase.open(StoreLayout(beadsDirectory: a.root + "/.beads"))
        let edge = Dependency(
            issueID: "wb-1", dependsOnID: "external:hop://beta/api/ap-1", type: .blocks,
            createdAt: Timestamp("2026-01-01T00:00:00Z")!)
        _ = try store.write(scope: "wb", routing: "wb-1", actor: "test") { _ in
            [.addDependency(id: "wb-1", edge, allowCycles: false)]
        }
        store.close()
        let (nodeB, _, ledgerB) = try await startNodeWithLedger(b)
        let (nodeA, _, ledgerA) = try await startNodeWithLedger(a)
        do {
            let databaseA = try #require(await ledgerA.waitForDatabase(timeout: 10))
            let databaseB = try #require(await ledgerB.waitForDatabase(timeout: 10))
            func blocked() -> Bool { databaseA.read { $0.scopes["wb"]?.blockedIDs.contains("wb-1") ?? false } }
            #expect(blocked())
            // Several polls see ap-1 open: still blocked.
            try await Task.sleep(for: .seconds(1.5))
            #expect(blocked())
            _ = try databaseB.write(scope: "ap", routing: "ap-1", actor: "test") { _ in [.close(id: "ap-1", reason: "done")] }
            #expect(await eventually(15) { !blocked() })
            let resolved = databaseA.read { $0.scopes["wb"]?.bead("wb-1")?.dependencies.first }
            #expect(resolved.map(ExternalDependency.isResolved) == true)
            #expect(databaseA.read { $0.scopes["wb"]?.ready(now: Timestamp("2026-06-01T00:00:00Z")!).map(\.id) } == ["wb-1"])
        } catch {
            await nodeA.shutdown(reason: "test failed")
            await nodeB.shutdown(reason: "test failed")
            throw error
        }
        await nodeA.shutdown(reason: "test done")
        await nodeB.shutdown(reason: "test done")
    }

    /// Bad input through the real add path: a bundle not signed by the CA it carries, and a second bundle for an
    /// organization already present, are refused with messages saying what is wrong and what to do, and
    /// `peers.json` stays byte for byte what it was.
    @Test func aForgedBundleOrADuplicateOrganizationChangesNothing() throws {
        let directory = try TempDir(prefix: "gt-federation-bad")
        let a = try makeOrg(directory, name: "a1", org: "alpha", federationPort: nil)
        let b = try makeOrg(directory, name: "b1", org: "beta", federationPort: 7601)
        let c = try makeOrg(directory, name: "c1", org: "gamma", federationPort: 7602)
        let dirA = FederationDirectory(URL(fileURLWithPath: a.stateDirectory + "/federation"))
        let own = try a.pki.trustedAuthorities()
        _ = try dirA.add(bundle: export(b, org: "beta", port: 7601), policy: .none, ownAuthorities: own)
        let before = try Data(contentsOf: dirA.peersFile)

        // gamma's bundle, but carrying beta's CA certificate: the signature is gamma's CA's, not the carried one's.
        var forged = try JSONSerialization.jsonObject(with: Data(export(c, org: "gamma", port: 7602))) as! [String: Any]
        forged["ca_pem"] = try b.pki.authority().certificate.pem()
        forged["organization"] = "delta"
        let forgedBytes = Array(try JSONSerialization.data(withJSONObject: forged))
        do {
            _ = try dirA.add(bundle: forgedBytes, policy: .none, ownAuthorities: own)
            Issue.record("a forged bundle was added")
        } catch {
            #expect("\(error)".contains("not signed by its CA"), "\(error)")
        }
        // A bundle of the organization already present (freshly exported: same name, same CA).
        do {
            _ = try dirA.add(bundle: export(b, org: "beta", port: 7601), policy: .none, ownAuthorities: own)
            Issue.record("a second bundle of beta was added")
        } catch {
            #expect("\(error)".contains("organization 'beta' is already present"), "\(error)")
            #expect("\(error)".contains("gt federation remove beta"), "\(error)")
        }
        // Another organization under the name beta (gamma's CA, signed by it): refused by name, unchanged.
        do {
            _ = try dirA.add(bundle: export(c, org: "beta", port: 7602), policy: .none, ownAuthorities: own)
            Issue.record("a second organization named beta was added")
        } catch {
            #expect("\(error)".contains("already present"), "\(error)")
        }
        #expect(try Data(contentsOf: dirA.peersFile) == before)
        #expect(try dirA.peers().map(\.organization.rawValue) == ["beta"])
        // gamma itself (a properly signed bundle) still adds: the refusals were about the input, not the file.
        _ = try dirA.add(bundle: export(c, org: "gamma", port: 7602), policy: .none, ownAuthorities: own)
        #expect(try dirA.peers().map(\.organization.rawValue) == ["beta", "gamma"])
    }

    /// Delegation between two clusters on loopback (real TLS, real ledgers): beta's policy lets alpha delegate one
    /// bead at a time. An accepted delegation is recorded on both sides (alpha's bead held by federation/beta,
    /// beta's linked bead pointing back by external_ref and label); a second one meets the concurrent-beads budget;
    /// a deadline passing releases alpha's bead and closes beta's linked bead; then the budget has room again, and
    /// a returned branch that fails alpha's gate comes back to alpha with the gate's output while beta's linked bead
    /// closes with the verdict. alpha's policy for beta has no `delegate`: beta's delegation to alpha is refused.
    /// Reputation counts follow.
    @Test func delegationIsAdmittedRecordedBudgetedAndExpires() async throws {
        let directory = try TempDir(prefix: "gt-federation-delegate")
        let portA = try Self.freePort()
        let portB = try Self.freePort()
        let a = try makeOrg(directory, name: "a1", org: "alpha", federationPort: portA)
        let b = try makeOrg(directory, name: "b1", org: "beta", federationPort: portB)
        for town in [a, b] {
            let file = town.root + "/mayor/town.json"
            let text = try String(contentsOfFile: file, encoding: .utf8)
                .replacingOccurrences(of: #""federation": {"#, with: #""federation": {"poll_seconds": 0.2, "#)
            try text.write(toFile: file, atomically: true, encoding: .utf8)
        }
        let dirA = FederationDirectory(URL(fileURLWithPath: a.stateDirectory + "/federation"))
        let dirB = FederationDirectory(URL(fileURLWithPath: b.stateDirectory + "/federation"))
        _ = try dirA.add(bundle: export(b, org: "beta", port: portB), policy: .none, ownAuthorities: [])
        _ = try dirB.add(
            bundle: export(a, org: "alpha", port: portA),
            policy: FederationPolicy(delegate: true, budgets: .init(concurrentBeads: 1)), ownAuthorities: [])
        let (nodeB, federationB, ledgerB) = try await startNodeWithLedger(b)
        let (nodeA, federationA, ledgerA) = try await startNodeWithLedger(a)
        do {
            let databaseA = try #require(await ledgerA.waitForDatabase(timeout: 10))
            let databaseB = try #require(await ledgerB.waitForDatabase(timeout: 10))
            func beadA(_ id: String) -> Bead? { databaseA.read { state in state.scopes.values.compactMap { $0.bead(id) }.first } }
            func beadB(_ id: String) -> Bead? { databaseB.read { state in state.scopes.values.compactMap { $0.bead(id) }.first } }
            func state(_ bead: Bead?) -> String? { bead?.metadataValue("delegation")?["state"]?.stringValue }
            let deadline = UInt64(Date().timeIntervalSince1970) + 3
            // Where beta would push the finished branch (nothing is finished in this test).
            let returnTo = directory.join("return.git")
            var first: FederatedDelegateReply?
            #expect(
                await eventually(15) {
                    first = try? await federationA.delegate(
                        LocalDelegateRequest(
                            organization: "beta", bead: "wb-1", rig: "api", gate: "make test", budgetMilliHours: 1500,
                            deadline: deadline, returnTo: returnTo))
                    return first != nil
                })
            let reply = try #require(first)
            #expect(reply.outcome == .accepted && reply.rig == "api", "\(reply)")
            let linked = try #require(beadB(reply.bead))
            #expect(linked.id.hasPrefix("ap-"))
            #expect(linked.externalRef == "hop://alpha/web/wb-1")
            #expect(linked.labels.contains("delegated-from:alpha") && linked.labels.contains("delegated"))
            #expect(linked.title == "alpha bead wb-1")
            #expect(linked.description.contains("make test"))
            #expect(state(linked) == "accepted")
            #expect(linked.metadataValue("delegation")?["return_to"]?.stringValue == returnTo)
            let held = try #require(beadA("wb-1"))
            #expect(held.assignee == "federation/beta" && held.status == .inProgress, "\(held.assignee) \(held.status)")
            #expect(state(held) == "accepted")
            #expect(held.metadataValue("delegation")?["remote"]?.stringValue == "hop://beta/api/\(reply.bead)")
            // Delegating it again while it is out: refused here, nothing sent.
            await #expect(throws: ErrorReply.self) {
                _ = try await federationA.delegate(
                    LocalDelegateRequest(organization: "beta", bead: "wb-1", rig: "api", gate: "true", budgetMilliHours: 0, deadline: 0, returnTo: returnTo))
            }
            // The concurrent-beads budget (1) is taken: the next one is an explicit budget exhaustion.
            let second = try await federationA.delegate(
                LocalDelegateRequest(organization: "beta", bead: "ap-1", rig: "api", gate: "true", budgetMilliHours: 0, deadline: 0, returnTo: returnTo))
            #expect(second.outcome == .budgetExhausted, "\(second)")
            #expect(second.reason.contains("concurrent_beads"), "\(second.reason)")
            #expect(state(beadA("ap-1")) == "budget_exhausted")
            #expect(beadA("ap-1")?.assignee == "")
            // beta's policy for alpha says nothing of the reverse: alpha's for beta has no delegate.
            let reverse = try await federationB.delegate(
                LocalDelegateRequest(organization: "alpha", bead: "wb-1", rig: "", gate: "true", budgetMilliHours: 0, deadline: 0, returnTo: returnTo))
            #expect(reverse.outcome == .refused && reverse.reason.contains("--allow-delegate"), "\(reverse)")
            #expect(state(beadB("wb-1")) == "refused")
            // The deadline passes: alpha's bead is released back (open, unassigned), beta's linked bead closed.
            #expect(await eventually(15) { state(beadA("wb-1")) == "expired" })
            let released = try #require(beadA("wb-1"))
            #expect(released.assignee == "" && released.status == .open, "\(released.assignee) \(released.status)")
            #expect(await eventually(15) { beadB(reply.bead)?.status == .closed })
            // By beta's own deadline tick, or by alpha's withdrawal, whichever came first.
            let reason = beadB(reply.bead)?.closeReason ?? ""
            #expect(reason.contains("deadline passed") || reason.contains("withdrawn by alpha (expired)"), "\(reason)")
            // The budget has room again.
            let third = try await federationA.delegate(
                LocalDelegateRequest(
                    organization: "beta", bead: "ap-1", rig: "api", gate: "echo 'FAIL: 2 tests'; exit 1",
                    budgetMilliHours: 0, deadline: 0, returnTo: returnTo))
            #expect(third.outcome == .accepted, "\(third)")
            // The work comes back: the branch beta pushes to the return remote (made here as beta's node would).
            try await Self.git(["init", "-q", "--bare", returnTo], in: directory.path)
            try await Self.git(["init", "-q", directory.join("work")], in: directory.path)
            try directory.write("work/DELEGATED.md", "done by beta\n")
            try await Self.git(["add", "-A"], in: directory.join("work"))
            try await Self.git(["commit", "-q", "-m", "ap-1 by beta"], in: directory.join("work"))
            try await Self.git(["push", "-q", returnTo, "HEAD:refs/heads/delegated/beta/ap-1"], in: directory.join("work"))
            // alpha finds it, runs the gate, which fails: the work is alpha's again with the gate's output, and
            // beta's linked bead is closed with the verdict.
            #expect(await eventually(15) { state(beadA("ap-1")) == "rejected" })
            let rejected = try #require(beadA("ap-1"))
            #expect(rejected.assignee == "" && rejected.status == .open, "\(rejected.assignee) \(rejected.status)")
            #expect(rejected.comments.contains { $0.text.contains("FAIL: 2 tests") }, "\(rejected.comments.map(\.text))")
            #expect(await eventually(15) { beadB(third.bead)?.status == .closed })
            #expect(beadB(third.bead)?.closeReason.contains("rejected by alpha's gate: FAIL: 2 tests") == true)
            // An agent-hours budget (--budget 0.001: 3.6 s from acceptance) runs out before any branch comes back:
            // budget_exhausted on both sides, the bead alpha's again.
            #expect(await eventually(15) { beadB(third.bead)?.status == .closed })
            let fourth = try await federationA.delegate(
                LocalDelegateRequest(
                    organization: "beta", bead: "wb-1", rig: "api", gate: "true", budgetMilliHours: 1, deadline: 0,
                    returnTo: returnTo))
            #expect(fourth.outcome == .accepted, "\(fourth)")
            #expect(await eventually(15) { state(beadA("wb-1")) == "budget_exhausted" })
            #expect(beadA("wb-1")?.assignee == "" && beadA("wb-1")?.status == .open)
            #expect(await eventually(15) { beadB(fourth.bead)?.status == .closed })
            #expect(beadB(fourth.bead)?.closeReason.contains("budget exhausted") == true, "\(beadB(fourth.bead)?.closeReason ?? "")")
            #expect(state(beadB(fourth.bead)) == "budget_exhausted")
            // Reputation, as gt federation show prints it: alpha counted 4 sent to beta (one late, one rejected);
            // beta counted 3 taken from alpha (one late, one rejected) and 1 it sent to alpha (refused).
            let repA = try dirA.peer("beta").reputation
            #expect(repA.delegated == 4 && repA.late == 1 && repA.accepted == 0 && repA.rejected == 1, "\(repA)")
            #expect(await eventually(5, sync: { (try? dirB.peer("alpha").reputation.rejected) == 1 }))
            let repB = try dirB.peer("alpha").reputation
            #expect(repB.delegated == 4 && repB.late == 1 && repB.rejected == 1, "\(repB)")
            // Agent-hours of delegated work, as admission counts them against budgets.agent_hours.
            #expect(FederationComponent.agentHours([(0, 3600), (7200, nil), (10_000, nil)], now: 9000) == 1.5)
        } catch {
            await nodeA.shutdown(reason: "test failed")
            await nodeB.shutdown(reason: "test failed")
            throw error
        }
        await nodeA.shutdown(reason: "test done")
        await nodeB.shutdown(reason: "test done")
    }

    /// The requester's acceptance gate runs on the returned branch in a sandbox: a fresh clone in a temporary
    /// directory outside the town, as its working directory, with an environment of PATH, HOME, TMPDIR (both inside
    /// the sandbox), LANG and GT_DELEGATION_BRANCH only; the sandbox is removed afterwards. A failing gate's output
    /// comes back; a branch that is not there fails with a message saying so.
    /// The git CLI, for making test repositories (gt itself uses libgit2).
    static func git(_ arguments: [String], in cwd: String) async throws {
        let out = try await BuiltBinaries.run(
            executable: "/usr/bin/git",
            ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"] + arguments,
            cwd: cwd)
        #expect(out.status == 0, "\(out)")
    }

    @Test func theAcceptanceGateRunsInASandbox() async throws {
        let directory = try TempDir(prefix: "gt-federation-gate")
        func git(_ arguments: [String], in cwd: String) async throws { try await Self.git(arguments, in: cwd) }
        let bare = directory.join("return.git")
        try await git(["init", "-q", "--bare", bare], in: directory.path)
        try await git(["init", "-q", directory.join("work")], in: directory.path)
        try directory.write("work/DELEGATED.md", "done by beta\n")
        try await git(["add", "-A"], in: directory.join("work"))
        try await git(["commit", "-q", "-m", "delegated work"], in: directory.join("work"))
        try await git(["push", "-q", bare, "HEAD:refs/heads/delegated/beta/wb-1"], in: directory.join("work"))

        let (passed, output) = await FederationComponent.runSandboxedGate(
            "test -f DELEGATED.md && env && echo cwd=$(pwd)", remote: bare, branch: "delegated/beta/wb-1")
        #expect(passed, "\(output)")
        var variables: [String: String] = [:]
        for line in output.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            variables[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        let shell: Set<String> = ["PWD", "SHLVL", "_", "OLDPWD", "cwd"]
        let given: Set<String> = ["PATH", "HOME", "TMPDIR", "LANG", "GT_DELEGATION_BRANCH"]
        #expect(Set(variables.keys).subtracting(shell) == given, "\(variables.keys.sorted())")
        #expect(variables["GT_DELEGATION_BRANCH"] == "delegated/beta/wb-1")
        let sandbox = try #require(variables["HOME"].map { ($0 as NSString).deletingLastPathComponent })
        #expect(sandbox.contains("gt-delegation-gate-"), "\(sandbox)")
        #expect(variables["cwd"] == sandbox + "/checkout", "\(variables["cwd"] ?? "")")
        #expect(variables["TMPDIR"]?.hasPrefix(sandbox) == true)
        #expect(!sandbox.hasPrefix(directory.path))
        // Nothing of this process's environment (where a town, a store or an agent socket would be named) leaks.
        for key in ProcessInfo.processInfo.environment.keys where !given.contains(key) && !shell.contains(key) {
            #expect(variables[key] == nil, "\(key) leaked into the gate")
        }
        #expect(!FileManager.default.fileExists(atPath: sandbox), "the sandbox was not removed")

        let (failed, failure) = await FederationComponent.runSandboxedGate(
            "echo 'FAIL: no CHANGELOG'; exit 3", remote: bare, branch: "delegated/beta/wb-1")
        #expect(!failed && failure.contains("FAIL: no CHANGELOG"), "\(failure)")
        let (missing, why) = await FederationComponent.runSandboxedGate(
            "true", remote: bare, branch: "delegated/beta/nothing")
        #expect(!missing && why.contains("could not be checked out"), "\(why)")
    }

    func export(_ town: TownPaths, org: String, port: UInt16?) throws -> [UInt8] {
        let node = try town.pki.loadIdentity().name.rawValue
        return try TrustBundle.make(
            organization: try OrganizationName(org), authority: try town.pki.authority(),
            endpoints: port.map { [FederationEndpoint(node: node, address: "127.0.0.1:\($0)")] } ?? []
        ).encoded()
    }

    @Test func aReadsAllowedRigsOfBAndNothingElse() async throws {
        let directory = try TempDir(prefix: "gt-federation")
        let portB = try Self.freePort()
        let a = try makeOrg(directory, name: "a1", org: "alpha", federationPort: nil)
        let b = try makeOrg(directory, name: "b1", org: "beta", federationPort: portB)
        let dirA = FederationDirectory(URL(fileURLWithPath: a.stateDirectory + "/federation"))
        let dirB = FederationDirectory(URL(fileURLWithPath: b.stateDirectory + "/federation"))
        _ = try dirA.add(bundle: export(b, org: "beta", port: portB), policy: .none, ownAuthorities: [])
        _ = try dirB.add(
            bundle: export(a, org: "alpha", port: nil), policy: FederationPolicy(read: .init(rigs: ["api"])),
            ownAuthorities: [])
        let (nodeB, _) = try await startNode(b)
        let (nodeA, federationA) = try await startNode(a)
        do {
            // Allowed rig: answered from B's ledger.
            var reply: FederatedReadReply?
            #expect(
                await eventually(15) {
                    reply = try? await federationA.read(org: "beta", FederatedReadRequest(rig: "api", query: .show(id: "ap-1")))
                    return reply != nil
                })
            #expect(reply?.organization == "beta")
            #expect(reply?.beads.count == 1 && reply?.beads.first?.contains("beta bead ap-1") == true)
            let listed = try await federationA.read(
                org: "beta", FederatedReadRequest(rig: "api", query: .list(status: nil, type: nil, limit: 10)))
            #expect(listed.beads.count == 1)
            // Denied rig: refused with a clear message.
            do {
                _ = try await federationA.read(org: "beta", FederatedReadRequest(rig: "web", query: .show(id: "wb-1")))
                Issue.record("a denied rig was read")
            } catch let reply as ErrorReply {
                #expect(reply.code == .refused)
                #expect(reply.message.contains("does not let alpha read rig 'web'"))
            }
            // Unknown organization.
            do {
                _ = try await federationA.read(org: "gamma", FederatedReadRequest(rig: "api", query: .show(id: "ap-1")))
                Issue.record("an unknown organization was read")
            } catch let reply as ErrorReply {
                #expect(reply.message.contains("unknown organization 'gamma'"))
            }

            // C, never added by anyone, with a certificate naming A's node: refused by B's federation listener
            // and by A's cluster listener.
            let caC = try CertificateAuthority.create(clusterName: "gamma", now: Date())
            let impostor = try caC.makeIdentity(for: NodeName("a1"))
            let contextC = try TLSContext(identity: impostor.federated(trusting: [try b.pki.trustedAuthorities()[0]]))
            await #expect(throws: TransportError.self) {
                _ = try await Dialer.connect(
                    to: .tcp(host: "127.0.0.1", port: portB), peer: NodeName("b1"), context: contextC,
                    local: NodeName("a1"))
            }
            let runtimeA = try #require(NodeRuntimeInfo.load(a))
            let clusterA = try PeerAddress(parsing: runtimeA.listen)
            let contextC2 = try TLSContext(identity: impostor.federated(trusting: [try a.pki.trustedAuthorities()[0]]))
            await #expect(throws: TransportError.self) {
                _ = try await Dialer.connect(to: clusterA, peer: NodeName("a1"), context: contextC2, local: NodeName("a1"))
            }
            // B is a trusted peer for federation, but its certificate is not one of A's nodes: A's cluster
            // listener refuses it too.
            let identityB = try b.pki.loadIdentity()
            let contextB = try TLSContext(identity: identityB.federated(trusting: [try a.pki.trustedAuthorities()[0]]))
            await #expect(throws: TransportError.self) {
                _ = try await Dialer.connect(to: clusterA, peer: NodeName("a1"), context: contextB, local: NodeName("b1"))
            }
            // After B removes A, A gets nothing.
            _ = try dirB.remove("alpha")
            #expect(
                await eventually(15) {
                    (try? await federationA.read(org: "beta", FederatedReadRequest(rig: "api", query: .show(id: "ap-1"))))
                        == nil
                })
        } catch {
            await nodeA.shutdown(reason: "test failed")
            await nodeB.shutdown(reason: "test failed")
            throw error
        }
        await nodeA.shutdown(reason: "test done")
        await nodeB.shutdown(reason: "test done")
    }
}
