import Foundation
import Node
import Transport
import Wire

/// `gt node remove <name> [--force]`: take a dead node out of the cluster for good (docs/operations.md "Removing a
/// dead node"): its certificates revoked (the revocation spreads to every node), it is marked left in membership
/// (it no longer counts for the majority rule), the beads it held are released at a new epoch and placed on other
/// nodes, and its name is free for a new node to join under. Run on the CA node.
public struct NodeRemoveCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "remove", abstract: "Remove a dead node: revoke it, mark it left, re-sling its work, free its name",
            discussion: """
                For a node that is gone (killed, its machine lost). Run it on the CA node while it runs. A node that
                is alive or suspect is refused: take it out with 'gt node drain --move' and 'gt node leave' on it
                instead, or pass --force. Then: every certificate of the node is revoked (applied at once and spread
                to every node: the removed node's certificate no longer connects anywhere); it is marked left in
                membership on every node, so it no longer counts in the majority rule; each bead it held is released
                at a new lease epoch (its late 'gt done' is refused) and placed on another node by the Mayor, or
                queued here; and its name is free: a new node may join under it without --replace. Running it again
                finishes a removal that stopped halfway.
                """,
            options: [.flag("force", help: "remove it even though membership sees it alive or suspect")],
            arguments: [ArgumentSpec("name", help: "the node to remove, as 'gt node list' shows it")])
    }

    var name: String
    var force: Bool

    public init(parsed: ParsedValues) throws(UsageError) {
        name = parsed.argument("name")
        force = parsed.flag("force")
        if (try? NodeName(name)) == nil {
            throw parsed.invalid("bad node name '\(name)': use 1-63 of a-z, 0-9, '-' and '.'")
        }
    }

    /// What `--json` prints.
    struct Output: Encodable {
        var node: String
        var statusBefore: String
        var membership: String
        var revoked: [String]
        var moved: [MayorMove]
        var queued: [String]

        enum CodingKeys: String, CodingKey {
            case node, membership, revoked, moved, queued
            case statusBefore = "status_before"
        }
    }

    public func run(_ context: CommandContext) async throws {
        let town = try NodeCLI.town(context)
        guard town.pki.holdsCA else {
            throw CLIError(
                "this town does not hold the CA key: gt node remove revokes the node's certificates",
                hint: "run 'gt node remove \(name)' on the CA node", code: "refused")
        }
        // First a check that changes nothing (alive → refused), then the revocation, then membership and the work.
        let check = try await NodeMembershipCLI.request(
            context, MayorMessageType.remove, MayorRemoveRequest(node: name, force: force, dryRun: true),
            as: MayorRemoveReport.self)
        let revoked = try await NodeMembershipCLI.request(
            context, NodeMessageType.revoke, RevokeRequest(node: name, missingOK: true), as: RevokeReport.self)
        let report = try await NodeMembershipCLI.request(
            context, MayorMessageType.remove, MayorRemoveRequest(node: name, force: force), as: MayorRemoveReport.self,
            timeout: 600)
        let output = Output(
            node: name, statusBefore: check.statusBefore, membership: report.membership, revoked: revoked.serials,
            moved: report.moved, queued: report.queued)
        try context.report(output) {
            context.console.out("removed \(name) (was \(check.statusBefore); now \(report.membership) in membership)")
            context.console.out(
                revoked.serials.isEmpty
                    ? "  no certificate left to revoke"
                    : "  revoked \(revoked.serials.count) certificate(s): \(revoked.serials.joined(separator: ", "))")
            for moved in report.moved {
                let whereTo =
                    moved.status == "admitted"
                    ? "placed on \(moved.node) at epoch \(moved.epoch)" : "\(moved.status): \(moved.reason)"
                context.console.out("  released \(moved.bead) (held by \(moved.from)): \(whereTo)")
            }
            if report.moved.isEmpty { context.console.out("  it held no beads") }
            context.console.out("  the name \(name) is free: a new node may join under it")
        }
    }
}
