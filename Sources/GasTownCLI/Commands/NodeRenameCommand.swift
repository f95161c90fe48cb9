import Foundation
import Membership
import Node
import Transport
import Wire

/// `gt node rename <old> <new>`: rename this town's node (docs/node.md "Renaming a node"): a new certificate under
/// the new name (the old name's revoked, so the old name is free), the node leaves membership under the old name
/// and stops; `gt up` starts it under the new one. Renaming another town's node is refused.
public struct NodeRenameCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "rename", abstract: "Rename this node: new certificate and membership identity under a new name",
            discussion: """
                Only this town's own node can be renamed, while it runs and the CA node is up. Refused while beads
                are claimed on it (run 'gt node drain --move' first), and for a bad name, the CA node's name or a
                name another node holds. Then: the CA signs a certificate for the new name and revokes the old
                name's certificates (the old name is free again); the node leaves membership under the old name
                (others list it as left) and stops; 'gt up' starts it under the new name, and it joins as a new
                member. The ledger's history (closed beads, comments, merge requests, work branch names) keeps the
                old name.
                """,
            arguments: [
                ArgumentSpec("old", help: "this node's current name"),
                ArgumentSpec("new", help: "the new name (1-63 of a-z, 0-9, '-' and '.')"),
            ])
    }

    var old: String
    var new: String

    public init(parsed: ParsedValues) throws(UsageError) {
        old = parsed.argument("old")
        new = parsed.argument("new")
        if (try? NodeName(new)) == nil {
            throw parsed.invalid("bad node name '\(new)': use 1-63 of a-z, 0-9, '-' and '.'")
        }
    }

    public func run(_ context: CommandContext) async throws {
        let town = try NodeCLI.town(context)
        let status = try await NodeMembershipCLI.request(
            context, NodeMessageType.status, EmptyBody(), as: NodeStatus.self)
        guard status.name == old else {
            throw CLIError(
                "\(old) is not this town's node (this town's node is \(status.name)): renaming another node from here "
                    + "is not safe (its certificate, membership record and work are its own)",
                hint: "run 'gt node rename \(old) \(new)' in \(old)'s town, or remove it with 'gt node remove \(old)' "
                    + "and join a new node as \(new)", code: "refused")
        }
        // A check that changes nothing, then leave membership under the old name, then the new certificate.
        _ = try await NodeMembershipCLI.request(
            context, NodeMessageType.rename, RenameRequest(name: new, check: true), as: RenameReport.self, timeout: 30)
        _ = try? await NodeMembershipCLI.request(context, MembershipControl.leave, EmptyBody(), as: MemberReport.self)
        let pid = NodeCLI.recordedPid(town)
        let report: RenameReport
        do {
            report = try await NodeMembershipCLI.request(
                context, NodeMessageType.rename, RenameRequest(name: new), as: RenameReport.self, timeout: 30)
        } catch {
            _ = try? await NodeMembershipCLI.request(context, NodeMessageType.shutdown, EmptyBody(), as: EmptyBody.self)
            throw CLIError(
                "the rename failed after \(old) left membership: \(error); nothing was renamed and the node is "
                    + "stopping",
                hint: "start it again with 'gt up' (it rejoins as \(old))", code: "refused")
        }
        _ = try? await NodeMembershipCLI.request(context, NodeMessageType.shutdown, EmptyBody(), as: EmptyBody.self)
        let deadline = Date().addingTimeInterval(10)
        while let pid, NodeCLI.isAlive(pid), NodeCLI.isNodeProcess(pid), Date() < deadline {
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        if let pid, !(NodeCLI.isAlive(pid) && NodeCLI.isNodeProcess(pid)) { unlink(town.pidFile) }
        try context.report(report) {
            context.console.out("renamed \(old) to \(new): certificate \(report.serial)")
            if !report.revoked.isEmpty {
                context.console.out("  revoked \(old)'s certificate(s): \(report.revoked.joined(separator: ", "))")
            }
            context.console.out(
                "  \(old) left the cluster and the node stopped; start it with 'gt up' (it joins as \(new))")
        }
    }
}
