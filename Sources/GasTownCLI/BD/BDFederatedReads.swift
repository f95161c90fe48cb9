import Beads
import Foundation
import Node
import Transport
import Wire

/// `bd show hop://<org>/<rig>/<id>` and `bd list --org <org> --rig <rig>`: reads of another organization's beads,
/// asked through the town's running node (which holds the federation links; docs/federation.md) and answered by
/// the peer organization's node under its policy.
enum BDFederatedReads {
    /// Sends `request` for organization `org` through the node of the town that holds the store.
    static func read(_ context: CommandContext, org: String, _ request: FederatedReadRequest) async throws
        -> FederatedReadReply
    {
        let store = try context.beadsStore().path
        let town = TownPaths(root: (store as NSString).deletingLastPathComponent)
        // An organization this town never added is refused here, whether or not a node runs: the message names
        // it, the known ones, and how to add it.
        let directory = FederationDirectory(URL(fileURLWithPath: town.stateDirectory + "/federation"))
        do {
            _ = try await NodeBlocking.run { () throws(TransportError) in try directory.peer(org) }
        } catch {
            if case .pki(let message) = error {
                throw CLIError(
                    message, hint: "its trust bundle comes from `gt federation export` on that organization's CA node",
                    code: "unknown_organization")
            }
            throw CLIError("\(error)", code: "federation")
        }
        let client: NodeClient
        do {
            client = try await NodeClient.connect(town)
        } catch {
            throw CLIError(
                "reading another organization's beads goes through this town's node, and none is running (\(error))",
                hint: "start it with 'gt up' (in \(town.root))", code: "node_down")
        }
        defer { client.close() }
        var writer = BinaryWriter()
        writer.writeShort(org)
        writer.writeRaw(request.encoded())
        do {
            let reply = try await client.requestRaw(.federationLocalRead, body: writer.bytes, timeout: 20)
            return try FederatedReadReply.decode(reply.body)
        } catch let error as TransportError {
            if case .remoteError(let reply) = error {
                let code = reply.code == .refused ? "refused" : reply.code == .unavailable ? "unavailable" : "federation"
                throw CLIError(reply.message, code: code)
            }
            throw CLIError("the federated read failed: \(error)", code: "federation")
        } catch let error as WireError {
            throw CLIError("the node's answer did not decode: \(error)", code: "federation")
        }
    }

    /// The beads of a reply, each parsed (a line that does not parse is an error naming the organization).
    static func beads(_ reply: FederatedReadReply) throws -> [Bead] {
        do {
            return try reply.beads.map { line throws in try BeadCodec.decode(try Beads.JSONValue.parse(line)) }
        } catch {
            throw CLIError("organization \(reply.organization) sent a bead that does not parse: \(error)", code: "federation")
        }
    }

    /// `bd show` of `hop://` addresses.
    static func show(_ context: CommandContext, _ addresses: [HopAddress]) async throws {
        var items: [LedgerJSON] = []
        for address in addresses {
            let reply = try await read(
                context, org: address.organization,
                FederatedReadRequest(rig: address.rig, query: .show(id: address.beadID)))
            for bead in try beads(reply) {
                let json = BDSupport.beadJSON(bead, adding: [JSONMember("hop", .string(address.description))])
                if context.jsonMode {
                    items.append(json)
                } else {
                    context.console.out("\(address)  (organization \(reply.organization))")
                    context.console.out(BDSupport.listLine(bead))
                    if !bead.description.isEmpty { context.console.out("\n" + bead.description) }
                }
            }
        }
        if context.jsonMode { BDSupport.printJSON(.array(items), context.console) }
    }

    /// `bd list --org ORG --rig RIG [--status S] [--type T] [-n N]`.
    static func list(
        _ context: CommandContext, org: String, rig: String, status: String?, type: String?, limit: Int
    ) async throws {
        let clamped = UInt32(min(max(limit == 0 ? Int(FederatedReadRequest.maxLimit) : limit, 1), Int(FederatedReadRequest.maxLimit)))
        let reply = try await read(
            context, org: org, FederatedReadRequest(rig: rig, query: .list(status: status, type: type, limit: clamped)))
        let found = try beads(reply)
        if context.jsonMode {
            BDSupport.printJSON(
                .array(
                    found.map {
                        BDSupport.beadJSON($0, adding: [JSONMember("hop", .string("hop://\(org)/\(rig)/\($0.id)"))])
                    }), context.console)
        } else if found.isEmpty {
            context.console.out("No issues found in \(org)/\(rig).")
        } else {
            for bead in found { context.console.out(BDSupport.listLine(bead)) }
        }
    }
}
