import Beads
import Foundation
import Git
import LedgerStore
import Node
import Transport
import Wire

/// One town of an in-process loopback cluster running the ledger sync loop: its directory with a cluster identity,
/// its ledger store (opened here, as the node's LedgerActor holds it) with the remote `origin`, and a node running
/// membership and `LedgerSyncComponent`. Used by `Tests/NodeTests/LedgerSyncNodeTests` and `LedgerLoopBenchmarks`.
///
/// `@unchecked Sendable`: every field is immutable after `init` and `Sendable` itself except `Node` users, which
/// go through the actor.
public final class LoopbackLedgerTown: @unchecked Sendable {
    public let town: TownPaths
    public let layout: StoreLayout
    public let database: LedgerDatabase
    public let membership: MembershipComponent
    public let sync: LedgerSyncComponent
    public let node: Node
    /// Where the node listens for peers.
    public let listen: String

    /// Makes town `name` in `directory` (the CA town when `authority` is nil, else a member holding a certificate
    /// from that town's CA) with remote `origin` at `remote`, and starts its node, joining `seed` when given.
    public init(
        _ directory: TempDir, name: String, remote: String, authority: TownPaths? = nil, seed: String? = nil,
        settings: LedgerSyncLoopSettings
    ) async throws {
        let town = TownPaths(root: directory.join(name))
        let layout = StoreLayout(directory: town.root)
        self.town = town
        self.layout = layout
        // Files, keys and the store's fsyncs on a dedicated thread, never on the cooperative pool.
        database = try await DedicatedThread.run { () throws -> LedgerDatabase in
            try directory.write("\(name)/mayor/town.json", #"{"name": "\#(name)", "type": "town", "version": 2}"#)
            if let authority {
                try FileManager.default.createDirectory(at: town.pki.url, withIntermediateDirectories: true)
                try FileManager.default.copyItem(at: authority.pki.caCertificate, to: town.pki.caCertificate)
                let identity = try authority.pki.authority().makeIdentity(for: NodeName(name))
                try PKI.installNodeCertificate(at: town.pki, certificate: identity.certificate, key: identity.key)
            } else {
                try PKI.initCluster(at: town.pki, clusterName: "loop", nodeName: try NodeName(name))
            }
            let database = try LedgerDatabase.initialize(layout, prefix: "hq")
            try SyncConfig.add(SyncRemote(name: "origin", url: remote), to: layout)
            return database
        }
        membership = MembershipComponent(seeds: seed.map { [$0] } ?? [], settings: .fastForTests)
        sync = LedgerSyncComponent(
            database: FixedLedgerDatabase(database), membership: membership, settings: settings,
            syncSettings: LoopbackLedgerTown.fastSync)
        var nodeSettings = NodeSettings()
        nodeSettings.supervisor.initialBackoff = 0.05
        node = Node(
            town: town.root,
            options: NodeOptions(
                listen: "127.0.0.1:0", seeds: seed.map { [$0] } ?? [], settings: nodeSettings,
                components: [membership, sync]))
        do {
            listen = try await node.start().listen
        } catch {
            let database = self.database
            await DedicatedThread.run { database.close() }
            throw error
        }
    }

    /// Push retries short enough for tests.
    public static var fastSync: SyncSettings {
        var s = SyncSettings()
        s.backoffBase = .milliseconds(5)
        s.backoffCap = .milliseconds(100)
        s.maxPushAttempts = 50
        return s
    }

    /// A bare repository `remote.git` in `directory`, for towns to share.
    public static func bareRemote(_ directory: TempDir) async throws -> String {
        let path = directory.join("remote.git")
        _ = try await GitRepository.create(at: path, bare: true)
        return path
    }

    /// Creates a bead in scope hq (on a dedicated thread: the store's write API blocks on the fsync).
    public func create(_ title: String) async throws -> String {
        let database = self.database
        return try await DedicatedThread.run { () throws(LedgerDatabaseError) -> String in
            try database.write(scope: "hq", routing: nil) { ledger, clock throws(LedgerError) in
                try ledger.prepareCreate(NewBead(title: title), actor: "tester", stamp: clock.stamp, time: clock.time)
            }.op.beadID!
        }
    }

    /// Whether the store holds bead `id`.
    public func has(_ id: String) -> Bool { database.read { $0.scopes["hq"]?.beads[id] != nil } }

    /// The loop's status of `origin`.
    public var status: LedgerSyncStatus.Remote? {
        get async { try? await sync.status().remotes.first }
    }

    /// Whether membership sees `count` members alive.
    public func seesAlive(_ count: Int) async -> Bool {
        guard let shell = membership.shell else { return false }
        return await shell.members.filter { $0.status == .alive }.count == count
    }

    /// Shuts the node down and closes the store.
    public func stop() async {
        await node.shutdown(reason: "test over")
        await node.waitUntilStopped()
        let database = self.database
        await DedicatedThread.run { database.close() }
    }

    /// Two towns "a" (the CA) and "b" of one cluster sharing a path remote, both synced once and seeing each other
    /// alive; nil (both stopped) when they did not settle within `timeout` seconds.
    public static func pair(
        _ directory: TempDir, settings: LedgerSyncLoopSettings, timeout: Double = 20
    ) async throws -> (a: LoopbackLedgerTown, b: LoopbackLedgerTown)? {
        let remote = try await bareRemote(directory)
        let a = try await LoopbackLedgerTown(directory, name: "a", remote: remote, settings: settings)
        let b: LoopbackLedgerTown
        do {
            b = try await LoopbackLedgerTown(
                directory, name: "b", remote: remote, authority: a.town, seed: a.listen, settings: settings)
        } catch {
            await a.stop()
            throw error
        }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let (sa, sb) = (await a.status, await b.status)
            let (aliveA, aliveB) = (await a.seesAlive(2), await b.seesAlive(2))
            if (sa?.syncs ?? 0) >= 1 && (sb?.syncs ?? 0) >= 1 && aliveA && aliveB { return (a, b) }
            try? await Task.sleep(for: .milliseconds(50))
        }
        await b.stop()
        await a.stop()
        return nil
    }
}

/// What `LedgerLoopBenchmarks.writeVisibleOnPeer` measured. `Sendable`: plain value.
public struct PeerVisibilityResult: Sendable, CustomStringConvertible {
    public var notices: Bool
    public var intervalMillis: Int
    public var samples: Int
    /// Milliseconds from the start of a write on node A (acknowledged, durable) to the bead in B's store.
    public var medianMillis: Double
    public var p95Millis: Double
    public var maxMillis: Double
    /// Samples that did not arrive within the time allowed.
    public var missed: Int

    public var description: String {
        "notices \(notices ? "on" : "off"), interval \(intervalMillis) ms, \(samples) writes: median "
            + String(format: "%.0f ms, p95 %.0f ms, max %.0f ms", medianMillis, p95Millis, maxMillis)
            + (missed > 0 ? ", \(missed) not seen within 10 s" : "")
    }
}

/// Benchmarks of the node's ledger sync loop (gt-bench `sync-loop`). A namespace.
public enum LedgerLoopBenchmarks {
    /// Two in-process nodes on loopback sharing a path remote; `samples` beads are written on A one at a time and
    /// the time until each shows in B's store is taken (B polled every 2 ms), with push notices on or off.
    public static func writeVisibleOnPeer(
        samples: Int = 30, notices: Bool, interval: Duration = .seconds(1)
    ) async throws -> PeerVisibilityResult {
        let directory = try TempDir(prefix: "gt-bench-syncloop")
        var settings = LedgerSyncLoopSettings()
        settings.notices = notices
        settings.pathInterval = interval
        guard let (a, b) = try await LoopbackLedgerTown.pair(directory, settings: settings) else {
            throw BenchmarkSetupError(message: "the two nodes did not join and sync")
        }
        var millis: [Double] = []
        var missed = 0
        for i in 0..<samples {
            // Spread the writes over the periodic interval so that phase does not bias the figures.
            try? await Task.sleep(for: .milliseconds(150 + (i * 137) % 400))
            let start = ContinuousClock.now
            let id = try await a.create("visible \(i)")
            let deadline = start + .seconds(10)
            while !b.has(id), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(2)) }
            if b.has(id) {
                let elapsed = ContinuousClock.now - start
                millis.append(Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) / 1e15)
            } else {
                missed += 1
            }
        }
        await b.stop()
        await a.stop()
        millis.sort()
        func at(_ q: Double) -> Double {
            millis.isEmpty ? .nan : millis[min(millis.count - 1, Int((Double(millis.count) * q).rounded(.up)) - 1)]
        }
        return PeerVisibilityResult(
            notices: notices,
            intervalMillis: Int(
                interval.components.seconds * 1000 + interval.components.attoseconds / 1_000_000_000_000_000),
            samples: samples, medianMillis: at(0.5), p95Millis: at(0.95), maxMillis: millis.last ?? .nan,
            missed: missed)
    }
}

/// A benchmark could not set up what it measures. `Sendable`: a string.
public struct BenchmarkSetupError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
