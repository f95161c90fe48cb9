import Dashboard
import Foundation
import Node

/// `gt dashboard [--json]`: where this town's node serves its web dashboard (docs/dashboard.md), read from
/// `<town>/.gt/dashboard.json`, which the running node writes; with the login token when it is bound beyond loopback.
public struct DashboardCommand: CLICommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            name: "dashboard", abstract: "Print the URL of this node's web dashboard (and its login token)",
            discussion: """
                The node serves the dashboard while it runs: on 127.0.0.1 at its port + 1000 by default (plain HTTP,
                no token), or where 'gt up --dashboard HOST:PORT' or town.json's dashboard.listen says. Bound beyond
                loopback it serves HTTPS with the node's certificate and needs the token in
                <town>/.gt/dashboard.token, sent as 'Authorization: Bearer TOKEN', the gt_dashboard cookie, or
                ?token= once (the URL printed here carries it).
                """)
    }

    public init(parsed: ParsedValues) throws(UsageError) {}

    /// What `--json` prints.
    struct Output: Encodable {
        var url: String
        var open: String
        var listen: String
        var tls: Bool
        var tokenRequired: Bool
        var token: String?
        var node: String

        enum CodingKeys: String, CodingKey {
            case url, open, listen, tls, token, node
            case tokenRequired = "token_required"
        }
    }

    public func run(_ context: CommandContext) async throws {
        let town = try NodeCLI.town(context)
        let files = DashboardFiles(townRoot: town.root)
        guard let info = files.read(), NodeCLI.isAlive(info.pid) else {
            throw CLIError(
                "no dashboard is serving for \(town.root): the node is not running, or its dashboard is turned off",
                hint: "start the node with 'gt up' (town.json \"dashboard\": {\"enabled\": true} is the default)",
                code: "not_running")
        }
        var token: String?
        if info.tokenRequired {
            token = (try? String(contentsOfFile: files.tokenFile, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let open = token.map { info.url + "?token=" + $0 } ?? info.url
        let output = Output(
            url: info.url, open: open, listen: info.listen, tls: info.tls, tokenRequired: info.tokenRequired,
            token: token, node: info.node)
        try context.report(output) {
            context.console.out(open)
            if let token {
                context.console.out("token: \(token) (send as 'Authorization: Bearer TOKEN'; the URL above sets it)")
            }
        }
    }
}
