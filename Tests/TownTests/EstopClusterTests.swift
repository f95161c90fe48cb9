import Beads
import Foundation
import GasTownTestKit
import Node
import Testing
import Town

#if canImport(Glibc)
    import Glibc
#endif

/// `gt estop` / `gt thaw` across real nodes (separate towns and processes on loopback, one cluster CA, one ledger
/// remote): an estop run on alpha stops beta's scripted session (its processes stopped, its progress file frozen)
/// and makes every node refuse slings with a message naming the freeze; a third node started after the estop
/// learns it from the ledger and refuses too; a thaw run there resumes beta's session.
@Suite(.serialized) struct EstopClusterTests {
    func alive(_ town: TownFixture, _ names: [String]) async throws -> Bool {
        let output = try await town.gt(["node", "list", "--json"])
        guard output.status == 0,
            let list = try? JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [[String: Any]]
        else { return false }
        let members = Dictionary(list.map { ($0["name"] as? String ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        return names.allSatisfy { name in
            members[name]?["status"] as? String == "alive"
                && (members[name]?["rigs"] as? [String])?.contains("demo") == true
        }
    }

    /// The counter the scripted agent writes, or nil.
    static func progress(_ worktree: String) -> Int? {
        (try? String(contentsOfFile: worktree + "/progress.txt", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// The state letter of `pid` in /proc (`T`: stopped), or nil when it is gone.
    static func state(_ pid: Int32) -> Character? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ").first?.first
    }

    /// The freeze record in `town`'s ledger.
    func freeze(_ town: TownFixture) async throws -> FreezeRecord? {
        FreezeRecord.read(try await town.beads(scope: "hq").first { $0.id == FreezeRecord.beadID })
    }

    func join(_ town: TownFixture, via seed: TownFixture, address: String) async throws {
        let token = try await seed.gt(["cluster", "token", "--name", town.layout.nodeName()])
        try expectOK(token)
        try expectOK(
            try await town.gt(["node", "join", address, token.stdout.trimmingCharacters(in: .whitespacesAndNewlines)]))
        _ = try await town.upWithAddress()
    }

    func addRig(_ town: TownFixture, ledger: String, rig: String, agent: String) async throws {
        try expectOK(try await town.bd(["remote", "add", "origin", ledger]))
        try expectOK(
            try await town.gt(["rig", "add", "demo", rig, "--runtime", "exec:'sh \(agent)'", "--max-polecats", "4"]))
    }

    @Test func estopFreezesEveryNodeAndANodeStartedLaterLearnsItAndThawResumes() async throws {
        try await TownFixture.with(name: "alpha") { a in
            try await TownFixture.with(name: "beta") { b in
                try await TownFixture.with(name: "gamma") { c in
                    let ledgerRemote = a.directory.join("ledger.git")
                    try await TownFixture.git(["init", "-q", "--bare", ledgerRemote], cwd: a.directory.path)
                    let rigRemote = a.directory.join("remote.git")
                    try await TownFixture.git(["clone", "-q", "--bare", a.source, rigRemote], cwd: a.directory.path)
                    // The scripted agent counts into progress.txt in its worktree, forever.
                    try a.directory.write(
                        "counter.sh", "i=0\nwhile true; do i=$((i+1)); echo $i > progress.txt; sleep 0.2; done\n")
                    let agent = a.directory.join("counter.sh")
                    try expectOK(try await a.gt(["cluster", "init", "--name", "acme"]))
                    let address = try await a.upWithAddress()
                    try await join(b, via: a, address: address)
                    for town in [a, b] {
                        try await addRig(town, ledger: ledgerRemote, rig: rigRemote, agent: agent)
                    }
                    let (alpha, beta, gamma) = (a.layout.nodeName(), b.layout.nodeName(), c.layout.nodeName())
                    let ready = try await a.waitUntil(timeout: .seconds(90)) { try await alive(a, [alpha, beta]) }
                    #expect(ready, "membership did not converge")

                    // Work on beta, making progress.
                    let work = try await b.createBead("Count", scope: "demo")
                    let slung = try await b.gt(["sling", work, "--node", beta, "--json"])
                    try expectOK(slung)
                    let reply = try #require(
                        try JSONSerialization.jsonObject(with: Data(slung.stdout.utf8)) as? [String: Any])
                    let polecat = try #require(reply["polecat"] as? String, "\(slung.stdout)")
                    let worktree = b.town + "/demo/polecats/" + polecat
                    let counting = try await b.waitUntil(timeout: .seconds(30)) { (Self.progress(worktree) ?? 0) >= 3 }
                    #expect(counting, "the agent did not start counting")

                    // estop on alpha: beta's session is paused (every process stopped), its counter stands still.
                    let estop = try await a.gt(["estop", "--reason", "incident 42", "--json"])
                    try expectOK(estop)
                    let estopReply = try JSONSerialization.jsonObject(with: Data(estop.stdout.utf8)) as? [String: Any]
                    #expect(estopReply?["frozen"] as? Bool == true, "\(estop.stdout)")
                    var pids: [Int32] = []
                    let paused = try await b.waitUntil(timeout: .seconds(60)) {
                        let event = TownEvents.read(b.layout.eventsFile).last { $0["type"] == "estop-pause" }
                        pids = (event?["processes"] ?? "").split(separator: ",").compactMap { Int32($0) }
                        return !pids.isEmpty && pids.allSatisfy { Self.state($0) == "T" || Self.state($0) == nil }
                    }
                    #expect(paused, "beta's session was not paused: \(pids)")
                    let held = Self.progress(worktree)
                    try await Task.sleep(for: .seconds(1))
                    #expect(Self.progress(worktree) == held, "the counter moved while frozen")
                    let health = try await b.waitUntil(timeout: .seconds(20)) {
                        try await b.gt(["health"]).stdout.contains("FROZEN")
                    }
                    #expect(health, "gt health on beta does not show the freeze")

                    // Slings are refused on both nodes, saying why; nothing changes.
                    let next = try await b.createBead("Refused", scope: "demo")
                    for town in [a, b] {
                        var refused: BuiltBinaries.Output?
                        let said = try await town.waitUntil(timeout: .seconds(30)) {
                            let output = try await town.gt(["sling", next])
                            refused = output
                            return output.status != 0 && output.stderr.contains("the cluster is frozen")
                        }
                        #expect(said, "\(String(describing: refused))")
                        let text = refused?.stderr ?? ""
                        #expect(text.contains("incident 42") && text.contains("gt thaw"), "\(text)")
                    }
                    let untouched = try await b.beads(scope: "demo").first { $0.id == next }
                    #expect(untouched?.status == .open && untouched?.assignee == "", "\(String(describing: untouched))")

                    // gamma joins after the estop: it learns the freeze from the ledger and refuses slings.
                    try await join(c, via: a, address: address)
                    try await addRig(c, ledger: ledgerRemote, rig: rigRemote, agent: agent)
                    let learned = try await c.waitUntil(timeout: .seconds(60)) {
                        try await freeze(c)?.frozen == true
                    }
                    #expect(learned, "gamma did not learn the freeze")
                    let third = try await c.createBead("Also refused", scope: "demo")
                    let refusedThere = try await c.gt(["sling", third])
                    #expect(refusedThere.status != 0, "\(refusedThere)")
                    #expect(refusedThere.stderr.contains("the cluster is frozen"), "\(refusedThere)")
                    #expect(try await c.gt(["node", "list"]).stdout.contains(gamma))

                    // thaw on gamma: beta's session continues.
                    let thaw = try await c.gt(["thaw"])
                    try expectOK(thaw)
                    let resumed = try await b.waitUntil(timeout: .seconds(60)) {
                        (Self.progress(worktree) ?? 0) > (held ?? 0) + 2
                    }
                    #expect(resumed, "beta's session did not resume")
                    #expect(pids.allSatisfy { Self.state($0) != "T" })
                    #expect(TownEvents.read(b.layout.eventsFile).contains { $0["type"] == "estop-resume" })
                    // A thawed cluster slings again.
                    let after = try await a.waitUntil(timeout: .seconds(30)) {
                        try await freeze(a)?.frozen == false
                    }
                    #expect(after)
                    let again = try await b.gt(["sling", next, "--node", beta])
                    try expectOK(again)
                    _ = alpha
                }
            }
        }
    }
}
