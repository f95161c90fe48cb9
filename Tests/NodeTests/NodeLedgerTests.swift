import Foundation
import GasTownCLI
import GasTownTestKit
import LedgerStore
import Node
import Testing
import Transport
import Wire

/// The node's `LedgerActor`: it holds the town's store for the node's life and runs the CLI's command lines
/// (`command-request`, 240) against it.
@Suite(.serialized) struct NodeLedgerTests {
    /// A town with an identity and an initialised ledger.
    func makeLedgerTown(_ directory: TempDir, name: String) throws -> TownPaths {
        let town = try makeTown(directory, name: name)
        let store = try LedgerDatabase.initialize(StoreLayout(beadsDirectory: town.root + "/.beads"), prefix: "hq")
        store.close()
        return town
    }

    func run(
        _ client: NodeClient, _ program: String, _ arguments: [String], town: TownPaths
    ) async throws
        -> NodeCommandReply
    {
        let request = NodeCommandRequest(
            program: program, arguments: arguments, directory: town.root, environment: ["BEADS_ACTOR": "tester"])
        let reply = try await client.requestRaw(NodeCommandRequest.messageType, body: NodeJSON.encode(request))
        return try NodeJSON.decode(NodeCommandReply.self, from: reply.body)
    }

    @Test func theNodeHoldsTheStoreAndRunsCommandsAgainstIt() async throws {
        let directory = try TempDir(prefix: "gt-node-ledger")
        let town = try makeLedgerTown(directory, name: "ledger")
        let layout = StoreLayout(beadsDirectory: town.root + "/.beads")
        var quick = LedgerDatabaseSettings()
        quick.store.lockWaitTimeout = .zero
        let node = Node(
            town: town.root,
            options: NodeOptions(
                listen: "127.0.0.1:0", components: NodeComponents.standard(executor: CLICommandExecutor())))
        try await node.start()
        do {
            let client = try await NodeClient.connect(town)
            defer { client.close() }
            var created: NodeCommandReply?
            #expect(
                await eventually(10) {
                    created = try? await run(client, "bd", ["create", "held by the node", "--silent"], town: town)
                    return created?.status == 0
                })
            let id = String(decoding: created?.stdout ?? Data(), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(id.hasPrefix("hq-"))
            // The store is the node's: an embedded open is refused while it runs.
            #expect(throws: LedgerDatabaseError.self) { _ = try LedgerDatabase.open(layout, settings: quick) }
            let shown = try await run(client, "bd", ["show", id, "--json"], town: town)
            #expect(shown.status == 0)
            #expect(String(decoding: shown.stdout, as: UTF8.self).contains("held by the node"))
            // Errors come back as the command's stderr and exit status.
            let missing = try await run(client, "bd", ["show", "hq-nope"], town: town)
            #expect(missing.status == 1)
            #expect(String(decoding: missing.stderr, as: UTF8.self).contains("hq-nope"))
            let usage = try await run(client, "bd", ["create"], town: town)
            #expect(usage.status == 2)
            let other = try await run(client, "sh", ["-c", "true"], town: town)
            #expect(other.status == 2)
            let status = try await client.request(NodeMessageType.status, EmptyBody(), as: NodeStatus.self)
            #expect(status.components.map(\.name).contains("ledger"))
        }
        await node.shutdown()
        let reopened = try LedgerDatabase.open(layout, settings: quick)
        #expect(reopened.read { $0.scopes["hq"]?.beads.values.contains { $0.title == "held by the node" } } == true)
        reopened.close()
    }

    /// A component waiting for a ledger that never opens (the node stopping while it starts) is released by
    /// cancellation, not after the whole timeout: a stopping node used to wait 60 s for its convoy patrol.
    @Test func waitingForTheLedgerEndsWhenCancelled() async throws {
        let handle = NodeLedgerHandle()
        let started = ContinuousClock.now
        let wait = Task { await handle.waitForDatabase(timeout: 600) }
        try await Task.sleep(for: .milliseconds(100))
        wait.cancel()
        #expect(await wait.value == nil)
        #expect(ContinuousClock.now - started < .seconds(300), "the wait outlived its cancellation")
        // Cancelled before it began: returns at once too.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await handle.waitForDatabase(timeout: 600)
        }
        #expect(await early.value == nil)
        #expect(ContinuousClock.now - started < .seconds(300))
    }

    @Test func aNodeWithoutACommandRunnerRefusesCommandsClearly() async throws {
        let directory = try TempDir(prefix: "gt-node-ledger-bare")
        let town = try makeLedgerTown(directory, name: "bare")
        let node = Node(town: town.root, options: NodeOptions(listen: "127.0.0.1:0"))
        try await node.start()
        do {
            let client = try await NodeClient.connect(town)
            defer { client.close() }
            var message = ""
            #expect(
                await eventually(10) {
                    do {
                        _ = try await run(client, "bd", ["list"], town: town)
                    } catch TransportError.remoteError(let reply) {
                        message = reply.message
                        return reply.code == .refused
                    } catch {}
                    return false
                })
            #expect(message.contains("runs no commands"))
        }
        await node.shutdown()
    }

    /// The request decoder takes bytes from any local process: mutated bodies decode or are refused, never crash.
    @Test func mutatedCommandRequestsNeverCrash() throws {
        let valid = NodeJSON.encode(
            NodeCommandRequest(
                program: "bd", arguments: ["create", "x", "--json"], directory: "/tmp", environment: ["A": "b"],
                stdin: Data([1, 2, 3]), stdoutIsTerminal: true))
        #expect(try NodeJSON.decode(NodeCommandRequest.self, from: valid).stdin == Data([1, 2, 3]))
        var rng = SplitMix64(seed: 1111)
        var refused = 0
        for _ in 0..<2000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &rng)))
                default:
                    bytes.insert(
                        UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 0...bytes.count, using: &rng))
                }
                if bytes.isEmpty { bytes = [0x7B] }
            }
            do { _ = try NodeJSON.decode(NodeCommandRequest.self, from: bytes) } catch {
                #expect(error.code == .badRequest)
                refused += 1
            }
            _ = try? NodeJSON.decode(NodeCommandReply.self, from: bytes)
        }
        #expect(refused > 1000)
    }
}
