import Foundation
import GasTownTestKit
import Node
import Testing
import Transport
import Wire

/// A component that echoes requests of type 240 (upper-cased) and fails its first `failStarts` starts.
final class EchoComponent: NodeComponent, @unchecked Sendable {
    static let echo = MessageType(rawValue: 240)
    struct StartFailure: Error {}
    let name = "echo"
    let failStarts: Int
    private let lock = NSLock()
    private var starts = 0
    private var stops = 0
    private var contextName: String?

    init(failStarts: Int) { self.failStarts = failStarts }

    var messageTypes: [MessageDescriptor] { [MessageDescriptor(type: Self.echo, name: "test-echo")] }

    func start(in context: NodeContext) async throws {
        try lock.withLock {
            starts += 1
            contextName = context.name.rawValue
            if starts <= failStarts { throw StartFailure() }
        }
    }

    func stop() async { lock.withLock { stops += 1 } }

    func handle(_ message: InboundMessage) async throws -> [UInt8] {
        Array(String(decoding: message.envelope.body, as: UTF8.self).uppercased().utf8)
    }

    var counts: (starts: Int, stops: Int, context: String?) { lock.withLock { (starts, stops, contextName) } }
}

/// Makes a town directory with a cluster identity, without the binaries.
func makeTown(_ directory: TempDir, name: String) throws -> TownPaths {
    let town = TownPaths(root: directory.join(name))
    try directory.write("\(name)/mayor/town.json", #"{"name": "\#(name)", "type": "town", "version": 2}"#)
    try PKI.initCluster(at: town.pki, clusterName: "test", nodeName: try NodeName(name))
    return town
}

struct NodeInProcessTests {
    @Test func componentsAreSupervisedAndReachableOverTheSocket() async throws {
        let directory = try TempDir(prefix: "gt-node-inproc")
        let town = try makeTown(directory, name: "inproc")
        var settings = NodeSettings()
        settings.supervisor.initialBackoff = 0.05
        let echo = EchoComponent(failStarts: 2)
        let node = Node(
            town: town.root, options: NodeOptions(listen: "127.0.0.1:0", settings: settings, components: [echo]))
        let runtime = try await node.start()
        do {
            #expect(runtime.pid == getpid())
            #expect(NodeRuntimeInfo.load(town)?.listen == runtime.listen)
            #expect(NodeRuntimeInfo.load(town)?.pid == getpid())
            var mode = stat()
            #expect(stat(town.socket, &mode) == 0 && mode.st_mode & 0o777 == 0o600)

            let client = try await NodeClient.connect(town)
            defer { client.close() }
            #expect(await eventually(5) { echo.counts.starts == 3 })
            #expect(echo.counts.stops == 2)
            #expect(echo.counts.context == "inproc")
            // Routed by message type once the component is started.
            #expect(
                await eventually(5) {
                    let reply = try? await client.requestRaw(EchoComponent.echo, body: Array("hi".utf8), timeout: 5)
                    return reply?.body == Array("HI".utf8)
                })
            let status = try await client.request(NodeMessageType.status, EmptyBody(), as: NodeStatus.self)
            #expect(status.components.map(\.name) == ["echo"])
            #expect(status.components.first?.failures == 2)
            #expect(status.components.first?.state == "running")
            #expect(status.holdsCA)

            // A second node for the same town is refused while this one holds the lock.
            let second = Node(town: town.root, options: NodeOptions(listen: "127.0.0.1:0"))
            await #expect(throws: NodeError.self) { try await second.start() }
            #expect(FileManager.default.fileExists(atPath: town.socket))

            // Unknown types get an error reply; the node keeps serving.
            await #expect(throws: TransportError.self) {
                _ = try await client.requestRaw(MessageType(rawValue: 4000), body: [], timeout: 5)
            }
            let bad = try? await client.requestRaw(NodeMessageType.ping, body: Array("{nope".utf8), timeout: 5)
            #expect(bad == nil)
            #expect(try await client.request(NodeMessageType.status, EmptyBody(), as: NodeStatus.self).running)
        }
        await node.shutdown()
        #expect(echo.counts.stops == 3)
        #expect(!FileManager.default.fileExists(atPath: town.socket))
        #expect(!FileManager.default.fileExists(atPath: town.runtimeFile))
        await #expect(throws: NodeError.self) { _ = try await NodeClient.connect(town) }
        let events = try String(contentsOfFile: town.eventsFile, encoding: .utf8)
        #expect(events.components(separatedBy: "\"component_failed\"").count == 3)
        let log = try String(contentsOfFile: town.logFile, encoding: .utf8)
        #expect(log.contains("component failed"))
    }

    @Test func missingIdentitySaysWhatToRun() async throws {
        let directory = try TempDir(prefix: "gt-node-noid")
        try directory.write("t/mayor/town.json", #"{"name": "t", "type": "town", "version": 2}"#)
        let node = Node(town: directory.join("t"), options: NodeOptions(listen: "127.0.0.1:0"))
        do {
            try await node.start()
            Issue.record("started without an identity")
        } catch {
            #expect(error.description.contains("gt cluster init"))
            #expect(error.description.contains("gt node join"))
        }
        #expect(!FileManager.default.fileExists(atPath: directory.join("t/.gt/node.sock")))
    }

    @Test func twoComponentsClaimingOneMessageTypeStopTheStart() async throws {
        let directory = try TempDir(prefix: "gt-node-clash")
        let town = try makeTown(directory, name: "clash")
        final class Rival: NodeComponent, @unchecked Sendable {
            let name = "rival"
            var messageTypes: [MessageDescriptor] { [MessageDescriptor(type: EchoComponent.echo, name: "rival")] }
            func start(in context: NodeContext) async throws {}
        }
        let node = Node(
            town: town.root,
            options: NodeOptions(listen: "127.0.0.1:0", components: [EchoComponent(failStarts: 0), Rival()]))
        do {
            try await node.start()
            Issue.record("a node started with two components claiming message type 240")
            await node.shutdown()
        } catch {
            #expect(error.description.contains("message type 240 is claimed by both the echo and the rival"))
        }
    }

    @Test func townNodeConfig() throws {
        let config = try TownNodeConfig.decode(
            Data(#"{"name": "x", "node": {"listen": "0.0.0.0:9", "join": ["a:1", "b:2"], "name": "n1"}}"#.utf8),
            path: "town.json")
        #expect(config == TownNodeConfig(listen: "0.0.0.0:9", join: ["a:1", "b:2"], townName: "x", nodeName: "n1"))
        #expect(try TownNodeConfig.decode(Data(#"{"name": "x"}"#.utf8), path: "t").listen == nil)
        for bad in [#"[1]"#, #"{"node": 3}"#, #"{"node": {"join": "a:1"}}"#, #"{"node": {"listen": 7}}"#, "{"] {
            #expect(throws: NodeError.self) { try TownNodeConfig.decode(Data(bad.utf8), path: "t") }
        }
    }

    /// Every body decoder of the local protocol, and the on-disk JSON readers, against random and mutated
    /// bytes: never a crash, always a typed error or a value.
    @Test func decodersSurviveRandomAndMutatedInput() throws {
        var generator = SeededGenerator(seed: 0x6E6F_6465)
        let valid: [[UInt8]] = [
            NodeJSON.encode(PingRequest(address: "127.0.0.1:7420", count: 3)),
            NodeJSON.encode(TokenRequest(ttl: 60)),
            NodeJSON.encode(RevokeRequest(node: "beta", serial: "AB")),
            NodeJSON.encode(NodeAnnounce(address: "127.0.0.1:1")),
            Array(#"{"name": "x", "node": {"listen": "0.0.0.0:9", "join": ["a:1"]}}"#.utf8),
            Array(#"{"phase": "started", "ca_pem": "-----BEGIN CERTIFICATE-----", "previous_fingerprint": "ab", "#.utf8)
                + Array(#""signature": "AAAA"}"#.utf8),
        ]
        var decoded = 0
        for round in 0..<6000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int.random(in: 0..<64, using: &generator)).map { _ in
                    UInt8.random(in: 0...255, using: &generator)
                }
            } else {
                bytes = valid[round % valid.count]
                for _ in 0..<Int.random(in: 1...4, using: &generator) where !bytes.isEmpty {
                    let index = Int.random(in: 0..<bytes.count, using: &generator)
                    switch Int.random(in: 0..<3, using: &generator) {
                    case 0: bytes[index] = UInt8.random(in: 0...255, using: &generator)
                    case 1: bytes.remove(at: index)
                    default: bytes.insert(UInt8.random(in: 0...255, using: &generator), at: index)
                    }
                }
            }
            if (try? NodeJSON.decode(PingRequest.self, from: bytes)) != nil { decoded += 1 }
            _ = try? NodeJSON.decode(TokenRequest.self, from: bytes)
            _ = try? NodeJSON.decode(RevokeRequest.self, from: bytes)
            _ = try? NodeJSON.decode(NodeAnnounce.self, from: bytes)
            _ = try? NodeJSON.decode(NodeStatus.self, from: bytes)
            _ = try? NodeJSON.decode(PingReport.self, from: bytes)
            _ = try? TownNodeConfig.decode(Data(bytes), path: "fuzz")
            if let notice = try? NodeJSON.decode(CARotationNotice.self, from: bytes) {
                #expect(notice.verifiedCA(trusting: []) == nil)
            }
            _ = try? NodeJSON.decode(RevocationEntry.self, from: bytes)
        }
        #expect(decoded > 0, "some mutated pings still decode")
        #expect(throws: ErrorReply.self) { try NodeJSON.decode(PingRequest.self, from: Array("[]".utf8)) }
    }
}

struct RotationNoticeTests {
    /// A notice must be signed by the CA it names: a forged one (signed by another CA) changes nothing.
    @Test func forgedNoticesAreRefused() throws {
        let directory = try TempDir(prefix: "gt-node-notice")
        let member = try makeTown(directory, name: "member")
        let before = try member.pki.trustedAuthorities().map(\.fingerprint)
        let honest = try CertificateAuthority.create(clusterName: "honest", now: Date())
        let mallory = try CertificateAuthority.create(clusterName: "mallory", now: Date())
        let current = try member.pki.authority()
        // Signed by a CA the member does not trust.
        let forged = try CARotationNotice.make(
            .started, newCA: mallory.certificate, previousFingerprint: current.certificate.fingerprint, signer: mallory)
        #expect(try PKI.apply(forged, at: member.pki) == false)
        // Signature bytes of another notice.
        var swapped = try CARotationNotice.make(
            .started, newCA: honest.certificate, previousFingerprint: current.certificate.fingerprint, signer: current)
        swapped.caPEM = try mallory.certificate.pem()
        #expect(try PKI.apply(swapped, at: member.pki) == false)
        #expect(try member.pki.trustedAuthorities().map(\.fingerprint) == before)
        // The genuine notice is applied once; both CAs are then trusted.
        let genuine = try CARotationNotice.make(
            .started, newCA: honest.certificate, previousFingerprint: current.certificate.fingerprint, signer: current)
        #expect(try PKI.apply(genuine, at: member.pki))
        #expect(try PKI.apply(genuine, at: member.pki) == false)
        #expect(try member.pki.trustedAuthorities().map(\.fingerprint) == [honest.certificate.fingerprint] + before)
        // `completed` must be signed by the new CA.
        let badCompletion = try CARotationNotice.make(
            .completed, newCA: honest.certificate, previousFingerprint: before[0], signer: current)
        #expect(try PKI.apply(badCompletion, at: member.pki) == false)
        let completion = try CARotationNotice.make(
            .completed, newCA: honest.certificate, previousFingerprint: before[0], signer: honest)
        #expect(try PKI.apply(completion, at: member.pki))
        #expect(try member.pki.trustedAuthorities().map(\.fingerprint) == [honest.certificate.fingerprint])
    }
}

/// SplitMix64: a seeded generator for reproducible fuzz input.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
