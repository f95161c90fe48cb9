import Foundation
import GasTownTestKit
import Membership
import Node
import Testing
import Transport
import Wire

/// Several membership stacks in this process on 127.0.0.1, each with a real TLS identity from one test CA.
final class LoopbackCluster: @unchecked Sendable {
    let authority: CertificateAuthority
    let settings: MembershipShellSettings
    private let lock = NSLock()
    private var stacks: [String: MembershipStack] = [:]

    /// Bulk traffic on the general link, for the "busy sender is not suspected" test.
    static let bulk = MessageType(rawValue: 250)
    static var registry: MessageRegistry {
        var registry = MessageRegistry.core
        registry.register(MessageDescriptor(type: bulk, name: "bulk"))
        return registry
    }

    /// The default handler of other messages: a bulk frame takes 300 ms to process, so a general link
    /// carrying bulk frames backs up (its one-way messages are handled in order).
    static let slowBulkHandler: InboundHandler = { message in
        if message.envelope.type == bulk { try await Task.sleep(nanoseconds: 300_000_000) }
        return []
    }

    init(settings: MembershipShellSettings = .fastForTests) throws {
        authority = try CertificateAuthority.create(clusterName: "shell-test", now: Date())
        self.settings = settings
    }

    /// Starts node `name` and joins it through `seeds`.
    @discardableResult
    func start(
        _ name: String, seeds: [String] = [], metadata: Membership.Metadata = Membership.Metadata(),
        other: InboundHandler? = nil
    ) async throws -> MembershipStack {
        let stack = try await listen(name, metadata: metadata, other: other)
        await stack.shell.start(seeds: seeds)
        return stack
    }

    /// Makes node `name` listen, without starting its membership (it ignores membership messages until
    /// `shell.start(seeds:)`).
    func listen(
        _ name: String, metadata: Membership.Metadata = Membership.Metadata(), other: InboundHandler? = nil
    ) async throws -> MembershipStack {
        let identity = try authority.makeIdentity(for: NodeName(name))
        var managerSettings = ConnectionManagerSettings()
        managerSettings.reconnectBaseDelay = 0.05
        managerSettings.reconnectMaxDelay = 0.5
        let stack = try await MembershipStack(
            identity: identity, metadata: metadata, settings: settings, managerSettings: managerSettings,
            registry: Self.registry, readsHostMetrics: false, other: other ?? Self.slowBulkHandler)
        lock.withLock { stacks[name] = stack }
        return stack
    }

    subscript(name: String) -> MembershipStack { lock.withLock { stacks[name]! } }

    var names: [String] { lock.withLock { stacks.keys.sorted() } }

    /// Stops node `name` without leaving (a crash, as far as membership is concerned).
    func crash(_ name: String) async {
        let stack = lock.withLock { stacks.removeValue(forKey: name) }
        await stack?.stop()
    }

    /// Stops every node still running.
    func stopAll() async {
        let all = lock.withLock {
            defer { stacks = [:] }
            return Array(stacks.values)
        }
        for stack in all { await stack.stop() }
    }

    /// The status `observer` holds for `subject`.
    func status(of subject: String, seenBy observer: String) async -> Membership.Status? {
        await self[observer].shell.member(named: subject)?.status
    }

    /// True when every running node sees exactly `expected` as alive.
    func allSeeAlive(_ expected: Set<String>) async -> Bool {
        for name in names {
            let alive = await self[name].shell.members.filter { $0.status == .alive }.map(\.name)
            if Set(alive) != expected { return false }
        }
        return true
    }

    /// Starts `count` nodes n0…n(count-1), all joining through n0, and waits until they converge.
    func startConverged(_ count: Int, timeout: Double = 10) async throws {
        let first = try await start("n0")
        for i in 1..<count { try await start("n\(i)", seeds: [first.address.description]) }
        let expected = Set((0..<count).map { "n\($0)" })
        let converged = await eventually(timeout) { await self.allSeeAlive(expected) }
        try #require(converged, "the \(count) nodes did not converge within \(timeout) s")
    }

    /// Runs `body` with a fresh cluster and stops every node afterwards, even when `body` throws.
    static func with(
        settings: MembershipShellSettings = .fastForTests, _ body: (LoopbackCluster) async throws -> Void
    ) async throws {
        let cluster = try LoopbackCluster(settings: settings)
        do {
            try await body(cluster)
        } catch {
            await cluster.stopAll()
            throw error
        }
        await cluster.stopAll()
    }
}

extension MembershipShellSettings {
    /// The bound within which every live member must declare a crashed member failed, in seconds:
    /// a full probe round of everyone (2(n−1)+1 probe intervals), the longest suspicion timeout and a gossip
    /// interval, as the simulation tests use, plus `slack` for a loaded 2-core machine.
    func detectionBound(members n: Int, slack: Double = 3) -> Double {
        let p = protocolSettings
        let seconds = { (d: Duration) in Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        return seconds(p.probeInterval) * Double(2 * (n - 1) + 1) + seconds(p.maxSuspicionTimeout(members: n))
            + seconds(p.gossipInterval) + slack
    }
}
