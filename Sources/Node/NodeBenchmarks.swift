import Dispatch
import Foundation
import Transport
import Wire

/// Benchmarks of the node daemon for `gt-bench` (never timed assertions in tests). Each makes a throwaway
/// town with a fresh cluster under the temporary directory, runs a node in this process, and removes it.
///
/// A caseless namespace; nothing to share.
public enum NodeBenchmarks {
    /// Status requests per second from the local CLI client over `node.sock` (one at a time).
    public static func localStatusRoundTrips(count: Int = 2_000) async throws -> Double {
        try await withTown { town in
            let node = Node(town: town.root, options: NodeOptions(listen: "127.0.0.1:0", components: []))
            try await node.start()
            let client = try await NodeClient.connect(town)
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<count {
                _ = try await client.request(NodeMessageType.status, EmptyBody(), as: NodeStatus.self)
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            client.close()
            await node.shutdown()
            return Double(count) / seconds
        }
    }

    /// Mean milliseconds from `Node.start()` to a serving node (identity loaded, TLS listener and socket
    /// bound, `node.json` written), then a graceful shutdown, over `runs` runs.
    public static func startMilliseconds(runs: Int = 20) async throws -> Double {
        try await withTown { town in
            var total = 0.0
            for _ in 0..<runs {
                let node = Node(town: town.root, options: NodeOptions(listen: "127.0.0.1:0", components: []))
                let start = DispatchTime.now().uptimeNanoseconds
                try await node.start()
                total += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                await node.shutdown()
            }
            return total / Double(max(runs, 1))
        }
    }

    /// Runs `body` with a temporary town holding a cluster identity, removed afterwards.
    static func withTown<T>(_ body: (TownPaths) async throws -> T) async throws -> T {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/gt-node-bench-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw NodeError.io("cannot create a temporary directory under \(base)")
        }
        let root = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let town = TownPaths(root: root + "/bench")
        try FileManager.default.createDirectory(atPath: town.root + "/mayor", withIntermediateDirectories: true)
        try Data(#"{"name": "bench", "type": "town", "version": 2}"#.utf8).write(
            to: URL(fileURLWithPath: town.townFile))
        try PKI.initCluster(at: town.pki, clusterName: "bench", nodeName: try NodeName("bench"))
        return try await body(town)
    }
}
